"""The background writer: batches what a run records into segments and mirrors them.

``run.log`` only appends a row to a deque. Every ``flush_interval`` seconds (or
sooner when a buffer is large) this thread turns buffered rows into one
columnar, gzipped segment per stream (``history``, ``system``, ``console``),
writes it to the run's local folder, and uploads what is pending. A store that
fails does not stop anything: records stay local and the upload is retried at
the next flush, then by ``art sync``. A killed process loses at most the rows
of the last interval.
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

#: Rows that trigger a flush before the interval ends (keeps memory flat).
MAX_BUFFERED_ROWS = 10_000
#: With nothing else written for this long, a heartbeat event shows the run is alive.
HEARTBEAT_S = 60.0


class Writer:
    """Owns a run's buffers and the thread that flushes them."""

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
        self.seqs = dict(seqs or {})  # next seq per stream: history, system, console, events
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one flush at a time
        self._last_write = time.monotonic()
        self._store_error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="arty-writer", daemon=True)
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

    def wake(self) -> None:
        self._wake.set()

    def _next(self, stream: str) -> int:
        n = self.seqs.get(stream, 0)
        self.seqs[stream] = n + 1
        return n

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 - the writer must never die
                warnings.warn(f"arty: background flush failed: {exc}", RuntimeWarning, stacklevel=1)

    @staticmethod
    def _drain(dq: collections.deque) -> list[Any]:
        return [dq.popleft() for _ in range(len(dq))]

    def flush(self, upload: bool = True) -> None:
        """Write buffered rows as segments locally, then upload what is pending."""
        with self._lock:
            if self.on_flush is not None:
                self.on_flush()  # e.g. a summary or config snapshot event
            wrote = False
            for stream in ("history", "system"):
                rows = self._drain(getattr(self, stream))
                if stream == "history":
                    for row in rows:  # media values become their JSON form, blobs written first
                        self.media.resolve_row(row)
                if rows:
                    self.folder.write(f"{stream}/{layout.seq_name(self._next(stream))[:-5]}.json.gz",
                                      segments.encode_rows(rows))
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
            if upload:
                self.upload()

    def _write_event(self, ev: dict[str, Any]) -> None:
        from arty.store import now_iso

        seq = self._next("events")
        self.folder.write_json(f"events/{layout.seq_name(seq)}", {"seq": seq, "at": now_iso(), **ev})

    def upload(self) -> bool:
        """Mirror pending records to the store; False (and a single warning) when it fails."""
        if not self.online or self.store is None:
            return False
        try:
            self.folder.sync(self.store, self.project, self.run_id)
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

    def close(self, final: dict[str, Any] | None = None) -> bool:
        """Stop the thread, write the last segments (and ``final.json``), upload. True if all is up."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.media.close()
        self.flush(upload=False)
        if final is not None:
            self.folder.write_json("final.json", final)
        ok = self.upload()
        return ok and not self.folder.pending()
