"""``art lineage``: where an artifact version or run came from, and what came from it."""

from __future__ import annotations

import click

from arty.cli.context import Context, pass_ctx
from arty.errors import UsageError


FORMATS = ("text", "json", "graphml", "dot", "mermaid")


@click.command("lineage")
@click.argument("ref", metavar="NAME[:VERSION]|RUN_ID")
@click.option("--up", "up", is_flag=True, help="Only upstream: what it came from.")
@click.option("--down", "down", is_flag=True, help="Only downstream: what came from it.")
@click.option("--depth", type=int, default=None, metavar="N", help="Follow at most N edges (default: all).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Output format.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@pass_ctx
def lineage_cmd(ctx: Context, ref: str, up: bool, down: bool, depth: int | None, fmt: str, as_json: bool) -> None:
    """The runs and artifact versions upstream and downstream of an artifact version or a run.

    REF is NAME[:VERSION] ('model:latest', 'data:v3', 'project/name:alias') or a run id
    ('run_id', 'project/run_id', or a name that only one run has).
    """
    from arty.api import Api  # SQLite and networkx load only when this command runs

    if up and down:
        raise UsageError("--up and --down exclude each other", hint="leave both out for both directions")
    if depth is not None and depth < 0:
        raise UsageError(f"invalid --depth {depth}", hint="a number of edges, 0 or more")
    if as_json:
        if fmt not in ("text", "json"):
            raise UsageError(f"--json and --format {fmt} exclude each other")
        fmt = "json"
    direction = "upstream" if up else "downstream" if down else "both"
    with Api(ctx.store, ctx.project_name) as api:
        lineage = api.lineage(ref, direction=direction, depth=depth)
        click.echo(lineage.export(fmt), nl=False)


COMMANDS = [lineage_cmd]
