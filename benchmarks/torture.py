"""Torture tests: try to break Arty on purpose and print what held.

    python benchmarks/torture.py                   # every scenario, default sizes
    python benchmarks/torture.py gc-during-adds    # one scenario
    python benchmarks/torture.py --list

Each scenario is a function that takes the parsed arguments and a scratch folder, drives the real
``art`` CLI or library the way a user (or a crash) would, and returns a dict of figures; the
script prints one block per scenario. The figures and what they mean are in
docs/performance.md ("Torture tests"). Nothing here is a test: the assertions that keep
each fix in place live in tests/; this measures how often and how badly things go wrong under load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

Scenario = Callable[[argparse.Namespace, str], dict[str, Any]]
#: name -> (function, one-line description). Add a scenario with :func:`scenario`.
SCENARIOS: dict[str, tuple[Scenario, str]] = {}


def scenario(name: str, description: str) -> Callable[[Scenario], Scenario]:
    """Register ``fn`` as scenario ``name``."""

    def wrap(fn: Scenario) -> Scenario:
        SCENARIOS[name] = (fn, description)
        return fn

    return wrap


def art(*args: str, cwd: str | None = None, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real CLI (``python -m arty``) and capture its output."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "arty", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=timeout)


def art_popen(*args: str, cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the real CLI in the background (for kill loops)."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "arty", *args], cwd=cwd, env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# -- scenarios -------------------------------------------------------------------------------
# (each helper of the hardening work adds its own below, as one function each)


@scenario("kill-add", "SIGKILL 'art add' at random moments; count corrupt objects, version gaps, verify failures")
def kill_add(args: argparse.Namespace, work: str) -> dict[str, Any]:
    import random

    from arty.hashing import hash_file
    from arty.store import init_store

    rounds = args.rounds or 20
    rng = random.Random(10)
    store = os.path.join(work, "store")
    init_store(store)
    data = os.path.join(work, "data")
    os.makedirs(os.path.join(data, "many"))
    for i in range(1000):  # many small files and two large ones: kills land in every phase of an add
        with open(os.path.join(data, "many", f"{i:03d}.bin"), "wb") as f:
            f.write(os.urandom(rng.randint(1, 64) * 1024))
    add = ("--store", store, "add", data, "--name", "ds", "--type", "dataset")

    def change(k: int) -> None:  # new content in every round: each add that completes is a new version
        for name in ("big-a.bin", "big-b.bin"):
            with open(os.path.join(data, name), "wb") as f:
                f.write(os.urandom(24 * 1024 * 1024))
        with open(os.path.join(data, "many", f"{k % 1000:03d}.bin"), "wb") as f:
            f.write(os.urandom(4096))

    art(*add, timeout=600)
    change(-1)
    started = time.monotonic()
    art(*add, timeout=600)  # one add of a round's change, to know how long one takes
    full = time.monotonic() - started
    killed = completed = verify_failures = 0
    for k in range(rounds):
        change(k)
        proc = art_popen(*add)
        try:
            proc.wait(timeout=rng.uniform(0.2, 1.1) * full)  # from start-up to just after the end
            completed += 1
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            killed += 1
        if art("--store", store, "verify", timeout=600).returncode != 0:
            verify_failures += 1
    corrupt = temps = 0
    algorithm = json.load(open(os.path.join(store, "store.json")))["hash"]
    for here, _dirs, names in os.walk(os.path.join(store, "objects")):
        for name in names:
            if ".tmp-" in name or name.startswith(".tmp"):
                temps += 1
                continue
            digest = hash_file(os.path.join(here, name), algorithm)
            if digest.hex != os.path.basename(here) + name:
                corrupt += 1
    versions = sorted(int(n.split(".")[0]) for n in os.listdir(os.path.join(
        store, "projects", "default", "artifacts", "ds", "versions")) if n.endswith(".json"))
    gaps = sum(1 for a, b in zip(versions, versions[1:]) if b != a + 1) + (1 if versions and versions[0] != 0 else 0)
    final = art("--store", store, "verify", timeout=600)
    return {"rounds": rounds, "one add (s)": round(full, 2), "killed mid-add": killed,
            "completed before the kill": completed, "versions": len(versions), "version gaps": gaps,
            "corrupt objects": corrupt, "leftover temp files": temps,
            "verify failures (after each round)": verify_failures,
            "verify at the end": "ok" if final.returncode == 0 else final.stderr.strip()[:200]}


_LOG_FAST = """
import mmap, struct, sys, time
import arty
store, run_id, counter, steady = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "steady"
f = open(counter, "r+b")
mm = mmap.mmap(f.fileno(), 16)
pack = struct.Struct("<qd").pack_into
run = arty.init(project="p", store=store, id=run_id, console=False, system_metrics=False, code=False)
log = run.log
i = 0
while True:                                  # until SIGKILL
    log({"i": i, "loss": 1.0 / (i + 1), "acc": i * 1e-6})
    i += 1
    pack(mm, 0, i, time.time())
    if steady and i % 10 == 0:
        time.sleep(0.002)                    # a training loop: a few thousand rows a second
