"""``art automation add|ls|rm|log|deliver`` and ``art watch``: act when something happens in the
store (docs/automations.md). On an ``http(s)://`` store the automation commands go through the
server's API (project admins); ``art watch`` works on every store."""

from __future__ import annotations

import json
import os
import shlex
import sys
from typing import Any

import click

from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json, table
from arty.errors import ArtyError, NotFound, StorePermissionDenied, UsageError


def _project(ctx: Context) -> str:
    from arty.settings import resolve_project

    return resolve_project(ctx.store, ctx.project_name)


def _server(ctx: Context) -> Any:
    """The store's HTTP backend when the store is an ``art server``, else None."""
    backend = ctx.store.backend
    return backend if getattr(backend, "protocol", "") in ("http", "https") and hasattr(backend, "session") else None


def _api(backend: Any, method: str, path: str, body: Any = None) -> Any:
    """One call to the server's JSON API; its errors as Arty's."""
    import requests

    url = f"{backend.url}/api{path}"
    try:
        resp = backend.session.request(method, url, json=body, timeout=backend.timeouts)
    except requests.RequestException as exc:
        raise ArtyError(f"cannot reach the server '{backend.url}': {type(exc).__name__}",
                        hint="is 'art server' running?") from None
    if resp.status_code < 400:
        return resp.json()
    try:
        data = resp.json()
    except ValueError:
        data = {}
    message, hint = str(data.get("error") or f"the server answered {resp.status_code}"), data.get("hint")
    if resp.status_code in (401, 403):
        raise StorePermissionDenied(message, hint=hint or f"log in with 'art login {backend.url}'", url=backend.url)
    if resp.status_code == 404:
        raise NotFound(message, hint=hint)
    raise UsageError(message, hint=hint)


def _action_text(a: dict[str, Any]) -> str:
    act = a.get("action") or {}
    if act.get("kind") == "webhook":
        return f"webhook {act.get('url')}"
    return "command " + shlex.join([str(c) for c in act.get("command") or []])


@click.group("automation")
def automation_cmd() -> None:
    """Automations: a webhook or a command on an event (version, alias, run, alert)."""


@automation_cmd.command("add")
@click.option("--on", "on", required=True, metavar="EVENT[:FILTER]",
              help="version[:ARTIFACT], alias[:[ARTIFACT:]ALIAS], run[.finished|.failed|.crashed][:RUN], "
                   "alert[:LEVEL|TITLE] or *; filters are globs.")
@click.option("--webhook", metavar="URL", default=None, help="POST the event, signed, to this http(s) URL.")
@click.option("--secret-from-env", "secret_env", metavar="VAR", default=None,
              help="Sign with the secret in environment variable VAR (default: a new secret, printed once).")
@click.option("--command", "command", metavar="CMD", default=None,
              help="Run CMD (split as a shell would, not run by one) with the event in ARTY_EVENT; "
                   "'art automation deliver' runs it.")
@click.option("--give-up-after", type=float, default=3600.0, show_default=True, metavar="SECONDS",
              help="Stop retrying a failing delivery this long after the event was claimed.")
@click.option("--retry-after", type=float, default=10.0, show_default=True, metavar="SECONDS",
              help="Wait before the first retry; each later retry waits twice as long (at most 10 minutes).")
@click.option("--description", default=None, help="A note shown with the automation.")
@json_option
@pass_ctx
def add_cmd(ctx: Context, on: str, webhook: str | None, secret_env: str | None, command: str | None,
            give_up_after: float, retry_after: float, description: str | None, as_json: bool) -> None:
    """Add an automation to the project: a webhook (the signing secret is printed this once) or a command."""
    secret = None
    if secret_env is not None:
        secret = os.environ.get(secret_env)
        if not secret:
            raise UsageError(f"environment variable '{secret_env}' is not set or empty",
                             hint="export it, or leave out --secret-from-env for a generated secret")
        if webhook is None:
            raise UsageError("--secret-from-env signs webhooks", hint="add --webhook URL")
    argv = shlex.split(command) if command is not None else None
    if command is not None and not argv:
        raise UsageError("--command is empty", hint="e.g. --command './deploy.sh --env prod'")
    server = _server(ctx)
    project = _project(ctx)
    if server is not None:
        out = _api(server, "POST", f"/projects/{project}/automations",
                   {"on": on, "webhook": webhook, "command": argv, "secret": secret,
                    "give_up_after": give_up_after, "retry_after": retry_after, "description": description})
        automation, shown = out["automation"], out.get("secret")
    else:
        from arty.automations import records

        automation, shown = records.add(ctx.store, project, on, webhook=webhook, command=argv, secret=secret,
                                        give_up_after=give_up_after, retry_after=retry_after,
                                        description=description)
    if secret_env is not None:
        shown = None  # the user has it already
    if as_json:
        echo_json({"automation": automation, "secret": shown})
        return
    click.echo(f"added automation {automation['id']} on {automation['on']} in project '{project}': "
               f"{_action_text(automation)}")
    if shown:
        click.echo(f"signing secret (shown this once; give it to the receiver now): {shown}")


