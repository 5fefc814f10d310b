"""Materialising a version's files in a local folder: plan, then apply.

:func:`plan` decides per file whether to fetch it or keep what is there (same
size and digest); :func:`download` fetches into a staging folder inside the
target, verifying every digest, and only when every file is good renames them
into place. A corrupt blob or a changed reference therefore leaves the target
as it was.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from arty.artifacts.manifest import Entry, ref_identity
from arty.artifacts.names import check_path
from arty.errors import ArtyError, IntegrityError, InvalidPath, ReferenceChanged, UsageError
from arty.hashing import CHUNK, Digest, FileStat, StatCache, hash_file, new_hasher
from arty.store import Store, UriReader, is_local_uri
from arty.store.backends import create_file
from arty.store.store import SMALL_FILE

STAGING_PREFIX = ".arty-download-"
#: Small files fetched per task, in pack order (packed neighbours: one ranged read): at least
#: this many, more when there are many (:func:`direct_groups`), and at most
#: :data:`DIRECT_GROUP_BYTES` of them held in memory at once per task.
DIRECT_GROUP = 256
DIRECT_GROUP_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Action:
    """One step of a download: ``fetch`` the entry to ``target``, or ``keep`` it."""

    op: str
    entry: Entry
    target: str


def safe_target(root: str, path: str) -> str:
    """``root/path``, refusing any path that would land outside ``root``: :func:`check_path`
    refuses absolute paths and ``.``, ``..`` and empty parts, so the join stays under ``root``."""
    check_path(path)
    return os.path.join(os.path.normpath(root), *path.split("/"))


def is_empty_folder(root: str) -> bool:
    """Whether ``root`` is missing or an empty folder (a download there fetches everything
    and meets no existing file)."""
    try:
        with os.scandir(root) as it:
            return next(it, None) is None
    except FileNotFoundError:
        return True
    except NotADirectoryError:
        return False


def plan(entries: list[Entry], root: str, stat_cache: StatCache | None = None,
         algorithm: str | None = None) -> list[Action]:
    """Decide what to fetch. Pure apart from reading the target folder."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise InvalidPath(f"cannot download into '{root}': it is a file", hint="choose a folder with -o DIR")
    base = os.path.normpath(root)
    if is_empty_folder(root):  # nothing there to keep or to stand in the way: no stat per file
        return [Action("fetch", e, os.path.join(base, *check_path(e.path).split("/"))) for e in entries]
    actions = []
    good_parents: set[str] = set()
    for e in entries:
        target = safe_target(root, e.path)
        _check_parents(root, os.path.dirname(target), e.path, good_parents)
        op = "fetch"
        try:
            st = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        if st is not None and os.path.isdir(target):
            raise InvalidPath(f"cannot download '{e.path}': '{target}' is a folder",
                              hint="remove it or download into another folder")
        if st is not None and st.st_size == e.size and e.digest is not None:
            cached = stat_cache.lookup(os.path.abspath(target), FileStat.of(st), e.digest.algorithm) \
                if stat_cache is not None else None
            if cached == e.digest or (cached is None and hash_file(target, e.digest.algorithm) == e.digest):
                op = "keep"
        actions.append(Action(op, e, target))
    return actions


def _make_dirs(path: str, made: list[str]) -> None:
    """``os.makedirs`` that appends each folder it creates to ``made`` (parents first)."""
    if os.path.isdir(path):
        return
    missing = []
    probe = path
    while not os.path.isdir(probe):
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise
            continue
        made.append(folder)


def _check_parents(root: str, parent: str, path: str, good: set[str]) -> None:
    """Refuse a download where an existing file stands in place of a needed folder."""
    root = os.path.normpath(root)
    while parent not in good and len(parent) > len(root):
        if os.path.exists(parent) and not os.path.isdir(parent):
            raise InvalidPath(f"cannot download '{path}': '{parent}' is a file where a folder must be",
                              hint="remove it or download into another folder")
        good.add(parent)
        parent = os.path.dirname(parent)


