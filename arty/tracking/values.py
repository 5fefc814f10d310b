"""Turning what a training script logs into values Arty can store.

``flatten`` makes nested dicts flat (``{"train": {"loss": 1}}`` -> ``{"train/loss": 1}``,
warning when two entries become one key);
``clean`` turns numpy/torch scalars into Python numbers and refuses, with one clear
warning per key, what cannot be stored. Nothing here raises into a training loop.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from arty.tracking.media import BlobMedia, Chart, Histogram, Table

#: Types stored as they are (NaN and infinities included: JSON as Python writes it).
PLAIN = (int, float, str, bool)
#: Rich values kept as objects in the row until the writer stores them.
MEDIA = (BlobMedia, Table, Histogram, Chart)
_warned: set[tuple[str, str]] = set()


def note_once(key: str, kind: str, message: str, stacklevel: int = 4) -> None:
    """Warn ``arty: <message>`` once per process for ``key`` and ``kind`` of problem."""
    if (key, kind) in _warned:
        return
    _warned.add((key, kind))
    warnings.warn(f"arty: {message}", RuntimeWarning, stacklevel=stacklevel)


def warn_once(key: str, problem: str) -> None:
    """Warn, once per process and problem, that the value of ``key`` is not logged."""
    note_once(key, problem, f"{problem} for key '{key}'; value not logged", stacklevel=5)


def flatten(data: dict[Any, Any], prefix: str = "", sep: str = "/") -> dict[str, Any]:
    """Flatten nested dicts with ``sep``: ``{"a": {"b": 1}}`` -> ``{"a/b": 1}``.

    A non-string key becomes its ``str()`` (with a warning that says so). Two entries that
    become the same key (``{"a/b": 1, "a": {"b": 2}}``) cannot both be kept: the later one
    is, with a warning naming both. A dict that contains itself is left out, with a warning.
    Iterative, so any depth of nesting is fine.
    """
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}  # key -> where it came from, as subscripts: ['a']['b']
    stack = [(prefix, "", iter(data.items()), id(data))]
    while stack:
        pre, path, items, _ = stack[-1]
        for k, v in items:
            here = f"{path}[{k!r}]"
            if not isinstance(k, str):
                note_once(str(k), "non-string key", f"non-string key {k!r} stored as '{k}'")
                k = str(k)
            key = f"{pre}{k}"
            if isinstance(v, dict):
                if any(id(v) == frame[3] for frame in stack):
                    warn_once(key, "a dict that contains itself")
                    continue
                stack.append((key + sep, here, iter(v.items()), id(v)))
                break
            if key in out:
                note_once(key, "same key twice", f"{origin[key]} and {here} both become key '{key}'; the value "
                                                 f"of {here} is kept and that of {origin[key]} dropped")
            out[key] = v
            origin[key] = here
        else:
            stack.pop()
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
            what = "a chart" if isinstance(value, Chart) else "a table" if isinstance(value, Table) \
                else f"{'an' if value.kind[0] in 'aeiou' else 'a'} {value.kind}"
            warn_once(key, f"cannot keep {what} in the summary "
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
