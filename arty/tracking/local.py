"""A run's local folder, and mirroring it to the store.

Tracking is local-first: every record of a run is first written, complete,
to a local folder with the store's layout (``run.json``, ``events/``,
``history/``, ``system/``, ``console/``, ``files/``, ``inputs/``,
``final.json``), then uploaded with create-if-absent. ``blobs/<algorithm>/<hex>``
holds logged images and tables; they are uploaded as store blobs (before the
history segments that name them, which sort after them). ``.synced`` lists what
reached the store, so an upload interrupted by a dead network or a killed
process resumes where it stopped (``art sync``), with nothing lost or
duplicated. ``.meta.json`` says which store and project the run belongs to.
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

SYNCED = ".synced"
META = ".meta.json"
#: Uploaded first (a reader needs run.json to see the run) and last (final.json closes it).
FIRST, LAST = "run.json", "final.json"


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
        """Records not yet in the store, in upload order (run.json first, final.json last)."""
        todo = [f for f in self.files() if f not in self._synced]
        todo.sort(key=lambda f: (f != FIRST, f == LAST, f))
        return todo

    def fully_synced(self) -> bool:
        """Whether ``final.json`` reached the store, and so every record before it (cheap)."""
        return LAST in self._synced

    def sync(self, store: Store, project: str, run_id: str, journal: bool = True,
             stop: Callable[[], bool] | None = None) -> int:
        """Upload pending records with create-if-absent; returns how many were uploaded.

        Raises :class:`StoreError` when the store fails; what was uploaded before
        stays recorded, so the next call goes on from there. ``stop`` is asked
        before each record: when it says True, the upload ends there (the rest
        stays pending).
        """
        with self._lock:
            base = layout.run(project, run_id)
            done = 0
            for rel in self.pending():  # final.json comes last: a failure before it stops the loop
                if stop is not None and stop():
                    break
                data = self.read(rel)
                if rel.startswith("blobs/"):  # media blobs (images, tables) go to the store's objects
                    _, algorithm, hexpart = rel.split("/")
                    digest = Digest.parse(f"{algorithm}:{hexpart}")
                    if store.freshen_blobs([digest]):  # absent; a present one is marked as just used for gc
                        store.put_bytes(data, digest, check_exists=False)
                    with open(os.path.join(self.root, SYNCED), "a", encoding="utf-8") as f:
                        f.write(rel + "\n")
                    self._synced.add(rel)
                    done += 1
                    continue
                if not store.create_bytes(f"{base}/{rel}", data):
                    raise StoreError(f"run '{project}/{run_id}' conflicts with the store: '{rel}' differs there",
                                     hint="another process wrote a run with this id", url=store.url)
                with open(os.path.join(self.root, SYNCED), "a", encoding="utf-8") as f:
                    f.write(rel + "\n")
                self._synced.add(rel)
                done += 1
                if journal:
                    kind = {FIRST: "run_started", LAST: "run_finished"}.get(rel)
                    if kind is None and rel.split("/")[0] in ("history", "system", "console"):
                        store.journal("segment", project=project, run=run_id, stream=rel.split("/")[0],
                                      seq=rel.split("/")[-1].split(".")[0])
                    elif kind is None:
                        kind = "run_updated"
                    if kind:
                        store.journal(kind, project=project, run=run_id, path=rel)
            return done


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
