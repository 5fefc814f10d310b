"""``arty.plot`` (W&B's ``wandb.plot``): each function's table and chart spec, from W&B's
documented examples, and what a logged chart stores."""

from __future__ import annotations

import pytest

import arty
from arty.errors import UsageError

np = pytest.importorskip("numpy")


def cols(chart) -> list[list]:
    """The rows of a chart's table."""
    return [row for _, row in chart.table.iterrows()]


def test_plot_is_there_after_a_plain_import():
    assert arty.plot.line is not None and callable(arty.plot.confusion_matrix)


def test_line_scatter_bar_histogram_take_wandbs_arguments():
    table = arty.Table(data=[[x, x * x] for x in range(10)], columns=["x", "y"])
    line = arty.plot.line(table, "x", "y", title="Custom Y vs X Line Plot")
    assert line.spec == {"kind": "line", "x": "x", "y": "y", "stroke": None, "title": "Custom Y vs X Line Plot"}
    table.add_data(10, 100)  # the chart keeps what it was given
    assert line.table.nrows == 10
    assert arty.plot.scatter(table, "x", "y", title="s").spec == {"kind": "scatter", "x": "x", "y": "y", "title": "s"}
    bars = arty.Table(data=[["cat", 3], ["dog", 5]], columns=["label", "value"])
    assert arty.plot.bar(bars, "label", "value", title="b").spec["kind"] == "bar"
    assert arty.plot.histogram(table, "y", title="h").spec == {"kind": "histogram", "value": "y", "title": "h"}


def test_a_missing_column_or_a_non_table_is_a_clear_error():
    table = arty.Table(data=[[1, 2]], columns=["x", "y"])
    with pytest.raises(UsageError, match="column 'z' .*arty.plot.line") as exc:
        arty.plot.line(table, "x", "z")
    assert "['x', 'y']" in exc.value.hint
    with pytest.raises(UsageError, match="needs an arty.Table"):
        arty.plot.scatter([[1, 2]], "x", "y")


def test_line_series_is_one_row_per_point_keyed_by_line():
    chart = arty.plot.line_series(xs=[0, 1, 2], ys=[[10, 20, 30], [0.5, 11, 72]], keys=["metric Y", "metric Z"],
                                  title="Two Random Metrics", xname="x units")
    assert chart.table.columns == ["lineKey", "lineVal", "step"]
    assert cols(chart)[:4] == [["metric Y", 10, 0], ["metric Y", 20, 1], ["metric Y", 30, 2], ["metric Z", 0.5, 0]]
    assert chart.spec["stroke"] == "lineKey" and chart.spec["xname"] == "x units"
    per_line = arty.plot.line_series(xs=[[0, 1], [5, 6, 7]], ys=[[1, 2], [3, 4, 5]])
    assert [r[0] for r in cols(per_line)] == ["key_0"] * 2 + ["key_1"] * 3
    with pytest.raises(UsageError, match="2 keys for 1 lines"):
        arty.plot.line_series([0, 1], [[1, 2]], keys=["a", "b"])


def test_confusion_matrix_counts_every_pair_of_classes():
    y_true = [0, 1, 2, 2, 1, 0, 2]
    preds = [0, 1, 1, 2, 1, 2, 2]
    chart = arty.plot.confusion_matrix(y_true=y_true, preds=preds, class_names=["cat", "dog", "owl"])
    assert chart.table.columns == ["Actual", "Predicted", "nPredictions"]
    assert cols(chart) == [["cat", "cat", 1], ["cat", "dog", 0], ["cat", "owl", 1],
                           ["dog", "cat", 0], ["dog", "dog", 2], ["dog", "owl", 0],
                           ["owl", "cat", 0], ["owl", "dog", 1], ["owl", "owl", 2]]
    assert chart.spec["title"] == "Confusion Matrix Curve" and chart.spec["classes"] == ["cat", "dog", "owl"]
    # probs: the prediction is each row's argmax; without class_names: Class_1, Class_2, ...
    probs = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    by_probs = arty.plot.confusion_matrix(probs=probs, y_true=np.array([0, 1, 1]))
    assert cols(by_probs) == [["Class_1", "Class_1", 1], ["Class_1", "Class_2", 0],
                              ["Class_2", "Class_1", 1], ["Class_2", "Class_2", 1]]


