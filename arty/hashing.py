"""Digests, file hashing and the stat cache.

A :class:`Digest` is self-describing, like an OCI digest: ``"xxh128:" + 32 hex``.
XXH3-128 is the default; a store may choose ``sha256`` or ``blake3`` instead
(``store.json`` names it). This module is the bottom layer: it imports nothing
else from Arty except the errors.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

import xxhash

from arty.errors import IntegrityError, MissingExtra, UsageError

#: Hex length of each algorithm's digest.
HEX_LENGTHS = {"xxh128": 32, "sha256": 64, "blake3": 64}
DEFAULT_ALGORITHM = "xxh128"

#: Read size for hashing and copying large files.
CHUNK = 4 * 1024 * 1024

#: A stat-cache entry is trusted only if the file's mtime is at least this much
#: older than the moment hashing started (git's "racy-git" problem: a file
#: modified in the same clock tick as it was hashed looks unchanged).
RACY_WINDOW_NS = 1_000_000_000


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview) -> None: ...

    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str = DEFAULT_ALGORITHM) -> _Hasher:
    """Return a fresh incremental hasher for ``algorithm``."""
    if algorithm == "xxh128":
        return xxhash.xxh3_128()
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "blake3":
        try:
            import blake3  # type: ignore[import-not-found]
        except ImportError as exc:
            raise MissingExtra(
                "hash algorithm 'blake3' needs the blake3 package",
                hint='pip install blake3',
            ) from exc
        return blake3.blake3()
    raise UsageError(f"unknown hash algorithm '{algorithm}'", hint="use one of: " + ", ".join(HEX_LENGTHS))


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A content digest: an algorithm name and lowercase hex.

    ``str(d)`` is ``"xxh128:<hex>"``; :meth:`parse` is its inverse and rejects
    anything malformed.
    """

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def short(self, n: int = 12) -> str:
        """The first ``n`` hex characters, for display."""
        return self.hex[:n]

    @classmethod
    def parse(cls, text: str) -> "Digest":
        """Parse ``"algo:hex"``; raise :class:`IntegrityError` when malformed."""
        algorithm, sep, hexpart = str(text).partition(":")
        length = HEX_LENGTHS.get(algorithm)
        if not sep or length is None or len(hexpart) != length:
            raise IntegrityError(f"malformed digest '{text}'", hint="expected 'xxh128:' followed by 32 hex digits")
        # Not int(hexpart, 16): that also accepts '0x', signs, '_' and surrounding spaces.
        if hexpart.strip("0123456789abcdefABCDEF"):
            raise IntegrityError(f"malformed digest '{text}'", hint="the part after ':' must be hex")
        return cls(algorithm, hexpart.lower())


def hash_bytes(data: bytes | memoryview, algorithm: str = DEFAULT_ALGORITHM) -> Digest:
    """Digest of an in-memory byte string."""
    if algorithm == "xxh128":
        return Digest("xxh128", xxhash.xxh3_128_hexdigest(data))
    h = new_hasher(algorithm)
    h.update(data)
    return Digest(algorithm, h.hexdigest())


def hash_file(path: str | os.PathLike[str], algorithm: str = DEFAULT_ALGORITHM,
              progress: Callable[[int], None] | None = None) -> Digest:
    """Digest of a file's contents, read in large chunks."""
    h = new_hasher(algorithm)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            if progress is not None:
                progress(n)
    return Digest(algorithm, h.hexdigest())


