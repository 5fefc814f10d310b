"""``art sync``: upload runs recorded offline or while the store was unreachable."""

from __future__ import annotations

import click

from arty.cli.context import Context, pass_ctx
from arty.cli.render import echo_json, plural
from arty.errors import StoreError
from arty.tracking.local import sync_all



@click.command("sync")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def sync_cmd(ctx: Context, as_json: bool) -> None:
    """Upload local run records that are not in the store yet (offline runs, outages)."""
    results = sync_all(ctx.store, ctx.project_name)
    failed = [r for r in results if r[3]]
    if as_json:
        echo_json([{"project": p, "run": r, "uploaded": n, "error": e} for p, r, n, e in results])
    else:
        if not results:
            click.echo("nothing to sync")
        for p, r, n, e in results:
            click.echo(f"{p}/{r}: " + (f"failed: {e}" if e else f"uploaded {plural(n, 'record')}"))
    if failed:
        raise StoreError(f"{plural(len(failed), 'run')} could not be uploaded to store '{ctx.store.url}'",
                         hint="run 'art sync' again when the store is reachable", url=ctx.store.url)


COMMANDS = [sync_cmd]
