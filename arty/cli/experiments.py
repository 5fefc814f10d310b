"""``art exp show``, ``art params diff``, ``art metrics diff`` (and the tables ``art runs
--experiments`` and ``art runs diff`` share with them): the experiments ``art repro`` records."""

from __future__ import annotations

import csv
import io
import os
from typing import TYPE_CHECKING, Any

import click

from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json, table
from arty.errors import UsageError

if TYPE_CHECKING:
    from arty.index import Index
    from arty.index.compare import Side

#: How ``art exp show`` prints a value the table cannot hold, and a missing one (like DVC's ``-``).
MISSING = "-"


def _index(ctx: Context) -> "tuple[Index, str]":
    from arty.api import Api

    api = Api(ctx.store, ctx.project_name)
    project = api.default_project
    api.index.sync(project)
    return api.index, project


def _cell(value: Any, precision: int | None = None) -> str:
    from arty.cli.runs import cell

    if value is None:
        return MISSING
    if precision is not None and isinstance(value, float) and precision >= 0:
        return cell(round(value, precision))
    return cell(value)


def experiment_columns(exps: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """``(param keys, metric keys)`` over ``exps``, flattened and sorted (metric keys by step)."""
    from arty.index.compare import flatten_dotted, metric_values

    params: set[str] = set()
    metrics: set[str] = set()
    for e in exps:
        params |= set(flatten_dotted(e["params"]))
        metrics |= set(metric_values(e["metrics"]))
    return sorted(params), sorted(metrics)


def show_experiments(ctx: Context, filters: tuple[str, ...], sort: str, limit: int, as_json: bool,
                     as_csv: bool, precision: int | None = None) -> None:
    """The experiments table of ``art exp show`` and ``art runs --experiments``."""
    from arty.cli.runs import parse_filters, short_time
    from arty.index import experiments
    from arty.index.compare import flatten_dotted

    if limit < 0:
        raise UsageError(f"invalid --limit {limit}", hint="a number of experiments, or 0 for all")
    if as_json and as_csv:
        raise UsageError("--json and --csv cannot both be given")
    index, project = _index(ctx)
    exps = experiments.query(index, project, parse_filters(filters), sort, None if limit == 0 else limit)
    if as_json:
        echo_json(exps)
        return
    params, metrics = experiment_columns(exps)
    head = ["Experiment", "id", "Created", "State", "commit"] if as_csv else ["EXPERIMENT", "CREATED", "STATE"]
    rows = []
    for e in exps:
        p, m = flatten_dotted(e["params"]), flatten_dotted(e["metrics"])
        if as_csv:
            rows.append([e["name"], e["id"], e["created_at"] or "", e["state"], e["commit"] or "",
                         *("" if p.get(k) is None else p[k] for k in params),
                         *("" if m.get(k) is None else m[k] for k in metrics)])
        else:
            rows.append([e["name"], short_time(e["created_at"]), e["state"],
                         *(_cell(p.get(k)) for k in params), *(_cell(m.get(k), precision) for k in metrics)])
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*head, *params, *metrics])
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
        return
    if not exps:
        click.echo(f"no experiments in project '{project}'" + (" match" if filters else "")
                   + ("" if filters else " (each 'art repro' is one)"))
        return
    table(rows, [*head, *params, *metrics])


_filter_option = click.option(
    "--filter", "filters", multiple=True, metavar="EXPR",
    help="KEY=VALUE, KEY>VALUE, ..., KEY~REGEX or a JSON filter, as for 'art runs'; keys: params.KEY, "
         "metrics.STEP.KEY, name, id, state, created_at, commit. Repeatable: all must hold.")
_sort_option = click.option("--sort", default="-created_at", show_default=True, metavar="KEY",
                            help="Sort key, '-' in front for descending, e.g. -metrics.evaluate.accuracy.")


# -- art exp ------------------------------------------------------------------------------------

