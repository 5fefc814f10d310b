"""What a trial's run logged, read from the store: its final summary and a metric's history."""

from __future__ import annotations

import math
from typing import Any

from arty.errors import ArtyError
from arty.store import layout, segments
from arty.store.store import Store


def final(store: Store, project: str, run_id: str) -> dict[str, Any] | None:
    """The run's ``final.json`` (state, exit code, summary), or None while it has none."""
    return store.try_record(f"{layout.run(project, run_id)}/{layout.RUN_FINAL}")


def metric_history(store: Store, project: str, run_id: str, key: str, seen: dict[str, list] | None = None,
                   limit: int = 500) -> list[list[float]]:
    """``[[step, value], ...]`` of ``key`` in the run's history segments (finite numbers only),
    at most ``limit`` points (evenly thinned, the last kept). ``seen`` caches segments already
    read (``{path: points}``): segments never change once written."""
    folder = f"{layout.run(project, run_id)}/history"
    seen = {} if seen is None else seen
    points: list[list[float]] = []
    try:
        names = store.list(folder)
    except ArtyError:
        names = []
    for name in names:
        path = f"{folder}/{name}"
        if path not in seen:
            try:
                rows = segments.rows_of(store.backend.read(path), keys=("_step", key))
            except (FileNotFoundError, ValueError, OSError, ArtyError):
                continue
            seen[path] = [[int(r["_step"]), float(r[key])] for r in rows
                          if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
                          and math.isfinite(r[key]) and isinstance(r.get("_step"), int)]
        points.extend(seen[path])
    if len(points) > limit:
        stride = len(points) / limit
        points = [points[int(i * stride)] for i in range(limit - 1)] + [points[-1]]
    return points
