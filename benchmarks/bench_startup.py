"""Start-up cost: what ``import arty`` and a short ``art`` command cost before any work.

    python benchmarks/bench_startup.py [--repeat N] [--steps S]

Each figure is a fresh interpreter (a subprocess), best and median of N:

* ``python -c pass``: the bare interpreter start, subtracted from the next lines;
* ``import arty``, ``art --version``, ``art --help`` and ``python -m arty ls`` on an
  empty store (wall time of the whole process, and the same less the bare start);
* ``run.log`` of 5 scalars for S steps, timed inside a fresh process from before
  ``import arty`` to after ``finish()``: with system metrics, console and code capture
  off (``system_metrics=False, console=False, code=False``), and with the defaults;
* the modules ``import arty`` loads, and whether any thread started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

_LOG_SCRIPT = """
import time
t0 = time.perf_counter()
import arty
run = arty.init(project="bench", store={store!r}{kwargs})
log = run.log
for i in range({steps}):
    log({{"loss": 1.0 / (i + 1), "acc": i * 1e-6, "lr": 0.001, "epoch": i // 1000, "grad_norm": 0.5}})
run.finish(quiet=True)
print(time.perf_counter() - t0)
"""

_PROBE = """
import sys, threading
before = set(sys.modules)
import arty
print(len(set(sys.modules) - before), threading.active_count())
"""


def _art() -> list[str]:
    """The ``art`` console script next to this interpreter, else ``python -m arty``."""
    script = os.path.join(os.path.dirname(sys.executable), "art")
    return [script] if os.path.isfile(script) else [sys.executable, "-m", "arty"]


def timed(cmd: list[str], repeat: int, env: dict[str, str], cwd: str) -> list[float]:
    """Wall seconds of ``cmd`` run ``repeat`` times (after one unmeasured run to warm the caches)."""
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - t)
    return out


def show(label: str, times: list[float], bare: float | None = None) -> None:
    best, median = min(times), statistics.median(times)
    line = f"{label:<34} best {best * 1000:7.1f} ms  median {median * 1000:7.1f} ms"
    if bare is not None:
        line += f"   less bare start: best {(best - bare) * 1000:6.1f} ms  median {(median - bare) * 1000:6.1f} ms"
    print(line)


def log_rate(store: str, steps: int, repeat: int, env: dict[str, str], cwd: str, kwargs: str) -> tuple[float, float]:
    """(best, median) seconds from before ``import arty`` to after ``finish()``, each in a fresh process."""
    code = _LOG_SCRIPT.format(store=store, steps=steps, kwargs=kwargs)
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, check=True, capture_output=True,
                             text=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times), statistics.median(times)


def main() -> None:
    from precompile import compile_arty  # time Arty as installed: from bytecode

    compile_arty()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=15, help="runs per start-up figure (default 15)")
    ap.add_argument("--steps", type=int, default=100_000, help="run.log steps (default 100000)")
    ap.add_argument("--log-repeat", type=int, default=3, help="runs per run.log figure (default 3)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="arty-bench-startup-")
    try:
        store = os.path.join(work, "store")
        env = dict(os.environ, ARTY_STORE=store)
        env.pop("ARTY_PROJECT", None)
        env.pop("PYTHONPROFILEIMPORTTIME", None)
        # Every process runs in the scratch folder: ``python -c`` puts the current folder first on
        # sys.path, and the arty measured is the one PYTHONPATH (or the installation) names.
        subprocess.run(_art() + ["init", store], env=env, cwd=work, check=True, capture_output=True)
        where = subprocess.run([sys.executable, "-c", "import arty; print(arty.__file__)"], env=env, cwd=work,
                               check=True, capture_output=True, text=True).stdout.strip()
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, art = {' '.join(_art())}, arty = {where}")
        n = args.repeat
        bare_times = timed([sys.executable, "-c", "pass"], n, env, work)
        bare = min(bare_times)
        show("python -c pass", bare_times)
        show("import arty", timed([sys.executable, "-c", "import arty"], n, env, work), bare)
        show("art --version", timed(_art() + ["--version"], n, env, work), bare)
        show("art --help", timed(_art() + ["--help"], n, env, work), bare)
        show("python -m arty ls (empty store)", timed([sys.executable, "-m", "arty", "ls"], n, env, work), bare)
        probe = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=work, check=True, capture_output=True,
                           text=True)
        modules, threads = probe.stdout.split()
        print(f"import arty loads {modules} modules; threads after it: {threads} (1 = main only)")
        for label, kwargs in (("capture off", ", system_metrics=False, console=False, code=False"),
                              ("defaults", "")):
            best, median = log_rate(store, args.steps, args.log_repeat, env, work, kwargs)
            print(f"run.log 5 scalars x {args.steps}, import..finish, {label:<11}: "
                  f"best {args.steps / best:8.0f} calls/s ({best:.3f} s)  median {args.steps / median:8.0f} calls/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
