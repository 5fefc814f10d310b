"""A run's local folder, and mirroring it to the store.

Tracking is local-first: every record of a run is first written, complete,
to a local folder with the store's layout (``run.json``, ``events/``,
``history/``, ``system/``, ``console/``, ``files/``, ``inputs/``,
``final.json``), then uploaded with create-if-absent. ``blobs/<algorithm>/<hex>``
holds logged images and tables; they are uploaded as store blobs, under a write
lease, before the history segments that name them (see :meth:`RunFolder.sync`).
``.synced`` lists what reached the store, so an upload interrupted by a dead
network or a killed process resumes where it stopped (``art sync``), with
nothing lost or duplicated. ``.meta.json`` says which store and project the run
belongs to.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from typing import Any, Callable

from arty.errors import StoreError
from arty.hashing import Digest
from arty.store import Store, layout, text
from arty.store.leases import WRITE, Lease

SYNCED = ".synced"
META = ".meta.json"
#: Uploaded first (a reader needs run.json to see the run) and last (final.json closes it; a
#: resumed finished run is closed again by ``finishes/<n>``, see :func:`layout.run_record_order`).
FIRST, LAST = layout.RUN_FIRST, layout.RUN_FINAL


def local_runs_root(store: Store) -> str:
    """Where the local folders of this store's runs live (beside a local store, else the user cache)."""
    return os.path.join(store.cache_dir(), "runs")


