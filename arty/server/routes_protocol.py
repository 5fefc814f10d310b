"""The store protocol over HTTP (``/api/store/v1``): the store's own primitives, so that a client
with no credentials for the backing store uses the server as its store
(:class:`arty.store.http.HttpBackend`). See docs/protocol.md.

Every request names its store path in the ``path`` query parameter; the path is checked
(:func:`arty.server.protocol.check_path`, 400) and authorised by the project it belongs to
(:func:`arty.server.access.require`, 401/403) before anything is read or written. Blobs are
hashed by the server as they arrive and refused (400, nothing written) when the bytes do not
match the digest their path names; records are checked (JSON objects, size-capped) and those
under ``projects/`` stamped with the user who creates them.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from arty.errors import StoreError, UsageError
from arty.hashing import new_hasher
from arty.server import protocol
from arty.server.access import Principal, require, stamp
from arty.server.routes_registry import check_link, pending_move
from arty.server.errors import ApiError, ArtyJSONResponse, error_response
from arty.server.state import state_of
from arty.store import layout
from arty.store.backends import CHUNK, TMP_PREFIX, Backend, write_all

PREFIX = "/store/v1"
router = APIRouter(prefix=PREFIX, tags=["store protocol"])
#: Header telling a client what a 404 or 409 means for the store (not a missing endpoint).
STATE_HEADER = "X-Arty-Store"
#: Header marking a refused blob whose bytes do not match its digest.
ERROR_KIND_HEADER = "X-Arty-Error"
#: Reads up to this size are answered in one body; larger ones stream.
SMALL_READ = 1024 * 1024
#: The most paths one batch query may name, and blobs one batch upload may carry.
MAX_BATCH = 10_000
#: Threads checking many paths at once on a remote backing store.
_POOL = ThreadPoolExecutor(16, thread_name_prefix="arty-protocol")

Q_PATH = Query(..., description="a store path, e.g. projects/p/runs/r/run.json")


def missing(path: str) -> ArtyJSONResponse:
    return error_response(404, f"no such file '{path[:200]}' in the store", None, {STATE_HEADER: "missing"})


#: What a backend raises (itself, or as the cause of the StoreError it maps it to) for a path
#: that names no file: absent, a folder, or below a file.
_NOT_A_FILE = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


def _no_file(exc: BaseException) -> bool:
    """Whether ``exc`` means there is no file at the path (so: 404, not a store failure)."""
    return isinstance(exc, _NOT_A_FILE) or isinstance(exc.__cause__, _NOT_A_FILE)


def _backend(request: Request) -> Backend:
    return state_of(request).store.backend


def _authorise(request: Request, path: str, role_of: Any, allow_root: bool = False) -> tuple[protocol.Scope,
                                                                                              Principal]:
    protocol.check_path(path, allow_root=allow_root)
    scope = protocol.scope_of(path)
    return scope, require(request, scope.project, role_of(scope))


def _create_role(request: Request) -> Any:
    """:func:`protocol.create_role`, and ``admin`` for a move of an alias the project protects
    (``art server protect``): a write key may not move it through the protocol either."""

    def role(scope: protocol.Scope) -> str:
        needed = protocol.create_role(scope)
        moved = protocol.alias_moved(scope)
        if moved is not None and state_of(request).accounts.is_protected(scope.project or "", *moved, fresh=True):
            return "admin"
        return needed

    return role


def _stamp_name(principal: Principal) -> str | None:
    return stamp(principal)


def _readable_projects(request: Request, names: list[str]) -> list[str]:
    """The project names among ``names`` the request may read."""
    out = []
    for name in names:
        try:
            require(request, name, "read")
        except ApiError:
            continue
        out.append(name)
    return out


# -- reading -------------------------------------------------------------------------------


@router.get("", summary="The protocol's version and the store's settings")
def info(request: Request) -> dict[str, Any]:
    principal = require(request, None, "read")
    store = state_of(request).store
    return {"protocol": 1, "format": store.config.get("format"), "hash": store.algorithm,
            "user": principal.name}


@router.get("/read", summary="A file's bytes (streamed; a Range header asks for part: 206)",
            response_class=Response)
def read(request: Request, path: str = Q_PATH) -> Response:
    _authorise(request, path, protocol.read_role)
    wanted = request.headers.get("range")
    if wanted is not None:
        return _read_range(_backend(request), path, wanted)
    try:
        src = _backend(request).open_read(path)
    except (OSError, StoreError) as exc:
        if _no_file(exc):
            return missing(path)
        raise
    first = src.read(SMALL_READ)
    if len(first) < SMALL_READ:
        src.close()
        return Response(first, media_type="application/octet-stream")
    size = _size_of(src)

    def chunks() -> Iterator[bytes]:
        with src:
            yield first
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    return
                yield chunk

    headers = {"Content-Length": str(size)} if size is not None else None
    return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)


#: The one form of Range the protocol answers: a single range, ``bytes=START-END`` (END inclusive,
#: optional) or ``bytes=-N`` (the last N bytes).
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _read_range(backend: Backend, path: str, header: str) -> Response:
    """206 with the bytes a single ``Range`` asks for; 416 when it starts past the end or is not
    one this protocol answers (several ranges, other units); 404 when the file is absent."""
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return error_response(416, f"unsupported range '{header[:100]}'",
                              "ask for one range: 'bytes=START-END' or 'bytes=-N'")
    try:
        size = backend.size(path)
        if m.group(1):
            start = int(m.group(1))
            end = min(int(m.group(2)) + 1, size) if m.group(2) else size
        else:
            start, end = max(size - int(m.group(2)), 0), size
        if start >= size or end <= start:
            return error_response(416, f"range '{header[:100]}' is outside '{path[:200]}' ({size} bytes)", None,
                                  {"Content-Range": f"bytes */{size}", STATE_HEADER: "past-end"})
        headers = {"Content-Range": f"bytes {start}-{end - 1}/{size}", "Content-Length": str(end - start)}
        if end - start <= SMALL_READ:
            return Response(backend.read_range(path, start, end), status_code=206,
                            media_type="application/octet-stream", headers=headers)
        src = backend.open_read(path)
    except (FileNotFoundError, IsADirectoryError):
        return missing(path)

    def chunks() -> Iterator[bytes]:
        with src:
            src.seek(start)
            left = end - start
            while left > 0:
                chunk = src.read(min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    return StreamingResponse(chunks(), status_code=206, media_type="application/octet-stream", headers=headers)


def _size_of(f: Any) -> int | None:
    size = getattr(f, "size", None)
    if isinstance(size, int):
        return size
    try:
        return os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


@router.get("/stat", summary="Whether a file exists, its size and modification time")
def stat(request: Request, path: str = Q_PATH) -> dict[str, Any]:
    _authorise(request, path, protocol.read_role)
    backend = _backend(request)
    try:
        return {"exists": True, "size": backend.size(path), "mtime": backend.mtime(path)}
    except (OSError, StoreError) as exc:
        if not _no_file(exc):
            raise
        return {"exists": backend.exists(path), "size": None, "mtime": None}


@router.post("/missing", summary="Which of many paths are absent (one request for a batch)")
def missing_paths(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    paths = body.get("paths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths) or len(paths) > MAX_BATCH:
        raise UsageError("'paths' must be a list of at most 10000 store paths")
    asked: set[tuple[str | None, str]] = set()
    for p in paths:
        protocol.check_path(p)
        scope = protocol.scope_of(p)
        if (scope.project, scope.kind) not in asked:
            require(request, scope.project, "read")
            asked.add((scope.project, scope.kind))
    backend = _backend(request)
    if backend.local_path("") is not None or len(paths) < 8:
        return {"missing": [p for p in paths if not backend.exists(p)]}
    present = list(_POOL.map(backend.exists, paths))
    return {"missing": [p for p, there in zip(paths, present) if not there]}


@router.get("/list", summary="Names directly under a folder")
def list_folder(request: Request, path: str = Query(""),
                after: str | None = Query(None, max_length=protocol.MAX_PART,
                                          description="only names sorting after this one (journal catch-up)")
                ) -> dict[str, Any]:
    scope, _ = _authorise(request, path, protocol.read_role, allow_root=True)
    names = sorted(_backend(request).list(path))
    if scope.kind == "root":
        names = [n for n in names if n in protocol.SERVED_ROOTS]
    elif scope.kind == "projects":
        names = _readable_projects(request, names)
    if after is not None:
        names = [n for n in names if n > after]
    return {"names": names}


@router.get("/walk", summary="Every file under a folder, relative to it")
def walk(request: Request, path: str = Query("")) -> dict[str, Any]:
    scope, _ = _authorise(request, path, protocol.read_role, allow_root=True)
    files = sorted(_backend(request).walk(path))
    if scope.kind in ("root", "projects"):
        base = "" if scope.kind == "root" else layout.PROJECTS + "/"
        readable: dict[str, bool] = {}

        def served(rel: str) -> bool:
            full = base + rel
            head = full.split("/", 1)[0]
            if head not in protocol.SERVED_ROOTS:
                return False
            if head != layout.PROJECTS:
                return True
            project = full.split("/")[1] if full.count("/") >= 2 else ""
            if project not in readable:
                readable[project] = bool(_readable_projects(request, [project]))
            return readable[project]

        files = [f for f in files if served(f)]
    return {"files": files}


# -- writing -------------------------------------------------------------------------------


async def _body_to_file(request: Request, out: Any, limit: int | None = None) -> int:
    """Stream the request body into file ``out``; returns its length. ClientDisconnect when the
    client goes away before the body ends; 413 past ``limit``."""
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
        if limit is not None and n > limit:
            raise ApiError(413, f"request body too large (limit {limit} bytes)", "large content belongs in blobs")
        write_all(out, chunk)
    _check_length(request, n)
    return n


def _check_length(request: Request, got: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) != got:
        raise ClientDisconnect()


async def _body_bytes(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"request body too large (limit {limit} bytes)", "large content belongs in blobs")
    _check_length(request, len(body))
    return bytes(body)


def _temp_dir(backend: Backend) -> str:
    """Where an upload is received: beside the objects of a local store (so that it is renamed
    into place, never copied), else the system's temp folder."""
    local = backend.local_path(layout.OBJECTS)
    if local is not None:
        os.makedirs(local, exist_ok=True)
        return local
    return tempfile.gettempdir()


