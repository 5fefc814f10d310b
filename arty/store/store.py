"""The store: immutable blobs, immutable records, logs and the change journal.

Everything Arty knows lives here. Nothing is overwritten: blobs are named by
their digest, records are created only if absent, and every change that looks
like a mutation is a new record appended to a *log*.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

import xxhash

from arty.errors import ArtyError, BadRecord, ConflictError, IntegrityError, NotFound, StoreError, UnsupportedStore, UsageError
from arty.hashing import CHUNK, DEFAULT_ALGORITHM, HEX_LENGTHS, Digest, hash_bytes, new_hasher
from arty.store import layout, text
from arty.store.records import REPAIR_HINT, Fields, check_fields, json_type, warn_skipped
from arty.store.backends import Backend, LocalBackend, bucket_not_found, open_backend, write_all
from arty.store.cache import BlobCache, CacheUnwritable, materialise
from arty.store import packs as _packs
from arty.store.packs import Located, PackIndex, PackWriter

#: Appending to a log gives up after this many lost races in a row.
MAX_APPEND_ATTEMPTS = 1000
#: Files up to this size are read whole when ingested.
SMALL_FILE = 1024 * 1024
#: How long (seconds) a listing of the loose blobs' prefix folders stays trusted (``Store._may_be_loose``).
LOOSE_PREFIX_TTL = 30.0
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def user_cache_dir() -> str:
    """Arty's folder in the user cache: ``ARTY_CACHE_DIR``, else ``$XDG_CACHE_HOME/arty``."""
    return os.environ.get("ARTY_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "arty")


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def journal_id(ms: int | None = None) -> str:
    """A ULID-like, time-sortable name: 10 chars of milliseconds then 16 random."""
    ms = int(time.time() * 1000) if ms is None else ms
    rnd = random.getrandbits(80)
    head = "".join(_CROCKFORD[(ms >> (5 * i)) & 31] for i in range(9, -1, -1))
    tail = "".join(_CROCKFORD[(rnd >> (5 * i)) & 31] for i in range(15, -1, -1))
    return head + tail


def journal_ms(name: str) -> int | None:
    """The milliseconds a :func:`journal_id`-style name starts with (its first 10 characters),
    or None for a name that is not one."""
    if len(name) < 10:
        return None
    ms = 0
    for ch in name[:10]:
        i = _CROCKFORD.find(ch)
        if i < 0:
            return None
        ms = ms * 32 + i
    return ms


def encode_json(obj: Any, where: str | None = None) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8.

    With ``where`` (the path of the record being written), text that is not
    valid Unicode is stored with U+FFFD in its place and a warning naming the
    fields (:mod:`arty.store.text`); without, it is a UnicodeEncodeError: tree
    nodes must be stored exactly.
    """
    if where is not None:
        return text.dumps(obj, f"record '{where}'")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


class Store:
    """One store at one URL. Use :func:`open_store` to get one.

    Thread-safe for reads; writes from several threads and processes are safe
    because every record is created with create-if-absent.
    """

    def __init__(self, backend: Backend, config: dict[str, Any]) -> None:
        self.backend = backend
        self.config = config
        self.algorithm: str = config.get("hash", DEFAULT_ALGORITHM)
        self._records: dict[str, dict[str, Any]] = {}
        #: Remote stores keep fetched blobs in a verified local cache (see arty.store.cache).
        self.blob_cache: BlobCache | None = None if isinstance(backend, LocalBackend) else BlobCache(user_cache_dir())
        self._records_lock = threading.Lock()
        #: Whether small blobs written in batches go into packs (docs/store-format.md, "Packs"):
        #: on unless ``ARTY_PACKS=0``, or the backend cannot take packs (a server takes loose blobs).
        self.packing: bool = _packs.packs_enabled() and getattr(backend, "takes_packs", True)
        self._pack_index: PackIndex | None = None
        self._pack_writer: PackWriter | None = None
        self._packs_lock = threading.Lock()
        #: objects/ prefix -> (monotonic time, whether it held anything then): :meth:`_may_be_loose`.
        self._loose_prefixes: dict[str, tuple[float, bool]] = {}

    # -- identity -----------------------------------------------------------

    @property
    def url(self) -> str:
        return self.backend.url

    @property
    def is_local(self) -> bool:
        return isinstance(self.backend, LocalBackend)

    @property
    def default_project(self) -> str | None:
        return self.config.get("default_project")

    def cache_dir(self) -> str:
        """A machine-local folder for caches of this store (stat cache, index).

        Beside a local store (``<root>/cache``), in the user cache for a remote one.
        Deleting it loses nothing.
        """
        if isinstance(self.backend, LocalBackend):
            return os.path.join(self.backend.root, "cache")
        return os.path.join(user_cache_dir(), "stores", xxhash.xxh64_hexdigest(self.url.encode()))

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- packs ---------------------------------------------------------------

    @property
    def packs(self) -> PackIndex:
        """The store's pack indexes (learned on first use; see :mod:`arty.store.packs`)."""
        if self._pack_index is None:
            with self._packs_lock:
                if self._pack_index is None:
                    cache = None if self.is_local else os.path.join(self.cache_dir(), "packs")
                    self._pack_index = PackIndex(self.backend, self.algorithm, cache)
        return self._pack_index

    def _writer(self) -> PackWriter:
        if self._pack_writer is None:
            index = self.packs
            with self._packs_lock:
                if self._pack_writer is None:
                    self._pack_writer = PackWriter(self.backend, index)
        return self._pack_writer

    def _held(self, digest: Digest) -> bytes | None:
        """Bytes of a blob this process buffered for a pack not yet indexed, else None."""
        return self._pack_writer.pending(digest) if self._pack_writer is not None else None

    def _holds(self, digest: Digest) -> bool:
        """Whether this process has packed ``digest`` into a pack not yet indexed (or buffered it)."""
        return self._pack_writer is not None and self._pack_writer.holds(digest)

    def _packs_present(self, names: Iterable[str]) -> set[str]:
        """Which of the packs ``names`` exist now (a pack removed by gc is forgotten)."""
        names = set(names)
        if not names:
            return set()
        paths = {_packs.pack_path(n): n for n in names}
        if self.backend.batch_queries:
            gone = {paths[p] for p in self.backend.missing(list(paths))}
        else:
            gone = {n for p, n in paths.items() if not self.backend.exists(p)}
        for n in gone:
            self.packs.forget(n)
        return names - gone

    def _read_packed(self, digest: Digest, fresh: bool) -> bytes | None:
        """A packed blob's bytes, verified; None when no known pack holds it (``fresh``: after
        one re-listing of ``packs/``). IntegrityError naming the blob (and its pack) if bad."""
        for attempt in range(2):
            loc = self.packs.lookup_fresh(digest) if fresh or attempt else self.packs.locate(digest)
            if loc is None:
                return None
            try:
                data = self.backend.read_range(_packs.pack_path(loc.pack), loc.offset, loc.offset + loc.length)
            except FileNotFoundError:  # removed (repacked) by gc since the index was read
                self.packs.forget(loc.pack)
                continue
            self._check_packed(digest, loc, data)
            return data
        return None

    def _check_packed(self, digest: Digest, loc: Located, data: bytes) -> None:
        if len(data) != loc.length:
            raise IntegrityError(f"object '{digest}' is cut short: pack '{loc.pack}' ends before bytes "
                                 f"{loc.offset}-{loc.offset + loc.length} that its index names",
                                 hint="'art verify' lists every bad pack; add or push the files again")
        actual = hash_bytes(data, digest.algorithm)
        if actual != digest:
            raise IntegrityError(f"object '{digest}' is corrupt: its bytes hash to '{actual}' (in pack '{loc.pack}')",
                                 hint="restore it from another copy of the store; 'art verify' lists every bad object")

    # -- blobs ---------------------------------------------------------------

    def digest_of(self, data: bytes) -> Digest:
        return hash_bytes(data, self.algorithm)

    def has_blob(self, digest: Digest) -> bool:
        """Whether the store holds ``digest``, loose or packed (a pack learned at most
        :data:`arty.store.packs.RELIST_EVERY` seconds ago may be missed: a rewrite, no loss)."""
        if self._holds(digest) or self.packs.lookup(digest) is not None:
            return True
        if self.backend.exists(layout.blob(digest)):
            return True
        return self.packs.lookup_fresh(digest, force=False) is not None

    def missing_blobs(self, digests: Iterable[Digest]) -> set[Digest]:
        """The subset of ``digests`` not in the store, loose or packed (a packed one counts
        only while its pack exists)."""
        wanted = set(digests)
        if not wanted:
            return set()
        wanted = {d for d in wanted if not self._holds(d)}
        wanted = self._not_packed(wanted, fresh=False)
        missing = self._missing_loose(wanted)
        return self._not_packed(missing, fresh=True) if missing else missing

    def _not_packed(self, digests: set[Digest], fresh: bool) -> set[Digest]:
        """``digests`` less those in a pack that exists (``fresh``: re-list ``packs/`` first)."""
        if not digests:
            return digests
        if fresh:
            self.packs.refresh()
        located = {d: self.packs.lookup(d) for d in digests}
        present = self._packs_present({loc.pack for loc in located.values() if loc is not None})
        return {d for d, loc in located.items() if loc is None or loc.pack not in present}

    def _missing_loose(self, wanted: set[Digest]) -> set[Digest]:
        if not wanted:
            return set()
        if self.backend.batch_queries:
            paths = {layout.blob(d): d for d in wanted}
            return {paths[p] for p in self.backend.missing(list(paths))}
        if isinstance(self.backend, LocalBackend):
            return {d for d in wanted if not self.backend.exists(layout.blob(d))}
        if len(wanted) < 64:  # remote and few (a small change): one request each, side by side
            order = list(wanted)
            with ThreadPoolExecutor(min(8, len(order))) as pool:
                there = list(pool.map(lambda d: self.backend.exists(layout.blob(d)), order))
            return {d for d, ok in zip(order, there) if not ok}
        # Remote and many: list each needed objects/<xx>/ prefix once (only those that exist:
        # a store of packs has none).
        by_prefix: dict[str, set[Digest]] = {}
        for d in wanted:
            by_prefix.setdefault(d.hex[:2], set()).add(d)
        prefixes = set(self.backend.list(layout.OBJECTS))
        out = {d for p, ds in by_prefix.items() if p not in prefixes for d in ds}

        def check(prefix: str) -> set[Digest]:
            present = set(self.backend.list(f"{layout.OBJECTS}/{prefix}"))
            return {d for d in by_prefix[prefix] if d.hex[2:] not in present}

        todo = [p for p in by_prefix if p in prefixes]
        if todo:
            with ThreadPoolExecutor(8) as pool:
                out |= set().union(*pool.map(check, todo))
        return out

    def put_bytes(self, data: bytes, digest: Digest | None = None, check_exists: bool = True) -> Digest:
        """Store ``data`` as a blob (no-op if present) and return its digest. Always a loose
        blob, durable as any single write: batches go through :meth:`put_many_bytes`."""
        digest = digest or self.digest_of(data)
        if not check_exists or not self.has_blob(digest):
            self.backend.write(layout.blob(digest), data)
        return digest

    def put_many_bytes(self, items: dict[Digest, bytes]) -> None:
        """Store several in-memory blobs whose digests are known (no existence check). Small
        ones go into packs: they are in the store only after :meth:`flush`."""
        if self.packing:
            writer = self._writer()
            loose = {}
            for d, b in items.items():
                if len(b) <= _packs.PACK_BLOB_MAX:
                    writer.add(d, b)
                else:
                    loose[d] = b
            items = loose
        if items:
            self.backend.write_many({layout.blob(d): b for d, b in items.items()})

    def put_files(self, pairs: list[tuple[str, Digest]]) -> None:
        """Copy local files into the store under their (already computed) digests. Small
        ones go into packs (in the store only after :meth:`flush`), re-hashed as they are
        read: :class:`IntegrityError` if a file no longer matches its digest."""
        if self.packing:
            writer = self._writer()
            loose = []
            for local, d in pairs:
                with open(local, "rb") as f:
                    data = f.read(_packs.PACK_BLOB_MAX + 1)
                if len(data) > _packs.PACK_BLOB_MAX:
                    loose.append((local, d))
                    continue
                if hash_bytes(data, d.algorithm) != d:
                    raise IntegrityError(f"file '{local}' changed while it was being added",
                                         hint="add it again once it stops changing")
                writer.add(d, data)
            pairs = loose
        if pairs:
            self.backend.put_many([(local, layout.blob(d)) for local, d in pairs])

    def _may_be_loose(self, digest: Digest) -> bool:
        """Whether a loose copy of ``digest`` may exist in this *local* store: False when its
        ``objects/<2 hex>`` folder was empty when last looked at, at most
        :data:`LOOSE_PREFIX_TTL` seconds ago (one directory read per prefix, so a first add
        into a new store stats no file per blob). A blob another writer stored since then
        reads as absent: the caller then writes a second copy, which is harmless (blobs are
        named by their content; a blob packed twice only costs space until ``art gc``)."""
        now = time.monotonic()
        prefix = digest.hex[:2]
        seen = self._loose_prefixes.get(prefix)
        if seen is None or now - seen[0] > LOOSE_PREFIX_TTL:
            backend = self.backend
            assert isinstance(backend, LocalBackend)
            seen = (now, backend.has_entries(f"{layout.OBJECTS}/{prefix}"))
            self._loose_prefixes[prefix] = seen
        return seen[1]

    def ingest_local_file(self, path: str, size: int) -> Digest:
        """Hash a local file and copy it into a *local* store in one read.

        Small files are read whole (and packed, unless packing is off); large ones
        stream into a temp file beside the objects that is renamed to its digest. The
        blob always matches its name, even if the source changes meanwhile.
        """
        backend = self.backend
        assert isinstance(backend, LocalBackend), "ingest_local_file needs a local store"
        if size <= SMALL_FILE:
            with open(path, "rb") as f:
                data = f.read()
            digest = hash_bytes(data, self.algorithm)
            if self.packing and len(data) <= _packs.PACK_BLOB_MAX:
                writer = self._writer()
                if not (writer.holds(digest) or self.packs.lookup(digest) is not None
                        or (self._may_be_loose(digest) and backend.exists(layout.blob(digest)))):
                    writer.add(digest, data)
            elif not (self._may_be_loose(digest) and backend.exists(layout.blob(digest))):
                backend.write(layout.blob(digest), data)
            return digest
        return backend.ingest_stream(path, self.algorithm, lambda d: layout.blob(d))

    def delete_blob(self, digest: Digest) -> None:
        """Remove a loose blob (only for one that no record can reference yet, or gc). A
        packed copy stays: packs are immutable and leave only with ``art gc``."""
        try:
            self.backend.delete(layout.blob(digest))
        except FileNotFoundError:
            pass

    def blob_mtime(self, digest: Digest) -> float:
        """When a blob was last written (or freshened): a packed one's pack; FileNotFoundError if absent."""
        try:
            return self.backend.mtime(layout.blob(digest))
        except FileNotFoundError:
            loc = self.packs.lookup(digest)
            if loc is None:
                raise
            return self.backend.mtime(_packs.pack_path(loc.pack))

    def freshen_blobs(self, digests: Iterable[Digest]) -> set[Digest]:
        """Mark blobs a writer is about to reference as just used; return those missing.

        On a local store each blob's modification time (a packed one's pack's) is set to
        now, so that a concurrent ``art gc`` (which removes only blobs older than its grace
        period) keeps it. On other stores it only checks that they exist.
        """
        wanted = set(digests)
        if not isinstance(self.backend, LocalBackend):
            return self.missing_blobs(wanted)
        missing = self._freshen_local(wanted)
        if missing:
            self.packs.refresh()
            missing = self._freshen_local(missing)
        return missing

    def _freshen_local(self, wanted: set[Digest]) -> set[Digest]:
        missing = set()
        packs_ok: dict[str, bool] = {}
        for d in wanted:
            loc = self.packs.lookup(d)
            if loc is not None:
                if loc.pack not in packs_ok:
                    try:
                        os.utime(self.backend.local_path(_packs.pack_path(loc.pack)))
                        packs_ok[loc.pack] = True
                    except FileNotFoundError:
                        self.packs.forget(loc.pack)
                        packs_ok[loc.pack] = False
                if packs_ok[loc.pack]:
                    continue
            try:
                os.utime(self.backend.local_path(layout.blob(d)))
            except FileNotFoundError:
                missing.add(d)
        return missing

    def read_blob(self, digest: Digest) -> bytes:
        """A blob's bytes (loose or packed), verified against its digest."""
        packed_error: IntegrityError | None = None
        try:
            data = self._read_packed(digest, fresh=False)
        except IntegrityError as exc:  # a loose copy may still be good
            packed_error, data = exc, None
        if data is not None:
            return data
        try:
            data = self.backend.read(layout.blob(digest))
        except FileNotFoundError:
            if packed_error is not None:
                raise packed_error from None
            held = self._held(digest)
            if held is not None:
                return held
            data = None if packed_error else self._read_packed(digest, fresh=True)
            if data is None:
                raise NotFound(f"object '{digest}' is missing from store '{self.url}'",
                               hint="the store is incomplete: run 'art verify'") from None
            return data
        actual = hash_bytes(data, digest.algorithm)
        if actual != digest:
            raise IntegrityError(f"object '{digest}' is corrupt: its bytes hash to '{actual}'",
                                 hint="restore it from another copy of the store; 'art verify' lists every bad object")
        return data

    def read_blobs(self, digests: Iterable[Digest]) -> dict[Digest, bytes | ArtyError]:
        """Several blobs' bytes, each verified (or the error reading it: NotFound,
        IntegrityError). Packed ones are fetched with one ranged read per run of neighbours
        in a pack (:func:`arty.store.packs.coalesce`); the rest one by one."""
        out: dict[Digest, bytes | ArtyError] = {}
        located = []
        rest = []
        for d in set(digests):
            loc = self.packs.locate(d)
            (located.append((d, loc)) if loc is not None else rest.append(d))
        for pack, start, end, group in _packs.coalesce(located):
            try:
                chunk = self.backend.read_range(_packs.pack_path(pack), start, end)
            except FileNotFoundError:
                self.packs.forget(pack)
                rest.extend(d for d, _ in group)
                continue
            for d, loc in group:
                data = chunk[loc.offset - start:loc.offset - start + loc.length]
                try:
                    self._check_packed(d, loc, data)
                    out[d] = data
                except IntegrityError as exc:
                    rest.append(d) if self.backend.exists(layout.blob(d)) else out.__setitem__(d, exc)
        for d in rest:
            try:
                out[d] = self.read_blob(d)
            except (NotFound, IntegrityError) as exc:
                out[d] = exc
        return out

    def pack_order(self, digest: Digest) -> tuple[str, int]:
        """A sort key that puts blobs of one pack together, in pack order (loose ones first)."""
        loc = self.packs.locate(digest)
        return ("", 0) if loc is None else (loc.pack, loc.offset)

    def read_blob_range(self, digest: Digest, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of a blob, fetching only those from a remote
        store. **Not verified**: a digest covers the whole blob, so a part cannot be checked on
        its own; callers that end up with every byte check them (:meth:`read_blob` does)."""
        for fresh in (False, True):
            loc = self.packs.lookup_fresh(digest) if fresh else self.packs.locate(digest)
            if loc is not None:
                lo = loc.offset + min(max(start, 0), loc.length)
                hi = loc.offset + min(max(end, start, 0), loc.length)
                try:
                    return self.backend.read_range(_packs.pack_path(loc.pack), lo, hi)
                except FileNotFoundError:
                    self.packs.forget(loc.pack)
            try:
                return self.backend.read_range(layout.blob(digest), start, end)
            except FileNotFoundError:
                held = self._held(digest)
                if held is not None:
                    return held[start:end]
        raise NotFound(f"object '{digest}' is missing from store '{self.url}'",
                       hint="the store is incomplete: run 'art verify'")

    def blob_to_file(self, digest: Digest, dest: str, progress: Callable[[int], None] | None = None,
                     size: int | None = None) -> None:
        """Write a blob to local path ``dest``, verifying while streaming.

        ``size`` (when known) lets small blobs be read in one call. On a digest
        mismatch ``dest`` is removed and :class:`IntegrityError` raised.
        """
        if self.packs.locate(digest) is not None:
            try:
                self._packed_to_file(self.read_blob(digest), dest, progress)
                return
            except NotFound:
                pass
        try:
            self._loose_to_file(digest, dest, progress, size)
        except NotFound:
            data = self._read_packed(digest, fresh=True)
            if data is None:
                data = self._held(digest)
            if data is None:
                raise
            self._packed_to_file(data, dest, progress)

    @staticmethod
    def _packed_to_file(data: bytes, dest: str, progress: Callable[[int], None] | None) -> None:
        try:
            with open(dest, "wb", buffering=0) as out:
                write_all(out, data)
        except BaseException:
            _remove(dest)
            raise
        if progress:
            progress(len(data))

    def _loose_to_file(self, digest: Digest, dest: str, progress: Callable[[int], None] | None,
                       size: int | None) -> None:
        if self.blob_cache is not None and self._blob_via_cache(digest, dest):
            if progress:
                progress(os.path.getsize(dest))
            return
        h = new_hasher(digest.algorithm)
        try:
            src = self.backend.open_read(layout.blob(digest))
        except FileNotFoundError:
            raise NotFound(f"object '{digest}' is missing from store '{self.url}'",
                           hint="the store is incomplete: run 'art verify'") from None
        try:
            with src, open(dest, "wb", buffering=0) as out:
                if size is not None and size <= SMALL_FILE:
                    data = src.read()
                    h.update(data)
                    write_all(out, data)
                    if progress:
                        progress(len(data))
                else:
                    buf = bytearray(CHUNK if size is None else min(CHUNK, max(size, 1)))
                    view = memoryview(buf)
                    while True:
                        n = src.readinto(buf)
                        if not n:
                            break
                        h.update(view[:n])
                        write_all(out, view[:n])
                        if progress:
                            progress(n)
        except BaseException:
            _remove(dest)
            raise
        actual = Digest(digest.algorithm, h.hexdigest())
        if actual != digest:
            _remove(dest)
            raise IntegrityError(f"object '{digest}' is corrupt: its bytes hash to '{actual}'",
                                 hint="restore it from another copy of the store; 'art verify' lists every bad object")

    def _blob_via_cache(self, digest: Digest, dest: str) -> bool:
        """Fetch a remote blob through the local blob cache, then materialise it at ``dest``.

        False (nothing done) when the blob is not cached and the cache cannot take it
        (read-only, full): the caller then fetches it straight to ``dest``.
        """
        assert self.blob_cache is not None
        cached = self.blob_cache.get(digest)
        if cached is None:
            if not self.blob_cache.writable:
                return False
            try:
                src = self.backend.open_read(layout.blob(digest))
            except FileNotFoundError:
                raise NotFound(f"object '{digest}' is missing from store '{self.url}'",
                               hint="the store is incomplete: run 'art verify'") from None
            try:
                with src:
                    cached = self.blob_cache.put_stream(digest, src)
            except CacheUnwritable:
                return False
            if cached is None:
                raise IntegrityError(f"object '{digest}' is corrupt: its bytes do not match its digest",
                                     hint="restore it from another copy of the store; "
                                          "'art verify' lists every bad object")
        try:
            materialise(cached, dest)
        except FileExistsError:
            _remove(dest)
            materialise(cached, dest)
        return True

    def rehash_blob(self, digest: Digest) -> Digest:
        """Hash the stored bytes of a blob (for verify); NotFound if absent."""
        return self.measure_blob(digest)[0]

    def measure_blob(self, digest: Digest) -> tuple[Digest, int]:
        """The digest of a blob's stored bytes and their number, in one read (a packed one:
        its bytes in the pack); NotFound if absent."""
        for fresh in (False, True):
            loc = self.packs.lookup_fresh(digest) if fresh else self.packs.lookup(digest)
            if loc is not None:
                try:
                    data = self.backend.read_range(_packs.pack_path(loc.pack), loc.offset, loc.offset + loc.length)
                    return hash_bytes(data, digest.algorithm), len(data)
                except FileNotFoundError:
                    self.packs.forget(loc.pack)
            h = new_hasher(digest.algorithm)
            size = 0
            try:
                with self.backend.open_read(layout.blob(digest)) as src:
                    while True:
                        chunk = src.read(CHUNK)
                        if not chunk:
                            break
                        h.update(chunk)
                        size += len(chunk)
                return Digest(digest.algorithm, h.hexdigest()), size
            except FileNotFoundError:
                continue
        raise NotFound(f"object '{digest}' is missing from store '{self.url}'")

    def iter_blobs(self) -> Iterable[Digest]:
        """Every blob in the store: loose (lists ``objects/``), then packed (lists ``packs/``),
        each once."""
        seen: set[str] = set()
        for prefix in sorted(self.backend.list(layout.OBJECTS)):
            for rest in sorted(self.backend.list(f"{layout.OBJECTS}/{prefix}")):
                try:
                    d = Digest.parse(f"{self.algorithm}:{prefix}{rest}")
                except IntegrityError:
                    continue
                seen.add(d.hex)
                yield d
        self.packs.refresh()
        for entries in self.packs.packs().values():
            for h in sorted(entries):
                if h not in seen:
                    seen.add(h)
                    yield Digest(self.algorithm, h)

    def flush(self) -> None:
        """Durability barrier: every blob written so far survives a crash. Blobs buffered
        for packs are written first; on a local store their indexes follow the barrier, so
        an index never names a pack that a crash could lose."""
        writer = self._pack_writer
        if writer is not None:
            writer.seal()
        self.backend.flush()
        if writer is not None:
            writer.finish()

    # -- records -------------------------------------------------------------

    def read_record(self, path: str, fields: Fields | None = None) -> dict[str, Any]:
        """An immutable JSON record; FileNotFoundError when absent. Cached.

        Raises :class:`BadRecord` (naming ``path``) when it is not valid JSON,
        not an object, or lacks one of ``fields`` (see :mod:`arty.store.records`).
        Text that is not valid Unicode reads as U+FFFD, with a warning.
        """
        rec = self._records.get(path)
        if rec is None:
            rec = self._parse_record(path, self.backend.read(path))
            with self._records_lock:
                self._records[path] = rec
        if fields:
            check_fields(rec, fields, path, self.url)
        return rec

    def _parse_record(self, path: str, raw: bytes) -> dict[str, Any]:
        try:
            rec = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise BadRecord(f"record '{path}' in store '{self.url}' is not valid JSON: {exc}", REPAIR_HINT,
                            path=path) from None
        if not isinstance(rec, dict):
            raise BadRecord(f"record '{path}' in store '{self.url}' is not an object (it is {json_type(rec)})",
                            REPAIR_HINT, path=path)
        return text.loaded(rec, raw, f"record '{path}'")

    def try_record(self, path: str, fields: Fields | None = None) -> dict[str, Any] | None:
        """:meth:`read_record`, or None when the record is absent or bad (a bad one with a warning)."""
        try:
            return self.read_record(path, fields)
        except FileNotFoundError:
            return None
        except BadRecord as exc:
            warn_skipped(exc)
            return None

    def create_record(self, path: str, record: dict[str, Any]) -> bool:
        """Create ``path`` holding ``record`` if absent.

        Returns True if this call created it. A ``nonce`` is added to the record
        so that a write whose acknowledgement was lost (the retry sees "exists")
        is still recognised as ours. Returns False when another writer's record
        is there.
        """
        record = dict(record)
        nonce = uuid.uuid4().hex
        record["nonce"] = nonce
        data = encode_json(record, where=path)
        try:
            self.backend.create(path, data)
        except FileExistsError:
            try:
                existing = json.loads(self.backend.read(path))
            except (FileNotFoundError, ValueError, RecursionError):
                return False
            return isinstance(existing, dict) and existing.get("nonce") == nonce
        with self._records_lock:
            self._records[path] = json.loads(data)  # as a reader will see it (text made valid)
        return True

    def put_once(self, path: str, data: bytes) -> str:
        """Create ``path`` holding ``data`` if absent: ``"created"``; ``"present"`` if it
        already holds exactly ``data`` (also an earlier upload whose reply was lost);
        ``"different"`` if it holds something else."""
        try:
            self.backend.create(path, data)
            return "created"
        except FileExistsError:
            try:
                return "present" if self.backend.read(path) == data else "different"
            except FileNotFoundError:
                return "different"

    def create_bytes(self, path: str, data: bytes) -> bool:
        """Create ``path`` holding ``data`` if absent. True if it now holds exactly ``data``."""
        return self.put_once(path, data) != "different"

    def exists(self, path: str) -> bool:
        return self.backend.exists(path)

    def list(self, path: str) -> list[str]:
        return sorted(self.backend.list(path))

    def walk(self, path: str) -> list[str]:
        """Every file under folder ``path`` (relative to it, sorted); [] if missing."""
        return sorted(self.backend.walk(path))

    # -- logs ----------------------------------------------------------------

    def log_seqs(self, folder: str) -> list[int]:
        """The sequence numbers present in a log, ascending."""
        seqs = (layout.parse_seq(n) for n in self.backend.list(folder))
        return sorted(s for s in seqs if s is not None)

    def log_read(self, folder: str, seq: int, fields: Fields | None = None) -> dict[str, Any]:
        return self.read_record(f"{folder}/{layout.seq_name(seq)}", fields)

    def log_latest(self, folder: str, fields: Fields | None = None) -> tuple[int, dict[str, Any]] | None:
        """The highest good record of a log, or None if it has none.

        A bad record (:class:`BadRecord`) is skipped with a warning, so the one
        below it counts; appending a record supersedes it.
        """
        for seq in reversed(self.log_seqs(folder)):
            rec = self.try_record(f"{folder}/{layout.seq_name(seq)}", fields)
            if rec is not None:
                return seq, rec
        return None

    def log_records(self, folder: str, fields: Fields | None = None) -> list[tuple[int, dict[str, Any]]]:
        """Every good record of a log as ``(seq, record)``, ascending; bad ones skipped with a warning."""
        out = []
        for seq in self.log_seqs(folder):
            rec = self.try_record(f"{folder}/{layout.seq_name(seq)}", fields)
            if rec is not None:
                out.append((seq, rec))
        return out

    def log_append(self, folder: str, build: Callable[[int], dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        """Append the record ``build(seq)`` to a log and return ``(seq, record)``.

        Takes the highest seq + 1 and creates that file only if absent; on
        conflict lists again and tries the number after the highest (at least
        the next one), so a writer that lost a race catches up in one step
        instead of one rejected create per record written meanwhile. Every
        number tried follows one that exists, so the result is unique and
        contiguous across concurrent writers.
        """
        seqs = self.log_seqs(folder)
        seq = seqs[-1] + 1 if seqs else 0
        for _ in range(MAX_APPEND_ATTEMPTS):
            record = build(seq)
            if self.create_record(f"{folder}/{layout.seq_name(seq)}", record):
                return seq, self.read_record(f"{folder}/{layout.seq_name(seq)}")
            seqs = self.log_seqs(folder)
            seq = max(seq + 1, seqs[-1] + 1 if seqs else 0)
        raise ConflictError(f"could not append to log '{folder}' in store '{self.url}' "
                            f"after {MAX_APPEND_ATTEMPTS} attempts", hint="too many concurrent writers; retry")

    def quarantine_record(self, path: str, batch: str) -> str:
        """Move the record at ``path`` aside, to ``quarantine/<batch>/<path>``; returns that path.

        Its bytes are kept there (created if absent, never overwritten), then the
        record is removed and a ``record_quarantined`` journal entry names it,
        so that indexes re-read what it belonged to. For ``art verify --repair``.
        """
        data = self.backend.read(path)
        target = f"{layout.QUARANTINE}/{batch}/{path}"
        if self.put_once(target, data) == "different":
            raise ConflictError(f"cannot move record '{path}' aside: '{target}' holds something else",
                                hint="run the repair again")
        self.backend.delete(path)
        with self._records_lock:
            self._records.pop(path, None)
        self.journal("record_quarantined", path=path, moved_to=target, **layout.owner(path))
        return target

    # -- journal -------------------------------------------------------------

    def journal(self, kind: str, **fields: Any) -> None:
        """Record a hint that something changed, for readers that catch up."""
        entry = {"kind": kind, "at": now_iso(), **fields}
        for _ in range(5):
            if self.create_record(f"{layout.JOURNAL}/{journal_id()}.json", entry):
                return


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def init_store(url: str, *, algorithm: str = DEFAULT_ALGORITHM, default_project: str | None = None,
               storage_options: dict[str, Any] | None = None) -> tuple["Store", bool]:
    """Create a store at ``url`` if there is none; return ``(store, created)``."""
    if algorithm not in HEX_LENGTHS:
        raise UsageError(f"unknown hash algorithm '{algorithm}'", hint="use one of: " + ", ".join(HEX_LENGTHS))
    backend = open_backend(url, storage_options)
    backend.ensure_writable()
    config: dict[str, Any] = {"format": layout.FORMAT, "hash": algorithm, "created_at": now_iso()}
    if default_project:
        config["default_project"] = default_project
    # An existing store is only opened: creating store.json may need rights a writer lacks
    # (through a server, only its admins may).
    created = not backend.exists(layout.STORE_JSON)
    if created:
        try:
            backend.create(layout.STORE_JSON, encode_json(config))
        except FileExistsError:
            created = False
        except FileNotFoundError:
            bucket = backend.missing_bucket()
            if bucket is not None:
                raise bucket_not_found(backend.url, bucket) from None
            raise
    store = open_store_backend(backend)
    if created and isinstance(backend, LocalBackend):
        for i in range(256):
            os.makedirs(os.path.join(backend.root, layout.OBJECTS, f"{i:02x}"), exist_ok=True)
        os.makedirs(os.path.join(backend.root, layout.LEASES), exist_ok=True)
    return store, created


def open_store_backend(backend: Backend) -> Store:
    """Open the store on ``backend``; checks ``store.json`` and its format."""
    try:
        raw = backend.read(layout.STORE_JSON)
    except FileNotFoundError:
        bucket = backend.missing_bucket()
        if bucket is not None:
            raise bucket_not_found(backend.url, bucket) from None
        raise NotFound(f"no store at '{backend.url}'", hint=f"create one with 'art init {backend.url}'") from None
    try:
        config = json.loads(raw)
        fmt = config["format"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"store '{backend.url}' has an unreadable store.json: {exc}", url=backend.url) from None
    if fmt != layout.FORMAT:
        raise UnsupportedStore(f"store '{backend.url}' has format {fmt!r}, this Arty reads format {layout.FORMAT}",
                               hint="upgrade Arty: pip install -U arty", url=backend.url)
    if config.get("hash", DEFAULT_ALGORITHM) not in HEX_LENGTHS:
        raise UnsupportedStore(f"store '{backend.url}' uses unknown hash '{config.get('hash')}'",
                               hint="upgrade Arty: pip install -U arty", url=backend.url)
    return Store(backend, config)


def open_store(url: str, *, create: bool = False, storage_options: dict[str, Any] | None = None) -> Store:
    """Open the store at ``url``; with ``create=True`` make it first if absent."""
    if create:
        return init_store(url, storage_options=storage_options)[0]
    return open_store_backend(open_backend(url, storage_options))
