"""Storage backends: the only code in Arty that touches fsspec.

A backend needs few primitives (read, write, create-if-absent, list, delete,
stream in and out); :class:`arty.store.store.Store` derives everything else.
Paths given to a backend are relative to the store root and ``/``-separated.

Contract shared by every backend:

* ``read``/``open_read``/``read_range`` raise :class:`FileNotFoundError` for a missing path;
* ``read_range(path, start, end)`` returns bytes ``start`` to ``end`` (exclusive) of a file,
  fewer where the file ends first, and fetches only those bytes from a remote backend;
* ``create`` raises :class:`FileExistsError` when the path exists and is atomic:
  of several concurrent creators exactly one succeeds, and readers never see a
  partial file;
* ``list`` of a missing folder is empty;
* every other failure is mapped to a :class:`arty.errors.StoreError` subclass
  that names the store URL and keeps the cause chained. Nothing is swallowed:
  a network failure never reads as "not found".
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import shutil
import threading
import uuid
from typing import IO, Any, Callable, Iterable, TypeVar

from arty.errors import (
    MissingExtra,
    NotFound,
    StoreError,
    StoreFull,
    StorePermissionDenied,
    StoreUnreachable,
    UnsupportedStore,
    UsageError,
)

T = TypeVar("T")

#: Temporary files a local backend writes before renaming start with this.
TMP_PREFIX = ".tmp-"
#: Read size for streaming copies.
CHUNK = 4 * 1024 * 1024

_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH,
                       errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE}
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}
#: Protocols whose fsspec implementation offers an atomic exclusive create.
_ATOMIC_CREATE = {"s3", "s3a", "gs", "gcs", "memory"}
#: Protocols whose stores live in a bucket that must exist first.
_BUCKET_PROTOCOLS = {"s3", "s3a", "gs", "gcs"}
#: Exceptions (by class name) that mean the client found no credentials to sign with.
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError")
#: How to give a backend credentials, by protocol.
CREDENTIALS_HINTS = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run 'aws configure'); "
          "an S3-compatible server also needs AWS_ENDPOINT_URL",
    "gs": "run 'gcloud auth application-default login', or set GOOGLE_APPLICATION_CREDENTIALS to a "
          "service account key file",
}
CREDENTIALS_HINTS["s3a"] = CREDENTIALS_HINTS["s3"]
CREDENTIALS_HINTS["gcs"] = CREDENTIALS_HINTS["gs"]
#: How to create a bucket, by protocol ({b}: its name).
BUCKET_HINTS = {"s3": "create it first ('aws s3 mb s3://{b}'), or check its name",
                "gs": "create it first ('gcloud storage buckets create gs://{b}'), or check its name"}
BUCKET_HINTS["s3a"] = BUCKET_HINTS["s3"]
BUCKET_HINTS["gcs"] = BUCKET_HINTS["gs"]


def bucket_not_found(url: str, bucket: str) -> "NotFound":
    """The error for a store whose bucket does not exist."""
    protocol = url.split("://", 1)[0].lower()
    return NotFound(f"bucket '{bucket}' of store '{url}' does not exist",
                    hint=BUCKET_HINTS.get(protocol, "create it first, or check its name").format(b=bucket))


#: memory:// is one filesystem per process: every backend on it must share one lock.
_MEMORY_LOCK = threading.Lock()


def map_errors(url: str, action: str, path: str, exc: BaseException) -> BaseException:
    """Translate a backend exception into Arty's tree; FileNotFound/Exists pass through."""
    if isinstance(exc, (FileNotFoundError, FileExistsError, StoreError)):
        return exc
    where = f"{action} '{path}' in store '{url}'" if path != url else f"{action} '{url}'"
    names = " ".join(cls.__name__ for cls in type(exc).__mro__)
    err_no = getattr(exc, "errno", None)
    cause_names = {type(e).__name__ for e in _chain(exc)}
    if cause_names.intersection(_NO_CREDENTIALS):
        protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
        return StorePermissionDenied(f"no credentials: cannot {where}",
                                     hint=CREDENTIALS_HINTS.get(protocol, "give the store's credentials"), url=url)
    if isinstance(exc, PermissionError) or err_no in (errno.EACCES, errno.EPERM) or "AccessDenied" in str(exc):
        return StorePermissionDenied(f"permission denied: cannot {where}: {exc}",
                                     hint="check the credentials and the permissions of the store", url=url)
    if err_no in (errno.ENOSPC, errno.EDQUOT):
        return StoreFull(f"no space left: cannot {where}: {exc}", hint="free space or move the store", url=url)
    if (err_no in _UNREACHABLE_ERRNOS or isinstance(exc, (ConnectionError, TimeoutError))
            or "Connect" in names or "Timeout" in names):
        return StoreUnreachable(f"store unreachable: cannot {where}: {exc}",
                                hint="check the network and the endpoint; tracked data stays local until it is back",
                                url=url)
    return StoreError(f"cannot {where}: {type(exc).__name__}: {exc}", url=url)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes and contexts, outermost first (each once)."""
    out: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in out:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def _guard(action: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: map any exception a backend method raises via :func:`map_errors`."""

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def inner(self: "Backend", path: Any, *args: Any, **kwargs: Any) -> T:
            try:
                return fn(self, path, *args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised, mapped
                if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                    raise
                mapped = map_errors(self.url, action, str(path), exc)
                if mapped is exc:
                    raise
                raise mapped from exc

        return inner

    return wrap


class Backend:
    """Primitive operations on one store root. Subclasses implement them."""

    url: str
    protocol: str
    supports_create = True
    #: Whether :meth:`missing` asks about many paths in one round trip (Store then prefers it).
    batch_queries = False

    def read(self, path: str) -> bytes:
        raise NotImplementedError

    def open_read(self, path: str) -> IO[bytes]:
        raise NotImplementedError

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of ``path``: fewer where the file ends first,
        none for an empty range. A backend that can ask for a range fetches only it; this
        default seeks in :meth:`open_read`."""
        check_range(start, end)
        if end <= start:
            if not self.exists(path):
                raise FileNotFoundError(path)
            return b""
        with self.open_read(path) as f:
            f.seek(start)
            out = bytearray()
            while len(out) < end - start:
                chunk = f.read(end - start - len(out))
                if not chunk:
                    break
                out += chunk
            return bytes(out)

    def write(self, path: str, data: bytes) -> None:
        """Write ``data`` at ``path``, replacing it (content-addressed blobs only)."""
        raise NotImplementedError

    def write_many(self, items: dict[str, bytes]) -> None:
        for path, data in items.items():
            self.write(path, data)

    def put_file(self, local: str, path: str) -> None:
        """Copy a local file to ``path``, replacing it (content-addressed blobs only)."""
        raise NotImplementedError

    def put_many(self, pairs: list[tuple[str, str]]) -> None:
        for local, path in pairs:
            self.put_file(local, path)

    def create(self, path: str, data: bytes) -> None:
        """Create ``path`` with ``data`` only if absent; FileExistsError otherwise."""
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        raise NotImplementedError

    def list(self, path: str) -> list[str]:
        """Names directly under folder ``path`` (files and folders); [] if missing."""
        raise NotImplementedError

    def size(self, path: str) -> int:
        raise NotImplementedError

    def missing(self, paths: Iterable[str]) -> set[str]:
        """The paths among ``paths`` that do not exist."""
        return {p for p in paths if not self.exists(p)}

    def list_after(self, path: str, after: str) -> list[str]:
        """The names under folder ``path`` that sort after ``after``, sorted (journal catch-up:
        a backend that can start a listing at a name does less work)."""
        return sorted(n for n in self.list(path) if n > after)

    def walk(self, path: str) -> list[str]:
        """Every file under folder ``path``, as paths relative to it; [] if missing."""
        out: list[str] = []
        for name in self.list(path):
            sub = self.list(f"{path}/{name}")
            if sub and sub != [name]:
                out.extend(f"{name}/{rel}" for rel in self.walk(f"{path}/{name}"))
            else:
                out.append(name)
        return out

    def delete(self, path: str) -> None:
        raise NotImplementedError

    def mtime(self, path: str) -> float:
        """When ``path`` was last written, as a POSIX timestamp; FileNotFoundError if absent."""
        raise NotImplementedError

    def flush(self) -> None:
        """Make every write so far durable (one barrier for a batch of blobs)."""

    def local_path(self, path: str) -> str | None:
        """The path on local disk, where the backend is a local folder."""
        return None

    def missing_bucket(self) -> str | None:
        """The name of the bucket the store lives in when that bucket does not exist (asked
        after a path was not found), else None (also for backends without buckets)."""
        return None

    def ensure_writable(self) -> None:
        if not self.supports_create:
            raise UnsupportedStore(
                f"store '{self.url}' cannot be written: protocol '{self.protocol}' has no atomic create-if-absent",
                hint="use a local folder, memory://, s3:// or gs://", url=self.url)


def _syncfs(fd: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) == 0:
            return
    except (OSError, AttributeError):
        pass
    os.sync()


class LocalBackend(Backend):
    """A folder on local disk, with plain ``os`` calls for speed.

    ``create`` writes a temp file in the same folder, fsyncs it, then
    ``os.link``s it to the final name (fails if it exists): one winner, and the
    file is complete when it appears. ``write`` (blobs) renames a temp file over
    the name without fsync; :meth:`flush` then syncs the filesystem once.
    """

    protocol = "file"

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self.url = self.root
        self._made: set[str] = set()

    def _p(self, path: str) -> str:
        return os.path.join(self.root, path) if path else self.root

    def _parent(self, full: str) -> None:
        parent = os.path.dirname(full)
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)

    @_guard("read")
    def read(self, path: str) -> bytes:
        with open(self._p(path), "rb") as f:
            return f.read()

    @_guard("open")
    def open_read(self, path: str) -> IO[bytes]:
        return open(self._p(path), "rb", buffering=0)

    @_guard("read")
    def read_range(self, path: str, start: int, end: int) -> bytes:
        check_range(start, end)
        fd = os.open(self._p(path), os.O_RDONLY)
        try:
            out = bytearray()
            while len(out) < end - start:
                chunk = os.pread(fd, end - start - len(out), start + len(out))
                if not chunk:
                    break
                out += chunk
            return bytes(out)
        finally:
            os.close(fd)

    @_guard("write")
    def write(self, path: str, data: bytes) -> None:
        full = self._p(path)
        self._parent(full)
        tmp = f"{os.path.dirname(full)}/{TMP_PREFIX}{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, full)

    @_guard("write")
    def put_file(self, local: str, path: str) -> None:
        full = self._p(path)
        self._parent(full)
        tmp = f"{os.path.dirname(full)}/{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            shutil.copyfile(local, tmp)
            os.replace(tmp, full)
        except BaseException:
            _unlink_quietly(tmp)
            raise

    @_guard("write")
    def ingest_stream(self, local: str, algorithm: str, path_of: Callable[[Any], str]) -> Any:
        """Copy ``local`` into a temp file under ``objects/`` while hashing it,
        then rename it to ``path_of(digest)``; returns the digest."""
        from arty.hashing import Digest, new_hasher

        tmp_dir = self._p("objects")
        os.makedirs(tmp_dir, exist_ok=True)
        tmp = f"{tmp_dir}/{TMP_PREFIX}{uuid.uuid4().hex}"
        h = new_hasher(algorithm)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            with open(local, "rb", buffering=0) as src, open(tmp, "wb", buffering=0) as out:
                while True:
                    n = src.readinto(buf)
                    if not n:
                        break
                    h.update(view[:n])
                    write_all(out, view[:n])
            digest = Digest(algorithm, h.hexdigest())
            full = self._p(path_of(digest))
            if os.path.exists(full):
                os.unlink(tmp)
            else:
                self._parent(full)
                os.replace(tmp, full)
            return digest
        except BaseException:
            _unlink_quietly(tmp)
            raise

    @_guard("create")
    def create(self, path: str, data: bytes) -> None:
        full = self._p(path)
        self._parent(full)
        tmp = f"{os.path.dirname(full)}/{TMP_PREFIX}{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.link(tmp, full)  # atomic: fails with FileExistsError if taken
        finally:
            _unlink_quietly(tmp)
        _fsync_dir(os.path.dirname(full))  # the new name survives a power loss

    @_guard("check")
    def exists(self, path: str) -> bool:
        try:
            os.stat(self._p(path))
            return True
        except (FileNotFoundError, NotADirectoryError):  # below a file: nothing there either
            return False

    def has_entries(self, path: str) -> bool:
        """Whether folder ``path`` holds anything (reads one directory block, not the whole
        listing); False for a missing folder."""
        try:
            with os.scandir(self._p(path)) as it:
                return next(it, None) is not None
        except (FileNotFoundError, NotADirectoryError):
            return False

    @_guard("list")
    def list(self, path: str) -> list[str]:
        try:
            return [n for n in os.listdir(self._p(path)) if not n.startswith(TMP_PREFIX)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    @_guard("stat")
    def size(self, path: str) -> int:
        return os.stat(self._p(path)).st_size

    @_guard("list")
    def walk(self, path: str) -> list[str]:
        top = self._p(path)
        out = []
        for here, dirs, files in os.walk(top):
            rel = os.path.relpath(here, top)
            for name in files:
                if not name.startswith(TMP_PREFIX):
                    out.append(name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}")
        return sorted(out)

    @_guard("delete")
    def delete(self, path: str) -> None:
        os.unlink(self._p(path))

    @_guard("stat")
    def mtime(self, path: str) -> float:
        return os.stat(self._p(path)).st_mtime

    def flush(self) -> None:
        try:
            fd = os.open(self.root, os.O_RDONLY)
        except OSError as exc:
            raise map_errors(self.url, "flush", "", exc) from exc
        try:
            _syncfs(fd)
        finally:
            os.close(fd)

    def local_path(self, path: str) -> str:
        return self._p(path)


def check_range(start: int, end: int) -> None:
    """Refuse a byte range with a negative bound (a caller's bug, not the store's)."""
    if start < 0 or end < 0:
        raise UsageError(f"invalid byte range {start}-{end}", hint="offsets count from 0, the end is exclusive")


def write_all(out: IO[bytes], data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to an unbuffered file.

    A raw ``write`` may write less than asked (disk nearly full, a file size
    limit) without raising; the next call then raises. Ignoring the count
    would leave a short file under a digest computed from the whole input.
    """
    view = memoryview(data)
    while view:
        view = view[out.write(view):]


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def create_file(path: str, data: bytes | memoryview, created: list[str]) -> None:
    """Create ``path`` (FileExistsError if anything is there, a link included) holding exactly
    ``data``, with plain descriptor calls (no file object: this runs once per small file of a
    download). ``path`` is appended to ``created`` as soon as it exists, so a caller can remove
    it again if the write fails part way."""
    fd = os.open(path, _NEW_FILE, 0o666)
    try:
        created.append(path)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class FsspecBackend(Backend):
    """Any fsspec filesystem. Writes need a protocol with atomic exclusive create:
    S3 (``If-None-Match: *``), GCS (``ifGenerationMatch=0``), or memory (a lock)."""

    def __init__(self, url: str, fs: Any, root: str) -> None:
        self.url = url
        self.fs = fs
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.protocol = protocol
        self.root = root.rstrip("/")
        self.supports_create = protocol in _ATOMIC_CREATE
        self._lock = _MEMORY_LOCK if protocol == "memory" else None

    def _p(self, path: str) -> str:
        return f"{self.root}/{path}" if path else self.root

    def missing_bucket(self) -> str | None:
        if self.protocol not in _BUCKET_PROTOCOLS:
            return None
        bucket = self.root.split("/", 1)[0]
        try:
            self.fs.info(bucket)
        except FileNotFoundError:
            return bucket
        except Exception as exc:  # noqa: BLE001 - mapped: no credentials, unreachable, denied...
            raise map_errors(self.url, "check bucket", bucket, exc) from exc
        return None

    @_guard("read")
    def read(self, path: str) -> bytes:
        if self.protocol in ("s3", "s3a"):
            # One GET: s3fs otherwise asks for the size first (a HEAD per read) to split
            # large objects into concurrent ranged GETs; what is read whole here is small.
            return self.fs.cat_file(self._p(path), max_concurrency=1)
        return self.fs.cat_file(self._p(path))

    @_guard("open")
    def open_read(self, path: str) -> IO[bytes]:
        return self.fs.open(self._p(path), "rb", block_size=8 * 1024 * 1024, cache_type="readahead")

    @_guard("read")
    def read_range(self, path: str, start: int, end: int) -> bytes:
        check_range(start, end)
        if end <= start:  # fsspec reads an empty range as "to the end": ask whether it exists only
            self.fs.info(self._p(path))
            return b""
        try:
            return self.fs.cat_file(self._p(path), start=start, end=end)
        except Exception as exc:  # S3 and GCS answer a range that starts past the end with 416
            if isinstance(exc, FileNotFoundError) or int(self.fs.info(self._p(path))["size"]) > start:
                raise
            return b""

    def _serialised(self) -> Any:
        """memory:// writes hold the process-wide lock: two threads writing one path
        (the same blob) into fsspec's in-memory files would corrupt its buffer."""
        return self._lock if self._lock is not None else contextlib.nullcontext()

    @_guard("write")
    def write(self, path: str, data: bytes) -> None:
        with self._serialised():
            self.fs.pipe_file(self._p(path), data)

    @_guard("write")
    def write_many(self, items: dict[str, bytes]) -> None:
        if items:
            with self._serialised():
                self.fs.pipe({self._p(k): v for k, v in items.items()})

    @_guard("upload")
    def put_file(self, local: str, path: str) -> None:
        with self._serialised():
            self.fs.put_file(local, self._p(path))

    @_guard("upload")
    def put_many(self, pairs: list[tuple[str, str]]) -> None:
        if pairs:
            with self._serialised():
                self.fs.put([p[0] for p in pairs], [self._p(p[1]) for p in pairs])

    @_guard("create")
    def create(self, path: str, data: bytes) -> None:
        self.ensure_writable()
        if self._lock is not None:
            with self._lock:
                if self.fs.exists(self._p(path)):
                    raise FileExistsError(path)
                self.fs.pipe_file(self._p(path), data)
            return
        self.fs.pipe_file(self._p(path), data, mode="create")

    @_guard("check")
    def exists(self, path: str) -> bool:
        try:
            self.fs.info(self._p(path))
            return True
        except FileNotFoundError:
            return False

    @_guard("list")
    def list(self, path: str) -> list[str]:
        try:
            entries = self.fs.ls(self._p(path), detail=False)
        except FileNotFoundError:
            return []
        prefix = self._p(path).rstrip("/") + "/"
        out = []
        for e in entries:
            e = e.rstrip("/")
            name = e[len(prefix):] if e.startswith(prefix) else e.rsplit("/", 1)[-1]
            if name and "/" not in name:
                out.append(name)
        return out

    @_guard("stat")
    def size(self, path: str) -> int:
        return int(self.fs.info(self._p(path))["size"])

    @_guard("list")
    def walk(self, path: str) -> list[str]:
        base = self._p(path).rstrip("/")
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        prefix = base + "/"
        return sorted(f[len(prefix):] for f in found if f.startswith(prefix) and not f.endswith("/"))

    @_guard("delete")
    def delete(self, path: str) -> None:
        self.fs.rm_file(self._p(path))

    @_guard("stat")
    def mtime(self, path: str) -> float:
        return info_mtime(self.fs.info(self._p(path)))


def info_mtime(info: dict[str, Any]) -> float:
    """The modification time in an fsspec ``info()`` answer, as a POSIX timestamp."""
    import datetime as _dt

    for key in ("LastModified", "updated", "mtime", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=_dt.timezone.utc)
            return value.timestamp()
    raise FileNotFoundError(f"no modification time in {sorted(info)}")


#: Seconds a request to a remote store may wait for the endpoint to answer (each read of the
#: response), and to accept the connection, unless ``ARTY_STORE_TIMEOUT`` and
#: ``ARTY_STORE_CONNECT_TIMEOUT`` say otherwise.
DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 5.0


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from environment variable ``name``, else ``default``."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise UsageError(f"invalid {name} '{raw}'", hint="a number of seconds greater than 0")
    return value


def store_timeouts() -> tuple[float, float]:
    """``(connect, read)`` timeouts in seconds for requests to a remote store.

    ``ARTY_STORE_TIMEOUT`` (default 10) bounds how long a request waits for an
    answer (each read from the connection); ``ARTY_STORE_CONNECT_TIMEOUT``
    (default 5, never more than the read timeout) how long it waits to connect.
    A request that gets no answer in time fails like a refused connection
    (:class:`StoreUnreachable`), after the client's bounded retries.
    """
    read = env_seconds("ARTY_STORE_TIMEOUT", DEFAULT_TIMEOUT)
    connect = env_seconds("ARTY_STORE_CONNECT_TIMEOUT", min(DEFAULT_CONNECT_TIMEOUT, read))
    return connect, read


def _fs_from_url(url: str, storage_options: dict[str, Any] | None = None, what: str = "store") -> tuple[Any, str]:
    """``fsspec.core.url_to_fs`` with missing extras turned into MissingExtra (naming ``what``
    the URL is: ``"store"``, or ``"reference"`` for an object added by reference).

    S3 and GCS clients get connect and read timeouts (:func:`store_timeouts`) and
    bounded retries, so that an endpoint that accepts connections and never
    answers fails within seconds instead of hanging: botocore's ``standard`` mode
    (3 attempts in all) and no second retry loop in s3fs on top of it (s3fs'
    own loop, 5 attempts of botocore's 3, made 15 requests of 15 s each);
    gcsfs retries up to 6 times with its own back-off. ``storage_options`` win
    (``config_kwargs={"read_timeout": ...}``, ``retries=N`` for s3fs,
    ``requests_timeout=...`` for gcsfs), and so do ``AWS_RETRY_MODE`` and
    ``AWS_MAX_ATTEMPTS``.
    """
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    opts = dict(storage_options or {})
    s3_retries: int | None = None
    if protocol in ("s3", "s3a", "gs", "gcs"):
        connect_timeout, read_timeout = store_timeouts()
    if protocol in ("s3", "s3a"):
        opts.setdefault("use_listings_cache", False)
        opts.setdefault("skip_instance_cache", True)
        # A custom endpoint (S3-compatible server) comes from AWS_ENDPOINT_URL_S3 or
        # AWS_ENDPOINT_URL, credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint and "endpoint_url" not in opts.get("client_kwargs", {}):
            opts.setdefault("endpoint_url", endpoint)
        config = dict(opts.get("config_kwargs") or {})
        config.setdefault("connect_timeout", connect_timeout)
        config.setdefault("read_timeout", read_timeout)
        # botocore's default "legacy" retries back off for ~10 s before reporting an
        # unreachable endpoint; "standard" (AWS's recommended mode: 3 attempts, still
        # retrying throttling and transient errors) reports it within a few seconds.
        # AWS_RETRY_MODE / AWS_MAX_ATTEMPTS or config_kwargs={"retries": ...} win.
        if not os.environ.get("AWS_RETRY_MODE"):
            config.setdefault("retries", {"mode": "standard"})
        opts["config_kwargs"] = config
        s3_retries = int(opts.pop("retries", 1))
    elif protocol in ("gs", "gcs"):
        # A custom endpoint (GCS emulator) comes from STORAGE_EMULATOR_HOST, read by gcsfs.
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        # Listings must not be cached: other writers add records (see the s3 case).
        opts.setdefault("use_listings_cache", False)
        opts.setdefault("skip_instance_cache", True)
        if "requests_timeout" not in opts:
            try:
                import aiohttp

                # Per socket operation, not in total: a large upload or download that keeps
                # moving is never cut, one that stalls is.
                opts["requests_timeout"] = aiohttp.ClientTimeout(sock_connect=connect_timeout,
                                                                 sock_read=read_timeout)
            except ImportError:  # gcsfs needs aiohttp: the import below reports what is missing
                pass
    try:
        import fsspec.core
    except ImportError as exc:  # pragma: no cover - fsspec is a base dependency
        raise MissingExtra("fsspec is not installed", hint="pip install arty") from exc
    try:
        fs, root = fsspec.core.url_to_fs(url, **opts)
    except ImportError as exc:
        extra = _EXTRAS.get(protocol)
        if extra:
            raise MissingExtra(f"cannot open {what} '{url}': the '{extra}' extra is not installed",
                               hint=f'pip install "arty[{extra}]"', url=url) from exc
        raise MissingExtra(f"cannot open {what} '{url}': the '{protocol}' backend is not installed",
                           hint=f"install the fsspec implementation for '{protocol}': {exc}", url=url) from exc
    except ValueError as exc:
        raise StoreError(f"cannot open {what} '{url}': {exc}", hint="check the URL", url=url) from exc
    if s3_retries is not None:
        fs.retries = max(1, s3_retries)  # s3fs' own loop around botocore's retries
    return fs, root


def open_backend(url: str, storage_options: dict[str, Any] | None = None) -> Backend:
    """The backend for ``url``: a local path or ``file://`` gets :class:`LocalBackend`, an
    ``http://`` or ``https://`` URL (an ``art server``) :class:`arty.store.http.HttpBackend`
    (``storage_options`` may give its API ``key``), anything else fsspec's."""
    if "://" not in url or url.startswith("file://"):
        return LocalBackend(url[len("file://"):] if url.startswith("file://") else url)
    if url.split("://", 1)[0].lower() in ("http", "https"):
        from arty.store.http import HttpBackend

        return HttpBackend(url, key=(storage_options or {}).get("key"))
    fs, root = _fs_from_url(url, storage_options)
    return FsspecBackend(url.rstrip("/"), fs, root)


class UriReader:
    """Reads objects outside the store by URI (for artifacts added by reference)."""

    def __init__(self, uri: str, storage_options: dict[str, Any] | None = None) -> None:
        self.uri = uri
        self.fs, self.path = _fs_from_url(uri, storage_options, what="reference")
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        self.protocol = protocol

    def _unstrip(self, path: str) -> str:
        return self.fs.unstrip_protocol(path) if self.protocol != "file" else "file://" + path

    def list(self) -> tuple[bool, list[tuple[str, str, dict[str, Any]]]]:
        """``(is_prefix, [(relative name, full uri, info), ...])`` for the URI:
        one object, or every object under it when it names a folder/prefix."""
        try:
            info = self.fs.info(self.path)
            if info.get("type") != "directory":
                return False, [(os.path.basename(self.path.rstrip("/")), self._unstrip(self.path), info)]
            found = self.fs.find(self.path, detail=True)
            base = self.path.rstrip("/") + "/"
            return True, [(full[len(base):], self._unstrip(full), inf) for full, inf in sorted(found.items())
                          if inf.get("type") != "directory"]
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise _uri_error(self.uri, exc) from exc

    def _fs_for(self, uri: str) -> tuple[Any, str]:
        """The filesystem and path for ``uri``: this reader's own client when the
        protocol is the same (a new S3/GCS client costs a fraction of a second)."""
        if uri.split("://", 1)[0] == self.uri.split("://", 1)[0] and self.protocol != "file":
            return self.fs, self.fs._strip_protocol(uri)
        return _fs_from_url(uri, what="reference")

    def info(self, uri: str) -> dict[str, Any]:
        fs, path = self._fs_for(uri)
        try:
            return fs.info(path)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise _uri_error(uri, exc) from exc

    def read_range(self, uri: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the object at ``uri`` (a ranged request)."""
        check_range(start, end)
        fs, path = self._fs_for(uri)
        try:
            return fs.cat_file(path, start=start, end=end) if end > start else b""
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise _uri_error(uri, exc) from exc

    def open(self, uri: str) -> IO[bytes]:
        fs, path = self._fs_for(uri)
        try:
            return fs.open(path, "rb")
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise _uri_error(uri, exc) from exc


#: Protocols that name this machine's files.
LOCAL_PROTOCOLS = ("file", "local")


def is_local_uri(uri: str) -> bool:
    """Whether reading ``uri`` can read this machine's files: a plain path, a ``file:`` or
    ``local:`` URL, a chained URL (``simplecache::file:///x``, ``zip://a::file:///b.zip``),
    or a protocol whose filesystem is local or wraps another (caches, archives, references,
    ``dir``). An unknown protocol counts as remote: reading it fails anyway."""
    if "::" in uri or "://" not in uri:
        return True
    protocol = uri.split("://", 1)[0].lower()
    if protocol in LOCAL_PROTOCOLS:
        return True
    try:
        import fsspec
        from fsspec.archive import AbstractArchiveFileSystem
        from fsspec.implementations.cached import CachingFileSystem
        from fsspec.implementations.dirfs import DirFileSystem
        from fsspec.implementations.local import LocalFileSystem
        from fsspec.implementations.reference import ReferenceFileSystem

        cls = fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError):
        return False
    return issubclass(cls, (LocalFileSystem, CachingFileSystem, AbstractArchiveFileSystem, DirFileSystem,
                            ReferenceFileSystem))


def _uri_error(uri: str, exc: BaseException) -> StoreError:
    mapped = map_errors(uri, "read", uri, exc)
    return mapped if isinstance(mapped, StoreError) else StoreError(f"cannot read '{uri}': {exc}", url=uri)


def iter_chunks(f: IO[bytes], size: int) -> Iterable[bytes]:
    """Read ``f`` in chunks of ``size`` bytes until EOF."""
    while True:
        chunk = f.read(size)
        if not chunk:
            return
        yield chunk