def _fetch_ref(entry: Entry, dest: str) -> None:
    reader = UriReader(entry.uri or "")
    try:
        info = reader.info(entry.uri or "")
    except FileNotFoundError:
        raise ReferenceChanged(f"referenced object '{entry.uri}' ('{entry.path}') no longer exists",
                               hint="log a new version of the artifact") from None
    now = ref_identity(info)
    recorded = {k: v for k, v in entry.ref.items() if k != "mtime"}
    changed = int(info.get("size") or 0) != entry.size or any(
        k in now and str(now[k]) != str(v) for k, v in recorded.items())
    if changed:
        raise ReferenceChanged(f"referenced object '{entry.uri}' ('{entry.path}') changed since it was recorded",
                               hint="log a new version of the artifact to record its new content")
    h = new_hasher(entry.digest.algorithm) if entry.digest else None
    size = 0
    with reader.open(entry.uri or "") as src, open(dest, "wb") as out:
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if h is not None:
                h.update(chunk)
            out.write(chunk)
    if size != entry.size or (h is not None and entry.digest != Digest(entry.digest.algorithm, h.hexdigest())):
        raise ReferenceChanged(f"referenced object '{entry.uri}' ('{entry.path}') changed since it was recorded",
                               hint="log a new version of the artifact to record its new content")


def check_local_refs(entries: list[Entry], allow_local_refs: bool) -> None:
    """Refuse references to this machine's files unless the user allowed them.

    A manifest is written by whoever could write to the store: a reference to
    ``file:///home/you/.ssh/id_rsa`` would copy that file into the download
    folder. References to local files are fetched only with explicit consent.
    """
    if allow_local_refs:
        return
    local = [e for e in entries if e.is_ref and is_local_uri(e.uri or "")]
    if local:
        first = local[0]
        more = f" (and {len(local) - 1} more)" if len(local) > 1 else ""
        raise UsageError(f"'{first.path}' is a reference to local file '{first.uri}'{more}; references to this "
                         "machine's files are downloaded only when allowed",
                         hint="if you trust the artifact and its store, pass --allow-local-refs "
                              "(art get) or allow_local_refs=True (download())")


