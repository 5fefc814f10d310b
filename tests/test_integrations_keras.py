"""Keras 3 integration (on the torch backend): epoch and batch metrics, config, model artifacts."""

from __future__ import annotations

import os
import warnings

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras", reason="the Keras tests need keras and torch (pip install -e '.[test]')")
pytest.importorskip("torch", reason="the Keras tests run on the torch backend (pip install -e '.[test]')")

import numpy as np  # noqa: E402

import arty  # noqa: E402
from arty.errors import ArtyError, UsageError  # noqa: E402
from arty.integrations.keras import ArtyCallback  # noqa: E402

QUIET = dict(console=False, system_metrics=False, code=False)


@pytest.fixture
def store_url(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    return x, y


def tiny_model() -> "keras.Model":
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def test_epoch_and_batch_metrics_and_config(store_url, data):
    x, y = data
    run = arty.init(project="p", store=store_url, config={"epochs": 99}, **QUIET)
    model = tiny_model()
    hist = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25, verbose=0,
                     callbacks=[ArtyCallback(log_freq=2)])
    run.finish()
    api_run = arty.Api(store_url).run(run.path)
    assert api_run.config["epochs"] == 99  # the user's value wins
    assert api_run.config["optimizer"] == "Adam"
    assert api_run.config["learning_rate"] == pytest.approx(0.01)
    assert api_run.config["steps_per_epoch"] == 3  # 48 training samples / 16
    rows = list(api_run.scan_history())
    epochs = [r for r in rows if "epoch/epoch" in r]
    assert [r["epoch/epoch"] for r in epochs] == [0, 1, 2]
    assert [r["epoch/loss"] for r in epochs] == pytest.approx(hist.history["loss"])
    assert [r["epoch/val_accuracy"] for r in epochs] == pytest.approx(hist.history["val_accuracy"])
    assert all(r["epoch/learning_rate"] == pytest.approx(0.01) for r in epochs)
    batches = [r for r in rows if "batch/step" in r]
    assert [r["batch/step"] for r in batches] == [2, 4, 6, 8]  # 9 batches, every 2nd
    assert all(isinstance(r["batch/loss"], float) for r in batches)
    assert api_run.summary["epoch/loss"] == pytest.approx(hist.history["loss"][-1])


def test_best_model_is_logged_when_the_monitor_improves(store_url, data):
    x, y = data
    run = arty.init(project="p", store=store_url, **QUIET)
    cb = ArtyCallback(run, log_model="best", monitor="val_loss", model_name="clf")
    model = tiny_model()
    hist = model.fit(x, y, batch_size=16, epochs=4, validation_split=0.25, verbose=0, callbacks=[cb])
    val = hist.history["val_loss"]
    improved = [i for i in range(len(val)) if val[i] < min(val[:i], default=float("inf"))]
    assert [v.metadata["epoch"] for v in cb.logged] == improved
    best = arty.use_artifact("clf:best")
    assert best.metadata["epoch"] == improved[-1]
    assert best.metadata["val_loss"] == pytest.approx(min(val))
    assert run.summary["best/val_loss"] == pytest.approx(min(val))
    run.finish()
    # the artifact holds a loadable model that predicts like the best one logged
    path = os.path.join(best.download(os.path.join(os.getcwd(), "dl")), "model.keras")
    loaded = keras.saving.load_model(path)
    assert loaded.predict(x[:4], verbose=0).shape == (4, 1)
    assert best.type == "model"


def test_model_logged_at_end(store_url, data):
    x, y = data
    with arty.init(project="p", store=store_url, **QUIET) as run:
        cb = ArtyCallback(log_model=True)
        model = tiny_model()
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert len(cb.logged) == 1 and cb.logged[0].base_name == f"model-{run.id}"
    assert "epoch" not in cb.logged[0].metadata and cb.logged[0].metadata["backend"] == "torch"


def test_missing_monitor_warns_once_and_training_goes_on(store_url, data):
    x, y = data
    with arty.init(project="p", store=store_url, **QUIET):
        cb = ArtyCallback(log_model="best", monitor="val_loss")  # no validation data: no val_loss
        model = tiny_model()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hist = model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    msgs = [str(w.message) for w in caught if "monitor" in str(w.message)]
    assert len(msgs) == 1 and "monitor 'val_loss' is not in the epoch's logs" in msgs[0]
    assert len(hist.history["loss"]) == 2 and cb.logged == []


@pytest.mark.parametrize("kwargs, match", [
    (dict(log_freq=0), "invalid log_freq 0"),
    (dict(log_freq="step"), "invalid log_freq 'step'"),
    (dict(log_model="always"), "invalid log_model 'always'"),
    (dict(log_model=2), "invalid log_model 2"),
    (dict(mode="biggest"), "invalid mode 'biggest'"),
    (dict(monitor=""), "invalid monitor ''"),
])
def test_bad_settings_are_refused_before_training(kwargs, match):
    with pytest.raises(UsageError, match=match):
        ArtyCallback(**kwargs)


def test_no_run_stops_fit_before_the_first_step(data):
    x, y = data
    model = tiny_model()
    with pytest.raises(ArtyError, match="no active run"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ArtyCallback()])