class _Upload:
    """One blob being received into a temp file while it is hashed."""

    def __init__(self, backend: Backend, algorithm: str, path: str) -> None:
        self.path = path
        self.expected = protocol.blob_hex(path, algorithm)
        self.tmp = os.path.join(_temp_dir(backend), f"{TMP_PREFIX}{uuid.uuid4().hex}")
        self.out = open(self.tmp, "wb", buffering=0)
        self.hasher = new_hasher(algorithm)
        self.size = 0

    def write(self, chunk: bytes | memoryview) -> None:
        self.hasher.update(chunk)
        write_all(self.out, chunk)
        self.size += len(chunk)

    def finish(self) -> None:
        """Close the temp file; 400 (the temp file removed) when the bytes do not match."""
        self.out.close()
        actual = self.hasher.hexdigest()
        if actual != self.expected:
            self.discard()
            raise Mismatch(400, f"blob '{self.path}' refused: its bytes hash to '{actual}'",
                           "the bytes changed on the way or the client computed the wrong digest")

    def discard(self) -> None:
        if not self.out.closed:
            self.out.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def _commit(backend: Backend, uploads: list[_Upload]) -> None:
    """Put verified uploads into the store: renamed into place on a local store, else streamed
    with ``put_many`` (blobs are content-addressed: one already there is kept)."""
    try:
        if backend.local_path("") is not None:
            for u in uploads:
                final = backend.local_path(u.path)
                assert final is not None
                if os.path.exists(final):
                    continue
                os.makedirs(os.path.dirname(final), exist_ok=True)
                os.replace(u.tmp, final)
        else:
            backend.put_many([(u.tmp, u.path) for u in uploads])
    finally:
        for u in uploads:
            u.discard()


