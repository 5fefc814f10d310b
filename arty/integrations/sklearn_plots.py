"""scikit-learn evaluation charts as :class:`arty.Table` values in the run's history.

Each ``plot_*`` function computes one chart's data and logs it as a table
under the key W&B uses (``confusion_matrix``, ``roc``, ``precision_recall``,
``feature_importances``, ``class_proportions``, ``calibration_curve``,
``summary_metrics``, ``learning_curve``, ``residuals``); the UI shows it as a
table. ``plot_classifier`` and ``plot_regressor`` log the usual set at once.
All log to ``run`` (default: the current run) and return the table.

``labels``: names for integer class values (``labels[i]`` names class ``i``);
other class values are shown as they are.
"""

from __future__ import annotations

from typing import Any, Sequence

from arty.errors import UsageError
from arty.integrations import import_framework, resolve_run
from arty.integrations.sklearn import _check_estimator, _check_fitted
from arty.tracking.media import Table
from arty.tracking.run import Run

import_framework("sklearn", "sklearn", "arty.integrations.sklearn_plots")
import numpy as np  # noqa: E402 - a dependency of scikit-learn
from sklearn import metrics  # noqa: E402
from sklearn.base import is_classifier  # noqa: E402
from sklearn.calibration import calibration_curve as _calibration  # noqa: E402
from sklearn.model_selection import learning_curve as _learning  # noqa: E402

__all__ = ["plot_calibration_curve", "plot_class_proportions", "plot_classifier", "plot_confusion_matrix",
           "plot_feature_importances", "plot_learning_curve", "plot_precision_recall", "plot_regressor",
           "plot_residuals", "plot_roc", "plot_summary_metrics"]


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _name(cls: Any, labels: Sequence[Any] | None) -> Any:
    cls = _plain(cls)
    if labels is not None and isinstance(cls, int) and not isinstance(cls, bool) and 0 <= cls < len(labels):
        return labels[cls]
    return cls


def _log(key: str, columns: list[str], rows: list[list[Any]], run: Run | None) -> Table:
    table = Table(columns=columns, data=[[_plain(v) for v in row] for row in rows])
    resolve_run(run).log({key: table})
    return table


def _same_length(**arrays: Any) -> list[np.ndarray]:
    out = [np.asarray(a) for a in arrays.values()]
    names = list(arrays)
    for name, a in zip(names[1:], out[1:]):
        if len(a) != len(out[0]):
            raise UsageError(f"'{name}' has {len(a)} rows, '{names[0]}' has {len(out[0])}",
                             hint="pass arrays of the same length")
    return out


def plot_confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None,
                          true_labels: Sequence[Any] | None = None, pred_labels: Sequence[Any] | None = None,
                          normalize: bool = False, *, run: Run | None = None) -> Table:
    """``confusion_matrix``: one row per (actual, predicted) pair, ``nPredictions`` the count
    (the share of the actual class with ``normalize``). ``true_labels``/``pred_labels``
    keep only those classes on each axis."""
    y_true, y_pred = _same_length(y_true=y_true, y_pred=y_pred)
    classes = list(np.unique(np.concatenate([y_true, y_pred])))
    cm = metrics.confusion_matrix(y_true, y_pred, labels=classes)
    if normalize:
        sums = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, sums, out=np.zeros(cm.shape, dtype=float), where=sums != 0)
    rows = []
    for i, actual in enumerate(classes):
        for j, predicted in enumerate(classes):
            a, p = _name(actual, labels), _name(predicted, labels)
            if (true_labels is None or a in true_labels) and (pred_labels is None or p in pred_labels):
                rows.append([a, p, cm[i, j]])
    return _log("confusion_matrix", ["Actual", "Predicted", "nPredictions"], rows, run)


def _per_class_curve(key: str, columns: list[str], y_true: Any, y_probas: Any, labels: Sequence[Any] | None,
                     curve: Any, run: Run | None) -> Table:
    y_true, y_probas = _same_length(y_true=y_true, y_probas=y_probas)
    if y_probas.ndim != 2:
        raise UsageError("y_probas must have one column per class",
                         hint="pass model.predict_proba(X_test), shape (n_samples, n_classes)")
    classes = np.unique(y_true)
    if len(classes) != y_probas.shape[1]:
        raise UsageError(f"y_probas has {y_probas.shape[1]} columns for {len(classes)} classes in y_true",
                         hint="pass model.predict_proba(X_test) for the same samples as y_true")
    rows = []
    for i, cls in enumerate(classes):
        xs, ys = curve(y_true == cls, y_probas[:, i])
        rows += [[_name(cls, labels), x, y] for x, y in zip(xs, ys)]
    return _log(key, columns, rows, run)


