"""Fault injection by wrapping a real backend (restic's "error backend").

:func:`wrap` puts a :class:`FaultyBackend` around any real backend (a local
folder, ``memory://``, S3 ...). Every call is delegated to the real backend,
except that the Nth *write point* can

* raise an error the way the real backend would (disk full, permission
  denied, connection lost, timeout), mapped by the backend's own
  :func:`arty.store.backends.map_errors` so callers see Arty's error classes;
* kill the whole process with SIGKILL just before the write (``kill``);
* kill it in the middle of the write (``torn``): a local folder is left with
  the backend's temp file and no final name, as if the process had died
  between writing the bytes and renaming or linking them.

Write points are counted from 1, across every backend the process opens:
one ``write`` per blob (each item of ``write_many``), one ``put`` per file
(each pair of ``put_many``), one ``ingest`` per file streamed into a local
store, one ``create`` per create-if-absent, one ``delete``. Reads
(``read``, ``open``, ``exists``, ``list``, ``size``) and ``flush`` count only
when a plan names them in ``ops``.

The wrapper is a subclass of the wrapped backend's class, so the store takes
the same code paths as with the real backend (``isinstance(b, LocalBackend)``
holds for a wrapped local folder).

From a subprocess, ``tests/fault_cli.py`` reads these variables and then runs
the real CLI:

``ARTY_TEST_FAULT``
    ``KIND@N`` (fail the Nth write point), ``KIND@N+`` (the Nth and every later
    one), optionally ``:op,op`` to count only those operations. KIND is one of
    :data:`ERRORS`, ``kill`` or ``torn``.
``ARTY_TEST_FAULT_LOG``
    a file that gets one line ``N op path`` per write point, written before
    the operation runs (it survives a kill).
``ARTY_TEST_KILL_AFTER``
    seconds after start-up at which the process SIGKILLs itself.
``ARTY_TEST_FSIZE``
    RLIMIT_FSIZE in bytes: a real kernel limit, so a write past it is cut
    short and the next one fails with EFBIG (Python ignores SIGXFSZ).
``ARTY_TEST_BLOCK_IMPORTS``
    comma-separated top-level modules whose import fails, as if not installed.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import uuid
from typing import IO, Any, Callable, Iterable

from arty.store.backends import TMP_PREFIX, Backend, map_errors

#: Errors a fault can raise, by name: what the OS or the network raises.
ERRORS: dict[str, Callable[[str], BaseException]] = {
    "enospc": lambda p: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), p),
    "edquot": lambda p: OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), p),
    "eacces": lambda p: PermissionError(errno.EACCES, os.strerror(errno.EACCES), p),
    "connection": lambda p: ConnectionError(errno.ECONNRESET, "connection reset by peer"),
    "timeout": lambda p: TimeoutError(errno.ETIMEDOUT, "timed out"),
    "eio": lambda p: OSError(errno.EIO, os.strerror(errno.EIO), p),
}
#: Operations that count as write points unless a plan says otherwise.
WRITE_OPS = frozenset({"write", "put", "ingest", "create", "delete"})
#: Every operation a plan may count.
ALL_OPS = WRITE_OPS | {"read", "open", "exists", "list", "size", "flush"}
#: The action word map_errors puts in messages, per operation.
_ACTION = {"write": "write", "put": "write", "ingest": "write", "create": "create", "delete": "delete",
           "read": "read", "open": "open", "range": "read", "exists": "check", "list": "list", "size": "stat", "flush": "flush"}


def kill_self() -> None:
    """SIGKILL this process: no cleanup, no atexit, no flushing of buffers."""
    os.kill(os.getpid(), signal.SIGKILL)


class FaultPlan:
    """When to fail: the ``at``-th counted operation (1-based), once or from then on.

    ``kind`` is a key of :data:`ERRORS`, ``"kill"`` or ``"torn"``; ``None``
    only counts (and logs) the write points. ``calls`` lists every counted
    ``(n, op, path)``; ``failed`` how many faults fired.
    """

    def __init__(self, kind: str | None = None, at: int = 1, *, repeat: bool = False,
                 ops: Iterable[str] = WRITE_OPS, log: str | None = None) -> None:
        if kind is not None and kind not in ERRORS and kind not in ("kill", "torn"):
            raise ValueError(f"unknown fault kind {kind!r}")
        unknown = set(ops) - ALL_OPS
        if unknown:
            raise ValueError(f"unknown operations {sorted(unknown)}")
        if at < 1:
            raise ValueError("write points are counted from 1")
        self.kind = kind
        self.at = at
        self.repeat = repeat
        self.ops = frozenset(ops)
        self.log = log
        self.calls: list[tuple[int, str, str]] = []
        self.failed = 0
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, spec: str, log: str | None = None) -> "FaultPlan":
        """``"enospc@3"``, ``"eacces@2+"``, ``"kill@5:create"``, ``"count"`` (count only)."""
        spec = spec.strip()
        if spec in ("", "count"):
            return cls(None, log=log)
        head, _, ops = spec.partition(":")
        kind, sep, n = head.partition("@")
        if not sep:
            raise ValueError(f"bad fault spec {spec!r}: expected KIND@N[+][:op,op]")
        repeat = n.endswith("+")
        return cls(kind, int(n.rstrip("+")), repeat=repeat,
                   ops=ops.split(",") if ops else WRITE_OPS, log=log)

    @property
    def count(self) -> int:
        """How many counted operations ran (or started) so far."""
        return len(self.calls)

    def hit(self, op: str, path: str) -> str | None:
        """Count ``op``; return the fault kind when this one must fail."""
        if op not in self.ops:
            return None
        with self._lock:
            n = len(self.calls) + 1
            self.calls.append((n, op, path))
            if self.log:
                with open(self.log, "a", encoding="utf-8") as f:
                    f.write(f"{n} {op} {path}\n")
            if self.kind is None or n < self.at or (n > self.at and not self.repeat):
                return None
            self.failed += 1
            return self.kind

    def open_backend(self, real_open: Callable[..., Backend]) -> Callable[..., Backend]:
        """A replacement for ``open_backend`` that wraps each backend with this plan."""

        def open_backend(url: str, storage_options: dict[str, Any] | None = None) -> Backend:
            return wrap(real_open(url, storage_options), self)

        return open_backend


class FaultyBackend(Backend):
    """Delegates to ``inner``; fails where ``plan`` says. Build it with :func:`wrap`."""

    inner: Backend
    plan: FaultPlan

    # -- identity: always the real backend's ----------------------------------

    @property  # type: ignore[override]
    def url(self) -> str:
        return self.inner.url

    @property  # type: ignore[override]
    def protocol(self) -> str:
        return self.inner.protocol

    @property  # type: ignore[override]
    def supports_create(self) -> bool:
        return self.inner.supports_create

    @property
    def root(self) -> str:
        return self.inner.root  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def __repr__(self) -> str:
        return f"<faulty {self.inner!r}>"

    # -- the fault ----------------------------------------------------------------

    def _fault(self, op: str, path: str, data: bytes | None = None, local: str | None = None) -> None:
        """Count ``op``; raise, or die, when the plan says so."""
        kind = self.plan.hit(op, path)
        if kind is None:
            return
        if kind == "kill":
            kill_self()
        if kind == "torn":
            self._tear(path, data, local)
            kill_self()
        exc = ERRORS[kind](path)
        raise map_errors(self.url, _ACTION[op], path, exc) from exc

    def _tear(self, path: str, data: bytes | None, local: str | None) -> None:
        """Leave what a local backend leaves when killed mid-write: a partial
        temp file beside the final name, which is never created."""
        where = self.inner.local_path(path)
        if where is None:
            return  # a remote PUT is all or nothing: the kill alone is the fault
        if data is None and local is not None:
            with open(local, "rb") as f:
                data = f.read()
        data = data or b""
        os.makedirs(os.path.dirname(where), exist_ok=True)
        with open(f"{os.path.dirname(where)}/{TMP_PREFIX}{uuid.uuid4().hex}", "wb") as f:
            f.write(data[: len(data) // 2])

    # -- reads ---------------------------------------------------------------------

    def read(self, path: str) -> bytes:
        self._fault("read", path)
        return self.inner.read(path)

    def open_read(self, path: str) -> IO[bytes]:
        self._fault("open", path)
        return self.inner.open_read(path)

    def read_range(self, path: str, start: int, end: int) -> bytes:
        self._fault("range", path)
        return self.inner.read_range(path, start, end)

    def exists(self, path: str) -> bool:
        self._fault("exists", path)
        return self.inner.exists(path)

    def list(self, path: str) -> list[str]:
        self._fault("list", path)
        return self.inner.list(path)

    def size(self, path: str) -> int:
        self._fault("size", path)
        return self.inner.size(path)

    def local_path(self, path: str) -> str | None:
        return self.inner.local_path(path)

    def ensure_writable(self) -> None:
        self.inner.ensure_writable()

    # -- writes --------------------------------------------------------------------

    def write(self, path: str, data: bytes) -> None:
        self._fault("write", path, data=data)
        self.inner.write(path, data)

    def write_many(self, items: dict[str, bytes]) -> None:
        # One write point per item; the items before a fault are written in one batch.
        done: dict[str, bytes] = {}
        try:
            for path, data in items.items():
                self._fault("write", path, data=data)
                done[path] = data
        finally:
            if done:
                self.inner.write_many(done)

    def put_file(self, local: str, path: str) -> None:
        self._fault("put", path, local=local)
        self.inner.put_file(local, path)

    def put_many(self, pairs: list[tuple[str, str]]) -> None:
        done: list[tuple[str, str]] = []
        try:
            for local, path in pairs:
                self._fault("put", path, local=local)
                done.append((local, path))
        finally:
            if done:
                self.inner.put_many(done)

    def ingest_stream(self, local: str, algorithm: str, path_of: Callable[[Any], str]) -> Any:
        kind = self.plan.hit("ingest", local)
        if kind is None:
            return self.inner.ingest_stream(local, algorithm, path_of)  # type: ignore[attr-defined]
        if kind == "kill":
            kill_self()
        if kind == "torn":
            def die_before_rename(digest: Any) -> str:
                # The temp file under objects/ is complete; it is never renamed.
                kill_self()
                return path_of(digest)  # pragma: no cover - not reached

            return self.inner.ingest_stream(local, algorithm, die_before_rename)  # type: ignore[attr-defined]
        exc = ERRORS[kind](local)
        raise map_errors(self.url, "write", "objects", exc) from exc

    def create(self, path: str, data: bytes) -> None:
        self._fault("create", path, data=data)
        self.inner.create(path, data)

    def delete(self, path: str) -> None:
        self._fault("delete", path)
        self.inner.delete(path)

    def flush(self) -> None:
        self._fault("flush", "")
        self.inner.flush()


_CLASSES: dict[type, type] = {}


def wrap(inner: Backend, plan: FaultPlan) -> Backend:
    """``inner`` behind a :class:`FaultyBackend` following ``plan``."""
    base = type(inner)
    cls = _CLASSES.get(base)
    if cls is None:
        cls = type(f"Faulty{base.__name__}", (FaultyBackend, base), {})
        _CLASSES[base] = cls
    obj = object.__new__(cls)
    obj.__dict__["inner"] = inner
    obj.__dict__["plan"] = plan
    return obj


def install(plan: FaultPlan) -> Callable[[], None]:
    """Make every store this process opens go through ``plan``; returns an undo."""
    import arty.store
    import arty.store.backends
    import arty.store.store

    real = arty.store.backends.open_backend
    patched = plan.open_backend(real)
    modules = (arty.store.backends, arty.store.store, arty.store)
    saved = [(m, m.open_backend) for m in modules]
    for m in modules:
        m.open_backend = patched  # type: ignore[attr-defined]

    def undo() -> None:
        for m, fn in saved:
            m.open_backend = fn  # type: ignore[attr-defined]

    return undo


class _Blocker:
    """A meta-path finder that makes importing some top-level modules fail."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = set(names)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named '{fullname}'", name=fullname)
        return None