@click.group("exp")
def exp_group() -> None:
    """Experiments: each 'art repro' is one, with its params and every step's metrics."""


@exp_group.command("show")
@_filter_option
@_sort_option
@click.option("--limit", type=int, default=0, show_default=True, metavar="N", help="Experiments to show (0: all).")
@click.option("--precision", type=int, default=5, show_default=True, metavar="N",
              help="Round metrics to N digits after the point in the table.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (every param and metric as a column).")
@json_option
@pass_ctx
def exp_show_cmd(ctx: Context, filters: tuple[str, ...], sort: str, limit: int, precision: int, as_csv: bool,
                 as_json: bool) -> None:
    """One row per experiment: its params and the metrics of every step, newest first."""
    show_experiments(ctx, filters, sort, limit, as_json, as_csv, precision)


# -- art params diff / art metrics diff -----------------------------------------------------------

def resolve_sides(ctx: Context, a: str, b: str) -> "tuple[Side, Side]":
    from arty.index.compare import resolve
    from arty.tracking.code import rev_parse

    index, project = _index(ctx)

    def commit(ref: str) -> str | None:
        return rev_parse(ref, os.getcwd())

    return resolve(index, project, a, commit), resolve(index, project, b, commit)


def diff_table(section: str, changes: dict[str, dict[str, Any]], a: "Side", b: "Side", key_header: str,
               precision: int | None = None) -> None:
    """``KEY  A  B [Change]`` rows, like ``dvc params diff`` / ``dvc metrics diff``."""
    numeric = any("diff" in c for c in changes.values()) or section == "metrics"
    rows = []
    for k, c in changes.items():
        row = [k, _cell(c["old"], precision), _cell(c["new"], precision)]
        if numeric:
            row.append(_cell(c.get("diff"), precision))
        rows.append(row)
    table(rows, [key_header, a.label, b.label, *(["Change"] if numeric else [])])


def _diff_command(section: str, a: str, b: str, ctx: Context, show_all: bool, as_json: bool,
                  precision: int | None) -> None:
    from arty.index.compare import compare

    side_a, side_b = resolve_sides(ctx, a, b)
    changes = compare(side_a, side_b, show_all)[section]
    if as_json:
        echo_json({"a": side_a.to_json(), "b": side_b.to_json(), section: changes})
        return
    if not changes:
        click.echo(f"no {section} differ between {side_a.label} and {side_b.label}"
                   + ("" if show_all else " (--all lists them all)"))
        return
    diff_table(section, changes, side_a, side_b, "Param" if section == "params" else "Metric", precision)


_all_option = click.option("--all", "show_all", is_flag=True, help="Also list the unchanged ones.")
_ab = [click.argument("a", metavar="A"), click.argument("b", metavar="B")]


@click.group("params")
def params_group() -> None:
    """Params of experiments and runs."""


@params_group.command("diff")
@_ab[0]
@_ab[1]
@_all_option
@json_option
@pass_ctx
def params_diff_cmd(ctx: Context, a: str, b: str, show_all: bool, as_json: bool) -> None:
    """Params that differ from A to B: experiments (name or id), runs, or git commits (their newest experiment)."""
    _diff_command("params", a, b, ctx, show_all, as_json, None)


@click.group("metrics")
def metrics_group() -> None:
    """Metrics (summaries) of experiments and runs."""


@metrics_group.command("diff")
@_ab[0]
@_ab[1]
@_all_option
@click.option("--precision", type=int, default=5, show_default=True, metavar="N",
              help="Round values to N digits after the point in the table.")
@json_option
@pass_ctx
def metrics_diff_cmd(ctx: Context, a: str, b: str, show_all: bool, precision: int, as_json: bool) -> None:
    """Metrics that differ from A to B, with the change (B - A) of numbers: experiments, runs or git commits."""
    _diff_command("metrics", a, b, ctx, show_all, as_json, precision)


COMMANDS = [exp_group, params_group, metrics_group]