@dataclass(frozen=True, slots=True)
class FileStat:
    """The parts of ``os.stat`` that identify a file's version."""

    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> "FileStat":
        return cls(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class StatCache:
    """Remembers the digest of a file for as long as its stat is unchanged.

    Entries are keyed by absolute path and hash algorithm and hold inode, size,
    mtime and ctime. An entry whose mtime or ctime is not at least
    :data:`RACY_WINDOW_NS` older than the moment hashing started is never
    returned: the file could have changed again within the same clock tick.
    ``path=":memory:"`` keeps the cache in memory (tests).

    A cache that cannot be written (a read-only folder or file, a read-only
    store) is read as it is when SQLite can open it read-only (:meth:`store`
    then remembers nothing), else replaced by an empty one in memory for this
    process. Either way the cache only saves hashing: nothing fails for want of it.
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:") -> None:
        self.path = str(path)
        #: True when the file is open read-only (see the class docstring).
        self.read_only = False
        try:
            self._db = self._open(self.path)
        except (OSError, sqlite3.OperationalError) as exc:
            if self.path == ":memory:" or _busy(exc):
                raise
            ro = self._open_read_only(self.path)
            self.read_only = ro is not None
            self._db = ro if ro is not None else self._open(":memory:")

    def _open(self, path: str) -> sqlite3.Connection:
        if path != ":memory:":
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            self._use_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS stat_cache (path TEXT NOT NULL, algorithm TEXT NOT NULL,"
                " ino INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, hex TEXT,"
                " hashed_at_ns INTEGER, PRIMARY KEY (path, algorithm)) WITHOUT ROWID"
            )
        except BaseException:
            db.close()
            raise
        return db

    @staticmethod
    def _open_read_only(path: str) -> sqlite3.Connection | None:
        """The existing file, opened read-only, if it has the cache's table; else None."""
        if not os.path.isfile(path):
            return None
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, isolation_level=None,
                                 check_same_thread=False)
        except sqlite3.Error:
            return None
        try:
            db.execute("SELECT count(*) FROM stat_cache WHERE 0").fetchone()
            return db
        except sqlite3.Error:
            db.close()
            return None

    @staticmethod
    def _use_wal(db: sqlite3.Connection) -> None:
        """Switch the file to WAL once. Two processes opening a new cache at the same moment can
        get "database is locked" from the switch (SQLite does not wait on the busy timeout for
        it), so the one that loses retries for up to ~5 s; the mode is kept in the file after."""
        for attempt in range(60):
            try:
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or attempt == 59:
                    raise
                time.sleep(min(0.2, 0.005 * (attempt + 1)))

    def load(self, prefix: str, algorithm: str) -> dict[str, tuple[FileStat, Digest]]:
        """Every trusted entry whose path starts with ``prefix``."""
        # Racy entries (hashed too soon after their last change) are left out by the query.
        rows = self._db.execute(
            "SELECT path, ino, size, mtime_ns, ctime_ns, hex FROM stat_cache"
            " WHERE algorithm = ? AND path >= ? AND path < ? AND max(mtime_ns, ctime_ns) <= hashed_at_ns - ?",
            (algorithm, prefix, prefix + "\U0010ffff", RACY_WINDOW_NS),
        )
        return {path: (FileStat(ino, size, mtime_ns, ctime_ns), Digest(algorithm, hexpart))
                for path, ino, size, mtime_ns, ctime_ns, hexpart in rows}

    def lookup(self, path: str, st: FileStat, algorithm: str) -> Digest | None:
        """The cached digest of ``path`` if its stat still matches, else None."""
        entry = self.load(path, algorithm).get(path)
        if entry is not None and entry[0] == st:
            return entry[1]
        return None

    def store(self, entries: Iterable[tuple[str, FileStat, Digest]], hashed_at_ns: int | None = None) -> None:
        """Record ``(path, stat, digest)`` triples hashed at ``hashed_at_ns``."""
        when = time.time_ns() if hashed_at_ns is None else hashed_at_ns
        rows = [(p, d.algorithm, s.ino, s.size, s.mtime_ns, s.ctime_ns, d.hex, when) for p, s, d in entries]
        if not rows or self.read_only:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO stat_cache VALUES (?,?,?,?,?,?,?,?)", rows)
        except sqlite3.OperationalError as exc:
            if _busy(exc) or "readonly" not in str(exc):
                raise
            self.read_only = True  # the file became read-only since it was opened: remember nothing more

    def close(self) -> None:
        self._db.close()


def _busy(exc: BaseException) -> bool:
    """Whether an SQLite error is another process holding a lock (worth waiting for, not a fallback)."""
    text = str(exc)
    return "locked" in text or "busy" in text
