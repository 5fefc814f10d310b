"""Server speed: the runs table of a 10,000-run project, and a 1,000,000-step history plot.

    python benchmarks/bench_server.py [--workdir DIR] [--runs N] [--rows R] [--repeat K]

Builds a local store with N finished runs (default 10,000; config, summary and
tags, as benchmarks/bench_queries.py makes them) and one run whose history has R
rows (default 1,000,000) of 5 metrics in packed segments of 20,000 rows, starts
the real server (uvicorn, on 127.0.0.1, in this process) and times requests made
with ``requests`` over HTTP, end to end (the server catches up with the store's
journal on each request). Each figure is the median of K (default 7) after one
warm-up request; the first (cold) request is printed too.

Target (issue 5): the runs table of a 10,000-run project served in under 300 ms.
Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, HERE)

import requests  # noqa: E402
import uvicorn  # noqa: E402

from bench_queries import FILTER, KEYS, make_history, make_runs  # noqa: E402
from arty.server import create_app  # noqa: E402
from arty.store import init_store, open_store  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(store) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def timed(session: requests.Session, url: str, params: dict | None, repeat: int) -> tuple[float, float, int, int]:
    """``(cold ms, median ms, status, bytes)`` of GET ``url``."""
    t = time.perf_counter()
    resp = session.get(url, params=params, timeout=300)
    cold = (time.perf_counter() - t) * 1000
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        resp = session.get(url, params=params, timeout=300)
        times.append((time.perf_counter() - t) * 1000)
    return cold, statistics.median(times), resp.status_code, len(resp.content)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", help="where to build the store (kept and reused when given)")
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    tmp = None
    workdir = args.workdir or (tmp := tempfile.mkdtemp(prefix="arty-bench-server-"))
    url = os.path.join(workdir, "store")
    try:
        if os.path.exists(os.path.join(url, "store.json")):
            store = open_store(url)
            long_run = open(os.path.join(workdir, "long-run")).read().strip()
            print(f"reusing the store in {url}")
        else:
            store, _ = init_store(url)
            t = time.perf_counter()
            make_runs(store, args.runs)
            long_run = make_history(store, args.rows, 20_000, packed=True)
            with open(os.path.join(workdir, "long-run"), "w") as f:
                f.write(long_run)
            print(f"built {args.runs} runs and a {args.rows:,}-row history in {time.perf_counter() - t:.1f} s")

        server, thread, base = serve(store)
        session = requests.Session()
        runs = f"{base}/api/projects/bench/runs"
        cases = [
            ("runs table, first page (100 runs), newest first", runs, None),
            ("runs table, 4-condition filter, sorted by -summary.acc", runs,
             {"filters": json.dumps(FILTER), "order": "-summary.acc"}),
            ("runs table, sorted by config.learning_rate, page 50", runs,
             {"order": "config.learning_rate", "offset": 5000, "limit": 100}),
            (f"runs table, all {args.runs + 2:,} runs in one response", runs, {"limit": 10_000}),
            ("projects", f"{base}/api/projects", None),
            ("one run's record", f"{runs}/{long_run}", None),
            (f"history, 5 keys of {args.rows:,} steps, 1,000 samples", f"{runs}/{long_run}/history",
             {"keys": ",".join(KEYS), "samples": 1000}),
            (f"history, 1 key of {args.rows:,} steps, 1,000 samples", f"{runs}/{long_run}/history",
             {"keys": KEYS[0], "samples": 1000}),
        ]
        print(f"{'request':64} {'cold ms':>9} {'median ms':>10} {'status':>6} {'bytes':>10}")
        for label, u, params in cases:
            cold, med, status, size = timed(session, u, params, args.repeat)
            print(f"{label:64} {cold:9.1f} {med:10.1f} {status:6d} {size:10,d}")
        server.should_exit = True
        thread.join(timeout=30)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
