"""Leases: work in progress that ``art gc`` must not undercut.

A writer stores blobs before the record that names them (a version record, a
history segment): until that record exists, nothing in the store says the
blobs are wanted. So a writer announces its work with a *lease*, a small record
``leases/<id>-write-<n>.json``, and removes it once the naming record exists.
``art gc`` holds a lease of its own (``leases/<id>-gc-<n>.json``) while it
marks and sweeps. The protocol, and why it cannot lose a blob a writer relies
on, is in docs/store-format.md ("Garbage collection"); in short:

* a writer takes its lease (:meth:`Lease.take`) before it writes or relies on
  any blob; taking it also notes the gc passes running at that moment;
* it writes its blobs and checks the ones it reuses, then, before creating the
  naming record, :meth:`Lease.settle` waits until those gc passes have ended
  (then it checks its blobs again) and :meth:`Lease.lapsed` confirms the lease
  never expired;
* gc takes its lease before it reads the writers' leases, and keeps every blob
  a live write lease may own (:func:`read_leases`).

A lease expires ``ttl`` seconds after it was written; the holder renews it in
the background (a new record ``<id>-<kind>-<n+1>.json``, then the old one is
removed), so a long upload or a long gc pass keeps it, and a crashed process
stops blocking gc once its lease expires. Readers allow :data:`CLOCK_SKEW`
seconds of disagreement between clocks. Leases are the one kind of record Arty
deletes: they describe work in progress, not history.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from arty.errors import ArtyError, IntegrityError
from arty.hashing import Digest
from arty.store import layout

from arty.store.store import encode_json, journal_id

if TYPE_CHECKING:
    from arty.store.store import Store

#: Kinds of lease: a writer's, and a gc pass's.
WRITE, GC = "write", "gc"
#: Seconds a write lease lasts unless renewed (a crashed writer blocks gc at most this long, plus the skew).
WRITE_TTL = 300.0
#: Seconds a gc lease lasts unless renewed (a writer waits at most this long, plus the skew, for a killed gc).
GC_TTL = 60.0
#: Seconds by which the clocks of writers, gc and the store may disagree. A reader treats a lease
#: as live until this long after it expires, and a local store's gc keeps blobs modified less
#: than this long before an open lease began.
CLOCK_SKEW = 60.0
#: Longest pause between two polls while a writer waits for a gc pass to end.
MAX_POLL = 1.0
#: A writer that waited this long for a gc pass says so (once).
WAIT_NOTICE = 5.0
_NAME = re.compile(r"^([0-9A-Z]{26})-(write|gc)-(\d+)\.json$")


def who() -> str:
    """``user@host`` of this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def parse_name(name: str) -> tuple[str, str, int] | None:
    """``(id, kind, renewal)`` of a lease file name, or None for any other name."""
    m = _NAME.match(name)
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


@dataclass(frozen=True)
class LeaseInfo:
    """One lease record as read from the store.

    ``open`` leases may own any blob written or relied on since ``started``;
    the others own exactly the trees under ``roots`` and the ``blobs`` they list.
    """

    path: str
    id: str
    kind: str
    by: str
    what: str
    started: float
    expires: float
    open: bool = True
    roots: tuple[Digest, ...] = ()
    blobs: tuple[Digest, ...] = ()
    damaged: bool = False  # the record could not be read: treated as an open lease

    def live(self, now: float) -> bool:
        """Does a reader whose clock says ``now`` still honour this lease?"""
        return now <= self.expires + CLOCK_SKEW

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "by": self.by, "what": self.what,
                "started": self.started, "expires": self.expires, "open": self.open,
                "roots": [str(d) for d in self.roots], "blobs": len(self.blobs)}


