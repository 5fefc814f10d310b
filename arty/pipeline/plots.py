"""Plots files of a step: declared as DVC declares them in ``dvc.yaml``, read after the command
succeeded, and recorded in the step's run as history rows or as a chart table.

A declaration is a path, or a one-key mapping of a path to its properties::

    plots:
      - build/loss.csv                                  # every numeric column over the row index
      - build/train.json: {x: epoch, y: [loss, val_loss]}
      - build/cm.json: {template: confusion, x: actual, y: predicted}
      - build/pr.csv: {x: recall, y: precision, title: PR curve}

Files (as DVC reads them): CSV or TSV with a header row (``header: false``: columns named
``0``, ``1``, ...), or JSON/YAML holding an array of objects (or an object whose first array
of objects is read). Properties: ``x``, ``y`` (a field or a list), ``template``, ``title``,
``x_label``, ``y_label``, ``header``.

Contract of :func:`read_plot`: a missing file, an unknown format, a field the file lacks, or a
series value that is not a number raises :class:`PlotError` naming the file; nothing is logged
for it. What a readable file becomes (:class:`PlotData`):

* templates ``linear``, ``simple``, ``smooth`` (the default is ``linear``) whose x values are
  integers that never decrease (no ``x``: the file's ``step`` column if it has one, else the
  row index, DVC's generated ``step``): **history** rows at
  step x, one key ``NAME/FIELD`` per y field (``NAME``: the file name without its extension;
  without ``y``, every numeric column but x);
* the same templates over another x (a PR curve over recall), ``scatter``, ``scatter_jitter``,
  ``bar_horizontal``, ``bar_horizontal_sorted``: a **table** with a chart spec under ``NAME``
  (as :mod:`arty.plot` logs one);
* ``confusion`` and ``confusion_normalized``: one row per sample (x: actual, y: predicted, as
  DVCLive writes them), counted into W&B's confusion table (``Actual``, ``Predicted``,
  ``nPredictions``; ``fraction`` of the actual class's samples when normalized) under ``NAME``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from arty.errors import UsageError

SERIES_TEMPLATES = ("linear", "simple", "smooth")
TABLE_TEMPLATES = ("scatter", "scatter_jitter", "confusion", "confusion_normalized", "bar_horizontal",
                   "bar_horizontal_sorted")
TEMPLATES = SERIES_TEMPLATES + TABLE_TEMPLATES
PLOT_KEYS = ("x", "y", "template", "title", "x_label", "y_label", "header")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
#: The column the row index is given as when a plot has no ``x`` (DVC's generated field).
INDEX = "step"


class PlotError(UsageError):
    """A plots file that cannot be read as its declaration says."""


@dataclass(frozen=True)
class Plot:
    """A declared plots file (``path`` absolute) and how to read it."""

    path: str
    name: str
    x: str | None = None
    y: tuple[str, ...] = ()
    template: str = "linear"
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None
    header: bool = True

    def to_json(self, base: str) -> dict[str, Any]:
        """The declaration with ``path`` relative to ``base`` (for the run cache's fingerprint)."""
        out: dict[str, Any] = {"path": os.path.relpath(self.path, base).replace(os.sep, "/")}
        for k in PLOT_KEYS:
            v = getattr(self, k)
            if k == "y":
                v = list(v) or None
            if v is not None and not (k == "template" and v == "linear") and not (k == "header" and v):
                out[k] = v
        return out


@dataclass
class PlotData:
    """What one plots file logs: history values by step, or one chart table."""

    plot: Plot
    series: dict[int, dict[str, float]] = field(default_factory=dict)
    table: tuple[list[str], list[list[Any]], dict[str, Any]] | None = None  # columns, rows, chart spec


def plot_name(path: str) -> str:
    """``build/loss.csv`` -> ``loss``."""
    return os.path.splitext(os.path.basename(path))[0] or os.path.basename(path)


def _fields(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list) and value and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return tuple(str(v) for v in value)
    raise UsageError(f"{where}: '{key}' must be a field name or a list of them")


def parse_plot(entry: Any, where: str, base: str) -> Plot:
    """One entry of ``plots:``: ``PATH`` or ``{PATH: {x, y, template, ...}}``."""
    if isinstance(entry, str) and entry.strip():
        path, props = entry.strip(), {}
    elif isinstance(entry, dict) and len(entry) == 1:
        path, props = next(iter(entry.items()))
        path = str(path)
        props = {} if props is None else props
        if not isinstance(props, dict):
            raise UsageError(f"{where}: plot '{path}' must map to its properties",
                             hint="- PATH: {x: FIELD, y: FIELD, template: NAME}")
    else:
        raise UsageError(f"{where}: each entry of 'plots' is a path or a mapping of one path to its properties",
                         hint="- build/loss.csv   or   - build/cm.json: {template: confusion, x: actual, y: predicted}")
    at = f"{where}: plot '{path}'"
    unknown = set(props) - set(PLOT_KEYS)
    if unknown:
        raise UsageError(f"{at} has unknown key(s): {', '.join(sorted(map(str, unknown)))}",
                         hint="a plot has: " + ", ".join(PLOT_KEYS))
    template = str(props.get("template") or "linear")
    if template not in TEMPLATES:
        raise UsageError(f"{at}: unknown template '{template}'", hint="templates: " + ", ".join(TEMPLATES))
    x = _fields(props.get("x"), at, "x")
    if len(x) > 1:
        raise UsageError(f"{at}: 'x' must be one field")
    header = props.get("header", True)
    if not isinstance(header, bool):
        raise UsageError(f"{at}: 'header' must be true or false")
    text = {k: (None if props.get(k) is None else str(props[k])) for k in ("title", "x_label", "y_label")}
    full = os.path.normpath(os.path.join(base, path))
    return Plot(full, plot_name(full), x[0] if x else None, _fields(props.get("y"), at, "y"), template,
                header=header, **text)


def parse_plots(raw: Any, where: str, base: str) -> list[Plot]:
    """The ``plots:`` of a step (a list, or one entry); two plots with one name are refused."""
    if raw is None:
        return []
    entries = raw if isinstance(raw, list) else [raw]
    return check_plot_names([parse_plot(e, where, base) for e in entries], where)


def check_plot_names(plots: list[Plot], where: str) -> list[Plot]:
    """``plots``, unless two of them have one name (they would log the same keys)."""
    seen: dict[str, str] = {}
    for p in plots:
        if p.name in seen:
            raise UsageError(f"{where}: plots '{seen[p.name]}' and '{p.path}' have the same name '{p.name}'",
                             hint="a plot is named by its file name without the extension: rename one file")
        seen[p.name] = p.path
    return plots


def parse_plot_option(text: str, base: str) -> Plot:
    """``art run --plot``: ``PATH`` or the YAML of one ``plots:`` entry (``'cm.json: {template: confusion}'``)."""
    entry: Any = text
    if ":" in text:
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            loaded = None
        if isinstance(loaded, dict):
            entry = loaded
    return parse_plot(entry, "--plot", base)


# -- reading ---------------------------------------------------------------------------------------


def _cell(text: str) -> Any:
    """A CSV cell as a number when it is one; empty cells are missing (None)."""
    t = text.strip()
    if t == "":
        return None
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def _rows(plot: Plot) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns (in file order) and rows of a plots file."""
    fmt = FORMATS.get(os.path.splitext(plot.path)[1].lower())
    if fmt is None:
        raise PlotError(f"plot '{plot.path}' has an unknown format",
                        hint="plots files are .csv, .tsv, .json or .yaml")
    try:
        with open(plot.path, encoding="utf-8", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise PlotError(f"plot '{plot.path}' was not written",
                        hint="the command must write every declared plots file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlotError(f"plot '{plot.path}' cannot be read: {exc}") from None
    if fmt in ("csv", "tsv"):
        lines = [r for r in csv.reader(io.StringIO(text), delimiter="," if fmt == "csv" else "\t") if r]
        if not lines:
            raise PlotError(f"plot '{plot.path}' is empty")
        if plot.header:
            columns, body = [c.strip() for c in lines[0]], lines[1:]
        else:
            columns, body = [str(i) for i in range(max(len(r) for r in lines))], lines
        rows = []
        for n, r in enumerate(body, 2 if plot.header else 1):
            if len(r) > len(columns):
                raise PlotError(f"plot '{plot.path}' line {n} has {len(r)} cells for {len(columns)} columns")
            rows.append({c: _cell(v) for c, v in zip(columns, r)})
        return columns, rows
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise PlotError(f"plot '{plot.path}' is not valid {fmt.upper()}: {exc}") from None
    if isinstance(data, dict):  # DVC: an object holding an array of objects
        data = next((v for v in data.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)),
                    None)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise PlotError(f"plot '{plot.path}' does not hold an array of objects",
                        hint='e.g. [{"step": 0, "loss": 0.9}, {"step": 1, "loss": 0.5}]')
    columns: list[str] = []
    for r in data:
        columns += [str(k) for k in r if str(k) not in columns]
    return columns, [{str(k): v for k, v in r.items()} for r in data]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read_plot(plot: Plot) -> PlotData:
    """Read ``plot``'s file into what it logs (see the module doc)."""
    columns, rows = _rows(plot)
    if not rows:
        raise PlotError(f"plot '{plot.path}' has no rows")
    for f in ([plot.x] if plot.x else []) + list(plot.y):
        if f not in columns:
            raise PlotError(f"plot '{plot.path}' has no field '{f}'", hint="its fields: " + ", ".join(columns))
    title = plot.title or plot.name
    if plot.template.startswith("confusion"):
        return _confusion(plot, columns, rows, title)
    x = plot.x or (INDEX if INDEX in columns else None)  # a file's own 'step' column is its x
    xs = [r.get(x) for r in rows] if x else list(range(len(rows)))
    if plot.y:
        ys = list(plot.y)
    elif plot.template in SERIES_TEMPLATES:
        ys = [c for c in columns if c != x and any(_number(r.get(c)) for r in rows)]
        if not ys:
            raise PlotError(f"plot '{plot.path}' has no numeric field to draw", hint="name one with 'y'")
    else:
        ys = [columns[-1]]  # DVC's default: the last field
    bar = plot.template.startswith("bar_horizontal")
    for y in ys:
        for n, r in enumerate(rows):
            v = r.get(y)
            if v is not None and not _number(v) and not bar:
                raise PlotError(f"plot '{plot.path}': field '{y}' of row {n + 1} is not a number ({v!r})")
    steps = plot.template in SERIES_TEMPLATES and all(isinstance(v, int) and not isinstance(v, bool) for v in xs) \
        and all(a <= b for a, b in zip(xs, xs[1:])) and xs[0] >= 0
    out = PlotData(plot)
    if steps:
        for s, r in zip(xs, rows):
            values = {f"{plot.name}/{y}": float(r[y]) for y in ys
                      if _number(r.get(y)) and math.isfinite(float(r[y]))}
            if values:
                out.series.setdefault(int(s), {}).update(values)
        return out
    xname = x or INDEX
    if bar:  # DVC's bar_horizontal: x the length, y the label
        label, value = ys[0], xname
        table_rows = [[r.get(label), v] for r, v in zip(rows, xs)]
        if plot.template == "bar_horizontal_sorted":
            table_rows.sort(key=lambda tr: tr[1] if _number(tr[1]) else -math.inf, reverse=True)
        out.table = ([label, value], table_rows, {"kind": "bar", "label": label, "value": value, "title": title})
        return out
    kind = "scatter" if plot.template.startswith("scatter") else "line"
    table_rows = [[v] + [r.get(y) for y in ys] for r, v in zip(rows, xs)]
    spec = {"kind": kind, "x": xname, "y": ys[0], "ys": ys, "title": title, "xname": plot.x_label or xname}
    out.table = ([xname, *ys], table_rows, spec)
    return out


def _class_order(c: str) -> tuple[bool, int, str]:
    """Whole-number classes first, in numeric order, then the others by name."""
    whole = c.lstrip("-").isdigit()
    return (not whole, int(c) if whole else 0, c)


def _confusion(plot: Plot, columns: list[str], rows: list[dict[str, Any]], title: str) -> PlotData:
    """Samples (x: actual, y: predicted) counted per pair of classes."""
    actual = plot.x or ("actual" if "actual" in columns else None)
    predicted = (plot.y[0] if plot.y else None) or ("predicted" if "predicted" in columns else None)
    if actual is None or predicted is None:
        raise PlotError(f"plot '{plot.path}': a confusion matrix needs 'x' (actual) and 'y' (predicted)",
                        hint="its fields: " + ", ".join(columns))
    pairs = [(str(r.get(actual)), str(r.get(predicted))) for r in rows]
    classes = sorted({c for p in pairs for c in p}, key=_class_order)
    counts: dict[tuple[str, str], int] = {}
    for p in pairs:
        counts[p] = counts.get(p, 0) + 1
    normalized = plot.template == "confusion_normalized"
    table_rows = []
    for a in classes:
        total = sum(counts.get((a, p), 0) for p in classes)
        for p in classes:
            n = counts.get((a, p), 0)
            table_rows.append([a, p, n] + ([round(n / total, 4) if total else 0.0] if normalized else []))
    cols = ["Actual", "Predicted", "nPredictions"] + (["fraction"] if normalized else [])
    spec = {"kind": "confusion_matrix", "x": "Predicted", "y": "Actual",
            "value": "fraction" if normalized else "nPredictions", "title": title, "classes": classes}
    return PlotData(plot, table=(cols, table_rows, spec))


def log_plots(run: Any, plots: list[Plot]) -> list[PlotError]:
    """Read every plot and log what could be read into ``run`` (a tracking run with no history
    yet): history rows in step order, chart tables with the first row. Returns the errors of the
    plots that could not be read (nothing of those is logged)."""
    from arty.tracking.media import Chart, Table

    errors: list[PlotError] = []
    rows: dict[int, dict[str, Any]] = {}
    tables: dict[str, Any] = {}
    for plot in plots:
        try:
            data = read_plot(plot)
        except PlotError as exc:
            errors.append(exc)
            continue
        for step, values in data.series.items():
            rows.setdefault(step, {}).update(values)
        if data.table is not None:
            cols, trows, spec = data.table
            tables[plot.name] = Chart(Table(columns=cols, data=trows), spec)
    first = min(rows) if rows else 0
    if tables:
        rows.setdefault(first, {}).update(tables)
    for step in sorted(rows):
        run.log(rows[step], step=step)
    return errors
