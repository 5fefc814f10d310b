"""The background writer: batches what a run records into segments and mirrors them.

Two threads, so that a slow or hung store never holds back the local copy:

* the **writer** thread turns buffered rows into one columnar, gzipped segment
  per stream (``history``, ``system``, ``console``) in the run's local folder,
  every ``flush_interval`` seconds, and sooner when half of a buffer's limit
  waits (:data:`MAX_BUFFERED_ROWS` rows or :data:`MAX_BUFFERED_VALUES` values);
* the **uploader** thread mirrors the local folder to the store after each
  local write (and at least every ``flush_interval``). A store that fails
  does not stop anything: records stay local and are uploaded at the next
  attempt, then by ``art sync``.

``run.log`` only appends a row to a deque. When the writer falls behind (rows
come faster than it can encode them), ``run.log`` waits until the buffer is
below its limit again: backpressure on local disk and CPU only, never on the
network. So a process killed with SIGKILL loses at most

* the rows logged in its last ``flush_interval`` seconds plus the time the
  writer takes to write one segment (milliseconds), and
* ``2 * MAX_BUFFERED_ROWS`` rows and ``2 * MAX_BUFFERED_VALUES`` values (one
  full buffer being written, one full buffer waiting).

:meth:`Writer.close` writes the last segments and ``final.json`` locally, then
waits for the upload until a deadline at most; what is not in the store by
then stays in the local folder for ``art sync``.
"""

from __future__ import annotations

import collections
import threading
import time
import warnings
from typing import Any, Callable

from arty.errors import ArtyError
from arty.hashing import DEFAULT_ALGORITHM, Digest
from arty.store import Store, layout
from arty.store import segments
from arty.tracking.local import RunFolder
from arty.tracking.media import MediaEncoder

#: ``run.log`` waits while this many history rows wait to be written locally; the writer
#: writes a segment early when half as many wait.
MAX_BUFFERED_ROWS = 20_000
#: The same limit counted in values (keys of the rows), for wide rows.
MAX_BUFFERED_VALUES = 200_000
#: Console lines or system samples that make the writer write early.
EARLY_LINES = MAX_BUFFERED_ROWS // 2
#: With nothing else written for this long, a heartbeat event shows the run is alive.
HEARTBEAT_S = 60.0


