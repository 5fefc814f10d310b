"""Console capture: stdout and stderr at the file-descriptor level, teed to the terminal.

Contract of :class:`ConsoleCapture`:

* :meth:`~ConsoleCapture.start` flushes ``sys.stdout``/``sys.stderr``, keeps a duplicate of file
  descriptors 1 and 2 (the "original" streams) and points each of 1 and 2 at the write end of its
  own pipe. Everything written to those descriptors is captured: ``print``, ``os.write(1, ...)``,
  C extensions writing through libc, and child processes started while the capture runs (they
  inherit the pipe).
* A reader thread per stream copies every byte to the original descriptor as soon as it arrives,
  unchanged and unbuffered, so the terminal shows exactly what it would have shown; it then hands
  the bytes to a single emitter thread through an unbounded queue. The terminal never waits on
  the sink.
* The emitter calls ``sink(timestamp, stream, line)`` for each complete line, ``stream`` being
  ``"stdout"`` or ``"stderr"``, ``timestamp`` the :func:`time.time` at which the line's end was
  read, ``line`` the text (UTF-8, undecodable bytes replaced) without its line end. ``"\\n"``,
  ``"\\r\\n"`` and a lone ``"\\r"`` end a line (so each redraw of a carriage-return progress bar
  is one line; a ``"\\r"`` with nothing before it emits nothing). A line longer than 64 KiB is
  emitted in 64 KiB pieces (cut at a UTF-8 character boundary). The sink is only ever called from
  that one thread, so it need not be thread-safe, but it must not write to stdout/stderr itself
  (that would be captured and fed back to it). An exception from the sink is reported once with
  :func:`warnings.warn`; capture goes on.
* :meth:`~ConsoleCapture.stop` flushes ``sys.stdout``/``sys.stderr`` again, points 1 and 2 back at
  the original streams, lets the readers drain every byte written before that moment, emits each
  stream's unfinished last line, waits for the emitter (up to ``timeout`` seconds in all), and is
  idempotent. After it returns the sink is not called again. A child process that outlives the
  capture still holds its pipe: its later output keeps reaching the terminal through a daemon
  thread (until the child closes the pipe or this process exits) but no longer reaches the sink.
* If descriptor 1 or 2 cannot be duplicated (it is closed), that stream is not captured and one
  :class:`RuntimeWarning` says so; the other stream is still captured.
* Captures nest (stop them in reverse order). Relative order between stdout and stderr lines is
  kept only as far as their arrival at the two readers allows. POSIX only.

Python's ``sys.stdout`` keeps the buffering it chose at startup: block-buffered when the original
stdout was not a terminal, so lines printed from Python then reach the capture at each flush.
"""

from __future__ import annotations

import os
import queue
import select
import sys
import threading
import time
import warnings
from typing import Callable

__all__ = ["ConsoleCapture", "MAX_LINE_BYTES"]

#: Longest line handed to the sink; longer lines are split.
MAX_LINE_BYTES = 64 * 1024

_READ_SIZE = 64 * 1024
_STREAMS = (("stdout", 1), ("stderr", 2))

Sink = Callable[[float, str, str], None]


def _dup_high(fd: int) -> int:
    """A non-inheritable duplicate of ``fd`` numbered 3 or above (never 0, 1 or 2)."""
    try:
        import fcntl  # noqa: PLC0415 (POSIX)

        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    except (ImportError, AttributeError):
        return os.dup(fd)


def _pipe_high() -> tuple[int, int]:
    """A non-inheritable pipe whose ends are numbered 3 or above."""
    r, w = os.pipe()
    try:
        return _dup_high(r), _dup_high(w)
    finally:
        os.close(r)
        os.close(w)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _cut(buf: bytearray | bytes, limit: int) -> int:
    """Where to split ``buf`` at most ``limit`` bytes in, not inside a UTF-8 sequence."""
    cut = limit
    for back in range(4):
        if cut - back <= 0:
            break
        if (buf[cut - back] & 0xC0) != 0x80:  # not a continuation byte: a character starts here
            return cut - back
    return cut


