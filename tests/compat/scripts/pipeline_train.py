"""Stage 2: use the dataset artifact, train, log the model artifact with aliases."""
import csv
import json
import os

import wandb

with wandb.init(project="pipeline", job_type="train", config={"threshold_start": 0.0}) as run:
    dataset = run.use_artifact("toy-dataset:latest")
    data_dir = dataset.download()
    with open(os.path.join(data_dir, "train.csv")) as f:
        rows = [(float(r["x"]), int(r["label"])) for r in csv.DictReader(f)]
    samples = dataset.get("samples")
    assert len(samples.data) == len(rows)

    best = None
    for step, threshold in enumerate([1.0, 3.0, 5.0, 7.0]):
        acc = sum((x > threshold) == bool(y) for x, y in rows) / len(rows)
        run.log({"accuracy": acc, "threshold": threshold})
        if best is None or acc > best[0]:
            best = (acc, threshold)
    run.summary["best_accuracy"] = best[0]

    with open("model.json", "w") as f:
        json.dump({"threshold": best[1]}, f)
    model = wandb.Artifact("toy-model", type="model", metadata={"accuracy": best[0]})
    model.add_file("model.json")
    run.log_artifact(model, aliases=["best", "staging"])
