"""The artifacts endpoints: artifacts of a project, versions, files, diffs and alias moves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, StrictStr

from arty.artifacts.edits import EDIT_FIELDS
from arty.artifacts.names import check_alias, check_name
from arty.server import access, routes_registry
from arty.server.files import file_response
from arty.server.state import ServerState, check_file_path, state_of

router = APIRouter(tags=["artifacts"])

#: The most file entries one listing returns.
MAX_FILES = 100_000


def _grouped(state: ServerState, project: str) -> dict[str, dict[str, Any]]:
    """``{name: {"versions": [rows], "aliases": {alias: number}}}`` from the index."""
    out: dict[str, dict[str, Any]] = {}
    for v in state.index.versions(project):
        out.setdefault(v["name"], {"versions": [], "aliases": {}})["versions"].append(v)
    for a in state.index.aliases(project):
        if a["name"] in out:
            out[a["name"]]["aliases"][a["alias"]] = a["version"]
    return out


@router.get("/projects/{project}/artifacts", response_model=None, summary="The artifacts of a project")
def list_artifacts(request: Request, project: str,
                   type: str | None = Query(None, max_length=200, description="keep only this type")
                   ) -> list[dict[str, Any]]:
    access.require(request, project, "read")
    state = state_of(request)
    state.project(project)
    out = []
    for name, g in sorted(_grouped(state, project).items()):
        latest = g["versions"][-1]
        if type is not None and latest["type"] != type:
            continue
        out.append({"name": name, "type": latest["type"], "versions": len(g["versions"]),
                    "latest": f"v{latest['version']}",
                    "aliases": {a: f"v{n}" for a, n in sorted(g["aliases"].items())},
                    "updated_at": max((v["created_at"] or "") for v in g["versions"]) or None})
    return out


def _version_row(row: dict[str, Any], aliases: list[str], run_name: str | None) -> dict[str, Any]:
    return {"version": f"v{row['version']}", "digest": row["digest"], "aliases": aliases, "size": row["size"],
            "files": row["files"], "created_at": row["created_at"], "created_by": row["created_by"],
            "created_by_name": run_name, "description": row["description"], "type": row["type"]}


@router.get("/projects/{project}/artifacts/{name}", response_model=None, summary="One artifact and its versions")
def get_artifact(request: Request, project: str, name: str) -> dict[str, Any]:
    access.require(request, project, "read")
    state = state_of(request)
    state.project(project)
    check_name(name)
    g = _grouped(state, project).get(name)
    if g is None:
        raise state.registry(project).not_found(name, None)
    by_version: dict[int, list[str]] = {}
    for alias, n in sorted(g["aliases"].items()):
        by_version.setdefault(n, []).append(alias)
    last = g["versions"][-1]["version"]
    versions = []
    names: dict[str, str | None] = {}  # run id -> name, for the "by run" column
    for row in reversed(g["versions"]):
        aliases = (["latest"] if row["version"] == last else []) + by_version.get(row["version"], [])
        run_id = row["created_by"]
        if run_id and run_id not in names:
            run_row = state.index.run_row(project, run_id)
            names[run_id] = run_row["name"] if run_row is not None else None
        versions.append(_version_row(row, aliases, names.get(run_id) if run_id else None))
    return {"name": name, "type": g["versions"][-1]["type"], "versions": versions}


def _resolve(state: ServerState, project: str, name: str, version: str) -> Any:
    check_name(name)
    state.project(project, sync=False)
    return state.registry(project).resolve(f"{name}:{version}")


def _run_ref(state: ServerState, project: str, run_id: str | None) -> dict[str, Any] | None:
    if not run_id:
        return None
    row = state.index.run_row(project, run_id)
    if row is None:
        return {"project": project, "id": run_id, "name": None, "state": None}
    return {"project": project, "id": run_id, "name": row["name"], "state": row["state"]}


@router.get("/projects/{project}/artifacts/{name}/{version}", response_model=None, summary="One artifact version")
def get_version(request: Request, project: str, name: str, version: str) -> dict[str, Any]:
    access.require(request, project, "read")
    state = state_of(request)
    state.index.sync(project)
    v = _resolve(state, project, name, version)
    consumers = state.index.consumers(v.project, v.base_name, v.number)
    seen, used_by = set(), []
    for e in consumers:
        if (e["project"], e["run"]) not in seen:
            seen.add((e["project"], e["run"]))
            used_by.append(_run_ref(state, e["project"], e["run"]))
    rec = v.record
    return {"project": v.project, "name": v.base_name, "version": v.version, "type": v.type, "digest": str(v.digest),
            "size": v.size, "files": v.file_count, "aliases": v.aliases, "metadata": v.metadata,
            "description": v.description, "created_at": v.created_at,
            "created_by": _run_ref(state, v.project, v.created_by), "used_by": used_by,
            "by": rec.get("by"), "tags": v.tags, "ttl": v.ttl,
            "link": {**rec["link"], "version": f"v{rec['link']['version']}"} if v.is_link else None,
            "edits": [{"at": e.get("at"), "by": e.get("by"), "fields": sorted(k for k in e if k in EDIT_FIELDS)}
                      for e in v.edits]}


@router.get("/projects/{project}/artifacts/{name}/{version}/files", response_model=None, summary="Files of a version")
def version_files(request: Request, project: str, name: str, version: str,
                  prefix: str = Query("", max_length=4096),
                  limit: int = Query(10_000, ge=0, le=MAX_FILES)) -> list[dict[str, Any]]:
    access.require(request, project, "read")
    state = state_of(request)
    v = _resolve(state, project, name, version)
    out = []
    for e in v.iter_files():
        if e.path.startswith(prefix):
            item: dict[str, Any] = {"path": e.path, "size": e.size,
                                    "digest": None if e.digest is None else str(e.digest)}
            if e.is_ref:
                item["uri"] = e.uri
            out.append(item)
            if len(out) >= limit:
                break
    return out


@router.get("/projects/{project}/artifacts/{name}/{version}/file/{path:path}", response_model=None,
            summary="One file's bytes, verified against its digest", response_class=Response)
def version_file(request: Request, project: str, name: str, version: str, path: str) -> Response:
    access.require(request, project, "read")
    state = state_of(request)
    v = _resolve(state, project, name, version)
    return file_response(v.read_bytes(check_file_path(path)), path)


@router.get("/projects/{project}/artifacts/{name}/{version}/diff", response_model=None,
            summary="What changed from another version")
def diff(request: Request, project: str, name: str, version: str,
         other: str = Query(..., max_length=300, description="the version to compare with, e.g. v2")
         ) -> dict[str, Any]:
    access.require(request, project, "read")
    state = state_of(request)
    v = _resolve(state, project, name, version)
    o = _resolve(state, project, name, other)
    return o.diff(v).to_json()


class AliasMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alias: StrictStr
    version: StrictStr


def _require_alias_role(request: Request, project: str, name: str, alias: str) -> access.Principal:
    """``write`` on the project to move or remove an alias; ``admin`` when it is protected."""
    check_name(project, "project")
    check_name(name)
    check_alias(alias)
    protected = state_of(request).accounts.is_protected(project, name, alias, fresh=True)
    return access.require(request, project, "admin" if protected else "write")


def _aliases(state: ServerState, project: str, name: str) -> dict[str, Any]:
    reg = state.registry(project)
    return {"name": name, "aliases": {a: f"v{n}" for a, n in sorted(reg.aliases(name).items())}}


@router.post("/projects/{project}/artifacts/{name}/aliases", response_model=None, summary="Set or move an alias")
def set_alias(request: Request, project: str, name: str, move: AliasMove) -> dict[str, Any]:
    who = _require_alias_role(request, project, name, move.alias)
    state = state_of(request)
    v = _resolve(state, project, name, move.version)
    if state.accounts.approvals(project, name, move.alias, fresh=True) and \
            state.registry(project).alias_target(name, move.alias) != v.number:  # waits for another admin
        pending = routes_registry.propose(request, project, name, move.alias, v.number, who)
        return _aliases(state, project, name) | {"pending": pending}
    state.registry(project).set_alias(name, v.number, move.alias, by=access.stamp(who))
    state.index.catch_up()
    return _aliases(state, project, name)


@router.delete("/projects/{project}/artifacts/{name}/aliases/{alias}", response_model=None, summary="Remove an alias")
def delete_alias(request: Request, project: str, name: str, alias: str) -> dict[str, Any]:
    who = _require_alias_role(request, project, name, alias)
    state = state_of(request)
    if state.accounts.approvals(project, name, alias, fresh=True):
        routes_registry.refuse_removal(project, name, alias)
    state.project(project, sync=False)
    reg = state.registry(project)
    if not reg.versions(name):
        raise reg.not_found(name, None)
    reg.delete_alias(name, alias, by=access.stamp(who))
    state.index.catch_up()
    return _aliases(state, project, name)




@router.delete("/projects/{project}/artifacts/{name}/{version}", response_model=None,
               summary="Delete a version (as 'art rm'; needs the project's admin role)")
def delete_version(request: Request, project: str, name: str, version: str) -> dict[str, Any]:
    who = access.require(request, project, "admin")
    state = state_of(request)
    v = _resolve(state, project, name, version)
    state.registry(project).delete(name, v.number, by=access.stamp(who))
    state.index.catch_up()
    return {"name": name, "deleted": v.version}