@automation_cmd.command("ls")
@json_option
@pass_ctx
def ls_cmd(ctx: Context, as_json: bool) -> None:
    """List the project's automations (never their secrets)."""
    server = _server(ctx)
    project = _project(ctx)
    if server is not None:
        found = _api(server, "GET", f"/projects/{project}/automations")
    else:
        from arty.automations import records

        found = records.list_automations(ctx.store, project)
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo(f"no automations in project '{project}'", err=True)
        return
    table([(a["id"], a["on"], _action_text(a), a.get("by"), a.get("created_at")) for a in found],
          ["ID", "ON", "ACTION", "BY", "CREATED"])


@automation_cmd.command("rm")
@click.argument("automation_id", metavar="ID")
@pass_ctx
def rm_cmd(ctx: Context, automation_id: str) -> None:
    """Remove automation ID (recorded; its delivery log stays)."""
    server = _server(ctx)
    project = _project(ctx)
    if server is not None:
        _api(server, "DELETE", f"/projects/{project}/automations/{automation_id}")
    else:
        from arty.automations import records

        records.remove(ctx.store, project, automation_id)
    click.echo(f"removed automation {automation_id}")


@automation_cmd.command("log")
@click.argument("automation_id", metavar="ID")
@click.option("--limit", type=int, default=50, show_default=True, help="Show at most this many deliveries.")
@json_option
@pass_ctx
def log_cmd(ctx: Context, automation_id: str, limit: int, as_json: bool) -> None:
    """The delivery log of automation ID, newest first: each event, its attempts and outcome."""
    server = _server(ctx)
    project = _project(ctx)
    if server is not None:
        found = _api(server, "GET", f"/projects/{project}/automations/{automation_id}/deliveries?limit={limit}")
        found = found["deliveries"]
    else:
        from arty.automations import records

        records.get(ctx.store, project, automation_id)
        found = records.deliveries(ctx.store, project, automation_id, limit=limit)
    if as_json:
        echo_json(found)
        return
    rows = []
    for d in found:
        last = d["attempts"][-1] if d["attempts"] else {}
        codes = ",".join(str(t.get("status") if t.get("status") is not None else t.get("exit_code", "-"))
                         for t in d["attempts"])
        rows.append((d["event"].get("id"), d["event"].get("type"), d["event"].get("at"),
                     d["state"].replace("_", " "), codes or "-", last.get("error") or ""))
    table(rows, ["EVENT", "TYPE", "AT", "STATE", "ATTEMPTS", "LAST ERROR"])


@automation_cmd.command("deliver")
@json_option
@pass_ctx
def deliver_cmd(ctx: Context, as_json: bool) -> None:
    """One delivery pass (for cron or CI without a server): claim the new events, deliver what is due."""
    if _server(ctx) is not None:
        raise UsageError("the server delivers the automations of its store",
                         hint="run 'art automation deliver' where the store itself can be reached, not through a server")
    from arty.automations.deliver import Deliverer

    counts = Deliverer(ctx.store, actions=("webhook", "command"),
                       log=lambda m: click.echo(m, err=True)).run_once()
    if as_json:
        echo_json(counts)
    else:
        click.echo(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))


@click.command("watch", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--on", "on", required=True, metavar="EVENT[:FILTER]",
              help="What to wait for, as 'art automation add --on' takes it, e.g. alias:prod.")
@click.option("--once", is_flag=True, help="Exit after the first event, with the command's exit status.")
@click.option("--interval", type=float, default=2.0, show_default=True, metavar="SECONDS",
              help="How often the store's journal is read.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def watch_cmd(ctx: Context, on: str, once: bool, interval: float, command: tuple[str, ...]) -> None:
    """Run COMMAND (after --) each time EVENT happens in the project, with the event as JSON in
    ARTY_EVENT; without a command, print each event as a JSON line."""
    from arty.automations.deliver import run_command
    from arty.automations.events import parse_on
    from arty.automations.watch import Watcher

    trigger = parse_on(on)
    if interval <= 0:
        raise UsageError(f"invalid --interval {interval:g}", hint="a number of seconds above 0")
    project = _project(ctx)
    watcher = Watcher(ctx.store, trigger, project)
    click.echo(f"watching store '{ctx.store.url}' for {trigger.spec} in project '{project}'", err=True)
    status = [0]

    def handle(event: dict[str, Any]) -> bool:
        if not command:
            click.echo(json.dumps(event, sort_keys=True))
            sys.stdout.flush()
            return not once
        click.echo(f"{event['type']} {event['id']}: running {shlex.join(command)}", err=True)
        result = run_command(list(command), event)
        status[0] = result["exit_code"] if result["exit_code"] is not None else 127
        if not result["ok"]:
            click.echo(f"warning: {result['error']}", err=True)
        return not once

    try:
        watcher.follow(handle, interval=interval)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
        sys.exit(130)
    sys.exit(status[0])


COMMANDS = [automation_cmd, watch_cmd]
