"""Garbage collection: remove blobs that no version references.

Two steps: :func:`plan_gc` lists what would go (it removes nothing) and
:func:`apply_gc` removes it; :func:`collect` does both under a gc lease. The
rule (docs/store-format.md, "Garbage collection"): a blob goes only if no
version that is not deleted and no run references it, no live write lease may
own it (:mod:`arty.store.leases`), and it was last written longer ago than the
grace period. The order of the reads is what makes this safe against writers
at work: the gc lease first, then the blobs, then the leases, then the versions.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from arty.artifacts.manifest import TreeReader
from arty.artifacts.verify import iter_versions
from arty.errors import ArtyError, ConflictError, UsageError
from arty.hashing import Digest
from arty.store import Store, layout, records, segments
from arty.store.backends import TMP_PREFIX
from arty.store.leases import CLOCK_SKEW, GC, WRITE, Lease, LeaseInfo, read_leases
from arty.store.packs import index_path, pack_path

#: A pack whose kept blobs hold less than this share of its bytes is repacked.
REPACK_BELOW = 0.5

#: Default grace period in seconds (``art gc --grace``).
DEFAULT_GRACE = 3600


@dataclass
class GcPlan:
    """What gc would remove: unreferenced old blobs, (local stores) stale temp files, expired leases."""

    blobs: list[tuple[Digest, int]] = field(default_factory=list)  # (digest, size): every blob to remove
    #: those of ``blobs`` that are packed: they go with their packs, which go whole when nothing
    #: in them is referenced ...
    packed: set[Digest] = field(default_factory=set)
    drop_packs: list[tuple[str, int]] = field(default_factory=list)  # (pack name, size)
    #: ... and packs whose kept share is low are rewritten: (pack, size, the blobs kept)
    repacks: list[tuple[str, int, list[Digest]]] = field(default_factory=list)
    temp_files: list[tuple[str, int]] = field(default_factory=list)  # (path under the store, size)
    kept_young: int = 0  # unreferenced blobs kept because they are younger than the grace period
    kept_leased: int = 0  # unreferenced blobs kept because a live write lease may own them
    kept_in_packs: int = 0  # unreferenced blobs kept in packs mostly referenced (not worth a repack)
    referenced: int = 0  # blobs referenced by a version or a run
    now: float = 0.0
    grace: float = DEFAULT_GRACE
    #: Blobs (and temp files) modified at or after this time are kept: ``now - grace``, or earlier
    #: while an open write lease is live on a local store (its start, less the clock skew).
    cutoff: float = 0.0
    leases: list[LeaseInfo] = field(default_factory=list)  # live write leases
    expired_leases: list[LeaseInfo] = field(default_factory=list)  # to remove
    #: Why every unreferenced blob is kept this time (an open lease on a bucket store), or None.
    blocked: str | None = None
    #: The gc lease the plan was made under; only such a plan can be applied.
    lease: Lease | None = None

    @property
    def bytes(self) -> int:
        return sum(s for _, s in self.blobs) + sum(s for _, s in self.temp_files)

    def to_json(self) -> dict[str, Any]:
        return {"blobs": len(self.blobs), "temp_files": len(self.temp_files),
                "bytes": self.bytes, "kept_young": self.kept_young, "kept_leased": self.kept_leased,
                "referenced": self.referenced, "grace": self.grace,
                "leases": [info.to_json() for info in self.leases],
                "expired_leases": len(self.expired_leases), "blocked": self.blocked,
                "kept_in_packs": self.kept_in_packs, "packs_removed": len(self.drop_packs), "packs_repacked": len(self.repacks),
                "removed": [str(d) for d, _ in self.blobs]}


def _size(store: Store, digest: Digest) -> int:
    try:
        return store.backend.size(layout.blob(digest))
    except (FileNotFoundError, ArtyError):
        return 0


def _tree_blobs(trees: TreeReader, root: Digest, into: set[Digest]) -> None:
    """Add every node and stored file blob under ``root`` to ``into``."""
    for node in trees.node_digests(root):
        into.add(node)
        for obj in trees.node(node).values():
            if obj.get("type") != "dir" and obj.get("digest") and not obj.get("uri"):
                into.add(Digest.parse(obj["digest"]))


def collect(store: Store, grace: float = DEFAULT_GRACE, *, dry_run: bool = False,
            progress: Callable[[int], None] | None = None) -> tuple[GcPlan, int]:
    """Plan and (unless ``dry_run``) apply a gc pass under a gc lease; returns
    ``(plan, blobs removed)``. A dry run writes nothing, not even a lease."""
    if dry_run:
        return plan_gc(store, grace=grace), 0
    store.backend.ensure_writable()
    with Lease.take(store, GC, "art gc") as lease:
        plan = plan_gc(store, grace=grace, lease=lease)
        return plan, apply_gc(store, plan, progress)


def plan_gc(store: Store, now: float | None = None, grace: float = DEFAULT_GRACE, *,
            lease: Lease | None = None) -> GcPlan:
    """What a gc pass at time ``now`` (default: the current time) would remove. Removes nothing.

    ``now`` is for tests: a pass "as of" a later time takes leases live now for expired.

    ``lease`` is the gc lease the caller holds (see :func:`collect`), taken before
    this call: only a plan made under one can be applied, because writers that
    started before it wait for it to end. Without one the plan is a preview.

    Raises when a version's tree cannot be read: with part of the references
    unknown, nothing can safely be called unreferenced.
    """
    if grace < 0:
        raise UsageError(f"invalid grace period {grace}: must be 0 or more seconds")
    now = time.time() if now is None else now
    plan = GcPlan(now=now, grace=grace, lease=lease)
    blobs = list(store.iter_blobs())  # 1. the blobs, listed BEFORE the leases and the versions
    for info in read_leases(store):  # 2. the leases, AFTER the blobs and BEFORE the versions
        if lease is not None and info.id == lease.id:
            continue  # this pass's own
        if not info.live(now):
            plan.expired_leases.append(info)
        elif info.kind == WRITE:
            plan.leases.append(info)
    referenced: set[Digest] = set()  # 3. the versions and the runs
    trees = TreeReader(store)
    for project, name, n in iter_versions(store):
        rec = store.log_read(layout.versions(project, name), n, records.VERSION)  # BadRecord: refuse
        _tree_blobs(trees, Digest.parse(rec["digest"]), referenced)
    referenced |= run_media_digests(store)
    leased, open_since = _leased_blobs(trees, plan.leases)
    plan.cutoff = now - grace
    if open_since is not None:
        if store.is_local:  # new and reused blobs of an open lease have an mtime after it began
            plan.cutoff = min(plan.cutoff, open_since - CLOCK_SKEW)
        else:  # a bucket does not change a reused blob's mtime: any unreferenced blob may be in use
            plan.blocked = "a writer at work does not name its blobs"
    packed = store.packs.packs()  # listed with the blobs, in step 1
    loose = [d for d in blobs if d.hex not in _packed_hexes(packed)] if packed else blobs
    for d in loose:
        if d in referenced:
            plan.referenced += 1
            continue
        if d in leased or plan.blocked:
            plan.kept_leased += 1
            continue
        try:
            mtime = store.backend.mtime(layout.blob(d))
        except FileNotFoundError:
            continue
        if mtime >= plan.cutoff:
            if mtime >= now - grace:
                plan.kept_young += 1
            else:
                plan.kept_leased += 1
            continue
        plan.blobs.append((d, _size(store, d)))
    for name, entries in sorted(packed.items()):
        _plan_pack(store, plan, name, entries, referenced, leased)
    if store.is_local:
        _plan_temp_files(store, plan, plan.cutoff if not plan.leases else
                         min(plan.cutoff, min(i.started for i in plan.leases) - CLOCK_SKEW))
    return plan


def _packed_hexes(packed: dict[str, dict[str, tuple[int, int]]]) -> set[str]:
    return {h for entries in packed.values() for h in entries}


def _plan_pack(store: Store, plan: GcPlan, name: str, entries: dict[str, tuple[int, int]],
               referenced: set[Digest], leased: set[Digest]) -> None:
    """Decide one pack: keep it, drop it (nothing in it referenced) or repack it (what is
    referenced holds less than :data:`REPACK_BELOW` of its bytes). Its unreferenced blobs are
    kept by the rules of loose ones, the pack's mtime standing for theirs (a local writer that
    reuses a packed blob freshens its pack); while any of them must be kept, the pack stays whole."""
    digests = [Digest(store.algorithm, h) for h in entries]
    live = [d for d in digests if d in referenced]
    dead = [d for d in digests if d not in referenced]
    plan.referenced += len(live)
    if not dead:
        return
    try:
        mtime = store.backend.mtime(pack_path(name))
    except FileNotFoundError:
        return
    held = plan.blocked is not None or any(d in leased for d in dead)
    if held or mtime >= plan.cutoff:
        if not held and mtime >= plan.now - plan.grace:
            plan.kept_young += len(dead)
        else:
            plan.kept_leased += len(dead)
        return
    size = sum(n for _, n in entries.values())
    if live and sum(entries[d.hex][1] for d in live) >= REPACK_BELOW * size:
        plan.kept_in_packs += len(dead)  # mostly referenced: kept whole until its share drops
        return
    plan.blobs.extend((d, entries[d.hex][1]) for d in dead)
    plan.packed.update(dead)
    if live:
        plan.repacks.append((name, store.packs.size_of(name), live))
    else:
        plan.drop_packs.append((name, store.packs.size_of(name)))


def _leased_blobs(trees: TreeReader, leases: list[LeaseInfo]) -> tuple[set[Digest], float | None]:
    """The blobs live write leases name, and when the earliest open one began (None: none is open).

    A lease whose tree cannot be read whole yet (its writer is still uploading the nodes)
    counts as open: the part not yet readable may reuse any blob.
    """
    out: set[Digest] = set()
    open_since: float | None = None
    for info in leases:
        is_open = info.open
        out.update(info.blobs)
        for root in info.roots:
            try:
                _tree_blobs(trees, root, out)
            except ArtyError:
                is_open = True
        if is_open:
            open_since = info.started if open_since is None else min(open_since, info.started)
    return out, open_since


def _plan_temp_files(store: Store, plan: GcPlan, cutoff: float) -> None:
    """Temp files under ``objects/`` of a local store last modified before ``cutoff``: left by a
    killed writer (a live writer's temp file is younger than its lease)."""
    root_dir = store.backend.local_path(layout.OBJECTS)
    for here, _dirs, files in os.walk(root_dir):
        for fname in files:
            if fname.startswith(TMP_PREFIX):
                full = os.path.join(here, fname)
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    continue
                if st.st_mtime < cutoff:
                    rel = os.path.relpath(full, store.backend.local_path("")).replace(os.sep, "/")
                    plan.temp_files.append((rel, st.st_size))


def run_media_digests(store: Store) -> set[Digest]:
    """The blobs that the history rows of every run in ``store`` name: every media
    dict's ``digest`` (``{"_type": "image"|"table"|"audio"|..., "digest": ...}``,
    docs/media.md) and the further blobs it lists under ``blobs`` (a table's media
    cells, an image's masks)."""
    out: set[Digest] = set()
    for project in store.list(layout.PROJECTS):
        for run_id in store.list(layout.runs(project)):
            out |= media_digests_of_run(store, project, run_id)
    return out


def media_digests_of_run(store: Store, project: str, run_id: str) -> set[Digest]:
    """The blobs one run's history rows name (its logged images and tables).

    Raises :class:`ArtyError` for a segment that cannot be read: with part of
    the references unknown, no blob can safely be called unreferenced.
    """
    out: set[Digest] = set()
    folder = f"{layout.run(project, run_id)}/history"
    for name in store.list(folder):
        if ".tmp-" in name:
            continue
        try:
            out |= media_digests_of_segment(store.backend.read(f"{folder}/{name}"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            raise ArtyError(f"history segment '{folder}/{name}' is unreadable: {exc}",
                            hint="the blobs it names are unknown; 'art verify' and a copy of the store may help") \
                from None
    return out


def media_digests_of_segment(data: bytes) -> set[Digest]:
    """The blobs one history segment's rows name; ValueError or OSError if it cannot be decoded."""
    out: set[Digest] = set()

    def mark(v: Any) -> None:
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, dict) and isinstance(item.get("_type"), str) and item.get("digest"):
                refs = item.get("blobs")  # a table's media cells, an image's masks
                for d in [item["digest"]] + (refs if isinstance(refs, list) else []):
                    if not isinstance(d, str):
                        continue
                    try:
                        out.add(Digest.parse(d))
                    except ArtyError:
                        pass

    for column in segments.decode(data).get("columns", {}).values():
        if isinstance(column, list):
            for v in column:
                if v is not None and type(v) in (dict, list):
                    mark(v)
    return out


def apply_gc(store: Store, plan: GcPlan, progress: Callable[[int], None] | None = None) -> int:
    """Remove what ``plan`` lists, then the expired leases; returns the number of blobs removed.

    Only a plan made under a gc lease the caller still holds can be applied (see
    :func:`collect`). Before each removal the lease is confirmed: a pass paused for
    longer than its lease (writers stop waiting for it then) stops with
    :class:`ConflictError` instead of removing anything more. On a local store each
    blob is first renamed aside and its mtime checked again: a writer that freshened
    it since the plan (a reuse) either finds it gone and stores it again, or is seen
    and the blob is put back.
    """
    lease = plan.lease
    if lease is None or lease.kind != GC:
        raise UsageError("this gc plan was made without a gc lease, so it cannot be applied",
                         hint="use arty.artifacts.gc.collect(store), or "
                              "plan_gc(store, lease=Lease.take(store, GC, ...))")
    removed = 0
    for d, _size_ in plan.blobs:
        if d in plan.packed:
            continue
        if progress:
            progress(1)
        _confirm(lease)
        if _remove_blob(store, d, plan.cutoff):
            removed += 1
    removed += _apply_packs(store, plan, lease)
    for rel, _ in plan.temp_files:
        _confirm(lease)
        try:
            os.unlink(store.backend.local_path(rel))
        except FileNotFoundError:
            pass
    for info in plan.expired_leases:
        try:
            store.backend.delete(info.path)
        except FileNotFoundError:
            pass
    return removed


def _apply_packs(store: Store, plan: GcPlan, lease: Lease) -> int:
    """Drop and repack the packs ``plan`` names; returns the packed blobs removed.

    A repack writes the kept blobs (read and verified) into a new pack and makes it durable
    with its index before the old pack goes; a pack with a bad blob is left as it is.
    """
    removed = 0
    dead_in = {name: len(store.packs.packs().get(name, {})) for name, _ in plan.drop_packs}
    for name, _size_ in plan.drop_packs:
        _confirm(lease)
        if _remove_pack(store, name, plan.cutoff):
            removed += dead_in[name]
    for name, _size_, live in plan.repacks:
        _confirm(lease)
        got = store.read_blobs(live)
        if any(isinstance(v, ArtyError) for v in got.values()):
            continue  # 'art verify' names the bad blob; nothing of this pack is touched
        before = len(store.packs.packs().get(name, {}))
        store.put_many_bytes(got)  # type: ignore[arg-type]
        store.flush()  # the new pack and its index are durable before the old pack goes
        _confirm(lease)
        if _remove_pack(store, name, plan.cutoff):
            removed += before - len(live)
    return removed


def _remove_pack(store: Store, name: str, cutoff: float) -> bool:
    """Remove pack ``name`` and then its index; on a local store not if a writer freshened it
    since the plan (renamed aside, mtime checked again, put back if it was)."""
    path = pack_path(name)
    if store.is_local:
        if not _unlink_unless_fresh(store.backend.local_path(path), cutoff):
            return False
    else:
        try:
            store.backend.delete(path)
        except FileNotFoundError:
            pass
    try:
        store.backend.delete(index_path(name))
    except FileNotFoundError:
        pass
    store.packs.forget(name)
    return True


def _confirm(lease: Lease) -> None:
    if lease.lapsed():
        raise ConflictError(f"the gc lease in store '{lease.store.url}' expired before the pass ended "
                            "(was the process paused?); stopped before removing anything more",
                            hint="run 'art gc' again")


def _remove_blob(store: Store, d: Digest, cutoff: float) -> bool:
    if not store.is_local:
        store.delete_blob(d)
        return True
    return _unlink_unless_fresh(store.backend.local_path(layout.blob(d)), cutoff)


def _unlink_unless_fresh(path: str, cutoff: float) -> bool:
    """Remove the local file ``path`` unless a writer freshened it (mtime ≥ ``cutoff``) since
    the plan; True if removed. It is renamed aside first and its mtime checked again, so a
    writer freshening it between the two checks gets it put back (same content, same name)."""
    try:
        if os.stat(path).st_mtime >= cutoff:
            return False  # freshened by a writer since the plan
    except FileNotFoundError:
        return False
    aside = os.path.join(os.path.dirname(path), f"{TMP_PREFIX}gc-{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    if os.stat(aside).st_mtime >= cutoff:
        os.replace(aside, path)
        return False
    os.unlink(aside)
    return True