class Mismatch(ApiError):
    """A blob whose bytes do not match the digest its path names (400, marked for the client)."""


async def _integrity_guard(coro: Any) -> Any:
    try:
        return await coro
    except Mismatch as exc:
        return error_response(400, exc.message, exc.hint, {ERROR_KIND_HEADER: "integrity"})


@router.put("/blob", summary="Upload one blob (streamed, hashed, refused on a digest mismatch)")
async def put_blob(request: Request, path: str = Q_PATH) -> Any:
    await run_in_threadpool(_authorise, request, path, lambda s: _blob_role(s))
    state = state_of(request)
    backend = state.store.backend
    upload = _Upload(backend, state.store.algorithm, path)

    async def receive() -> Any:
        try:
            async for chunk in request.stream():
                upload.write(chunk)
            _check_length(request, upload.size)
            upload.finish()
        except BaseException:
            upload.discard()
            raise
        await run_in_threadpool(_commit, backend, [upload])
        return {"path": path, "size": upload.size}

    return await _integrity_guard(receive())


def _blob_role(scope: protocol.Scope) -> str:
    if scope.kind != "objects":
        raise UsageError(f"'{scope.path[:200]}' is not a blob path", hint="blobs live under objects/")
    return "write"


@router.post("/blobs", summary="Upload many blobs in one framed body (each hashed and checked)")
async def put_blobs(request: Request) -> Any:
    """The body is a sequence of frames ``<size> <path>\\n`` followed by ``size`` bytes. Every
    blob is received and checked before any is put into the store: one mismatch refuses the
    batch (400) and nothing is written."""
    await run_in_threadpool(require, request, None, "write")
    state = state_of(request)
    backend, algorithm = state.store.backend, state.store.algorithm
    uploads: list[_Upload] = []

    async def receive() -> Any:
        current: _Upload | None = None
        left = 0
        header = bytearray()
        total = 0
        try:
            async for chunk in request.stream():
                total += len(chunk)
                view = memoryview(chunk)
                while view:
                    if current is None:
                        nl = bytes(view[:1024 - len(header)]).find(b"\n")
                        if nl < 0:
                            header += view
                            if len(header) >= 1024:
                                raise UsageError("malformed batch upload: a frame header is too long")
                            view = view[len(view):]
                            continue
                        header += view[:nl]
                        view = view[nl + 1:]
                        current, left = _open_frame(bytes(header), backend, algorithm)
                        header = bytearray()
                        uploads.append(current)
                        if len(uploads) > MAX_BATCH:
                            raise UsageError(f"batch upload of more than {MAX_BATCH} blobs")
                    take = min(left, len(view))
                    current.write(view[:take])
                    view = view[take:]
                    left -= take
                    if left == 0:
                        current.finish()
                        current = None
            _check_length(request, total)
            if current is not None or header:
                raise UsageError("malformed batch upload: the body ends inside a frame")
        except BaseException:
            for u in uploads:
                u.discard()
            raise
        await run_in_threadpool(_commit, backend, uploads)
        return {"blobs": len(uploads), "size": sum(u.size for u in uploads)}

    return await _integrity_guard(receive())


