"""``art exp show`` over many experiments: the experiments table from the SQLite index.

    python benchmarks/bench_experiments.py [--workdir DIR] [--experiments N] [--repeat K]

Builds a local store with N experiments (default 1,000) of a three-step pipeline (prepare ->
train -> evaluate), each as ``art repro`` writes it: three finished step runs (``run.json`` with
the experiment's id and ``final.json`` with a summary) and the experiment record
(``experiments/<id>.json``, params and the steps' runs), plus their journal entries. A quarter of
the experiments skipped ``prepare`` and reuse an earlier run, as a repro with changed train params
does. Prints, each the best of K (default 5):

* the index rebuild from the records alone (3 N runs and N experiments);
* the experiments query alone (``arty.index.experiments.query``: the SQL, params and metrics of
  every step joined, as dicts), all N, then sorted by a metric with a filter on a param;
* ``art exp show`` as a whole process (Python start-up, journal catch-up with nothing new,
  the query, the table printed), and ``art exp show --json``, and ``art --version`` for the
  start-up alone.

Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import runrecords as rr  # noqa: E402  (the tests' record writer: the layout the run writer produces)
from bench_queries import best  # noqa: E402

from arty.api import Api  # noqa: E402
from arty.index import experiments  # noqa: E402
from arty.pipeline.experiment import generated_name, new_id  # noqa: E402
from arty.store import init_store, layout, open_store  # noqa: E402

PROJECT = "bench"


def make_experiments(store, n: int) -> None:
    rnd = random.Random(1)
    t0 = time.time() - 86400 * 30
    prepare_runs: list[str] = []

    def one(i: int) -> None:
        exp_id = new_id()
        exp = {"id": exp_id, "name": f"{generated_name()}-{i}"}
        started = t0 + i * 60
        params = {"prepare": {"seed": rnd.randint(0, 3), "test_fraction": 0.25},
                  "train": {"lr": rnd.choice([0.01, 0.05, 0.1, 0.5]), "epochs": rnd.choice([10, 50, 100, 300])}}
        steps = {}
        if i % 4 and prepare_runs:
            steps["prepare"] = {"action": "skip", "run": rnd.choice(prepare_runs), "exit_code": None, "outputs": {}}
        else:
            rid = rr.finished_run(store, PROJECT, config=params["prepare"], summary={"rows": 200},
                                  started_at=started, name="prepare", job_type="step", experiment=exp)
            prepare_runs.append(rid)
            steps["prepare"] = {"action": "run", "run": rid, "exit_code": 0, "outputs": {}}
        rid = rr.finished_run(store, PROJECT, config=params["train"], started_at=started + 1, name="train",
                              summary={"train_loss": rnd.random(), "_runtime": 3.0}, job_type="step",
                              experiment=exp)
        steps["train"] = {"action": "run", "run": rid, "exit_code": 0, "outputs": {}}
        rid = rr.finished_run(store, PROJECT, config={}, started_at=started + 2, name="evaluate", job_type="step",
                              summary={"accuracy": rnd.random(), "test_rows": 50}, experiment=exp)
        steps["evaluate"] = {"action": "run", "run": rid, "exit_code": 0, "outputs": {}}
        store.create_record(layout.experiment(PROJECT, exp_id), {
            **exp, "project": PROJECT, "started_at": rr.iso(started), "finished_at": rr.iso(started + 3),
            "pipeline": "arty.yaml", "params": params, "set": {}, "steps": steps, "exit_code": 0,
            "state": "finished", "git": {"commit": f"{i:040x}", "branch": "main", "is_dirty": False}})
        store.journal("experiment", project=PROJECT, experiment=exp_id)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(min(n, 8))))  # some prepare runs to reuse first
        list(pool.map(one, range(min(n, 8), n)))


def main() -> None:
    from precompile import compile_arty  # time Arty as installed: from bytecode

    compile_arty()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="where to build the store (default: a temporary folder)")
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="arty-bench-exp-")
    url = os.path.join(work, "store")
    shutil.rmtree(url, ignore_errors=True)
    init_store(url)
    store = open_store(url)
    t = time.perf_counter()
    make_experiments(store, args.experiments)
    print(f"wrote {args.experiments} experiments ({3 * args.experiments} step runs, fewer where prepare was "
          f"skipped) in {time.perf_counter() - t:.1f} s")

    api = Api(url, PROJECT)
    rebuild, counts = best(api.rebuild_index, min(args.repeat, 3))
    print(f"index rebuild: {rebuild * 1000:.0f} ms ({counts['runs']} runs)")
    query, rows = best(lambda: experiments.query(api.index, PROJECT), args.repeat)
    assert len(rows) == args.experiments, len(rows)
    print(f"experiments query, all {len(rows)}: {query * 1000:.1f} ms")
    flt = {"params.train.lr": {"$gte": 0.05}}
    sorted_q, picked = best(lambda: experiments.query(api.index, PROJECT, flt, "-metrics.evaluate.accuracy"),
                            args.repeat)
    print(f"experiments query, filtered on a param ({len(picked)} match) and sorted by a metric: "
          f"{sorted_q * 1000:.1f} ms")
    api.index.close()

    env = dict(os.environ, ARTY_STORE=url, ARTY_PROJECT=PROJECT, PYTHONPATH=ROOT)

    def art(*argv: str) -> int:
        proc = subprocess.run([sys.executable, "-m", "arty", *argv], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, check=True)
        return len(proc.stdout)

    art("exp", "show")  # the first one in a process catches up with the journal written above
    show, size = best(lambda: art("exp", "show"), args.repeat)
    print(f"art exp show (a whole process, {size / 1024:.0f} KiB of table): {show:.3f} s")
    as_json, size = best(lambda: art("exp", "show", "--json"), args.repeat)
    print(f"art exp show --json ({size / 1024:.0f} KiB): {as_json:.3f} s")
    version, _ = best(lambda: art("--version"), args.repeat)
    print(f"art --version (start-up alone): {version:.3f} s")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
