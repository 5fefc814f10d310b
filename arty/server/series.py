"""Reading a run's history and system metrics as plottable series.

Segments are immutable once written (a running run adds new ones), so what is
read from each is remembered by path: its column names (read without decoding
values), and the columns decoded to float64 arrays (up to
:data:`COLUMN_CACHE_BYTES`). Polling a running run reads only its new
segments. Series are downsampled with
:func:`arty.server.downsample.min_max_indices`.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import numpy as np

from arty.errors import IntegrityError
from arty.index import records as _records
from arty.index import segments as _segments
from arty.server.downsample import is_number, min_max_indices
from arty.store import Store

#: Segments whose column names are remembered.
_NAMES_CACHE_SIZE = 20_000
#: Arty's own keys: an x axis, never a series of their own.
AXES = ("_step", "_timestamp", "_runtime")
#: Decoded columns kept in memory, in bytes (8 per value).
COLUMN_CACHE_BYTES = 256 * 1024 * 1024
_EMPTY = np.empty(0, dtype=np.float64)
#: Threads reading segments on a cold read.
_READ_THREADS = max(2, min(8, os.cpu_count() or 2))
_PLAIN_TYPES = {float, int, type(None)}


def column_floats(column: Any, rows: int, where: str, key: str) -> Any:
    """A stored column (a JSON list, or packed ``f8``/``i8`` values) as a float64 array; packed
    values are decoded straight into the array."""
    if isinstance(column, dict) and column.get("dtype") in ("f8", "i8"):
        try:
            raw = base64.b64decode(column["data"], validate=True)
            arr = np.frombuffer(raw, dtype="<f8" if column["dtype"] == "f8" else "<i8")
        except (ValueError, TypeError, KeyError, binascii.Error) as exc:
            raise IntegrityError(f"segment '{where}': column '{key}' cannot be decoded: {exc}") from None
        if len(arr) != rows:
            raise IntegrityError(f"segment '{where}': column '{key}' has {len(arr)} values for {rows} rows")
        return arr.astype(np.float64)
    values = _segments.decode_column(column) if not isinstance(column, list) else column
    if len(values) != rows:
        raise IntegrityError(f"segment '{where}': column '{key}' has {len(values)} values for {rows} rows")
    return as_floats(values)


def as_floats(values: list[Any]) -> Any:
    """A column as a float64 array: numbers as they are, NaN for anything else (not logged,
    text, a media value, a bool)."""
    if set(map(type, values)) <= _PLAIN_TYPES:
        try:
            return np.array(values, dtype=np.float64)
        except OverflowError:  # an int beyond a float's range
            pass
    return np.array([float(v) if is_number(v) else math.nan for v in values], dtype=np.float64)


class SeriesReader:
    """Reads series of the runs of one store (thread-safe)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._names: OrderedDict[str, list[str]] = OrderedDict()
        self._columns: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._column_bytes = 0
        self._rows: dict[str, int] = {}
        self._lock = threading.Lock()

    def segments(self, project: str, run_id: str, stream: str) -> Iterator[tuple[str, bytes]]:
        """``(path, bytes)`` of each segment of a stream, in order."""
        folder = f"{_records.run_dir(project, run_id)}/{stream}"
        for seq in _segments.segment_seqs(self.store.list(folder)):
            path = f"{folder}/{_segments.segment_name(seq)}"
            try:
                yield path, self.store.backend.read(path)
            except FileNotFoundError:
                continue

    def _segment_names(self, path: str, data: bytes) -> list[str]:
        with self._lock:
            got = self._names.get(path)
            if got is not None:
                self._names.move_to_end(path)
                return got
        names = _segments.column_names(data, path)
        self._remember_names(path, names)
        return names

    def _remember_names(self, path: str, names: list[str]) -> None:
        with self._lock:
            self._names[path] = names
            while len(self._names) > _NAMES_CACHE_SIZE:
                self._names.popitem(last=False)

    def _segment(self, path: str, keys: list[str] | None) -> tuple[int, dict[str, Any], list[str]]:
        """``(rows, {key: float64 array}, names)`` of one segment: ``keys`` (None: every column)
        as arrays with NaN where a value is no number (empty for a key the segment lacks),
        and the names of all its columns. Cached; the segment is read and gunzipped at most
        once for what was not."""
        with self._lock:
            rows = self._rows.get(path)
            names = self._names.get(path)
            out: dict[str, Any] = {}
            if names is not None:
                for k in names if keys is None else keys:
                    arr = self._columns.get((path, k))
                    if arr is not None:
                        self._columns.move_to_end((path, k))
                        out[k] = arr
        if rows is not None and names is not None:
            wanted = names if keys is None else keys
            if all(k in out or k not in names for k in wanted):
                return rows, {k: out.get(k, _EMPTY) for k in wanted}, names
        missing = None if keys is None else [k for k in keys if k not in out]
        rows, cols, names = _segments.read_columns_named(self.store.backend.read(path), missing, path, raw=True)
        fresh = {k: column_floats(v, rows, path, k) for k, v in cols.items() if k not in out}
        self._remember_names(path, names)
        with self._lock:
            self._rows[path] = rows
            for k, arr in fresh.items():
                if (path, k) not in self._columns:
                    self._columns[(path, k)] = arr
                    self._column_bytes += arr.nbytes
            while self._column_bytes > COLUMN_CACHE_BYTES and self._columns:
                _, old = self._columns.popitem(last=False)
                self._column_bytes -= old.nbytes
        out.update(fresh)
        wanted = names if keys is None else keys
        return rows, {k: out.get(k, _EMPTY) for k in wanted}, names

    def rows(self, project: str, run_id: str, stream: str) -> int:
        """Rows of a stream in the store so far (each segment's count is cached)."""
        folder = f"{_records.run_dir(project, run_id)}/{stream}"
        total = 0
        for seq in _segments.segment_seqs(self.store.list(folder)):
            try:
                total += self._segment(f"{folder}/{_segments.segment_name(seq)}", [])[0]
            except FileNotFoundError:
                continue
        return total

    def series(self, project: str, run_id: str, stream: str, x: str, keys: list[str] | None,
               samples: int) -> dict[str, Any]:
        """``{"x", "series": {key: {"x": [...], "y": [...]}}, "keys", "total_points"}``.

        ``keys`` None means every key of the stream except the axes. A point is kept when
        both its x and its y are numbers (finite); media, text and gaps are left out. Each
        series is downsampled to at most ``samples`` points (min/max buckets);
        ``total_points`` counts the points before downsampling, over all series returned.
        Decoded columns are cached (segments never change), so polling a running run reads
        only its new segments.
        """
        folder = f"{_records.run_dir(project, run_id)}/{stream}"
        paths = [f"{folder}/{_segments.segment_name(q)}" for q in _segments.segment_seqs(self.store.list(folder))]
        ask = None if keys is None else list(dict.fromkeys([x, *keys]))
        def read(path: str) -> tuple[int, dict[str, Any], list[str]] | None:
            try:
                return self._segment(path, ask)
            except FileNotFoundError:
                return None

        # gunzip and base64 release the GIL: a cold read of many segments goes faster in threads.
        if len(paths) > 1:
            with ThreadPoolExecutor(min(_READ_THREADS, len(paths))) as pool:
                results = list(pool.map(read, paths))
        else:
            results = [read(p) for p in paths]
        segs = []
        all_keys: dict[str, None] = {}
        for got in results:
            if got is None:
                continue
            rows, cols, names = got
            all_keys.update(dict.fromkeys(names))
            segs.append((rows, cols))
        listed = sorted(k for k in all_keys if k not in AXES)
        wanted = listed if keys is None else [k for k in keys if k != x]
        xs: dict[str, list[Any]] = {k: [] for k in wanted}
        ys: dict[str, list[Any]] = {k: [] for k in wanted}
        offset = 0
        for rows, cols in segs:
            xcol = cols.get(x, _EMPTY)
            if not len(xcol) and x == "_step":  # a segment without _step: rows count from 0
                xcol = np.arange(offset, offset + rows, dtype=np.float64)
            offset += rows
            if not len(xcol):
                continue
            for k in wanted:
                col = cols.get(k, _EMPTY)
                if len(col):
                    xs[k].append(xcol)
                    ys[k].append(col)
        total = 0
        out: dict[str, dict[str, list[Any]]] = {}
        for k in wanted:
            if not ys[k]:
                out[k] = {"x": [], "y": []}
                continue
            kx, ky = np.concatenate(xs[k]), np.concatenate(ys[k])
            keep = np.isfinite(kx) & np.isfinite(ky)
            kx, ky = kx[keep], ky[keep]
            total += len(ky)
            idx = min_max_indices(ky, samples)
            sx, sy = kx[idx], ky[idx]
            out[k] = {"x": (sx.astype(np.int64) if x == "_step" else sx).tolist(), "y": sy.tolist()}
        return {"x": x, "series": out, "keys": listed, "total_points": total}

    def media(self, project: str, run_id: str, key: str) -> list[dict[str, Any]]:
        """``[{"step", "value"}]``: the media values (dicts with ``_type``, or lists of them)
        logged under history key ``key``, in step order."""
        out: list[dict[str, Any]] = []
        offset = 0
        for path, data in self.segments(project, run_id, "history"):
            if key not in self._segment_names(path, data):
                offset += _segments.read_columns(data, [], path)[0]
                continue
            rows, cols = _segments.read_columns(data, ["_step", key], path)
            steps = cols.get("_step") or list(range(offset, offset + rows))
            offset += rows
            for step, value in zip(steps, cols.get(key) or []):
                if _is_media(value):
                    out.append({"step": step, "value": value})
        return out


def _is_media(value: Any) -> bool:
    if isinstance(value, dict):
        return isinstance(value.get("_type"), str)
    if isinstance(value, list) and value:
        return all(isinstance(v, dict) and isinstance(v.get("_type"), str) for v in value)
    return False
