"""``art sweep``, ``art sweeps``, ``art agent``: hyperparameter sweeps (W&B's ``wandb sweep`` / ``wandb agent``)."""

from __future__ import annotations

from typing import Any

import click

from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json, plural, table
from arty.errors import UsageError


def _project(ctx: Context, project: str | None, config: dict[str, Any] | None = None) -> str:
    from arty.settings import resolve_project

    named = project or ctx.project_name or ((config or {}).get("project") if isinstance(
        (config or {}).get("project"), str) else None)
    return resolve_project(ctx.store, named)


def _cell(value: Any) -> str:
    from arty.cli.runs import cell

    return cell(value)


def _show(ctx: Context, sweep_id: str, project: str | None, as_json: bool) -> None:
    from arty.sweeps.runner import Sweep
    from arty.sweeps.status import status

    st = status(Sweep(ctx.store, _project(ctx, project), sweep_id))
    if as_json:
        echo_json(st)
        return
    metric = st["metric"]
    total = "" if st["total"] is None else f" of {st['total']}"
    counts = ", ".join(f"{n} {s}" for s, n in sorted(st["counts"].items()))
    click.echo(f"sweep {st['project']}/{st['id']}" + (f" ({st['name']})" if st["name"] else "")
               + f": {st['method']}, " + (f"{st['goal']} {metric}" if metric else "no metric")
               + f"; {plural(len(st['trials']), 'trial')}{total}" + (f" ({counts})" if counts else ""))
    headers = ["", "trial", "state", *st["params"], metric or "metric", "run"]
    rows = []
    for t in st["trials"]:
        rows.append(["*" if t["number"] == st["best"] else "", t["number"], t["state"]
                     + (f" ({t['attempts']} attempts)" if t["attempts"] > 1 else ""),
                     *[_cell(t["params"].get(p)) for p in st["params"]], _cell(t["value"]), t["run_id"]])
    if rows:
        table(rows, headers)
        if st["best"] is not None:
            click.echo(f"* best trial: {st['best']}")
    for w in st["warnings"]:
        click.echo(f"warning: {w}", err=True)


@click.command("sweep")
@click.argument("args", nargs=-1, metavar="CONFIG | show ID")
@click.option("--project", "project", metavar="P", help="The sweep's project (default: the config's, else the current one).")
@click.option("--retries", type=click.IntRange(min=0), default=1, show_default=True,
              help="Times a crashed trial (its agent died) is run again.")
@click.option("--lease-ttl", type=click.FloatRange(min=0.1), default=60.0, show_default=True, metavar="SECONDS",
              help="An agent renews its claim on a trial this often (x 1/3); unrenewed, the claim expires.")
@click.option("--grace", type=click.FloatRange(min=0), default=30.0, show_default=True, metavar="SECONDS",
              help="Seconds past expiry before a trial counts as crashed (allows for clock skew).")
@json_option
@pass_ctx
def sweep_cmd(ctx: Context, args: tuple[str, ...], project: str | None, retries: int, lease_ttl: float, grace: float,
              as_json: bool) -> None:
    """Create a sweep from a W&B-style sweep configuration (YAML) and print its id; 'art sweep show ID' shows its trials.

    \b
    art sweep sweep.yaml            # prints the sweep id
    art agent SWEEP_ID --count 10   # on any number of machines sharing the store
    art sweep show SWEEP_ID         # trials: params, state, metric; the best marked
    """
    if len(args) == 2 and args[0] == "show":
        _show(ctx, args[1], project, as_json)
        return
    if len(args) != 1 or args[0] == "show":
        raise UsageError("expected a sweep configuration file, or 'show ID'",
                         hint="art sweep sweep.yaml, or art sweep show SWEEP_ID")
    from arty.settings import resolve_store
    from arty.sweeps import create, load_config

    config = load_config(args[0])
    store = resolve_store(ctx.store_url, create=True)
    ctx._store = store
    proj = _project(ctx, project, config)
    sweep_id = create(store, proj, config, retries=retries, lease_ttl=lease_ttl, grace=grace)
    if as_json:
        echo_json({"id": sweep_id, "project": proj})
        return
    click.echo(f"art sweep: created sweep {proj}/{sweep_id}; run trials with: art agent {sweep_id}"
               + (f" --project {proj}" if project or ctx.project_name else ""), err=True)
    click.echo(sweep_id)


@click.command("sweeps")
@click.argument("action", required=False, type=click.Choice(["ls"]))
@click.option("--project", "project", metavar="P", help="The project (default: the current one).")
@json_option
@pass_ctx
def sweeps_cmd(ctx: Context, action: str | None, project: str | None, as_json: bool) -> None:
    """List the sweeps of a project: method, metric, trials by state, best value."""
    from arty.sweeps.status import overview

    rows = overview(ctx.store, _project(ctx, project))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no sweeps", err=True)
        return
    table([[r["id"], r["name"] or "", r["method"], (f"{r['goal'][:3]} {r['metric']}" if r["metric"] else ""),
            f"{r['trials']}" + ("" if r["total"] is None else f"/{r['total']}"),
            ", ".join(f"{n} {s}" for s, n in sorted(r["counts"].items())), _cell(r["best_value"]),
            (r["created_at"] or "").replace("T", " ")[:19]] for r in rows],
          ["id", "name", "method", "metric", "trials", "states", "best", "created"])


@click.command("agent")
@click.argument("sweep_id", metavar="SWEEP_ID")
@click.option("--count", type=click.IntRange(min=1), metavar="N", help="Run at most N trials (default: until the sweep is done).")
@click.option("--project", "project", metavar="P", help="The sweep's project (default: the current one).")
@pass_ctx
def agent_cmd(ctx: Context, sweep_id: str, count: int | None, project: str | None) -> None:
    """Run trials of a sweep: claim one in the store, run the sweep's program with its params, record the result; repeat.

    Agents on many machines share a sweep through the store alone; a trial whose agent dies
    is marked crashed and retried. Exits 0 when the sweep is done (or N trials ran), even if
    trials failed: 'art sweep show' tells.
    """
    from arty.sweeps.runner import Agent, Sweep, command_line, program_runner

    sweep = Sweep(ctx.store, _project(ctx, project), sweep_id)
    command_line(sweep.spec, {})  # a sweep with nothing to run fails here, before any claim
    agent = Agent(sweep, say=lambda msg: click.echo(f"art agent: {msg}", err=True))
    ran = agent.run(program_runner(agent), count)
    click.echo(f"art agent: ran {plural(len(ran), 'trial')} of sweep {sweep.project}/{sweep.id}", err=True)


COMMANDS = [sweep_cmd, sweeps_cmd, agent_cmd]
