"""Tables: rows under named columns, stored as one blob (Parquet, or JSON lines).

The API follows W&B's ``wandb.Table``: ``Table(columns=[...], data=rows)``,
``add_data``, ``add_column``, ``add_computed_columns``, ``get_column``,
``get_index``, ``iterrows``, ``get_dataframe``, ``cast``, with ``dtype``,
``optional`` and ``allow_mixed_types`` (docs/media.md lists what differs).

Cells are ``None``, bools, numbers, strings, lists (nested lists and numpy
arrays, stored as lists), dicts with string keys, and media objects: any
object with a ``table_cell_type`` class attribute (``arty.Image``, ``arty.Audio``, ...). This layer
does not know the media types: before a table with media objects is encoded,
whoever stores it (a run, :mod:`arty.tracking.media`) calls :meth:`Table.resolved`
to turn each object into its stored dict (``{"_type": "image", "digest": ...}``);
a stored dict with a ``_type`` is a cell of that kind. Each column holds one
kind of cell unless ``allow_mixed_types`` (``None`` is allowed where the column
is optional; ints and floats mix as numbers).

Encoded (:meth:`Table.encode`) it is Parquet when pyarrow is installed, else
JSON lines: a first line ``{"columns": [...], "format": "arty.table"}``, then
one JSON array per row (NaN and infinities as Python's json writes them). In
Parquet, a column of one scalar kind is a native column; any other column
(lists, dicts, media, mixed) holds each cell as a JSON string, and the file's
``arty.json_columns`` metadata names those columns. Both decode with
:func:`decode_table`. A table can be logged in a run (``run.log({"preds": table})``)
or added to an artifact (``artifact.add(table, "preds")``, stored as
``preds.table.parquet`` or ``preds.table.jsonl``; ``version.get("preds")``
reads it back).
"""

from __future__ import annotations

import io
import json
import math
import warnings
from typing import Any, Callable, Iterable, Iterator, Sequence

from arty.errors import MissingExtra, UsageError

FORMATS = ("parquet", "jsonl")
#: What ``artifact.add(table, name)`` appends to ``name``, per format.
SUFFIXES = {"parquet": ".table.parquet", "jsonl": ".table.jsonl"}
#: W&B's default columns, for ``Table()`` without ``columns``.
DEFAULT_COLUMNS = ("Input", "Output", "Expected")
LOG_MODES = ("IMMUTABLE", "MUTABLE")
_KINDS = {bool: "bool", int: "number", float: "number", str: "string"}
_SCALAR_KINDS = ("bool", "number", "string")
_JSON_COLUMNS_KEY = b"arty.json_columns"
_CELLS_HINT = ("cells are None, bools, numbers, strings, lists, numpy arrays, dicts, or media "
               "(arty.Image, Audio, Video, Html, Object3D, Molecule, Plotly, Histogram)")


class TableShapeError(UsageError, ValueError):
    """A row or column of the wrong length, or a bad column name (W&B raises ValueError)."""


class TableTypeError(UsageError, TypeError):
    """A cell that does not fit its column's type (W&B raises TypeError)."""


