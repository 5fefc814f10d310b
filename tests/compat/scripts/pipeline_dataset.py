"""Stage 1 of W&B's artifacts walkthrough: log a dataset artifact (files plus a Table)."""
import csv
import os

import wandb

with wandb.init(project="pipeline", job_type="upload-dataset") as run:
    os.makedirs("data", exist_ok=True)
    rows = [[i, i * 0.5, int(i >= 8)] for i in range(20)]
    with open("data/train.csv", "w", newline="") as f:
        csv.writer(f).writerows([["id", "x", "label"], *rows])

    artifact = wandb.Artifact(name="toy-dataset", type="dataset",
                              description="20 rows, two classes", metadata={"rows": len(rows)})
    artifact.add_file(local_path="data/train.csv")
    table = wandb.Table(columns=["id", "x", "label"], data=rows)
    artifact.add(table, "samples")
    run.log_artifact(artifact, aliases=["raw"])
