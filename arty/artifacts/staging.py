"""Turning a draft's sources into manifest entries, and their bytes into blobs.

Two steps, so that unchanged data costs no upload at all:

1. :func:`scan` walks the sources, takes digests from the stat cache where a
   file's stat is unchanged, and hashes the rest. Into a local store, hashing
   and copying are one read (``Store.ingest_local_file``); for a remote store
   the uploads wait in ``Staged.pending``.
2. :func:`upload` sends pending files and missing tree nodes, then makes them
   durable with one flush, before any version record may point at them.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from arty.artifacts.draft import Artifact
from arty.artifacts.manifest import Entry, Tree, ref_identity, run_nested
from arty.artifacts.names import check_part
from arty.errors import IntegrityError, InvalidPath, NotFound, UsageError
from arty.hashing import Digest, FileStat, StatCache, hash_file
from arty.store import Store, UriReader

Progress = Callable[[int, int], None]  # (files done, bytes done) increments
_BATCH = 256
#: Arty's own folder (a local store or a pointer to one) is never part of an
#: artifact, like git never tracks ``.git``: ``art add .`` would add the store to itself.
SKIP_DIR = ".arty"


@dataclass
class LocalFile:
    path: str  # inside the artifact
    local: str  # absolute path on disk
    stat: FileStat


@dataclass
class Staged:
    """A scanned draft: its entries, plus local files still to upload."""

    entries: list[Entry]
    pending: list[LocalFile] = field(default_factory=list)
    pending_digests: dict[str, Digest] = field(default_factory=dict)
    hashed: int = 0  # files actually read (not from the stat cache)


def walk_folder(root: str) -> list[LocalFile]:
    """Every file under the folder ``root`` as :class:`LocalFile` (paths '/'-separated, relative to
    it), as ``add_dir`` sees them: ``.arty`` folders and links to folders skipped."""
    out: list[LocalFile] = []
    _walk(os.path.abspath(root), "", out)
    return out


def _walk(root: str, prefix: str, out: list[LocalFile]) -> None:
    """Append every file under ``root`` to ``out`` (any depth: no recursion)."""
    for _ in run_nested(_walk_folder(root, prefix, out)):
        pass


def _walk_folder(root: str, prefix: str, out: list[LocalFile]) -> Iterator[Any]:
    with os.scandir(root) as it:
        found = list(it)  # closed before descending: one open folder at a time, whatever the depth
    for de in found:
        name = de.name
        if de.is_dir(follow_symlinks=False):
            if name == SKIP_DIR:
                continue
            yield _walk_folder(de.path, f"{prefix}{name}/", out)
        elif de.is_file():
            try:
                check_part(name)
            except InvalidPath as exc:
                raise InvalidPath(f"cannot add '{de.path}': {exc.message}", hint=exc.hint) from None
            out.append(LocalFile(prefix + name, de.path, FileStat.of(de.stat())))


def list_local(draft: Artifact) -> list[LocalFile]:
    """Every local file the draft names, with its stat."""
    files: list[LocalFile] = []
    for src in draft.sources:
        if src.kind == "file":
            try:
                st = os.stat(src.location)
            except FileNotFoundError:
                raise NotFound(f"file '{src.location}' not found", hint="it was removed after it was added") from None
            files.append(LocalFile(src.name, src.location, FileStat.of(st)))
        elif src.kind == "dir":
            _walk(src.location, f"{src.name}/" if src.name else "", files)
    return files


def scan(draft: Artifact, store: Store, cache: StatCache | None, progress: Progress | None = None,
         *, hash_only: bool = False) -> Staged:
    """Digest every source of ``draft`` (see module docstring). With ``hash_only`` nothing is
    written to the store, even a local one (files are only read and hashed)."""
    files = list_local(draft)
    cached: dict[str, tuple[FileStat, Digest]] = {}
    if cache is not None:
        for src in draft.sources:
            if src.kind == "dir":
                cached.update(cache.load(src.location.rstrip(os.sep) + os.sep, store.algorithm))
            elif src.kind == "file":
                cached.update(cache.load(src.location, store.algorithm))
    digests: dict[str, Digest] = {}
    todo: list[LocalFile] = []
    for f in files:
        hit = cached.get(f.local)
        if hit is not None and hit[0] == f.stat:
            digests[f.local] = hit[1]
        else:
            todo.append(f)
    if progress and len(digests):
        progress(len(digests), sum(f.stat.size for f in files if f.local in digests))
    # A cached digest tells what a file holds, not that its blob is still in the
    # store (a killed add whose unreferenced blobs were collected since): upload()
    # checks these too and copies the missing ones in again.
    from_cache = [f for f in files if f.local in digests]
    staged = Staged([], pending=from_cache)
    started = time.time_ns()
    if todo:
        ingest = store.is_local and not hash_only

        def work(batch: list[LocalFile]) -> list[Digest]:
            out = []
            for f in batch:
                try:
                    if ingest:
                        d = store.ingest_local_file(f.local, f.stat.size)
                    else:
                        d = hash_file(f.local, store.algorithm)
                except FileNotFoundError:
                    raise NotFound(f"file '{f.local}' vanished while it was being added",
                                   hint="add it again once it stops changing") from None
                out.append(d)
            if progress:
                progress(len(batch), sum(f.stat.size for f in batch))
            return out

        # Large files one per task; small ones in batches.
        batches: list[list[LocalFile]] = []
        small: list[LocalFile] = []
        for f in todo:
            if f.stat.size >= 16 * 1024 * 1024:
                batches.append([f])
            else:
                small.append(f)
                if len(small) == _BATCH:
                    batches.append(small)
                    small = []
        if small:
            batches.append(small)
        workers = min(len(batches), max(2, (os.cpu_count() or 2) * 2))
        if workers <= 1:
            results = [work(b) for b in batches]
        else:
            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(work, batches))
        fresh = []
        for batch, ds in zip(batches, results):
            for f, d in zip(batch, ds):
                digests[f.local] = d
                fresh.append((f.local, f.stat, d))
        if cache is not None:
            cache.store(fresh, started)
        staged.hashed = len(todo)
        if not ingest:
            staged.pending = from_cache + todo
    staged.entries = [src.entry for src in draft.sources if src.kind == "entry" and src.entry is not None]
    for src in draft.sources:
        if src.kind == "entry" and src.location != store.url:
            raise UsageError(f"draft '{draft.name}' holds files of a version in store '{src.location}', "
                             f"not '{store.url}'", hint="log it to the store it came from, "
                                                        "or download the files and add them with add_dir")
    staged.entries += [Entry(f.path, f.stat.size, digests[f.local]) for f in files]
    staged.pending_digests = {f.local: digests[f.local] for f in staged.pending}
    for src in draft.sources:
        if src.kind == "ref":
            staged.entries.extend(scan_reference(src.location, src.name, src.checksum, store))
    return staged


def scan_reference(uri: str, name: str, checksum: bool, store: Store) -> list[Entry]:
    """Entries for an object, or every object under a prefix, added by reference."""
    reader = UriReader(uri)
    out = []
    try:
        is_prefix, found = reader.list()
    except FileNotFoundError:
        raise NotFound(f"reference '{uri}' not found", hint="check the URI and the credentials for it") from None
    if not found:
        raise NotFound(f"reference '{uri}' has no objects", hint="check the URI")
    for rel, full, info in found:
        if not is_prefix:
            path = name or rel
        else:
            path = f"{name}/{rel}" if name else rel
        digest = None
        if checksum and reader.protocol == "file":
            digest = hash_file(full[len("file://"):], store.algorithm)
        out.append(Entry(path, int(info.get("size") or 0), digest, full, ref_identity(info)))
    return out


def upload(store: Store, staged: Staged, tree: Tree) -> set[Digest]:
    """Put pending files and missing tree nodes in the store, then flush; return the
    pending and node digests that were already there (reused, not written now).

    A file whose stat changed since it was hashed is refused: its blob would not
    match the digest in the manifest.
    """
    wanted = {d for d in staged.pending_digests.values()} | set(tree.nodes)
    missing = store.missing_blobs(wanted)
    files = []
    seen: set[Digest] = set()
    for f in staged.pending:
        d = staged.pending_digests[f.local]
        if d in missing and d not in seen:
            files.append((f.local, d))
            seen.add(d)
    for start in range(0, len(files), 1000):
        store.put_files(files[start:start + 1000])
    for f in staged.pending:
        if staged.pending_digests[f.local] in seen:
            try:
                now = FileStat.of(os.stat(f.local))
            except FileNotFoundError:
                now = None
            if now != f.stat:
                # The uploaded bytes may not match the digest that names them: drop that blob.
                store.delete_blob(staged.pending_digests[f.local])
                raise IntegrityError(f"file '{f.local}' changed while it was being added",
                                     hint="add it again once it stops changing")
    nodes = {d: b for d, b in tree.nodes.items() if d in missing}
    items = list(nodes.items())
    for start in range(0, len(items), 1000):
        store.put_many_bytes(dict(items[start:start + 1000]))
    store.flush()
    return wanted - missing
