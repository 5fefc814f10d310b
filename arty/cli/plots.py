"""``art plots diff A B``: the plots of two runs or two experiments on one offline HTML page."""

from __future__ import annotations

import os

import click

from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json
from arty.errors import UsageError


@click.group("plots")
def plots_group() -> None:
    """Compare the plots of runs and experiments (history series and chart tables)."""


@plots_group.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("-o", "--out", "out", default="plots.html", show_default=True, metavar="PATH",
              help="The HTML file to write (self-contained: plotly.js is inlined, no network needed).")
@click.option("-k", "--key", "keys", multiple=True, metavar="GLOB",
              help="Only the plots whose key matches GLOB (e.g. 'train/*'). Repeatable.")
@json_option
@pass_ctx
def diff_cmd(ctx: Context, a: str, b: str, out: str, keys: tuple[str, ...], as_json: bool) -> None:
    """Write an HTML page drawing the plots of A over those of B.

    A and B are runs ('run_id', 'project/run_id', or a name only one run has) or experiments (the
    runs whose record carries that experiment id). Each history key and each logged chart (the
    plots files of pipeline steps, arty.plot charts) is one figure with a trace per side.
    """
    from arty.api import Api  # SQLite and plotly load only when this command runs
    from arty.plotsdiff import plots_diff

    if os.path.isdir(out):
        raise UsageError(f"'{out}' is a folder", hint="-o names the HTML file to write, e.g. -o report.html")
    with Api(ctx.store, ctx.project_name) as api:
        page, side_a, side_b, figures = plots_diff(api, a, b, keys)
    with open(out, "w", encoding="utf-8") as f:
        f.write(page)
    both = sum(1 for fig in figures if len(set(fig.sides)) > 1)
    if as_json:
        echo_json({"out": out, "a": {"label": side_a.label, "runs": [r.id for r in side_a.runs]},
                   "b": {"label": side_b.label, "runs": [r.id for r in side_b.runs]},
                   "plots": [{"key": fig.key, "sides": sorted(set(fig.sides)), "traces": len(fig.traces)}
                             for fig in figures]})
    else:
        click.echo(f"art plots diff: wrote {out} ({len(figures)} plots, {both} in both)", err=True)


COMMANDS = [plots_group]