def _parse(path: str, lease_id: str, kind: str, rec: Any) -> LeaseInfo:
    if not isinstance(rec, dict):
        raise TypeError("not an object")
    started, expires = rec["started"], rec["expires"]
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (started, expires)):
        raise TypeError("started and expires must be numbers")
    roots = tuple(Digest.parse(d) for d in rec.get("roots") or ())
    blobs = tuple(Digest.parse(d) for d in rec.get("blobs") or ())
    return LeaseInfo(path, lease_id, kind, str(rec.get("by", "")), str(rec.get("what", "")), float(started),
                     float(expires), bool(rec.get("open", True)), roots, blobs)


def read_leases(store: "Store", kinds: Iterable[str] = (WRITE, GC)) -> list[LeaseInfo]:
    """Every lease record of the given kinds in ``store``, live or not.

    A record that cannot be read is reported (a warning naming it) and treated as
    an open lease that began when the file was written and lasts :data:`WRITE_TTL`:
    it may be a writer's, so it protects what a writer's would until it expires.
    A record removed while this runs (its holder finished) is left out.
    """
    wanted = set(kinds)
    out = []
    for name in sorted(store.backend.list(layout.LEASES)):
        parsed = parse_name(name)
        if parsed is None or parsed[1] not in wanted:
            continue
        lease_id, kind, _n = parsed
        path = f"{layout.LEASES}/{name}"
        try:
            raw = store.backend.read(path)
        except FileNotFoundError:
            continue
        try:
            out.append(_parse(path, lease_id, kind, json.loads(raw)))
        except (ValueError, KeyError, TypeError, IntegrityError) as exc:
            try:
                written = store.backend.mtime(path)
            except FileNotFoundError:
                continue
            warnings.warn(f"arty: lease record '{path}' in store '{store.url}' is unreadable ({exc}); "
                          f"treated as a writer's lease until {WRITE_TTL:g}s after it was written",
                          RuntimeWarning, stacklevel=2)
            out.append(LeaseInfo(path, lease_id, kind, "", "", written, written + WRITE_TTL, damaged=True))
    return out