def have_pyarrow() -> bool:
    """Whether Parquet can be written here."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _scalar(value: Any) -> tuple[bool, Any]:
    """``(True, v)`` for a scalar cell (numpy/pandas scalars converted), else ``(False, value)``."""
    t = type(value)
    if value is None or t in _KINDS:
        return True, value
    if t.__name__ in ("NAType", "NaTType"):  # pandas' missing values
        return True, None
    if isinstance(value, (bool, int, float, str)):  # subclasses: numpy.float64, IntEnum, ...
        return True, bool(value) if isinstance(value, bool) else \
            int(value) if isinstance(value, int) else float(value) if isinstance(value, float) else str(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # numpy scalars
        try:
            v = item()
        except (TypeError, ValueError):
            v = value
        if type(v) in _KINDS:
            return True, v
    return False, value


def _plain(value: Any, where: str) -> Any:
    """A JSON-like copy of a value inside a list or dict cell."""
    ok, v = _scalar(value)
    if ok:
        return v
    if isinstance(value, (list, tuple)):
        return [_plain(x, where) for x in value]
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) >= 1:  # numpy arrays
        return [_plain(x, where) for x in value.tolist()]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TableTypeError(f"cannot store a dict with non-string keys in {where}",
                                 hint="dict cells need string keys")
        return {k: _plain(v, where) for k, v in value.items()}
    raise TableTypeError(f"cannot store a {type(value).__name__} inside a list or dict in {where}",
                         hint="nested values are None, bools, numbers, strings, lists or dicts; "
                              "media such as arty.Image go in a cell of their own")


def _cell(value: Any, where: str = "a table") -> tuple[Any, str | None]:
    """``(stored value, kind)`` of a cell; the kind is None for None."""
    ok, v = _scalar(value)
    if ok:
        return v, None if v is None else _KINDS[type(v)]
    if isinstance(getattr(type(value), "table_cell_type", None), str):  # media objects (arty.Image)
        return value, type(value).table_cell_type
    if isinstance(value, dict):
        d = _plain(value, where)
        kind = d.get("_type")
        return d, kind if isinstance(kind, str) and kind else "dict"
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and getattr(value, "ndim", 0) >= 1):
        return _plain(value, where), "list"
    raise TableTypeError(f"cannot store a cell of type {type(value).__name__} in {where}", hint=_CELLS_HINT)


def _kind_of_dtype(dtype: Any) -> str | None:
    """The cell kind a ``dtype`` (W&B's ``dtype`` argument) declares; None infers it."""
    if dtype is None:
        return None
    if dtype is bool:
        return "bool"
    if dtype in (int, float):
        return "number"
    if dtype is str:
        return "string"
    if dtype in (list, tuple) or getattr(dtype, "__name__", None) == "ndarray":
        return "list"
    if dtype is dict:
        return "dict"
    kind = getattr(dtype, "table_cell_type", None)
    if isinstance(dtype, type) and isinstance(kind, str):
        return kind
    raise TableTypeError(f"unsupported table dtype {dtype!r}",
                         hint="use None, bool, int, float, str, list, dict or arty.Image (one, or a list per column)")


def _is_nan(v: Any) -> bool:
    return type(v) is float and math.isnan(v)


class _Column:
    """One column's rule: its kind (declared or inferred), whether None is allowed."""

    __slots__ = ("kind", "declared", "optional")

    def __init__(self, kind: str | None = None, declared: bool = False, optional: bool = True) -> None:
        self.kind, self.declared, self.optional = kind, declared, optional

    def copy(self) -> "_Column":
        return _Column(self.kind, self.declared, self.optional)


class Table:
    """Rows under named columns, like W&B's ``wandb.Table``.

    ``Table(columns=None, data=None, rows=None, dataframe=None, dtype=None,
    optional=True, allow_mixed_types=False, log_mode="IMMUTABLE", format=None)``:
    ``columns`` defaults to W&B's ``["Input", "Output", "Expected"]``; ``data``
    (or the legacy ``rows``) is a list of rows, a 2-D numpy array or a pandas
    DataFrame; ``dataframe`` takes the columns from the DataFrame (``columns`` and
    ``data`` are then ignored, with a warning). ``dtype`` declares the kind of
    each column (one type, or a list per column), ``optional`` whether ``None`` is
    allowed (one bool, or a list per column). ``allow_mixed_types`` turns the
    type check off. ``format`` chooses the stored encoding: ``"parquet"`` (needs
    pyarrow), ``"jsonl"``, or None for Parquet when pyarrow is installed.

    Raises :class:`TableShapeError` (a ``ValueError``) for rows of the wrong
    length and bad column names, :class:`TableTypeError` (a ``TypeError``) for
    cells that do not fit their column, :class:`UsageError` for other bad input.
    """

    needs_blob = True

    def __init__(self, columns: Sequence[Any] | None = None, data: Any = None, rows: Any = None,
                 dataframe: Any = None, dtype: Any = None, optional: bool | Sequence[bool] = True,
                 allow_mixed_types: bool = False, log_mode: str = "IMMUTABLE", format: str | None = None) -> None:
        if format is not None and format not in FORMATS:
            raise UsageError(f"invalid table format '{format}'", hint="use 'parquet', 'jsonl' or None")
        if log_mode not in LOG_MODES:
            raise UsageError(f"table log_mode '{log_mode}' is not supported",
                             hint="run.log stores a copy of the table each time it is logged, as W&B's "
                                  "'MUTABLE'; use 'IMMUTABLE' or 'MUTABLE'")
        self.format = format
        self.log_mode = log_mode
        self.allow_mixed_types = bool(allow_mixed_types)
        if data is None and rows is not None:
            data = rows
        if dataframe is None and data is not None and _is_dataframe(data):
            dataframe, data = data, None
        if dataframe is not None:
            if not _is_dataframe(dataframe):
                raise UsageError(f"dataframe must be a pandas DataFrame, not {type(dataframe).__name__}")
            names = [str(c) for c in dataframe.columns]
            if data is not None or (columns is not None and list(columns) != names):
                warnings.warn("arty: a table from a dataframe takes its columns and rows from the dataframe; "
                              "columns and data are ignored", RuntimeWarning, stacklevel=2)
            cols = [dataframe.iloc[:, i].tolist() for i in range(len(dataframe.columns))]
        else:
            names = list(DEFAULT_COLUMNS) if columns is None else \
                [columns] if isinstance(columns, str) else list(columns)
            cols = self._columns_of_rows(names, [] if data is None else data)
        self.columns: list[str] = self._check_names(names)
        n = len(self.columns)
        kinds = list(dtype) if isinstance(dtype, (list, tuple)) else [dtype] * n
        opts = list(optional) if isinstance(optional, (list, tuple)) else [optional] * n
        if len(kinds) != n or len(opts) != n:
            raise TableShapeError(f"{len(kinds) if len(kinds) != n else len(opts)} "
                                  f"{'dtypes' if len(kinds) != n else 'optional flags'} for {n} columns",
                                  hint="give one for all columns, or a list with one per column")
        self._rules = [_Column(_kind_of_dtype(k), k is not None, bool(o)) for k, o in zip(kinds, opts)]
        self._cols = [self._check_column(j, c) for j, c in enumerate(cols)]

    @staticmethod
    def _columns_of_rows(names: list[Any], rows: Any) -> list[list[Any]]:
        if hasattr(rows, "tolist") and getattr(rows, "ndim", None) == 2:  # a 2-D numpy array
            rows = list(rows)
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
            raise UsageError(f"table data must be a list of rows, not {type(rows).__name__}",
                             hint="e.g. data=[[1, 'cat'], [2, 'dog']]")
        cols: list[list[Any]] = [[] for _ in names]
        for i, row in enumerate(rows):
            if isinstance(row, (str, bytes, dict)) or not isinstance(row, Iterable):
                raise UsageError(f"table row {i} is a {type(row).__name__}, not a list of cells",
                                 hint="each row is a list with one cell per column")
            if not isinstance(row, (list, tuple)):
                row = list(row)
            if len(row) != len(names):
                raise TableShapeError(f"table row {i} has {len(row)} cells for {len(names)} columns",
                                      hint="columns: " + ", ".join(map(str, names)))
            for c, v in zip(cols, row):
                c.append(v)
        return cols

    @staticmethod
    def _check_names(names: list[Any]) -> list[str]:
        out = [str(n) if type(n) is int else n for n in names]  # W&B takes int column names too
        if not all(isinstance(n, str) and n for n in out):
            raise TableShapeError(f"invalid table columns {names!r}", hint="column names are non-empty strings")
        if len(set(out)) != len(out):
            dup = sorted({n for n in out if out.count(n) > 1})
            raise TableShapeError(f"duplicate table column '{dup[0]}'", hint="column names must be unique")
        return out

    def _check_column(self, j: int, values: list[Any], rule: _Column | None = None) -> list[Any]:
        """The stored cells of column ``j`` (all of them); updates the rule's inferred kind."""
        rule = rule or self._rules[j]
        name = self.columns[j]
        out: list[Any] = []
        kind = rule.kind
        first: Any = None
        for i, raw in enumerate(values):
            v, k = _cell(raw, f"table column '{name}'")
            if k is None:
                if not rule.optional:
                    raise TableTypeError(f"table column '{name}' does not allow None (row {i})",
                                         hint="make the column optional: optional=True")
            elif self.allow_mixed_types or kind is None:
                kind = kind or k
                first = v if first is None else first
            elif k != kind:
                if kind == "string" and _is_nan(v):
                    v = None  # pandas' NaN in a column of strings is a missing value
                elif k == "string" and not rule.declared and all(x is None or _is_nan(x) for x in out):
                    out = [None] * len(out)  # a column of NaNs, then strings: the NaNs were missing values
                    kind, first = k, v
                else:
                    what = f"after {type(first).__name__} {_short(first)}" if first is not None else \
                        f"in a column of {kind}s" + (" (declared)" if rule.declared else "")
                    raise TableTypeError(f"table column '{name}' mixes types: row {i} has {type(v).__name__} "
                                         f"{_short(v)} {what}",
                                         hint="give each column one type (None is allowed anywhere), "
                                              "or pass allow_mixed_types=True")
            out.append(v)
        if not self.allow_mixed_types:
            rule.kind = kind
        return out

    # -- reading ---------------------------------------------------------------

    @property
    def nrows(self) -> int:
        return len(self._cols[0]) if self._cols else 0

    @property
    def data(self) -> list[list[Any]]:
        """The rows, as lists of cells."""
        return [list(r) for r in zip(*self._cols)] if self.columns else []

    def _index(self, name: Any) -> int:
        key = str(name) if type(name) is int else name
        try:
            return self.columns.index(key)
        except ValueError:
            raise TableShapeError(f"table has no column '{name}'",
                                  hint="columns: " + (", ".join(self.columns) or "none")) from None

    def column(self, name: str) -> list[Any]:
        """The values of one column."""
        return list(self._cols[self._index(name)])

    def get_column(self, name: str, convert_to: str | None = None) -> Any:
        """The values of column ``name``: a list, or with ``convert_to="numpy"`` a numpy
        array (an object array when the cells do not make a regular array)."""
        if convert_to not in (None, "numpy"):
            raise UsageError(f"invalid convert_to '{convert_to}'", hint="use None or 'numpy'")
        col = self.column(name)
        if convert_to is None:
            return col
        try:
            import numpy as np
        except ImportError as exc:
            raise MissingExtra("get_column(convert_to='numpy') needs numpy", hint="pip install numpy") from exc
        if any(isinstance(getattr(type(v), "table_cell_type", None), str) for v in col):
            out = np.empty(len(col), dtype=object)
            out[:] = col
            return out
        try:
            return np.array(col)
        except ValueError:  # ragged lists
            out = np.empty(len(col), dtype=object)
            out[:] = col
            return out

    def get_index(self) -> list[int]:
        """The row indexes, ``[0, 1, ..., nrows - 1]``."""
        return list(range(self.nrows))

    def index_ref(self, index: int) -> int:
        """The index of row ``index`` (checked)."""
        if not 0 <= index < self.nrows:
            raise TableShapeError(f"table has no row {index}", hint=f"the table has {self.nrows} rows")
        return index

    def iterrows(self) -> Iterator[tuple[int, list[Any]]]:
        """``(index, row)`` for each row, in order; ``row`` is a list of cells."""
        for i, row in enumerate(zip(*self._cols)):
            yield i, list(row)

    def get_dataframe(self) -> Any:
        """The table as a pandas DataFrame."""
        try:
            import pandas
        except ImportError as exc:
            raise MissingExtra("get_dataframe() needs pandas", hint="pip install pandas") from exc
        return pandas.DataFrame({n: c for n, c in zip(self.columns, self._cols)}, columns=self.columns)

    # -- changing ----------------------------------------------------------------

    def add_data(self, *row: Any) -> None:
        """Append one row: one cell per column, as arguments (``add_data(*cells)``).

        Raises :class:`TableShapeError` for the wrong number of cells and
        :class:`TableTypeError` for a cell that does not fit its column; the
        table is unchanged then."""
        if len(row) != len(self.columns):
            raise TableShapeError(f"table row has {len(row)} cells for {len(self.columns)} columns",
                                  hint="columns: " + (", ".join(self.columns) or "none"))
        cells: list[Any] = []
        rules: list[_Column] = []
        whole: dict[int, list[Any]] = {}  # columns checked again as a whole
        for j, v in enumerate(row):
            rule = self._rules[j].copy()
            cell, kind = _cell(v, f"table column '{self.columns[j]}'")
            if kind is None:
                if not rule.optional:
                    raise TableTypeError(f"table column '{self.columns[j]}' does not allow None (row {self.nrows})",
                                         hint="make the column optional: optional=True")
            elif not self.allow_mixed_types:
                if rule.kind is None:
                    rule.kind = kind
                elif kind != rule.kind:  # raises, naming the row, or reads NaN among strings as None
                    fresh = _Column(rule.kind if rule.declared else None, rule.declared, rule.optional)
                    whole[j] = self._check_column(j, self._cols[j] + [v], fresh)
                    rule = fresh
            cells.append(cell)
            rules.append(rule)
        for j, (col, v) in enumerate(zip(self._cols, cells)):
            if j in whole:
                self._cols[j] = whole[j]
            else:
                col.append(v)
        self._rules = rules

    def add_row(self, *row: Any) -> None:
        """Deprecated in W&B: :meth:`add_data`."""
        warnings.warn("arty: Table.add_row is deprecated, use add_data", DeprecationWarning, stacklevel=2)
        self.add_data(*row)

    def add_column(self, name: str, data: Any, optional: bool = False) -> None:
        """Add column ``name`` with the cells ``data`` (a list or a numpy array, one cell
        per row; the first column of an empty table sets the number of rows).
        ``optional`` allows None in it (W&B's default here is False)."""
        if not isinstance(name, str) or not name:
            raise TableShapeError(f"invalid table column name {name!r}", hint="column names are non-empty strings")
        if name in self.columns:
            raise TableShapeError(f"duplicate table column '{name}'", hint="column names must be unique")
        if hasattr(data, "tolist") and getattr(data, "ndim", 0) >= 1:
            values = list(data)
        elif isinstance(data, (list, tuple)):
            values = list(data)
        else:
            raise UsageError(f"column data must be a list or a numpy array, not {type(data).__name__}")
        if self.columns and len(values) != self.nrows:
            raise TableShapeError(f"column '{name}' has {len(values)} cells for a table of {self.nrows} rows",
                                  hint="give one cell per row")
        rule = _Column(None, False, bool(optional))
        self.columns.append(name)
        try:
            cells = self._check_column(len(self.columns) - 1, values, rule)
        except BaseException:
            self.columns.pop()
            raise
        self._rules.append(rule)
        self._cols.append(cells)

    def add_computed_columns(self, fn: Callable[[int, dict[str, Any]], dict[str, Any]]) -> None:
        """Add the columns ``fn(index, row)`` returns for each row (``row`` a dict by
        column name; the result a dict of new column name to cell). All or nothing."""
        new: dict[str, list[Any]] = {}
        for i, row in self.iterrows():
            out = fn(i, dict(zip(self.columns, row)))
            if not isinstance(out, dict):
                raise TableTypeError(f"add_computed_columns: the function returned a {type(out).__name__} "
                                     f"for row {i}", hint="return a dict of new column name to value")
            for k, v in out.items():
                new.setdefault(k, []).append(v)
        t = self.copy()
        for k, values in new.items():
            t.add_column(k, values, optional=True)
        self.columns, self._cols, self._rules = t.columns, t._cols, t._rules

    def cast(self, col_name: str, dtype: Any, optional: bool = False) -> None:
        """Declare the kind of column ``col_name`` (``int``, ``str``, ``arty.Image``, ...),
        checking the cells it holds; ``optional`` allows None."""
        j = self._index(col_name)
        rule = _Column(_kind_of_dtype(dtype), dtype is not None, bool(optional))
        mixed, self.allow_mixed_types = self.allow_mixed_types, False
        try:
            self._cols[j] = self._check_column(j, self._cols[j], rule)
        finally:
            self.allow_mixed_types = mixed
        self._rules[j] = rule

    def set_pk(self, *args: Any, **kwargs: Any) -> None:
        """Not supported: keys linking tables."""
        raise UsageError("table keys (set_pk, set_fk) are not supported",
                         hint="keep an id column and join the tables with get_dataframe()")

    set_fk = set_pk

    def copy(self) -> "Table":
        """A copy that does not change when this table does (``run.log`` keeps one)."""
        t = Table.__new__(Table)
        t.format, t.log_mode, t.allow_mixed_types = self.format, self.log_mode, self.allow_mixed_types
        t.columns = list(self.columns)
        t._cols = [list(c) for c in self._cols]
        t._rules = [r.copy() for r in self._rules]
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

    # -- media cells ---------------------------------------------------------------

    def media_cells(self) -> Iterator[Any]:
        """The media objects (cells with a ``table_cell_type``) not yet resolved."""
        for c in self._cols:
            for v in c:
                if isinstance(getattr(type(v), "table_cell_type", None), str):
                    yield v

    def resolved(self, resolve: Callable[[Any], Any]) -> "Table":
        """A copy with each media object replaced by ``resolve(obj)`` (its stored dict,
        or None when it could not be stored)."""
        t = self.copy()
        t._cols = [[resolve(v) if isinstance(getattr(type(v), "table_cell_type", None), str) else v for v in c]
                   for c in t._cols]
        return t

    def blob_refs(self) -> list[str]:
        """The digests the table's stored media cells name (``{"_type": ..., "digest": d, "blobs": [...]}``),
        sorted."""
        out: set[str] = set()
        for c in self._cols:
            for v in c:
                if type(v) is dict and isinstance(v.get("_type"), str) and isinstance(v.get("digest"), str):
                    out.add(v["digest"])
                    more = v.get("blobs")  # an image cell's masks
                    out.update(d for d in (more if isinstance(more, list) else []) if isinstance(d, str))
        return sorted(out)

    # -- encoding ----------------------------------------------------------------

    def encoded_format(self) -> str:
        """The format :meth:`encode` writes."""
        if self.format == "parquet" and not have_pyarrow():
            raise MissingExtra("a Parquet table needs pyarrow", hint="pip install pyarrow, or use format='jsonl'")
        return self.format or ("parquet" if have_pyarrow() else "jsonl")

    def encode(self) -> tuple[str, bytes]:
        """``(format, bytes)`` of the stored table. A table without columns, or with
        media objects not yet :meth:`resolved`, raises :class:`UsageError`; one
        without rows is encoded, with a warning."""
        if not self.columns:
            raise UsageError("a table needs at least one column", hint="arty.Table(columns=['id'], data=[[1], [2]])")
        for m in self.media_cells():
            raise UsageError(f"a table cell of type {type(m).__name__} can only be stored by a run",
                             hint="log the table in a run: run.log({'preds': table})")
        if not self.nrows:
            warnings.warn(f"arty: table with columns {', '.join(self.columns)} has no rows", RuntimeWarning,
                          stacklevel=3)
        fmt = self.encoded_format()
        return fmt, encode_table(self.columns, self._cols, fmt)


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def _is_dataframe(x: Any) -> bool:
    return hasattr(x, "columns") and hasattr(x, "iloc") and hasattr(x, "to_dict")


def _same(a: list[list[Any]], b: list[list[Any]]) -> bool:
    def key(v: Any) -> Any:
        return "nan" if type(v) is float and math.isnan(v) else v

    return len(a) == len(b) and all(len(x) == len(y) and all(key(p) == key(q) for p, q in zip(x, y))
                                    for x, y in zip(a, b))


def _json_column(values: list[Any]) -> bool:
    """Whether a column is stored as JSON strings in Parquet (anything but one scalar kind)."""
    kinds = {type(v) for v in values if v is not None}
    return not (kinds <= {bool} or kinds <= {int, float} or kinds <= {str})


def encode_table(columns: list[str], cols: list[list[Any]], fmt: str) -> bytes:
    """The bytes of a table given column-wise, as Parquet or JSON lines."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = []
        as_json = []
        for name, c in zip(columns, cols):
            if _json_column(c):
                as_json.append(name)
                arrays.append(pa.array([None if v is None else json.dumps(v, separators=(",", ":")) for v in c],
                                       type=pa.string()))
                continue
            types = {type(v) for v in c if v is not None}
            arrays.append(pa.array(c, type=pa.float64() if types == {int, float} else None))
        table = pa.Table.from_arrays(arrays, names=list(columns))
        if as_json:
            table = table.replace_schema_metadata({_JSON_COLUMNS_KEY: json.dumps(as_json).encode()})
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
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
        meta = t.schema.metadata or {}
        if _JSON_COLUMNS_KEY in meta:
            try:
                as_json = set(json.loads(meta[_JSON_COLUMNS_KEY]))
                cols = [[None if v is None else json.loads(v) for v in c] if name in as_json else c
                        for name, c in zip(t.column_names, cols)]
            except (ValueError, TypeError) as exc:
                raise UsageError(f"not a readable Parquet table: bad JSON cell: {exc}") from None
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
    """A :class:`Table` read back from its encoded bytes. Column kinds are inferred
    from the cells; a table stored with mixed columns reads back with
    ``allow_mixed_types`` on."""
    columns, rows, _ = decode_table(data, fmt)
    t = Table.__new__(Table)
    t.format = fmt or ("parquet" if data[:4] == b"PAR1" else "jsonl")
    t.log_mode, t.allow_mixed_types = "IMMUTABLE", False
    t.columns = list(columns)
    t._rules = [_Column() for _ in columns]
    cols = [list(c) for c in zip(*rows)] if rows else [[] for _ in columns]
    try:
        t._cols = [t._check_column(j, c) for j, c in enumerate(cols)]
    except TableTypeError:
        t.allow_mixed_types, t._rules = True, [_Column() for _ in columns]
        t._cols = cols
    return t


def _table_blob(store: Any, value: dict[str, Any]) -> bytes:
    """The bytes of a logged table (its history dict ``{"_type": "table", "digest", ...}``),
    read from ``store`` and verified against the digest."""
    from arty.hashing import Digest

    if not isinstance(value, dict) or value.get("_type") != "table" or "digest" not in value:
        raise UsageError("not a table value", hint="expected a history dict with _type 'table'")
    return store.read_blob(Digest.parse(value["digest"]))


def read_table(store: Any, value: dict[str, Any], offset: int = 0,
               limit: int | None = None) -> tuple[list[str], list[list[Any]], int]:
    """``(columns, rows, total)`` of a logged table, from its history dict and the store
    (the blob is verified against its digest). ``offset``/``limit`` page the rows."""
    return decode_table(_table_blob(store, value), value.get("format"), offset, limit)


def load_table(store: Any, value: dict[str, Any]) -> Table:
    """A logged table as a :class:`Table` (from its history dict and the store)."""
    return table_from_bytes(_table_blob(store, value), value.get("format"))
