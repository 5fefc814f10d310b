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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per scenario (each has its own default)")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temp folder, removed after)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
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
