"""``arty://``: a read-only fsspec filesystem over artifact versions.

``arty://[project/]name:alias/path/in/version`` names a file or folder of a version, so that
pandas, pyarrow and every fsspec tool read versions in place, without downloading them::

    pandas.read_csv("arty://data:prod/train.csv")
    fsspec.open("arty://vision/images:v3/labels.json").open().read()
    ArtyFileSystem(store="s3://bucket/store").glob("data:prod/**/*.parquet")

The filesystem is registered under the ``fsspec.specs`` entry point (``arty``). Its store is
``store=`` (a store URL, in ``storage_options``), else the usual resolution
(:func:`arty.settings.find_store_url`: ``ARTY_STORE``, a ``.arty`` folder, ``art login``'s
server); its project ``project=``, else ``ARTY_PROJECT``, the store's default, ``default``.

Paths: the empty path lists the project's artifacts (as ``name:latest`` folders); a version's
root (``data:v3``) and its folders are directories; a path needs the ``:version`` part.
Versions named by number are immutable and kept; an alias (``prod``, ``latest``) is resolved
again after ``ref_ttl`` seconds (default 60) or :meth:`ArtyFileSystem.invalidate_cache`, and a
file opened keeps reading the version it was opened on.

Reads fetch blocks of ``block_size`` bytes (default 2 MiB) with ranged reads of the store's
blobs (:meth:`arty.store.Store.read_blob_range`: S3 and GCS ``Range`` requests, an ``art
server``'s ``Range`` header), kept in a least-recently-used cache shared by the filesystem's
open files (``cache_size`` bytes, default 64 MiB). **Verification**: a blob's digest covers its
whole content, so a read is verified when it covers the whole file: files no larger than a
block are always read whole and verified; an open file read from its start to its end is
hashed as it goes and raises :class:`arty.errors.IntegrityError` at the end on a mismatch;
``cat_file`` of a whole file is verified. A ranged read of part of a larger file cannot be
checked on its own (``art verify`` checks the store).

Errors: a path the version does not hold, an unknown artifact, version or alias is a
:class:`FileNotFoundError` with Arty's message; a malformed reference (``..``, a bad name) is
:class:`arty.errors.UsageError`; writing is refused with :class:`PermissionError`; store
failures are Arty's :class:`arty.errors.StoreError` (never "not found").
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from arty.artifacts.manifest import Entry, ref_identity, subtree
from arty.artifacts.names import ArtifactRef, check_path
from arty.artifacts.versions import ArtifactVersion, Registry
from arty.errors import IntegrityError, NotFound, ReferenceChanged, UsageError
from arty.hashing import Digest, new_hasher
from arty.store import UriReader, is_local_uri, open_store

DEFAULT_BLOCK = 2 * 1024 * 1024
DEFAULT_CACHE = 64 * 1024 * 1024
DEFAULT_REF_TTL = 60.0


class _ResolvingCache(type(AbstractFileSystem)):  # type: ignore[misc]
    """fsspec keeps one instance per set of arguments: the store and project a call would
    resolve from the environment are made arguments first, so that another ``ARTY_STORE``
    gets another instance."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if not args and kwargs.get("store") is None:
            from arty.settings import find_store_url

            kwargs["store"] = find_store_url()
        if kwargs.get("project") is None:
            kwargs["project"] = os.environ.get("ARTY_PROJECT") or None
        return super().__call__(*args, **kwargs)


