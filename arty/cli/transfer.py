"""``art push`` and ``art pull``: copy artifact versions between stores."""

from __future__ import annotations

import os

import click

from arty.artifacts import ArtifactRef
from arty.artifacts.transfer import TransferResult, apply, open_target, plan_transfer, select_versions
from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json, human_size, plural, progress_bar
from arty.settings import DOT_DIR, find_store_url, resolve_project
from arty.store import Store, open_store



def _run(src: Store, dst: Store, ref_text: str, project_opt: str | None, verb: str, as_json: bool) -> None:
    ref = ArtifactRef.parse(ref_text)
    project = ref.project or resolve_project(src, project_opt)
    versions = select_versions(src, project, ref.name, ref.selector)
    plan = plan_transfer(src, dst, project, ref.name, versions)
    with progress_bar(f"{verb} {ref.name}", plan.missing_bytes) as bar:
        result = apply(plan, progress=bar)
    if as_json:
        echo_json(result.to_json())
        return
    _print(result, verb)


def _print(r: TransferResult, verb: str) -> None:
    click.echo(f"{verb} {plural(len(r.versions), 'version')} of {r.name} "
               f"({', '.join(f'v{n}' for n in r.versions)}) from {r.source} to {r.target}")
    click.echo(f"  blobs: {r.blobs_sent} sent ({human_size(r.bytes_sent)}), {r.blobs_present} already there")
    click.echo(f"  records: {r.records_created} created, {r.records_present} already there; "
               f"{plural(len(r.runs), 'run')}")
    for n, why in sorted(r.skipped.items()):
        click.echo(f"  skipped v{n}: {why} (art rm); nothing of it was sent")


@click.command("push")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--to", "url", required=True, metavar="URL", help="Target store (created if absent).")
@json_option
@pass_ctx
def push_cmd(ctx: Context, ref: str, url: str, as_json: bool) -> None:
    """Copy NAME (every version) or NAME:VERSION from the current store to the store at URL.

    Sends only the blobs the target lacks, then the version records, the alias
    history and the runs that made or used the versions. Safe to interrupt and rerun.
    """
    src = ctx.store
    dst = open_target(url, src)
    _run(src, dst, ref, ctx.project_name, "pushed", as_json)


@click.command("pull")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--from", "url", required=True, metavar="URL", help="Source store.")
@json_option
@pass_ctx
def pull_cmd(ctx: Context, ref: str, url: str, as_json: bool) -> None:
    """Copy NAME (every version) or NAME:VERSION from the store at URL into the current store.

    The current store is created (with the source's hash algorithm) if there is none.
    """
    src = open_store(url)
    target = ctx.store_url or find_store_url() or os.path.join(os.getcwd(), DOT_DIR)
    dst = open_target(target, src)
    _run(src, dst, ref, ctx.project_name, "pulled", as_json)


COMMANDS = [push_cmd, pull_cmd]
