"""The workspace endpoints of the project page: saved views and parameter importance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from arty.server import access, importance as _importance, views as _views
from arty.server.errors import ArtyJSONResponse
from arty.server.routes_runs import MAX_PAGE, run_fields
from arty.server.state import leaf_keys, runs_filter, state_of

router = APIRouter(tags=["workspace"])


@router.get("/projects/{project}/views", response_model=None, summary="The saved workspace views of a project")
def list_views(request: Request, project: str) -> list[dict[str, Any]]:
    access.require(request, project, "read")
    state = state_of(request)
    state.project(project)
    return _views.list_views(state.store, project)


@router.get("/projects/{project}/views/{name}", response_model=None, summary="A saved view (its newest save)")
def get_view(request: Request, project: str, name: str) -> dict[str, Any]:
    access.require(request, project, "read")
    state = state_of(request)
    state.project(project)
    return _views.load_view(state.store, project, name)


class ViewSave(BaseModel):
    """The workspace state to save under a name."""

    model_config = ConfigDict(extra="forbid")
    state: dict[str, Any]


@router.post("/projects/{project}/views/{name}", response_model=None, summary="Save a view (appended; nothing overwritten)")
def save_view(request: Request, project: str, name: str, body: ViewSave) -> dict[str, Any]:
    who = access.require(request, project, "write")
    state = state_of(request)
    state.project(project)
    return _views.save_view(state.store, project, name, body.state, by=access.stamp(who))


@router.get("/projects/{project}/importance", response_model=None,
            summary="How much each config key drives a summary metric, over the runs a filter matches")
def importance(request: Request, project: str,
               metric: str = Query(..., max_length=1000, description="a summary key, e.g. val/loss"),
               filters: str | None = Query(None, max_length=100_000, description="JSON filter as the runs table takes it"),
               keys: str | None = Query(None, max_length=100_000,
                                        description="comma-separated config keys; default: those that vary"),
               add_runs: bool = Query(False)) -> Response:
    access.require(request, project, "read")
    state = state_of(request)
    state.project(project)
    parsed = runs_filter(filters, add_runs)
    index = state.index
    chosen = [k for k in dict.fromkeys((keys or "").split(",")) if k]
    if not chosen:
        chosen = leaf_keys(index.varying_paths(project, "config", parsed))
    rows = [run_fields(r) for r in index.runs(project, parsed, limit=MAX_PAGE)]
    configs = [r["config"] for r in rows]
    values = [r["summary"].get(metric) for r in rows]
    out = _importance.importance(configs, values, chosen)
    out["metric"] = metric
    if out["method"] != "random_forest" and not _importance.have_sklearn():
        out["note"] = "scikit-learn is not installed: correlations only (pip install scikit-learn)"
    return ArtyJSONResponse(out)
