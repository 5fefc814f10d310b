"""A preemptible training job, as W&B's "Resume a run" page shows it: the scheduler sets
``WANDB_RUN_ID`` and ``WANDB_RESUME=allow``; the script picks up at the step it reached."""
import os
import sys

import wandb

run = wandb.init(project="compat", config={"epochs": 6})
start = run.step           # 0 on the first attempt, the next step after a resume
for epoch in range(start, run.config.epochs):
    wandb.log({"epoch": epoch, "loss": 1 / (epoch + 1)})
    if os.environ.get("PREEMPT_AT") == str(epoch):
        sys.exit(3)    # preempted: the job exits with a non-zero code
run.summary["done"] = True
wandb.finish()
