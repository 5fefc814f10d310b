"""History and system-metric segments: columnar, gzipped JSON.

A segment is ``{"format": 1, "rows": N, "columns": {key: column}}`` where a
column is either

* a JSON list with one value per row (``null`` where the key was not logged;
  NaN and infinities as Python's json writes them), or
* for a column of only floats or only 64-bit ints: ``{"dtype": "f8"|"i8",
  "data": base64 of little-endian values}``, which stores NaN and infinities
  bit-exactly and reads and writes many times faster than JSON numbers.

Readers must accept both. Keys beginning with ``_`` are Arty's (``_step``,
``_timestamp``, ``_runtime``).
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
from array import array
from typing import Any, Iterable

from arty.store import text

FORMAT = 1
_I8_MIN, _I8_MAX = -(2 ** 63), 2 ** 63 - 1


def encode_column(values: list[Any]) -> Any:
    """A list, or a packed array when every value is a float (or every one an int64)."""
    if values:
        first = type(values[0])
        if first is float and all(type(v) is float for v in values):
            arr = array("d", values)
        elif first is int and all(type(v) is int for v in values) and \
                _I8_MIN <= min(values) and max(values) <= _I8_MAX:
            arr = array("q", values)
        else:
            return values
        if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
            arr.byteswap()
        return {"dtype": "f8" if arr.typecode == "d" else "i8", "data": base64.b64encode(arr.tobytes()).decode()}
    return values


def decode_column(column: Any) -> list[Any]:
    """The list of values of an encoded column."""
    if isinstance(column, list):
        return column
    if isinstance(column, dict) and column.get("dtype") in ("f8", "i8"):
        arr = array("d" if column["dtype"] == "f8" else "q")
        arr.frombytes(base64.b64decode(column["data"]))
        if sys.byteorder != "little":  # pragma: no cover
            arr.byteswap()
        return arr.tolist()
    raise ValueError(f"unknown column encoding {type(column).__name__}")


def columnar(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """``[{"a": 1}, {"b": 2}]`` -> ``{"a": [1, None], "b": [None, 2]}``."""
    if not rows:
        return {}
    keys0 = rows[0].keys()
    if all(r.keys() == keys0 for r in rows):
        return {k: [r[k] for r in rows] for k in keys0}
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    return {k: [r.get(k) for r in rows] for k in keys}


def encode_rows(rows: list[dict[str, Any]]) -> bytes:
    """One segment's bytes for ``rows``."""
    cols = {k: encode_column(v) for k, v in columnar(rows).items()}
    return encode({"format": FORMAT, "rows": len(rows), "columns": cols})


def encode(obj: dict[str, Any]) -> bytes:
    """Gzipped JSON; text that is not valid Unicode is stored as U+FFFD, with a warning (:mod:`arty.store.text`)."""
    return gzip.compress(text.dumps(obj, "history segment", sort_keys=False, allow_nan=True, default=repr),
                         compresslevel=1)


def decode(data: bytes) -> dict[str, Any]:
    return json.loads(gzip.decompress(data))


def decode_columns(data: bytes, keys: Iterable[str] | None = None) -> tuple[int, dict[str, list[Any]]]:
    """``(rows, {key: values})`` of a segment, only ``keys`` (plus none else) when given."""
    seg = decode(data)
    cols = seg.get("columns", {})
    wanted = cols.keys() if keys is None else [k for k in keys if k in cols]
    return int(seg.get("rows", 0)), {k: decode_column(cols[k]) for k in wanted}


def rows_of(data: bytes, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The rows of a segment as dicts (keys that were not logged in a row are left out)."""
    n, cols = decode_columns(data, keys)
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for k, values in cols.items():
        for row, v in zip(out, values):
            if v is not None:
                row[k] = v
    return out
