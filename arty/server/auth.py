"""The write token: with one configured, a request that changes the store must carry it."""

from __future__ import annotations

import hmac

from fastapi import Request

from arty.server.errors import ApiError


def token_of(request: Request) -> str | None:
    """The token a request carries: ``Authorization: Bearer <token>`` or ``X-Arty-Token``."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-arty-token")


def require_token(request: Request) -> None:
    """A dependency of every write endpoint: 401 unless the server has no token or the request
    carries it (compared in constant time)."""
    expected: str | None = request.app.state.arty.token
    if not expected:
        return
    given = token_of(request)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "this server requires a token for changes" if given is None else "wrong token",
                       "send 'Authorization: Bearer <token>' (the server's --token or ARTY_SERVER_TOKEN)")
