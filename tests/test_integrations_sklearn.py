"""scikit-learn integration: params as config, scores in history and summary, the model as an artifact."""

from __future__ import annotations

import os

import pytest

import arty
from arty.errors import ArtyError, UsageError

pytest.importorskip("sklearn", reason="the scikit-learn tests need scikit-learn (pip install -e '.[test]')")

import joblib  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from arty.integrations import sklearn as arty_sklearn  # noqa: E402

QUIET = dict(console=False, system_metrics=False, code=False)


@pytest.fixture
def store_url(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def iris():
    X, y = load_iris(return_X_y=True)
    return X[::2], y[::2], X[1::2], y[1::2]


def finished(store_url, run):
    run.finish()
    return arty.Api(store_url).run(run.path)


def test_log_estimator_logs_params_scores_and_model(store_url, iris):
    X_train, y_train, X_test, y_test = iris
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=200)).fit(X_train, y_train)
    run = arty.init(project="p", store=store_url, config={"seed": 1}, **QUIET)
    version = arty_sklearn.log_estimator(clf, X_test, y_test, scoring=["accuracy", "f1_macro"], aliases=["best"])
    assert version.type == "model" and version.base_name == f"model-{run.id}"
    assert version.metadata["estimator"] == "Pipeline"
    api_run = finished(store_url, run)

    config = api_run.config
    assert config["seed"] == 1 and config["estimator"] == "Pipeline"
    assert config["logisticregression__C"] == 0.5
    assert config["logisticregression__max_iter"] == 200
    assert isinstance(config["steps"], str)  # the nested estimators, by repr
    assert api_run.summary["test/accuracy"] == pytest.approx(clf.score(X_test, y_test))
    assert 0 < api_run.summary["test/f1_macro"] <= 1
    rows = list(api_run.scan_history(keys=["test/accuracy"]))
    assert [r["test/accuracy"] for r in rows] == [pytest.approx(clf.score(X_test, y_test))]

    # the model round-trips, and the lineage names the run as its producer
    got = arty.use_artifact(f"model-{run.id}:best", store=store_url, project="p")
    loaded = joblib.load(os.path.join(got.download(os.path.join(os.getcwd(), "dl")), "model.joblib"))
    assert (loaded.predict(X_test) == clf.predict(X_test)).all()
    assert [(v.base_name, v.number) for v in run.logged_artifacts()] == [(version.base_name, version.number)]


def test_default_score_and_unsupervised_estimator(store_url, iris):
    X_train, y_train, X_test, y_test = iris
    run = arty.init(project="p", store=store_url, **QUIET)
    km = KMeans(n_clusters=3, n_init=2, random_state=0).fit(X_train)
    scores = arty_sklearn.log_scores(km, X_test, run=run, prefix="eval/")
    assert list(scores) == ["eval/score"] and scores["eval/score"] == pytest.approx(km.score(X_test))
    clf = LogisticRegression(max_iter=200).fit(X_train, y_train)
    assert arty_sklearn.log_estimator(clf, X_test, y_test, log_model=False) is None
    api_run = finished(store_url, run)
    assert api_run.summary["eval/score"] == pytest.approx(km.score(X_test))
    assert api_run.summary["test/score"] == pytest.approx(clf.score(X_test, y_test))
    assert api_run.config["estimator"] == "LogisticRegression"


def test_numpy_scalar_params_are_stored_as_numbers(store_url):
    import numpy as np

    run = arty.init(project="p", store=store_url, **QUIET)
    params = arty_sklearn.log_params(LogisticRegression(max_iter=np.int64(300), C=np.float32(0.25)))
    assert params["max_iter"] == 300 and type(params["max_iter"]) is int
    assert params["C"] == 0.25 and type(params["C"]) is float
    run.finish()
    assert arty.Api(store_url).run(run.path).config["max_iter"] == 300


def test_same_model_twice_is_one_version(store_url, iris):
    X_train, y_train, _, _ = iris
    clf = LogisticRegression(max_iter=200).fit(X_train, y_train)
    with arty.init(project="p", store=store_url, **QUIET):
        v1 = arty_sklearn.log_model(clf, name="iris-clf")
        v2 = arty_sklearn.log_model(clf, name="iris-clf", aliases=["prod"])
    assert v1.number == v2.number == 0 and v1.digest == v2.digest


# -- bad input: a clear error, nothing logged --------------------------------------------------


def test_not_an_estimator_is_refused(store_url):
    run = arty.init(project="p", store=store_url, config={"a": 1}, **QUIET)
    with pytest.raises(UsageError, match="'dict' is not a scikit-learn estimator"):
        arty_sklearn.log_estimator({"C": 1})
    with pytest.raises(UsageError, match="not a scikit-learn estimator"):
        arty_sklearn.log_params(LogisticRegression)  # the class, not an instance
    assert dict(run.config) == {"a": 1}
    run.finish()


def test_unfitted_estimator_is_refused_before_anything_is_logged(store_url, iris):
    _, _, X_test, y_test = iris
    run = arty.init(project="p", store=store_url, config={"a": 1}, **QUIET)
    with pytest.raises(UsageError, match="estimator 'LogisticRegression' is not fitted") as info:
        arty_sklearn.log_estimator(LogisticRegression(), X_test, y_test)
    assert "fit(" in info.value.hint
    with pytest.raises(UsageError, match="not fitted, cannot log it as a model"):
        arty_sklearn.log_model(LogisticRegression())
    assert dict(run.config) == {"a": 1}
    # params alone need no fit
    assert arty_sklearn.log_estimator(LogisticRegression(C=2.0), log_model=False) is None
    assert run.config["C"] == 2.0
    api_run = finished(store_url, run)
    assert "test/score" not in api_run.summary
    assert run.logged_artifacts() == []


def test_unknown_scorer_is_refused_before_anything_is_logged(store_url, iris):
    X_train, y_train, X_test, y_test = iris
    clf = LogisticRegression(max_iter=200).fit(X_train, y_train)
    run = arty.init(project="p", store=store_url, **QUIET)
    with pytest.raises(UsageError, match="unknown scorer 'acuracy'"):
        arty_sklearn.log_estimator(clf, X_test, y_test, scoring=["accuracy", "acuracy"])
    assert dict(run.config) == {} and run.logged_artifacts() == []
    run.finish()


def test_no_run_is_a_clear_error(iris):
    X_train, y_train, _, _ = iris
    clf = LogisticRegression(max_iter=200).fit(X_train, y_train)
    with pytest.raises(ArtyError, match="no active run"):
        arty_sklearn.log_estimator(clf)


def test_disabled_run_logs_nothing(iris):
    X_train, y_train, X_test, y_test = iris
    clf = LogisticRegression(max_iter=200).fit(X_train, y_train)
    run = arty.init(project="p", mode="disabled")
    assert arty_sklearn.log_estimator(clf, X_test, y_test) is None
    run.finish()
    assert not os.path.exists(".arty")
