"""A new version of a large artifact with a few files changed, made from a process that
has none of its files: the store work it costs, and how many objects it reads and writes.

    python benchmarks/bench_incremental.py [--files N] [--s3-files M] [--workdir DIR]

The artifact (default 200,000 files, ``shard<k>/part<j>/f<i>.csv``: 200 folders of 10
folders of 100 files) is built straight through the library: its blobs are written in
batches and its tree logged from entries, with no local files. Then a child process that
knows only the store URL logs a new version from ``data:latest`` with 10 changes (4 files
added, 3 replaced, 3 removed, in different folders) through ``version.new_draft()``, and
prints the seconds it spent in the store calls (resolving the base and logging) and the
backend calls it made. The same runs against the S3 test server (moto, tests/servers.py)
with M files (default 20,000; 0 skips it).
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
from collections import Counter
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def path_of(i: int) -> str:
    return f"shard{i // 1000:03d}/part{(i // 100) % 10}/f{i:06d}.csv"


def build(url: str, n: int) -> float:
    """Log an n-file artifact ``data`` in the store at ``url``; returns the seconds it took."""
    from arty.artifacts import Artifact, Registry
    from arty.artifacts.manifest import Entry
    from arty.hashing import StatCache
    from arty.store import open_store

    t0 = time.perf_counter()
    store = open_store(url, create=True)
    entries = []
    batch: dict[Any, bytes] = {}
    for i in range(n):
        data = f"{i},{i * 7 % 1000},row {i}\n".encode()
        d = store.digest_of(data)
        batch[d] = data
        entries.append(Entry(path_of(i), len(data), d))
        if len(batch) == 5000:
            store.put_many_bytes(batch)
            batch = {}
    store.put_many_bytes(batch)
    store.flush()
    draft = Artifact("data", type="dataset").add_entries(entries, store.url)
    Registry(store, "bench", StatCache(":memory:")).log(draft)
    return time.perf_counter() - t0


class Counting:
    """A backend wrapper that counts each call (``read:objects`` and so on) and its time."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self.times: Counter[str] = Counter()
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            where = ""
            if args and isinstance(args[0], str):
                where = ":" + args[0].split("/")[0]
            elif args and isinstance(args[0], dict):  # write_many: count the objects
                self.calls[f"{name}:objects(items)"] += len(args[0]) - 1
            self.calls[name + where] += 1
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                spent = time.perf_counter() - t0
                self.seconds += spent
                self.times[name + where] += spent
        return call


def child(url: str, changes_dir: str) -> None:
    """Make the new version; print JSON figures."""
    from arty.artifacts import Registry
    from arty.hashing import StatCache
    from arty.store import open_store

    t_open = time.perf_counter()
    store = open_store(url)
    counting = Counting(store.backend)
    store.backend = counting
    t0 = time.perf_counter()
    reg = Registry(store, "bench", StatCache(":memory:"))
    base = reg.resolve("data:latest")
    n = base.file_count
    draft = base.new_draft()
    picks = [n // 10 * k + 5 for k in range(10)]
    for k, i in enumerate(picks[:4]):  # added: new names beside existing files
        draft.add_file(os.path.join(changes_dir, f"new{k}.csv"), path_of(i).replace(".csv", ".new.csv"))
    for k, i in enumerate(picks[4:7]):  # replaced
        draft.add_file(os.path.join(changes_dir, f"rep{k}.csv"), path_of(i))
    for i in picks[7:]:  # removed
        draft.remove(path_of(i))
    result = reg.log(draft)
    total = time.perf_counter() - t0
    v = result.version
    assert result.created and v.file_count == n + 4 - 3, (v.file_count, n)
    assert result.diff is not None and result.diff.summary() == "4 added, 3 removed, 3 changed", result.diff.summary()
    print(json.dumps({"files": n, "seconds": round(total, 4), "store_seconds": round(counting.seconds, 4),
                      "open_seconds": round(t0 - t_open, 4), "version": v.name,
                      "calls": dict(sorted(counting.calls.items())),
                      "ms": {k: round(v * 1000, 1) for k, v in counting.times.most_common(5)}}))


def run_child(url: str, env: dict[str, str], work: str) -> dict[str, Any]:
    changes = os.path.join(work, "changes")
    os.makedirs(changes, exist_ok=True)
    for k in range(4):
        with open(os.path.join(changes, f"new{k}.csv"), "w") as f:
            f.write(f"new,{k}\n")
    for k in range(3):
        with open(os.path.join(changes, f"rep{k}.csv"), "w") as f:
            f.write(f"replaced,{k}\n")
    cwd = os.path.join(work, "elsewhere")  # a folder with none of the artifact's files
    os.makedirs(cwd, exist_ok=True)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", url, changes], cwd=cwd,
                          env=os.environ | env | {"ARTY_CACHE_DIR": os.path.join(work, "child-cache")},
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(label: str, built: float, fig: dict[str, Any]) -> None:
    calls = fig["calls"]
    reads = calls.get("read:objects", 0)
    writes = calls.get("write_many:objects(items)", 0) + calls.get("write_many", 0) + calls.get("write:objects", 0)
    total = sum(v for k, v in calls.items() if not k.endswith("(items)"))
    print(f"{label}: {fig['files']:,} files (built in {built:.1f} s); new version {fig['version']} with 10 changes:")
    print(f"  {fig['seconds'] * 1000:.0f} ms in all, {fig['store_seconds'] * 1000:.0f} ms in backend calls; "
          f"{total} backend calls; {reads} blob reads (tree nodes), {writes} blobs in write_many (new nodes)")
    print("  calls: " + ", ".join(f"{k} {v}" for k, v in calls.items()))
    print("  slowest (ms): " + ", ".join(f"{k} {v}" for k, v in fig["ms"].items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=200_000)
    ap.add_argument("--s3-files", type=int, default=20_000)
    ap.add_argument("--workdir")
    ap.add_argument("--child", nargs=2, metavar=("URL", "CHANGES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    work = tempfile.mkdtemp(prefix="bench-incremental-", dir=args.workdir)
    os.environ["ARTY_CACHE_DIR"] = os.path.join(work, "cache")
    try:
        url = os.path.join(work, "store")
        built = build(url, args.files)
        report("local store", built, run_child(url, {}, work))
        if args.s3_files:
            import servers

            server = servers.S3Server().start()
            try:
                os.environ.update(server.env())
                s3_url = f"s3://{server.make_bucket()}/store"
                built = build(s3_url, args.s3_files)
                report("S3 store (moto)", built, run_child(s3_url, server.env(), work))
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
