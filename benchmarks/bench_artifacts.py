"""Artifact add / re-add / download speed, printed beside the raw disk speeds
measured in the same run.

    python benchmarks/bench_artifacts.py [--workdir DIR] [--small N] [--big-mib M] [--repeat R]

Datasets: N files of 4 KiB (default 20,000) and 4 files of M MiB (default 256).
Each figure is the best of R runs (default 3). Files are in the page cache
(they were just written and read), as in the targets of docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import xxhash

import arty
from arty.artifacts import Artifact, Registry
from arty.hashing import RACY_WINDOW_NS
from arty.store import init_store


def make_small(root: str, n: int) -> None:
    rnd = os.urandom(4096 * 64)
    for i in range(n):
        d = os.path.join(root, f"d{i // 1000:03d}")
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        off = (i * 4099) % (len(rnd) - 4096)
        with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
            f.write(i.to_bytes(8, "little") + rnd[off:off + 4088])


def make_big(root: str, n: int, mib: int) -> None:
    os.makedirs(root, exist_ok=True)
    block = os.urandom(1024 * 1024)
    for i in range(n):
        with open(os.path.join(root, f"part{i}.bin"), "wb") as f:
            for j in range(mib):
                f.write(block[:8] + (i * mib + j).to_bytes(8, "little") + block[16:])


def files_of(root: str) -> list[str]:
    out = []
    for dirpath, _, names in os.walk(root):
        out.extend(os.path.join(dirpath, n) for n in names)
    return sorted(out)


def read_all(paths: list[str]) -> int:
    total = 0
    buf = bytearray(4 * 1024 * 1024)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                total += n
    return total


def best(fn, repeat: int) -> float:
    """Best wall time of ``repeat`` calls, each started with no dirty pages pending
    (a sync, not timed), so that one step's writeback does not slow the next."""
    times = []
    for _ in range(repeat):
        os.sync()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def best_fresh(fn, target: str, repeat: int) -> float:
    """Like :func:`best`, removing ``target`` (untimed) before each call."""
    times = []
    for _ in range(repeat):
        shutil.rmtree(target, ignore_errors=True)
        os.sync()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def hash_rates(size: int = 256 * 1024 * 1024) -> tuple[float, float]:
    data = os.urandom(size)
    t = time.perf_counter()
    xxhash.xxh3_128_hexdigest(data)
    xx = size / (time.perf_counter() - t)
    t = time.perf_counter()
    hashlib.md5(data).hexdigest()
    md5 = size / (time.perf_counter() - t)
    return xx, md5


def wait_past_racy_window(root: str) -> None:
    """Stat-cache entries of files changed within the racy window are not trusted:
    wait until the fresh data is older than it, as data usually is."""
    newest = max(os.stat(p).st_mtime_ns for p in files_of(root))
    delay = (newest + RACY_WINDOW_NS - time.time_ns()) / 1e9 + 0.05
    if delay > 0:
        time.sleep(delay)


def bench_dataset(label: str, data: str, work: str, repeat: int) -> dict[str, float]:
    paths = files_of(data)
    size = read_all(paths)  # warm the page cache
    raw_read = best(lambda: read_all(paths), repeat)

    def cp() -> None:
        subprocess.run(["cp", "-r", data, os.path.join(work, "cp-target")], check=True)

    raw_cp = best_fresh(cp, os.path.join(work, "cp-target"), repeat)
    wait_past_racy_window(data)

    colds = []
    reg = None
    store_dir = os.path.join(work, "store")
    for r in range(repeat):
        shutil.rmtree(store_dir, ignore_errors=True)
        store, _ = init_store(store_dir)
        reg = Registry(store, "bench")
        art = Artifact("data", type="dataset")
        art.add_dir(data)
        os.sync()
        t = time.perf_counter()
        res = reg.log(art)
        colds.append(time.perf_counter() - t)
        assert res.created and res.version.file_count == len(paths)
    cold = min(colds)

    def warm() -> None:
        art = Artifact("data", type="dataset")
        art.add_dir(data)
        res = reg.log(art)
        assert not res.created and res.hashed == 0, (res.created, res.hashed)

    warm_t = best(warm, repeat)
    store_url = reg.store.url

    def cli_warm() -> None:
        subprocess.run([sys.executable, "-m", "arty", "--store", store_url, "--project", "bench", "add", data, "--type", "dataset",
                        "--name", "data"], check=True, stdout=subprocess.DEVNULL)

    cli_warm_t = best(cli_warm, repeat)
    version = reg.resolve("data:v0")

    def download() -> None:
        version.download(os.path.join(work, "dl-target"))

    dl = best_fresh(download, os.path.join(work, "dl-target"), repeat)
    shutil.rmtree(os.path.join(work, "dl-target"), ignore_errors=True)
    shutil.rmtree(os.path.join(work, "cp-target"), ignore_errors=True)
    n = len(paths)
    print(f"\n== {label}: {n} files, {size / 2**20:.0f} MiB")
    print(f"raw read (page cache)   {raw_read:8.3f} s  {size / raw_read / 1e9:6.2f} GB/s")
    print(f"cp -r                   {raw_cp:8.3f} s  {size / raw_cp / 1e9:6.2f} GB/s")
    print(f"cold add (API)          {cold:8.3f} s  {size / cold / 1e9:6.2f} GB/s  {n / cold:9.0f} files/s"
          f"  = {cold / raw_read:5.1f}x raw read, {cold / raw_cp:4.2f}x cp -r")
    print(f"warm re-add (API)       {warm_t:8.3f} s  {n / warm_t:9.0f} files/s")
    print(f"warm re-add (CLI, incl. start-up) {cli_warm_t:8.3f} s")
    print(f"download, empty folder  {dl:8.3f} s  {size / dl / 1e9:6.2f} GB/s  = {dl / raw_cp:4.2f}x cp -r")
    return {"cold": cold, "warm": warm_t, "cli_warm": cli_warm_t, "download": dl, "cp": raw_cp, "read": raw_read}


def main() -> None:
    from precompile import compile_arty  # time Arty as installed: from bytecode

    compile_arty()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--small", type=int, default=20_000)
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="arty-bench-")
    os.makedirs(work, exist_ok=True)
    print(f"arty {arty.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} cpus, workdir {work}")
    xx, md5 = hash_rates()
    print(f"hash speed in memory: xxh128 {xx / 1e9:.2f} GB/s, md5 {md5 / 1e9:.2f} GB/s")
    try:
        small = os.path.join(work, "small")
        make_small(small, args.small)
        bench_dataset(f"{args.small} x 4 KiB", small, work, args.repeat)
        shutil.rmtree(small)
        big = os.path.join(work, "big")
        make_big(big, 4, args.big_mib)
        bench_dataset(f"4 x {args.big_mib} MiB", big, work, args.repeat)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