class Writer:
    """Owns a run's buffers, the thread that writes them locally and the one that uploads."""

    def __init__(self, folder: RunFolder, store: Store | None, project: str, run_id: str, *,
                 flush_interval: float = 5.0, online: bool = True, seqs: dict[str, int] | None = None) -> None:
        self.folder = folder
        self.store = store
        self.project = project
        self.run_id = run_id
        self.flush_interval = flush_interval
        self.online = online and store is not None
        self.history: collections.deque[dict[str, Any]] = collections.deque()
        self.system: collections.deque[dict[str, Any]] = collections.deque()
        self.console: collections.deque[list[Any]] = collections.deque()
        self.events: collections.deque[dict[str, Any]] = collections.deque()
        #: Values appended to ``history`` (by the logging thread) and taken from it (by the writer):
        #: each counter has one writer, so their difference is the buffer's size without a lock.
        self.values_in = 0
        self.values_out = 0
        self.seqs = dict(seqs or {})  # next seq per stream: history, system, console, events
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one local flush at a time
        self._room = threading.Condition()  # notified when the writer has taken the buffered rows
        self._last_write = time.monotonic()
        self._store_error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="arty-writer", daemon=True)
        self._upload_wake = threading.Event()
        self._upload_stop = threading.Event()  # set when no more uploads should start
        self._final_requested = False
        self._final_done = threading.Event()  # set by the uploader after the upload close() asked for
        self._final_ok = False
        self._uploader = threading.Thread(target=self._upload_loop, name="arty-upload", daemon=True)
        self.on_flush: Callable[[], None] | None = None
        #: Encodes logged images and tables; their blobs wait in the folder's blobs/ for upload.
        self.media = MediaEncoder(self.put_blob, store.algorithm if store is not None else DEFAULT_ALGORITHM)

    def put_blob(self, digest: Digest, data: bytes) -> None:
        """Keep a media blob in the run folder (``blobs/<algorithm>/<hex>``) until it is uploaded."""
        rel = f"blobs/{digest.algorithm}/{digest.hex}"
        if not self.folder.exists(rel):
            self.folder.write(rel, data)

    def start(self) -> None:
        self._thread.start()
        if self.online:
            self._uploader.start()

    def wake(self) -> None:
        self._wake.set()

    # -- backpressure ----------------------------------------------------------------------------

    def buffered_values(self) -> int:
        return self.values_in - self.values_out

    def full(self) -> bool:
        """Whether the history buffer is at its limit (``run.log`` should wait)."""
        return len(self.history) >= MAX_BUFFERED_ROWS or self.values_in - self.values_out >= MAX_BUFFERED_VALUES

    def over_half(self) -> bool:
        """Whether enough waits for the writer to write a segment before its interval ends."""
        return (len(self.history) >= MAX_BUFFERED_ROWS // 2
                or self.values_in - self.values_out >= MAX_BUFFERED_VALUES // 2
                or len(self.console) >= EARLY_LINES or len(self.system) >= EARLY_LINES)

    def wait_for_room(self) -> None:
        """Block until the writer has taken the buffered rows (or stopped)."""
        with self._room:
            while self.full() and self._thread.is_alive() and not self._stop.is_set():
                self._wake.set()
                self._room.wait(0.5)

    # -- the writer thread -----------------------------------------------------------------------

    def _next(self, stream: str) -> int:
        n = self.seqs.get(stream, 0)
        self.seqs[stream] = n + 1
        return n

    def _loop(self) -> None:
        due = time.monotonic() + self.flush_interval
        while not self._stop.is_set():
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                break
            started = time.monotonic()
            timed = started >= due
            if timed:
                due = started + self.flush_interval
            early = not timed and self.over_half()  # woken by a growing buffer: rows only
            try:
                self.flush(upload=True, snapshot=not early)
            except Exception as exc:  # noqa: BLE001 - the writer must never die
                warnings.warn(f"arty: background flush failed: {exc}", RuntimeWarning, stacklevel=1)

    @staticmethod
    def _drain(dq: collections.deque) -> list[Any]:
        return [dq.popleft() for _ in range(len(dq))]

    def flush(self, upload: bool = True, snapshot: bool = True) -> None:
        """Write buffered rows as segments locally; then let the uploader mirror them.

        ``snapshot`` also records the run's summary and config events (``on_flush``):
        at each timed flush and at the end, not at every early one.
        """
        with self._lock:
            if snapshot and self.on_flush is not None:
                self.on_flush()  # e.g. a summary or config snapshot event
            wrote = False
            rows = self._drain(self.history)
            if rows:
                self.values_out += sum(len(r) for r in rows)
            with self._room:
                self._room.notify_all()  # the logging thread may go on while these are written
            for row in rows:  # media values become their JSON form, blobs written first
                self.media.resolve_row(row)
            for stream, batch in (("history", rows), ("system", self._drain(self.system))):
                if batch:
                    self.folder.write(f"{stream}/{layout.seq_name(self._next(stream))[:-5]}.json.gz",
                                      segments.encode_rows(batch))
                    wrote = True
            lines = self._drain(self.console)
            if lines:
                self.folder.write(f"console/{layout.seq_name(self._next('console'))[:-5]}.json.gz",
                                  segments.encode({"format": 1, "lines": lines}))
                wrote = True
            for ev in self._drain(self.events):
                self._write_event(ev)
                wrote = True
            now = time.monotonic()
            if wrote:
                self._last_write = now
            elif now - self._last_write >= HEARTBEAT_S:
                self._write_event({"kind": "heartbeat"})
                self._last_write = now
                wrote = True
        if upload:
            self._upload_wake.set()

    def _write_event(self, ev: dict[str, Any]) -> None:
        from arty.store import now_iso

        seq = self._next("events")
        self.folder.write_json(f"events/{layout.seq_name(seq)}", {"seq": seq, "at": now_iso(), **ev})

    # -- the uploader thread ---------------------------------------------------------------------

    def _upload_loop(self) -> None:
        while True:
            self._upload_wake.wait(self.flush_interval)
            self._upload_wake.clear()
            if self._upload_stop.is_set():
                return
            final = self._final_requested
            try:
                ok = self.upload()
            except Exception as exc:  # noqa: BLE001 - the uploader must never die: close() waits for it
                warnings.warn(f"arty: background upload failed: {exc}", RuntimeWarning, stacklevel=1)
                ok = False
            if final:
                self._final_ok = ok and not self.folder.pending()
                self._final_done.set()
                return

    def upload(self) -> bool:
        """Mirror pending records to the store; False (and a single warning) when it fails."""
        if not self.online or self.store is None:
            return False
        try:
            self.folder.sync(self.store, self.project, self.run_id, stop=self._upload_stop.is_set)
        except (ArtyError, OSError) as exc:
            msg = getattr(exc, "message", str(exc))
            if self._store_error is None:
                warnings.warn(f"arty: cannot reach the store, run data is kept in {self.folder.root} and "
                              f"uploaded later (or with 'art sync'): {msg}", RuntimeWarning, stacklevel=1)
            self._store_error = msg
            return False
        if self._store_error is not None:
            self._store_error = None
        return True

    @property
    def store_error(self) -> str | None:
        return self._store_error

    def close(self, final: dict[str, Any] | None = None, deadline: float | None = None,
              final_name: str = layout.RUN_FINAL) -> bool:
        """Stop the threads, write the last segments (and ``final``, as ``final_name``: ``final.json``,
        or ``finishes/<n>`` for a finished run resumed), upload. True if all is up.

        The local writes always happen. The upload is waited for until ``deadline``
        (a :func:`time.monotonic` value; None waits as long as it takes): past it,
        no new upload starts and what is left stays local for ``art sync``.
        """
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():  # its flush is local: it ends without waiting on the store
            self._thread.join()
        with self._room:
            self._room.notify_all()
        self.media.close()
        self.flush(upload=False)
        if final is not None:
            self.folder.write_json(final_name, final)
        if not self.online:
            return False
        if not self._uploader.is_alive():
            return False
        self._final_requested = True
        self._upload_wake.set()
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._final_done.wait(timeout):
            self._upload_stop.set()  # the uploader stops after the record it is on
            self._upload_wake.set()
            if self._store_error is None:
                self._store_error = "the store did not answer in time"
            return False
        return self._final_ok
