"""Garbage collection: remove blobs that no version references.

Two steps: :func:`plan_gc` lists what would go (pure: it removes nothing) and
:func:`apply_gc` removes it. The rule (docs/store-format.md, "Garbage
collection"): a blob goes only if no version that is not deleted references it
AND it was last written longer ago than the grace period. Blobs are listed
before versions are read, so a version created while gc marks is seen.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from arty.artifacts.manifest import TreeReader
from arty.artifacts.verify import iter_versions
from arty.errors import ArtyError, UsageError
from arty.hashing import Digest
from arty.store import Store, layout, records, segments
from arty.store.backends import TMP_PREFIX

#: Default grace period in seconds (``art gc --grace``).
DEFAULT_GRACE = 3600


@dataclass
class GcPlan:
    """What gc would remove: unreferenced old blobs and (local stores) stale temp files."""

    blobs: list[tuple[Digest, int]] = field(default_factory=list)  # (digest, size)
    temp_files: list[tuple[str, int]] = field(default_factory=list)  # (path under the store, size)
    kept_young: int = 0  # unreferenced blobs kept because they are younger than the grace period
    referenced: int = 0  # blobs referenced by a version
    now: float = 0.0
    grace: float = DEFAULT_GRACE

    @property
    def bytes(self) -> int:
        return sum(s for _, s in self.blobs) + sum(s for _, s in self.temp_files)

    def to_json(self) -> dict[str, Any]:
        return {"blobs": len(self.blobs), "temp_files": len(self.temp_files), "bytes": self.bytes,
                "kept_young": self.kept_young, "referenced": self.referenced, "grace": self.grace,
                "removed": [str(d) for d, _ in self.blobs]}


def _size(store: Store, digest: Digest) -> int:
    try:
        return store.backend.size(layout.blob(digest))
    except (FileNotFoundError, ArtyError):
        return 0


def plan_gc(store: Store, now: float | None = None, grace: float = DEFAULT_GRACE) -> GcPlan:
    """The blobs gc would remove at time ``now`` (default: the current time). Removes nothing.

    Raises when a version's tree cannot be read: with part of the references
    unknown, nothing can safely be called unreferenced.
    """
    if grace < 0:
        raise UsageError(f"invalid grace period {grace}: must be 0 or more seconds")
    now = time.time() if now is None else now
    plan = GcPlan(now=now, grace=grace)
    blobs = list(store.iter_blobs())  # listed BEFORE the versions are read
    referenced: set[Digest] = set()
    trees = TreeReader(store)
    for project, name, n in iter_versions(store):
        rec = store.log_read(layout.versions(project, name), n, records.VERSION)  # BadRecord: refuse
        root = Digest.parse(rec["digest"])
        for node in trees.node_digests(root):
            referenced.add(node)
            for obj in trees.node(node).values():
                if obj.get("type") != "dir" and obj.get("digest") and not obj.get("uri"):
                    referenced.add(Digest.parse(obj["digest"]))
    referenced |= run_media_digests(store)
    for d in blobs:
        if d in referenced:
            plan.referenced += 1
            continue
        try:
            age = now - store.blob_mtime(d)
        except FileNotFoundError:
            continue
        if age < grace:
            plan.kept_young += 1
            continue
        plan.blobs.append((d, _size(store, d)))
    if store.is_local:
        root_dir = store.backend.local_path(layout.OBJECTS)
        for here, _dirs, files in os.walk(root_dir):
            for fname in files:
                if fname.startswith(TMP_PREFIX):
                    full = os.path.join(here, fname)
                    try:
                        st = os.stat(full)
                    except FileNotFoundError:
                        continue
                    if now - st.st_mtime >= grace:
                        rel = os.path.relpath(full, store.backend.local_path("")).replace(os.sep, "/")
                        plan.temp_files.append((rel, st.st_size))
    return plan


def run_media_digests(store: Store) -> set[Digest]:
    """The blobs that the history rows of every run in ``store`` name: logged
    images and tables (``{"_type": "image"|"table", "digest": ...}``, docs/media.md),
    and the images in those tables (the table dict's ``blobs``)."""
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

    def mark(v: Any) -> None:
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, dict) and item.get("_type") in ("image", "table") and item.get("digest"):
                refs = item.get("blobs") if item["_type"] == "table" else None  # a table's image cells
                for d in [item["digest"]] + (refs if isinstance(refs, list) else []):
                    try:
                        out.add(Digest.parse(d))
                    except ArtyError:
                        pass

    folder = f"{layout.run(project, run_id)}/history"
    for name in store.list(folder):
        if ".tmp-" in name:
            continue
        try:
            columns = segments.decode(store.backend.read(f"{folder}/{name}")).get("columns", {})
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            raise ArtyError(f"history segment '{folder}/{name}' is unreadable: {exc}",
                            hint="the blobs it names are unknown; 'art verify' and a copy of the store may help") \
                from None
        for column in columns.values():
            if isinstance(column, list):
                for v in column:
                    if v is not None and type(v) in (dict, list):
                        mark(v)
    return out


def apply_gc(store: Store, plan: GcPlan, progress: Callable[[int], None] | None = None) -> int:
    """Remove what ``plan`` lists; returns the number of blobs removed.

    Each blob's age is checked again just before it goes: a writer that reused
    it since the plan was made has freshened it, and it stays. On a local store
    the blob is first renamed aside, so a writer freshening it at that moment
    either fails (and stores it again) or is seen and the blob is put back.
    """
    removed = 0
    for d, _size_ in plan.blobs:
        if progress:
            progress(1)
        if _remove_blob(store, d, plan.now, plan.grace):
            removed += 1
    for rel, _ in plan.temp_files:
        try:
            os.unlink(store.backend.local_path(rel))
        except FileNotFoundError:
            pass
    return removed


def _remove_blob(store: Store, d: Digest, now: float, grace: float) -> bool:
    cutoff = max(now, time.time()) - grace if grace > 0 else float("inf")
    if not store.is_local:
        try:
            if grace > 0 and store.blob_mtime(d) > cutoff:
                return False
        except FileNotFoundError:
            return False
        store.delete_blob(d)
        return True
    path = store.backend.local_path(layout.blob(d))
    aside = os.path.join(os.path.dirname(path), f"{TMP_PREFIX}gc-{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    if grace > 0 and os.stat(aside).st_mtime > cutoff:
        os.replace(aside, path)  # freshened by a writer: put it back (same content, same name)
        return False
    os.unlink(aside)
    return True
