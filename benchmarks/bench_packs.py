"""Pack files: many small files as fast as a few big ones (docs/performance.md, "Packs").

One run measures, side by side:

* cold ``art add`` of N x 4 KiB into a local store, and ``dvc add`` of the same folder (when
  ``dvc`` is installed); 4 x 256 MiB (``--big-mib``); a warm re-add through the API;
* ``art add`` straight into an S3 store (the S3 test server, tests/servers.py) and ``art push``
  of the version to it, packed and with ``ARTY_PACKS=0`` (one request per blob, the old path);
* ``art get`` of the version into an empty folder (local store and S3), against ``cp -r``.

    python benchmarks/bench_packs.py --files 20000 --big-mib 256
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


def art(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "arty", *args], check=True, env={**os.environ, **(env or {})},
                   cwd=cwd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def timed(cmd: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> float | None:
    t = time.perf_counter()
    try:
        subprocess.run(cmd, check=True, cwd=cwd, env={**os.environ, **(env or {})},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        return None
    return time.perf_counter() - t


def make_small(root: str, n: int) -> None:
    for i in range(n):
        d = os.path.join(root, f"d{i % 100:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.bin"), "wb") as f:
            f.write(os.urandom(4096))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--no-s3", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-packs-")
    out: list[tuple[str, str]] = []

    def report(what: str, value: str) -> None:
        out.append((what, value))
        print(f"{what:60s} {value}", flush=True)

    try:
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
        if os.path.exists(dvc) and timed([dvc, "init", "--no-scm", "-q"], cwd=dvc_dir) is not None:
            t = timed([dvc, "add", "small"], cwd=dvc_dir)
            report(f"dvc add {n} x 4 KiB", f"{t:.2f} s" if t else "failed")
        else:
            report(f"dvc add {n} x 4 KiB", "dvc not installed")

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
                for mode in ("1", "0"):
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
            finally:
                s3.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