def _open_frame(header: bytes, backend: Backend, algorithm: str) -> tuple[_Upload, int]:
    size_text, _, path = header.decode("utf-8", "replace").partition(" ")
    if not size_text.isdigit():
        raise UsageError(f"malformed batch upload frame {header[:100]!r}", hint="'<size> <path>\\n' then the bytes")
    protocol.check_path(path)
    if protocol.scope_of(path).kind != "objects":
        raise UsageError(f"'{path[:200]}' is not a blob path", hint="blobs live under objects/")
    return _Upload(backend, algorithm, path), int(size_text)


@router.put("/create", summary="Create a record or file if absent (201; 200 if it holds these bytes; 409)")
async def create(request: Request, path: str = Q_PATH) -> Any:
    scope, principal = await run_in_threadpool(_authorise, request, path, _create_role(request))
    moved = protocol.alias_moved(scope)
    if moved is not None and state_of(request).accounts.approvals(scope.project or "", *moved, fresh=True):
        data = await _body_bytes(request, protocol.MAX_RECORD)
        rec = protocol.check_record(path, data)
        return await run_in_threadpool(pending_move, request, scope.project or "", moved[0], moved[1],
                                       rec.get("version"), principal)
    record = protocol.is_record(scope)
    if not record and not protocol.may_be_opaque(scope):
        raise UsageError(f"'{path[:200]}' must be a record (a .json path)",
                         hint="runs may store other files under runs/<id>/; everything else is JSON")
    data = await _body_bytes(request, protocol.MAX_RECORD if record else protocol.MAX_FILE)
    if record:
        rec = protocol.check_record(path, data)
        if "link" in rec and protocol.is_version_record(scope):
            await run_in_threadpool(check_link, request, path, rec)
        data = protocol.stamped(scope, data, rec, _stamp_name(principal))
    return await run_in_threadpool(_create, _backend(request), path, data)


def _create(backend: Backend, path: str, data: bytes) -> Any:
    try:
        backend.create(path, data)
        return ArtyJSONResponse({"created": True}, status_code=201)
    except FileExistsError:
        pass
    try:
        same = backend.read(path) == data
    except FileNotFoundError:
        same = False
    except (OSError, StoreError) as exc:
        if not _no_file(exc):
            raise
        # a folder at the path, or a file above it: it can never be created
        return error_response(409, f"cannot create '{path[:200]}': a file or folder is in the way",
                              "records are never replaced")
    if same:  # a retried create whose first attempt landed, or identical bytes: nothing to do
        return {"created": False}
    return error_response(409, f"'{path[:200]}' already exists", "records are never replaced",
                          {STATE_HEADER: "exists"})


@router.put("/write", summary="Write a lease record or a sweep's heartbeat (replacing it)")
async def write(request: Request, path: str = Q_PATH) -> Any:
    def role(scope: protocol.Scope) -> str:
        if (scope.kind != "leases" or len(scope.parts) != 2) and not protocol.is_heartbeat(scope):
            raise UsageError(f"cannot replace '{path[:200]}'",
                             hint="records are created once (PUT /create); blobs are uploaded (PUT /blob)")
        return "write"

    await run_in_threadpool(_authorise, request, path, role)
    data = await _body_bytes(request, protocol.MAX_RECORD)
    protocol.check_record(path, data)
    await run_in_threadpool(_backend(request).write, path, data)
    return {"path": path}


@router.delete("/file", summary="Delete a file (leases, sweep heartbeats: write; records and blobs: admin)")
def delete(request: Request, path: str = Q_PATH) -> Any:
    _authorise(request, path, protocol.delete_role)
    try:
        _backend(request).delete(path)
    except (OSError, StoreError) as exc:
        if _no_file(exc):
            return missing(path)
        raise
    return {"deleted": path}


@router.post("/flush", summary="Make every write so far durable")
def flush(request: Request) -> dict[str, Any]:
    require(request, None, "write")
    _backend(request).flush()
    return {"flushed": True}


