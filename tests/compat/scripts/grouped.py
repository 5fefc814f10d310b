"""One worker of a grouped experiment. As W&B's "Group runs" page shows it, the group and
job type come either from ``init`` or from the environment (``WANDB_RUN_GROUP``,
``WANDB_JOB_TYPE``); the launcher sets the environment, the script stays the same."""
import sys

import wandb

worker = int(sys.argv[1])
run = wandb.init(config={"worker": worker})
for step in range(3):
    wandb.log({"loss": 1 / (step + 1 + worker)})
run.summary["worker_done"] = True
print(f"group={run.group} job_type={run.job_type} project={run.project}", file=sys.stderr)
wandb.finish()
