"""Reading a run's segments: history, system metrics and console output.

A history or system segment (``history/<seq>.json.gz``, ``system/<seq>.json.gz``)
is gzipped JSON ``{"format": 1, "rows": N, "columns": {key: column}}`` where a
column is either a JSON list with one value per row (``null`` where the key was
not logged in that row; NaN and infinities as Python's json writes them) or,
for a column of only floats or only 64-bit ints, ``{"dtype": "f8"|"i8",
"data": base64 of little-endian values}``. A console segment is
``{"format": 1, "lines": [[unix time, "stdout"|"stderr", text], ...]}``.

Reading is built for speed: only the columns asked for are decoded (the
others are skipped without parsing their numbers), packed columns decode
with one ``array.frombytes``, and rows are built by a small generated
function instead of ``dict(zip(...))`` for each row. When the optional
``orjson`` package is installed, JSON lists of plain numbers are parsed with
it (same values; NaN, infinities and huge integers still go through ``json``).
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from typing import Any, Iterable, Sequence

from arty.errors import IntegrityError, UnsupportedStore
from arty.store import segments as _codec

try:  # optional: parses long lists of numbers several times faster than the json module
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

FORMAT = 1
STREAMS = ("history", "system", "console")
_SEGMENT_NAME = re.compile(r"(\d+)\.json\.gz")
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
#: Rows with more keys than this are built with dict(zip()) rather than a generated function.
_MAX_GENERATED_KEYS = 200


def segment_seqs(names: Iterable[str]) -> list[int]:
    """The sequence numbers of the segment files among ``names``, ascending."""
    out = []
    for n in names:
        m = _SEGMENT_NAME.fullmatch(n)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def segment_name(seq: int) -> str:
    return f"{seq:08d}.json.gz"


def _text(data: bytes, where: str) -> str:
    try:
        return gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise IntegrityError(f"segment '{where}' cannot be read: {exc}",
                             hint="a damaged upload? 'art sync' re-uploads what a run left locally") from None


def _check_format(value: Any, where: str) -> None:
    if value != FORMAT:
        raise UnsupportedStore(f"segment '{where}' has format {value!r}, this Arty reads format {FORMAT}",
                               hint="upgrade Arty: pip install -U arty")


def decode_column(column: Any, rows: int | None = None) -> list[Any]:
    """The values of one column, whichever way it was written (see :mod:`arty.store.segments`)."""
    return _codec.decode_column(column)


def _skip_value(text: str, i: int) -> int:
    """The index just after the JSON value starting at ``text[i]``, parsing as little as possible."""
    if text[i] == "[":
        end = text.find("]", i)
        # A list of numbers (the usual metric column): no string, list or object inside.
        if end > 0:
            inner = text[i + 1:end]
            if '"' not in inner and "[" not in inner and "{" not in inner:
                return end + 1
    return _DECODER.raw_decode(text, i)[1]


def _decode_value(text: str, i: int) -> tuple[Any, int]:
    """The JSON value starting at ``text[i]`` and the index after it."""
    if _orjson is not None and text[i] == "[":
        end = text.find("]", i)
        if end > 0:
            inner = text[i + 1:end]
            if not any(c in inner for c in '"[{NI'):  # plain numbers and nulls only
                try:
                    return _orjson.loads(text[i:end + 1]), end + 1
                except ValueError:  # e.g. an integer beyond 64 bits
                    pass
    return _DECODER.raw_decode(text, i)


def _parse_columns(text: str, wanted: set[str] | None, where: str) -> tuple[int, dict[str, Any]]:
    """``(rows, {key: raw column})`` of a segment's JSON text, only ``wanted`` keys when given.

    Walks the top-level object and the columns itself, so that unwanted columns are skipped
    rather than parsed.
    """
    try:
        return _walk_top(text, wanted, where)
    except (ValueError, IndexError, TypeError) as exc:
        raise IntegrityError(f"segment '{where}' is not valid JSON: {exc}") from None


def _walk_top(text: str, wanted: set[str] | None, where: str) -> tuple[int, dict[str, Any]]:
    i = _WS.match(text, 0).end()
    if text[i] != "{":
        raise ValueError("not an object")
    i += 1
    rows, columns, fmt = 0, {}, None
    while True:
        i = _WS.match(text, i).end()
        if text[i] == "}":
            break
        key, i = _DECODER.raw_decode(text, i)
        i = _WS.match(text, i).end()
        if text[i] != ":":
            raise ValueError(f"expected ':' at {i}")
        i = _WS.match(text, i + 1).end()
        if key == "columns":
            columns, i = _walk_columns(text, i, wanted)
        elif key in ("rows", "format"):
            value, i = _DECODER.raw_decode(text, i)
            if key == "rows":
                rows = int(value)
            else:
                fmt = value
        else:
            i = _skip_value(text, i)
        i = _WS.match(text, i).end()
        if text[i] == ",":
            i += 1
    _check_format(fmt, where)
    return rows, columns


def _walk_columns(text: str, i: int, wanted: set[str] | None) -> tuple[dict[str, Any], int]:
    if text[i] != "{":
        raise ValueError("columns is not an object")
    i += 1
    out: dict[str, Any] = {}
    while True:
        i = _WS.match(text, i).end()
        if text[i] == "}":
            return out, i + 1
        key, i = _DECODER.raw_decode(text, i)
        i = _WS.match(text, i).end()
        if text[i] != ":":
            raise ValueError(f"expected ':' at {i}")
        i = _WS.match(text, i + 1).end()
        if wanted is None or key in wanted:
            out[key], i = _decode_value(text, i)
        else:
            i = _skip_value(text, i)
        i = _WS.match(text, i).end()
        if text[i] == ",":
            i += 1


def _decode_all(columns: dict[str, Any], rows: int, where: str) -> dict[str, list[Any]]:
    """Every stored column decoded to a list of ``rows`` values; anything else is an IntegrityError."""
    out = {}
    for k, col in columns.items():
        try:
            values = decode_column(col)
        except (ValueError, TypeError, KeyError) as exc:
            raise IntegrityError(f"segment '{where}': column '{k}' cannot be decoded: {exc}") from None
        if len(values) != rows:
            raise IntegrityError(f"segment '{where}': column '{k}' has {len(values)} values for {rows} rows")
        out[k] = values
    return out


def read_columns(data: bytes, keys: Iterable[str] | None = None, where: str = "segment"
                 ) -> tuple[int, dict[str, list[Any]]]:
    """``(rows, {key: values})`` of a history or system segment's bytes.

    With ``keys``, only those columns are decoded (keys the segment lacks are
    left out). Every returned column has ``rows`` values.
    """
    rows, raw = _parse_columns(_text(data, where), None if keys is None else set(keys), where)
    return rows, _decode_all(raw, rows, where)


def read_console(data: bytes, where: str = "segment") -> list[tuple[float, str, str]]:
    """The ``(time, stream, text)`` lines of a console segment's bytes."""
    try:
        doc = json.loads(_text(data, where))
    except ValueError as exc:
        raise IntegrityError(f"segment '{where}' is not valid JSON: {exc}") from None
    _check_format(doc.get("format"), where)
    return [(line[0], line[1], line[2]) for line in doc.get("lines") or ()]


