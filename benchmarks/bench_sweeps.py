"""What a sweep agent costs per trial besides the trial itself: claim, heartbeat, end, metric read.

    python benchmarks/bench_sweeps.py [--trials N] [--agents A] [--no-s3]

Each trial is a no-op (it returns at once, with no run), so the figure is the agent's own
work per trial through the store: list ``trials/``, create the claim record, write the first
heartbeat, (random / bayes: rebuild Optuna's study from the records and sample), read the
trial's run summary and metric history, create the end record, remove the heartbeat.

* one agent in this process, a grid sweep and a random sweep of N trials;
* A agent processes at once on one grid sweep of N trials (wall time / N, so agents
  overlap: the figure is the sweep's throughput), checking every trial ran exactly once.

On a local store, then on the S3 test server (moto, tests/servers.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from arty.store import init_store, open_store  # noqa: E402
from arty.sweeps.records import FINISHED  # noqa: E402
from arty.sweeps.runner import Agent, Outcome, Sweep, create  # noqa: E402

P = "bench"


def grid_config(n: int) -> dict:
    return {"method": "grid", "metric": {"name": "loss"}, "parameters": {"i": {"values": list(range(n))}}}


def random_config(n: int) -> dict:
    return {"method": "random", "metric": {"name": "loss"}, "run_cap": n,
            "parameters": {"x": {"min": 0.0, "max": 1.0}, "opt": {"values": ["a", "b"]}}}


def noop(_claimed: object) -> Outcome:
    return Outcome(FINISHED)


def one_agent(url: str, config: dict) -> tuple[float, int]:
    """(seconds per trial, trials) of one agent in this process."""
    store = open_store(url)
    sid = create(store, P, config)
    agent = Agent(Sweep(store, P, sid), say=lambda _m: None)
    t0 = time.perf_counter()
    ran = agent.run(noop)
    return (time.perf_counter() - t0) / max(1, len(ran)), len(ran)


def child(url: str, sid: str) -> None:
    store = open_store(url)
    agent = Agent(Sweep(store, P, sid), say=lambda _m: None)
    last = [time.time()]

    def timed(claimed: object) -> Outcome:
        last[0] = time.time()
        return noop(claimed)

    t0 = time.time()
    # the end: its last trial's start (an agent with nothing left to claim waits while others' trials
    # run, to take over one that crashes; that wait is not work per trial)
    numbers = [c.number for c, _ in agent.run(timed)]
    print(json.dumps({"start": t0, "end": last[0], "numbers": numbers}))


def many_agents(url: str, n: int, agents: int, env: dict[str, str]) -> tuple[float, float, bool]:
    """(wall seconds per trial with and without the processes' start, every trial exactly once) for
    ``agents`` processes on one grid sweep. Without the start: from the first agent's first claim
    to the last agent's end."""
    store = open_store(url)
    sid = create(store, P, grid_config(n))
    full = dict(os.environ) | env
    t0 = time.perf_counter()  # process start included
    procs = [subprocess.Popen([sys.executable, __file__, "--child", url, sid], env=full, stdout=subprocess.PIPE,
                              text=True) for _ in range(agents)]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t0
    reports = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    numbers = sorted(x for r in reports for x in r["numbers"])
    busy = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    trials = Sweep(store, P, sid).trials()
    once = numbers == list(range(n)) and all(len(t.attempts) == 1 and t.last.end for t in trials.values())
    return wall / n, busy / n, once


def run_all(label: str, url_of, n: int, agents: int, env: dict[str, str]) -> None:
    for name, config in (("grid", grid_config(n)), ("random", random_config(n))):
        url = url_of()
        init_store(url)
        per, count = one_agent(url, config)
        print(f"{label}: one agent, {name} sweep of {count} no-op trials: {per * 1000:.1f} ms per trial")
    url = url_of()
    init_store(url)
    per, busy, once = many_agents(url, n, agents, env)
    print(f"{label}: {agents} agent processes, grid of {n} no-op trials: {busy * 1000:.1f} ms per trial "
          f"({per * 1000:.1f} ms with the processes' start); every trial exactly once: {once}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--s3-trials", type=int, default=40)
    ap.add_argument("--no-s3", action="store_true")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    work = tempfile.mkdtemp(prefix="bench-sweeps-")
    os.environ["ARTY_CACHE_DIR"] = os.path.join(work, "cache")
    counter = iter(range(10**6))
    try:
        run_all("local", lambda: os.path.join(work, f"store{next(counter)}"), a.trials, a.agents, {})
        if not a.no_s3:
            import servers

            server = servers.S3Server().start()
            try:
                os.environ.update(server.env())
                bucket = server.make_bucket()
                run_all("S3 (moto)", lambda: f"s3://{bucket}/store{next(counter)}", a.s3_trials, a.agents,
                        server.env())
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
