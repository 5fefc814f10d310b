"""Tables: rows under named columns, stored as one blob (Parquet, or JSON lines).

A :class:`Table` is built from rows or a pandas DataFrame and checked then:
it needs at least one column, every row as many cells as there are columns,
and each column one type of value (``None`` is allowed anywhere; ints and
floats mix as numbers). Cells are ``None``, bools, numbers or strings (numpy
and pandas scalars are converted; pandas' missing values become ``None``).

Encoded (:func:`encode_table`) it is Parquet when pyarrow is installed, else
JSON lines: a first line ``{"columns": [...], "format": "arty.table"}``, then
one JSON array per row (NaN and infinities as Python's json writes them).
Both decode with :func:`decode_table`. A table can be logged in a run
(``run.log({"preds": table})``) or added to an artifact
(``artifact.add(table, "preds")``, stored as ``preds.table.parquet`` or
``preds.table.jsonl``; ``version.get("preds")`` reads it back).
"""

from __future__ import annotations

import io
import json
import math
import warnings
from typing import Any, Iterable, Sequence

from arty.errors import MissingExtra, UsageError

FORMATS = ("parquet", "jsonl")
#: What ``artifact.add(table, name)`` appends to ``name``, per format.
SUFFIXES = {"parquet": ".table.parquet", "jsonl": ".table.jsonl"}
_KINDS = {bool: "bool", int: "number", float: "number", str: "string"}


