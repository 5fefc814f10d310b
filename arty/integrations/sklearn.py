"""scikit-learn: log an estimator's parameters, its scores and the fitted model.

::

    from arty.integrations.sklearn import log_estimator

    with arty.init(project="iris") as run:
        clf = RandomForestClassifier(n_estimators=50).fit(X_train, y_train)
        log_estimator(clf, X_test, y_test, scoring=["accuracy", "f1_macro"])

``log_estimator`` is :func:`log_params` + :func:`log_scores` + :func:`log_model`;
each can be called alone. The model is saved with joblib (``model.joblib``) and
logged as a ``"model"`` artifact; load it back with
``joblib.load(os.path.join(version.download(), "model.joblib"))``.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from arty.artifacts import ArtifactVersion
from arty.errors import UsageError
from arty.integrations import ScratchDir, import_framework, log_model_files, model_name, resolve_run
from arty.tracking.run import Run

_sklearn = import_framework("sklearn", "sklearn", "arty.integrations.sklearn")
import joblib  # noqa: E402 - a dependency of scikit-learn, present once it is
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.metrics import get_scorer  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

__all__ = ["log_estimator", "log_model", "log_params", "log_scores"]

_PLAIN = (int, float, str, bool, type(None))
MODEL_FILE = "model.joblib"


def _check_estimator(estimator: Any) -> str:
    """The estimator's class name; a :class:`UsageError` if it is not an estimator."""
    if not callable(getattr(estimator, "get_params", None)) or isinstance(estimator, type):
        raise UsageError(f"'{type(estimator).__name__}' is not a scikit-learn estimator",
                         hint="pass an estimator instance (it has get_params()), e.g. LogisticRegression()")
    return type(estimator).__name__


def _check_fitted(estimator: Any, name: str, what: str) -> None:
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise UsageError(f"estimator '{name}' is not fitted, cannot {what}",
                         hint="call estimator.fit(X, y) first") from None
    except TypeError:  # check_is_fitted refuses some meta-estimators; their own methods will tell
        pass


def _param_value(value: Any) -> Any:
    """Plain values as they are; estimators, callables and arrays by their ``repr``."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, _PLAIN) for v in value):
        return list(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # a numpy scalar
        return item()
    return repr(value)


def log_params(estimator: Any, *, run: Run | None = None, prefix: str = "") -> dict[str, Any]:
    """Put the estimator's class and ``get_params(deep=True)`` into the run's config.

    Keys are ``<prefix>estimator`` (the class name) and ``<prefix><param>``
    (nested estimators' parameters as ``step__param``, as scikit-learn names
    them). Values that are not plain (nested estimators, callables) are stored
    as their ``repr``. Returns what was set.
    """
    name = _check_estimator(estimator)
    run = resolve_run(run)
    params: dict[str, Any] = {f"{prefix}estimator": name}
    for key, value in sorted(estimator.get_params(deep=True).items()):
        params[f"{prefix}{key}"] = _param_value(value)
    run.config.update(params)
    return params


def log_scores(estimator: Any, X: Any, y: Any = None, *, run: Run | None = None,
               scoring: str | Iterable[str] | None = None, prefix: str = "test/") -> dict[str, float]:
    """Score the fitted estimator on ``(X, y)``, log the scores and put them in the summary.

    ``scoring`` None uses ``estimator.score`` (logged as ``<prefix>score``);
    otherwise scikit-learn scorer names (``"accuracy"``, ``"f1_macro"``,
    ``"neg_mean_squared_error"``...), each logged as ``<prefix><name>``.
    Returns ``{key: value}``.
    """
    name = _check_estimator(estimator)
    _check_fitted(estimator, name, "score it")
    run = resolve_run(run)
    if isinstance(scoring, str):
        scoring = [scoring]
    elif scoring is not None:
        scoring = list(scoring)
    scores: dict[str, float] = {}
    if scoring is None:
        if not callable(getattr(estimator, "score", None)):
            raise UsageError(f"estimator '{name}' has no score() method",
                             hint="pass scoring=['...'] with scikit-learn scorer names")
        scores[f"{prefix}score"] = float(estimator.score(X) if y is None else estimator.score(X, y))
    else:
        scorers = []
        for s in scoring:
            try:
                scorers.append((s, get_scorer(s)))
            except (ValueError, TypeError):
                raise UsageError(f"unknown scorer '{s}'",
                                 hint="see sklearn.metrics.get_scorer_names() for the names") from None
        for s, scorer in scorers:
            scores[f"{prefix}{s}"] = float(scorer(estimator, X, y))
    run.log(scores)
    run.summary.update(scores)
    return scores


def log_model(estimator: Any, *, run: Run | None = None, name: str | None = None,
              aliases: Iterable[str] = (), metadata: dict[str, Any] | None = None) -> ArtifactVersion | None:
    """Save the fitted estimator with joblib and log it as a ``"model"`` artifact.

    The artifact (default name ``model-<run id>``) holds one file,
    ``model.joblib``; its metadata records the estimator class and the
    scikit-learn version. Returns the version (None for a disabled run).
    """
    cls = _check_estimator(estimator)
    _check_fitted(estimator, cls, "log it as a model")
    run = resolve_run(run)
    meta = {"framework": "scikit-learn", "sklearn_version": _sklearn.__version__, "estimator": cls}
    meta.update(metadata or {})
    with ScratchDir() as tmp:
        path = os.path.join(tmp, MODEL_FILE)
        joblib.dump(estimator, path)
        return log_model_files(run, path, model_name(run, name), aliases=aliases, metadata=meta)


def log_estimator(estimator: Any, X_test: Any = None, y_test: Any = None, *, run: Run | None = None,
                  scoring: str | Iterable[str] | None = None, log_model: bool = True, name: str | None = None,
                  aliases: Iterable[str] = (), prefix: str = "test/") -> ArtifactVersion | None:
    """Log an estimator to the run: its params as config, its scores on ``X_test``
    (when given) and, with ``log_model``, the fitted model as an artifact.

    Everything is checked before anything is logged: an object that is not an
    estimator, an unfitted one (for scores or the model), or an unknown scorer
    raise :class:`UsageError` and the run is left as it was. Returns the model
    version, or None when no model was logged.
    """
    cls = _check_estimator(estimator)
    if X_test is not None or log_model:
        _check_fitted(estimator, cls, "score it" if X_test is not None else "log it as a model")
    if scoring is not None:
        scoring = [scoring] if isinstance(scoring, str) else list(scoring)
        for s in scoring:
            try:
                get_scorer(s)
            except (ValueError, TypeError):
                raise UsageError(f"unknown scorer '{s}'",
                                 hint="see sklearn.metrics.get_scorer_names() for the names") from None
    run = resolve_run(run)
    log_params(estimator, run=run)
    if X_test is not None:
        log_scores(estimator, X_test, y_test, run=run, scoring=scoring, prefix=prefix)
    if not log_model:
        return None
    return _log_model(estimator, run=run, name=name, aliases=aliases)


_log_model = log_model