@pytest.mark.parametrize("kwargs, message", [
    (dict(probs=[[1.0]], preds=[0], y_true=[0]), "either probs or preds"),
    (dict(preds=[0, 1], y_true=[0]), "2 predictions for 1 true labels"),
    (dict(preds=[0, 3], y_true=[0, 1], class_names=["a", "b"]), "label 3 is not a class index"),
])
def test_confusion_matrix_refuses_what_wandb_refuses(kwargs, message):
    with pytest.raises(UsageError, match=message) as exc:
        arty.plot.confusion_matrix(**kwargs)
    assert isinstance(exc.value, ValueError) and exc.value.hint  # W&B raises ValueError


def test_roc_curve_runs_from_0_0_to_1_1_per_class():
    y_true = [0, 1, 1, 0]
    y_probas = [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]]
    chart = arty.plot.roc_curve(y_true, y_probas, labels=["neg", "pos"])
    assert chart.table.columns == ["class", "fpr", "tpr"]
    rows = cols(chart)
    pos = [(f, t) for c, f, t in rows if c == "pos"]
    assert pos == [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
    assert {c for c, _, _ in rows} == {"neg", "pos"}
    assert chart.spec == {"kind": "roc_curve", "x": "fpr", "y": "tpr", "stroke": "class", "title": "ROC Curve"}
    only = arty.plot.roc_curve(y_true, y_probas, classes_to_plot=[1])
    assert {c for c, _, _ in cols(only)} == {1}


def test_roc_curve_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    probas = rng.random((200, 3))
    rows = cols(arty.plot.roc_curve(y, probas))
    for k in range(3):
        fpr, tpr, _ = metrics.roc_curve(y == k, probas[:, k], drop_intermediate=False)
        ours = [(f, t) for c, f, t in rows if c == k]
        assert ours == [(round(float(f), 3), round(float(t), 3)) for f, t in zip(fpr, tpr)]


def test_pr_curve_interpolates_precision_on_a_recall_grid():
    y_true = [0, 1, 1, 0, 1]
    y_probas = [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7], [0.1, 0.9]]
    chart = arty.plot.pr_curve(y_true, y_probas, interp_size=5)
    assert chart.table.columns == ["class", "precision", "recall"]
    pos = [(p, r) for c, p, r in cols(chart) if c == 1]
    assert [r for _, r in pos] == [0.0, 0.25, 0.5, 0.75, 1.0]
    # scores 0.9 (pos), 0.8 (pos), 0.7 (neg), 0.6 (pos): precision 1 up to recall 2/3, then 3/4 at recall 1
    assert pos[0][0] == 1.0 and pos[2][0] == 1.0 and pos[-1][0] == 0.75
    assert chart.spec["title"] == "Precision-Recall Curve" and chart.table.nrows == 10
    with pytest.raises(UsageError, match="interp_size"):
        arty.plot.pr_curve(y_true, y_probas, interp_size=1)


def test_a_logged_chart_is_a_table_with_its_spec(tmp_path):
    run = arty.init(project="p", store=str(tmp_path / "store"), system_metrics=False, code=False)
    table = arty.Table(data=[[x, x * x] for x in range(5)], columns=["x", "y"])
    run.log({"sq": arty.plot.line(table, "x", "y", title="t")})
    with pytest.warns(RuntimeWarning, match="cannot keep a chart in the summary"):
        run.summary["nochart"] = arty.plot.scatter(table, "x", "y")  # refused, like a table
    run.finish(quiet=True)
    row = arty.Api(str(tmp_path / "store")).run(f"p/{run.id}").history(keys=["sq"])[0]["sq"]
    assert row["_type"] == "table" and row["nrows"] == 5 and row["columns"] == ["x", "y"]
    assert row["chart"] == {"kind": "line", "x": "x", "y": "y", "stroke": None, "title": "t"}


def test_pr_curve_matches_scikit_learn_interpolated():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 100)
    probas = rng.random((100, 2))
    rows = cols(arty.plot.pr_curve(y, probas))
    for k in range(2):
        precision, recall, _ = metrics.precision_recall_curve(y == k, probas[:, k])
        grid = np.linspace(0, 1, 21)
        want = np.interp(grid, recall[::-1], precision[::-1], left=1, right=0)
        ours = [p for c, p, _ in rows if c == k]
        assert ours == [round(float(p), 3) for p in want]
