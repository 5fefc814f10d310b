"""The registry endpoints: registries, their collections and linked versions, alias history, and
the pending moves of protected aliases with their approval (docs/registry.md).

A protected alias whose protection asks for an approval (``art server protect ... --approvals 1``)
is never moved by one person through this server: an admin's move (the UI's, the API's, or an
alias record created through the store protocol) becomes a pending move
(:mod:`arty.artifacts.approvals`), and another admin of the project approves or rejects it here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, StrictStr

from arty.artifacts import approvals, links
from arty.artifacts.names import check_alias, check_name, is_name
from arty.errors import ConflictError, NotFound, UsageError
from arty.server import access
from arty.server.errors import ApiError, ArtyJSONResponse, error_response
from arty.server.state import state_of
from arty.store import layout
from arty.store.leases import who as _who

router = APIRouter(tags=["registry"])


def actor(principal: access.Principal) -> str:
    """The name a decision is recorded under: the user, or ``user@host`` of the server on an
    open server (which has no users: there, nobody can approve another's move)."""
    return access.stamp(principal) or _who()


def _readable(request: Request, project: str) -> bool:
    try:
        access.require(request, project, "read")
    except ApiError:
        return False
    return True


def _can_admin(request: Request, project: str) -> bool:
    try:
        access.require(request, project, "admin")
    except ApiError:
        return False
    return True


def propose(request: Request, project: str, name: str, alias: str, version: int,
            principal: access.Principal) -> dict[str, Any]:
    """Record ``principal``'s move of a protected alias that needs an approval as pending."""
    move = approvals.propose(state_of(request).store, project, name, alias, version, actor(principal))
    state_of(request).index.catch_up()
    return move


def pending_move(request: Request, project: str, name: str, alias: str, version: Any,
                 principal: access.Principal) -> ArtyJSONResponse:
    """For the store protocol: an alias record created for an alias that needs an approval is
    recorded as a pending move instead, and the client told so (409, ``X-Arty-Error:
    pending-approval``, ``X-Arty-Move``): the alias has not moved."""
    if type(version) is not int:
        raise ConflictError(f"alias '{name}:{alias}' of project '{project}' is protected and each move needs an "
                            "approval: it cannot be removed", hint="unprotect it first: 'art server protect --off'")
    move = propose(request, project, name, alias, version, principal)
    return error_response(409, pending_message(project, name, alias, move), approve_hint(project, name, alias, move),
                          {"X-Arty-Error": "pending-approval", "X-Arty-Move": move["id"]})


def pending_message(project: str, name: str, alias: str, move: dict[str, Any]) -> str:
    return (f"move of alias '{name}:{alias}' of project '{project}' to v{move['version']} waits for another "
            f"admin's approval (move {move['id']})")


def approve_hint(project: str, name: str, alias: str, move: dict[str, Any]) -> str:
    return f"another admin runs 'art alias approve {project}/{name}:{alias} {move['id']}'"


def check_link(request: Request, path: str, rec: dict[str, Any]) -> None:
    """For the store protocol: a version record that links another version (``art link``) may be
    created only by someone who may read the source's project, and must hold the source's
    content (its digest); else 403 or 400, and nothing is written."""
    got = links.link_of(rec)
    if got is None:
        raise UsageError(f"record '{path[:200]}' has a 'link' that does not name a version",
                         hint='"link": {"project", "name", "version"}')
    access.require(request, got[0], "read")
    try:
        source = state_of(request).registry(got[0]).version(got[1], got[2])
    except NotFound:
        raise UsageError(f"record '{path[:200]}' links '{got[0]}/{got[1]}:v{got[2]}', which does not exist",
                         hint="link a version that exists") from None
    if rec.get("digest") != str(source.digest):
        raise UsageError(f"record '{path[:200]}' links '{got[0]}/{got[1]}:v{got[2]}' but holds other content",
                         hint="a link holds its source's digest")


# -- reading -------------------------------------------------------------------------------------


@router.get("/registries", response_model=None, summary="The registries of the store and their collections")
def list_registries(request: Request) -> list[dict[str, Any]]:
    access.require(request, None, "read")
    store = state_of(request).store
    out = []
    for name in links.registries(store):
        if not _readable(request, name):
            continue
        cols = state_of(request).registry(name).names()
        out.append({"name": name, "collections": cols})
    return out


@router.get("/registries/{registry}", response_model=None,
            summary="A registry: its collections, linked versions with their source, aliases, alias history "
                    "and pending moves")
def get_registry(request: Request, registry: str) -> dict[str, Any]:
    principal = access.require(request, registry, "read")
    state = state_of(request)
    reg = state.registry(registry)
    out = []
    for col in links.collections(state.store, registry):
        item = col.to_json()
        history = {}
        for alias in state.store.list(layout.aliases(registry, col.name)):
            history[alias] = [{k: v for k, v in m.items() if k != "nonce"}
                              | {"version": None if m["version"] is None else f"v{m['version']}"}
                              for m in reg.alias_history(col.name, alias)]
        item["history"] = history
        item["protected"] = {a: state.accounts.approvals(registry, col.name, a)
                             for a in state.accounts.protected(registry, col.name)}
        item["pending"] = approvals.moves(state.store, registry, col.name)
        out.append(item)
    return {"name": registry, "collections": out, "user": access.stamp(principal),
            "can_approve": _can_admin(request, registry)}


@router.get("/moves", response_model=None, summary="Pending moves of protected aliases")
def list_moves(request: Request, project: str | None = Query(None, max_length=200),
               all: bool = Query(False, description="decided moves too")) -> list[dict[str, Any]]:
    access.require(request, project, "read")
    store = state_of(request).store
    projects = [check_name(project, "project")] if project else [
        p for p in store.list(layout.PROJECTS) if is_name(p) and _readable(request, p)]
    return [m for p in projects for m in approvals.moves(store, p, pending_only=not all)]


# -- deciding ------------------------------------------------------------------------------------


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    move: StrictStr | None = None


def _decide(request: Request, project: str, name: str, alias: str, body: Decision, approve: bool) -> dict[str, Any]:
    check_name(project, "project")
    check_name(name)
    check_alias(alias)
    principal = access.require(request, project, "admin")
    state = state_of(request)
    fn = approvals.approve if approve else approvals.reject
    move = fn(state.store, project, name, alias, body.move, actor(principal))
    state.index.catch_up()
    return move


@router.post("/projects/{project}/artifacts/{name}/aliases/{alias}/approve", response_model=None,
             summary="Approve a pending move of a protected alias (another admin of the project) and apply it")
def approve_move(request: Request, project: str, name: str, alias: str, body: Decision) -> dict[str, Any]:
    return _decide(request, project, name, alias, body, True)


@router.post("/projects/{project}/artifacts/{name}/aliases/{alias}/reject", response_model=None,
             summary="Reject a pending move of a protected alias (cancel it: the admin who proposed it)")
def reject_move(request: Request, project: str, name: str, alias: str, body: Decision) -> dict[str, Any]:
    return _decide(request, project, name, alias, body, False)


def refuse_removal(project: str, name: str, alias: str) -> None:
    raise UsageError(f"alias '{name}:{alias}' of project '{project}' needs an approval for each move: it cannot be "
                     "removed", hint="unprotect it first ('art server protect PROJECT NAME:ALIAS --off')")
