"""``art server``: serve the JSON API and the web UI over a store."""

from __future__ import annotations

import click

from arty.cli.context import Context, pass_ctx
from arty.errors import MissingExtra, UsageError


@click.command("server")
@click.option("--store", "store_url", metavar="URL", default=None,
              help="Store to serve (default: the global --store, ARTY_STORE, else the nearest .arty folder).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 serves other machines too (set a --token).")
@click.option("--port", type=int, default=8080, show_default=True, help="TCP port (0: any free port).")
@click.option("--token", envvar="ARTY_SERVER_TOKEN", default=None, metavar="TOKEN",
              help="Require this token for changes (editing runs, moving aliases). Default: ARTY_SERVER_TOKEN.")
@pass_ctx
def server_cmd(ctx: Context, store_url: str | None, host: str, port: int, token: str | None) -> None:
    """Serve the web UI and its JSON API (/api, spec at /openapi.json, docs at /docs)."""
    if not 0 <= port <= 65535:
        raise UsageError(f"invalid --port {port}", hint="a TCP port, 0 to 65535")
    try:
        import uvicorn

        from arty.server import create_app
    except ImportError as exc:
        raise MissingExtra(f"the server needs packages that are not installed ({exc.name})",
                           hint="pip install 'arty[server]'") from None
    if store_url is not None:
        ctx = Context(store_url, ctx.project_name)
    app = create_app(ctx.store, token=token or None)
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    click.echo(f"serving store '{ctx.store.url}' at {where} (writes {'need the token' if token else 'open'})",
               err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


COMMANDS = [server_cmd]
