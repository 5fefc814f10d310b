"""Store-wide endpoints: the projects, the lineage graph and blobs by digest."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from arty.errors import UsageError
from arty.hashing import Digest
from arty.index import records as _records
from arty.lineage import DIRECTIONS
from arty.server import access
from arty.server.files import BLOB_TYPES, blob_response
from arty.server.state import check_text, state_of

router = APIRouter(tags=["store"])


@router.get("/projects", response_model=None, summary="The projects of the store")
def projects(request: Request) -> list[dict[str, Any]]:
    """The projects the caller may read (on a server with users, anonymous callers see the
    ``--public-read`` ones, and without any get 401)."""
    who = access.identify(request)
    state = state_of(request)
    if who.name == "anonymous" and not who.open and state.accounts.has_users() and not state.public_read:
        access.require(request, None, "read")  # 401: log in
    state.index.sync()
    out = []
    for p in state.index.project_stats():
        if not access.allows(request, who, p["name"], "read"):
            continue
        last = _records.iso(p["last_activity"])
        if p["last_version"] and (last is None or p["last_version"] > last):
            last = p["last_version"]
        out.append({"name": p["name"], "runs": p["runs"], "artifacts": p["artifacts"], "last_activity": last})
    return out


@router.get("/projects/{project}/lineage", response_model=None, summary="The lineage graph around a version or run")
def lineage(request: Request, project: str,
            ref: str = Query(..., max_length=400, description="NAME:VERSION of an artifact, or a run id"),
            direction: str = Query("both", description="upstream, downstream or both"),
            depth: int | None = Query(None, ge=0, le=10_000)) -> dict[str, Any]:
    access.require(request, project, "read")
    state = state_of(request)
    state.project(project)
    if direction not in DIRECTIONS:
        raise UsageError(f"invalid direction '{direction}'", hint="use one of: " + ", ".join(DIRECTIONS))
    check_text(ref, "lineage reference")
    full = ref if "/" in ref else f"{project}/{ref}"
    if "/" in ref:
        access.require(request, ref.split("/", 1)[0], "read")
    return state.api.lineage(full, direction=direction, depth=depth).to_json()


@router.get("/blobs/{digest}", response_model=None, summary="A blob's bytes, verified", response_class=Response)
def blob(request: Request, digest: str,
         type: str | None = Query(None, description="content type: " + ", ".join(BLOB_TYPES))) -> Response:
    access.require(request, None, "read")
    state = state_of(request)
    if type is not None and type not in BLOB_TYPES:
        raise UsageError(f"content type '{type}' is not allowed", hint="use one of: " + ", ".join(BLOB_TYPES))
    d = Digest.parse(digest)
    return blob_response(state.store.read_blob(d), type)