def have_pyarrow() -> bool:
    """Whether Parquet can be written here."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _cell(value: Any) -> Any:
    """A storable cell: None, bool, int, float or str; numpy/pandas scalars converted."""
    t = type(value)
    if value is None or t in _KINDS:
        return value
    if t.__name__ in ("NAType", "NaTType"):  # pandas' missing values
        return None
    if isinstance(value, (bool, int, float, str)):  # subclasses: numpy.float64, IntEnum, ...
        return bool(value) if isinstance(value, bool) else \
            int(value) if isinstance(value, int) else float(value) if isinstance(value, float) else str(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:  # numpy scalars
        try:
            v = item()
        except (TypeError, ValueError):
            v = value
        if type(v) in _KINDS:
            return v
    raise UsageError(f"cannot store a table cell of type {type(value).__name__}",
                     hint="cells must be None, bools, numbers or strings; convert the column first")


class Table:
    """Rows under named columns. ``Table(columns=[...], data=rows)`` or ``Table(dataframe=df)``.

    ``format`` chooses the stored encoding: ``"parquet"`` (needs pyarrow),
    ``"jsonl"``, or None for Parquet when pyarrow is installed, else JSON lines.
    Raises :class:`UsageError` for a table without columns, rows of the wrong
    length, cells that cannot be stored and columns of mixed types. A table
    with columns but no rows is allowed, with a warning.
    """

    needs_blob = True

    def __init__(self, columns: Sequence[str] | None = None, data: Iterable[Sequence[Any]] | None = None,
                 dataframe: Any = None, format: str | None = None) -> None:
        if format is not None and format not in FORMATS:
            raise UsageError(f"invalid table format '{format}'", hint="use 'parquet', 'jsonl' or None")
        self.format = format
        if dataframe is not None:
            if data is not None:
                raise UsageError("a table takes data or dataframe, not both", hint="pass one of them")
            if not hasattr(dataframe, "columns") or not hasattr(dataframe, "to_dict"):
                raise UsageError(f"dataframe must be a pandas DataFrame, not {type(dataframe).__name__}")
            names = [str(c) for c in dataframe.columns] if columns is None else list(columns)
            if len(names) != len(dataframe.columns):
                raise UsageError(f"{len(names)} column names for a dataframe of {len(dataframe.columns)} columns")
            cols = [dataframe.iloc[:, i].tolist() for i in range(len(dataframe.columns))]
            self._set(names, cols)
        else:
            if columns is None:
                raise UsageError("a table needs columns", hint="arty.Table(columns=['id', 'label'], data=rows)")
            rows = [] if data is None else data
            if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
                raise UsageError(f"table data must be a list of rows, not {type(rows).__name__}",
                                 hint="e.g. data=[[1, 'cat'], [2, 'dog']]")
            names = list(columns) if not isinstance(columns, str) else [columns]
            cols: list[list[Any]] = [[] for _ in names]
            for i, row in enumerate(rows):
                if isinstance(row, (str, bytes, dict)) or not isinstance(row, Iterable):
                    raise UsageError(f"table row {i} is a {type(row).__name__}, not a list of cells",
                                     hint="each row is a list with one cell per column")
                if not isinstance(row, (list, tuple)):
                    row = list(row)
                if len(row) != len(names):
                    raise UsageError(f"table row {i} has {len(row)} cells for {len(names)} columns",
                                     hint="columns: " + ", ".join(map(str, names)))
                for c, v in zip(cols, row):
                    c.append(v)
            self._set(names, cols)

    def _set(self, names: list[Any], cols: list[list[Any]]) -> None:
        if not names:
            raise UsageError("a table needs at least one column", hint="arty.Table(columns=['id'], data=[[1], [2]])")
        if not all(isinstance(n, str) and n for n in names):
            raise UsageError(f"invalid table columns {names!r}", hint="column names are non-empty strings")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise UsageError(f"duplicate table column '{dup[0]}'", hint="column names must be unique")
        self.columns: list[str] = list(names)
        self._cols = [self._check_column(n, c) for n, c in zip(names, cols)]
        if not self.nrows:
            warnings.warn(f"arty: table with columns {', '.join(names)} has no rows", RuntimeWarning, stacklevel=4)

    @staticmethod
    def _check_column(name: str, values: list[Any]) -> list[Any]:
        out = []
        kind = None
        first = None
        for i, v in enumerate(values):
            v = _cell(v)
            if v is not None:
                k = _KINDS[type(v)]
                if kind is None:
                    kind, first = k, v
                elif k != kind:
                    if kind == "string" and type(v) is float and math.isnan(v):
                        v = None  # pandas' NaN in a column of strings is a missing value
                    elif k == "string" and type(first) is float and math.isnan(first) and \
                            all(x is None or (type(x) is float and math.isnan(x)) for x in out):
                        out = [None] * len(out)
                        kind, first = k, v
                    else:
                        raise UsageError(f"table column '{name}' mixes types: row {i} has {type(v).__name__} "
                                         f"{v!r} after {type(first).__name__} {first!r}",
                                         hint="give each column one type (None is allowed anywhere)")
            out.append(v)
        return out

    # -- reading ---------------------------------------------------------------

    @property
    def nrows(self) -> int:
        return len(self._cols[0]) if self._cols else 0

    @property
    def data(self) -> list[list[Any]]:
        """The rows, as lists of cells."""
        return [list(r) for r in zip(*self._cols)] if self.columns else []

    def column(self, name: str) -> list[Any]:
        """The values of one column."""
        try:
            return list(self._cols[self.columns.index(name)])
        except ValueError:
            raise UsageError(f"table has no column '{name}'", hint="columns: " + ", ".join(self.columns)) from None

    def get_dataframe(self) -> Any:
        """The table as a pandas DataFrame."""
        try:
            import pandas
        except ImportError as exc:
            raise MissingExtra("get_dataframe() needs pandas", hint="pip install pandas") from exc
        return pandas.DataFrame({n: c for n, c in zip(self.columns, self._cols)}, columns=self.columns)

    def add_data(self, *row: Any) -> None:
        """Append one row (one cell per column)."""
        if len(row) != len(self.columns):
            raise UsageError(f"table row has {len(row)} cells for {len(self.columns)} columns",
                             hint="columns: " + ", ".join(self.columns))
        cells = [_cell(v) for v in row]
        for name, col, v in zip(self.columns, self._cols, cells):
            self._check_column(name, col + [v])
        for col, v in zip(self._cols, cells):
            col.append(v)

    def copy(self) -> "Table":
        """A copy that does not change when this table does (``run.log`` keeps one)."""
        t = Table.__new__(Table)
        t.format, t.columns = self.format, list(self.columns)
        t._cols = [list(c) for c in self._cols]
        return t

    def __len__(self) -> int:
        return self.nrows

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return self.columns == other.columns and _same(self._cols, other._cols)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Table(columns={self.columns!r}, {self.nrows} rows)"

    # -- encoding ----------------------------------------------------------------

    def encoded_format(self) -> str:
        """The format :meth:`encode` writes."""
        if self.format == "parquet" and not have_pyarrow():
            raise MissingExtra("a Parquet table needs pyarrow", hint="pip install pyarrow, or use format='jsonl'")
        return self.format or ("parquet" if have_pyarrow() else "jsonl")

    def encode(self) -> tuple[str, bytes]:
        """``(format, bytes)`` of the stored table."""
        fmt = self.encoded_format()
        return fmt, encode_table(self.columns, self._cols, fmt)


def _same(a: list[list[Any]], b: list[list[Any]]) -> bool:
    def key(v: Any) -> Any:
        return "nan" if type(v) is float and math.isnan(v) else v

    return len(a) == len(b) and all(len(x) == len(y) and all(key(p) == key(q) for p, q in zip(x, y))
                                    for x, y in zip(a, b))


def encode_table(columns: list[str], cols: list[list[Any]], fmt: str) -> bytes:
    """The bytes of a table given column-wise, as Parquet or JSON lines."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = []
        for c in cols:
            types = {type(v) for v in c if v is not None}
            arrays.append(pa.array(c, type=pa.float64() if types == {int, float} else None))
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_arrays(arrays, names=list(columns)), buf, compression="zstd")
        return buf.getvalue()
    if fmt == "jsonl":
        lines = [json.dumps({"columns": list(columns), "format": "arty.table"}, separators=(",", ":"))]
        lines += [json.dumps(list(r), separators=(",", ":")) for r in zip(*cols)]
        return ("\n".join(lines) + "\n").encode()
    raise UsageError(f"invalid table format '{fmt}'", hint="use 'parquet' or 'jsonl'")


