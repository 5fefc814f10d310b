"""The runs endpoints: the runs table, a run's record, edits, history, system metrics,
console, files and media."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, StrictStr

from arty.api import ApiRun, flatten_dotted
from arty.index import records as _records
from arty.server import access
from arty.server.errors import ApiError, ArtyJSONResponse
from arty.server.files import file_response
from arty.server.state import ServerState, check_file_path, leaf_keys, runs_filter, state_of
from arty.runs.edits import edit_run

router = APIRouter(tags=["runs"])

#: The most runs one page of the runs table may hold.
MAX_PAGE = 10_000


def run_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The runs-table fields of an index row."""
    config = _records.load_json_column(row["config"], row["config_raw"], {})
    summary = _records.load_json_column(row["summary"], row["summary_raw"], {})
    return {
        "id": row["id"], "name": row["name"], "state": row["state"], "created_at": row["created_at"],
        "finished_at": row["finished_at"], "runtime": row["runtime"],
        "tags": _records.load_json_column(row["tags"], None, []), "notes": row["notes"],
        "group": row["run_group"], "job_type": row["job_type"],
        "config": flatten_dotted(config if isinstance(config, dict) else {}),
        "summary": flatten_dotted(summary if isinstance(summary, dict) else {}),
    }


def _version_refs(state: ServerState, versions: list[Any]) -> list[dict[str, Any]]:
    """``{"project", "name", "version", "type", "digest", "aliases"}`` of each version; the
    aliases (``latest`` first when it is the highest version) come from the index."""
    known: dict[str, tuple[dict[str, int], dict[tuple[str, int], list[str]]]] = {}
    out = []
    for v in versions:
        if v.project not in known:
            latest: dict[str, int] = {}
            for row in state.index.versions(v.project):
                latest[row["name"]] = max(latest.get(row["name"], -1), row["version"])
            moved: dict[tuple[str, int], list[str]] = {}
            for row in state.index.aliases(v.project):
                moved.setdefault((row["name"], row["version"]), []).append(row["alias"])
            known[v.project] = (latest, moved)
        latest, moved = known[v.project]
        aliases = (["latest"] if latest.get(v.base_name) == v.number else []) + sorted(moved.get((v.base_name, v.number), []))
        out.append({"project": v.project, "name": v.base_name, "version": v.version, "type": v.type,
                    "digest": str(v.digest), "aliases": aliases})
    return out


def run_detail(state: ServerState, run: ApiRun) -> dict[str, Any]:
    """Everything the run page shows in its overview. ``steps`` of a run still going counts
    the history rows in the store so far (a finished run's comes from its final record)."""
    out = run_fields(run._row)
    steps = run.steps
    if steps is None and run.state == "running":
        steps = state.series.rows(run.project, run.id, "history")
    out.update({"project": run.project, "host": run.host, "user": run.user, "command": run.command,
                "python": run.python, "git": run.git, "exit_code": run.exit_code, "error": run.error,
                "steps": steps, "mode": run.mode})
    out["artifacts"] = {"used": _version_refs(state, _versions(run.used_artifacts)),
                        "logged": _version_refs(state, _versions(run.logged_artifacts))}
    return out


def _versions(fn: Any) -> list[Any]:
    """The versions ``fn`` lists; one deleted or missing since is left out, not an error."""
    from arty.errors import NotFound

    try:
        return fn()
    except NotFound:
        return []


@router.get("/projects/{project}/runs", response_model=None, summary="The runs table of a project")
def list_runs(request: Request, project: str,
              filters: str | None = Query(None, description="JSON filter as arty.Api.runs takes it",
                                          max_length=100_000),
              order: str = Query("-created_at", description="a key, '-' in front for descending",
                                 max_length=1000),
              limit: int = Query(100, ge=0, le=MAX_PAGE), offset: int = Query(0, ge=0, le=10**9),
              add_runs: bool = Query(False, description="also the runs 'art add' records (job type art-add), "
                                                        "hidden by default")
              ) -> Response:
    access.require(request, project, "read")
    state = state_of(request)
    state.project(project)
    parsed = runs_filter(filters, add_runs)
    index = state.index
    rows = index.runs(project, parsed, order or "-created_at", limit=limit, offset=offset)
    total = len(rows) if len(rows) < limit and not offset else index.count_runs(project, parsed)
    config_keys, summary_keys = state.run_keys(project, add_runs=add_runs)
    varying = leaf_keys(index.varying_paths(project, "config", parsed))
    return ArtyJSONResponse({"total": total, "runs": [run_fields(r) for r in rows],
                             "config_keys": config_keys, "summary_keys": summary_keys,
                             "varying_keys": [k for k in varying if k in config_keys]})


@router.get("/projects/{project}/runs/{run_id}", response_model=None, summary="One run's full record")
def get_run(request: Request, project: str, run_id: str) -> dict[str, Any]:
    access.require(request, project, "read")
    state = state_of(request)
    return run_detail(state, state.run(project, run_id, fresh=True))


