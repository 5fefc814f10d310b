"""``art runs``, ``art run show|logs``, ``art index rebuild``: querying runs."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

import click

from arty.cli import pipeline as pipeline_cli
from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json, plural, table
from arty.errors import UsageError
from arty.store import layout
from arty.store.layout import ADD_JOB_TYPE
from arty.tracking.local import unsynced_records, unsynced_runs

if TYPE_CHECKING:  # arty.api (and SQLite) load only when a run command runs: other commands start faster
    from arty.api import Api, ApiRun


#: KEY OP VALUE, longest operators first.
_EXPR = re.compile(r"^\s*([^=<>!~\s]+)\s*(>=|<=|!=|=|>|<|~)\s*(.*?)\s*$", re.S)
_OPS = {"=": None, "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte", "~": "$regex"}
#: Summary keys shown as table columns at most.
SUMMARY_COLUMNS = 3


def _api(ctx: Context, project: str | None = None) -> "Api":
    from arty.api import Api

    return Api(ctx.store, project or ctx.project_name)


def _value(text: str) -> Any:
    """A filter value: JSON when it parses (numbers, true, null, "quoted"), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_filters(exprs: tuple[str, ...]) -> dict[str, Any] | None:
    """``--filter`` options to one filter: JSON objects, or ``KEY=VALUE``, ``KEY>VALUE``, ``KEY~REGEX``..."""
    parts: list[dict[str, Any]] = []
    for expr in exprs:
        if expr.lstrip().startswith("{"):
            try:
                value = json.loads(expr)
            except ValueError as exc:
                raise UsageError(f"invalid --filter '{expr}': {exc}",
                                 hint='a JSON object like \'{"config.lr": {"$gt": 0.001}}\'') from None
            if not isinstance(value, dict):
                raise UsageError(f"invalid --filter '{expr}': not a JSON object")
            parts.append(value)
            continue
        m = _EXPR.match(expr)
        if not m:
            raise UsageError(f"invalid --filter '{expr}'",
                             hint="KEY=VALUE, KEY!=VALUE, KEY>VALUE, KEY>=VALUE, KEY<VALUE, KEY<=VALUE, "
                                  "KEY~REGEX, or a JSON object")
        key, op, raw = m.groups()
        value = raw if op == "~" else _value(raw)
        parts.append({key: value} if _OPS[op] is None else {key: {_OPS[op]: value}})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def human_runtime(seconds: float | None) -> str:
    """``3725`` -> ``"1h02m"``; ``65.2`` -> ``"1m05s"``; ``4.25`` -> ``"4.2s"``."""
    if seconds is None:
        return ""
    s = float(seconds)
    if s < 10:
        return f"{s:.1f}s"
    s = int(round(s))
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def short_time(iso_time: str | None) -> str:
    """``2026-11-27T17:35:26.750Z`` -> ``2026-11-27 17:35:26``."""
    if not iso_time:
        return ""
    return iso_time.replace("T", " ")[:19]


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 30 else text[:27] + "..."
    text = str(value)
    return text if len(text) <= 30 else text[:27] + "..."


def summary_columns(runs: "list[ApiRun]", sort: str | None) -> list[str]:
    """The summary keys shown in the table: the sort key's, then the most common scalar ones."""
    chosen: list[str] = []
    if sort:
        for key in sort.split(","):
            key = key.strip().lstrip("+-")
            for prefix in ("summary.", "summary_metrics."):
                if key.startswith(prefix) and key[len(prefix):] not in chosen:
                    chosen.append(key[len(prefix):])
    counts: dict[str, int] = {}
    for r in runs:
        for k, v in r.summary.items():
            if not k.startswith("_") and (v is None or isinstance(v, (int, float, str, bool))):
                counts[k] = counts.get(k, 0) + 1
    for k in sorted(counts, key=lambda k: (-counts[k], k)):
        if len(chosen) >= SUMMARY_COLUMNS:
            break
        if k not in chosen:
            chosen.append(k)
    return chosen


# -- art runs ------------------------------------------------------------------------------------

class RunsGroup(click.Group):
    """``art runs [PROJECT] [OPTIONS]`` lists runs (options before or after PROJECT); ``art runs
    diff A B`` is a subcommand (its first word)."""

    allow_interspersed_args = True

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] in self.commands:  # a subcommand: no PROJECT, and its options are its own
            params = self.params
            self.params = [p for p in params if not isinstance(p, click.Argument)]
            ctx.allow_interspersed_args = False
            try:
                return super().parse_args(ctx, args)
            finally:
                self.params = params
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["[OPTIONS] [PROJECT]", "|", "|".join(sorted(self.commands)), "..."]


@click.group("runs", cls=RunsGroup, invoke_without_command=True)
@click.argument("project", required=False)
@click.option("--filter", "filters", multiple=True, metavar="EXPR",
              help="KEY=VALUE, KEY!=VALUE, KEY>VALUE, KEY>=VALUE, KEY<VALUE, KEY<=VALUE, KEY~REGEX, or a JSON "
                   "filter object. Repeatable: all must hold.")
