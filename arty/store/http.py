"""A store behind an ``art server``: the store's primitives over HTTP (docs/protocol.md).

``ARTY_STORE=https://arty.example.com`` (or the URL ``art login`` saved) makes every layer
above use the server as its store: :func:`arty.store.backends.open_backend` returns an
:class:`HttpBackend` for ``http://`` and ``https://`` URLs. The server checks every path,
authorises it by project, hashes every uploaded blob itself and stamps who wrote each record.

The client keeps one ``requests`` session (keep-alive), bounds every request by
:func:`arty.store.backends.store_timeouts`, and retries connection failures and 502/503/504
with back-off, a bounded number of times (``ARTY_HTTP_RETRIES``, default 4). Every operation
it retries is idempotent: reads and listings; blob uploads (content-addressed); creates (the
server answers a create whose bytes it already holds as done, so a retry after a lost reply
succeeds); lease writes and deletes. Uploads stream from their files and downloads stream
into the caller's, so no file is ever held whole in memory.

Errors: an unreachable server is :class:`StoreUnreachable`; 401/403 are
:class:`StorePermissionDenied` with the server's message and a hint to ``art login``; a
missing file is :class:`FileNotFoundError`, a create that finds another record
:class:`FileExistsError`, a blob the server refused as not matching its digest
:class:`IntegrityError`.
"""

from __future__ import annotations

import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, Callable, Iterable

from arty.errors import IntegrityError, PendingApproval, StoreError, StorePermissionDenied, StoreUnreachable
from arty.store import credentials, layout
from arty.store.backends import Backend, check_range, env_seconds, map_errors, store_timeouts

#: Where the protocol lives on a server.
API = "/api/store/v1"
#: Files up to this size are sent in batches (one request for many); larger ones one by one.
BATCH_FILE = 1024 * 1024
#: The most bytes, and blobs, one batch upload carries.
BATCH_BYTES = 8 * 1024 * 1024
BATCH_COUNT = 1000
#: Paths asked about in one batch existence query.
BATCH_PATHS = 2000
#: Uploads in flight at once.
UPLOAD_THREADS = 4
RETRY_STATUSES = (502, 503, 504)
_STATE = "X-Arty-Store"


def retries() -> int:
    """How many times a failed request is retried (``ARTY_HTTP_RETRIES``, default 4)."""
    raw = os.environ.get("ARTY_HTTP_RETRIES")
    if raw is not None and raw.strip().isdigit():
        return int(raw)
    return 4


