"""Who a request comes from, and what it may do: the one place routes ask.

Every route that reads or changes a project calls :func:`require` with the project and the
role it needs; store-wide routes pass ``project=None``. The answer is the
:class:`Principal` the change is stamped with, or an :class:`arty.server.errors.ApiError`
(401 without valid credentials, 403 without the role), raised before anything is written.

Roles, per project, each including the ones before it: ``read`` (see runs, artifacts, the
UI), ``write`` (log runs, add versions, move unprotected aliases, edit notes and tags),
``admin`` (delete, gc, protected aliases, grants). A server admin holds every role.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from arty.server.errors import ApiError

#: The roles, weakest first; each includes the ones before it.
ROLES = ("read", "write", "admin")


@dataclass(frozen=True)
class Principal:
    """The user a request acts as. ``name`` is stamped on what the request writes."""

    name: str
    #: A server admin: every role on every project, and user management.
    admin: bool = False
    #: The id of the API key the request carried (never its secret); None for a session
    #: cookie's user, the legacy token or an open server.
    key_id: str | None = None


def role_rank(role: str) -> int:
    """The position of ``role`` in :data:`ROLES` (ValueError for an unknown role)."""
    return ROLES.index(role)


def _token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-arty-token")


def require(request: Request, project: str | None, role: str) -> Principal:
    """The principal of ``request`` if it holds ``role`` on ``project`` (``None``: the store as a
    whole, e.g. blobs and the journal: any project's ``role`` is enough); else ApiError 401/403.

    This first version knows the single write token of ``art server --token`` only: without
    a token the server is open; with one, reads are open and changes need it.
    """
    role_rank(role)
    expected: str | None = request.app.state.arty.token
    if not expected or role == "read":
        return Principal("anonymous")
    given = _token_of(request)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "this server requires a token for changes" if given is None else "wrong token",
                       "send 'Authorization: Bearer <token>' (the server's --token or ARTY_SERVER_TOKEN)")
    return Principal("token", admin=True)


def require_admin(request: Request) -> Principal:
    """The principal of ``request`` if it is a server admin; else ApiError 401/403."""
    return require(request, None, "admin")
