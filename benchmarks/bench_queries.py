"""Query speed: ``api.runs`` with a filter over 10,000 runs, and ``history()`` of 1,000,000 points.

    python benchmarks/bench_queries.py [--workdir DIR] [--runs N] [--rows R] [--segment S] [--repeat K]

Builds a local store with N runs (default 10,000: ``run.json`` and
``final.json`` each, with a config, a summary and tags, plus their journal
entries), and one run whose history has R rows (default 200,000) of 5
metrics, in segments of S rows, written both ways the writer may write a
column (packed float arrays, and JSON lists). Prints:

* the index rebuild from the records alone;
* ``api.runs`` with a filter, end to end (journal catch-up with nothing new,
  refresh of unfinished runs, the SQL query, the ApiRun objects), and the
  SQL query alone;
* ``history(keys=[5 keys])`` and ``history()`` (every column), cold (a new
  Api) — each figure the best of K (default 5).

Targets (issue 3): ``api.runs`` with a filter over 10,000 runs under 100 ms;
``history()`` of 1,000,000 points under 1 s. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import runrecords as rr  # noqa: E402  (the tests' record writer: the layout the run writer produces)

from arty.api import Api  # noqa: E402
from arty.store import init_store, open_store  # noqa: E402

KEYS = ["train/loss", "train/acc", "val/loss", "val/acc", "lr"]
FILTER = {"config.learning_rate": {"$gt": 0.001}, "tags": "baseline", "summary.acc": {"$gte": 0.5},
          "state": "finished"}


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def make_runs(store, n: int) -> None:
    rnd = random.Random(1)
    t0 = time.time() - 86400 * 30

    def one(i: int) -> None:
        cfg = {"learning_rate": rnd.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2]), "batch_size": rnd.choice([32, 64, 128]),
               "optimizer": {"name": rnd.choice(["adam", "sgd"]), "momentum": rnd.random()},
               "architecture": rnd.choice(["cnn", "resnet", "vit"]), "dataset": f"ds-{i % 17}"}
        summary = {"acc": rnd.random(), "loss": rnd.random() * 2, "epoch": rnd.randint(1, 50),
                   "val/acc": rnd.random()}
        tags = rnd.sample(["baseline", "paper1", "ablation", "sweep", "debug"], k=rnd.randint(0, 3))
        rr.finished_run(store, "bench", config=cfg, summary=summary, tags=tags, started_at=t0 + i * 60,
                        name=f"run-{i}", group=f"g{i % 10}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(n)))


def make_history(store, rows: int, segment: int, packed: bool) -> str:
    run_id = rr.write_run(store, "bench", name=f"long-{'packed' if packed else 'lists'}")
    rnd = random.Random(2)
    t0 = time.time() - 3600
    for start in range(0, rows, segment):
        n = min(segment, rows - start)
        cols = {"_step": list(range(start, start + n)), "_timestamp": [t0 + (start + i) * 0.01 for i in range(n)],
                "_runtime": [(start + i) * 0.01 for i in range(n)]}
        for k in KEYS:
            cols[k] = [rnd.random() for _ in range(n)]
        rr.write_segment(store, "bench", run_id, "history", cols, packed=packed)
    rr.finish(store, "bench", run_id, steps=rows)
    return run_id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", help="where to build the store (kept and reused when given)")
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--segment", type=int, default=20_000, help="history rows per segment")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-orjson", action="store_true", help="parse JSON lists with the json module only")
    args = ap.parse_args()
    from arty.index import segments

    if args.no_orjson:
        segments._orjson = None

    tmp = None
    workdir = args.workdir or (tmp := tempfile.mkdtemp(prefix="arty-bench-q-"))
    url = os.path.join(workdir, f"store-{args.runs}-{args.rows}-{args.segment}")
    try:
        if os.path.exists(os.path.join(url, "store.json")):
            store = open_store(url)
            print(f"reusing {url}")
        else:
            store, _ = init_store(url)
            t = time.perf_counter()
            make_runs(store, args.runs)
            for packed in (True, False):
                make_history(store, args.rows, args.segment, packed)
            print(f"wrote {args.runs} runs and 2 x {args.rows} history rows in {time.perf_counter() - t:.1f} s")
        cache = os.path.join(store.cache_dir(), "index.sqlite")
        if os.path.exists(cache):
            os.unlink(cache)

        print(f"\nmachine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
              f"orjson {'used' if segments._orjson is not None else 'not used'} for JSON lists")
        api = Api(store, "bench")
        t = time.perf_counter()
        counts = api.rebuild_index()
        print(f"index rebuild: {counts['runs']} runs in {time.perf_counter() - t:.2f} s")
        api.runs(filters=FILTER)  # warm: first catch-up after the rebuild

        dt, res = best(lambda: api.runs(filters=FILTER), args.repeat * 4)
        print(f"api.runs(filter) end to end: {dt * 1000:.1f} ms -> {len(res)} of {args.runs + 2} runs   "
              f"(target < 100 ms)")
        dt, res = best(lambda: api.index.runs("bench", FILTER, "-created_at"), args.repeat * 4)
        print(f"  of which the SQL query:   {dt * 1000:.1f} ms")
        dt, _ = best(lambda: api.index.sync("bench"), args.repeat * 4)
        print(f"  of which the catch-up:    {dt * 1000:.1f} ms (journal listed, nothing new)")
        dt, res = best(lambda: api.runs(filters=FILTER, order="-summary.acc"), args.repeat * 4)
        print(f"api.runs(filter, order='-summary.acc'): {dt * 1000:.1f} ms")
        dt, res = best(lambda: api.runs(), args.repeat * 4)
        print(f"api.runs() (all {len(res)} runs, no filter): {dt * 1000:.1f} ms")

        points = args.rows * len(KEYS)
        print(f"\nhistory: {args.rows} rows x {len(KEYS)} keys = {points:,} points, "
              f"segments of {args.segment} rows")
        runs = {r.name: r for r in api.runs(filters={"name": {"$regex": "^long-"}})}
        for label in ("packed", "lists"):
            run_path = runs[f"long-{label}"].path
            dt, rows = best(lambda: Api(store, "bench").run(run_path).history(keys=KEYS), args.repeat)
            print(f"  {label:6} history(keys=5 keys): {dt:.3f} s ({len(rows)} rows)   (target < 1 s)")
            dt, rows = best(lambda: Api(store, "bench").run(run_path).history(), args.repeat)
            print(f"  {label:6} history() every column: {dt:.3f} s ({len(rows)} rows, 8 columns)")
            dt, rows = best(lambda: Api(store, "bench").run(run_path).history(keys=["val/acc"]), args.repeat)
            print(f"  {label:6} history(keys=['val/acc']): {dt:.3f} s")
            if importlib.util.find_spec("pandas") is None:
                continue
            dt, df = best(lambda: Api(store, "bench").run(run_path).history(keys=KEYS, pandas=True), args.repeat)
            print(f"  {label:6} history(keys=5 keys, pandas=True): {dt:.3f} s ({len(df)} rows)")
        api.close()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
