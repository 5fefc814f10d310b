"""``art server``: serve the JSON API and the web UI over a store."""

from __future__ import annotations

import os

import click

from arty.cli.context import Context, pass_ctx
from arty.errors import MissingExtra, UsageError

#: The environment variable listing more allowed host names (commas or spaces between them).
ALLOWED_HOSTS_ENV = "ARTY_SERVER_ALLOWED_HOSTS"


def allowed_host_names(given: tuple[str, ...], environ: dict[str, str] | None = None) -> list[str]:
    """The names of ``--allowed-host`` (each may hold several, separated by commas), else those
    of :data:`ALLOWED_HOSTS_ENV`."""
    env = os.environ if environ is None else environ
    raw = list(given) if given else [env.get(ALLOWED_HOSTS_ENV, "")]
    return [name for item in raw for name in item.replace(",", " ").split()]


def exposure_warning(host: str, token: str | None, port: int) -> str | None:
    """The warning to print when a server without a token listens beyond this machine
    (None when it has a token or listens on a loopback address only)."""
    from arty.server.guard import is_loopback

    if token or is_loopback(host):
        return None
    return (f"warning: the server listens on {host} without a token: anyone on the network who can reach "
            f"port {port} can change runs and aliases\n"
            "hint: set --token (or ARTY_SERVER_TOKEN) to require a token for changes")


@click.command("server")
@click.option("--store", "store_url", metavar="URL", default=None,
              help="Store to serve (default: the global --store, ARTY_STORE, else the nearest .arty folder).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 serves other machines too (set a --token).")
@click.option("--port", type=int, default=8080, show_default=True, help="TCP port (0: any free port).")
@click.option("--token", envvar="ARTY_SERVER_TOKEN", default=None, metavar="TOKEN",
              help="Require this token for changes (editing runs, moving aliases). Default: ARTY_SERVER_TOKEN.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Another name the server may be reached by (repeatable; *.domain for subdomains, * for any). "
                   f"Default: {ALLOWED_HOSTS_ENV}.")
@pass_ctx
def server_cmd(ctx: Context, store_url: str | None, host: str, port: int, token: str | None,
               allowed_hosts: tuple[str, ...]) -> None:
    """Serve the web UI and its JSON API (/api, spec at /openapi.json, docs at /docs)."""
    if not 0 <= port <= 65535:
        raise UsageError(f"invalid --port {port}", hint="a TCP port, 0 to 65535")
    try:
        import uvicorn

        from arty.server import create_app
        from arty.server.guard import HostPolicy
    except ImportError as exc:
        raise MissingExtra(f"the server needs packages that are not installed ({exc.name})",
                           hint="pip install 'arty[server]'") from None
    names = allowed_host_names(allowed_hosts)
    policy = HostPolicy.for_address(host, names)  # a bad name is refused before the store is opened
    if store_url is not None:
        ctx = Context(store_url, ctx.project_name)
    app = create_app(ctx.store, token=token or None, host=host, allowed_hosts=names)
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    click.echo(f"serving store '{ctx.store.url}' at {where} (writes {'need the token' if token else 'open'}; "
               f"answering to {policy.describe()})", err=True)
    warning = exposure_warning(host, token, port)
    if warning:
        click.echo(warning, err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


COMMANDS = [server_cmd]
