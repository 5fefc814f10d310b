"""Team-server tracking: many clients logging through one ``art server`` at once.

    python benchmarks/bench_team_server.py [--clients 8] [--steps 20000] [--rate-steps 200000]

Starts the real ``art server`` (a subprocess, on 127.0.0.1) over a fresh local store, with
one user whose key the clients send (``ARTY_API_KEY``), then:

* ``run.log`` calls/s with 5 scalars per step in a run that streams to the server
  (``ARTY_STORE=http://...``): the calls alone, and init..finish end to end (the background
  writer's uploads count);
* ``--clients`` processes each logging ``--steps`` steps of 5 scalars at the same time, wall
  time from start to the last ``finish()``, and whether every point arrived: each run's history
  is read back from the backing store directly (not through the server) and counted.

Not a test: run it by hand; the figures are in docs/performance.md ("Team server").
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests

CLIENT = r"""
import os, sys, time
import arty
steps = int(sys.argv[1])
t0 = time.perf_counter()
run = arty.init(project="bench", name=sys.argv[2], system_metrics=False, console=False, code=False)
log = run.log
t1 = time.perf_counter()
for i in range(steps):
    log({"loss": 1.0 / (i + 1), "acc": i * 1e-6, "lr": 0.001, "epoch": i // 1000, "grad_norm": 0.5})
t2 = time.perf_counter()
run.finish()
t3 = time.perf_counter()
print(f"{run.id} {steps / (t2 - t1):.0f} {t3 - t0:.3f}")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def art(*args: str, env: dict[str, str] | None = None) -> str:
    """The real CLI, run in the scratch folder (``art init`` leaves a pointer in its folder)."""
    full = dict(os.environ, **(env or {}))
    out = subprocess.run([sys.executable, "-m", "arty", *args], env=full, capture_output=True, text=True, check=True,
                         cwd=os.environ.get("ARTY_BENCH_WORK"))
    return out.stdout


def start_server(store: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "arty", "server", "--store", store, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/store/v1", timeout=1)  # 401 without a key: serving
            return proc
        except requests.ConnectionError:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited: {proc.stderr.read().decode()}")
            time.sleep(0.1)
    raise SystemExit("the server did not start in 60 s")


def new_key(store: str) -> str:
    """The first key of a new user 'bench' with write on project 'bench'."""
    import json

    key = json.loads(art("server", "users", "add", "bench", "--store", store, "--json"))["key"]
    art("server", "grant", "bench", "bench", "--role", "write", "--store", store)
    return key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--rate-steps", type=int, default=200_000)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="arty-bench-team-")
    os.environ["ARTY_BENCH_WORK"] = work
    proc = None
    try:
        store = os.path.join(work, "store")
        art("init", store)
        key = new_key(store)
        port = free_port()
        proc = start_server(store, port)
        env = dict(os.environ, ARTY_STORE=f"http://127.0.0.1:{port}", ARTY_API_KEY=key, ARTY_PROJECT="bench")
        script = os.path.join(work, "client.py")
        with open(script, "w") as f:
            f.write(CLIENT)
        print(f"{os.cpu_count()} cpus; server over a local folder; 5 scalars per step")

        out = subprocess.run([sys.executable, script, str(args.rate_steps), "rate"], env=env, cwd=work,
                             capture_output=True, text=True, check=True).stdout.split()
        print(f"one client, {args.rate_steps} steps: run.log calls alone {float(out[1]):10.0f} calls/s;"
              f" init..finish {args.rate_steps / float(out[2]):10.0f} steps/s ({float(out[2]):.2f} s)")

        t0 = time.perf_counter()
        clients = [subprocess.Popen([sys.executable, script, str(args.steps), f"client-{i}"], env=env, cwd=work,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for i in range(args.clients)]
        results = []
        for c in clients:
            stdout, stderr = c.communicate()
            if c.returncode != 0:
                raise SystemExit(f"a client failed:\n{stderr}")
            results.append(stdout.split())
        wall = time.perf_counter() - t0
        import arty

        api = arty.Api(store)
        arrived = []
        for run_id, _, _ in results:
            rows = api.run(f"bench/{run_id}").history()
            steps = sorted(r["_step"] for r in rows)
            arrived.append(len(rows) if steps == list(range(args.steps)) else -len(rows))
        total = args.clients * args.steps
        print(f"{args.clients} clients x {args.steps} steps at once: {wall:.2f} s wall "
              f"({total / wall:.0f} steps/s through the server); slowest client init..finish "
              f"{max(float(r[2]) for r in results):.2f} s; log calls/s per client (min) "
              f"{min(float(r[1]) for r in results):.0f}")
        print(f"points arrived: {sum(abs(a) for a in arrived)} of {total}"
              f" ({'all runs complete, steps 0..N-1' if all(a == args.steps for a in arrived) else 'INCOMPLETE: ' + str(arrived)})")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
