"""``art retention``, ``art ttl`` and ``art du``: what to keep, and what it costs (docs/retention.md)."""

from __future__ import annotations

from typing import Any

import click

from arty.artifacts import ArtifactRef
from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json, human_size, table
from arty.errors import NotFound, UsageError


def _target(ctx: Context, target: str) -> tuple[str, str | None]:
    """``PROJECT/`` -> (project, None); ``[PROJECT/]NAME`` -> (project, name)."""
    from arty.artifacts.names import check_name

    if target.endswith("/"):
        return check_name(target[:-1], "project"), None
    ref = ArtifactRef.parse(target)
    if ref.selector is not None:
        raise UsageError(f"'{target}' names a version: a policy belongs to an artifact or a project",
                         hint="give NAME, PROJECT/NAME or PROJECT/ (a TTL is per version: 'art ttl NAME:vN 30d')")
    return ref.project or ctx.registry.project, ref.name


def _label(project: str, name: str | None) -> str:
    return f"project '{project}'" if name is None else f"artifact '{project}/{name}'"


@click.group("retention")
def retention_group() -> None:
    """Retention policies: which versions 'art gc' deletes (keep the last N, keep younger than D days)."""


@retention_group.command("set")
@click.argument("target", metavar="[PROJECT/]NAME|PROJECT/")
@click.option("--keep-last", type=int, metavar="N", help="Keep the N highest versions.")
@click.option("--keep-days", type=float, metavar="D", help="Keep versions logged less than D days ago.")
@json_option
@pass_ctx
def set_cmd(ctx: Context, target: str, keep_last: int | None, keep_days: float | None, as_json: bool) -> None:
    """Set the policy of an artifact (or, with PROJECT/, of every artifact of a project without its own).

    A version is kept when a rule keeps it; the highest version, versions an alias points at and
    versions a registry links are always kept. 'art gc' deletes the others.
    """
    from arty.artifacts.retention import check_policy, plan_retention, set_policy
    from arty.settings import check_project

    project, name = _target(ctx, target)
    check_policy(keep_last, keep_days)
    if name is not None and not ctx.registry.in_project(project).versions(name):
        raise ctx.registry.in_project(project).not_found(name, None)
    if name is None:
        check_project(ctx.store, project)
    policy = set_policy(ctx.store, project, name, keep_last, keep_days)
    plan = plan_retention(ctx.store, project=project)  # what it selects now, for the report
    would = [s for s in plan.delete if name is None or s.name == name]
    held = [s for s in plan.protected if name is None or s.name == name]
    if as_json:
        echo_json({"project": project, "artifact": name} | policy.to_json() |
                  {"would_delete": [s.to_json() for s in would], "held": [s.to_json() for s in held]})
        return
    click.echo(f"retention of {_label(project, name)}: {policy.describe()} "
               "(applied by 'art gc'; 'art gc --dry-run' shows what would go)")
    if would:
        click.echo(f"the next 'art gc' deletes {len(would)} version{'s' if len(would) != 1 else ''}: "
                   + ", ".join(f"{s.name}:v{s.number}" for s in would[:20]) + (", ..." if len(would) > 20 else ""))
    for s in held:
        click.echo(f"never deleted although selected: {s.name}:v{s.number}, held by {', '.join(s.held_by)}")


@retention_group.command("show")
@click.argument("target", metavar="[[PROJECT/]NAME|PROJECT/]", required=False)
@click.option("--history", is_flag=True, help="Every change of the policy of TARGET, with who and when.")
@json_option
@pass_ctx
def show_cmd(ctx: Context, target: str | None, history: bool, as_json: bool) -> None:
    """Show the policies of the store (or the one that applies to TARGET), and the versions with a TTL."""
    from arty.artifacts.retention import effective_policy, policies, policy_history, policy_of

    if target is None:
        if history:
            raise UsageError("--history needs a TARGET", hint="e.g. art retention show data --history")
        rows = [{"project": p, "artifact": a} | pol.to_json() for p, a, pol in policies(ctx.store)]
        if as_json:
            echo_json(rows)
            return
        if not rows:
            click.echo("no retention policies: 'art gc' deletes only versions whose TTL has passed")
            return
        table([[r["project"] + "/" + (r["artifact"] or ""), r["keep_last"], r["keep_days"], r["by"], r["at"]]
               for r in rows], ["TARGET", "KEEP-LAST", "KEEP-DAYS", "BY", "AT"])
        return
    project, name = _target(ctx, target)
    if history:
        recs = policy_history(ctx.store, project, name)
        if as_json:
            echo_json(recs)
            return
        for r in recs:
            what = "unset" if r.get("unset") else ", ".join(
                f"{k.replace('_', '-')} {r[k]:g}" for k in ("keep_last", "keep_days") if r.get(k) is not None)
            click.echo(f"{r['seq']}  {r['at']}  {r['by']}  {what}")
        return
    pol = effective_policy(ctx.store, project, name) if name is not None else policy_of(ctx.store, project)
    if as_json:
        echo_json({"project": project, "artifact": name, "policy": pol.to_json() if pol else None})
        return
    if pol is None:
        click.echo(f"{_label(project, name)} has no retention policy")
    else:
        click.echo(f"{_label(project, name)}: {pol.describe()} (set on the {pol.scope} by {pol.by} at {pol.at})")


