"""W&B's integration import paths with ``arty`` in place of ``wandb``: scripts written the way
W&B's documentation shows them, checked through what reached the store (``arty.Api``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import arty  # noqa: E402
from arty.errors import UsageError  # noqa: E402

QUIET = dict(console=False, system_metrics=False, code=False)


@pytest.fixture
def store_url(tmp_path):
    return str(tmp_path / "store")


def run_script(source: str, store: str, tmp_path) -> str:
    """Run ``source`` as a script in a fresh interpreter against ``store``; its stdout (it must exit 0)."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(source))
    env = dict(os.environ, ARTY_STORE=store, ARTY_CONSOLE="off", ARTY_SYSTEM_METRICS="off", KERAS_BACKEND="torch")
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def only_run(store: str, project: str):
    runs = list(arty.Api(store).runs(project))
    assert len(runs) == 1
    return runs[0]


# -- keras ----------------------------------------------------------------------------------------

KERAS_DATA = """
    import numpy as np
    import keras
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="hidden"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
"""


def test_keras_metrics_logger_and_checkpoint_as_documented(store_url, tmp_path):
    pytest.importorskip("keras")
    run_script(KERAS_DATA + """
    import arty
    from arty.integration.keras import WandbMetricsLogger, WandbModelCheckpoint

    arty.init(project="keras-new", config={"bs": 16})
    model.fit(x[:48], y[:48], validation_data=(x[48:], y[48:]), epochs=2, batch_size=16, verbose=0,
              callbacks=[WandbMetricsLogger(log_freq=2), WandbModelCheckpoint("models.keras")])
    arty.finish()
    """, store_url, tmp_path)
    run = only_run(store_url, "keras-new")
    rows = list(run.scan_history())
    epochs = [r for r in rows if "epoch/epoch" in r]
    assert [r["epoch/epoch"] for r in epochs] == [0, 1]
    for key in ("epoch/loss", "epoch/accuracy", "epoch/val_loss", "epoch/val_accuracy", "epoch/learning_rate"):
        assert all(isinstance(r[key], float) for r in epochs), key
    batches = [r for r in rows if "batch/batch_step" in r]
    assert batches and all("batch/loss" in r and "batch/learning_rate" in r for r in batches)
    # WandbModelCheckpoint: every epoch's file, as W&B names the artifact, with the epoch alias
    api = arty.Api(store_url)
    latest = api.artifact(f"keras-new/run_{run.id}_model:latest")
    assert (latest.type, latest.version) == ("model", "v1")
    assert [e.path for e in latest.files()] == ["models.keras"]
    assert "epoch_1" in latest.aliases and "best" not in latest.aliases
    assert api.artifact(f"keras-new/run_{run.id}_model:epoch_0").version == "v0"


def test_keras_checkpoint_save_best_only_logs_only_improvements(store_url, tmp_path):
    pytest.importorskip("keras")
    run_script(KERAS_DATA + """
    import arty
    from arty.integration.keras import WandbModelCheckpoint

    class Scripted(keras.callbacks.Callback):  # val_loss 0.5, 0.7, 0.3: epochs 0 and 2 are the best so far
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [0.5, 0.7, 0.3][epoch]

    arty.init(project="keras-best")
    ckpt = WandbModelCheckpoint("best-{epoch:02d}.keras", monitor="val_loss", save_best_only=True)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Scripted(), ckpt])
    arty.finish()
    """, store_url, tmp_path)
    run = only_run(store_url, "keras-best")
    api = arty.Api(store_url)
    best = api.artifact(f"keras-best/run_{run.id}_model:best")
    assert best.version == "v1" and "epoch_2" in best.aliases  # epoch 1 was not an improvement
    assert [e.path for e in best.files()] == ["best-03.keras"]
    assert [e.path for e in api.artifact(f"keras-best/run_{run.id}_model:v0").files()] == ["best-01.keras"]


def test_keras_legacy_wandb_callback_plain_names_best_summary_and_model(store_url, tmp_path):
    pytest.importorskip("keras")
    run_script(KERAS_DATA + """
    import arty
    from arty.keras import WandbCallback

    arty.init(project="keras-legacy", config={"hyper": "parameter"})
    model.fit(x[:48], y[:48], validation_data=(x[48:], y[48:]), epochs=2, batch_size=16, verbose=0,
              callbacks=[WandbCallback(monitor="val_accuracy", mode="max", log_weights=True)])
    arty.finish()
    """, store_url, tmp_path)
    run = only_run(store_url, "keras-legacy")
    rows = [r for r in run.scan_history() if "epoch" in r]
    assert [r["epoch"] for r in rows] == [0, 1]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):  # W&B's names, no "epoch/" prefix
        assert all(isinstance(r[key], float) for r in rows), key
    assert not [k for r in rows for k in r if k.startswith("epoch/")]
    assert {"parameters/hidden.weights", "parameters/hidden.bias", "parameters/out.weights"} <= set(rows[0])
    best = max(r["val_accuracy"] for r in rows)
    assert run.summary["best_val_accuracy"] == pytest.approx(best)
    assert run.summary["best_epoch"] == [r["epoch"] for r in rows if r["val_accuracy"] == best][0]
    model_art = arty.Api(store_url).artifact(f"keras-legacy/model-{run.id}:best")
    assert [e.path for e in model_art.files()] == ["model-best.keras"]
    assert f"epoch_{run.summary['best_epoch']}" in model_art.aliases