class _Retry(Exception):
    """A response worth another attempt (502/503/504)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpBackend(Backend):
    """The store of the ``art server`` at ``url`` (see the module docstring)."""

    protocol = "http"
    supports_create = True
    #: Store asks many existence questions in one request (see Store.missing_blobs).
    batch_queries = True
    #: Writers send loose blobs, which the server hashes again before it stores them; packs
    #: already in the backing store are read (``packs/`` is served read-only).
    takes_packs = False

    def __init__(self, url: str, key: str | None = None) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self.url = credentials.normalise_url(url)
        self.protocol = self.url.split("://", 1)[0]
        self.base = self.url + API
        self.key = key if key is not None else credentials.key_for(self.url)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "arty-store-client/1"
        if self.key:
            self.session.headers["Authorization"] = f"Bearer {self.key}"
        self.timeouts = store_timeouts()
        self.retries = retries()
        self.backoff = env_seconds("ARTY_HTTP_BACKOFF", 0.25)

    # -- requests ------------------------------------------------------------------------

    def _call(self, method: str, endpoint: str, action: str, path: str, *, params: dict[str, Any] | None = None,
              body: Callable[[], Any] | None = None, json: Any = None, stream: bool = False,
              read_timeout: float | None = None, headers: dict[str, str] | None = None) -> Any:
        """One request, retried on connection failures and 502/503/504; errors mapped."""
        import requests

        timeout = (self.timeouts[0], read_timeout or self.timeouts[1])
        delay = self.backoff
        for attempt in range(self.retries + 1):
            data = body() if body is not None else None
            try:
                resp = self.session.request(method, self.base + endpoint, params=params, data=data, json=json,
                                            stream=stream, timeout=timeout, headers=headers)
                if resp.status_code in RETRY_STATUSES:
                    message = _message(resp)
                    resp.close()
                    raise _Retry(resp.status_code, message)
                return self._check(resp, action, path)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    _Retry) as exc:
                if attempt >= self.retries:
                    if isinstance(exc, _Retry):
                        raise StoreUnreachable(
                            f"store unreachable: cannot {action} '{path}' in store '{self.url}': "
                            f"the server answered {exc.status}: {exc.message}",
                            hint="the server or its backing store is down; tracked data stays local until it is "
                                 "back", url=self.url) from None
                    raise _mapped(self.url, action, path, exc) from exc
                time.sleep(delay)
                delay = min(delay * 2, 4.0)
            finally:
                if hasattr(data, "close"):
                    data.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _check(self, resp: Any, action: str, path: str) -> Any:
        status = resp.status_code
        if status < 300 or (status == 416 and resp.headers.get(_STATE) == "past-end"):
            return resp
        message = _message(resp)
        hint = _hint(resp)
        state = resp.headers.get(_STATE)
        resp.close()
        where = f"cannot {action} '{path}' in store '{self.url}'"
        if status == 404 and state == "missing":
            raise FileNotFoundError(path)
        if status == 409 and state == "exists":
            raise FileExistsError(path)
        if status in (401, 403):
            raise StorePermissionDenied(f"permission denied: {where}: {message}",
                                        hint=f"log in with 'art login {self.url}' (or set ARTY_API_KEY)"
                                             + (f"; {hint}" if hint else ""), url=self.url)
        if status == 409 and resp.headers.get("X-Arty-Error") == "pending-approval":
            raise PendingApproval(message, hint, resp.headers.get("X-Arty-Move"))
        if status == 400 and resp.headers.get("X-Arty-Error") == "integrity":
            raise IntegrityError(message, hint)
        if status == 404:
            raise StoreError(f"{where}: {message}",
                             hint=hint or "check the URL: it must name an 'art server' that knows the store protocol",
                             url=self.url)
        raise StoreError(f"{where}: the server answered {status}: {message}", hint=hint, url=self.url)

    def call_api(self, method: str, endpoint: str, json: Any = None) -> Any:
        """One call to the server's JSON API (``/api<endpoint>``) with this client's key; its
        JSON answer. The server's errors (``{"error", "hint"}``) are raised as the error class their
        status stands for: 404 NotFound, 409 ConflictError, 400 UsageError, 403 PermissionDenied;
        401 and the rest as for the store protocol."""
        import requests

        url = self.url + "/api" + endpoint
        try:
            resp = self.session.request(method, url, json=json, timeout=self.timeouts)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _mapped(self.url, method.lower(), endpoint, exc) from exc
        if resp.status_code < 300:
            return resp.json()
        from arty.errors import ConflictError, NotFound, PermissionDenied, UsageError

        message, hint, status = _message(resp), _hint(resp), resp.status_code
        resp.close()
        if status == 404:
            raise NotFound(message, hint)
        if status == 409:
            raise ConflictError(message, hint)
        if status == 400:
            raise UsageError(message, hint)
        if status == 403:
            raise PermissionDenied(message, hint)
        return self._check(resp, method.lower(), endpoint)

    # -- reading -------------------------------------------------------------------------

    def read(self, path: str) -> bytes:
        resp = self._call("GET", "/read", "read", path, params={"path": path}, stream=True)
        try:
            return resp.content
        except Exception as exc:  # noqa: BLE001 - mapped: the server went away mid-answer
            raise _mapped(self.url, "read", path, exc) from exc

    def open_read(self, path: str) -> IO[bytes]:
        resp = self._call("GET", "/read", "open", path, params={"path": path}, stream=True)
        return _Download(resp, self.url, path)  # type: ignore[return-value]

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive), asked with a ``Range`` header (206). A server
        that answers with the whole file (200: one without range support) is sliced here."""
        check_range(start, end)
        if end <= start:
            if not self.exists(path):
                raise FileNotFoundError(path)
            return b""
        resp = self._call("GET", "/read", "read", path, params={"path": path}, stream=True,
                          headers={"Range": f"bytes={start}-{end - 1}"})
        if resp.status_code == 416:  # the range starts past the end of the file
            resp.close()
            return b""
        try:
            data = resp.content
        except Exception as exc:  # noqa: BLE001 - mapped: the server went away mid-answer
            raise _mapped(self.url, "read", path, exc) from exc
        return data if resp.status_code == 206 else data[start:end]

    def _stat(self, path: str) -> dict[str, Any]:
        return self._call("GET", "/stat", "check", path, params={"path": path}).json()

    def exists(self, path: str) -> bool:
        return bool(self._stat(path)["exists"])

    def size(self, path: str) -> int:
        st = self._stat(path)
        if st["size"] is None:
            raise FileNotFoundError(path)
        return int(st["size"])

    def mtime(self, path: str) -> float:
        st = self._stat(path)
        if st["mtime"] is None:
            raise FileNotFoundError(path)
        return float(st["mtime"])

    def missing(self, paths: Iterable[str]) -> set[str]:
        """The paths among ``paths`` that do not exist, asked in batches."""
        todo = list(dict.fromkeys(paths))
        out: set[str] = set()
        for start in range(0, len(todo), BATCH_PATHS):
            part = todo[start:start + BATCH_PATHS]
            resp = self._call("POST", "/missing", "check", f"{len(part)} paths", json={"paths": part})
            out.update(resp.json()["missing"])
        return out

    def list(self, path: str) -> list[str]:
        return self._call("GET", "/list", "list", path, params={"path": path}).json()["names"]

    def list_after(self, path: str, after: str) -> list[str]:
        return self._call("GET", "/list", "list", path, params={"path": path, "after": after}).json()["names"]

    def walk(self, path: str) -> list[str]:
        return self._call("GET", "/walk", "list", path, params={"path": path}).json()["files"]

    # -- writing -------------------------------------------------------------------------

    def write(self, path: str, data: bytes) -> None:
        endpoint = "/blob" if path.startswith(layout.OBJECTS + "/") else "/write"
        self._call("PUT", endpoint, "write", path, params={"path": path}, body=lambda: data)

    def write_many(self, items: dict[str, bytes]) -> None:
        batch: list[tuple[str, bytes]] = []
        size = 0
        for path, data in items.items():
            if len(data) > BATCH_FILE or not path.startswith(layout.OBJECTS + "/"):
                self.write(path, data)
                continue
            batch.append((path, data))
            size += len(data)
            if size >= BATCH_BYTES or len(batch) >= BATCH_COUNT:
                self._send_batch(batch)
                batch, size = [], 0
        if batch:
            self._send_batch(batch)

    def _send_batch(self, batch: list[tuple[str, bytes]]) -> None:
        body = b"".join(b"%d %s\n" % (len(data), path.encode()) + data for path, data in batch)
        self._call("POST", "/blobs", "upload", f"{len(batch)} blobs", body=lambda: body,
                   read_timeout=self._upload_timeout(len(body)))

    def _upload_timeout(self, size: int) -> float:
        """Time to wait for the answer to an upload: the server hashes and stores it first."""
        return self.timeouts[1] * max(1.0, size / (64 * 1024 * 1024))

    def put_file(self, local: str, path: str) -> None:
        size = os.path.getsize(local)
        self._call("PUT", "/blob", "upload", path, params={"path": path}, body=lambda: open(local, "rb"),
                   read_timeout=self._upload_timeout(size))

    def put_many(self, pairs: list[tuple[str, str]]) -> None:
        small: list[tuple[str, str]] = []
        large: list[tuple[str, str]] = []
        for local, path in pairs:
            (small if os.path.getsize(local) <= BATCH_FILE else large).append((local, path))
        jobs: list[Callable[[], None]] = [lambda pair=pair: self.put_file(*pair) for pair in large]
        batch: list[tuple[str, str]] = []
        size = 0
        for local, path in small:
            batch.append((local, path))
            size += os.path.getsize(local)
            if size >= BATCH_BYTES or len(batch) >= BATCH_COUNT:
                jobs.append(lambda b=batch: self._send_files(b))
                batch, size = [], 0
        if batch:
            jobs.append(lambda b=batch: self._send_files(b))
        if len(jobs) <= 1:
            for job in jobs:
                job()
            return
        with ThreadPoolExecutor(min(UPLOAD_THREADS, len(jobs))) as pool:
            for fut in [pool.submit(job) for job in jobs]:
                fut.result()

    def _send_files(self, batch: list[tuple[str, str]]) -> None:
        items = []
        for local, path in batch:
            with open(local, "rb") as f:
                items.append((path, f.read()))
        self._send_batch(items)

    def create(self, path: str, data: bytes) -> None:
        self._call("PUT", "/create", "create", path, params={"path": path}, body=lambda: data,
                   read_timeout=self._upload_timeout(len(data)))

    def delete(self, path: str) -> None:
        self._call("DELETE", "/file", "delete", path, params={"path": path})

    def flush(self) -> None:
        self._call("POST", "/flush", "flush", self.url)


