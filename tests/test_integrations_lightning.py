"""PyTorch Lightning integration: hyperparameters, metrics per global step, checkpoints as model artifacts."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("lightning", reason="the Lightning tests need lightning (pip install -e '.[test]')")

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import arty  # noqa: E402
from arty.errors import UsageError  # noqa: E402
from arty.integrations.lightning import ArtyLogger  # noqa: E402

QUIET = dict(console=False, system_metrics=False, code=False)


class TinyModel(L.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 4, activation=torch.nn.ReLU) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, hidden), activation(), torch.nn.Linear(hidden, 1))

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


def loaders():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=g)
    y = x.sum(dim=1, keepdim=True)
    ds = TensorDataset(x, y)
    return DataLoader(ds, batch_size=8), DataLoader(ds, batch_size=16)


def trainer(tmp_path, logger, **kwargs) -> L.Trainer:
    torch.manual_seed(0)
    return L.Trainer(logger=logger, default_root_dir=str(tmp_path / "lt"), accelerator="cpu", devices=1,
                     log_every_n_steps=1, enable_progress_bar=False, enable_model_summary=False, **kwargs)


@pytest.fixture
def store_url(tmp_path):
    return str(tmp_path / "store")


def test_hyperparams_metrics_and_best_checkpoint(tmp_path, store_url):
    logger = ArtyLogger(project="lit", name="tiny", store=store_url, log_model=True, **QUIET)
    ckpt = ModelCheckpoint(monitor="val_loss", mode="min", save_top_k=2)
    t = trainer(tmp_path, logger, max_epochs=3, callbacks=[ckpt], enable_checkpointing=True)
    t.fit(TinyModel(), *loaders())
    run = logger.experiment
    assert run.project == "lit" and run.name == "tiny" and logger.version == run.id
    assert str(tmp_path / "lt" / "lit" / run.id / "checkpoints") in ckpt.best_model_path
    # checkpoints are logged once training succeeded: the kept ones, oldest first, the best with "best"
    kept = sorted(ckpt.best_k_models, key=lambda p: os.stat(p).st_mtime_ns)
    assert [v.metadata["original_filename"] for v in logger.logged] == [os.path.basename(p) for p in kept]
    best = arty.use_artifact(f"model-{run.id}:best")
    assert best.metadata["original_filename"] == os.path.basename(ckpt.best_model_path)
    assert best.metadata["score"] == pytest.approx(float(ckpt.best_model_score))
    assert best.metadata["monitor"] == "val_loss" and best.type == "model"
    path = os.path.join(best.download(str(tmp_path / "dl")), "model.ckpt")
    saved = torch.load(path, weights_only=False)  # the file this test's own run wrote
    assert saved["hyper_parameters"]["lr"] == 0.1 and "net.0.weight" in saved["state_dict"]
    run.finish()

    api_run = arty.Api(store_url).run(run.path)
    assert api_run.config["lr"] == 0.1 and api_run.config["hidden"] == 4
    assert api_run.config["activation"] == "ReLU"  # a class is stored by name
    rows = list(api_run.scan_history())
    train = [r for r in rows if "train_loss" in r]
    assert [r["trainer/global_step"] for r in train] == list(range(12))  # 4 batches x 3 epochs
    val = [r for r in rows if "val_loss" in r]
    assert len(val) == 3 and [r["epoch"] for r in val] == [0, 1, 2]
    assert api_run.summary["val_loss"] == pytest.approx(val[-1]["val_loss"])


def test_log_model_all_logs_each_checkpoint_as_it_is_saved(tmp_path, store_url):
    run = arty.init(project="lit", store=store_url, **QUIET)
    logger = ArtyLogger(run=run, log_model="all", checkpoint_name="tiny-ckpt")
    ckpt = ModelCheckpoint(save_top_k=-1)  # one file per epoch
    trainer(tmp_path, logger, max_epochs=2, callbacks=[ckpt]).fit(TinyModel(), *loaders())
    assert [v.number for v in logger.logged] == [0, 1]
    assert [v.metadata["original_filename"] for v in logger.logged] == ["epoch=0-step=4.ckpt", "epoch=1-step=8.ckpt"]
    assert arty.use_artifact("tiny-ckpt:latest").number == 1
    run.finish()
    assert [(v.base_name, v.number) for v in run.logged_artifacts()] == [("tiny-ckpt", 0), ("tiny-ckpt", 1)]


def test_uses_the_active_run_and_logs_no_checkpoint_by_default(tmp_path, store_url):
    run = arty.init(project="lit", store=store_url, config={"seed": 3}, **QUIET)
    logger = ArtyLogger()
    trainer(tmp_path, logger, max_epochs=1).fit(TinyModel(lr=0.05), *loaders())
    assert logger.experiment is run and logger.logged == []
    run.finish()
    api_run = arty.Api(store_url).run(run.path)
    assert api_run.config["seed"] == 3 and api_run.config["lr"] == 0.05
    assert run.logged_artifacts() == []


def test_failed_fit_logs_no_checkpoint(tmp_path, store_url):
    class Exploding(TinyModel):
        def training_step(self, batch, batch_idx):
            if self.current_epoch == 1:
                raise RuntimeError("boom")
            return super().training_step(batch, batch_idx)

    run = arty.init(project="lit", store=store_url, **QUIET)
    logger = ArtyLogger(run=run, log_model=True)
    with pytest.raises(RuntimeError, match="boom"):
        trainer(tmp_path, logger, max_epochs=2).fit(Exploding(), *loaders())
    assert logger.logged == []
    run.finish()


@pytest.mark.parametrize("value", ["best", 1, "yes"])
def test_bad_log_model_is_refused(value):
    with pytest.raises(UsageError, match="invalid log_model"):
        ArtyLogger(log_model=value)
