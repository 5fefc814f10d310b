"""The storage usage of an artifact (``art du NAME`` as JSON) and the retention that applies to it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from arty.artifacts.names import check_name
from arty.artifacts.retention import effective_policy
from arty.artifacts.usage import UsageCache, store_usage
from arty.server import access
from arty.server.state import state_of

router = APIRouter(tags=["artifacts"])


@router.get("/projects/{project}/artifacts/{name}/usage", response_model=None,
            summary="Bytes of an artifact and of each of its versions: logical, unique, shared")
def artifact_usage(request: Request, project: str, name: str) -> dict[str, Any]:
    """``{"artifact": {logical, unique, shared, versions, files}, "versions": [{"version": "v3", ...}],
    "policy": the retention policy that applies (or null), "ttl": {"v3": seconds}}``; see docs/retention.md."""
    access.require(request, project, "read")
    state = state_of(request)
    state.project(project)
    check_name(name)
    reg = state.registry(project)
    if not reg.versions(name):
        raise reg.not_found(name, None)
    cache = UsageCache.for_store(state.store)
    try:
        usage = store_usage(state.store, cache)
    finally:
        cache.db.close()
    art = usage.artifacts.get((project, name))
    versions = sorted((n, u) for (p, a, n), u in usage.versions.items() if (p, a) == (project, name))
    policy = effective_policy(state.store, project, name)
    return {"artifact": art.to_json() if art is not None else None,
            "versions": [{"version": f"v{n}"} | u.to_json() for n, u in reversed(versions)],
            "policy": policy.to_json() if policy is not None else None}
