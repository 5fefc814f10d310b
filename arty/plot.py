"""W&B's ``wandb.plot`` with ``arty`` in place of ``wandb``: charts the UI draws.

::

    table = arty.Table(data=[[x, x * x] for x in range(10)], columns=["x", "y"])
    run.log({"square": arty.plot.line(table, "x", "y", title="x squared")})
    run.log({"cm": arty.plot.confusion_matrix(y_true=y, preds=p, class_names=["cat", "dog"])})

Each function takes W&B's arguments and returns an :class:`arty.tracking.media.Chart`: an
:class:`arty.Table` holding the points plus a spec of what to draw (``kind``, ``title``
and the columns of each axis). ``run.log`` stores it as a table with the spec under
``"chart"``; the run's Media tab draws the chart above the table. The tables are W&B's:

* ``confusion_matrix``: columns ``Actual``, ``Predicted``, ``nPredictions``, one row per
  (actual, predicted) pair of classes;
* ``pr_curve``: ``class``, ``precision``, ``recall``; recall on ``interp_size`` points
  from 0 to 1 per class, precision interpolated (rounded to 3 decimals);
* ``roc_curve``: ``class``, ``fpr``, ``tpr``; one point per distinct score per class, from
  (0, 0) to (1, 1) (rounded to 3 decimals);
* ``line_series``: ``lineKey``, ``lineVal``, ``step``.

``split_table`` is accepted and ignored (the table is shown with its chart). numpy is
imported on first use (``pip install 'arty[media]'``).
"""

from __future__ import annotations

from typing import Any, Sequence

from arty.errors import UsageError
from arty.tracking.media import Chart, Table, _numpy

__all__ = ["Chart", "PlotArgumentError", "bar", "confusion_matrix", "histogram", "line", "line_series", "pr_curve",
           "roc_curve", "scatter"]


class PlotArgumentError(UsageError, ValueError):
    """Bad arguments to an ``arty.plot`` function (a ``ValueError``, as W&B raises)."""


def _columns(table: Any, fn: str, **fields: str) -> None:
    """Check that ``table`` is a Table holding each named column (W&B's arguments)."""
    if not isinstance(table, Table):
        raise PlotArgumentError(f"arty.plot.{fn} needs an arty.Table, not {type(table).__name__}",
                         hint=f"arty.plot.{fn}(arty.Table(columns=[...], data=rows), ...)")
    for arg, name in fields.items():
        if name not in table.columns:
            raise PlotArgumentError(f"column '{name}' ({arg}=) is not in the table for arty.plot.{fn}",
                             hint=f"the table's columns are {list(table.columns)}")


def line(table: Table, x: str, y: str, stroke: str | None = None, title: str = "", split_table: bool = False) -> Chart:
    """A line chart of column ``y`` over column ``x`` (one line per value of ``stroke``)."""
    _columns(table, "line", x=x, y=y, **({"stroke": stroke} if stroke is not None else {}))
    return Chart(table, {"kind": "line", "x": x, "y": y, "stroke": stroke, "title": title})


def scatter(table: Table, x: str, y: str, title: str = "", split_table: bool = False) -> Chart:
    """A scatter plot of column ``y`` against column ``x``."""
    _columns(table, "scatter", x=x, y=y)
    return Chart(table, {"kind": "scatter", "x": x, "y": y, "title": title})


def bar(table: Table, label: str, value: str, title: str = "", split_table: bool = False) -> Chart:
    """A bar chart: one bar per row, named by column ``label``, as long as column ``value``."""
    _columns(table, "bar", label=label, value=value)
    return Chart(table, {"kind": "bar", "label": label, "value": value, "title": title})


def histogram(table: Table, value: str, title: str = "", split_table: bool = False) -> Chart:
    """A histogram of column ``value`` (binned by the UI)."""
    _columns(table, "histogram", value=value)
    return Chart(table, {"kind": "histogram", "value": value, "title": title})