class RunFolder:
    """The local folder of one run. Writes are atomic (temp file, then rename)."""

    def __init__(self, root: str, create: bool = True) -> None:
        self.root = root
        self._lock = threading.Lock()
        if create:
            os.makedirs(root, exist_ok=True)
        self._synced = self._read_synced()

    def path(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def write(self, rel: str, data: bytes) -> None:
        full = self.path(rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        tmp = f"{full}.tmp-{uuid.uuid4().hex}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, full)

    def write_json(self, rel: str, obj: dict[str, Any]) -> None:
        """Write a record; text that is not valid Unicode is stored as U+FFFD, with a warning naming it."""
        self.write(rel, text.dumps(obj, f"run record '{rel}'", allow_nan=True))

    def read(self, rel: str) -> bytes:
        with open(self.path(rel), "rb") as f:
            return f.read()

    def exists(self, rel: str) -> bool:
        return os.path.exists(self.path(rel))

    def files(self) -> list[str]:
        """Every record in the folder, relative, ``/``-separated (bookkeeping and temps excluded)."""
        out = []
        for here, dirs, names in os.walk(self.root):
            for n in names:
                if n in (SYNCED, META) or ".tmp-" in n:
                    continue
                out.append(os.path.relpath(os.path.join(here, n), self.root).replace(os.sep, "/"))
        return sorted(out)

    def meta(self) -> dict[str, Any]:
        try:
            return json.loads(self.read(META))
        except (FileNotFoundError, ValueError):
            return {}

    def set_meta(self, **fields: Any) -> None:
        meta = self.meta()
        meta.update(fields)
        self.write_json(META, meta)

    # -- mirroring -----------------------------------------------------------

    def _read_synced(self) -> set[str]:
        try:
            with open(os.path.join(self.root, SYNCED), encoding="utf-8") as f:
                return {line.strip() for line in f if line.strip()}
        except FileNotFoundError:
            return set()

    def pending(self) -> list[str]:
        """Records not yet in the store, in upload order (run.json first, the finishing record last)."""
        todo = [f for f in self.files() if f not in self._synced]
        todo.sort(key=layout.run_record_order)
        return todo

    def closing_record(self) -> str:
        """The record that finishes this folder's latest session: ``final.json``, or for a
        finished run resumed here, ``finishes/<n>`` of its latest ``resumes/<n>``."""
        try:
            seqs = [layout.parse_seq(n) for n in os.listdir(self.path(layout.RUN_RESUMES))]
        except FileNotFoundError:
            return LAST
        seqs = [n for n in seqs if n is not None]
        return f"{layout.RUN_FINISHES}/{layout.seq_name(max(seqs))}" if seqs else LAST

    def fully_synced(self) -> bool:
        """Whether the closing record reached the store, and so every record before it (cheap)."""
        return self.closing_record() in self._synced

    def sync(self, store: Store, project: str, run_id: str, journal: bool = True,
             stop: Callable[[], bool] | None = None) -> int:
        """Upload pending records with create-if-absent; returns how many were uploaded.

        Media blobs go first, under a write lease that names them and every blob the
        pending history segments name, each checked (stored again if a concurrent
        ``art gc`` removed it) before the segments that name them are uploaded.
        Raises :class:`StoreError` when the store fails; what was uploaded before
        stays recorded, so the next call goes on from there. ``stop`` is asked
        before each record: when it says True, the upload ends there (the rest
        stays pending).
        """
        with self._lock:
            base = layout.run(project, run_id)
            pending = self.pending()
            lease = self._upload_media(store, project, run_id, pending)
            done = 0
            try:
                for rel in pending:  # final.json comes last: a failure before it stops the loop
                    if stop is not None and stop():
                        break
                    if rel.startswith("blobs/"):
                        done += 1  # uploaded by _upload_media
                        continue
                    data = self.read(rel)
                    if not store.create_bytes(f"{base}/{rel}", data):
                        raise StoreError(f"run '{project}/{run_id}' conflicts with the store: '{rel}' differs there",
                                         hint="another process wrote a run with this id", url=store.url)
                    self._mark_synced([rel])
                    done += 1
                    if journal:
                        kind = "run_finished" if layout.closes_run(rel) else {FIRST: "run_started"}.get(rel)
                        if kind is None and rel.split("/")[0] in ("history", "system", "console"):
                            store.journal("segment", project=project, run=run_id, stream=rel.split("/")[0],
                                          seq=rel.split("/")[-1].split(".")[0])
                        elif kind is None:
                            kind = "run_updated"
                        if kind:
                            store.journal(kind, project=project, run=run_id, path=rel)
            finally:
                if lease is not None:
                    lease.release()
            return done

    def _media_needed(self, pending: list[str]) -> dict[Digest, str]:
        """Media blobs this upload must make sure of (digest -> path in the folder): the pending
        ones, and every one a pending history segment names (a blob uploaded by an earlier call
        may have been removed by gc before the segment naming it was written). A segment that
        cannot be decoded is taken to name every blob in the folder."""
        needed: dict[Digest, str] = {}
        if not os.path.isdir(self.path("blobs")):
            return needed  # no media in this run: nothing to decode
        for rel in pending:
            if rel.startswith("blobs/"):
                _, algorithm, hexpart = rel.split("/")
                needed[Digest.parse(f"{algorithm}:{hexpart}")] = rel
        from arty.artifacts.gc import media_digests_of_segment

        for rel in pending:
            if not rel.startswith("history/"):
                continue
            try:
                named = media_digests_of_segment(self.read(rel))
            except (OSError, ValueError):
                named = {Digest.parse(f"{f.split('/')[1]}:{f.split('/')[2]}") for f in self.files()
                         if f.startswith("blobs/")}
            for d in named:
                rel_blob = f"blobs/{d.algorithm}/{d.hex}"
                if self.exists(rel_blob):
                    needed.setdefault(d, rel_blob)
        return needed

    def _upload_media(self, store: Store, project: str, run_id: str, pending: list[str]) -> Lease | None:
        """Take a write lease naming the media blobs this upload needs and make sure each is in
        the store (stored if absent; a present one reused, and on a local store freshened).
        Returns the lease, which the caller releases once the segments are uploaded; None
        when there are no media blobs to care for."""
        needed = self._media_needed(pending)
        if not needed:
            return None
        what, names = f"run {project}/{run_id}", sorted(needed, key=str)
        lease = Lease.take(store, WRITE, what, blobs=names)
        try:
            check = True
            while check:
                for d in store.freshen_blobs(needed):  # absent: store it (again)
                    store.put_bytes(self.read(needed[d]), d, check_exists=False)
                check = lease.settle()  # gc passes that began before the lease: check again after them
                if lease.lapsed():  # paused past its expiry: start over with a new lease
                    lease.release()
                    lease = Lease.take(store, WRITE, what, blobs=names)
                    check = True
            self._mark_synced([rel for rel in needed.values() if rel not in self._synced])
        except BaseException:
            lease.release()
            raise
        return lease

    def _mark_synced(self, rels: list[str]) -> None:
        if not rels:
            return
        with open(os.path.join(self.root, SYNCED), "a", encoding="utf-8") as f:
            f.write("".join(rel + "\n" for rel in rels))
        self._synced.update(rels)


def find_local_runs(store: Store) -> list[RunFolder]:
    """Local folders of this store's runs that still have records to upload."""
    root = local_runs_root(store)
    out = []
    if not os.path.isdir(root):
        return out
    for project in sorted(os.listdir(root)):
        pdir = os.path.join(root, project)
        if not os.path.isdir(pdir):
            continue
        for run_id in sorted(os.listdir(pdir)):
            folder = RunFolder(os.path.join(pdir, run_id), create=False)
            if not folder.fully_synced() and folder.pending():
                out.append(folder)
    return out


def unsynced_records(store: Store, project: str, run_id: str) -> int:
    """How many records of this machine's run ``project/run_id`` are not in ``store`` yet."""
    folder = RunFolder(os.path.join(local_runs_root(store), project, run_id), create=False)
    if not os.path.isdir(folder.root) or folder.fully_synced():
        return 0
    return len(folder.pending())


def unsynced_runs(store: Store, project: str | None = None) -> dict[tuple[str, str], int]:
    """``{(project, run id): records not yet in the store}`` for this machine's runs of ``store``.

    A run killed before its last upload, or tracked while the store was down or
    offline, has such records until ``art sync`` uploads them.
    """
    out = {}
    for folder in find_local_runs(store):
        meta = folder.meta()
        proj, run_id = meta.get("project"), meta.get("run")
        if proj and run_id and (project is None or proj == project):
            out[(proj, run_id)] = len(folder.pending())
    return out


def sync_all(store: Store, project: str | None = None) -> list[tuple[str, str, int, str | None]]:
    """Upload every local run of ``store`` with pending records (``art sync``).

    Returns ``(project, run id, records uploaded, error or None)`` per run; one
    run failing does not stop the others.
    """
    out = []
    for folder in find_local_runs(store):
        meta = folder.meta()
        proj, run_id = meta.get("project"), meta.get("run")
        if not proj or not run_id or (project and proj != project):
            continue
        try:
            n = folder.sync(store, proj, run_id)
            out.append((proj, run_id, n, None))
        except StoreError as exc:
            out.append((proj, run_id, 0, exc.message))
    return out
