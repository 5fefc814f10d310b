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