def decode_table(data: bytes, fmt: str | None = None, offset: int = 0,
                 limit: int | None = None) -> tuple[list[str], list[list[Any]], int]:
    """``(columns, rows, total)`` of an encoded table; ``rows`` are rows ``offset``
    to ``offset + limit`` (all from ``offset`` when ``limit`` is None), ``total``
    is the number of rows in the table. ``fmt`` None guesses from the bytes."""
    if offset < 0 or (limit is not None and limit < 0):
        raise UsageError(f"invalid table slice offset={offset} limit={limit}", hint="use numbers >= 0")
    if fmt is None:
        fmt = "parquet" if data[:4] == b"PAR1" else "jsonl"
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise MissingExtra("reading a Parquet table needs pyarrow", hint="pip install pyarrow") from exc
        try:
            t = pq.read_table(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors are many
            raise UsageError(f"not a readable Parquet table: {exc}") from None
        total = t.num_rows
        part = t.slice(offset, limit) if limit is not None else t.slice(offset)
        cols = [part.column(i).to_pylist() for i in range(part.num_columns)]
        return list(t.column_names), [list(r) for r in zip(*cols)] if cols else [], total
    if fmt == "jsonl":
        lines = data.decode("utf-8").splitlines()
        try:
            head = json.loads(lines[0]) if lines else None
            if not isinstance(head, dict) or head.get("format") != "arty.table":
                raise ValueError("no table header")
            body = lines[1:]
            end = len(body) if limit is None else offset + limit
            rows = [json.loads(x) for x in body[offset:end]]
        except (ValueError, IndexError) as exc:
            raise UsageError(f"not a readable JSON-lines table: {exc}") from None
        return list(head["columns"]), rows, len(body)
    raise UsageError(f"invalid table format '{fmt}'", hint="use 'parquet' or 'jsonl'")


def table_from_bytes(data: bytes, fmt: str | None = None) -> Table:
    """A :class:`Table` read back from its encoded bytes."""
    columns, rows, _ = decode_table(data, fmt)
    t = Table.__new__(Table)
    t.format = fmt or ("parquet" if data[:4] == b"PAR1" else "jsonl")
    t.columns = list(columns)
    t._cols = [list(c) for c in zip(*rows)] if rows else [[] for _ in columns]
    return t
