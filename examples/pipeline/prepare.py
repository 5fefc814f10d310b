"""Step 1: merge the raw CSV batches and split them into train.csv and test.csv."""

import argparse
import csv
import os
import random

parser = argparse.ArgumentParser()
parser.add_argument("--raw", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--test-fraction", type=float, default=0.25)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

rows = []
for name in sorted(os.listdir(args.raw)):
    if name.endswith(".csv"):
        with open(os.path.join(args.raw, name), newline="") as f:
            rows.extend(csv.DictReader(f))
random.Random(args.seed).shuffle(rows)
n_test = int(len(rows) * args.test_fraction)
os.makedirs(args.out, exist_ok=True)
for part, chunk in (("test.csv", rows[:n_test]), ("train.csv", rows[n_test:])):
    with open(os.path.join(args.out, part), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["x1", "x2", "label"])
        writer.writeheader()
        writer.writerows(chunk)
print(f"prepare: {len(rows) - n_test} train rows, {n_test} test rows")
