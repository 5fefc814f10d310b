"""Experiments in the index: one row per ``experiments/<id>.json``, queried with the run filters.

An experiment's *params* are its record's params (shared params by dotted path, a step's own
params under the step's name); its *metrics* are, per step, the summary of the run that step
has (``{"evaluate": {"accuracy": 0.96}, "train": {...}}``), read from the runs table at query
time. :func:`query` runs the filter and sort syntax of :mod:`arty.index.filters` over them:
``params.KEY`` (or ``config.KEY``) and ``metrics.STEP.KEY`` (or ``summary.STEP.KEY``), plus
``id``, ``name``, ``state``, ``created_at``, ``finished_at``, ``exit_code``, ``commit``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from arty.index.filters import compile_filter, compile_order
from arty.index.records import Reader, json_columns
from arty.store import layout

if TYPE_CHECKING:
    from arty.index.index import Index


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def experiment_row(project: str, exp_id: str, rec: dict[str, Any]) -> dict[str, Any]:
    """The index row of an experiment record (a field of the wrong shape reads as empty)."""
    steps = rec.get("steps") if isinstance(rec.get("steps"), dict) else {}
    runs = {str(k): v["run"] for k, v in steps.items() if isinstance(v, dict) and isinstance(v.get("run"), str)}
    actions = {str(k): v.get("action") for k, v in steps.items() if isinstance(v, dict)}
    git = rec.get("git") if isinstance(rec.get("git"), dict) else None
    code = rec.get("exit_code")
    return {
        "project": project, "id": exp_id, "name": _text(rec.get("name")) or exp_id,
        "state": _text(rec.get("state")) or ("finished" if code == 0 else "failed"),
        "created_at": _text(rec.get("started_at")), "finished_at": _text(rec.get("finished_at")),
        "exit_code": code if isinstance(code, int) and not isinstance(code, bool) else None,
        "pipeline": _text(rec.get("pipeline")),
        "params": json_columns(rec.get("params") if isinstance(rec.get("params"), dict) else {})[0],
        "sets": json_columns(rec.get("set") if isinstance(rec.get("set"), dict) else {})[0],
        "steps": json.dumps(runs, sort_keys=True), "actions": json.dumps(actions, sort_keys=True),
        "git_commit": _text(git.get("commit")) if git else None,
        "git": json.dumps(git, sort_keys=True) if git is not None else None,
    }


def list_experiments(reader: Reader, project: str) -> list[str]:
    """The ids of the experiment records of ``project``."""
    names = reader.store.list(layout.experiments(project))
    return sorted(n[:-5] for n in names if n.endswith(".json") and not n.startswith("."))


def load_experiments(reader: Reader, project: str, ids: list[str]) -> list[dict[str, Any]]:
    """Rows of the experiments ``ids`` of ``project``; a bad or missing record is left out (bad: warned)."""
    recs = reader.records([layout.experiment(project, i) for i in ids])
    return [experiment_row(project, i, r) for i, r in zip(ids, recs) if r is not None]


#: The experiments as a ``runs``-shaped view, so that the run filters and sort orders apply.
_VIEW = """
WITH runs AS (
  SELECT e.project AS project, e.id AS id, e.name AS name, e.state AS state, e.created_at AS created_at,
    e.finished_at AS finished_at, NULL AS runtime, NULL AS notes, NULL AS run_group, 'experiment' AS job_type,
    NULL AS host, NULL AS user, '[]' AS tags, e.params AS config, e.exit_code AS exit_code,
    NULL AS steps, NULL AS error, e.id AS experiment, e.git_commit AS git_commit,
    e.steps AS step_runs, e.actions AS actions, e.sets AS sets, e.pipeline AS pipeline,
    (SELECT json_group_object(s.key, json(coalesce(r.summary, '{}')))
       FROM json_each(e.steps) AS s LEFT JOIN main.runs AS r ON r.project = e.project AND r.id = s.value)
      AS summary
  FROM experiments AS e WHERE e.project = ?
)
SELECT id, name, state, created_at, finished_at, exit_code, git_commit, config, summary, step_runs, actions, sets,
  pipeline FROM runs"""


def query(index: "Index", project: str, filters: dict[str, Any] | None = None, order: Any = "-created_at",
          limit: int | None = None) -> list[dict[str, Any]]:
    """The experiments of ``project`` matching ``filters``, in ``order``: dicts with ``id``, ``name``,
    ``state``, ``created_at``, ``finished_at``, ``exit_code``, ``commit``, ``params``, ``metrics``
    (step -> summary), ``runs`` (step -> run id), ``actions`` (step -> run|skip|not run), ``set``.
    Does not catch up first (see :meth:`Index.sync`)."""
    cond, params = compile_filter(filters)
    sql = f"{_VIEW} WHERE {cond} ORDER BY {compile_order(order)}"
    args: list[Any] = [project, *params]
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    rows = index._guarded(lambda: index.db.execute(sql, args).fetchall())
    out = []
    for (exp_id, name, state, created, finished, code, commit, config, summary, runs, actions, sets,
         pipeline) in rows:
        out.append({"id": exp_id, "name": name, "state": state, "created_at": created, "finished_at": finished,
                    "exit_code": code, "commit": commit, "pipeline": pipeline,
                    "params": json.loads(config or "{}"), "metrics": json.loads(summary or "{}"),
                    "runs": json.loads(runs or "{}"), "actions": json.loads(actions or "{}"),
                    "set": json.loads(sets or "{}")})
    return out


def find(index: "Index", project: str, ref: str) -> list[dict[str, Any]]:
    """The experiments ``ref`` names: by name, by id, or by an id prefix (4 characters at least)."""
    for flt in ({"name": ref}, {"id": ref}):
        got = query(index, project, flt)
        if got:
            return got
    if len(ref) >= 4 and ref.isalnum():
        return query(index, project, {"id": {"$regex": f"^{ref}"}})
    return []


def at_commit(index: "Index", project: str, commit: str) -> list[dict[str, Any]]:
    """The experiments run at git ``commit`` (a full hash, or a prefix of 4 characters at least), newest first."""
    if not re.fullmatch(r"[0-9a-fA-F]{4,64}", commit):
        return []
    return query(index, project, {"commit": {"$regex": f"^{commit.lower()}"}})