def plot_roc(y_true: Any, y_probas: Any, labels: Sequence[Any] | None = None, *, run: Run | None = None) -> Table:
    """``roc``: one-vs-rest ROC curve points per class (``class``, ``fpr``, ``tpr``)."""
    def curve(t: Any, p: Any) -> tuple[Any, Any]:
        fpr, tpr, _ = metrics.roc_curve(t, p)
        return fpr, tpr
    return _per_class_curve("roc", ["class", "fpr", "tpr"], y_true, y_probas, labels, curve, run)


def plot_precision_recall(y_true: Any, y_probas: Any, labels: Sequence[Any] | None = None, *,
                          run: Run | None = None) -> Table:
    """``precision_recall``: one-vs-rest curve points per class (``class``, ``recall``, ``precision``)."""
    def curve(t: Any, p: Any) -> tuple[Any, Any]:
        precision, recall, _ = metrics.precision_recall_curve(t, p)
        return recall, precision
    return _per_class_curve("precision_recall", ["class", "recall", "precision"], y_true, y_probas, labels,
                            curve, run)


def plot_feature_importances(model: Any, feature_names: Sequence[str] | None = None,
                             title: str = "Feature Importance", max_num_features: int = 50, *,
                             run: Run | None = None) -> Table:
    """``feature_importances``: ``feature_importances_`` (else the mean absolute ``coef_``),
    largest first, at most ``max_num_features``."""
    name = _check_estimator(model)
    _check_fitted(model, name, "plot its feature importances")
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
    elif hasattr(model, "coef_"):
        coef = np.abs(np.asarray(model.coef_, dtype=float))
        values = coef.mean(axis=0) if coef.ndim == 2 else coef
    else:
        raise UsageError(f"estimator '{name}' has no feature_importances_ or coef_",
                         hint="use a tree ensemble or a linear model, or log your own arty.Table")
    names = list(feature_names) if feature_names is not None else [str(i) for i in range(len(values))]
    if len(names) != len(values):
        raise UsageError(f"{len(names)} feature names for {len(values)} features", hint="pass one name per feature")
    order = np.argsort(-values)[:max_num_features]
    return _log("feature_importances", ["feature", "importance"], [[names[i], values[i]] for i in order], run)


def plot_class_proportions(y_train: Any, y_test: Any, labels: Sequence[Any] | None = None, *,
                           run: Run | None = None) -> Table:
    """``class_proportions``: the count of each class in the train and the test set."""
    rows = []
    for dataset, y in (("train", np.asarray(y_train)), ("test", np.asarray(y_test))):
        classes, counts = np.unique(y, return_counts=True)
        rows += [[_name(c, labels), dataset, n] for c, n in zip(classes, counts)]
    return _log("class_proportions", ["class", "dataset", "count"], rows, run)


def plot_calibration_curve(clf: Any, X: Any, y: Any, clf_name: str = "Classifier", *,
                           run: Run | None = None) -> Table:
    """``calibration_curve`` of a fitted binary classifier on ``(X, y)``: the fraction of
    positives per bin of predicted probability (10 bins)."""
    name = _check_estimator(clf)
    _check_fitted(clf, name, "plot its calibration curve")
    y = np.asarray(y)
    if not np.isin(y, [0, 1]).all():
        raise UsageError("the calibration curve needs binary labels (0 and 1)",
                         hint="plot it for a binary classifier, or one class against the rest")
    if not callable(getattr(clf, "predict_proba", None)):
        raise UsageError(f"estimator '{name}' has no predict_proba()", hint="use a probabilistic classifier")
    frac, mean = _calibration(y, clf.predict_proba(X)[:, 1], n_bins=10)
    return _log("calibration_curve", ["model", "mean_predicted_value", "fraction_of_positives"],
                [[clf_name, m, f] for m, f in zip(mean, frac)], run)