"""


@scenario("kill-log", "SIGKILL a process logging rows at random moments; rows and seconds lost, unsynced runs")
def kill_log(args: argparse.Namespace, work: str) -> dict[str, Any]:
    import random
    import struct

    from arty.store import init_store, open_store, segments
    from arty.tracking.writer import MAX_BUFFERED_ROWS

    rounds = args.rounds or 12
    rng = random.Random(11)
    store_url = os.path.join(work, "store")
    init_store(store_url)
    script = os.path.join(work, "log_fast.py")
    with open(script, "w") as f:
        f.write(_LOG_FAST)
    counter = struct.Struct("<qd")
    kills = []
    for k in range(rounds):
        mode = "fast" if k % 2 == 0 else "steady"
        count_path = os.path.join(work, f"count-{k}")
        with open(count_path, "wb") as f:
            f.write(b"\0" * counter.size)
        proc = subprocess.Popen([sys.executable, script, store_url, f"k{k}", count_path, mode],
                                stderr=subprocess.DEVNULL)
        while counter.unpack(open(count_path, "rb").read(counter.size))[0] == 0:
            if proc.poll() is not None:
                raise RuntimeError("the logging process exited before logging")
            time.sleep(0.01)
        time.sleep(rng.uniform(0.5, 12.0))  # default flush interval (5 s): kill anywhere in 2 intervals
        proc.kill()
        proc.wait()
        logged, last_at = counter.unpack(open(count_path, "rb").read(counter.size))
        kills.append({"run": f"k{k}", "mode": mode, "logged": logged, "last_at": last_at})
    listed = json.loads(art("--store", store_url, "runs", "p", "--json", "--limit", "0").stdout)
    unsynced_before = sum(1 for r in listed if r.get("unsynced"))
    sync = art("--store", store_url, "sync", timeout=600)
    listed = json.loads(art("--store", store_url, "runs", "p", "--json", "--limit", "0").stdout)
    unsynced_after = sum(1 for r in listed if r.get("unsynced"))
    store = open_store(store_url)
    lost_rows, lost_s, worst = [], [], {}
    for kill in kills:
        base = f"projects/p/runs/{kill['run']}/history"
        rows = [r for n in sorted(store.backend.list(base)) for r in segments.rows_of(store.backend.read(f"{base}/{n}"))]
        n_lost = kill["logged"] - len(rows)
        s_lost = kill["last_at"] - rows[-1]["_timestamp"] if rows else float("inf")
        lost_rows.append(n_lost)
        lost_s.append(round(s_lost, 2))
        if not worst or s_lost > worst["seconds"]:
            worst = {"run": kill["run"], "mode": kill["mode"], "seconds": round(s_lost, 2), "rows": n_lost,
                     "share": f"{n_lost / max(kill['logged'], 1):.1%}"}
    return {"kills": rounds, "flush interval (s)": 5.0, "row bound": 2 * MAX_BUFFERED_ROWS,
            "rows lost per kill": lost_rows, "seconds lost per kill": lost_s,
            "worst (by seconds)": worst, "most rows lost": max(lost_rows),
            "kills over 5 s lost": sum(1 for s in lost_s if s > 5.0),
            "kills over the row bound": sum(1 for n in lost_rows if n > 2 * MAX_BUFFERED_ROWS),
            "runs unsynced before 'art sync'": unsynced_before, "runs unsynced after": unsynced_after,
            "art sync exit code": sync.returncode}


_FINISH_AFTER_HANG = """
import json, os, sys, time
import arty
t0 = time.monotonic()
run = arty.init(project="p", store=sys.argv[1], flush_interval=0.5, console=False, system_metrics=False, code=False)
init_s = time.monotonic() - t0
for i in range(200):
    run.log({"i": i})