@pytest.mark.parametrize("kwargs, needle", [
    (dict(log_gradients=True), "log_gradients"),
    (dict(log_evaluation=True), "log_evaluation"),
    (dict(compute_flops=True), "compute_flops"),
    (dict(data_type="image"), "unknown WandbCallback argument 'data_type'"),
    (dict(mode="biggest"), "invalid mode 'biggest'"),
])
def test_keras_legacy_unsupported_arguments_name_the_arty_way(kwargs, needle):
    pytest.importorskip("keras")
    from arty.keras import WandbCallback

    with pytest.raises(UsageError, match=needle) as err:
        WandbCallback(**kwargs)
    assert err.value.hint


def test_keras_eval_callback_and_v1_refused():
    pytest.importorskip("keras")
    from arty.integration.keras import WandbEvalCallback, WandbMetricsLogger

    class MyEval(WandbEvalCallback):
        pass

    with pytest.raises(UsageError, match="'WandbEvalCallback' is not supported") as err:
        MyEval(["a"], ["b"])
    assert "arty.Table" in err.value.hint
    with pytest.raises(UsageError, match="backward_compatibility"):
        WandbMetricsLogger(backward_compatibility="v1")


# -- lightning ------------------------------------------------------------------------------------

LIGHTNING_MODEL = """
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    class TinyModel(L.LightningModule):
        def __init__(self, lr=0.1):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(3, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(32, 3), torch.randn(32, 1))
    loader = DataLoader(data, batch_size=8)
    TRAINER = dict(max_epochs=2, log_every_n_steps=1, enable_progress_bar=False, enable_model_summary=False,
                   accelerator="cpu")
"""


def test_lightning_wandb_logger_as_documented(store_url, tmp_path):
    pytest.importorskip("lightning")
    run_script(LIGHTNING_MODEL + """
    import arty
    from arty.integration.lightning import WandbLogger
    from lightning.pytorch.callbacks import ModelCheckpoint

    wandb_logger = WandbLogger(project="lit", name="first", log_model="all", id="lit-run-1")
    checkpoint = ModelCheckpoint(monitor="val_loss", mode="min", dirpath="ckpt")
    trainer = L.Trainer(logger=wandb_logger, callbacks=[checkpoint], **TRAINER)
    trainer.fit(TinyModel(lr=0.05), loader, loader)
    wandb_logger.log_table("samples", columns=["x", "y"], data=[[1, 2.0], [3, 4.0]])
    wandb_logger.log_text("notes", columns=["text"], data=[["hello"]])
    arty.finish()
    """, store_url, tmp_path)
    run = arty.Api(store_url).run("lit/lit-run-1")  # version/id= become the run id, as in W&B
    assert run.name == "first"
    assert run.config["lr"] == 0.05
    rows = list(run.scan_history())
    assert any("train_loss" in r and "trainer/global_step" in r for r in rows)
    assert any("val_loss" in r for r in rows)
    assert any("samples" in r for r in rows) and any("notes" in r for r in rows)
    best = arty.Api(store_url).artifact("lit/model-lit-run-1:best")
    assert best.type == "model" and [e.path for e in best.files()] == ["model.ckpt"]


def test_lightning_wandb_logger_prefix_and_refusals(store_url):
    pytest.importorskip("lightning")
    from arty.integration.lightning import WandbLogger

    with pytest.raises(UsageError, match="anonymous"):
        WandbLogger(anonymous=True)
    run = arty.init(project="lit2", store=store_url, **QUIET)
    logger = WandbLogger(prefix="fit")
    logger.log_metrics({"loss": 1.5}, step=3)
    with pytest.raises(UsageError, match="log_image option 'masks'"):
        logger.log_image("imgs", [[[0, 0], [0, 0]]], masks=[{}])
    run.finish()
    rows = list(arty.Api(store_url).run(run.path).scan_history())
    assert rows[0]["fit-loss"] == 1.5 and rows[0]["trainer/global_step"] == 3


# -- scikit-learn ---------------------------------------------------------------------------------

