"""Step 2: fit a logistic regression (plain Python) on train.csv; write the weights as JSON."""

import argparse
import csv
import json
import math
import os

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--lr", type=float, default=0.5)
parser.add_argument("--epochs", type=int, default=300)
args = parser.parse_args()

with open(os.path.join(args.data, "train.csv"), newline="") as f:
    rows = [(float(r["x1"]), float(r["x2"]), int(r["label"])) for r in csv.DictReader(f)]

w = [0.0, 0.0, 0.0]  # bias, x1, x2
loss = 0.0
for epoch in range(args.epochs):
    grad = [0.0, 0.0, 0.0]
    loss = 0.0
    for x1, x2, y in rows:
        p = 1 / (1 + math.exp(-(w[0] + w[1] * x1 + w[2] * x2)))
        loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
        for i, xi in enumerate((1.0, x1, x2)):
            grad[i] += (p - y) * xi
    w = [wi - args.lr * gi / len(rows) for wi, gi in zip(w, grad)]
    loss /= len(rows)
    if epoch % 100 == 0:
        print(f"train: epoch {epoch} loss {loss:.4f}")

with open(args.out, "w") as f:
    json.dump({"weights": w}, f)
with open(os.path.join(os.path.dirname(args.out), "train-metrics.json"), "w") as f:
    json.dump({"train_loss": round(loss, 6)}, f)
print(f"train: final loss {loss:.4f}")