@click.option("--sort", default="-created_at", show_default=True, metavar="KEY",
              help="Sort key, '-' in front for descending, e.g. -summary.acc. Comma-separated for several.")
@click.option("--limit", type=int, default=50, show_default=True, metavar="N", help="Runs to show (0: all).")
@click.option("--all", "show_all", is_flag=True,
              help="Also list the runs 'art add' records as the producers of versions (job type art-add).")
@click.option("--experiments", "experiments", is_flag=True,
              help="List experiments instead, one row each, as 'art exp show' does.")
@json_option
@pass_ctx
@click.pass_context
def runs_cmd(click_ctx: click.Context, ctx: Context, filters: tuple[str, ...], sort: str, limit: int,
             show_all: bool, as_json: bool, experiments: bool = False, project: str | None = None) -> None:
    """List the runs of PROJECT (default: the current project), filtered and sorted; 'art runs diff A B' compares two.

    Keys: id, name, state, tags, created_at, finished_at, runtime, notes, group,
    job_type, host, exit_code, experiment, commit, config.KEY, summary.KEY (nested keys with dots).
    The runs 'art add' records are left out unless --all is given.
    """
    from arty.index.filters import without_add_runs

    if click_ctx.invoked_subcommand is not None:
        if filters or show_all or as_json or experiments or sort != "-created_at" or limit != 50:
            raise UsageError(f"options of 'art runs' do not go with 'art runs "
                             f"{click_ctx.invoked_subcommand}'", hint="put them after the subcommand's name")
        return
    if experiments:
        from arty.cli.experiments import show_experiments

        if project is not None:
            ctx.project_name = project
        show_experiments(ctx, filters, sort, limit, as_json, False)
        return

    if limit < 0:
        raise UsageError(f"invalid --limit {limit}", hint="a number of runs, or 0 for all")
    api = _api(ctx)
    flt = parse_filters(filters)
    runs = api.runs(project or ctx.project_name, filters=flt if show_all else without_add_runs(flt), order=sort)
    shown = runs if limit == 0 else runs[:limit]
    # Runs with records only on this machine; one still running here uploads as it goes.
    running = {(r.project, r.id) for r in runs if r.state == "running"}
    local = {k: n for k, n in unsynced_runs(api.store, project or api.default_project).items() if k not in running}
    if as_json:
        echo_json([r.to_json() | {"unsynced": local.get((r.project, r.id), 0)} for r in shown])
        return
    if not runs:
        name = project or api.default_project
        hidden = 0 if show_all else api.index.count_runs(name, {"$and": [flt or {}, {"job_type": ADD_JOB_TYPE}]})
        click.echo(f"no runs in project '{name}'" + (" match" if filters else "")
                   + (f" ({plural(hidden, 'run')} of 'art add' hidden: --all lists them)" if hidden else ""))
    else:
        keys = summary_columns(shown, sort)
        rows = [[r.id, cell(r.name), r.state + (" (unsynced)" if (r.project, r.id) in local else ""),
                 short_time(r.created_at), human_runtime(r.runtime), *(cell(r.summary.get(k)) for k in keys)]
                for r in shown]
        table(rows, ["ID", "NAME", "STATE", "CREATED", "RUNTIME", *keys])
        if len(shown) < len(runs):
            click.echo(f"... {len(runs) - len(shown)} more (--limit 0 for all)")
    if local:
        only_here = sum(1 for p, r in local if not api.store.exists(f"{layout.run(p, r)}/run.json"))
        extra = f", {only_here} of them not in the store at all" if only_here else ""
        click.echo(f"note: {plural(len(local), 'run')} of this machine {'has' if len(local) == 1 else 'have'} "
                   f"records that are not in the store yet (crashed, offline or unreachable store{extra}); "
                   "upload them with 'art sync'", err=True)


# -- art run show / logs ---------------------------------------------------------------------------

# ``art run`` itself (a command after ``--``) lives in arty.cli.pipeline; show and logs attach here.
run_group = pipeline_cli.run_group


def _io(run: "ApiRun") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    inputs = [{"project": v.project, "artifact": v.name, "digest": str(v.digest), "type": v.type}
              for v in run.used_artifacts()]
    outputs = [{"project": v.project, "artifact": v.name, "digest": str(v.digest), "type": v.type}
               for v in run.logged_artifacts()]
    return inputs, outputs