def last_time(data: bytes, stream: str, where: str = "segment") -> float | None:
    """The latest time recorded in a segment (``_timestamp`` or a console line's time)."""
    if stream == "console":
        times = [t for t, _, _ in read_console(data, where) if isinstance(t, (int, float))]
    else:
        _, cols = read_columns(data, ["_timestamp"], where)
        times = [t for t in cols.get("_timestamp", ()) if isinstance(t, (int, float))]
    return max(times) if times else None


# -- rows --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def _row_builder(names: tuple[str, ...]):  # noqa: ANN202
    """A function turning an iterable of value tuples into dicts keyed by ``names``.

    Generated (as ``collections.namedtuple`` does) because a dict display is
    about twice as fast as ``dict(zip(names, values))`` per row. ``names`` only
    ever appear as ``repr()`` literals in the generated source.
    """
    if len(names) > _MAX_GENERATED_KEYS:
        return lambda tuples: [dict(zip(names, t)) for t in tuples]
    vars_ = [f"v{i}" for i in range(len(names))]
    body = ", ".join(f"{n!r}: {v}" for n, v in zip(names, vars_))
    target = ", ".join(vars_) + ("," if len(vars_) == 1 else "")
    return eval(f"lambda tuples: [{{{body}}} for ({target}) in tuples]", {})  # noqa: S307


def build_rows(rows: int, columns: dict[str, list[Any]], names: Sequence[str], require_all: bool
               ) -> list[dict[str, Any]]:
    """Row dicts from columns.

    ``names`` are the keys in output order; the first is always present (the
    step or time). With ``require_all``, only rows where every name has a value
    are kept, and each has all of them; otherwise each row has the names that
    have a value in it (a key not logged in a row is left out of that row).
    """
    cols = [columns.get(n) or [None] * rows for n in names]
    has_none = any(None in c for c in cols)
    if not has_none:
        return _row_builder(tuple(names))(zip(*cols))
    if require_all:
        return _row_builder(tuple(names))(t for t in zip(*cols) if None not in t)
    return [{k: v for k, v in zip(names, t) if v is not None} for t in zip(*cols)]


def order_keys(keys: Iterable[str], first: str) -> list[str]:
    """``first``, then Arty's own ``_`` keys, then the rest sorted."""
    ks = set(keys)
    ks.discard(first)
    return [first] + sorted(k for k in ks if k.startswith("_")) + sorted(k for k in ks if not k.startswith("_"))


def sample(rows: list[Any], samples: int | None) -> list[Any]:
    """At most ``samples`` rows, evenly spaced, first and last included."""
    if samples is None or len(rows) <= samples:
        return rows
    if samples <= 0:
        return []
    if samples == 1:
        return [rows[-1]]
    n = len(rows) - 1
    return [rows[(i * n) // (samples - 1)] for i in range(samples)]


class _NameRecorder(set):  # type: ignore[type-arg]
    """A ``wanted`` set that remembers every key it was asked about."""

    def __init__(self, wanted: Iterable[str] = ()) -> None:
        super().__init__(wanted)
        self.names: list[str] = []

    def __contains__(self, key: object) -> bool:
        self.names.append(str(key))
        return super().__contains__(key)


def column_names(data: bytes, where: str = "segment") -> list[str]:
    """The column keys of a history or system segment, in stored order, decoding no values."""
    return read_columns_named(data, (), where)[2]


def read_columns_named(data: bytes, keys: Iterable[str] | None, where: str = "segment", raw: bool = False
                       ) -> tuple[int, dict[str, Any], list[str]]:
    """``(rows, {key: values}, every column key)``: :func:`read_columns` for ``keys`` (None:
    all), plus the names of all the segment's columns, in one pass. With ``raw``, columns come
    as stored (a list, or a packed ``{"dtype", "data"}`` dict) instead of decoded lists."""
    recorder = None if keys is None else _NameRecorder(keys)
    rows, columns = _parse_columns(_text(data, where), recorder, where)
    names = list(columns) if recorder is None else recorder.names
    if raw:
        return rows, columns, names
    return rows, _decode_all(columns, rows, where), names