class _Download(io.RawIOBase):
    """A streamed response body as a binary file; a connection lost mid-body is a StoreError."""

    def __init__(self, resp: Any, url: str, path: str) -> None:
        self._resp = resp
        self._raw = resp.raw
        self._url = url
        self._path = path

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            data = self._raw.read(len(b))
        except Exception as exc:  # noqa: BLE001 - mapped: the server went away mid-body
            raise _mapped(self._url, "read", self._path, exc) from exc
        n = len(data)
        b[:n] = data
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            try:
                return self._raw.read()
            except Exception as exc:  # noqa: BLE001
                raise _mapped(self._url, "read", self._path, exc) from exc
        return super().read(size) or b""

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
        super().close()


def _mapped(url: str, action: str, path: str, exc: BaseException) -> BaseException:
    """:func:`map_errors`, with a connection lost in the middle of a body (the server went away)
    counted as unreachable too."""
    names = " ".join(cls.__name__ for cls in type(exc).__mro__)
    if any(n in names for n in ("ChunkedEncoding", "ProtocolError", "IncompleteRead")):
        return StoreUnreachable(f"store unreachable: cannot {action} '{path}' in store '{url}': "
                                f"the connection broke: {exc}",
                                hint="check the server; tracked data stays local until it is back", url=url)
    return map_errors(url, action, path, exc)


def _message(resp: Any) -> str:
    try:
        body = resp.json()
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return body["error"]
    except Exception:  # noqa: BLE001 - not JSON: the start of the text
        pass
    try:
        return (resp.text or resp.reason or "")[:200]
    except Exception:  # noqa: BLE001
        return str(resp.reason or "")


def _hint(resp: Any) -> str | None:
    try:
        body = resp.json()
        hint = body.get("hint") if isinstance(body, dict) else None
        return hint if isinstance(hint, str) else None
    except Exception:  # noqa: BLE001
        return None
