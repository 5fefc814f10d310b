"""Downsampling a series for plotting: min/max buckets.

A million points cannot be drawn usefully in a few hundred pixels. The points
are cut into buckets of consecutive indices and each bucket keeps its lowest
and its highest point (in index order), so spikes survive where even spacing
would skip them. The first and last points are always kept. Pure Python, but
the inner loops are C built-ins (``min``, ``max``, ``list.index``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence


def is_number(v: Any) -> bool:
    """A plottable value: an int or a finite float (not a bool)."""
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, int) and not isinstance(v, bool)


def min_max(xs: Sequence[Any], ys: Sequence[float], samples: int) -> tuple[list[Any], list[float]]:
    """At most ``samples`` points of ``(xs, ys)`` (same length), in order: the first, the last,
    and each bucket's minimum and maximum (so with ``samples >= 4`` the extremes of the whole
    series are kept). ``n <= samples`` points come back unchanged."""
    n = len(ys)
    if n <= samples or n <= 2:
        return list(xs), list(ys)
    if samples < 2:
        raise ValueError("samples must be at least 2")
    buckets = (samples - 2) // 2
    if buckets < 1:  # room for the ends only
        return [xs[0], xs[-1]], [ys[0], ys[-1]]
    out_x: list[Any] = [xs[0]]
    out_y: list[float] = [ys[0]]
    inner = n - 2
    for b in range(buckets):
        lo = 1 + (b * inner) // buckets
        hi = 1 + ((b + 1) * inner) // buckets
        if hi <= lo:
            continue
        seg = ys[lo:hi]
        lo_v, hi_v = min(seg), max(seg)
        i, j = seg.index(lo_v), seg.index(hi_v)
        for k in sorted({i, j}):
            out_x.append(xs[lo + k])
            out_y.append(seg[k])
    out_x.append(xs[-1])
    out_y.append(ys[-1])
    return out_x, out_y


def min_max_indices(ys: Any, samples: int) -> Any:
    """The indices :func:`min_max` keeps, for a numpy array ``ys`` (ascending)."""
    import numpy as np

    n = len(ys)
    if n <= samples or n <= 2:
        return np.arange(n)
    if samples < 2:
        raise ValueError("samples must be at least 2")
    buckets = (samples - 2) // 2
    if buckets < 1:
        return np.array([0, n - 1])
    inner = n - 2
    bounds = 1 + (np.arange(buckets + 1) * inner) // buckets
    out = [0]
    argmin, argmax = np.argmin, np.argmax
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        if hi <= lo:
            continue
        seg = ys[lo:hi]
        i, j = int(argmin(seg)), int(argmax(seg))
        if i == j:
            out.append(lo + i)
        else:
            out.extend((lo + i, lo + j) if i < j else (lo + j, lo + i))
    out.append(n - 1)
    return np.array(out)
