"""W&B's "Customize log axes": a custom x axis with ``define_metric(step_metric=)`` and a glob."""
import wandb

wandb.init(project="compat")
# define our custom x axis metric
wandb.define_metric("custom_step")
# define which metrics will be plotted against it
wandb.define_metric("validation_loss", step_metric="custom_step")

for i in range(10):
    log_dict = {
        "train_loss": 1 / (i + 1),
        "custom_step": i**2,
        "validation_loss": 1 / (i + 1),
    }
    wandb.log(log_dict)

# set all other train/ metrics to use this step
wandb.define_metric("train/step")
wandb.define_metric("train/*", step_metric="train/step")
wandb.define_metric("train/accuracy", summary="max")
wandb.define_metric("val/loss", summary="min")

for i in range(10):
    log_dict = {
        "train/step": 2**i,  # exponential growth w/ internal W&B step
        "train/loss": 1 / (i + 1),  # x-axis is train/step
        "train/accuracy": 1 - abs(i - 4) / 10,  # x-axis is train/step
        "val/loss": abs(i - 6) / 10 + 0.1,  # x-axis is internal wandb step
    }
    wandb.log(log_dict)

wandb.finish()