@retention_group.command("unset")
@click.argument("target", metavar="[PROJECT/]NAME|PROJECT/")
@json_option
@pass_ctx
def unset_cmd(ctx: Context, target: str, as_json: bool) -> None:
    """Remove the policy of an artifact (its project's applies again) or of a project."""
    from arty.artifacts.retention import unset_policy

    project, name = _target(ctx, target)
    changed = unset_policy(ctx.store, project, name)
    if as_json:
        echo_json({"project": project, "artifact": name, "unset": changed})
        return
    click.echo(f"removed the retention policy of {_label(project, name)}" if changed
               else f"{_label(project, name)} had no retention policy of its own")


@click.command("ttl")
@click.argument("ref", metavar="NAME:VERSION")
@click.argument("ttl", metavar="DURATION|none|inherit")
@json_option
@pass_ctx
def ttl_cmd(ctx: Context, ref: str, ttl: str, as_json: bool) -> None:
    """Give a version a TTL (30d, 12h, 2w), counted from when it was logged: 'art gc' deletes it
    once passed. none (or inherit): no TTL of its own, the retention policy decides."""
    from arty.artifacts.retention import human_duration, parse_duration, set_ttl

    r = ArtifactRef.parse(ref)
    if r.selector is None:
        raise UsageError(f"'{ref}' does not name one version", hint="give it explicitly, e.g. 'art ttl NAME:v3 30d'")
    v = ctx.registry.in_project(r.project).resolve(r)
    seconds = None if ttl.lower() in ("none", "inherit") else parse_duration(ttl)
    set_ttl(ctx.store, v, seconds)
    if as_json:
        echo_json({"version": v.qualified_name, "project": v.project, "ttl": seconds})
        return
    click.echo(f"{v.qualified_name}: " + (f"ttl {human_duration(seconds)} from {v.created_at}" if seconds is not None
                                          else "no ttl of its own (the retention policy decides)"))


def _row(label: str, u: Any) -> list[Any]:
    return [label, u.versions, u.files, human_size(u.logical), human_size(u.unique), human_size(u.shared)]


@click.command("du")
@click.argument("target", metavar="[NAME|PROJECT/|NAME:VERSION]", required=False)
@click.option("--no-runs", is_flag=True, help="Do not read run histories (blobs a run logged count as unshared).")
@json_option
@pass_ctx
def du_cmd(ctx: Context, target: str | None, no_runs: bool, as_json: bool) -> None:
    """Storage used per project, artifact and version: logical bytes (the files' sizes), unique
    bytes (what deleting it would free, dedup counted) and shared bytes (also used elsewhere)."""
    from arty.artifacts.usage import store_usage

    store = ctx.store
    usage = store_usage(store, runs=not no_runs)
    headers = ["", "VERSIONS", "FILES", "LOGICAL", "UNIQUE", "SHARED"]
    if target is None:
        if as_json:
            echo_json(usage.to_json())
            return
        table([_row(f"{p}/", u) for p, u in sorted(usage.projects.items())] +
              [_row(f"{p}/{a}", u) for (p, a), u in sorted(usage.artifacts.items())],
              ["TARGET"] + headers[1:])
        click.echo(f"total stored: {human_size(usage.total.unique)} for {human_size(usage.total.logical)} of files")
        return
    if target.endswith("/"):
        from arty.artifacts.names import check_name

        project = check_name(target[:-1], "project")
        if project not in usage.projects:
            raise NotFound(f"project '{project}' has no versions in store '{store.url}'",
                           hint="'art du' lists the projects")
        arts = {a: u for (p, a), u in usage.artifacts.items() if p == project}
        if as_json:
            echo_json({"project": project} | usage.projects[project].to_json() |
                      {"artifacts": [{"artifact": a} | u.to_json() for a, u in sorted(arts.items())]})
            return
        table([_row(target, usage.projects[project])] + [_row(f"{project}/{a}", u) for a, u in sorted(arts.items())],
              ["TARGET"] + headers[1:])
        return
    ref = ArtifactRef.parse(target)
    reg = ctx.registry.in_project(ref.project)
    if ref.selector is not None:
        v = reg.resolve(ref)
        u = usage.versions.get((v.project, v.base_name, v.number))
        if u is None:
            raise NotFound(f"'{v.qualified_name}' holds no bytes of its own", hint="a registry link shares its source's")
        if as_json:
            echo_json({"project": v.project, "artifact": v.base_name, "version": v.version} | u.to_json())
            return
        table([_row(v.qualified_name, u)], ["VERSION"] + headers[1:])
        return
    key = (reg.project, ref.name)
    if key not in usage.artifacts:
        raise reg.not_found(ref.name, None)
    versions = sorted((n, u) for (p, a, n), u in usage.versions.items() if (p, a) == key)
    if as_json:
        echo_json({"project": reg.project, "artifact": ref.name} | usage.artifacts[key].to_json() |
                  {"versions": [{"version": f"v{n}"} | u.to_json() for n, u in versions],
                   "nodes": usage.nodes, "nodes_read": usage.nodes_read})
        return
    table([_row(f"{reg.project}/{ref.name}", usage.artifacts[key])] +
          [_row(f"  v{n}", u) for n, u in versions], ["TARGET"] + headers[1:])


COMMANDS = [retention_group, ttl_cmd, du_cmd]
