"""``run.watch(model)`` overhead on a small CNN training loop (CPU).

    python benchmarks/bench_watch.py [--rounds R] [--chunk N] [--threads T]

Trains a small CNN (two conv layers, 28x28 inputs, batch 32) with
``run.log({"loss": ...})`` at every step, four models side by side in one run:

* ``baseline``: not watched;
* ``counting only``: ``watch(model, log="all", log_freq=10**9)``: the hooks run
  on every step but never log, so this is the cost of the counter checks;
* ``gradients/100``: ``watch(model)`` with the defaults (gradients, every 100 steps);
* ``all/100``: gradients and parameters every 100 steps.

The models take turns in chunks of N steps (default 100, so each watched chunk
holds exactly one logged step), R rounds; the figure is the median chunk's
process CPU time per step (the run's background writer included), which a busy
shared machine disturbs less than wall time; the best chunk's and the wall-time
figures are printed beside it.
The target is under 5 % for the default settings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import torch

import arty


class SmallCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = torch.nn.Linear(32 * 7 * 7, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def chunk(model: SmallCNN, opt: torch.optim.Optimizer, run: arty.Run, x: torch.Tensor, y: torch.Tensor,
          steps: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per training step over ``steps`` steps."""
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        run.log({"loss": loss.item()})
    return (time.process_time() - c0) / steps, (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--chunk", type=int, default=100, help="steps per timed chunk")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps timings steady)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cases = {
        "baseline": None,
        "counting only": dict(log="all", log_freq=10 ** 9),
        "gradients/100": dict(log="gradients", log_freq=100),
        "all/100": dict(log="all", log_freq=100),
    }
    tmp = tempfile.mkdtemp(prefix="arty-bench-watch-")
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    wall: dict[str, list[float]] = {k: [] for k in cases}
    try:
        run = arty.init(project="bench", store=os.path.join(tmp, "store"), system_metrics=False, console=False,
                        code=False)
        torch.manual_seed(0)
        x = torch.randn(32, 1, 28, 28)
        y = torch.randint(0, 10, (32,))
        models = {}
        for i, (name, watch) in enumerate(cases.items()):
            model = SmallCNN()
            if watch is not None:
                run.watch(model, prefix=f"m{i}/", **watch)
            models[name] = (model, torch.optim.SGD(model.parameters(), lr=0.01))
            chunk(*models[name], run, x, y, 5)  # warm-up, not timed
        for _ in range(args.rounds):
            for name, (model, opt) in models.items():
                c, w = chunk(model, opt, run, x, y, args.chunk)
                cpu[name].append(c)
                wall[name].append(w)
        rows = run.step
        run.finish()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base_c, base_w = statistics.median(cpu["baseline"]), statistics.median(wall["baseline"])
    print(f"small CNN, batch 32, {args.rounds} rounds x {args.chunk} steps per case, torch threads {args.threads}, "
          f"{rows} rows logged; median per step")
    base_min = min(cpu["baseline"])
    for name in cases:
        c, w, lo = statistics.median(cpu[name]), statistics.median(wall[name]), min(cpu[name])
        extra = "" if name == "baseline" else (f"  overhead CPU {100 * (c - base_c) / base_c:+.2f} % "
                                               f"(best chunks {100 * (lo - base_min) / base_min:+.2f} %), "
                                               f"wall {100 * (w - base_w) / base_w:+.2f} %")
        print(f"  {name:<14} CPU {c * 1e3:7.3f} ms  wall {w * 1e3:7.3f} ms{extra}")


if __name__ == "__main__":
    main()