def line_series(xs: Sequence[Any], ys: Sequence[Sequence[Any]], keys: Sequence[str] | None = None,
                title: str = "", xname: str = "x", split_table: bool = False) -> Chart:
    """Several lines on one chart: ``ys[i]`` over ``xs`` (or ``xs[i]`` when ``xs`` is a list
    of lists), named ``keys[i]`` (default ``key_0``, ``key_1``, ...)."""
    ys = [list(y) for y in ys]
    if not ys:
        raise PlotArgumentError("arty.plot.line_series needs at least one line in ys", hint="ys=[[...], [...]]")
    per_line = len(xs) > 0 and all(isinstance(x, (list, tuple)) or hasattr(x, "__len__") and not isinstance(x, str)
                                   for x in xs)
    xss = [list(x) for x in xs] if per_line else [list(xs)] * len(ys)
    if len(xss) != len(ys):
        raise PlotArgumentError(f"arty.plot.line_series got {len(xss)} x lists for {len(ys)} lines",
                         hint="give one xs for all lines, or one per line")
    keys = list(keys) if keys is not None else [f"key_{i}" for i in range(len(ys))]
    if len(keys) != len(ys):
        raise PlotArgumentError(f"arty.plot.line_series got {len(keys)} keys for {len(ys)} lines",
                         hint="give one key per line in ys")
    rows = []
    for key, x, y in zip(keys, xss, ys):
        if len(x) != len(y):
            raise PlotArgumentError(f"line '{key}' has {len(y)} values for {len(x)} x values",
                             hint="each line in ys needs one value per x")
        rows += [[key, _plain(v), _plain(s)] for s, v in zip(x, y)]
    table = Table(columns=["lineKey", "lineVal", "step"], data=rows)
    return Chart(table, {"kind": "line", "x": "step", "y": "lineVal", "stroke": "lineKey", "title": title,
                         "xname": xname})


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def confusion_matrix(probs: Sequence[Sequence[float]] | None = None, y_true: Sequence[Any] | None = None,
                     preds: Sequence[Any] | None = None, class_names: Sequence[str] | None = None,
                     title: str = "Confusion Matrix Curve", split_table: bool = False) -> Chart:
    """A confusion matrix from ``y_true`` and either ``preds`` or ``probs`` (argmax per row).

    With ``class_names``, labels are indices into it (0 to K-1); without, the classes are
    the sorted distinct labels, named ``Class_1``, ``Class_2``, ... Raises
    :class:`PlotArgumentError` (a ``UsageError`` and a ``ValueError``, as W&B's) for both or
    neither of probs and preds, lengths that differ, or a label outside ``class_names``.
    """
    np = _numpy()
    if (probs is None) == (preds is None):
        raise PlotArgumentError("arty.plot.confusion_matrix needs either probs or preds, not both",
                         hint="preds=[predicted class per sample] or probs=[[p per class] per sample]")
    if y_true is None:
        raise PlotArgumentError("arty.plot.confusion_matrix needs y_true", hint="y_true=[true class per sample]")
    y_true = [_plain(v) for v in y_true]
    preds = [int(i) for i in np.argmax(np.asarray(probs, dtype=float), axis=1)] if probs is not None \
        else [_plain(v) for v in preds]  # type: ignore[union-attr]
    if len(preds) != len(y_true):
        raise PlotArgumentError(f"arty.plot.confusion_matrix got {len(preds)} predictions for {len(y_true)} "
                                "true labels",
                         hint="give one prediction per sample")
    if class_names is None:
        classes = sorted(set(y_true) | set(preds))
        names = [f"Class_{i + 1}" for i in range(len(classes))]
    else:
        names = [str(n) for n in class_names]
        classes = list(range(len(names)))
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(y_true, preds):
        if t not in index or p not in index:
            raise PlotArgumentError(f"label {t if t not in index else p!r} is not a class index of class_names "
                             f"({len(names)} classes)", hint="labels are indices 0..K-1 into class_names")
        counts[index[t], index[p]] += 1
    rows = [[names[i], names[j], int(counts[i, j])] for i in range(len(names)) for j in range(len(names))]
    table = Table(columns=["Actual", "Predicted", "nPredictions"], data=rows)
    return Chart(table, {"kind": "confusion_matrix", "x": "Predicted", "y": "Actual", "value": "nPredictions",
                         "title": title, "classes": names})


