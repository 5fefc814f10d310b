"""The sweeps endpoints: a project's sweeps, and one sweep's trials for its page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from arty.artifacts.names import check_name
from arty.server import access
from arty.server.state import state_of
from arty.sweeps.runner import Sweep
from arty.sweeps.status import overview, status

router = APIRouter(tags=["sweeps"])


@router.get("/projects/{project}/sweeps", response_model=None, summary="The sweeps of a project, newest first")
def list_sweeps(request: Request, project: str) -> list[dict[str, Any]]:
    access.require(request, project, "read")
    check_name(project, "project")  # a project may hold a sweep before any run: not looked up in the index
    return overview(state_of(request).store, project)


@router.get("/projects/{project}/sweeps/{sweep_id}", response_model=None,
            summary="A sweep: its configuration and every trial (params, state, metric, history), the best marked")
def get_sweep(request: Request, project: str, sweep_id: str) -> dict[str, Any]:
    access.require(request, project, "read")
    check_name(project, "project")
    return status(Sweep(state_of(request).store, project, sweep_id))
