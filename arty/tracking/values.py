"""Turning what a training script logs into values Arty can store.

``flatten`` makes nested dicts flat (``{"train": {"loss": 1}}`` -> ``{"train/loss": 1}``);
``clean`` turns numpy/torch scalars into Python numbers and refuses, with one clear
warning per key, what cannot be stored. Nothing here raises into a training loop.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from arty.tracking.media import Histogram, Image, Table

#: Types stored as they are (NaN and infinities included: JSON as Python writes it).
PLAIN = (int, float, str, bool)
#: Rich values kept as objects in the row until the writer stores them.
MEDIA = (Image, Table, Histogram)
_warned: set[tuple[str, str]] = set()


def warn_once(key: str, problem: str) -> None:
    """Warn about ``key`` once per process and problem."""
    if (key, problem) in _warned:
        return
    _warned.add((key, problem))
    warnings.warn(f"arty: {problem} for key '{key}'; value not logged", RuntimeWarning, stacklevel=4)


def flatten(data: dict[Any, Any], prefix: str = "", sep: str = "/") -> dict[str, Any]:
    """Flatten nested dicts with ``sep``; non-string keys become strings (with a warning)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if not isinstance(k, str):
            warn_once(str(k), f"non-string key {k!r} stored as '{k}'")
            k = str(k)
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + sep, sep))
        else:
            out[key] = v
    return out


def clean(key: str, value: Any, media: bool = False) -> tuple[bool, Any]:
    """``(ok, value)`` with scalars of numpy/torch/etc. turned into Python values.

    Lists and tuples of plain values are kept. With ``media`` (a history row),
    images, tables and histograms are kept as they are, for the run's writer to
    store; without (the summary), histograms become their JSON dict and images
    and tables are refused. A histogram with no finite value is refused. Anything
    else that cannot be stored is refused (``ok`` False) with one warning per key.
    """
    t = type(value)
    if t in PLAIN or value is None:
        return True, value
    if isinstance(value, MEDIA):  # encoded by the run's writer (arty.tracking.media)
        if isinstance(value, Histogram):
            if value.empty:
                warn_once(key, "histogram has no finite value")
                return False, None
            return True, value if media else value.to_json()
        if not media:
            warn_once(key, f"cannot keep {'an image' if isinstance(value, Image) else 'a table'} in the summary "
                           "(log it instead)")
            return False, None
        return True, value.copy() if isinstance(value, Table) else value  # later add_data() is not logged
    if isinstance(value, PLAIN):  # subclasses (e.g. IntEnum, numpy.float64 is a float subclass)
        if isinstance(value, bool):
            return True, bool(value)
        if isinstance(value, int):
            return True, int(value)
        if isinstance(value, float):
            return True, float(value)
        return True, str(value)
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalars and 0-d arrays, torch scalars and 1-element tensors
        try:
            size = getattr(value, "size", 1)
            size = size() if callable(size) else size
            n = 1
            for d in (size if isinstance(size, tuple) else (size,)):
                n *= int(d)
            if n == 1:
                v = item()
                if type(v) in PLAIN:
                    return True, v
        except Exception:  # noqa: BLE001 - a strange object: refused below
            pass
    if isinstance(value, (list, tuple)) and len(value) <= 1024:
        items = []
        for v in value:
            ok, cv = clean(key, v, media)
            if not ok:
                return False, None
            items.append(cv)
        return True, items
    if hasattr(value, "to_json") and callable(value.to_json):  # media and tables of later issues
        try:
            return True, value.to_json()
        except Exception:  # noqa: BLE001
            pass
    warn_once(key, f"cannot store a value of type {type(value).__name__}")
    return False, None


def is_number(v: Any) -> bool:
    """A real number usable by min/max/mean (bools excluded, NaN included)."""
    return type(v) in (int, float) or (isinstance(v, (int, float)) and not isinstance(v, bool))


def finite(v: float) -> bool:
    return not (isinstance(v, float) and (math.isnan(v) or math.isinf(v)))
