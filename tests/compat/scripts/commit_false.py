"""Incremental logging, as W&B's "Log objects and media" page shows it: several ``log`` calls
build one history row with ``commit=False``; ``log({})``/``log()`` or a plain ``log`` ends it;
an explicit ``step`` merges calls with the same step."""
import wandb

run = wandb.init(project="compat", config={"batches": 4})

for epoch in range(3):
    for batch in range(run.config.batches):
        wandb.log({"batch_loss": 1 / (epoch * 4 + batch + 1)}, commit=False)
    wandb.log({"epoch_loss": 1 / (epoch + 1)}, commit=False)
    wandb.log({"lr": 0.1 / (epoch + 1)})          # ends the row: one row per epoch

wandb.log({"val/acc": 0.5}, commit=False)
wandb.log()                                     # commits the pending row

for step in range(10, 13):
    wandb.log({"train/loss": 1 / step}, step=step)
    wandb.log({"train/acc": 1 - 1 / step}, step=step)   # same step: same row

wandb.finish()