def block_imports(names: Iterable[str]) -> None:
    """Make ``import NAME`` fail from now on in this process, as if not installed."""
    names = [n for n in names if n]
    for mod in list(sys.modules):
        if mod.split(".")[0] in names:
            del sys.modules[mod]
    sys.meta_path.insert(0, _Blocker(names))


def install_from_env(environ: dict[str, str] | None = None) -> FaultPlan | None:
    """Apply the ``ARTY_TEST_*`` variables (see the module docstring)."""
    env = os.environ if environ is None else environ
    blocked = env.get("ARTY_TEST_BLOCK_IMPORTS")
    if blocked:
        block_imports(blocked.split(","))
    fsize = env.get("ARTY_TEST_FSIZE")
    if fsize:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (int(fsize), int(fsize)))
        # Python ignores SIGXFSZ already; say so, so that a write past the limit
        # fails with EFBIG instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    after = env.get("ARTY_TEST_KILL_AFTER")
    if after:
        timer = threading.Timer(float(after), kill_self)
        timer.daemon = True
        timer.start()
    spec = env.get("ARTY_TEST_FAULT")
    log = env.get("ARTY_TEST_FAULT_LOG")
    if spec is None and not log:
        return None
    plan = FaultPlan.parse(spec or "count", log=log)
    install(plan)
    return plan


class CountingBackend(Backend):
    """Delegates to a real backend and records every read of an object (path, bytes)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.url = inner.url
        self.protocol = inner.protocol
        self.reads: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["inner"], name)

    def read(self, path: str) -> bytes:
        data = self.inner.read(path)
        self.reads.append((path, len(data)))
        return data

    def open_read(self, path: str) -> IO[bytes]:
        self.reads.append((path, self.inner.size(path)))
        return self.inner.open_read(path)

    def read_range(self, path: str, start: int, end: int) -> bytes:
        data = self.inner.read_range(path, start, end)
        self.reads.append((path, len(data)))
        return data

    def exists(self, path: str) -> bool:
        return self.inner.exists(path)

    def list(self, path: str) -> list[str]:
        return self.inner.list(path)