def direct_groups(items: list[tuple[int, Action]], workers: int) -> list[list[tuple[int, Action]]]:
    """Split small files (in pack order) into tasks: about two per worker, each of at least
    :data:`DIRECT_GROUP` files unless fewer are left, and of at most
    :data:`DIRECT_GROUP_BYTES` (a file over it is a task of its own). Fewer, larger tasks mean
    fewer requests to a bucket (a task's packed neighbours come in one ranged read)."""
    per = max(DIRECT_GROUP, -(-len(items) // max(1, 2 * workers)))
    groups: list[list[tuple[int, Action]]] = []
    group: list[tuple[int, Action]] = []
    size = 0
    for item in items:
        n = item[1].entry.size
        if group and (len(group) >= per or size + n > DIRECT_GROUP_BYTES):
            groups.append(group)
            group, size = [], 0
        group.append(item)
        size += n
    if group:
        groups.append(group)
    return groups


def download(store: Store, entries: list[Entry], root: str, progress: Callable[[int, int], None] | None = None,
             stat_cache: StatCache | None = None, workers: int = 8, allow_local_refs: bool = False,
             planned: list[Action] | None = None) -> list[Action]:
    """Fetch ``entries`` into ``root``, verified; returns the actions taken.

    ``planned`` is the caller's own :func:`plan` for ``entries`` (a checkout that has already
    compared the folder with the version), applied as it is.

    References to local files (``file://``, plain paths) are refused unless
    ``allow_local_refs`` (:func:`check_local_refs`). Each stored file must
    also have the size its entry records.
    """
    check_local_refs(entries, allow_local_refs)
    fresh = is_empty_folder(root)  # nothing in the way of any file: no lexists per file below
    actions = plan(entries, root, stat_cache) if planned is None else planned
    fetches = [a for a in actions if a.op == "fetch"]
    if progress:
        kept = [a for a in actions if a.op == "keep"]
        if kept:
            progress(len(kept), sum(a.entry.size for a in kept))
    if not fetches:
        return actions
    # Every folder this call creates (root, its missing ancestors, subfolders): removed again on failure.
    made_dirs: list[str] = []
    _make_dirs(os.path.abspath(root), made_dirs)
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root)
    written: list[str] = []  # new files written in place, removed again on failure
    try:
        # Small stored files whose target does not exist yet are verified in memory and then
        # written in place (one file creation, like cp); the rest go through the staging folder
        # and are renamed into place only once everything is good.
        direct = {id(a) for a in fetches if not a.entry.is_ref and a.entry.size <= SMALL_FILE
                  and (fresh or not os.path.lexists(a.target))}
        for folder in dict.fromkeys(os.path.dirname(a.target) for a in fetches if id(a) in direct):
            _make_dirs(folder, made_dirs)
        corrupt: list[IntegrityError] = []

        def fetch(item: tuple[int, Action]) -> None:
            i, a = item
            try:
                if id(a) in direct:
                    data = store.read_blob(a.entry.digest)  # type: ignore[arg-type]
                    a.entry.check_size(len(data))
                    create_file(a.target, data, written)
                elif a.entry.is_ref:
                    _fetch_ref(a.entry, os.path.join(staging, str(i)))
                else:
                    staged = os.path.join(staging, str(i))
                    store.blob_to_file(a.entry.digest, staged, size=a.entry.size)  # type: ignore[arg-type]
                    a.entry.check_size(os.path.getsize(staged))
            except IntegrityError as exc:
                corrupt.append(exc)  # go on: name every bad object, not only the first
                return
            if progress:
                progress(1, a.entry.size)

        def fetch_direct(group: list[tuple[int, Action]]) -> None:
            """Small files in pack order: packed neighbours come in one ranged read each."""
            got = store.read_blobs([a.entry.digest for _, a in group])  # type: ignore[misc]
            for _, a in group:
                data = got[a.entry.digest]  # type: ignore[index]
                if isinstance(data, IntegrityError):
                    corrupt.append(data)
                    continue
                if isinstance(data, Exception):
                    raise data
                a.entry.check_size(len(data))
                create_file(a.target, data, written)
                if progress:
                    progress(1, a.entry.size)

        items = list(enumerate(fetches))
        small = sorted((it for it in items if id(it[1]) in direct),
                       key=lambda it: store.pack_order(it[1].entry.digest))  # type: ignore[arg-type]
        groups = direct_groups(small, workers)
        others = [it for it in items if id(it[1]) not in direct]
        if len(items) == 1 or workers <= 1:
            for group in groups:
                fetch_direct(group)
            for item in others:
                fetch(item)
        else:
            with ThreadPoolExecutor(min(workers, len(items))) as pool:
                for _ in pool.map(fetch_direct, groups):
                    pass
                for _ in pool.map(fetch, others):
                    pass
        if corrupt:
            if len(corrupt) == 1:
                raise corrupt[0]
            raise IntegrityError("; ".join(sorted(e.message for e in corrupt)), hint=corrupt[0].hint)
        for i, a in items:
            if id(a) in direct:
                continue
            try:
                _make_dirs(os.path.dirname(a.target), made_dirs)
            except (FileExistsError, NotADirectoryError):
                raise InvalidPath(f"cannot download '{a.entry.path}': a file stands where a folder must be "
                                  f"under '{root}'", hint="download into an empty folder") from None
            os.replace(os.path.join(staging, str(i)), a.target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        for path in written:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        for folder in reversed(made_dirs):
            try:
                os.rmdir(folder)
            except OSError:
                pass
        if isinstance(exc, OSError):  # the local side: disk full, file too large, permissions
            raise ArtyError(f"cannot download into '{root}': {exc.strerror or exc}",
                            hint="free space or download into another folder") from exc
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return actions



def download_file(store: Store, entry: Entry, dest: str, stat_cache: StatCache | None = None,
                  allow_local_refs: bool = False) -> Action:
    """Fetch one file of a version to local path ``dest`` (a file name; an existing folder
    gets the file under its base name, and so does a name ending in ``/``, created if needed),
    verified like :func:`download`: nothing is written at ``dest`` unless every byte matches.
    Returns the action taken."""
    if os.path.isdir(dest) or dest.endswith(("/", os.sep)):
        dest = os.path.join(dest, entry.path.rsplit("/", 1)[-1])
    folder, name = os.path.split(os.path.abspath(dest))
    try:
        check_path(name)
    except InvalidPath:
        raise InvalidPath(f"cannot download '{entry.path}' to '{dest}': not a file name",
                          hint="give a file name or a folder with -o") from None
    return download(store, [dataclasses.replace(entry, path=name)], folder, stat_cache=stat_cache,
                    allow_local_refs=allow_local_refs)[0]