while not run.store.list(f"projects/p/runs/{run.id}/history"):
    time.sleep(0.05)                         # until the first segment is in the store
print("hang", flush=True)
sys.stdin.readline()                         # the endpoint hangs now
for i in range(200, 400):
    run.log({"i": i})
t1 = time.monotonic()
run.finish(quiet=True)
print(json.dumps({"run": run.id, "init": round(init_s, 2), "finish": round(time.monotonic() - t1, 2)}), flush=True)
"""


@scenario("hung-endpoint", "finish() and 'art runs' against an S3 endpoint that accepts connections and never answers")
def hung_endpoint(args: argparse.Namespace, work: str) -> dict[str, Any]:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from servers import HungEndpoint, S3Server  # the test suite's servers: moto's S3 and a hung socket

    from arty.store import init_store

    out: dict[str, Any] = {}
    s3 = S3Server().start()
    try:
        url = f"s3://{s3.make_bucket()}/store"
        env = s3.env()
        init_store(url, storage_options=s3.storage_options())
        for timeout in (None, "2"):
            label = f"ARTY_STORE_TIMEOUT={timeout or 'default (10)'}"
            with HungEndpoint() as hung:
                run_env = dict(env, AWS_ENDPOINT_URL=hung.endpoint)
                if timeout:
                    run_env["ARTY_STORE_TIMEOUT"] = timeout
                t = time.monotonic()
                proc = art("--store", url, "runs", env=run_env, timeout=900)
                out[f"art runs, {label} (s)"] = round(time.monotonic() - t, 1)
                out[f"art runs, {label}: exit, connections"] = (proc.returncode, hung.connections)
        out["art runs error"] = proc.stderr.splitlines()[0] if proc.stderr else ""
        for _ in range(args.rounds or 1):
            with HungEndpoint(upstream=s3.endpoint) as proxy:  # works, then hangs mid-run
                script = os.path.join(work, "finish_after_hang.py")
                with open(script, "w") as f:
                    f.write(_FINISH_AFTER_HANG)
                full = {**os.environ, **env, "AWS_ENDPOINT_URL": proxy.endpoint}
                t = time.monotonic()
                proc = subprocess.Popen([sys.executable, script, url], env=full, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                assert proc.stdout.readline().strip() == "hang"
                proxy.hang()
                proc.stdin.write("\n")
                proc.stdin.flush()
                figures = json.loads(proc.stdout.readline())
                proc.wait(timeout=900)
                out["init (s)"] = figures["init"]
                out["finish() after the endpoint hung (s)"] = figures["finish"]
                out["process exit after finish() (s)"] = round(time.monotonic() - t, 1)
            sync = art("--store", url, "sync", env=env, timeout=900)
            out["art sync against the working store"] = sync.stdout.strip().splitlines()[-1] if sync.stdout else sync.stderr
            show = art("--store", url, "run", "show", f"p/{figures['run']}", "--json", env=env)
            rec = json.loads(show.stdout) if show.returncode == 0 else {}
            out["run after art sync: state, steps"] = (rec.get("state"), rec.get("steps"))
    finally:
        s3.stop()
    return out

@scenario("gc-during-adds", "art gc --grace 0 in a loop in one process while art add of changing folders runs in "
                            "another (half the versions deleted, their blobs reused later); then every version checked")
def gc_during_adds(args: argparse.Namespace, work: str) -> dict[str, Any]:
    rounds = args.rounds or 40
    store = os.path.join(work, "store")
    art("init", store, cwd=work).check_returncode()  # cwd: init leaves a pointer to the store there
    stop = os.path.join(work, "stop")
    # One process running gc passes back to back until told to stop; it prints its totals.
    looper = subprocess.Popen([sys.executable, "-c", (
        "import json, os, sys\n"
        "from arty.artifacts.gc import collect\n"
        "from arty.errors import ArtyError\n"
        "from arty.store import open_store\n"
        "passes = removed = 0\n"
        "errors = []\n"
        "while not os.path.exists(sys.argv[2]):\n"
        "    try:\n"
        "        removed += collect(open_store(sys.argv[1]), grace=0)[1]\n"
        "    except ArtyError as exc:\n"
        "        errors.append(exc.message)\n"
        "    passes += 1\n"
        "print(json.dumps({'passes': passes, 'removed': removed, 'errors': errors}))\n"), store, stop],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    expected: dict[int, dict[str, bytes]] = {}
    add_failures = 0
    deleted = 0
    rng = random.Random(10)
    try:
        for i in range(rounds):
            files = {"same.txt": b"in every version", "cycle.txt": f"cycle {i % 3}".encode(),
                     f"new/{i}.txt": f"new {i}\n".encode() * 200, f"sub{i % 2}/x.txt": f"x {i % 4}".encode(),
                     "big.bin": rng.randbytes(256 * 1024) if i % 4 else b"every fourth version"}
            folder = os.path.join(work, f"data{i}")
            for rel, data in files.items():
                os.makedirs(os.path.dirname(os.path.join(folder, rel)), exist_ok=True)
                with open(os.path.join(folder, rel), "wb") as f:
                    f.write(data)
            res = art("--store", store, "add", folder, "--name", "data", "--type", "dataset", "--json")
            if res.returncode != 0:
                add_failures += 1
                continue
            number = int(str(json.loads(res.stdout)["version"]).lstrip("v"))
            if i % 2:  # deleted at once: its blobs are garbage that later versions partly reuse
                art("--store", store, "rm", f"data:v{number}").check_returncode()
                deleted += 1
            else:
                expected[number] = files
    finally:
        with open(stop, "w"):
            pass
        out, err = looper.communicate(timeout=600)
    totals = json.loads(out.strip().splitlines()[-1]) if looper.returncode == 0 and out.strip() else {}
    broken = []
    listed = art("--store", store, "ls", "data", "--json")
    rows = json.loads(listed.stdout) if listed.returncode == 0 else []
    present = [int(str(row["version"]).lstrip("v")) for row in rows]
    for number in sorted(set(present) | set(expected)):  # also versions whose add reported a failure
        files = expected.get(number, {})
        target = os.path.join(work, f"out{number}")
        got = art("--store", store, "get", f"data:v{number}", "--output", target)
        ok = got.returncode == 0
        for rel, data in files.items() if ok else ():
            try:
                with open(os.path.join(target, rel), "rb") as f:
                    ok = ok and f.read() == data
            except FileNotFoundError:
                ok = False
        if not ok:
            broken.append(f"v{number}")
    verify = art("--store", store, "verify")
    problems = [line for line in verify.stdout.splitlines() if line.startswith("bad:")]
    return {"versions added": len(expected) + deleted, "versions deleted at once": deleted,
            "add failures": add_failures, "gc passes": totals.get("passes"),
            "gc passes failed": len(totals.get("errors", [])) if looper.returncode == 0 else err.strip()[-300:],
            "blobs removed": totals.get("removed"), "broken versions": len(broken),
            "broken": broken, "art verify problems": len(problems)}


_OUTAGE_RUN = """
import json, sys, time
import arty
seconds, counter = float(sys.argv[1]), sys.argv[2]
run = arty.init(project="team", id="outage", name="outage")
steps = int(seconds * 10)
started = time.monotonic()
for step in range(steps):                    # 10 steps a second, 5 scalars, 1 KiB of console output
    run.log({"loss": 1.0 / (step + 1), "acc": step / steps, "lr": 0.1, "grad": step * 0.5, "step2": step})
    print(f"step {step} " + "x" * 1024, flush=True)
    with open(counter, "w") as f:
        f.write(str(step + 1))
    time.sleep(max(0.0, started + (step + 1) / 10 - time.monotonic()))
