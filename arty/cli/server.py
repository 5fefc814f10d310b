"""``art server``: serve the JSON API and the web UI over a store; ``art server users|keys|grant|
revoke|protect``: manage who may use it (on the backing store directly, on the server machine)."""

from __future__ import annotations

import errno
import os
import socket
from typing import Any, Callable

import click

from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json
from arty.errors import MissingExtra, UsageError

#: The environment variable listing more allowed host names (commas or spaces between them).
ALLOWED_HOSTS_ENV = "ARTY_SERVER_ALLOWED_HOSTS"


def allowed_host_names(given: tuple[str, ...], environ: dict[str, str] | None = None) -> list[str]:
    """The names of ``--allowed-host`` (each may hold several, separated by commas), else those
    of :data:`ALLOWED_HOSTS_ENV`."""
    env = os.environ if environ is None else environ
    raw = list(given) if given else [env.get(ALLOWED_HOSTS_ENV, "")]
    return [name for item in raw for name in item.replace(",", " ").split()]


def exposure_warning(host: str, token: str | None, port: int, users: bool = False) -> str | None:
    """The warning to print when a server without a token or users listens beyond this
    machine (None when it has either, or listens on a loopback address only)."""
    from arty.server.guard import is_loopback

    if token or users or is_loopback(host):
        return None
    return (f"warning: the server listens on {host} without a token: anyone on the network who can reach "
            f"port {port} can change runs and aliases\n"
            "hint: add users ('art server users add NAME --admin'), or set --token (or ARTY_SERVER_TOKEN) "
            "to require a token for changes")


def _store_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--store", "store_url", metavar="URL", default=None,
                        help="Store whose accounts to change (default: the global --store, ARTY_STORE, "
                             "else the nearest .arty folder).")(fn)


def _accounts(ctx: Context, store_url: str | None) -> Any:
    from arty.server.accounts import Accounts

    if store_url is not None:
        ctx = Context(store_url, ctx.project_name)
    return Accounts(ctx.store, ttl=0)


@click.group("server", invoke_without_command=True)
@click.option("--store", "store_url", metavar="URL", default=None,
              help="Store to serve (default: the global --store, ARTY_STORE, else the nearest .arty folder).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 serves other machines too (add users or set a --token).")
@click.option("--port", type=int, default=8080, show_default=True,
              help="TCP port (0: any free port, printed in the 'serving at' line).")
@click.option("--token", envvar="ARTY_SERVER_TOKEN", default=None, metavar="TOKEN",
              help="A key for one-person setups: a server admin named 'token'. Default: ARTY_SERVER_TOKEN.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Another name the server may be reached by (repeatable; *.domain for subdomains, * for any). "
                   f"Default: {ALLOWED_HOSTS_ENV}.")
@click.option("--public-read", "public_read", multiple=True, metavar="PROJECT",
              help="Let anyone read this project without a key (repeatable).")
@click.option("--trust-proxy", is_flag=True,
              help="Believe X-Forwarded-Proto/-For from a TLS proxy in front (session cookies marked Secure).")
@click.option("--no-automations", "no_automations", is_flag=True,
              help="Do not deliver the automations' webhooks from this server (another server or "
                   "'art automation deliver' does).")