def _per_class(y_true: Any, y_probas: Any, labels: Sequence[str] | None, classes_to_plot: Sequence[Any] | None,
               fn: str) -> list[tuple[Any, Any, Any]]:
    """``[(name, is_positive, scores)]`` per plotted class: W&B's classes are the sorted
    distinct values of ``y_true``; column i of ``y_probas`` scores the i-th of them."""
    np = _numpy()
    if y_true is None or y_probas is None:
        raise PlotArgumentError(f"arty.plot.{fn} needs y_true and y_probas", hint="y_probas has one column per class")
    y = np.asarray([_plain(v) for v in y_true])
    probas = np.asarray(y_probas, dtype=float)
    if probas.ndim == 1:
        probas = probas[:, None]
    if probas.ndim != 2 or probas.shape[0] != len(y):
        raise PlotArgumentError(f"arty.plot.{fn}: y_probas has shape {probas.shape}, expected ({len(y)}, classes)",
                         hint="one row of scores per sample in y_true")
    classes = list(np.unique(y))
    out = []
    for i, c in enumerate(classes):
        if classes_to_plot is not None and c not in list(classes_to_plot):
            continue
        if i >= probas.shape[1]:
            raise PlotArgumentError(f"arty.plot.{fn}: y_probas has {probas.shape[1]} columns for "
                                    f"{len(classes)} classes",
                             hint="one column of scores per class")
        name = labels[int(c)] if labels is not None else _plain(c)
        out.append((name, y == c, probas[:, i]))
    return out


def _counts(positive: Any, scores: Any) -> tuple[Any, Any]:
    """True and false positives at each distinct score, highest first (a threshold sweep)."""
    np = _numpy()
    order = np.argsort(-scores, kind="mergesort")
    s, pos = scores[order], positive[order]
    last = np.r_[np.where(np.diff(s))[0], len(s) - 1]  # the last index of each distinct score
    tps = np.cumsum(pos)[last]
    return tps, (last + 1) - tps


def roc_curve(y_true: Sequence[Any] | None = None, y_probas: Sequence[Sequence[float]] | None = None,
              labels: list[str] | None = None, classes_to_plot: list[Any] | None = None, title: str = "ROC Curve",
              split_table: bool = False) -> Chart:
    """ROC curves, one per class (one-vs-rest): false and true positive rates from (0, 0)
    to (1, 1) as the threshold sweeps the scores of that class's column of ``y_probas``."""
    np = _numpy()
    rows = []
    for name, positive, scores in _per_class(y_true, y_probas, labels, classes_to_plot, "roc_curve"):
        tps, fps = _counts(positive, scores)
        tpr = np.r_[0, tps] / max(int(tps[-1]), 1)
        fpr = np.r_[0, fps] / max(int(fps[-1]), 1)
        rows += [[name, round(float(f), 3), round(float(t), 3)] for f, t in zip(fpr, tpr)]
    table = Table(columns=["class", "fpr", "tpr"], data=rows)
    return Chart(table, {"kind": "roc_curve", "x": "fpr", "y": "tpr", "stroke": "class", "title": title})


def pr_curve(y_true: Sequence[Any] | None = None, y_probas: Sequence[Sequence[float]] | None = None,
             labels: list[str] | None = None, classes_to_plot: list[Any] | None = None, interp_size: int = 21,
             title: str = "Precision-Recall Curve", split_table: bool = False) -> Chart:
    """Precision-recall curves, one per class (one-vs-rest): recall on ``interp_size``
    evenly spaced points from 0 to 1, precision interpolated from the threshold sweep."""
    np = _numpy()
    if isinstance(interp_size, bool) or not isinstance(interp_size, int) or interp_size < 2:
        raise PlotArgumentError(f"invalid interp_size {interp_size!r} for arty.plot.pr_curve", hint="use an int >= 2")
    rows = []
    for name, positive, scores in _per_class(y_true, y_probas, labels, classes_to_plot, "pr_curve"):
        tps, fps = _counts(positive, scores)
        full = int(np.searchsorted(tps, tps[-1])) + 1  # stop at full recall, as scikit-learn's curve does
        tps, fps = tps[:full], fps[:full]
        precision = np.r_[1.0, tps / np.maximum(tps + fps, 1)]
        recall = np.r_[0.0, tps / max(int(tps[-1]), 1)]
        grid = np.linspace(0, 1, interp_size)
        interp = np.interp(grid, recall, precision, left=1, right=0)
        rows += [[name, round(float(p), 3), round(float(r), 3)] for p, r in zip(interp, grid)]
    table = Table(columns=["class", "precision", "recall"], data=rows)
    return Chart(table, {"kind": "pr_curve", "x": "recall", "y": "precision", "stroke": "class", "title": title})
