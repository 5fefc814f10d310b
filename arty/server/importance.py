"""Parameter importance for a sweep: how much each config key drives a metric.

:func:`importance` takes the runs' flattened configs and metric values and returns, per key,
the Pearson correlation with the metric (numeric keys; booleans count as 0/1) and, when
scikit-learn is installed, the impurity importance of a random forest fitted on every key
(strings become category codes). Without scikit-learn only the correlations are computed and
``method`` says so; ranking then uses the absolute correlation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Fewer runs than this with the metric: no forest is fitted (it would only fit noise).
MIN_RUNS_FOR_FOREST = 4
#: Trees in the forest; fixed seed so the same runs give the same answer.
TREES = 200


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def _column(values: list[Any]) -> tuple[np.ndarray, bool]:
    """A numeric column for the forest and whether it is numeric (else category codes; a
    missing value is NaN in a numeric column and its own category otherwise)."""
    nums = [_number(v) for v in values]
    present = [v for v in values if v is not None]
    if all(n is not None or v is None for n, v in zip(nums, values)) and present:
        return np.array([np.nan if n is None else n for n in nums], dtype=float), True
    cats = sorted({repr(v) for v in values})
    code = {c: i for i, c in enumerate(cats)}
    return np.array([code[repr(v)] for v in values], dtype=float), False


def _correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return None
    xs, ys = x[keep], y[keep]
    if xs.std() == 0 or ys.std() == 0:
        return None
    return float(np.corrcoef(xs, ys)[0, 1])


def have_sklearn() -> bool:
    try:
        import sklearn.ensemble  # noqa: F401
    except ImportError:
        return False
    return True


def importance(configs: list[dict[str, Any]], metric: list[Any], keys: list[str]) -> dict[str, Any]:
    """``{"runs", "method", "keys": [{"key", "correlation", "importance"}]}`` ranked most
    important first. ``configs[i]`` (flattened, dotted keys) goes with ``metric[i]``; runs
    whose metric is not a finite number are left out. ``method`` is ``"random_forest"`` or
    ``"correlation"`` (scikit-learn missing, or too few runs)."""
    rows = [(c, _number(m)) for c, m in zip(configs, metric)]
    rows = [(c, m) for c, m in rows if m is not None]
    y = np.array([m for _, m in rows], dtype=float)
    columns = {k: _column([c.get(k) for c, _ in rows]) for k in keys}
    out = []
    for k, (col, numeric) in columns.items():
        out.append({"key": k, "numeric": numeric, "correlation": _correlation(col, y) if numeric else None,
                    "importance": None})
    method = "correlation"
    usable = [k for k, (col, _) in columns.items() if np.unique(col[np.isfinite(col)]).size > 1]
    if len(rows) >= MIN_RUNS_FOR_FOREST and usable and have_sklearn():
        from sklearn.ensemble import RandomForestRegressor

        x = np.column_stack([columns[k][0] for k in usable])
        # numeric columns: a missing value is put below every present one
        for j, k in enumerate(usable):
            col = x[:, j]
            if np.isnan(col).any():
                finite = col[np.isfinite(col)]
                col[np.isnan(col)] = (finite.min() - 1.0) if finite.size else 0.0
        forest = RandomForestRegressor(n_estimators=TREES, random_state=0, n_jobs=1)
        forest.fit(x, y)
        scores = dict(zip(usable, forest.feature_importances_.tolist()))
        for item in out:
            item["importance"] = scores.get(item["key"], 0.0)
        method = "random_forest"
    if method == "random_forest":
        out.sort(key=lambda i: (-(i["importance"] or 0.0), i["key"]))
    else:
        out.sort(key=lambda i: (-abs(i["correlation"] or 0.0), i["key"]))
    return {"runs": len(rows), "method": method, "keys": out}