class RunEdit(BaseModel):
    """Fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    notes: StrictStr | None = None
    tags: list[StrictStr] | None = None
    name: StrictStr | None = None


@router.patch("/projects/{project}/runs/{run_id}", response_model=None, summary="Edit a run's notes, tags or name")
def patch_run(request: Request, project: str, run_id: str, edit: RunEdit) -> dict[str, Any]:
    who = access.require(request, project, "write")
    state = state_of(request)
    run = state.run(project, run_id)
    if edit.notes is None and edit.tags is None and edit.name is None:
        raise ApiError(400, "nothing to edit", "send notes, tags or name")
    edit_run(state.store, run.project, run.id, notes=edit.notes, tags=edit.tags, name=edit.name,
             by=access.stamp(who))
    state.index.refresh_run(run.project, run.id)
    return run_detail(state, state.run(run.project, run.id, fresh=True))


def _keys_param(keys: str | None) -> list[str] | None:
    if keys is None or keys == "":
        return None
    out = [k for k in dict.fromkeys(keys.split(",")) if k]
    return out or None


@router.get("/projects/{project}/runs/{run_id}/history", response_model=None, summary="Metric series, downsampled")
def history(request: Request, project: str, run_id: str,
            keys: str | None = Query(None, description="comma-separated keys; default: all", max_length=100_000),
            x: str = Query("step", pattern="^(step|_step|_timestamp|_runtime)$"),
            samples: int = Query(1000, ge=2, le=100_000)) -> Response:
    access.require(request, project, "read")
    state = state_of(request)
    run = state.run(project, run_id)
    xkey = "_step" if x == "step" else x
    out = state.series.series(run.project, run.id, "history", xkey, _keys_param(keys), samples)
    out["x"] = x
    return ArtyJSONResponse(out)


@router.get("/projects/{project}/runs/{run_id}/system", response_model=None,
            summary="System metric series, downsampled")
def system(request: Request, project: str, run_id: str,
           keys: str | None = Query(None, description="comma-separated keys; default: all", max_length=100_000),
           x: str = Query("_timestamp", pattern="^(_timestamp|_runtime)$"),
           samples: int = Query(1000, ge=2, le=100_000)) -> Response:
    access.require(request, project, "read")
    state = state_of(request)
    run = state.run(project, run_id)
    return ArtyJSONResponse(state.series.series(run.project, run.id, "system", x, _keys_param(keys), samples))


@router.get("/projects/{project}/runs/{run_id}/console", response_model=None, summary="Captured output lines")
def console(request: Request, project: str, run_id: str,
            q: str | None = Query(None, description="keep lines containing this (case-insensitive)",
                                  max_length=1000),
            offset: int = Query(0, ge=0, le=10**9), limit: int = Query(1000, ge=0, le=100_000)
            ) -> Response:
    access.require(request, project, "read")
    state = state_of(request)
    run = state.run(project, run_id)
    lines = run.console()
    if q:
        needle = q.lower()
        lines = [ln for ln in lines if needle in ln[2].lower()]
    page = lines[offset:offset + limit]
    return ArtyJSONResponse({"total": len(lines),
                             "lines": [{"time": t, "stream": s, "text": text} for t, s, text in page]})


@router.get("/projects/{project}/runs/{run_id}/files", response_model=None, summary="Files saved with a run")
def files(request: Request, project: str, run_id: str) -> list[dict[str, Any]]:
    access.require(request, project, "read")
    state = state_of(request)
    run = state.run(project, run_id)
    base = f"{_records.run_dir(run.project, run.id)}/files"
    out = []
    for path in run.files():
        try:
            size = state.store.backend.size(f"{base}/{path}")
        except FileNotFoundError:
            continue
        out.append({"path": path, "size": size})
    return out


@router.get("/projects/{project}/runs/{run_id}/files/{path:path}", response_model=None,
            summary="One saved file's bytes",
            response_class=Response)
def file(request: Request, project: str, run_id: str, path: str) -> Response:
    access.require(request, project, "read")
    state = state_of(request)
    run = state.run(project, run_id)
    return file_response(run.read_file(check_file_path(path)), path)


@router.get("/projects/{project}/runs/{run_id}/media/{key:path}", response_model=None,
            summary="Media logged under a history key")
def media(request: Request, project: str, run_id: str, key: str) -> Response:
    access.require(request, project, "read")
    state = state_of(request)
    run = state.run(project, run_id)
    return ArtyJSONResponse(state.series.media(run.project, run.id, key))


@router.get("/projects/{project}/runs/{run_id}/table", response_model=None, summary="Rows of a logged table")
def table(request: Request, project: str, run_id: str,
          digest: str = Query(..., max_length=200), offset: int = Query(0, ge=0, le=10**9),
          limit: int = Query(100, ge=0, le=10_000)) -> dict[str, Any]:
    access.require(request, project, "read")
    state = state_of(request)
    run = state.run(project, run_id)
    from arty.hashing import Digest

    from arty.artifacts.tables import read_table

    d = Digest.parse(digest)
    value = _find_table(state, run, str(d))
    columns, rows, total = read_table(state.store, value, offset, limit)
    return {"columns": list(columns), "rows": rows, "total": total}


def _find_table(state: ServerState, run: ApiRun, digest: str) -> dict[str, Any]:
    """The table value with ``digest`` logged by ``run`` (so a run page reads only its own tables)."""
    from arty.errors import NotFound

    for key in state.series.series(run.project, run.id, "history", "_step", [], 2)["keys"]:
        for item in state.series.media(run.project, run.id, key):
            values = item["value"] if isinstance(item["value"], list) else [item["value"]]
            for v in values:
                if v.get("_type") == "table" and v.get("digest") == digest:
                    return v
    raise NotFound(f"no table '{digest}' in run '{run.path}'", hint="GET .../media/{key} lists the tables of a key")


