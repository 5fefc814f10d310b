"""A training loop that dies mid-run with an exception (a user's bug)."""
import wandb

run = wandb.init(project="compat", config={"lr": 0.1})
for step in range(5):
    wandb.log({"loss": 1 / (step + 1)})
    if step == 2:
        raise ValueError("loss diverged at step 2")
run.finish()
