"""Pack files: many small blobs in one immutable file, with an index (docs/store-format.md, "Packs").

A pack is ``packs/<2 hex>/<rest>.pack``: blobs concatenated, named by the digest of its
bytes. Its index ``packs/<2 hex>/<rest>.idx`` (canonical JSON) maps each blob's hex digest to
``[offset, length]`` in the pack. Blobs keep their own digests; a packed blob is found
through the union of the indexes, which :class:`PackIndex` learns by listing ``packs/`` once
(indexes of a remote store are kept in its cache folder: packs are immutable, so a copy never
goes stale; a pack removed by ``art gc`` is forgotten when a read finds it gone).

:class:`PackWriter` collects small blobs in memory and writes a pack when it holds
:data:`PACK_TARGET` bytes or on :meth:`PackWriter.flush`. Order: the pack, made durable (on a
local store by the caller's filesystem flush, which comes first), then its index
(create-if-absent). A pack without its index is invisible and only costs space until gc.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable

from arty.errors import IntegrityError
from arty.hashing import Digest, HEX_LENGTHS, hash_bytes
from arty.store.backends import Backend, LocalBackend

PACKS = "packs"
#: Blobs up to this size go into packs; larger ones stay loose.
PACK_BLOB_MAX = 512 * 1024
#: A pack is written once it holds this many bytes.
PACK_TARGET = 32 * 1024 * 1024
#: Coalesced reads: neighbouring blobs of one pack closer than this are fetched in one read ...
READ_GAP = 256 * 1024
#: ... of at most this many bytes.
READ_SPAN = 16 * 1024 * 1024
#: ``has_blob`` re-lists ``packs/`` on a miss at most this often (a wrong "absent" costs a rewrite only).
RELIST_EVERY = 5.0
INDEX_FORMAT = 1
PACK_SUFFIX, INDEX_SUFFIX = ".pack", ".idx"


def packs_enabled() -> bool:
    """Whether writers pack small blobs: on unless the environment sets ``ARTY_PACKS=0``."""
    return os.environ.get("ARTY_PACKS", "1") not in ("0", "false", "no", "off")


def pack_path(name: str) -> str:
    """``packs/<2 hex>/<rest>.pack`` for the pack whose digest's hex is ``name``."""
    return f"{PACKS}/{name[:2]}/{name[2:]}{PACK_SUFFIX}"


def index_path(name: str) -> str:
    """``packs/<2 hex>/<rest>.idx``: the index of pack ``name``."""
    return f"{PACKS}/{name[:2]}/{name[2:]}{INDEX_SUFFIX}"


@dataclass(frozen=True)
class Located:
    """Where a packed blob is: pack name (hex of its digest), offset and length."""

    pack: str
    offset: int
    length: int


class BadPackIndex(IntegrityError):
    """A pack index that cannot be used: unreadable, or naming bytes its pack does not hold."""


def encode_index(algorithm: str, name: str, size: int, entries: dict[str, tuple[int, int]]) -> bytes:
    """The canonical JSON of a pack's index."""
    rec = {"blobs": {h: [o, n] for h, (o, n) in entries.items()}, "format": INDEX_FORMAT,
           "pack": f"{algorithm}:{name}", "size": size}
    return json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()


