"""Copy artifact versions between stores: ``art push`` and ``art pull``.

What moves for each selected version: the blobs of its tree (file blobs and
tree nodes) that the target lacks, then its records, byte for byte: the
version record, its ``by-digest`` record, the alias logs of the artifact (every
record, in order, as far as the versions they name are on the target), any
other record under the artifact folder, and the runs that created, logged or
used the version, with the blobs of the images and tables those runs logged.

Write order on the target is the store's own: blobs, one flush, then records
(version records before alias records, ``run.json`` before the rest of a run,
``final.json`` last). An interrupted transfer therefore leaves the target
valid, holding at most blobs no record names yet, and a rerun sends only what
is missing.

A version deleted (``art rm``) on the target stays deleted: it is skipped, its
blobs are not sent again, and the result says so (``skipped``); the alias moves
that name it are not copied either. A version deleted in the source and absent
from the target is skipped too; one the target still has gets the source's
deletion record (deletions travel, undeletions do not exist).

Records keep their bytes (and nonce), so creating one that is already there
with the same bytes is success; a *different* record at the same path means
the two stores diverged, and the transfer stops with :class:`ConflictError`
before it writes any record of that kind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from arty.artifacts.manifest import TreeReader
from arty.artifacts.names import check_name
from arty.errors import ConflictError, IntegrityError, NotFound, UsageError
from arty.hashing import Digest
from arty.store import Store, layout
from arty.store.leases import WRITE, Lease

#: Blobs written to the target per batch (one ``write_many``) ...
BATCH_FILES = 4096
#: ... or fewer, when their bytes add up to this.
BATCH_BYTES = 64 * 1024 * 1024
#: Blobs larger than this are streamed through a temporary file instead of memory.
LARGE_BLOB = 16 * 1024 * 1024
#: Threads reading blobs from the source.
READ_THREADS = 16

#: ``progress(files, bytes)``, called as blobs reach the target.
Progress = Callable[[int, int], None]

#: Folders of an artifact copied with their own rules; anything else under it is copied as is.
_OWN_RULES = ("versions", "by-digest", "aliases")


@dataclass
class TransferPlan:
    """What :func:`apply` will copy from ``src`` to ``dst``."""

    src: Store
    dst: Store
    project: str
    name: str
    versions: list[int]
    #: every blob the selected versions need (file blobs and tree nodes): digest -> size (None: a node)
    blobs: dict[Digest, int | None]
    #: the subset the target lacks, when the plan was made
    missing: set[Digest]
    #: run ids to copy (producers and users of the selected versions)
    runs: list[str]
    #: the root nodes of the selected versions, and the media blobs of the runs (named by the
    #: write lease :func:`apply` holds on the target)
    roots: list[Digest] = field(default_factory=list)
    media: set[Digest] = field(default_factory=set)
    #: versions asked for but not copied, and why ("deleted on the target", "deleted in the source")
    skipped: dict[int, str] = field(default_factory=dict)

    @property
    def missing_bytes(self) -> int:
        return sum(self.blobs[d] or 0 for d in self.missing)


@dataclass
class TransferResult:
    """What :func:`apply` did."""

    source: str
    target: str
    project: str
    name: str
    versions: list[int]
    blobs_sent: int = 0
    blobs_present: int = 0
    bytes_sent: int = 0
    records_created: int = 0
    records_present: int = 0
    runs: list[str] = field(default_factory=list)
    #: versions not copied, and why (see :class:`TransferPlan`)
    skipped: dict[int, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "target": self.target, "project": self.project, "name": self.name,
            "versions": [f"v{n}" for n in self.versions], "blobs_sent": self.blobs_sent,
            "blobs_present": self.blobs_present, "bytes_sent": self.bytes_sent,
            "records_created": self.records_created, "records_present": self.records_present,
            "runs": self.runs, "skipped": {f"v{n}": why for n, why in sorted(self.skipped.items())},
        }


def open_target(url: str, like: Store, storage_options: dict[str, Any] | None = None) -> Store:
    """The store at ``url``, created with ``like``'s hash algorithm if absent.

    Refuses a store whose hash algorithm differs from ``like``'s: blobs cannot
    move between them under the same names.
    """
    from arty.store import init_store

    store, _ = init_store(url, algorithm=like.algorithm, storage_options=storage_options)
    check_same_algorithm(like, store)
    return store


def check_same_algorithm(src: Store, dst: Store) -> None:
    if src.algorithm != dst.algorithm:
        raise UsageError(f"store '{dst.url}' uses hash '{dst.algorithm}' but store '{src.url}' uses "
                         f"'{src.algorithm}': versions cannot be copied between them",
                         hint="copy into a store created with the same --hash (a new URL is created to match)")


def select_versions(src: Store, project: str, name: str, selector: str | None) -> list[int]:
    """``NAME`` (selector None): every version; ``NAME:VERSION`` or ``NAME:ALIAS``: that one."""
    from arty.artifacts.versions import Registry

    reg = Registry(src, project)
    if selector is None:
        versions = reg.versions(check_name(name))
        if not versions:
            raise reg.not_found(name, None)
        return versions
    return [reg.resolve(f"{project}/{name}:{selector}").number]


def plan_transfer(src: Store, dst: Store, project: str, name: str,
                  versions: Iterable[int] | None = None) -> TransferPlan:
    """Work out what copying ``versions`` of ``project/name`` (None: all) from ``src`` to ``dst`` takes.

    Raises :class:`ConflictError` when the target already holds a different
    record for one of these versions (the stores diverged); nothing is written.
    """
    check_name(project, "project")
    check_name(name)
    check_same_algorithm(src, dst)
    dst.backend.ensure_writable()
    selected = sorted(set(versions)) if versions is not None else src.log_seqs(layout.versions(project, name))
    if not selected:
        raise NotFound(f"artifact '{name}' has no versions in project '{project}' of store '{src.url}'",
                       hint="'art ls' lists artifacts")
    folder = layout.versions(project, name)
    skipped = _skipped(src, dst, project, name, selected)
    selected = [n for n in selected if n not in skipped]
    records: dict[int, dict[str, Any]] = {}
    for n in selected:
        path = f"{folder}/{layout.seq_name(n)}"
        try:
            raw = src.backend.read(path)
        except FileNotFoundError:
            raise NotFound(f"artifact '{name}:v{n}' not found in store '{src.url}'",
                           hint=f"'art ls {name}' lists its versions") from None
        _check_same(dst, path, raw, f"version '{name}:v{n}'")
        records[n] = _parse(src, path, raw)
    trees = TreeReader(src)
    blobs: dict[Digest, int | None] = {}
    for n in selected:
        root = Digest.parse(records[n]["digest"])
        for d in trees.node_digests(root):
            blobs.setdefault(d, None)
        for e in trees.walk(root):
            if not e.is_ref and e.digest is not None:
                blobs[e.digest] = e.size
    runs = _runs_of(src, project, name, selected, records)
    from arty.artifacts.gc import media_digests_of_run

    media: set[Digest] = set()
    for run_id in runs:  # the images and tables the runs logged go with them
        media |= media_digests_of_run(src, project, run_id)
    for d in media:
        blobs.setdefault(d, None)
    missing = dst.missing_blobs(blobs)
    roots = sorted({Digest.parse(records[n]["digest"]) for n in selected}, key=str)
    return TransferPlan(src, dst, project, name, selected, blobs, missing, runs, roots, media, skipped)


def apply(plan: TransferPlan, progress: Progress | None = None) -> TransferResult:
    """Copy what ``plan`` names: missing blobs, one flush, then the records, all under a
    write lease on the target that names the versions' trees and the runs' media (so a
    concurrent ``art gc`` there keeps them until the records name them)."""
    src, dst = plan.src, plan.dst
    what = f"copy {plan.project}/{plan.name}"
    result = TransferResult(src.url, dst.url, plan.project, plan.name, list(plan.versions), runs=list(plan.runs),
                            skipped=dict(plan.skipped))
    lease = Lease.take(dst, WRITE, what, roots=plan.roots, blobs=sorted(plan.media, key=str))
    try:
        first = True
        while True:
            # Every blob is checked after the lease was taken (and on a local target freshened,
            # marking it in use): one the plan found on the target may have been removed since
            # by a gc pass, and a concurrent writer may have sent some.
            missing = dst.freshen_blobs(plan.blobs) if plan.blobs else set()
            if first:
                result.blobs_present = len(plan.blobs) - len(missing)
                first = False
            _send_blobs(src, dst, sorted(missing, key=str), plan.blobs, result, progress)
            dst.flush()  # every blob durable before any record can name it
            if lease.settle():  # gc passes that began before the lease: check again after them
                continue
            if lease.lapsed():  # paused past its expiry: start over under a new lease
                lease.release()
                lease = Lease.take(dst, WRITE, what, roots=plan.roots, blobs=sorted(plan.media, key=str))
                continue
            break
        return _copy_records(plan, result)
    finally:
        lease.release()


def _copy_records(plan: TransferPlan, result: TransferResult) -> TransferResult:
    """The records of :func:`apply`, once every blob they name is on the target."""
    src, dst, project, name = plan.src, plan.dst, plan.project, plan.name

    def copy(path: str, what: str, data: bytes | None = None) -> bool:
        """Copy one record byte for byte and count it; True if this call created it."""
        outcome = dst.put_once(path, src.backend.read(path) if data is None else data)
        if outcome == "different":
            raise _diverged(what, path, src, dst)
        _count(result, outcome == "created")
        return outcome == "created"

    created_versions = []
    vfolder = layout.versions(project, name)
    for n in plan.versions:
        path = f"{vfolder}/{layout.seq_name(n)}"
        if copy(path, f"version '{name}:v{n}'"):
            created_versions.append(n)
        record = _parse(src, path, src.backend.read(path))
        digest = Digest.parse(record["digest"])
        bd = layout.by_digest(project, name, digest)
        if src.exists(bd):
            copy(bd, f"by-digest record of '{name}:v{n}'")

    # Alias logs: every record in order, as far as the versions they name are on the target
    # (and not deleted there).
    on_target = set(dst.log_seqs(vfolder)) - _deleted(dst, project, name)
    moved: list[tuple[str, int, Any]] = []
    afolder = layout.aliases(project, name)
    for alias in src.list(afolder):
        folder = layout.alias(project, name, alias)
        for seq in src.log_seqs(folder):
            path = f"{folder}/{layout.seq_name(seq)}"
            raw = src.backend.read(path)
            target = _parse(src, path, raw).get("version")
            if target is not None and target not in on_target:
                break  # its version is not on the target (yet): stop this log here
            if copy(path, f"alias '{alias}' of '{name}' (move {seq})", raw):
                moved.append((alias, seq, target))

    # Any other record of the artifact (deletions, edits of versions), as is.
    base = layout.artifact(project, name)
    edited: list[tuple[int, int]] = []
    for rel in src.walk(base):
        if rel.split("/", 1)[0] in _OWN_RULES:
            continue
        if rel.startswith("deleted/") and layout.parse_seq(rel.split("/")[-1]) in plan.skipped:
            continue  # the deletion of a version the target never had
        path = f"{base}/{rel}"
        if copy(path, f"record '{rel}' of artifact '{name}'"):
            parts = rel.split("/")
            seq = layout.parse_seq(parts[-1]) if len(parts) == 3 and parts[0] == "edits" else None
            if seq is not None and parts[1].isascii() and parts[1].isdigit():
                edited.append((int(parts[1]), seq))

    # Runs: run.json first, the records that finish it last, so a copied run is never seen
    # finished but incomplete.
    for run_id in plan.runs:
        folder = layout.run(project, run_id)
        files = src.walk(folder)
        order = sorted(files, key=layout.run_record_order)
        created_here = []
        for rel in order:
            path = f"{folder}/{rel}"
            if copy(path, f"file '{rel}' of run '{run_id}'"):
                created_here.append(rel)
        if created_here:
            last = created_here[-1]
            dst.journal("run_finished" if layout.closes_run(last) else "run_updated",
                        project=project, run=run_id, path=last)

    _copy_step_cache(src, dst, project, result)

    # Journal hints last: readers that catch up (the index) learn of what arrived.
    for n in created_versions:
        record = _parse(src, f"{vfolder}/{layout.seq_name(n)}", src.backend.read(f"{vfolder}/{layout.seq_name(n)}"))
        dst.journal("version_created", project=project, artifact=name, version=n, digest=record["digest"])
    for alias, seq, target in moved:
        dst.journal("alias_moved", project=project, artifact=name, alias=alias, version=target, seq=seq)
    for n, seq in edited:
        dst.journal("version_edited", project=project, artifact=name, version=n, seq=seq)
    return result


def _copy_step_cache(src: Store, dst: Store, project: str, result: TransferResult) -> None:
    """Copy the run-cache records of ``art repro`` (``steps/cache/``) whose output versions are all
    on the target now, with the same content, so ``art repro`` against the target skips those
    steps too. A record with the same key but other outputs on the target stays as it is: either
    is a valid earlier run. The steps' logs (``steps/log/``, only used for messages) stay behind.
    """
    folder = layout.step_cache_folder(project)
    on_target: dict[tuple[str, int], str | None] = {}

    def digest_on_target(name: str, number: int) -> str | None:
        if (name, number) not in on_target:
            try:
                on_target[(name, number)] = dst.log_read(layout.versions(project, name), number).get("digest")
            except (FileNotFoundError, IntegrityError):
                on_target[(name, number)] = None
        return on_target[(name, number)]

    for fname in src.list(folder):
        if not fname.endswith(".json"):
            continue
        path = f"{folder}/{fname}"
        raw = src.backend.read(path)
        outputs = _parse(src, path, raw).get("outputs") or {}
        if outputs and all(digest_on_target(n, int(o["version"])) == o.get("digest") for n, o in outputs.items()):
            outcome = dst.put_once(path, raw)
            if outcome != "different":
                _count(result, outcome == "created")


def transfer(src: Store, dst: Store, project: str, name: str, versions: Iterable[int] | None = None,
             progress: Progress | None = None) -> TransferResult:
    """:func:`plan_transfer` then :func:`apply`."""
    return apply(plan_transfer(src, dst, project, name, versions), progress)


# -- helpers ---------------------------------------------------------------------------------


def _deleted(store: Store, project: str, name: str) -> set[int]:
    """The numbers of the versions of ``project/name`` deleted (``art rm``) in ``store``."""
    from arty.artifacts.versions import Registry

    return Registry(store, project).deleted(name)


def _skipped(src: Store, dst: Store, project: str, name: str, selected: list[int]) -> dict[int, str]:
    """The versions of ``selected`` not to copy, and why: deleted on the target (they stay
    deleted; their blobs are not sent again), or deleted in the source and not on the target."""
    gone_there = _deleted(dst, project, name)
    gone_here = _deleted(src, project, name)
    out: dict[int, str] = {}
    for n in selected:
        if n in gone_there:
            out[n] = "deleted on the target"
        elif n in gone_here and not dst.exists(f"{layout.versions(project, name)}/{layout.seq_name(n)}"):
            out[n] = "deleted in the source"
    return out


def _count(result: TransferResult, created: bool) -> None:
    if created:
        result.records_created += 1
    else:
        result.records_present += 1


def _parse(store: Store, path: str, raw: bytes) -> dict[str, Any]:
    try:
        rec = json.loads(raw)
        if not isinstance(rec, dict):
            raise ValueError("not an object")
        return rec
    except ValueError as exc:
        raise IntegrityError(f"record '{path}' in store '{store.url}' is not valid JSON: {exc}",
                             hint="'art verify' checks every record") from None


def _check_same(dst: Store, path: str, raw: bytes, what: str) -> None:
    try:
        there = dst.backend.read(path)
    except FileNotFoundError:
        return
    if there != raw:
        raise _diverged(what, path, None, dst)


def _diverged(what: str, path: str, src: Store | None, dst: Store) -> ConflictError:
    return ConflictError(f"{what} differs between the stores: they diverged (store '{dst.url}' has another "
                         f"record at '{path}')",
                         hint="the same name was written independently in both stores; copy one side under "
                              "another artifact name, or push to a fresh store")


def _runs_of(src: Store, project: str, name: str, versions: list[int],
             records: dict[int, dict[str, Any]]) -> list[str]:
    """Runs that created (``created_by``), logged (``outputs/``) or used (``inputs/``) the versions."""
    runs_folder = layout.runs(project)
    wanted = {f"{n}.json" for n in versions} | {layout.seq_name(n) for n in versions}
    found = {r["created_by"] for r in records.values() if isinstance(r.get("created_by"), str)}
    run_ids = src.list(runs_folder)

    def touches(run_id: str) -> bool:
        for kind in ("inputs", "outputs"):
            names = src.list(f"{runs_folder}/{run_id}/{kind}/{project}/{name}")
            if wanted & set(names):
                return True
        return False

    candidates = [r for r in run_ids if r not in found]
    if candidates:
        with ThreadPoolExecutor(min(READ_THREADS, len(candidates))) as pool:
            for run_id, hit in zip(candidates, pool.map(touches, candidates)):
                if hit:
                    found.add(run_id)
    present = set(run_ids)
    return sorted(r for r in found if r in present and "/" not in r)


def _send_blobs(src: Store, dst: Store, digests: list[Digest], sizes: dict[Digest, int | None],
                result: TransferResult, progress: Progress | None) -> None:
    """Read each blob from ``src`` (verified) and write it to ``dst``, in batches."""
    large = [d for d in digests if (sizes.get(d) or 0) > LARGE_BLOB]
    small = sorted((d for d in digests if (sizes.get(d) or 0) <= LARGE_BLOB), key=src.pack_order)
    batches: list[list[Digest]] = []
    batch: list[Digest] = []
    batch_bytes = 0
    for d in small:
        if batch and (len(batch) >= BATCH_FILES or batch_bytes + (sizes.get(d) or 0) > BATCH_BYTES):
            batches.append(batch)
            batch, batch_bytes = [], 0
        batch.append(d)
        batch_bytes += sizes.get(d) or 0
    if batch:
        batches.append(batch)
    # Packed blobs of the source are read with one ranged read per run of neighbours: batches
    # follow pack order, and each thread reads a slice of a batch. The target packs small blobs
    # again (Store.put_many_bytes): a push sends packs, not single blobs.
    def read_slice(part: list[Digest]) -> list[bytes]:
        got = src.read_blobs(part)
        for d in part:
            if isinstance(got[d], Exception):
                raise got[d]  # type: ignore[misc]
        return [got[d] for d in part]  # type: ignore[misc]

    with ThreadPoolExecutor(READ_THREADS) as pool:
        for batch in batches:
            step = max(1, -(-len(batch) // READ_THREADS))
            datas = [x for part in pool.map(read_slice, [batch[i:i + step] for i in range(0, len(batch), step)])
                     for x in part]
            dst.put_many_bytes(dict(zip(batch, datas)))
            n_bytes = sum(len(x) for x in datas)
            result.blobs_sent += len(batch)
            result.bytes_sent += n_bytes
            if progress:
                progress(len(batch), n_bytes)
    if large:
        tmp = tempfile.mkdtemp(prefix="arty-transfer-")
        try:
            for d in large:
                local = os.path.join(tmp, d.hex)
                src.blob_to_file(d, local, size=sizes.get(d))  # verified while streaming
                n_bytes = os.path.getsize(local)
                dst.backend.put_file(local, layout.blob(d))
                os.unlink(local)
                result.blobs_sent += 1
                result.bytes_sent += n_bytes
                if progress:
                    progress(1, n_bytes)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["TransferPlan", "TransferResult", "apply", "open_target", "plan_transfer", "select_versions",
           "transfer"]
