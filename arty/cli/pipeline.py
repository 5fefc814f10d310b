"""``art run [OPTIONS] -- CMD ARGS...`` and ``art repro``: commands as tracked pipeline steps.

``art run`` is also the group of ``art run show`` and ``art run logs``: everything after
``--`` is the command to run; without ``--`` the first argument names a subcommand.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import click

from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json, table
from arty.errors import NotFound, UsageError

_INTERPRETERS = {"python", "python3", "bash", "sh", "zsh", "node", "Rscript", "ruby", "perl", "uv", "poetry"}


def default_name(argv: list[str]) -> str:
    """``python train.py`` -> ``train``; ``python -m pkg.train`` -> ``pkg.train``; ``./make-data.sh``
    -> ``make-data``; ``sh -c '...'`` -> ``sh``."""
    first = os.path.basename(argv[0]) or "run"
    if first in _INTERPRETERS and len(argv) > 1:
        if "-m" in argv[1:-1]:
            return argv[argv.index("-m") + 1]
        if argv[1] != "-c" and not argv[1].startswith("-"):
            script = os.path.splitext(os.path.basename(argv[1]))[0]
            if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-]*", script):
                return script
        return first
    return os.path.splitext(first)[0] or first


class RunGroup(click.Group):
    """A group whose arguments after ``--`` are a command to run instead of a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            i = args.index("--")
            before = args[:i]
            if not any(a in self.commands for a in before):
                ctx.meta["arty.command"] = args[i + 1:]
                args = before
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        """``art run [OPTIONS] -- CMD [ARGS]... | show|logs ...``: a command to run, or a subcommand."""
        return ["[OPTIONS] -- CMD [ARGS]...", "|", "|".join(sorted(self.commands)), "..."]

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            raise click.UsageError(f"'{args[0]}' is not an 'art run' subcommand; to run a command, put it "
                                   f"after '--': art run [OPTIONS] -- {' '.join(args)}")
        return super().resolve_command(ctx, args)


@click.group("run", cls=RunGroup, invoke_without_command=True)
@click.option("--name", metavar="NAME", help="Run name (default: the script's name, e.g. 'train').")
@click.option("--use", "uses", multiple=True, metavar="NAME[:ALIAS]",
              help="Input artifact version; downloaded, its path given as {inputs.NAME} and "
                   "ARTY_INPUT_NAME. Repeatable.")
@click.option("--output", "outputs", multiple=True, metavar="NAME=PATH[:TYPE]",
              help="Path the command writes, logged as artifact NAME when it succeeds "
                   "(removed before the command starts). Repeatable.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Parameter: recorded as config, given as {params.KEY} and ARTY_PARAM_KEY. Repeatable.")
@click.option("--metrics", metavar="PATH", help="JSON or YAML file the command writes; copied into the run's summary.")
@click.option("--plot", "plots", multiple=True, metavar="PATH",
              help="Plots file the command writes (CSV, TSV, JSON, YAML), recorded in the run's history or as a "
                   "chart; 'PATH: {x: F, y: F, template: T}' as in arty.yaml. Repeatable.")
@click.option("--job-type", default="step", show_default=True, help="The run's job type.")
@pass_ctx
@click.pass_context
def run_group(click_ctx: click.Context, ctx: Context, name: str | None, uses: tuple[str, ...],
              outputs: tuple[str, ...], params: tuple[str, ...], metrics: str | None, plots: tuple[str, ...],
              job_type: str) -> None:
    """Run a command as a tracked run (art run [OPTIONS] -- CMD ARGS...), or show runs (art run show|logs).

    \b
    art run --use data:prod --output model=out/model.pt:model --param lr=0.01 \\
        -- python train.py --data {inputs.data} --out {outputs.model} --lr {params.lr}
    """
    argv = click_ctx.meta.get("arty.command")
    if click_ctx.invoked_subcommand is not None:
        if any((name, uses, outputs, params, metrics, plots)):
            raise UsageError("options of 'art run' go with a command after '--', not with "
                             f"'art run {click_ctx.invoked_subcommand}'")
        return
    if argv is None:
        click.echo(click_ctx.get_help())
        click_ctx.exit(2)
    if not argv:
        raise UsageError("no command after '--'", hint="art run [OPTIONS] -- CMD ARGS...")
    from arty.pipeline.execute import download_input, run_step
    from arty.pipeline.plots import check_plot_names, parse_plot_option
    from arty.pipeline.spec import Step, parse_output, parse_param, parse_use

    wdir = os.getcwd()
    use_list = [parse_use(u) for u in uses]
    out_list = []
    for text in outputs:
        o = parse_output(text)
        out_list.append(type(o)(o.name, os.path.abspath(o.path), o.type))
    param_map = dict(parse_param(p) for p in params)
    step = Step(name=name or default_name(argv), cmd=list(argv), wdir=wdir, uses=use_list, outputs=out_list,
                params=param_map, metrics=os.path.abspath(metrics) if metrics else None,
                plots=check_plot_names([parse_plot_option(p, wdir) for p in plots], "--plot"))
    step.check_placeholders()
    registry = ctx.writable_registry
    # Every input resolves before the command starts.
    versions = [(u, registry.resolve(u.ref)) for u in use_list]
    inputs = {u.name: (v, download_input(registry, v)) for u, v in versions}
    result = run_step(registry, step, inputs, job_type=job_type,
                      on_start=lambda rid: click.echo(f"art run: run {registry.project}/{rid} ({step.name})",
                                                      err=True))
    made = ", ".join(f"{v.base_name}:{v.version}" for v in result.outputs.values())
    if result.ok:
        click.echo(f"art run: run {result.run_id} finished" + (f" -> {made}" if made else ""), err=True)
    else:
        click.echo(f"art run: run {result.run_id} failed: {result.error}", err=True)
    sys.stdout.flush()
    click_ctx.exit(result.exit_code)


