"""W&B's PyTorch Lightning page: ``WandbLogger`` on a Trainer, hyperparameters and metrics
logged by the LightningModule, the checkpoint logged as a model artifact.

W&B's docs import the logger from Lightning (``lightning.pytorch.loggers``); Lightning's own
class needs the ``wandb`` package, so the one line a user changes is that import."""
import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from wandb.integration.lightning import WandbLogger


class LitModel(L.LightningModule):
    def __init__(self, lr=0.05):
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(4, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.layer(x)
        self.log("val_loss", nn.functional.cross_entropy(logits, y))
        self.log("val_acc", (logits.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


torch.manual_seed(0)
x = torch.randn(64, 4)
y = (x[:, 0] > 0).long()
train = DataLoader(TensorDataset(x, y), batch_size=16)
val = DataLoader(TensorDataset(x[:16], y[:16]), batch_size=16)

wandb_logger = WandbLogger(project="lightning-compat", log_model=True)
wandb_logger.experiment.config["batch_size"] = 16
trainer = L.Trainer(logger=wandb_logger, max_epochs=2, log_every_n_steps=1,
                    enable_progress_bar=False, enable_model_summary=False)
trainer.fit(LitModel(), train, val)