def table_rows(run, key):
    """The rows (dicts) of the table logged under ``key``, read back from the store; logged once."""
    values = [r[key] for r in run.scan_history() if key in r]
    assert len(values) == 1, key
    return run.table(values[0]).get_dataframe().to_dict("records")


def test_sklearn_plot_classifier_as_documented(store_url, tmp_path):
    pytest.importorskip("sklearn")
    run_script("""
    import arty
    from arty.integration import sklearn as arty_sklearn
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    clf = RandomForestClassifier(n_estimators=10, random_state=0).fit(X_train, y_train)
    y_pred, y_probas = clf.predict(X_test), clf.predict_proba(X_test)
    labels = ["no", "yes"]

    arty.init(project="visualize-sklearn")
    arty_sklearn.plot_classifier(clf, X_train, X_test, y_train, y_test, y_pred, y_probas, labels,
                                 model_name="RandomForest", feature_names=["a", "b", "c", "d"])
    arty.finish()
    """, store_url, tmp_path)
    run = only_run(store_url, "visualize-sklearn")
    keys = {k for r in run.scan_history() for k in r if not k.startswith("_")}
    assert {"feature_importances", "confusion_matrix", "summary_metrics", "class_proportions",
            "calibration_curve", "roc", "precision_recall"} <= keys
    metrics = {r["metric_name"]: r["metric_value"] for r in table_rows(run, "summary_metrics")}
    assert set(metrics) == {"accuracy", "precision", "recall", "f1"} and 0.5 < metrics["accuracy"] <= 1
    cm = table_rows(run, "confusion_matrix")
    assert {(r["Actual"], r["Predicted"]) for r in cm} == {("no", "no"), ("no", "yes"), ("yes", "no"), ("yes", "yes")}
    assert sum(r["nPredictions"] for r in cm) == 30  # the test set
    assert {r["class"] for r in table_rows(run, "roc")} == {"no", "yes"}
    assert [r["feature"] for r in table_rows(run, "feature_importances")][0] in "abcd"


def test_sklearn_confusion_matrix_values(store_url):
    pytest.importorskip("sklearn")
    from arty.integration.sklearn import plot_confusion_matrix

    run = arty.init(project="cm", store=store_url, **QUIET)
    table = plot_confusion_matrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["cat", "dog"])
    run.finish()
    df = table.get_dataframe()
    assert list(df.columns) == ["Actual", "Predicted", "nPredictions"]
    counts = {(a, p): n for a, p, n in df.itertuples(index=False)}
    assert counts == {("cat", "cat"): 1, ("cat", "dog"): 1, ("dog", "cat"): 1, ("dog", "dog"): 2}
    logged = [r for r in arty.Api(store_url).run(run.path).scan_history() if "confusion_matrix" in r]
    assert len(logged) == 1


def test_sklearn_plot_regressor_and_refusals(store_url):
    pytest.importorskip("sklearn")
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from arty.integration import sklearn as arty_sklearn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, 2.0, 3.0] + rng.normal(scale=0.1, size=60)
    reg = LinearRegression().fit(X[:40], y[:40])
    run = arty.init(project="reg", store=store_url, **QUIET)
    arty_sklearn.plot_regressor(reg, X[:40], X[40:], y[:40], y[40:], model_name="Ridge")
    with pytest.raises(UsageError, match="'plot_clusterer' is not supported") as err:
        arty_sklearn.plot_clusterer(reg, X, [0] * 60)
    assert "arty.Table" in err.value.hint
    with pytest.raises(UsageError, match="not fitted"):
        arty_sklearn.plot_summary_metrics(LinearRegression(), X, y, X, y)
    with pytest.raises(UsageError, match="'y_pred' has 2 rows, 'y_true' has 3"):
        arty_sklearn.plot_confusion_matrix([0, 1, 1], [0, 1])
    run.finish()
    keys = {k for r in arty.Api(store_url).run(run.path).scan_history() for k in r}
    assert {"summary_metrics", "learning_curve", "residuals"} <= keys


# -- xgboost / lightgbm ---------------------------------------------------------------------------

@pytest.mark.parametrize("package, name", [("xgboost", "WandbCallback"), ("lightgbm", "wandb_callback")])
def test_xgboost_lightgbm_name_what_is_missing(package, name):
    import importlib
    import importlib.util

    if importlib.util.find_spec(package) is None:
        message = f"arty.integration.{package} needs '{package}', which is not installed\nhint: pip install {package}$"
        with pytest.raises(ImportError, match=message):
            importlib.import_module(f"arty.integration.{package}")
    else:  # installed: W&B's name imports and refuses on use, naming the Arty way
        stub = getattr(importlib.import_module(f"arty.integration.{package}"), name)
        with pytest.raises(UsageError, match="not supported") as err:
            stub()
        assert "run.log" in err.value.hint
