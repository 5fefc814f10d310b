"""Storage usage (``art du`` as JSON): of a project and its artifacts, and of one artifact, its versions
and the retention that applies to it. Under ``/projects/{project}/usage``, so that no alias name
(``.../artifacts/{name}/{version}``) can shadow it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from arty.artifacts.names import check_name
from arty.artifacts.retention import effective_policy
from arty.artifacts.usage import StoreUsage, UsageCache, store_usage
from arty.server import access
from arty.server.state import ServerState, state_of

router = APIRouter(tags=["artifacts"])


def _usage(state: ServerState) -> StoreUsage:
    """The store's usage, through the local usage cache (opened per request: one connection per thread)."""
    cache = UsageCache.for_store(state.store)
    try:
        return store_usage(state.store, cache)
    finally:
        cache.db.close()


@router.get("/projects/{project}/usage", response_model=None,
            summary="Bytes of a project and of each of its artifacts: logical, unique, shared")
def project_usage(request: Request, project: str) -> dict[str, Any]:
    """``{"project": {logical, unique, shared, versions, files} or null, "artifacts": [{"artifact", ...}]}``."""
    access.require(request, project, "read")
    state = state_of(request)
    state.project(project)
    usage = _usage(state)
    own = usage.projects.get(project)
    return {"project": own.to_json() if own is not None else None,
            "artifacts": [{"artifact": a} | u.to_json() for (p, a), u in sorted(usage.artifacts.items()) if p == project]}


@router.get("/projects/{project}/usage/{name}", response_model=None,
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
    usage = _usage(state)
    art = usage.artifacts.get((project, name))
    versions = sorted((n, u) for (p, a, n), u in usage.versions.items() if (p, a) == (project, name))
    policy = effective_policy(state.store, project, name)
    return {"artifact": art.to_json() if art is not None else None,
            "versions": [{"version": f"v{n}"} | u.to_json() for n, u in reversed(versions)],
            "policy": policy.to_json() if policy is not None else None}
