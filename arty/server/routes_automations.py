"""Automations of a project (docs/automations.md): list, add, remove, and the delivery log.

Every route needs the project's ``admin`` role. A webhook's secret is returned once, by the
``POST`` that creates it, and never again: listings and the delivery log leave it out.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from arty.artifacts.names import check_name
from arty.automations import records
from arty.server import access
from arty.server.state import state_of

router = APIRouter(tags=["automations"])


class AutomationAdd(BaseModel):
    """A new automation: an event (``on``, e.g. ``alias:prod``) and one action."""

    model_config = ConfigDict(extra="forbid")
    on: str = Field(..., max_length=300, description="EVENT[:FILTER], e.g. alias:prod, version:model, run.failed")
    webhook: str | None = Field(None, max_length=2000, description="http(s) URL to POST the event to")
    command: list[str] | None = Field(None, max_length=100, description="a command for 'art automation deliver'")
    secret: str | None = Field(None, min_length=16, max_length=500, description="signing secret (default: generated)")
    give_up_after: float = Field(records.GIVE_UP_AFTER, gt=0, le=30 * 86400)
    retry_after: float = Field(records.RETRY_AFTER, gt=0, le=86400)
    description: str | None = Field(None, max_length=1000)


@router.get("/projects/{project}/automations", response_model=None, summary="The automations of a project")
def list_automations(request: Request, project: str) -> list[dict[str, Any]]:
    access.require(request, check_name(project, "project"), "admin")
    return records.list_automations(state_of(request).store, project)


@router.post("/projects/{project}/automations", response_model=None,
             summary="Add an automation (the webhook's secret is in this answer only)")
def add_automation(request: Request, project: str, body: AutomationAdd) -> dict[str, Any]:
    who = access.require(request, check_name(project, "project"), "admin")
    automation, secret = records.add(state_of(request).store, project, body.on, webhook=body.webhook,
                                     command=body.command, secret=body.secret, by=access.stamp(who),
                                     give_up_after=body.give_up_after, retry_after=body.retry_after,
                                     description=body.description)
    return {"automation": automation, "secret": secret}


@router.delete("/projects/{project}/automations/{automation_id}", response_model=None,
               summary="Remove an automation (recorded; its delivery log stays)")
def remove_automation(request: Request, project: str, automation_id: str) -> dict[str, Any]:
    who = access.require(request, check_name(project, "project"), "admin")
    return records.remove(state_of(request).store, project, automation_id, by=access.stamp(who))


@router.get("/projects/{project}/automations/{automation_id}/deliveries", response_model=None,
            summary="The delivery log of an automation, newest first: each event, its attempts and outcome")
def deliveries(request: Request, project: str, automation_id: str,
               limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    access.require(request, check_name(project, "project"), "admin")
    store = state_of(request).store
    automation = records.get(store, project, automation_id)
    return {"automation": automation, "deliveries": records.deliveries(store, project, automation_id, limit=limit)}
