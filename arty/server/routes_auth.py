"""The accounts endpoints: logging in to the UI, who am I, and (server admins) users and keys,
(project admins) members and protected aliases."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from arty.artifacts.names import check_alias, check_name
from arty.server import access, session
from arty.server.accounts import ROLES, check_key_id, check_user
from arty.server.errors import ApiError, ArtyJSONResponse
from arty.server.state import state_of

router = APIRouter(tags=["accounts"])


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: StrictStr = Field(..., max_length=1000)


def _whoami(request: Request, principal: access.Principal, cookie: str | None) -> dict[str, Any]:
    state = state_of(request)
    if principal.admin or principal.open:
        roles = {p: "admin" for p in state.index.projects()}
    elif principal.name == "anonymous":
        roles = {p: "read" for p in sorted(state.public_read)} if state.accounts.has_users() else {}
    else:
        roles = dict(sorted(state.accounts.roles(principal.name).items()))
        for p in state.public_read:
            roles.setdefault(p, "read")
    return {"name": principal.name, "admin": principal.admin or principal.open, "roles": roles,
            "logged_in": principal.name != "anonymous", "open": principal.open,
            "csrf": session.csrf_token(request, cookie) if cookie and principal.via == "session" else None}


@router.post("/session", response_model=None, summary="Log in to the UI with an API key (sets the session cookie)")
def login(request: Request, body: Login) -> Response:
    state = state_of(request)
    if not state.accounts.has_users() and not state.token:
        raise ApiError(400, "this server has no users: there is nothing to log in to",
                       "'art server users add NAME --admin' makes the first user")
    principal = access.principal_of_key(request, body.key.strip())
    if principal is None:
        raise ApiError(401, "invalid or revoked key", "ask a server admin for a key ('art server keys create USER')")
    cookie = session.make_cookie(request, principal)
    response = ArtyJSONResponse(_whoami(request, access.Principal(principal.name, principal.admin, via="session"),
                                        cookie))
    session.set_cookie(request, response, cookie)
    return response


@router.delete("/session", response_model=None, summary="Log out of the UI (clears the session cookie)")
def logout(request: Request) -> Response:
    response = ArtyJSONResponse({"logged_in": False})
    session.clear_cookie(request, response)
    return response


@router.get("/whoami", response_model=None, summary="Who the request's key or session belongs to, and its roles")
def whoami(request: Request) -> dict[str, Any]:
    principal = access.identify(request)
    return _whoami(request, principal, request.cookies.get(session.COOKIE))


# -- users and keys (server admins) -------------------------------------------------------------

class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(..., max_length=64)
    admin: StrictBool = False


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    admin: StrictBool | None = None
    disabled: StrictBool | None = None


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: StrictStr | None = Field(None, max_length=200)


def _user_json(state: Any, name: str) -> dict[str, Any]:
    u = state.accounts.user(name)
    return {"name": name, "admin": u.admin, "disabled": u.disabled, "roles": state.accounts.roles(name)}


@router.get("/users", response_model=None, summary="The users (server admins)")
def list_users(request: Request) -> list[dict[str, Any]]:
    access.require_admin(request)
    state = state_of(request)
    return [{"name": u.name, "admin": u.admin, "disabled": u.disabled, "roles": state.accounts.roles(u.name)}
            for u in state.accounts.users()]


@router.post("/users", response_model=None, status_code=201, summary="Add a user; returns its first key, once")
def add_user(request: Request, body: NewUser) -> Response:
    who = access.require_admin(request)
    accounts = state_of(request).accounts
    user, key = accounts.add_user(body.name, admin=body.admin, by=who.name)
    return ArtyJSONResponse({"name": user.name, "admin": user.admin, "disabled": False, "key": key}, status_code=201)


@router.patch("/users/{name}", response_model=None, summary="Disable, enable, or change a user's admin flag")
def change_user(request: Request, name: str, body: UserChange) -> dict[str, Any]:
    who = access.require_admin(request)
    state = state_of(request)
    check_user(name)
    if body.admin is None and body.disabled is None:
        raise ApiError(400, "nothing to change", "send admin or disabled")
    if body.admin is not None:
        state.accounts.set_admin(name, body.admin, by=who.name)
    if body.disabled is not None:
        state.accounts.disable_user(name, by=who.name, disabled=body.disabled)
    return _user_json(state, name)


@router.get("/users/{name}/keys", response_model=None, summary="A user's keys, without their secrets")
def user_keys(request: Request, name: str) -> list[dict[str, Any]]:
    access.require_admin(request)
    return [k.to_json() for k in state_of(request).accounts.keys(check_user(name))]


@router.post("/users/{name}/keys", response_model=None, status_code=201, summary="A new key for a user, shown once")
def create_key(request: Request, name: str, body: NewKey) -> Response:
    who = access.require_admin(request)
    key, info = state_of(request).accounts.create_key(check_user(name), label=body.label, by=who.name)
    return ArtyJSONResponse({**info.to_json(), "key": key}, status_code=201)


@router.delete("/keys/{key_id}", response_model=None, summary="Revoke a key")
def revoke_key(request: Request, key_id: str) -> dict[str, Any]:
    who = access.require_admin(request)
    accounts = state_of(request).accounts
    accounts.revoke_key(check_key_id(key_id), by=who.name)
    return accounts.key_info(key_id).to_json()


# -- members and protected aliases (project admins) ---------------------------------------------

class Membership(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: StrictStr | None = Field(..., max_length=20, description="read, write, admin, or null for none")


@router.get("/projects/{project}/members", response_model=None, summary="The members of a project and their roles")
def members(request: Request, project: str) -> dict[str, str]:
    access.require(request, check_name(project, "project"), "admin")
    return state_of(request).accounts.members(project)


@router.put("/projects/{project}/members/{user}", response_model=None, summary="Give a user a role on a project")
def set_member(request: Request, project: str, user: str, body: Membership) -> dict[str, str]:
    who = access.require(request, check_name(project, "project"), "admin")
    if body.role is not None and body.role not in ROLES:
        raise ApiError(400, f"invalid role {body.role!r}", "use one of: " + ", ".join(ROLES) + ", or null")
    accounts = state_of(request).accounts
    accounts.grant(check_user(user), project, body.role, by=who.name)
    return accounts.members(project)


@router.delete("/projects/{project}/members/{user}", response_model=None, summary="Take a user's role on a project")
def delete_member(request: Request, project: str, user: str) -> dict[str, str]:
    who = access.require(request, check_name(project, "project"), "admin")
    accounts = state_of(request).accounts
    accounts.grant(check_user(user), project, None, by=who.name)
    return accounts.members(project)


class Protection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    protected: StrictBool
    approvals: StrictInt = 0


@router.put("/projects/{project}/artifacts/{name}/aliases/{alias}/protection", response_model=None,
            summary="Protect an alias (only project admins move it) or unprotect it")
def protect_alias(request: Request, project: str, name: str, alias: str, body: Protection) -> dict[str, Any]:
    who = access.require(request, check_name(project, "project"), "admin")
    check_name(name)
    check_alias(alias)
    accounts = state_of(request).accounts
    accounts.protect(project, name, alias, body.protected, by=who.name, approvals=body.approvals)
    return {"name": name, "protected": accounts.protected(project, name),
            "approvals": {a: accounts.approvals(project, name, a) for a in accounts.protected(project, name)}}
