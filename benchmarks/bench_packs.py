"""Pack files: many small files as fast as a few big ones (docs/performance.md, "Packs").

One run measures, side by side:

* cold ``art add`` of N x 4 KiB into a local store, and ``dvc add`` of the same folder (when
  ``dvc`` is installed); 4 x 256 MiB (``--big-mib``); a warm re-add through the API;
* ``art add`` straight into an S3 store (the S3 test server, tests/servers.py) and ``art push``
  of the version to it, packed and with ``ARTY_PACKS=0`` (one request per blob, the old path);
* ``art get`` of the version into an empty folder (local store and S3), against ``cp -r``;
* ``dvc push`` of the same folder to the same S3 server (when ``dvc-s3`` is installed).

``--tiny N`` (repeatable) adds a many-files scenario of N x 1 KiB in folders of 1,000 files,
each step a CLI process whose peak memory (RSS, from the kernel's accounting of that child)
is printed with its time: cold ``art add``, warm re-add, a new version with one file changed,
``art get`` into an empty folder against ``cp -r``, ``art push`` to S3 and ``art get`` back
from it with a cold cache.

    python benchmarks/bench_packs.py --files 20000 --big-mib 256
    python benchmarks/bench_packs.py --files 0 --tiny 50000 --tiny 200000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


#: Peak RSS (MiB) of the last process :func:`art` or :func:`timed` ran.
LAST_RSS_MIB = 0.0


def _hwm_kib(pid: int) -> int | None:
    """``VmHWM`` (peak RSS of the program the process runs now) from ``/proc``, in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _run(cmd: list[str], cwd: str | None, env: dict[str, str] | None, check: bool) -> float:
    """Wall seconds of ``cmd``; its peak RSS goes to :data:`LAST_RSS_MIB`: the kernel's
    ``VmHWM`` of the program, sampled every 20 ms while it runs (``wait4``'s ``ru_maxrss``
    would also count the memory of this process, which the child held until its exec)."""
    global LAST_RSS_MIB
    os.sync()  # not timed: the writeback of what the last step (or the data set-up) wrote is not this step's
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=None if check else subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _hwm_kib(proc.pid) or 0)
        time.sleep(0.02)
    elapsed = time.perf_counter() - t
    LAST_RSS_MIB = peak / 1024
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return elapsed