def parse_index(raw: bytes, name: str, algorithm: str) -> tuple[int, dict[str, tuple[int, int]]]:
    """``(pack size, {hex: (offset, length)})`` of an index; :class:`BadPackIndex` explaining
    what is wrong when it is not valid JSON, names another pack, or names a range past the
    size it records."""
    where = f"pack index '{index_path(name)}'"
    hint = "'art verify' lists bad packs; the blobs it indexes are read from other copies or added again"
    try:
        rec = json.loads(raw)
        size = rec["size"]
        blobs = rec["blobs"]
        pack = rec["pack"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise BadPackIndex(f"{where} is unreadable: {exc}", hint=hint) from None
    if pack != f"{algorithm}:{name}" or type(size) is not int or size < 0 or not isinstance(blobs, dict):
        raise BadPackIndex(f"{where} does not describe pack '{name}'", hint=hint)
    out: dict[str, tuple[int, int]] = {}
    hex_len = HEX_LENGTHS.get(algorithm)
    for h, v in blobs.items():
        if (not isinstance(v, list) or len(v) != 2 or any(type(x) is not int or x < 0 for x in v)
                or len(h) != hex_len):
            raise BadPackIndex(f"{where} has a malformed entry for object '{algorithm}:{h}'", hint=hint)
        if v[0] + v[1] > size:
            raise BadPackIndex(f"{where} names bytes {v[0]}-{v[0] + v[1]} for object '{algorithm}:{h}', "
                               f"past the end of its pack ({size} bytes)", hint=hint)
        out[h] = (v[0], v[1])
    return size, out


class PackIndex:
    """The union of a store's pack indexes (thread-safe).

    Loaded on first use by listing ``packs/`` (one listing) and reading each index not yet
    known; ``cache`` (a folder, for remote stores) keeps a copy of every index read, keyed by
    pack name, so a later process reads only new ones. Indexes that cannot be used are
    skipped and kept in :attr:`problems` (for ``art verify``).
    """

    def __init__(self, backend: Backend, algorithm: str, cache: str | None) -> None:
        self.backend = backend
        self.algorithm = algorithm
        self.cache = cache
        self._lock = threading.RLock()
        self._where: dict[str, Located] = {}
        self._packs: dict[str, dict[str, tuple[int, int]]] = {}
        self._sizes: dict[str, int] = {}
        self.problems: dict[str, str] = {}  # pack name -> what is wrong
        self.unindexed: set[str] = set()  # packs listed without an index
        self._listed_at: float | None = None
        self._cache_loaded = False

    # -- lookups -------------------------------------------------------------

    def lookup(self, digest: Digest) -> Located | None:
        """Where ``digest`` is packed, as far as known (lists ``packs/`` on first use)."""
        if self._listed_at is None:
            self.refresh()
        return self._where.get(digest.hex)

    def locate(self, digest: Digest) -> Located | None:
        """Where to read ``digest`` from. Before the first listing, the indexes kept in the
        cache folder answer without a request (packs are immutable; a pack removed since is
        found out by the read, whose caller forgets it and looks again); otherwise,
        and on a miss, :meth:`lookup`. Not for deciding whether a blob must be written: that
        is :meth:`lookup`, which lists first."""
        if self._listed_at is None and self.cache and not self._cache_loaded:
            self._load_cache()
        found = self._where.get(digest.hex)
        return found if found is not None else self.lookup(digest)

    def _load_cache(self) -> None:
        """Learn the indexes kept in the cache folder (skipping any that do not parse)."""
        with self._lock:
            if self._cache_loaded:
                return
            self._cache_loaded = True
            try:
                names = [f[:-len(INDEX_SUFFIX)] for f in os.listdir(self.cache or "") if f.endswith(INDEX_SUFFIX)]
            except OSError:
                return
            for name in names:
                raw = self._cached(name)
                if raw is None or name in self._packs:
                    continue
                try:
                    size, entries = parse_index(raw, name, self.algorithm)
                except BadPackIndex:
                    continue  # a bad copy: the listing reads the store's own
                self.add(name, size, entries)

    def lookup_fresh(self, digest: Digest, *, force: bool = True) -> Located | None:
        """:meth:`lookup`, re-listing ``packs/`` once when it is not known (at most every
        :data:`RELIST_EVERY` seconds unless ``force``)."""
        found = self.lookup(digest)
        if found is None and (force or time.monotonic() - (self._listed_at or 0) > RELIST_EVERY):
            self.refresh()
            found = self._where.get(digest.hex)
        return found

    def packs(self) -> dict[str, dict[str, tuple[int, int]]]:
        """Every known pack: name -> {hex: (offset, length)}."""
        if self._listed_at is None:
            self.refresh()
        with self._lock:
            return dict(self._packs)

    def size_of(self, name: str) -> int:
        return self._sizes[name]

    # -- learning ------------------------------------------------------------

    def refresh(self) -> None:
        """List ``packs/``: learn new indexes, forget packs that are gone."""
        files = set(self.backend.walk(PACKS))
        packs = {f[:-len(PACK_SUFFIX)].replace("/", "") for f in files if f.endswith(PACK_SUFFIX)}
        indexes = {f[:-len(INDEX_SUFFIX)].replace("/", "") for f in files if f.endswith(INDEX_SUFFIX)}
        with self._lock:
            for name in list(self._packs):
                if name not in packs or name not in indexes:
                    self.forget(name)
            self.unindexed = packs - indexes
            for name in sorted(packs & indexes):
                if name not in self._packs and name not in self.problems:
                    self._load(name)
            for name in list(self.problems):
                if name not in packs:
                    del self.problems[name]
            self._listed_at = time.monotonic()

    def _load(self, name: str) -> None:
        raw = self._cached(name)
        if raw is None:
            try:
                raw = self.backend.read(index_path(name))
            except FileNotFoundError:
                return
        try:
            size, entries = parse_index(raw, name, self.algorithm)
        except BadPackIndex as exc:
            self.problems[name] = exc.message
            return
        self._keep(name, raw)
        self.add(name, size, entries)

    def add(self, name: str, size: int, entries: dict[str, tuple[int, int]]) -> None:
        """Know pack ``name`` (a pack this process wrote, or one just read)."""
        with self._lock:
            self._packs[name] = entries
            self._sizes[name] = size
            for h, (o, n) in entries.items():
                self._where[h] = Located(name, o, n)

    def forget(self, name: str) -> None:
        """Drop pack ``name`` (found gone): its blobs are looked up again elsewhere."""
        with self._lock:
            entries = self._packs.pop(name, None) or {}
            self._sizes.pop(name, None)
            for h in entries:
                loc = self._where.get(h)
                if loc is not None and loc.pack == name:
                    del self._where[h]
                    for other, es in self._packs.items():  # still in another pack?
                        if h in es:
                            self._where[h] = Located(other, *es[h])
                            break
        if self.cache:
            try:
                os.unlink(os.path.join(self.cache, name + INDEX_SUFFIX))
            except OSError:
                pass

    def _cached(self, name: str) -> bytes | None:
        if not self.cache:
            return None
        try:
            with open(os.path.join(self.cache, name + INDEX_SUFFIX), "rb") as f:
                return f.read()
        except OSError:
            return None

    def _keep(self, name: str, raw: bytes) -> None:
        """Copy an index into the cache folder (best effort: the cache loses nothing)."""
        if not self.cache:
            return
        path = os.path.join(self.cache, name + INDEX_SUFFIX)
        if os.path.exists(path):
            return
        try:
            os.makedirs(self.cache, exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
            with open(tmp, "wb") as f:
                f.write(raw)
            os.replace(tmp, path)
        except OSError:
            pass


class PackWriter:
    """Collects small blobs and writes them as packs (thread-safe).

    :meth:`add` buffers a blob; a full buffer becomes a pack at once. :meth:`flush` writes
    the rest, then (on a local store, after the caller's filesystem flush) the indexes.
    Until its index is written a pack's blobs are known to this writer only.
    """

    def __init__(self, backend: Backend, index: PackIndex, target: int = PACK_TARGET) -> None:
        self.backend = backend
        self.index = index
        self.algorithm = index.algorithm
        self.target = target
        self._lock = threading.Lock()
        self._buf: list[bytes] = []
        self._entries: dict[str, tuple[int, int]] = {}
        self._size = 0
        #: Packs written whose index waits for the durability barrier (local stores).
        self._waiting: list[tuple[str, int, dict[str, tuple[int, int]]]] = []
        self._pending: dict[str, bytes] = {}  # hex -> bytes of a buffered blob
        #: hex -> (pack, offset, length) of a blob in a pack written whose index waits: read
        #: back from the pack, so a large add holds at most one pack's bytes in memory.
        self._sealed: dict[str, tuple[str, int, int]] = {}
        self._defer_index = isinstance(backend, LocalBackend)

    def holds(self, digest: Digest) -> bool:
        """Whether this writer has ``digest`` (buffered, or in a pack whose index is not yet written)."""
        return digest.hex in self._pending or digest.hex in self._sealed

    def pending(self, digest: Digest) -> bytes | None:
        """The bytes of a blob this writer :meth:`holds` (read back from its pack once that is
        written, and then verified: :class:`IntegrityError` if they do not match), else None."""
        data = self._pending.get(digest.hex)
        if data is not None:
            return data
        where = self._sealed.get(digest.hex)
        if where is None:
            return None
        name, offset, length = where
        data = self.backend.read_range(pack_path(name), offset, offset + length)
        if hash_bytes(data, digest.algorithm) != digest:
            raise IntegrityError(f"object '{digest}' is corrupt: pack '{name}' does not hold the bytes "
                                 "just written into it", hint="'art verify' lists every bad object")
        return data

    def add(self, digest: Digest, data: bytes) -> None:
        """Buffer ``data`` (whose digest is ``digest``); writes a pack when the buffer is full."""
        with self._lock:
            if digest.hex in self._pending or digest.hex in self._sealed:
                return
            self._entries[digest.hex] = (self._size, len(data))
            self._buf.append(data)
            self._size += len(data)
            self._pending[digest.hex] = data
            if self._size >= self.target:
                self._seal_locked()

    def _seal_locked(self) -> None:
        if not self._buf:
            return
        data = b"".join(self._buf)
        entries, size = self._entries, self._size
        self._buf, self._entries, self._size = [], {}, 0
        name = hash_bytes(data, self.algorithm).hex
        self.backend.write(pack_path(name), data)
        if self._defer_index:
            self._waiting.append((name, size, entries))
            for h, (o, n) in entries.items():
                self._sealed[h] = (name, o, n)
                self._pending.pop(h, None)
        else:
            self._write_index(name, size, entries)

    def _write_index(self, name: str, size: int, entries: dict[str, tuple[int, int]]) -> None:
        raw = encode_index(self.algorithm, name, size, entries)
        try:
            self.backend.create(index_path(name), raw)
        except FileExistsError:
            pass  # another writer packed the very same blobs: the same pack, the same index
        self.index.add(name, size, entries)
        for h in entries:
            self._pending.pop(h, None)
            self._sealed.pop(h, None)

    def seal(self) -> None:
        """Write the buffered blobs as a pack now (its index may still wait for :meth:`finish`)."""
        with self._lock:
            self._seal_locked()

    def finish(self) -> None:
        """Write the indexes of the packs written so far: call after they are durable."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
            for name, size, entries in waiting:
                self._write_index(name, size, entries)


def coalesce(located: Iterable[tuple[Any, Located]]) -> list[tuple[str, int, int, list[tuple[Any, Located]]]]:
    """Group packed blobs into reads: ``(pack, start, end, [(key, located), ...])``, joining
    neighbours of one pack closer than :data:`READ_GAP` into reads of at most :data:`READ_SPAN`."""
    by_pack: dict[str, list[tuple[Any, Located]]] = {}
    for key, loc in located:
        by_pack.setdefault(loc.pack, []).append((key, loc))
    out = []
    for pack, items in by_pack.items():
        items.sort(key=lambda kv: kv[1].offset)
        group: list[tuple[Any, Located]] = []
        start = end = 0
        for key, loc in items:
            if group and (loc.offset - end > READ_GAP or loc.offset + loc.length - start > READ_SPAN):
                out.append((pack, start, end, group))
                group = []
            if not group:
                start = loc.offset
                end = loc.offset
            group.append((key, loc))
            end = max(end, loc.offset + loc.length)
        if group:
            out.append((pack, start, end, group))
    return out
