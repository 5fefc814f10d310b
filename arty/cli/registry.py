"""``art alias``, ``art link`` and ``art registry``: aliases (with their history and the approval
of protected moves), links into registries, and what registries hold (docs/registry.md)."""

from __future__ import annotations

from typing import Any

import click

from arty.artifacts import ArtifactRef
from arty.artifacts.names import check_alias
from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json, table
from arty.errors import PendingApproval, UsageError


def _on_server(ctx: Context) -> Any:
    """The store's HTTP backend when the store is an ``art server`` (decisions go through its API,
    which knows who you are), else None (the store itself: decisions recorded as ``user@host``)."""
    backend = ctx.store.backend
    return backend if hasattr(backend, "call_api") else None


def _alias_ref(ctx: Context, text: str) -> tuple[str, str, str]:
    """``(project, name, alias)`` of ``[PROJECT/]NAME:ALIAS``."""
    ref = ArtifactRef.parse(text)
    if not ref.selector:
        raise UsageError(f"'{text}' names no alias", hint="[PROJECT/]NAME:ALIAS, e.g. registry/detector:prod")
    return ref.project or ctx.registry.project, ref.name, ref.selector


def _move_row(m: dict[str, Any]) -> list[Any]:
    return [m["id"], f"{m['project']}/{m['artifact']}:{m['alias']}",
            "none" if m.get("from") is None else f"v{m['from']}", f"v{m['version']}", m["by"], m["at"],
            m["state"] + (f" by {m['decided_by']}" if m.get("decided_by") else "")]


_MOVE_HEADERS = ["MOVE", "ALIAS", "FROM", "TO", "BY", "AT", "STATE"]


