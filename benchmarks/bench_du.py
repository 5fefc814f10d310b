"""``art du`` on a store with many incremental versions of a large artifact: cold (no local
cache) and warm (the node cache filled by the first pass).

    python benchmarks/bench_du.py [--files 20000] [--versions 1000] [--workdir DIR]

The artifact (``shard<k>/part<j>/f<i>.csv``, 100 files per folder, as in bench_incremental.py) is
built straight through the library; then each further version replaces one file of the latest
with ``version.new_draft()`` (the incremental path: only the nodes on the changed path are new).
``art du --json`` then runs as a real CLI process, twice: first with the cache removed, then warm.
The figures printed are the wall seconds of each process (start-up included) and what the pass
reports: distinct tree nodes looked at and how many were read from the store.
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
sys.path.insert(0, HERE)

from bench_incremental import build, path_of  # noqa: E402


def add_versions(url: str, files: int, versions: int, work: str) -> float:
    """Log ``versions - 1`` versions after the first, each replacing one file; returns seconds."""
    from arty.artifacts import Registry
    from arty.hashing import StatCache
    from arty.store import open_store

    store = open_store(url)
    reg = Registry(store, "bench", StatCache(":memory:"))
    t0 = time.perf_counter()
    src = os.path.join(work, "changed.csv")
    for k in range(1, versions):
        with open(src, "w") as f:
            f.write(f"changed in version {k}\n")
        draft = reg.latest("data").new_draft()
        draft.add_file(src, path_of((k * 7919) % files))
        reg.log(draft)
        if k % 100 == 0:
            print(f"  {k} versions logged, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return time.perf_counter() - t0


def du(url: str, cache_dir: str) -> tuple[float, dict]:
    env = dict(os.environ, ARTY_STORE=url, ARTY_CACHE_DIR=cache_dir)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "arty", "du", "data", "--project", "bench", "--json"],
                         env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, json.loads(out.stdout)


def main() -> None:
    from precompile import compile_arty  # time Arty as installed: from bytecode

    compile_arty()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--workdir")
    ap.add_argument("--reuse", action="store_true", help="measure the store already in --workdir (built before)")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="arty-bench-du-")
    url = os.path.join(work, "store")
    try:
        if not (args.reuse and os.path.exists(url)):
            shutil.rmtree(url, ignore_errors=True)
            built = build(url, args.files)
            print(f"first version: {args.files} files in {built:.1f} s")
            secs = add_versions(url, args.files, args.versions, work)
            print(f"{args.versions - 1} incremental versions in {secs:.1f} s")
        # a local store keeps its cache under <store>/cache: remove the usage cache for a cold pass
        from arty.artifacts.usage import CACHE_NAME
        from arty.store import open_store

        cache = os.path.join(open_store(url).cache_dir(), CACHE_NAME)
        if os.path.exists(cache):
            os.unlink(cache)
        cold, out = du(url, os.path.join(work, "user-cache"))
        warm, again = du(url, os.path.join(work, "user-cache"))
        # warm nodes, but the store changed since (one version deleted): the per-node cache serves,
        # the result of the last pass does not
        from arty.artifacts import Registry

        reg = Registry(open_store(url), "bench")
        reg.delete("data", reg.versions("data")[0])
        changed, after = du(url, os.path.join(work, "user-cache"))
        assert again["unique"] == out["unique"]
        assert len(after["versions"]) == len(out["versions"]) - 1 and after["nodes_read"] == 0
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "arty", "--version"], check=True, capture_output=True)
        start = time.perf_counter() - t0
        print(json.dumps({"files": args.files, "versions": len(out["versions"]), "cold_s": round(cold, 2),
                          "nodes": out["nodes"], "nodes_read_cold": out["nodes_read"],
                          "nodes_read_warm": again["nodes_read"],
                          "warm_s": round(warm, 2), "after_a_delete_s": round(changed, 2),
                          "cli_start_s": round(start, 2),
                          "artifact": {k: out[k] for k in ("logical", "unique", "shared")},
                          "v0": {k: out["versions"][0][k] for k in ("logical", "unique", "shared")},
                          "v500": {k: out["versions"][len(out["versions"]) // 2][k]
                                   for k in ("logical", "unique", "shared")}}, indent=1))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