class _LineSplitter:
    """Bytes in, complete lines out (see the module docstring for what ends a line)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.after_cr = False

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        n = len(data)
        i = 0
        if self.after_cr and n:
            self.after_cr = False
            if data[0] == 0x0A:  # the "\n" of a "\r\n" split across reads; its line went out
                i = 1
        while i < n:
            nl = data.find(b"\n", i)
            cr = data.find(b"\r", i, nl if nl >= 0 else n)
            if nl < 0 and cr < 0:
                self._append(data[i:], lines)
                break
            if cr < 0:  # "\n" first
                self._append(data[i:nl], lines)
                lines.append(self._take(len(self.buf)))
                i = nl + 1
                continue
            self._append(data[i:cr], lines)
            if cr + 1 < n and data[cr + 1] == 0x0A:  # "\r\n": one line end, blank lines too
                lines.append(self._take(len(self.buf)))
                i = cr + 2
                continue
            # a lone "\r" (or one that ends this read): ends a line only if there is one
            if self.buf:
                lines.append(self._take(len(self.buf)))
                self.after_cr = cr + 1 == n
            i = cr + 1
        return lines

    def _append(self, piece: bytes, lines: list[str]) -> None:
        self.buf += piece
        while len(self.buf) > MAX_LINE_BYTES:
            lines.append(self._take(_cut(self.buf, MAX_LINE_BYTES)))

    def _take(self, k: int) -> str:
        line = bytes(self.buf[:k])
        del self.buf[:k]
        return line.decode("utf-8", "replace")

    def rest(self) -> str | None:
        """The unfinished last line, if any."""
        if not self.buf:
            return None
        return self._take(len(self.buf))


class _Stream:
    """One captured descriptor: its saved original, its pipe and its reader thread."""

    def __init__(self, name: str, fd: int, out: queue.SimpleQueue) -> None:
        self.name = name
        self.fd = fd
        self.out = out
        self.r = self.w = self.wake_r = self.wake_w = -1
        self.saved = _dup_high(fd)  # raises OSError when fd is closed
        try:
            self.r, self.w = _pipe_high()
            self.wake_r, self.wake_w = _pipe_high()
            os.set_blocking(self.r, False)
        except BaseException:
            self._close_fds()
            raise
        self.lock = threading.Lock()
        self.detached = False  # True: bytes go to the terminal only, fds are the reader's to close
        self.finished = False  # the reader has exited
        self.tee_ok = True
        self.drained = threading.Event()  # everything written before stop() has been handed on
        self.eof = False  # no writer is left: the reader ends right after draining
        self.thread = threading.Thread(target=self._read_loop, name=f"arty-console-{name}", daemon=True)

    def redirect(self) -> None:
        os.dup2(self.w, self.fd)
        os.close(self.w)
        self.w = -1
        self.thread.start()

    def restore(self) -> None:
        with self.lock:
            if self.saved >= 0:
                os.dup2(self.saved, self.fd)

    def request_stop(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass

    def _handle(self, data: bytes) -> None:
        ts = time.time()
        if self.tee_ok:
            try:
                _write_all(self.saved, data)
            except OSError:  # the terminal went away (a closed pipe): keep capturing
                self.tee_ok = False
        with self.lock:
            if not self.detached:
                self.out.put((self.name, ts, data))

    def _read_loop(self) -> None:
        eof = False
        try:
            eof = self._capture_until_stop()
        except Exception:  # never leave the pipe undrained: the program would block on it
            eof = False
        with self.lock:
            if not self.detached:
                self.detached = True
                self.out.put((self.name, time.time(), None))
        self.eof = eof
        self.drained.set()
        if not eof:
            # Someone else (a child process) still holds the pipe: keep the terminal fed.
            try:
                os.set_blocking(self.r, True)
                while True:
                    data = os.read(self.r, _READ_SIZE)
                    if not data:
                        break
                    self._handle(data)
            except OSError:
                pass
        with self.lock:
            self.finished = True
            self._close_fds()

    def _capture_until_stop(self) -> bool:
        """Read until stop() is requested and everything written before it is read.

        Returns True at end of file (no writer left), False when other writers remain.
        """
        poller = select.poll()  # not select(): descriptors may be numbered above 1024
        poller.register(self.r, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        stopping = False
        while True:
            if not stopping:
                events = dict(poller.poll())
                if self.wake_r in events:
                    stopping = True
                elif self.r not in events:
                    continue
            # read what is there; once stopping, until it's all read (EAGAIN)
            try:
                data = os.read(self.r, _READ_SIZE)
            except BlockingIOError:
                if stopping:
                    return False
                continue
            except InterruptedError:
                continue
            if not data:
                return True
            self._handle(data)

    def detach(self) -> None:
        """Stop feeding the sink; the reader closes the fds when it ends (or now, if it has)."""
        with self.lock:
            if not self.detached:
                self.detached = True
                self.out.put((self.name, time.time(), None))
            if self.finished:
                self._close_fds()

    def _close_fds(self) -> None:
        for attr in ("r", "saved", "wake_r", "wake_w", "w"):
            fd = getattr(self, attr)
            if fd >= 0:
                setattr(self, attr, -1)
                try:
                    os.close(fd)
                except OSError:
                    pass


class ConsoleCapture:
    """Capture stdout and stderr (descriptors 1 and 2) line by line into ``sink``.

    ``sink(timestamp, stream, line)`` with ``stream`` ``"stdout"`` or ``"stderr"``; see the module
    docstring for the full contract. Use :meth:`start`/:meth:`stop` or ``with ConsoleCapture(sink):``.
    """

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._streams: list[_Stream] = []
        self._emitter: threading.Thread | None = None
        self._lock = threading.Lock()
        self._active = False
        self._sink_warned = False
        self._session: dict | None = None

    @property
    def active(self) -> bool:
        return self._active

    @property
    def streams(self) -> list[str]:
        """Names of the streams being captured."""
        return [s.name for s in self._streams]

    def start(self) -> "ConsoleCapture":
        """Begin capturing; a no-op when already capturing."""
        with self._lock:
            if self._active:
                return self
            _flush_python_streams()
            q: queue.SimpleQueue = queue.SimpleQueue()
            session = {"sink": True}
            streams: list[_Stream] = []
            failed: list[str] = []
            for name, fd in _STREAMS:
                try:
                    streams.append(_Stream(name, fd, q))
                except OSError as exc:
                    failed.append(f"{name} (fd {fd}: {exc.strerror or exc})")
            for s in streams:
                s.redirect()
            self._streams = streams
            self._session = session
            self._emitter = threading.Thread(target=self._emit_loop, args=(q, len(streams), session),
                                             name="arty-console-sink", daemon=True)
            self._emitter.start()
            self._active = True
        if failed:
            warnings.warn("console capture: cannot capture " + ", ".join(failed)
                          + "; that output is not recorded", RuntimeWarning, stacklevel=2)
        return self

    def _emit_loop(self, q: queue.SimpleQueue, n_streams: int, session: dict) -> None:
        splitters = {name: _LineSplitter() for name, _ in _STREAMS}
        open_streams = n_streams
        while open_streams:
            name, ts, data = q.get()
            if data is None:
                open_streams -= 1
                rest = splitters[name].rest()
                splitters[name].after_cr = False
                if rest is not None:
                    self._call_sink(session, ts, name, rest)
                continue
            for line in splitters[name].feed(data):
                self._call_sink(session, ts, name, line)

    def _call_sink(self, session: dict, ts: float, name: str, line: str) -> None:
        if not session["sink"]:
            return
        try:
            self.sink(ts, name, line)
        except Exception as exc:
            if not self._sink_warned:
                self._sink_warned = True
                warnings.warn(f"console capture: sink failed: {type(exc).__name__}: {exc} "
                              "(further failures are not reported)", RuntimeWarning, stacklevel=1)

    def stop(self, timeout: float = 5.0) -> None:
        """Restore descriptors 1 and 2, deliver the last lines, and end; idempotent."""
        with self._lock:
            if not self._active:
                return
            self._active = False
            deadline = time.monotonic() + timeout
            _flush_python_streams()
            for s in self._streams:
                try:
                    s.restore()
                except OSError:
                    pass
            for s in self._streams:
                s.request_stop()
            for s in self._streams:
                if s.drained.wait(max(0.0, deadline - time.monotonic())) and s.eof:
                    s.thread.join(max(0.0, deadline - time.monotonic()))  # it is closing its fds
                s.detach()  # normally already done by the reader itself
            if self._emitter is not None:
                self._emitter.join(max(0.0, deadline - time.monotonic()))
                if self._emitter.is_alive():
                    # The sink is too slow to catch up: drop the rest rather than hang.
                    if self._session is not None:
                        self._session["sink"] = False
                    warnings.warn("console capture: the sink did not keep up; the last console "
                                  "lines were not recorded", RuntimeWarning, stacklevel=2)
            self._streams = []
            self._emitter = None
            self._session = None

    def __enter__(self) -> "ConsoleCapture":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
