"""A training loop that logs a value W&B cannot serialise, then keeps going."""
import wandb

run = wandb.init(project="compat")
for step in range(3):
    wandb.log({"loss": 1 / (step + 1)})
wandb.log({"loss": 0.1, "model": object()})     # not a loggable value
wandb.log({"loss": 0.05})
run.finish()