@run_group.command("show")
@click.argument("run_path", metavar="ID")
@json_option
@pass_ctx
def run_show_cmd(ctx: Context, run_path: str, as_json: bool) -> None:
    """Config, summary, tags, notes, state, code and host, inputs and outputs of run ID.

    ID is 'run_id' in the current project, 'project/run_id', or a run name
    that only one run of the project has.
    """
    api = _api(ctx)
    run = api.run(run_path)
    inputs, outputs = _io(run)
    pending = unsynced_records(api.store, run.project, run.id)
    if as_json:
        echo_json(run.to_json() | {"inputs": inputs, "outputs": outputs, "unsynced": pending})
        return
    state = run.state + (f" (exit {run.exit_code})" if run.exit_code is not None else "")
    click.echo(f"{run.path}  {run.name}  {state}")
    lines = [("created", short_time(run.created_at) + (f" by {run.user}" if run.user else ""))]
    if run.finished_at:
        lines.append(("finished", short_time(run.finished_at)))
    lines.append(("runtime", human_runtime(run.runtime)))
    if run.steps is not None:
        lines.append(("steps", str(run.steps)))
    if run.error:
        lines.append(("error", run.error))
    lines.append(("tags", ", ".join(run.tags)))
    lines.append(("notes", run.notes or ""))
    if run.group:
        lines.append(("group", run.group))
    if run.job_type:
        lines.append(("job type", run.job_type))
    lines.append(("host", run.host or ""))
    if run.command:
        lines.append(("command", " ".join(run.command)))
    if run.python:
        lines.append(("python", run.python))
    git = run.git
    if git:
        desc = f"{git.get('commit') or '?'}"
        if git.get("branch"):
            desc += f" ({git['branch']})"
        if git.get("remote"):
            desc += f" {git['remote']}"
        if git.get("is_dirty"):
            desc += ", uncommitted changes"
        lines.append(("git", desc))
    if pending:
        lines.append(("unsynced", f"{plural(pending, 'record')} only on this machine; upload with 'art sync'"))
    for label, value in lines:
        click.echo(f"  {label + ':':10} {value}".rstrip())
    from arty.api import flatten_dotted

    for title, mapping in (("config", run.config), ("summary", run.summary)):
        flat = sorted(flatten_dotted(mapping).items())
        click.echo(f"  {title}:" + ("" if flat else " (empty)"))
        for k, v in flat:
            click.echo(f"    {k}: {json.dumps(v) if not isinstance(v, str) else v}")
    for title, items in (("inputs", inputs), ("outputs", outputs)):
        click.echo(f"  {title}:" + ("" if items else " none"))
        for a in items:
            click.echo(f"    {a['project']}/{a['artifact']}  {a['type']}  {a['digest']}")


@run_group.command("logs")
@click.argument("run_path", metavar="ID")
@click.option("--stream", type=click.Choice(["stdout", "stderr"]), help="Only this stream.")
@json_option
@pass_ctx
def run_logs_cmd(ctx: Context, run_path: str, stream: str | None, as_json: bool) -> None:
    """Print the console output of run ID (stdout and stderr, in order)."""
    run = _api(ctx).run(run_path)
    lines = run.console(stream)
    if as_json:
        echo_json([{"time": t, "stream": s, "text": text} for t, s, text in lines])
        return
    for _t, _s, text in lines:
        click.echo(text, nl=not text.endswith("\n"))


# -- art index rebuild -------------------------------------------------------------------------------

@click.group("index")
def index_group() -> None:
    """The SQLite index of the store (a cache: rebuildable from the store at any time)."""


@index_group.command("rebuild")
@json_option
@pass_ctx
def index_rebuild_cmd(ctx: Context, as_json: bool) -> None:
    """Rebuild the index from the store's records alone."""
    api = _api(ctx)
    t = time.perf_counter()
    counts = api.rebuild_index()
    seconds = time.perf_counter() - t
    if as_json:
        echo_json(counts | {"path": api.index.path, "seconds": round(seconds, 3), "store": api.store.url})
        return
    click.echo(f"rebuilt the index of {api.store.url}: {plural(counts['runs'], 'run')}, "
               f"{plural(counts['versions'], 'artifact version')} in {plural(counts['projects'], 'project')} "
               f"({seconds:.2f} s, {api.index.path})")


@runs_cmd.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--all", "show_all", is_flag=True, help="Also list what is the same.")
@json_option
@pass_ctx
def runs_diff_cmd(ctx: Context, a: str, b: str, show_all: bool, as_json: bool) -> None:
    """Config, summary and inputs that differ from A to B: runs, or experiments (name or id)."""
    from arty.cli.experiments import diff_table, resolve_sides
    from arty.index.compare import compare

    side_a, side_b = resolve_sides(ctx, a, b)
    changes = compare(side_a, side_b, show_all)
    named = {"config": changes["params"], "summary": changes["metrics"], "inputs": changes["inputs"]}
    if as_json:
        echo_json({"a": side_a.to_json(), "b": side_b.to_json(), **named})
        return
    if not any(named.values()):
        click.echo(f"no config, summary or inputs differ between {side_a.label} and {side_b.label}")
        return
    first = True
    for title, section in (("config", "params"), ("summary", "metrics"), ("inputs", "inputs")):
        if named[title]:
            if not first:
                click.echo()
            first = False
            diff_table(section, named[title], side_a, side_b, title.capitalize())


COMMANDS = [runs_cmd, run_group, index_group]