@click.pass_context
def server_cmd(click_ctx: click.Context, store_url: str | None, host: str, port: int, token: str | None,
               allowed_hosts: tuple[str, ...], public_read: tuple[str, ...], trust_proxy: bool,
               no_automations: bool) -> None:
    """Serve the web UI and its JSON API (/api, spec at /openapi.json, docs at /docs).

    The subcommands manage users, keys and roles in the store (run them on the server machine).
    """
    ctx: Context = click_ctx.ensure_object(Context)
    if store_url is not None:
        click_ctx.obj = ctx = Context(store_url, ctx.project_name)
    if click_ctx.invoked_subcommand is not None:
        return
    if not 0 <= port <= 65535:
        raise UsageError(f"invalid --port {port}", hint="a TCP port, 0 to 65535")
    try:
        import uvicorn

        from arty.server import create_app
        from arty.server.guard import HostPolicy
    except ImportError as exc:
        raise MissingExtra(f"the server needs packages that are not installed ({exc.name})",
                           hint="pip install 'arty[server]'") from None
    from arty.artifacts.names import check_name

    names = allowed_host_names(allowed_hosts)
    policy = HostPolicy.for_address(host, names)  # a bad name is refused before the store is opened
    public = [check_name(p, "project") for p in public_read]
    app = create_app(ctx.store, token=token or None, host=host, allowed_hosts=names, public_read=public,
                     trust_proxy=trust_proxy, automations=not no_automations)
    users = app.state.arty.accounts.has_users()
    if users:
        access = "keys required" + (f"; public reads: {', '.join(public)}" if public else "")
    else:
        access = "writes need the token" if token else "writes open"
    sock = listen_socket(host, port)  # before "serving at": a port in use is an error, and 0 is known
    port = sock.getsockname()[1]
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    click.echo(f"serving store '{ctx.store.url}' at {where} ({access}; answering to {policy.describe()})", err=True)
    warning = exposure_warning(host, token, port, users)
    if warning:
        click.echo(warning, err=True)
    # no access log: requests are not written anywhere (keys travel in headers, never in URLs)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            proxy_headers=trust_proxy, forwarded_allow_ips="*" if trust_proxy else None)
    uvicorn.Server(config).run(sockets=[sock])


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (as uvicorn binds it: IPv6 when
    ``host`` has a ``:``, ``SO_REUSEADDR``); port 0 picks a free port. A port in use, or one
    this user may not bind, is a :class:`UsageError` naming it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is already in use",
                             hint="stop the program that uses it, or pick another with --port (0: any free port)"
                             ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UsageError(f"not allowed to listen on port {port} of {host}",
                             hint="ports below 1024 need privileges: pick another with --port") from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         hint="check --host (an address of this machine) and --port") from None
    sock.set_inheritable(True)
    return sock


# -- users -----------------------------------------------------------------------------------

@server_cmd.group("users")
def users_cmd() -> None:
    """Add, list and disable the server's users."""


@users_cmd.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="A server admin: every role on every project, and user management.")
@_store_option
@json_option
@pass_ctx
def users_add(ctx: Context, name: str, admin: bool, store_url: str | None, as_json: bool) -> None:
    """Add user NAME and print its first API key (shown this once)."""
    user, key = _accounts(ctx, store_url).add_user(name, admin=admin)
    if as_json:
        echo_json({"name": user.name, "admin": user.admin, "key": key})
        return
    click.echo(key)
    click.echo(f"added user '{name}'{' (server admin)' if admin else ''}; its key is above, shown only this once",
               err=True)


@users_cmd.command("list")
@_store_option
@json_option
@pass_ctx
def users_list(ctx: Context, store_url: str | None, as_json: bool) -> None:
    """List the users, their admin flag and roles."""
    accounts = _accounts(ctx, store_url)
    rows = [{"name": u.name, "admin": u.admin, "disabled": u.disabled, "roles": accounts.roles(u.name)}
            for u in accounts.users()]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        flags = ", ".join(f for f, on in (("admin", r["admin"]), ("disabled", r["disabled"])) if on)
        roles = " ".join(f"{p}:{role}" for p, role in sorted(r["roles"].items()))
        click.echo(f"{r['name']}\t{flags or '-'}\t{roles or '-'}")


@users_cmd.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
@_store_option
@json_option
@pass_ctx
def users_disable(ctx: Context, name: str, enable: bool, store_url: str | None, as_json: bool) -> None:
    """Disable user NAME: none of its keys or sessions work until it is enabled again."""
    user = _accounts(ctx, store_url).disable_user(name, disabled=not enable)
    if as_json:
        echo_json({"name": user.name, "admin": user.admin, "disabled": user.disabled})
    else:
        click.echo(f"user '{name}' {'disabled' if user.disabled else 'enabled'}", err=True)


# -- keys ------------------------------------------------------------------------------------

@server_cmd.group("keys")
def keys_cmd() -> None:
    """Create, list and revoke API keys."""


