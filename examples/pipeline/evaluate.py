"""Step 3: score the model on test.csv; write a report folder with metrics.json."""

import argparse
import csv
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--data", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()

with open(args.model) as f:
    w = json.load(f)["weights"]
with open(os.path.join(args.data, "test.csv"), newline="") as f:
    rows = [(float(r["x1"]), float(r["x2"]), int(r["label"])) for r in csv.DictReader(f)]

correct = sum(int((w[0] + w[1] * x1 + w[2] * x2 > 0) == bool(y)) for x1, x2, y in rows)
accuracy = correct / len(rows) if rows else 0.0
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "metrics.json"), "w") as f:
    json.dump({"accuracy": round(accuracy, 4), "test_rows": len(rows)}, f)
with open(os.path.join(args.out, "README.md"), "w") as f:
    f.write(f"# Evaluation\n\naccuracy {accuracy:.3f} on {len(rows)} test rows\n")
print(f"evaluate: accuracy {accuracy:.3f}")