@click.command("repro")
@click.argument("steps", nargs=-1)
@click.option("-f", "--file", "path", metavar="PATH", help="Pipeline file (default: ./arty.yaml).")
@click.option("--force", is_flag=True, help="Run every chosen step, even when an earlier run matches.")
@click.option("--dry-run", is_flag=True, help="Print the plan (run or skip, and why) and change nothing.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Run with this param changed (the files are not touched): a key of params.yaml or of the "
                   "'params:' section (train.lr), STEP.KEY, or a KEY of steps' own params. Repeatable.")
@click.option("--name", metavar="NAME", help="Name of the experiment (default: a generated one, e.g. 'brisk-otter').")
@json_option
@pass_ctx
def repro_cmd(ctx: Context, steps: tuple[str, ...], path: str | None, force: bool, dry_run: bool,
              sets: tuple[str, ...], name: str | None, as_json: bool) -> None:
    """Run the pipeline's STEPS (default: all) and the steps they depend on, skipping unchanged ones.

    A step is skipped when an earlier successful run had the same command, params and input
    versions: its outputs are reused. The exit code is that of the first failed step. Each
    repro is an experiment ('art exp show'): its runs share an experiment id and name.
    """
    from arty.pipeline import Repro, load_pipeline
    from arty.pipeline.params import parse_set

    overrides: dict[str, Any] = {}
    for text in sets:
        key, value = parse_set(text)
        overrides[key] = value
    pipeline = load_pipeline(path, overrides)
    if name is not None:
        from arty.pipeline.experiment import check_name

        check_name(name)
    if dry_run:
        try:
            registry = ctx.registry
        except NotFound:  # no store yet: every step would run; plan against an empty store, write nothing
            from arty.artifacts import Registry
            from arty.store import open_store

            registry = Registry(open_store(f"memory://arty-dry-run-{os.getpid()}", create=True),
                                ctx.project_name or "default")
    else:
        registry = ctx.writable_registry
    echo = None if (as_json or dry_run) else (lambda line: click.echo(f"art repro: {line}", err=True))
    repro = Repro(registry, pipeline, force=force, echo=echo, quiet_stdout=as_json)
    if not dry_run:
        from arty.pipeline.experiment import start

        repro.precheck(pipeline.order(list(steps) or None))  # bad input: an error before a name is taken
        repro.experiment = start(registry, name)
        if echo:
            echo(f"experiment {repro.experiment['name']} ({repro.experiment['id']})")
    result = repro.run(list(steps) or None, dry_run=dry_run)
    if as_json:
        echo_json({"dry_run": dry_run, "exit_code": result.exit_code, "experiment": result.experiment,
                   "steps": [d.to_json() for d in result.decisions]})
    elif dry_run:
        table([(d.step, d.action, d.reason) for d in result.decisions], ["STEP", "ACTION", "WHY"])
    else:
        ran = sum(1 for d in result.decisions if d.action == "run")
        skipped = sum(1 for d in result.decisions if d.action == "skip")
        line = f"art repro: {ran} ran, {skipped} skipped"
        if result.failed:
            blocked = sum(1 for d in result.decisions if d.action == "not run")
            line += f", {len(result.failed)} failed ({result.failed[0].step}: exit {result.failed[0].exit_code})"
            line += f", {blocked} not run" if blocked else ""
        click.echo(line, err=True)
    if result.exit_code:
        sys.exit(result.exit_code)


COMMANDS = [repro_cmd]