@keys_cmd.command("create")
@click.argument("name")
@click.option("--label", default=None, metavar="TEXT", help="What the key is for (e.g. 'ci', 'laptop').")
@_store_option
@json_option
@pass_ctx
def keys_create(ctx: Context, name: str, label: str | None, store_url: str | None, as_json: bool) -> None:
    """Create a key for user NAME and print it (shown this once)."""
    key, info = _accounts(ctx, store_url).create_key(name, label=label)
    if as_json:
        echo_json({**info.to_json(), "key": key})
        return
    click.echo(key)
    click.echo(f"created key '{info.key_id}' for user '{name}'; the key is above, shown only this once", err=True)


@keys_cmd.command("list")
@click.argument("name", required=False)
@_store_option
@json_option
@pass_ctx
def keys_list(ctx: Context, name: str | None, store_url: str | None, as_json: bool) -> None:
    """List the keys (of user NAME): ids, users, labels, when created, whether revoked; never secrets."""
    keys = _accounts(ctx, store_url).keys(name)
    if as_json:
        echo_json([k.to_json() for k in keys])
        return
    for k in keys:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        click.echo(f"{k.key_id}\t{k.user}\t{k.label or '-'}\t{k.created_at or '-'}\t{state}")


@keys_cmd.command("revoke")
@click.argument("key_id")
@_store_option
@json_option
@pass_ctx
def keys_revoke(ctx: Context, key_id: str, store_url: str | None, as_json: bool) -> None:
    """Revoke key KEY_ID (every server on the store refuses it within seconds)."""
    accounts = _accounts(ctx, store_url)
    created = accounts.revoke_key(key_id)
    if as_json:
        echo_json(accounts.key_info(key_id).to_json())
    else:
        click.echo(f"key '{key_id}' {'revoked' if created else 'was already revoked'}", err=True)


# -- roles -----------------------------------------------------------------------------------

@server_cmd.command("grant")
@click.argument("user")
@click.argument("project")
@click.option("--role", type=click.Choice(["read", "write", "admin"]), required=True,
              help="read (see), write (log runs, add versions, move unprotected aliases, edit), "
                   "admin (delete, protected aliases, grants).")
@_store_option
@json_option
@pass_ctx
def grant_cmd(ctx: Context, user: str, project: str, role: str, store_url: str | None, as_json: bool) -> None:
    """Give USER a role on PROJECT (replacing the one it had)."""
    accounts = _accounts(ctx, store_url)
    accounts.grant(user, project, role)
    if as_json:
        echo_json(accounts.members(project))
    else:
        click.echo(f"user '{user}' has role '{role}' on project '{project}'", err=True)


@server_cmd.command("revoke")
@click.argument("user")
@click.argument("project")
@_store_option
@json_option
@pass_ctx
def revoke_cmd(ctx: Context, user: str, project: str, store_url: str | None, as_json: bool) -> None:
    """Take USER's role on PROJECT."""
    accounts = _accounts(ctx, store_url)
    accounts.grant(user, project, None)
    if as_json:
        echo_json(accounts.members(project))
    else:
        click.echo(f"user '{user}' has no role on project '{project}' any more", err=True)


@server_cmd.command("protect")
@click.argument("project")
@click.argument("ref", metavar="NAME:ALIAS")
@click.option("--off", is_flag=True, help="Unprotect the alias.")
@click.option("--approvals", type=click.IntRange(0, 1), default=0, show_default=True, metavar="N",
              help="1: an admin's move waits until another admin approves it ('art alias approve').")
@_store_option
@pass_ctx
def protect_cmd(ctx: Context, project: str, ref: str, off: bool, approvals: int, store_url: str | None) -> None:
    """Protect alias NAME:ALIAS of PROJECT: through the server, only project admins move it."""
    name, sep, alias = ref.partition(":")
    if not sep:
        raise UsageError(f"invalid alias reference '{ref}'", hint="NAME:ALIAS, e.g. model:prod")
    if off and approvals:
        raise UsageError("--off and --approvals exclude each other")
    _accounts(ctx, store_url).protect(project, name, alias, not off, approvals=approvals)
    extra = " (each move needs another admin's approval)" if approvals else ""
    click.echo(f"alias '{name}:{alias}' of project '{project}' {'un' if off else ''}protected{extra}", err=True)


COMMANDS = [server_cmd]
