"""How the server answers when something goes wrong: always JSON ``{"error", "hint"}``.

Statuses: :class:`arty.errors.NotFound` is 404; a bad argument
(:class:`arty.errors.UsageError` and its subclasses, a malformed digest) 400;
a request the framework cannot validate 422; a body over :data:`MAX_BODY`
bytes 413 (the store protocol's streamed uploads have limits of their own); a write without the server's token 401; a bad record in the store
(:class:`arty.errors.BadRecord`) 409; a store that cannot be reached 503.
Anything unexpected is 500, still as JSON. A ``Host`` the server does not
answer to is 400 and a change from another site 403 (:mod:`arty.server.guard`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arty.errors import (ArtyError, BadRecord, ConflictError, IntegrityError, NotFound, PermissionDenied, StoreError,
                         UsageError)

#: The largest request body accepted (bytes).
MAX_BODY = 1024 * 1024
#: Endpoints that stream their bodies and enforce limits of their own (the store protocol).
STREAMED_PREFIXES = ("/api/store/v1/",)


class ApiError(Exception):
    """An error with an HTTP status, raised by a route and rendered as ``{"error", "hint"}``."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


def _finite(obj: Any) -> Any:
    """``obj`` with NaN and infinities as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


class ArtyJSONResponse(JSONResponse):
    """Strict JSON: NaN and infinities (a diverged loss in a summary) are sent as strings,
    since JSON has no token for them."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except ValueError:
            content = _finite(content)
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # text holding a lone surrogate: escaped, still valid JSON
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def error_response(status: int, message: str, hint: str | None = None,
                   headers: dict[str, str] | None = None) -> ArtyJSONResponse:
    return ArtyJSONResponse({"error": message, "hint": hint}, status_code=status, headers=headers)


def status_of(exc: ArtyError) -> int:
    """The HTTP status for an Arty error."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, (ConflictError, BadRecord)):
        return 409  # a bad record: the store's state prevents the answer ('art verify --repair')
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, IntegrityError):
        return 400 if exc.message.startswith("malformed") else 500  # a bad digest given vs. damaged data
    if isinstance(exc, UsageError):
        return 400
    return 400


def install(app: FastAPI) -> None:
    """Register the JSON error handlers and the body-size limit on ``app``."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> ArtyJSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.message, exc.hint, headers)

    @app.exception_handler(ArtyError)
    async def _arty_error(request: Request, exc: ArtyError) -> ArtyJSONResponse:
        return error_response(status_of(exc), exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> ArtyJSONResponse:
        problems = []
        for e in exc.errors()[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "request"
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        return error_response(422, "invalid request: " + "; ".join(problems),
                              "see /docs for what each endpoint takes")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> ArtyJSONResponse:
        if exc.status_code == 404:
            return error_response(404, f"no such endpoint '{request.url.path}'", "see /docs for the API")
        return error_response(exc.status_code, str(exc.detail).lower(), None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> ArtyJSONResponse:
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}",
                              "please report this with the request that caused it")

    app.add_middleware(BodyLimit, limit=MAX_BODY)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not they say their length."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS")
                or str(scope.get("path", "")).startswith(STREAMED_PREFIXES)):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.limit
            except ValueError:
                await error_response(400, "invalid Content-Length header")(scope, receive, send)
                return
            if too_big:
                await self._refuse(scope, receive, send)
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, f"request body too large (limit {self.limit} bytes)",
                                  "send less: notes and tags are small")
        await response(scope, receive, send)