t = time.monotonic()
run.finish()
sys.stderr.write(json.dumps({"logged": steps, "finish": time.monotonic() - t}) + "\\n")
"""


@scenario("server-outage", "a run streaming to an art server (a user's write key) whose server is SIGKILLed a few "
                           "seconds in and restarted --outage seconds later; points that reach the backing store")
def server_outage(args: argparse.Namespace, work: str) -> dict[str, Any]:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from art_servers import ArtServer  # the test suite's real 'art server' process

    import arty
    from arty.store import init_store, open_store, segments

    outage = args.outage
    backing = os.path.join(work, "backing")
    init_store(backing)
    added = art("server", "users", "add", "trainer", "--store", backing, "--json")
    added.check_returncode()
    key = json.loads(added.stdout)["key"]
    art("server", "grant", "trainer", "team", "--role", "write", "--store", backing).check_returncode()
    server = ArtServer(backing).start()
    script, counter = os.path.join(work, "train.py"), os.path.join(work, "counter")
    with open(script, "w") as f:
        f.write(_OUTAGE_RUN)
    store = open_store(backing)
    base = "projects/team/runs/outage/history"

    def logged() -> int:
        try:
            with open(counter) as f:
                return int(f.read() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def arrived() -> int:
        return sum(len(segments.rows_of(store.backend.read(f"{base}/{n}"))) for n in sorted(store.backend.list(base)))

    env = {**os.environ, "ARTY_STORE": server.url, "ARTY_API_KEY": key}
    total_s = outage + 30
    proc = subprocess.Popen([sys.executable, script, str(total_s), counter], cwd=work, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    out: dict[str, Any] = {"outage (s)": outage, "run length (s)": total_s}
    try:
        while logged() < 80:  # 8 s of training: the first segments (every 5 s) uploaded
            if proc.poll() is not None:
                raise RuntimeError(f"the training script exited early: {proc.stderr.read()[-2000:]}")
            time.sleep(0.05)
        out["points in the store when killed"] = arrived()
        server.kill()
        out["points logged when killed"] = logged()
        time.sleep(outage)
        server.start()
        restarted = time.monotonic()
        backlog = logged()
        out["points logged when restarted"] = backlog
        caught_up = None
        while proc.poll() is None or arrived() < backlog:
            if caught_up is None and arrived() >= backlog:
                caught_up = time.monotonic() - restarted
            if time.monotonic() - restarted > total_s + 120:
                break
            time.sleep(0.25)
        if caught_up is None and arrived() >= backlog:
            caught_up = time.monotonic() - restarted
        _, err = proc.communicate(timeout=600)
        out["run exit code"] = proc.returncode
        lines = [line for line in err.splitlines() if line.startswith("{")]
        figures = json.loads(lines[-1]) if lines else {}
        out["finish() (s)"] = round(figures.get("finish", float("nan")), 2)
        out["finish() over 30 s (ARTY_FINISH_TIMEOUT)"] = figures.get("finish", 1e9) > 30
        out["arty messages"] = [line for line in err.splitlines() if line.startswith("arty:")][:3]
        out["backlog in the store after restart (s)"] = None if caught_up is None else round(caught_up, 1)
        all_in = None
        while time.monotonic() - restarted < total_s + 180:
            if arrived() >= figures.get("logged", 0):
                all_in = time.monotonic() - restarted
                break
            time.sleep(0.25)
        out["every point in the store after restart (s)"] = None if all_in is None else round(all_in, 1)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    run = arty.Api(store=backing).run("team/outage")
    rows = list(run.scan_history(keys=["loss"]))
    expected = figures.get("logged", 0)
    out["points in the backing store / logged"] = f"{len(rows)} / {expected}"
    out["points right (loss = 1/(step+1), in order)"] = [r["loss"] for r in rows] == \
        [1.0 / (s + 1) for s in range(expected)]
    out["run state, steps"] = (run.state, run.steps)
    out["by"] = json.loads(store.backend.read("projects/team/runs/outage/run.json")).get("by")
    verify = art("--store", backing, "verify")
    out["art verify on the backing store"] = "ok" if verify.returncode == 0 else verify.stdout[-300:] + verify.stderr[-300:]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per scenario (each has its own default)")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temp folder, removed after)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--outage", type=float, default=60.0, help="server-outage: seconds the server stays down")
    args = parser.parse_args(argv)
    if args.list:
        for name, (_fn, desc) in SCENARIOS.items():
            print(f"{name:24s} {desc}")
        return 0
    names = args.names or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)} (see --list)")
    results: dict[str, Any] = {}
    for name in names:
        fn, desc = SCENARIOS[name]
        work = tempfile.mkdtemp(prefix=f"torture-{name}-", dir=args.workdir)
        started = time.monotonic()
        try:
            figures = fn(args, work)
        finally:
            if args.workdir is None:
                shutil.rmtree(work, ignore_errors=True)
        figures["seconds"] = round(time.monotonic() - started, 1)
        results[name] = figures
        if not args.json:
            print(f"== {name}: {desc}")
            for key, value in figures.items():
                print(f"   {key:32s} {value}")
            sys.stdout.flush()
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