class AliasGroup(click.Group):
    """``art alias NAME:VERSION ALIAS`` (the ``set`` subcommand, named or not) or ``art alias
    approve|pending|reject ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        i = 0
        while i < len(args) and args[i] in ("--project", "--store"):  # global options given after 'alias'
            i += 2
        if i < len(args) and args[i] not in self.commands and args[i] not in ("-h", "--help"):
            args = ["set", *args]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["[OPTIONS] NAME:VERSION ALIAS", "|", "|".join(sorted(self.commands)), "..."]


@click.group("alias", cls=AliasGroup)
def alias_group() -> None:
    """Point ALIAS at NAME:VERSION; --delete NAME ALIAS removes it. Every move is kept.

    \b
    art alias model:v3 prod                 # move prod (same as: art alias set model:v3 prod)
    art alias --history model prod          # every move of prod: who, when, approved by whom
    art alias pending                       # moves of protected aliases waiting for approval
    art alias approve registry/detector:prod [MOVE_ID]
    art alias reject registry/detector:prod [MOVE_ID]
    """


@alias_group.command("set")
@click.argument("target")
@click.argument("alias")
@click.option("--delete", is_flag=True, help="Remove ALIAS from artifact TARGET (a name).")
@click.option("--history", is_flag=True, help="Show every move of ALIAS of artifact TARGET.")
@json_option
@pass_ctx
def set_cmd(ctx: Context, target: str, alias: str, delete: bool, history: bool, as_json: bool) -> None:
    """Point ALIAS at NAME:VERSION (what 'art alias NAME:VERSION ALIAS' does)."""
    reg = ctx.registry
    ref = ArtifactRef.parse(target)
    sub = reg.in_project(ref.project)
    if history:
        moves = sub.alias_history(ref.name, alias)
        if not moves:
            raise sub.not_found(ref.name, alias)
        if as_json:  # version as everywhere else: "v3" (null: deleted)
            echo_json([{k: v for k, v in m.items() if k != "nonce"}
                       | {"version": None if m["version"] is None else f"v{m['version']}"} for m in moves])
            return
        approved = any(m.get("proposed_by") for m in moves)  # the column only when some move was approved
        table([[m["seq"], "deleted" if m["version"] is None else f"v{m['version']}", m["at"], m["by"]]
               + ([f"proposed by {m['proposed_by']}, approved by {m.get('approved_by')}"
                   if m.get("proposed_by") else ""] if approved else [])
               for m in moves], ["SEQ", "TARGET", "AT", "BY"] + (["APPROVAL"] if approved else []))
        return
    if delete:
        if ref.selector:
            raise UsageError(f"give the artifact name without a version: 'art alias --delete {ref.name} {alias}'")
        old = sub.delete_alias(ref.name, alias)
        if as_json:
            echo_json({"artifact": ref.name, "alias": alias, "deleted": True, "was": f"v{old}"})
        else:
            click.echo(f"deleted alias '{alias}' of '{ref.name}' (was v{old})")
        return
    if not ref.selector:
        raise UsageError(f"which version should '{alias}' point at?", hint=f"art alias {ref.name}:v<N> {alias}")
    v = reg.resolve(ref)
    try:
        sub.set_alias(v.base_name, v.number, alias)
    except PendingApproval as exc:  # through a server, for a protected alias: recorded, not moved yet
        if as_json:
            echo_json({"artifact": v.base_name, "alias": alias, "version": v.version, "pending": exc.move_id})
        else:
            click.echo(f"pending: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
        return
    if as_json:
        echo_json({"artifact": v.base_name, "alias": alias, "version": v.version})
    else:
        click.echo(f"{v.base_name}:{alias} -> {v.version}")


@alias_group.command("pending")
@click.argument("project", required=False)
@click.option("--all", "show_all", is_flag=True, help="Decided moves too (approved, rejected, cancelled).")
@json_option
@pass_ctx
def pending_cmd(ctx: Context, project: str | None, show_all: bool, as_json: bool) -> None:
    """Moves of protected aliases waiting for an approval (of PROJECT, else of every project)."""
    from arty.artifacts import approvals
    from arty.artifacts.names import is_name
    from arty.store import layout

    store = ctx.store
    projects = [project] if project else [p for p in store.list(layout.PROJECTS) if is_name(p)]
    moves = [m for p in projects for m in approvals.moves(store, p, pending_only=not show_all)]
    if as_json:
        echo_json(moves)
    elif not moves:
        click.echo("no pending moves" if not show_all else "no moves", err=True)
    else:
        table([_move_row(m) for m in moves], _MOVE_HEADERS)


def _decide(ctx: Context, ref: str, move_id: str | None, approve: bool, as_json: bool) -> None:
    from arty.artifacts import approvals
    from arty.store.leases import who

    project, name, alias = _alias_ref(ctx, ref)
    server = _on_server(ctx)
    if server is not None:
        verb = "approve" if approve else "reject"
        move = server.call_api("POST", f"/projects/{project}/artifacts/{name}/aliases/{alias}/{verb}",
                               {"move": move_id})
    else:
        fn = approvals.approve if approve else approvals.reject
        move = fn(ctx.store, project, name, alias, move_id, who())
    if as_json:
        echo_json(move)
    elif move["state"] == "approved":
        click.echo(f"{project}/{name}:{alias} -> v{move['version']} (proposed by {move['by']}, "
                   f"approved by {move['decided_by']})")
    else:
        click.echo(f"move {move['id']} of {project}/{name}:{alias} to v{move['version']} {move['state']}")


@alias_group.command("approve")
@click.argument("ref", metavar="[PROJECT/]NAME:ALIAS")
@click.argument("move_id", required=False)
@json_option
@pass_ctx
def approve_cmd(ctx: Context, ref: str, move_id: str | None, as_json: bool) -> None:
    """Approve a pending move of protected alias NAME:ALIAS (MOVE_ID, or its one pending move) and apply it."""
    _decide(ctx, ref, move_id, True, as_json)


@alias_group.command("reject")
@click.argument("ref", metavar="[PROJECT/]NAME:ALIAS")
@click.argument("move_id", required=False)
@json_option
@pass_ctx
def reject_cmd(ctx: Context, ref: str, move_id: str | None, as_json: bool) -> None:
    """Reject a pending move of NAME:ALIAS (cancel it, when you proposed it): the alias stays."""
    _decide(ctx, ref, move_id, False, as_json)


# -- art link ------------------------------------------------------------------------------------


@click.command("link")
@click.argument("source", metavar="[PROJECT/]NAME:REF")
@click.argument("target", metavar="[REGISTRY/]COLLECTION")
@click.option("--alias", "aliases", multiple=True, metavar="A", help="Alias of the collection to point at it "
                                                                      "(repeatable).")
@json_option
@pass_ctx
def link_cmd(ctx: Context, source: str, target: str, aliases: tuple[str, ...], as_json: bool) -> None:
    """Link a version into a registry's collection (default registry: 'registry'); copies no bytes."""
    from arty.artifacts.links import link

    reg = ctx.registry
    ref = ArtifactRef.parse(source)
    if not ref.selector:
        raise UsageError(f"which version of '{ref.name}' should be linked?",
                         hint=f"art link {source}:v<N> {target} (or :latest, :ALIAS)")
    aliases = tuple(check_alias(a) for a in dict.fromkeys(aliases))  # all checked before anything is written
    version = reg.resolve(ref)
    done = link(version, target)
    v = done.version
    collection = reg.in_project(v.project)
    pending = []
    for a in aliases:
        try:
            collection.set_alias(v.base_name, v.number, a)
        except PendingApproval as exc:  # through a server, for a protected alias: recorded, not moved yet
            pending.append(exc)
    if as_json:
        echo_json(v.to_json() | {"created": done.created, "source": v.source_qualified_name,
                                 "pending": [exc.move_id for exc in pending]})
    else:
        what = "linked" if done.created else "already linked"
        moved = [a for a in aliases if a in v.to_json()["aliases"]]
        click.echo(f"{what}: {v.source_qualified_name} -> {v.qualified_name}"
                   + (f" ({', '.join(moved)})" if moved else ""))
    for exc in pending:
        click.echo(f"pending: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)


# -- art registry --------------------------------------------------------------------------------


@click.group("registry")
def registry_group() -> None:
    """Registries: collections of versions linked from any project, with their own aliases."""


@registry_group.command("ls")
@json_option
@pass_ctx
def registry_ls_cmd(ctx: Context, as_json: bool) -> None:
    """List the registries and their collections."""
    from arty.artifacts.links import collections, registries

    store = ctx.store
    rows = []
    for name in registries(store):
        for col in collections(store, name):
            rows.append({"registry": name, "collection": col.name, "versions": len(col.versions),
                         "type": col.versions[-1].type if col.versions else None,
                         "aliases": {a: f"v{n}" for a, n in sorted(col.aliases.items())}})
        if not any(r["registry"] == name for r in rows):
            rows.append({"registry": name, "collection": None, "versions": 0, "type": None, "aliases": {}})
    if as_json:
        echo_json(rows)
    elif not rows:
        click.echo("no registries yet ('art link NAME:VERSION registry/COLLECTION' makes one)", err=True)
    else:
        table([[r["registry"], r["collection"] or "", r["type"] or "", r["versions"],
                ", ".join(f"{a}:{v}" for a, v in r["aliases"].items())] for r in rows],
              ["REGISTRY", "COLLECTION", "TYPE", "VERSIONS", "ALIASES"])


@registry_group.command("show")
@click.argument("name", metavar="REGISTRY[/COLLECTION]")
@json_option
@pass_ctx
def registry_show_cmd(ctx: Context, name: str, as_json: bool) -> None:
    """The collections of a registry: each version with its source, who linked it when, and aliases."""
    from arty.artifacts.links import collections

    registry, _, only = name.partition("/")
    cols = [c for c in collections(ctx.store, registry) if not only or c.name == only]
    if only and not cols:
        raise ctx.registry.in_project(registry).not_found(only, None)
    if as_json:
        echo_json([c.to_json() for c in cols])
        return
    for i, col in enumerate(cols):
        if i:
            click.echo()
        data = col.to_json()
        click.echo(f"{registry}/{col.name}  [{data['type']}]  aliases: "
                   + (", ".join(f"{a}:{v}" for a, v in data["aliases"].items()) or "none"))
        table([[v["version"], v["source"] or "", ", ".join(v["aliases"]), v["by"], v["at"]] for v in data["versions"]],
              ["VERSION", "SOURCE", "ALIASES", "LINKED BY", "AT"])


COMMANDS = [alias_group, link_cmd, registry_group]
