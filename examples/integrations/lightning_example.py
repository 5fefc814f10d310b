"""PyTorch Lightning + Arty: hyperparameters, metrics and checkpoints as model artifacts.

    pip install 'arty[lightning]'
    python examples/integrations/lightning_example.py

Writes to the store Arty finds (ARTY_STORE, the nearest .arty folder, else ./.arty).
"""

import tempfile

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

import arty
from arty.integrations.lightning import ArtyLogger


class Regressor(L.LightningModule):
    def __init__(self, lr: float = 0.05, hidden: int = 16) -> None:
        super().__init__()
        self.save_hyperparameters()                       # -> the run's config
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


torch.manual_seed(0)
x = torch.randn(256, 4)
y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
train = DataLoader(TensorDataset(x[:192], y[:192]), batch_size=32, shuffle=True)
val = DataLoader(TensorDataset(x[192:], y[192:]), batch_size=64)

logger = ArtyLogger(project="integrations", job_type="lightning", log_model=True)
trainer = L.Trainer(max_epochs=4, logger=logger, accelerator="cpu", log_every_n_steps=2,
                    default_root_dir=tempfile.mkdtemp(prefix="lightning-"), enable_progress_bar=False,
                    callbacks=[ModelCheckpoint(monitor="val/loss", mode="min", save_top_k=1)])
trainer.fit(Regressor(), train, val)
best = arty.use_artifact(f"model-{logger.version}:best")
print(f"run {logger.experiment.path}: best checkpoint {best.qualified_name} (val/loss {best.metadata['score']:.4f})")
arty.finish()