def plot_summary_metrics(model: Any, X: Any = None, y: Any = None, X_test: Any = None, y_test: Any = None, *,
                         model_name: str | None = None, run: Run | None = None) -> Table:
    """``summary_metrics`` on the test set: accuracy, precision, recall, f1 (weighted) for a
    classifier; mae, mse, r2 for a regressor."""
    name = _check_estimator(model)
    _check_fitted(model, name, "compute its metrics")
    if X_test is None or y_test is None:
        raise UsageError("summary metrics need X_test and y_test", hint="pass the test set")
    pred = model.predict(X_test)
    if is_classifier(model):
        scores = {"accuracy": metrics.accuracy_score(y_test, pred),
                  "precision": metrics.precision_score(y_test, pred, average="weighted", zero_division=0),
                  "recall": metrics.recall_score(y_test, pred, average="weighted", zero_division=0),
                  "f1": metrics.f1_score(y_test, pred, average="weighted", zero_division=0)}
    else:
        scores = {"mae": metrics.mean_absolute_error(y_test, pred), "mse": metrics.mean_squared_error(y_test, pred),
                  "r2": metrics.r2_score(y_test, pred)}
    return _log("summary_metrics", ["metric_name", "metric_value", "model_name"],
                [[k, v, model_name or name] for k, v in scores.items()], run)


def plot_learning_curve(model: Any, X: Any, y: Any, cv: int | None = None, *, run: Run | None = None) -> Table:
    """``learning_curve``: mean train and cross-validation scores by training-set size."""
    _check_estimator(model)
    sizes, train, test = _learning(model, X, y, cv=cv, train_sizes=np.linspace(0.2, 1.0, 5))
    rows = [[s, "train", t] for s, t in zip(sizes, train.mean(axis=1))]
    rows += [[s, "test", t] for s, t in zip(sizes, test.mean(axis=1))]
    return _log("learning_curve", ["train_size", "dataset", "score"], rows, run)


def plot_residuals(model: Any, X: Any, y: Any, *, run: Run | None = None) -> Table:
    """``residuals`` of a fitted regressor on ``(X, y)``: prediction and ``y - prediction``."""
    name = _check_estimator(model)
    _check_fitted(model, name, "plot its residuals")
    pred = np.asarray(model.predict(X), dtype=float)
    pred, y = _same_length(prediction=pred, y=np.asarray(y, dtype=float))
    return _log("residuals", ["prediction", "residual"], [[p, r] for p, r in zip(pred, y - pred)], run)


def plot_classifier(model: Any, X_train: Any, X_test: Any, y_train: Any, y_test: Any, y_pred: Any, y_probas: Any,
                    labels: Sequence[Any] | None = None, is_binary: bool = False, model_name: str = "Classifier",
                    feature_names: Sequence[str] | None = None, log_learning_curve: bool = False, *,
                    run: Run | None = None) -> None:
    """The classifier set: feature importances (when the model has them), confusion matrix,
    summary metrics, class proportions, calibration curve (binary labels only), ROC and
    precision-recall curves, and with ``log_learning_curve`` the learning curve."""
    name = _check_estimator(model)
    _check_fitted(model, name, "plot it")
    if hasattr(model, "feature_importances_") or hasattr(model, "coef_"):
        plot_feature_importances(model, feature_names, run=run)
    if log_learning_curve:
        plot_learning_curve(model, X_train, y_train, run=run)
    plot_confusion_matrix(y_test, y_pred, labels, run=run)
    plot_summary_metrics(model, X_train, y_train, X_test, y_test, model_name=model_name, run=run)
    plot_class_proportions(y_train, y_test, labels, run=run)
    if np.isin(np.asarray(y_train), [0, 1]).all() and callable(getattr(model, "predict_proba", None)):
        plot_calibration_curve(model, X_train, y_train, model_name, run=run)
    plot_roc(y_test, y_probas, labels, run=run)
    plot_precision_recall(y_test, y_probas, labels, run=run)


def plot_regressor(model: Any, X_train: Any, X_test: Any, y_train: Any, y_test: Any, model_name: str = "Regressor",
                   *, run: Run | None = None) -> None:
    """The regressor set: summary metrics, learning curve and residuals (on the test set)."""
    name = _check_estimator(model)
    _check_fitted(model, name, "plot it")
    plot_summary_metrics(model, X_train, y_train, X_test, y_test, model_name=model_name, run=run)
    plot_learning_curve(model, X_train, y_train, run=run)
    plot_residuals(model, X_test, y_test, run=run)
