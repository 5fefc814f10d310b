"""Run-tracking speed: ``run.log`` throughput end to end, memory, and init/finish.

    python benchmarks/bench_tracking.py [--steps N] [--repeat R]

* log calls/s with 5 scalars per step, from before ``init`` returns to after
  ``finish()`` (so the background writer's work counts), best of R runs;
* peak Python memory (tracemalloc) for N and 10 x N steps: flat means the
  buffers are flushed, not kept;
* ``init()`` + ``finish()`` of an empty run with the default capture (system
  metrics, console, code state), best of R.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import tracemalloc

import arty
from arty.store import init_store


def log_run(store: str, steps: int, **kwargs) -> tuple[float, float]:
    """(seconds for init + steps log calls + finish, seconds for the log calls alone)."""
    t0 = time.perf_counter()
    run = arty.init(project="bench", store=store, system_metrics=False, console=False, code=False, **kwargs)
    log = run.log
    t1 = time.perf_counter()
    for i in range(steps):
        log({"loss": 1.0 / (i + 1), "acc": i * 1e-6, "lr": 0.001, "epoch": i // 1000, "grad_norm": 0.5})
    t2 = time.perf_counter()
    run.finish()
    return time.perf_counter() - t0, t2 - t1


def peak_memory(store: str, steps: int) -> float:
    tracemalloc.start()
    log_run(store, steps)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="arty-bench-tracking-")
    try:
        store = os.path.join(work, "store")
        init_store(store)
        print(f"arty {arty.__version__}, {os.cpu_count()} cpus, {args.steps} steps x 5 scalars")
        best_total = best_calls = float("inf")
        for _ in range(args.repeat):
            total, calls = log_run(store, args.steps)
            best_total, best_calls = min(best_total, total), min(best_calls, calls)
        print(f"run.log end to end (init..finish)  {args.steps / best_total:10.0f} calls/s  ({best_total:.3f} s)")
        print(f"run.log calls alone                {args.steps / best_calls:10.0f} calls/s")
        small = peak_memory(store, args.steps)
        big = peak_memory(store, args.steps * 10)
        print(f"peak Python memory: {small:6.1f} MiB for {args.steps} steps, "
              f"{big:6.1f} MiB for {args.steps * 10} steps")
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            run = arty.init(project="bench", store=store)
            run.finish()
            times.append(time.perf_counter() - t)
        print(f"init() + finish() of an empty run, default capture: {min(times):.3f} s (best of {args.repeat})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
