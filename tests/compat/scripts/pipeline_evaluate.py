"""Stage 3: evaluate the model tagged ``best`` and log a predictions Table."""
import json
import os

import wandb

with wandb.init(project="pipeline", job_type="evaluate") as run:
    model_dir = run.use_artifact("toy-model:best").download()
    with open(os.path.join(model_dir, "model.json")) as f:
        threshold = json.load(f)["threshold"]
    samples = run.use_artifact("toy-dataset:raw").get("samples")

    table = wandb.Table(columns=["id", "label", "prediction"])
    correct = 0
    for id_, x, label in samples.data:
        pred = int(x > threshold)
        correct += pred == label
        table.add_data(id_, label, pred)
    run.log({"predictions": table, "test_accuracy": correct / len(samples.data)})