class _Blocks:
    """A least-recently-used cache of byte blocks, bounded in bytes; thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple[Any, ...], data: bytes) -> None:
        if len(data) > self.capacity:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self.used -= len(old) if old is not None else 0
            self._items[key] = data
            self.used += len(data)
            while self.used > self.capacity:
                _, dropped = self._items.popitem(last=False)
                self.used -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0


def _not_found(exc: NotFound) -> FileNotFoundError:
    text = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
    return FileNotFoundError(text)


class ArtyFileSystem(AbstractFileSystem, metaclass=_ResolvingCache):
    """Read-only fsspec filesystem over the artifact versions of one project of a store
    (module docstring)."""

    protocol = "arty"
    root_marker = ""

    def __init__(self, store: str | None = None, project: str | None = None, *,
                 store_options: dict[str, Any] | None = None, block_size: int = DEFAULT_BLOCK,
                 cache_size: int = DEFAULT_CACHE, ref_ttl: float = DEFAULT_REF_TTL,
                 allow_local_refs: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from arty.settings import resolve_project

        if store is None:
            raise NotFound(f"no store found in '{os.getcwd()}' or above for arty://",
                           hint="pass storage_options={'store': URL}, or set ARTY_STORE")
        if block_size <= 0:
            raise UsageError(f"invalid block_size {block_size}", hint="a number of bytes greater than 0")
        self.arty_store = open_store(store, storage_options=store_options)
        self.registry = Registry(self.arty_store, resolve_project(self.arty_store, project))
        self.blocksize = block_size
        self.ref_ttl = ref_ttl
        self.allow_local_refs = allow_local_refs
        self.blocks = _Blocks(cache_size)
        self._versions: dict[str, tuple[float, ArtifactVersion]] = {}
        self._checked_refs: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    # -- paths -------------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        for prefix in ("arty://", "arty::"):
            if path.startswith(prefix):
                path = path[len(prefix):]
        return path.strip("/")

    def invalidate_cache(self, path: str | None = None) -> None:
        """Resolve aliases again on the next call (versions by number never change)."""
        with self._lock:
            self._versions.clear()
        super().invalidate_cache(path)

    def _version(self, ref: ArtifactRef) -> ArtifactVersion:
        key = str(ref)
        now = time.monotonic()
        with self._lock:
            hit = self._versions.get(key)
        fixed = ref.selector is not None and ref.selector.startswith("v") and ref.selector[1:].isdigit()
        if hit is not None and (fixed or now - hit[0] < self.ref_ttl):
            return hit[1]
        try:
            version = self.registry.resolve(ref)
        except NotFound as exc:
            raise _not_found(exc) from exc
        with self._lock:
            self._versions[key] = (now, version)
        return version

    def _split(self, path: str) -> tuple[ArtifactVersion | None, str | None]:
        """(version, path inside it or None for its root); (None, None) for the listing of artifacts."""
        path = self._strip_protocol(path)
        if not path:
            return None, None
        if ":" not in path:
            raise FileNotFoundError(f"'{path}' names no version (arty://NAME:VERSION/PATH, e.g. "
                                    f"'{path.split('/')[0]}:latest')")
        ref, inner = ArtifactRef.parse_with_path(path)
        return self._version(ref), inner

    def _lookup(self, version: ArtifactVersion, inner: str) -> dict[str, Any]:
        """The manifest entry (JSON) of ``inner`` in ``version``: a file, ref or dir."""
        trees = self.registry.trees
        check_path(inner)
        parts = inner.split("/")
        digest = version.digest
        obj: dict[str, Any] | None = None
        for i, part in enumerate(parts):
            obj = trees.node(digest).get(part)
            if obj is None or (i < len(parts) - 1 and obj.get("type") != "dir"):
                raise FileNotFoundError(f"no file or folder '{inner}' in artifact '{version.name}' "
                                        f"(hint: 'art show {version.name}' lists its files)")
            if obj.get("type") == "dir":
                digest = subtree("/".join(parts[:i + 1]), obj)
        assert obj is not None
        return obj

    def _entry(self, path: str) -> tuple[ArtifactVersion, Entry]:
        version, inner = self._split(path)
        if version is None or inner is None:
            raise IsADirectoryError(f"'{self._strip_protocol(path) or '/'}' is a folder, not a file")
        obj = self._lookup(version, inner)
        if obj.get("type") == "dir":
            raise IsADirectoryError(f"'{inner}' is a folder in '{version.name}', not a file")
        return version, Entry.from_json(inner, obj)

    # -- listing -----------------------------------------------------------------------------

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        name = self._strip_protocol(path)
        version, inner = self._split(name)
        if version is None:
            return {"name": "", "type": "directory", "size": 0}
        if inner is None:
            return {"name": name, "type": "directory", "size": version.size, "files": version.file_count,
                    "digest": str(version.digest), "version": version.name}
        return self._describe(name, self._lookup(version, inner), inner)

    @staticmethod
    def _describe(name: str, obj: dict[str, Any], inner: str) -> dict[str, Any]:
        if obj.get("type") == "dir":
            return {"name": name, "type": "directory", "size": obj.get("size", 0), "files": obj.get("files"),
                    "digest": obj.get("digest")}
        e = Entry.from_json(inner, obj)
        out: dict[str, Any] = {"name": name, "type": "file", "size": e.size}
        if e.digest is not None:
            out["digest"] = str(e.digest)
        if e.uri is not None:
            out["uri"] = e.uri
        return out

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        name = self._strip_protocol(path)
        version, inner = self._split(name)
        if version is None:
            out = [{"name": f"{n}:latest", "type": "directory", "size": 0} for n in self.registry.names()]
        else:
            if inner is None:
                node = version.digest
            else:
                obj = self._lookup(version, inner)
                if obj.get("type") != "dir":
                    entry = self._describe(name, obj, inner)
                    return [entry] if detail else [entry["name"]]
                node = subtree(inner, obj)
            entries = self.registry.trees.node(node)
            base = f"{inner}/" if inner else ""
            out = [self._describe(f"{name}/{n}", entries[n], base + n) for n in sorted(entries)]
        return out if detail else [o["name"] for o in out]

    def exists(self, path: str, **kwargs: Any) -> bool:
        """Whether ``path`` is a file or folder; store failures raise (fsspec's default would
        read them as "absent")."""
        try:
            self.info(path)
            return True
        except FileNotFoundError:
            return False

    def isdir(self, path: str) -> bool:
        try:
            return self.info(path)["type"] == "directory"
        except FileNotFoundError:
            return False

    def isfile(self, path: str) -> bool:
        try:
            return self.info(path)["type"] == "file"
        except FileNotFoundError:
            return False

    # -- reading -----------------------------------------------------------------------------

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True,
              cache_options: dict[str, Any] | None = None, **kwargs: Any) -> "ArtyFile":
        if mode != "rb":
            raise PermissionError(f"arty:// is read-only: cannot open '{path}' with mode '{mode}' "
                                  "(hint: log a new version with 'art add' or arty.Artifact)")
        version, entry = self._entry(path)
        return ArtyFile(self, self._strip_protocol(path), entry, version)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        _, entry = self._entry(path)
        size = entry.size
        start = 0 if start is None else (max(size + start, 0) if start < 0 else start)
        end = size if end is None else (max(size + end, 0) if end < 0 else min(end, size))
        return self.read_entry(entry, start, end)

    def read_entry(self, entry: Entry, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` of a version's file: verified when they are the whole file,
        else from verified-or-ranged blocks (module docstring)."""
        end = min(end, entry.size)
        if start >= end:
            return b""
        if entry.is_ref:
            return self._read_ref(entry, start, end)
        assert entry.digest is not None
        if entry.size <= self.blocksize or (start == 0 and end == entry.size):
            return self._whole(entry)[start:end]
        bs = self.blocksize
        parts = []
        for b in range(start // bs, (end - 1) // bs + 1):
            block = self._block(entry, b)
            lo = max(start - b * bs, 0)
            hi = min(end - b * bs, len(block))
            parts.append(block[lo:hi])
        return b"".join(parts)

    def _whole(self, entry: Entry) -> bytes:
        """A whole stored file, verified (cached as one block when it fits)."""
        key = (entry.digest, "whole")
        data = self.blocks.get(key)
        if data is None:
            data = self.arty_store.read_blob(entry.digest)  # type: ignore[arg-type]
            entry.check_size(len(data))
            self.blocks.put(key, data)
        return data

    def _block(self, entry: Entry, index: int) -> bytes:
        key = (entry.digest, self.blocksize, index)
        data = self.blocks.get(key)
        if data is None:
            lo = index * self.blocksize
            hi = min(lo + self.blocksize, entry.size)
            data = self.arty_store.read_blob_range(entry.digest, lo, hi)  # type: ignore[arg-type]
            if len(data) != hi - lo:
                raise IntegrityError(f"object '{entry.digest}' of '{entry.path}' is shorter than the "
                                     f"{entry.size} bytes recorded", hint="'art verify' lists every bad object")
            self.blocks.put(key, data)
        return data

    def _read_ref(self, entry: Entry, start: int, end: int) -> bytes:
        """Bytes of a file added by reference, read from where it lives (ranged), after checking
        once that it is still what was recorded."""
        uri = entry.uri or ""
        if is_local_uri(uri) and not self.allow_local_refs:
            raise PermissionError(f"'{entry.path}' is a reference to local file '{uri}'; references to this "
                                  "machine's files are read only when allowed (hint: "
                                  "storage_options={'allow_local_refs': True} if you trust the store)")
        reader = UriReader(uri)
        if (uri, entry.size) not in self._checked_refs:
            try:
                info = reader.info(uri)
            except FileNotFoundError:
                raise ReferenceChanged(f"referenced object '{uri}' ('{entry.path}') no longer exists",
                                       hint="log a new version of the artifact") from None
            now = ref_identity(info)
            recorded = {k: v for k, v in entry.ref.items() if k != "mtime"}
            if int(info.get("size") or 0) != entry.size or any(
                    k in now and str(now[k]) != str(v) for k, v in recorded.items()):
                raise ReferenceChanged(f"referenced object '{uri}' ('{entry.path}') changed since it was recorded",
                                       hint="log a new version of the artifact to record its new content")
            self._checked_refs.add((uri, entry.size))
        return reader.read_range(uri, start, end)


class ArtyFile(AbstractBufferedFile):
    """One file of a version opened for reading: random access through the filesystem's block
    cache; read from start to end, its bytes are hashed and checked against its digest."""

    def __init__(self, fs: ArtyFileSystem, path: str, entry: Entry, version: ArtifactVersion) -> None:
        self.entry = entry
        self.version = version
        self._hasher = new_hasher(entry.digest.algorithm) if entry.digest is not None else None
        self._hashed = 0
        super().__init__(fs, path, mode="rb", block_size=fs.blocksize, cache_type="none", size=entry.size)

    def _fetch_range(self, start: int, end: int) -> bytes:
        data = self.fs.read_entry(self.entry, start, end)
        if self._hasher is not None and start == self._hashed and data:
            self._hasher.update(data)
            self._hashed += len(data)
            if self._hashed == self.entry.size:
                digest = self.entry.digest
                assert digest is not None
                actual = Digest(digest.algorithm, self._hasher.hexdigest())
                self._hasher = None
                if actual != digest:
                    raise IntegrityError(f"object '{digest}' ('{self.entry.path}' of '{self.version.name}') is "
                                         f"corrupt: its bytes hash to '{actual}'",
                                         hint="restore it from another copy of the store; 'art verify' lists "
                                              "every bad object")
        return data