class Lease:
    """A lease this process holds. Use :meth:`take`; release with :meth:`release` or ``with``.

    Thread-safe. While held, a background thread renews it every ``ttl / 3`` seconds.
    """

    def __init__(self, store: "Store", kind: str, what: str, *, roots: Iterable[Digest] | None = None,
                 blobs: Iterable[Digest] | None = None, ttl: float | None = None) -> None:
        if kind not in (WRITE, GC):
            raise ValueError(f"unknown lease kind {kind!r}")
        self.store = store
        self.kind = kind
        self.what = what
        self.id = journal_id()
        self.ttl = float(ttl if ttl is not None else (WRITE_TTL if kind == WRITE else GC_TTL))
        self.roots = tuple(roots or ())
        self.blobs = tuple(blobs or ())
        #: An open lease may own any blob written or reused while it is held (it names none).
        self.open = roots is None and blobs is None
        self.started = time.time()
        self.expires = 0.0
        self._n = -1
        self._path: str | None = None
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._lapsed = False  # expired before it could be renewed: never renewed again
        self._thread: threading.Thread | None = None
        #: Ids of the gc passes that were live when this write lease was taken (see settle).
        self._gc_before: set[str] = set()

    # -- taking, renewing, releasing -------------------------------------------------------

    @classmethod
    def take(cls, store: "Store", kind: str, what: str, *, roots: Iterable[Digest] | None = None,
             blobs: Iterable[Digest] | None = None, ttl: float | None = None) -> "Lease":
        """Write a new lease record and start renewing it.

        A write lease without ``roots`` and ``blobs`` is *open*: it may own any blob
        its holder writes or reuses. Give ``roots`` (manifest trees) and ``blobs`` when
        they are known before the first blob is written: gc then keeps exactly those.
        A write lease also notes the gc passes live right after it is written.
        """
        lease = cls(store, kind, what, roots=roots, blobs=blobs, ttl=ttl)
        lease._write()
        if kind == WRITE:
            try:
                now = time.time()
                lease._gc_before = {g.id for g in read_leases(store, (GC,)) if g.live(now)}
            except BaseException:
                lease.release()
                raise
        lease._thread = threading.Thread(target=lease._renew_loop, name="arty-lease", daemon=True)
        lease._thread.start()
        return lease

    @property
    def path(self) -> str | None:
        """The current record (it changes at each renewal; None once released)."""
        return self._path

    def _record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"kind": self.kind, "by": who(), "pid": os.getpid(), "what": self.what,
                               "started": self.started, "expires": self.expires, "ttl": self.ttl,
                               "open": self.open}
        if self.roots:
            rec["roots"] = [str(d) for d in self.roots]
        if self.blobs:
            rec["blobs"] = [str(d) for d in self.blobs]
        return rec

    def _write(self) -> None:
        """Write the next record (renewal n+1), then remove the previous one. Call with the lock
        held, or before the renewal thread starts."""
        previous = self._path
        self._n += 1
        expires = time.time() + self.ttl
        path = layout.lease(self.id, self.kind, self._n)
        self.store.backend.write(path, encode_json(self._record() | {"expires": expires}))
        self._path, self.expires = path, expires
        if previous is not None:
            _delete_quietly(self.store, previous)

    def renew(self) -> None:
        """Extend the lease by ``ttl`` from now (a new record, then the old one goes).

        A lease that already expired is not renewed: gc may have ignored it meanwhile (the
        process was suspended, say), so it stays lapsed and its holder must start over."""
        with self._lock:
            if self._released.is_set() or self._lapsed:
                return
            if time.time() >= self.expires:
                self._lapsed = True
                return
            self._write()

    def _renew_loop(self) -> None:
        while not self._released.wait(self.ttl / 3):
            try:
                self.renew()
            except (ArtyError, OSError):
                pass  # the store is unreachable: try again; lapsed() tells the holder if it ran out

    def release(self) -> None:
        """Remove the lease record. Idempotent; a record that cannot be removed simply expires."""
        with self._lock:
            if self._released.is_set():
                return
            self._released.set()
            path, self._path = self._path, None
        if path is not None:
            _delete_quietly(self.store, path)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    # -- what a holder checks --------------------------------------------------------------

    def lapsed(self) -> bool:
        """Before relying on the lease for one more step: True if it expired (by this process's
        clock), so gc may already have ignored it. Renews it first when less than half its
        time is left, so the step that follows has at least ``ttl / 2`` seconds."""
        left = self.expires - time.time()
        if left <= 0:
            self._lapsed = True
        if self._lapsed or self._released.is_set():
            return True
        if left < self.ttl / 2:
            self.renew()
        return self._lapsed

    def settle(self) -> bool:
        """Wait until every gc pass that was live when this lease was taken has ended (or its
        lease expired). Returns True if there was any: it may have removed blobs this
        writer checked before, so the caller checks them again. Later calls return False.

        gc passes that began after this lease was written see the lease and keep its blobs,
        so they are not waited for (a writer is never starved by gc passes in a loop).
        """
        if not self._gc_before:
            return False
        started = time.monotonic()
        delay = 0.01
        noticed = False
        while True:
            now = time.time()
            live = [g for g in read_leases(self.store, (GC,)) if g.id in self._gc_before and g.live(now)]
            if not live:
                break
            if not noticed and time.monotonic() - started >= WAIT_NOTICE:
                noticed = True
                warnings.warn(f"arty: waiting for a garbage collection by '{live[0].by}' in store "
                              f"'{self.store.url}' to finish", RuntimeWarning, stacklevel=2)
            time.sleep(delay)
            delay = min(delay * 2, MAX_POLL)
        self._gc_before = set()
        return True


def _delete_quietly(store: "Store", path: str) -> None:
    try:
        store.backend.delete(path)
    except (FileNotFoundError, ArtyError, OSError):
        pass  # gone already, or the store is unreachable: the record expires