def art(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> float:
    return _run([sys.executable, "-m", "arty", *args], cwd, env, True)


def timed(cmd: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> float | None:
    try:
        return _run(cmd, cwd, env, False)
    except (OSError, subprocess.CalledProcessError):
        return None


def make_small(root: str, n: int, size: int = 4096, per_folder: int | None = None) -> None:
    """``n`` files of ``size`` random bytes: in 100 folders, or in folders of ``per_folder``."""
    for i in range(n):
        d = os.path.join(root, f"d{i % 100:02d}" if per_folder is None else f"d{i // per_folder:04d}")
        if i == 0 or per_folder is None or i % per_folder == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.bin"), "wb") as f:
            f.write(os.urandom(size))


def dvc_push(dvc: str, repo: str, s3: object) -> float | None:
    """``dvc push`` of ``repo`` (after ``dvc add``) to a new bucket of the S3 test server."""
    env = s3.env()  # type: ignore[attr-defined]
    bucket = s3.make_bucket()  # type: ignore[attr-defined]
    for cmd in ([dvc, "remote", "add", "-f", "-d", "bench", f"s3://{bucket}/dvc"],
                [dvc, "remote", "modify", "bench", "endpointurl", env["AWS_ENDPOINT_URL"]]):
        if timed(cmd, cwd=repo, env=env) is None:
            return None
    return timed([dvc, "push", "-q"], cwd=repo, env=env)


def tiny(tmp: str, n: int, report, s3: object | None) -> None:
    """The many-files scenario: ``n`` x 1 KiB, each step's time and peak RSS."""
    root = os.path.join(tmp, f"tiny{n}")
    data = os.path.join(root, "data")
    t = time.perf_counter()
    make_small(data, n, size=1024, per_folder=1000)
    print(f"(made {n} x 1 KiB in {time.perf_counter() - t:.1f} s)", flush=True)
    env = {"ARTY_CACHE_DIR": os.path.join(root, "cache")}
    store = os.path.join(root, "store")
    art("init", store)

    def step(what: str, seconds: float | None, other: str = "") -> None:
        value = "failed" if seconds is None else f"{seconds:.2f} s, peak RSS {LAST_RSS_MIB:.0f} MiB"
        report(f"[{n} x 1 KiB] {what}", value + other)

    step("cold art add", art("--store", store, "add", data, "--type", "dataset", "--name", "tiny",
                             env=env, cwd=root))
    step("warm re-add (CLI, nothing changed)", art("--store", store, "add", data, "--type", "dataset",
                                                   "--name", "tiny", env=env, cwd=root))
    with open(os.path.join(data, "d0000", "f0.bin"), "wb") as f:
        f.write(os.urandom(1024))
    step("new version, one file changed", art("--store", store, "add", data, "--type", "dataset",
                                              "--name", "tiny", env=env, cwd=root))
    t = art("--store", store, "get", "tiny", "-o", os.path.join(root, "got"), env=env)
    rss = LAST_RSS_MIB
    tc = timed(["cp", "-r", data, os.path.join(root, "cp-copy")])
    report(f"[{n} x 1 KiB] art get into an empty folder, local store / cp -r",
           f"{t:.2f} s / {tc:.2f} s ({t / tc:.1f}x), peak RSS {rss:.0f} MiB")
    shutil.rmtree(os.path.join(root, "got"))
    shutil.rmtree(os.path.join(root, "cp-copy"))
    if s3 is not None:
        s3env = {**s3.env(), **env}  # type: ignore[attr-defined]
        dst = f"s3://{s3.make_bucket()}/store"  # type: ignore[attr-defined]
        step("art push to S3 (test server)", art("--store", store, "push", "tiny", "--to", dst, env=s3env))
        shutil.rmtree(env["ARTY_CACHE_DIR"], ignore_errors=True)
        step("art get from S3 into an empty folder (cold cache)",
             art("--store", dst, "get", "tiny", "-o", os.path.join(root, "got-s3"), env=s3env))
    shutil.rmtree(root, ignore_errors=True)


def small_runs(a: argparse.Namespace, tmp: str, report) -> None:
    """The N x 4 KiB runs (local, S3, dvc), side by side."""
    small = os.path.join(tmp, "small")
    make_small(small, a.files)
    n = a.files
    env_cache = {"ARTY_CACHE_DIR": os.path.join(tmp, "cache")}
    # -- local ------------------------------------------------------------------------
    for mode in ("1", "0"):
        store = os.path.join(tmp, f"store{mode}")
        art("init", store)
        os.makedirs(os.path.join(tmp, f"w{mode}"), exist_ok=True)
        t = art("--store", store, "add", small, "--type", "dataset", "--name", "small",
                env={**env_cache, "ARTY_PACKS": mode}, cwd=os.path.join(tmp, f"w{mode}"))
        report(f"cold art add {n} x 4 KiB, local ({'packed' if mode == '1' else 'loose'})", f"{t:.2f} s")
    dvc = shutil.which("dvc") or os.path.join(os.path.dirname(sys.executable), "dvc")
    dvc_dir = os.path.join(tmp, "dvcrepo")
    os.makedirs(dvc_dir)
    shutil.copytree(small, os.path.join(dvc_dir, "small"))
    if a.no_dvc:
        have_dvc = False
    elif os.path.exists(dvc) and timed([dvc, "init", "--no-scm", "-q"], cwd=dvc_dir) is not None:
        t = timed([dvc, "add", "small"], cwd=dvc_dir)
        report(f"dvc add {n} x 4 KiB", f"{t:.2f} s" if t else "failed")
        have_dvc = t is not None
    else:
        report(f"dvc add {n} x 4 KiB", "dvc not installed")
        have_dvc = False

    # warm re-add through the API
    sys.path.insert(0, os.path.join(HERE, ".."))
    from arty.artifacts import Artifact, Registry
    from arty.hashing import StatCache
    from arty.store import open_store

    store = os.path.join(tmp, "store1")
    reg = Registry(open_store(store), "default", StatCache(os.path.join(tmp, "stat.sqlite")))
    reg.log(Artifact("small", type="dataset").add_dir(small))
    t = time.perf_counter()
    reg.log(Artifact("small", type="dataset").add_dir(small))
    report("warm re-add (API, stat cache)", f"{time.perf_counter() - t:.2f} s")
    t = art("--store", store, "add", small, "--type", "dataset", "--name", "small", env=env_cache,
            cwd=os.path.join(tmp, "w1"))
    report("warm re-add (CLI, whole process)", f"{t:.2f} s")

    # download vs cp -r
    t = art("--store", store, "get", "small", "-o", os.path.join(tmp, "got-local"), env=env_cache)
    tc = timed(["cp", "-r", small, os.path.join(tmp, "cp-copy")])
    report("art get into an empty folder, local store / cp -r", f"{t:.2f} s / {tc:.2f} s")

    if a.big_mib:
        big = os.path.join(tmp, "big")
        os.makedirs(big)
        for i in range(4):
            with open(os.path.join(big, f"b{i}.bin"), "wb") as f:
                for _ in range(a.big_mib):
                    f.write(os.urandom(1 << 20))
        t = art("--store", store, "add", big, "--type", "dataset", "--name", "big", env=env_cache)
        report(f"cold art add 4 x {a.big_mib} MiB, local", f"{t:.2f} s")
        shutil.rmtree(big)

    # -- S3 -----------------------------------------------------------------------------
    if not a.no_s3:
        from servers import S3Server

        s3 = S3Server().start()
        try:
            s3env = {**s3.env(), **env_cache}
            for mode in ("1",) if a.no_loose_s3 else ("1", "0"):
                url = f"s3://{s3.make_bucket()}/store"
                art("init", url, env=s3env)
                t = art("--store", url, "add", small, "--type", "dataset", "--name", "small",
                        env={**s3env, "ARTY_PACKS": mode})
                report(f"art add {n} x 4 KiB straight into S3 ({'packed' if mode == '1' else 'loose'})",
                       f"{t:.2f} s")
                dst = f"s3://{s3.make_bucket()}/store"
                t = art("--store", os.path.join(tmp, "store1"), "push", "small", "--to", dst,
                        env={**s3env, "ARTY_PACKS": mode})
                report(f"art push {n} x 4 KiB to S3 ({'packed' if mode == '1' else 'loose'})", f"{t:.2f} s")
                if mode == "1":
                    shutil.rmtree(env_cache["ARTY_CACHE_DIR"], ignore_errors=True)
                    t = art("--store", dst, "get", "small", "-o", os.path.join(tmp, "got-s3"), env=s3env)
                    report("art get from S3 into an empty folder (cold cache)", f"{t:.2f} s")
                    if have_dvc:
                        t = dvc_push(dvc, dvc_dir, s3)
                        report(f"dvc push {n} x 4 KiB to S3 (same server)", f"{t:.2f} s" if t else "failed")
        finally:
            s3.stop()


def main() -> None:
    from precompile import compile_arty  # time Arty as installed: from bytecode

    compile_arty()
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--no-s3", action="store_true")
    ap.add_argument("--no-loose-s3", action="store_true", help="skip the one-request-per-blob S3 runs")
    ap.add_argument("--no-dvc", action="store_true", help="skip dvc add and dvc push")
    ap.add_argument("--tiny", type=int, action="append", default=[], metavar="N",
                    help="also the N x 1 KiB scenario (repeatable)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-packs-")
    out: list[tuple[str, str]] = []

    def report(what: str, value: str) -> None:
        out.append((what, value))
        print(f"{what:60s} {value}", flush=True)

    try:
        if a.files:
            small_runs(a, tmp, report)
        if a.tiny:
            s3 = None
            if not a.no_s3:
                from servers import S3Server

                s3 = S3Server().start()
            try:
                for n in a.tiny:
                    tiny(tmp, n, report, s3)
            finally:
                if s3 is not None:
                    s3.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
