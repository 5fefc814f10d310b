"""A sweep's state as ``art sweep show``, ``art sweeps`` and the UI's sweep page show it."""

from __future__ import annotations

import math
import time
from typing import Any

from arty.store.store import Store
from arty.sweeps import records as rec
from arty.sweeps.runner import Sweep
from arty.sweeps.records import FINISHED


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def status(sweep: Sweep, now: float | None = None) -> dict[str, Any]:
    """``{"id", "project", "name", "method", "metric", "goal", "config", "created_at", "trials": [...],
    "best": trial number or None, "counts": {state: n}, "total", "warnings": [...]}``.

    Each trial: ``number``, ``state`` (finished, failed, crashed, pruned, running, stale),
    ``params``, ``value`` (the metric), ``run_id``, ``attempts``, ``by``, ``error``, ``history``.
    The best trial is the finished one with the lowest (minimize) or highest (maximize) metric."""
    now = time.time() if now is None else now
    spec = sweep.spec
    trials = []
    for n, t in sorted(sweep.trials().items()):
        last = t.last
        end = last.end or {}
        trials.append({"number": n, "state": t.state(now, sweep.grace), "params": t.params,
                       "value": end.get("value") if _number(end.get("value")) else None,
                       "run_id": last.claim.get("run_id"), "attempts": len(t.attempts), "by": last.claim.get("by"),
                       "error": end.get("error"), "claimed_at": last.claim.get("claimed_at"),
                       "ended_at": end.get("ended_at"), "history": end.get("history") or []})
    scored = [t for t in trials if t["state"] == FINISHED and t["value"] is not None]
    best = None
    if scored and spec.metric:
        pick = min if spec.goal == "minimize" else max
        best = pick(scored, key=lambda t: t["value"])["number"]
    counts: dict[str, int] = {}
    for t in trials:
        counts[t["state"]] = counts.get(t["state"], 0) + 1
    warnings = []
    finished = [t for t in trials if t["state"] == FINISHED]
    if spec.metric and finished and not scored:
        warnings.append(f"no trial logged metric '{spec.metric}' ({len(finished)} finished)")
    elif spec.metric and len(scored) < len(finished):
        warnings.append(f"{len(finished) - len(scored)} finished trial(s) did not log metric '{spec.metric}'")
    crashed = [t["number"] for t in trials if t["state"] == rec.CRASHED]
    if crashed:
        warnings.append(f"trial(s) {', '.join(map(str, crashed))} crashed with no retries left")
    return {"id": sweep.id, "project": sweep.project, "name": spec.name, "method": spec.method,
            "metric": spec.metric, "goal": spec.goal, "config": sweep.record.get("config"),
            "created_at": sweep.record.get("created_at"), "params": [p.name for p in spec.params],
            "trials": trials, "best": best, "counts": counts, "total": spec.total, "warnings": warnings,
            "settings": sweep.record.get("settings") or {}}


def overview(store: Store, project: str) -> list[dict[str, Any]]:
    """One line per sweep of ``project``: id, name, method, metric, counts, best value, created_at.
    A sweep whose record is bad is left out (with a warning)."""
    import warnings as _w

    from arty.errors import ArtyError

    out = []
    for sid in rec.list_sweeps(store, project):
        try:
            st = status(Sweep(store, project, sid))
        except ArtyError as exc:
            _w.warn(f"arty: skipped sweep '{project}/{sid}': {exc.message}", RuntimeWarning, stacklevel=2)
            continue
        best = next((t["value"] for t in st["trials"] if t["number"] == st["best"]), None)
        out.append({"id": sid, "name": st["name"], "method": st["method"], "metric": st["metric"],
                    "goal": st["goal"], "trials": len(st["trials"]), "total": st["total"], "counts": st["counts"],
                    "best": st["best"], "best_value": best, "created_at": st["created_at"]})
    out.sort(key=lambda s: s["created_at"] or "", reverse=True)
    return out
