"""Who a request comes from, and what it may do: the one place routes ask.

Every route that reads or changes a project calls :func:`require` with the project and the
role it needs; store-wide routes pass ``project=None``. The answer is the
:class:`Principal` the change is stamped with, or an :class:`arty.server.errors.ApiError`
(401 without valid credentials, 403 without the role), raised before anything is written.

Roles, per project, each including the ones before it: ``read`` (see runs, artifacts, the
UI), ``write`` (log runs, add versions, move unprotected aliases, edit notes and tags),
``admin`` (delete, gc, protected aliases, grants). A server admin holds every role.

Credentials, in this order: ``Authorization: Bearer <key>`` (or ``X-Arty-Token: <key>``),
else the UI's session cookie (:mod:`arty.server.session`; a change made with it must carry
the session's CSRF token in ``X-Arty-CSRF``). A key is a user's API key
(:mod:`arty.server.accounts`) or the server's legacy ``--token`` (the server admin
``"token"``).

Modes, from what the store and the command line hold:

* no users and no ``--token``: open, as a server on one's own machine has always been
  (every request is ``"anonymous"`` with every role);
* no users, a ``--token``: reads open, changes need the token;
* users exist: every request needs a key or a session (401 without), except reads of the
  projects opened with ``--public-read``; the role is then checked (403 without).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from arty.artifacts.names import check_name
from arty.server.accounts import ROLES
from arty.server.errors import ApiError

#: The methods that change nothing (no CSRF token needed, ``Origin`` not checked).
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: The header carrying a session's CSRF token on changes.
CSRF_HEADER = "x-arty-csrf"
LOGIN_HINT = "log in on the server's page, run 'art login URL', or send 'Authorization: Bearer <key>'"


@dataclass(frozen=True)
class Principal:
    """The user a request acts as. ``name`` is stamped on what the request writes."""

    name: str
    #: A server admin: every role on every project, and user management.
    admin: bool = False
    #: The id of the API key the request carried (never its secret); None for a session
    #: cookie's user, the legacy token or an open server.
    key_id: str | None = None
    #: How the request proved who it is: "key", "token", "session", or None (no credentials).
    via: str | None = None
    #: An open server's anonymous principal (no users, no token): every role.
    open: bool = False


def role_rank(role: str) -> int:
    """The position of ``role`` in :data:`ROLES` (ValueError for an unknown role)."""
    return ROLES.index(role)


def credentials_of(request: Request) -> str | None:
    """The key a request carries: ``Authorization: Bearer <key>`` or ``X-Arty-Token``."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-arty-token")


def _state(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.arty


def locked(request: Request) -> bool:
    """Whether the server needs credentials for reads (users exist in its store)."""
    return bool(_state(request).accounts.has_users())


def principal_of_key(request: Request, key: str) -> Principal | None:
    """The principal ``key`` (a user's API key or the legacy token) stands for, else None."""
    state = _state(request)
    token = state.token
    if token and hmac.compare_digest(key.encode("utf-8", "surrogatepass"), token.encode()):
        return Principal("token", admin=True, via="token")
    user = state.accounts.check_key(key)
    if user is None:
        return None
    from arty.server.accounts import split_key

    parts = split_key(key)
    return Principal(user.name, admin=user.admin, key_id=parts[0] if parts else None, via="key")


def identify(request: Request) -> Principal:
    """Who ``request`` comes from: the principal of its key or session, or ``"anonymous"``
    when it carries none (``open`` when the server has neither users nor a token).

    A key or session that is wrong, revoked, expired or of a disabled user is 401 (on a
    server with users or a token; an open server ignores credentials); a change made
    with a session cookie and without its CSRF token is 403.
    """
    from arty.server import session

    state = _state(request)
    has_users = state.accounts.has_users()
    guarded = has_users or bool(state.token)
    key = credentials_of(request)
    if key is not None:
        if not guarded:
            return Principal("anonymous", open=True)
        found = principal_of_key(request, key)
        if found is None:
            raise ApiError(401, "wrong token" if not has_users else "invalid or revoked key",
                           "send 'Authorization: Bearer <token>' (the server's --token or ARTY_SERVER_TOKEN)"
                           if not has_users else "ask a server admin for a key ('art server keys create USER')")
        return found
    cookie = request.cookies.get(session.COOKIE)
    if cookie and guarded:
        found = session.principal_of_cookie(request, cookie)
        if found is None:
            raise ApiError(401, "your session has ended (logged out, key revoked or expired)", LOGIN_HINT)
        if request.method not in SAFE_METHODS:
            given = request.headers.get(CSRF_HEADER) or ""
            if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                       session.csrf_token(request, cookie).encode()):
                raise ApiError(403, "change refused: missing or wrong CSRF token",
                               f"a page of this server sends the token of its session in '{CSRF_HEADER}'; "
                               "scripts send 'Authorization: Bearer <key>' instead of the cookie")
        return found
    return Principal("anonymous", open=not guarded)


def allows(request: Request, principal: Principal, project: str | None, role: str) -> bool:
    """Whether ``principal`` holds ``role`` on ``project`` (``None``: on at least one project)."""
    rank = role_rank(role)
    state = _state(request)
    if principal.admin or principal.open:
        return True
    if principal.name == "anonymous":
        if not state.accounts.has_users():  # a token, no users: reads are open
            return rank == 0
        public = state.public_read
        return rank == 0 and (bool(public) if project is None else project in public)
    if rank == 0 and (project in state.public_read or (project is None and state.public_read)):
        return True
    if project is None:
        return any(role_rank(r) >= rank for r in state.accounts.roles(principal.name).values())
    held = state.accounts.role(principal.name, project)
    return held is not None and role_rank(held) >= rank


def require(request: Request, project: str | None, role: str) -> Principal:
    """The principal of ``request`` if it holds ``role`` on ``project`` (``None``: the store as a
    whole, e.g. blobs and the journal: any project's ``role`` is enough); else ApiError 401/403.
    """
    role_rank(role)
    if project is not None:
        check_name(project, "project")  # before it names a record of auth/
    principal = identify(request)
    if allows(request, principal, project, role):
        return principal
    if principal.name == "anonymous":
        if not _state(request).accounts.has_users():
            raise ApiError(401, "this server requires a token for changes",
                           "send 'Authorization: Bearer <token>' (the server's --token or ARTY_SERVER_TOKEN)")
        raise ApiError(401, "this server requires a key", LOGIN_HINT)
    where = f"on project '{project}'" if project is not None else "on any project"
    hint = ("only a server admin may do this" if project is None and role == "admin" else
            f"a project admin grants it: art server grant {principal.name} {project or 'PROJECT'} --role {role}")
    raise ApiError(403, f"user '{principal.name}' has no '{role}' role {where}", hint)


def require_admin(request: Request) -> Principal:
    """The principal of ``request`` if it is a server admin; else ApiError 401/403."""
    principal = identify(request)
    if principal.admin or principal.open:
        return principal
    if principal.name == "anonymous":
        raise ApiError(401, "this server requires a key", LOGIN_HINT)
    raise ApiError(403, f"user '{principal.name}' is not a server admin",
                   "a server admin makes one: art server users add NAME --admin")


def stamp(principal: Principal) -> str | None:
    """The name to stamp on what ``principal`` writes; None on an open server (the writer's
    own ``user@host`` is used then, as everywhere else)."""
    return None if principal.open else principal.name
