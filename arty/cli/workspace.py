"""``art checkout`` and ``art status``: working folders and the ``arty.lock`` that records them."""

from __future__ import annotations

import os
from dataclasses import dataclass

import click

from arty.artifacts import ArtifactVersion, Registry
from arty.artifacts.lockfile import LOCK_NAME, LockEntry, LockFile
from arty.artifacts.workspace import (CheckoutPlan, FolderDiff, FolderHasher, apply_checkout, compare,
                                      plan_checkout, refuse_unsafe, resolve_locked)
from arty.cli.context import Context, json_option, pass_ctx
from arty.cli.render import echo_json, plural, progress_bar
from arty.errors import NotFound, UsageError


def find_lock() -> LockFile | None:
    """The lock file that applies in the current folder (see :mod:`arty.artifacts.lockfile`)."""
    return LockFile.find()


def need_lock() -> LockFile:
    lock = find_lock()
    if lock is None or not lock.entries:
        where = lock.path if lock is not None else LOCK_NAME
        raise NotFound(f"no folders recorded in '{where}'",
                       hint="'art add FOLDER' inside a git repository records one; 'art checkout REF FOLDER' too")
    return lock


def locked_entry(lock: LockFile | None, folder: str) -> LockEntry | None:
    """The lock entry of the local path ``folder``, if it has one."""
    if lock is None:
        return None
    rel = lock.relative(folder)
    return None if rel is None else lock.entries.get(rel)


def record_folder(lock: LockFile | None, folder: str, v: ArtifactVersion) -> str | None:
    """Record that ``folder`` holds ``v`` in the lock file (saved now); returns the lock file's path,
    or None when ``folder`` is not below a repository root (nothing recorded)."""
    if lock is None or lock.relative(folder) is None:
        return None
    lock.record(folder, v.project, v.base_name, v.number, v.digest)
    lock.save()
    return lock.path


@dataclass
class _Job:
    folder: str      # absolute
    shown: str       # as the user sees it
    version: ArtifactVersion
    base: ArtifactVersion | None


def _jobs(reg: Registry, lock: LockFile | None, ref: str | None, path: str | None) -> list[_Job]:
    if ref is None:
        lock = need_lock()
        out = []
        for e in sorted(lock.entries.values(), key=lambda e: e.path):
            v = resolve_locked(reg, e, lock.path)
            out.append(_Job(lock.absolute(e), e.path, v, v))
        return out
    if path is None:
        entry = locked_entry(lock, ref)
        if entry is not None:  # a recorded folder: back to the version the lock file names
            assert lock is not None
            v = resolve_locked(reg, entry, lock.path)
            return [_Job(lock.absolute(entry), entry.path, v, v)]
    v = reg.resolve(ref)
    if path is None:
        recorded = [e for e in (lock.entries.values() if lock is not None else [])
                    if (e.project, e.name) == (v.project, v.base_name)]
        if not recorded:
            raise UsageError(f"no folder is recorded for artifact '{v.project}/{v.base_name}' in '{LOCK_NAME}'",
                             hint=f"name the folder: art checkout {ref} FOLDER")
        if len(recorded) > 1:
            raise UsageError(f"several folders hold artifact '{v.project}/{v.base_name}': "
                             + ", ".join(sorted(e.path for e in recorded)),
                             hint=f"name the folder: art checkout {ref} FOLDER")
        assert lock is not None
        entry = recorded[0]
        return [_Job(lock.absolute(entry), entry.path, v, _base(reg, lock, entry))]
    entry = locked_entry(lock, path)
    return [_Job(os.path.abspath(path), path, v, _base(reg, lock, entry) if entry is not None else None)]


def _base(reg: Registry, lock: LockFile, entry: LockEntry) -> ArtifactVersion | None:
    """The version a folder was last added or checked out as, if the store still has it."""
    try:
        return resolve_locked(reg, entry, lock.path)
    except NotFound:
        return None


def _check_folder(lock: LockFile | None, job: _Job) -> None:
    if lock is not None and (job.folder == lock.root or lock.root.startswith(job.folder.rstrip(os.sep) + os.sep)):
        raise UsageError(f"refusing to check out into '{job.shown}': it holds the repository root '{lock.root}'",
                         hint="check versions out into a folder below it, e.g. data/raw")


def _show_list(label: str, paths: list[str], limit: int = 10) -> None:
    for p in paths[:limit]:
        click.echo(f"  {label} {p}")
    if len(paths) > limit:
        click.echo(f"  ... and {len(paths) - limit} more")


@click.command("checkout")
@click.argument("ref", required=False)
@click.argument("path", required=False, type=click.Path())
@click.option("-f", "--force", is_flag=True,
              help="Discard local changes that no version holds (modified or added files).")
@click.option("--allow-local-refs", is_flag=True,
              help="Also fetch files added by reference to local files (file://); refused without it.")
@json_option
@pass_ctx
def checkout_cmd(ctx: Context, ref: str | None, path: str | None, force: bool, allow_local_refs: bool,
                 as_json: bool) -> None:
    """Make folders hold exactly a version: fetch missing and modified files, remove the others.

    With no argument, every folder recorded in arty.lock is brought to the version it names.
    REF alone: the folder recorded for REF's artifact (or, when REF is a recorded folder, the
    version recorded for it). Files already right are not touched.
    """
    reg = ctx.registry
    lock = find_lock()
    jobs = _jobs(reg, lock, ref, path)
    plans: list[tuple[_Job, CheckoutPlan]] = []
    for job in jobs:
        _check_folder(lock, job)
        hasher = FolderHasher(job.folder, reg.stat_cache, reg.store.algorithm)
        plans.append((job, plan_checkout(reg, job.version, job.folder, hasher, base=job.base)))
    if not force:
        for job, plan in plans:  # refused before anything is changed, in any folder
            if plan.unsafe:
                refuse_unsafe(plan, job.shown)
    results = []
    for job, plan in plans:
        total = sum(a.entry.size for a in plan.fetch)
        with progress_bar(f"checking out {job.version.name}", total) as bar:
            apply_checkout(reg, plan, progress=bar, allow_local_refs=allow_local_refs)
        recorded = record_folder(lock, job.folder, job.version)
        results.append((job, plan, recorded))
    if as_json:
        echo_json([{"path": job.shown, "folder": job.folder, "artifact": job.version.qualified_name,
                    "digest": str(job.version.digest), "discarded": [p for p, _ in plan.unsafe],
                    "lock": recorded} | plan.to_json() for job, plan, recorded in results])
        return
    for job, plan, recorded in results:
        state = "up to date" if not plan.fetch and not plan.remove else \
            f"{len(plan.fetch)} fetched, {len(plan.remove)} removed"
        click.echo(f"{job.shown}: {job.version.qualified_name}  {state}, {plural(plan.kept, 'file')} kept")
        _show_list("fetched", plan.restored)
        _show_list("removed", [f.path for f in plan.remove])


def folder_diffs(reg: Registry, lock: LockFile, path: str | None) -> list[tuple[LockEntry, ArtifactVersion,
                                                                                   FolderDiff]]:
    """Each recorded folder (all, or those at or below ``path``) compared with its recorded version."""
    entries = sorted(lock.entries.values(), key=lambda e: e.path)
    if path is not None:
        full = os.path.abspath(path)
        entries = [e for e in entries if lock.absolute(e) == full or lock.absolute(e).startswith(full + os.sep)]
        if not entries:
            raise NotFound(f"no folder recorded in '{lock.path}' at or below '{path}'",
                           hint="'art status' lists the recorded folders; 'art diff REF FOLDER' compares any folder")
    out = []
    for e in entries:
        v = resolve_locked(reg, e, lock.path)
        folder = lock.absolute(e)
        hasher = FolderHasher(folder, reg.stat_cache, reg.store.algorithm)
        diff = compare(folder, v.files(), hasher)
        hasher.save()
        out.append((e, v, diff))
    return out


@click.command("status")
@click.argument("path", required=False, type=click.Path())
@click.option("-q", "--quiet", is_flag=True, help="Print nothing; exit 1 when a folder differs, else 0.")
@json_option
@pass_ctx
def status_cmd(ctx: Context, path: str | None, quiet: bool, as_json: bool) -> None:
    """Which folders recorded in arty.lock differ from their version: files added, removed, modified.

    Writes nothing to the store, the folders or arty.lock (only the stat cache learns digests).
    """
    lock = need_lock()
    diffs = folder_diffs(ctx.registry, lock, path)
    dirty = any(d for _, _, d in diffs)
    if quiet:
        ctx_exit(1 if dirty else 0)
        return
    if as_json:
        echo_json([{"path": e.path, "artifact": v.qualified_name, "digest": str(v.digest), "clean": not d,
                    "exists": d.exists} | d.to_json() for e, v, d in diffs])
        return
    for e, v, d in diffs:
        state = d.summary() if d.exists else f"missing ('art checkout {e.path}' restores it)"
        click.echo(f"{e.path}: {v.qualified_name}  {state}")
        if not d.exists:
            continue
        for f in d.added:
            click.echo(f"    added:    {e.path}/{f.path}")
        for entry in d.removed:
            click.echo(f"    removed:  {e.path}/{entry.path}")
        for entry, _ in d.modified:
            click.echo(f"    modified: {e.path}/{entry.path}")


def ctx_exit(code: int) -> None:
    click.get_current_context().exit(code)


COMMANDS = [checkout_cmd, status_cmd]
