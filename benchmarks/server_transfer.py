"""``art add`` through an ``art server`` (the store protocol) beside the same add straight into
the server's backing store, and the server's memory while it receives one large blob.

    python benchmarks/server_transfer.py [--big-count 4] [--big-mib 256] [--small-count 2000]
                                         [--small-kib 4] [--blob-mib 1024] [--workdir DIR]

Each add is the real ``art add`` command in a fresh process, into a fresh local store (direct)
or through a fresh ``art server`` on 127.0.0.1 over a fresh local store (tests/art_servers.py
starts it); the ratio is through / direct. The memory figure is the server process's peak
resident set size (psutil, sampled every 20 ms) while one blob of ``--blob-mib`` MiB is
uploaded with ``PUT /api/store/v1/blob``, beside its size before the upload.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

MiB = 1024 * 1024


def write_random(path: str, size: int) -> None:
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        left = size
        n = 0
        while left > 0:
            chunk = n.to_bytes(8, "little") + block[8:min(MiB, left)]
            f.write(chunk[:min(MiB, left)])
            left -= min(MiB, left)
            n += 1


def make_big(root: str, count: int, mib: int) -> None:
    os.makedirs(root, exist_ok=True)
    for i in range(count):
        write_random(os.path.join(root, f"big{i}.bin"), mib * MiB)
        with open(os.path.join(root, f"big{i}.bin"), "r+b") as f:
            f.write(i.to_bytes(8, "little") * 2)


def make_small(root: str, count: int, kib: int) -> None:
    rnd = os.urandom(kib * 1024 * 64)
    for i in range(count):
        d = os.path.join(root, f"d{i // 500:03d}")
        if i % 500 == 0:
            os.makedirs(d, exist_ok=True)
        off = (i * 4099) % (len(rnd) - kib * 1024)
        with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
            f.write(i.to_bytes(8, "little") + rnd[off:off + kib * 1024 - 8])


def art_add(store: str, folder: str, name: str, env: dict[str, str] | None = None) -> float:
    """Seconds one ``art add`` takes (a fresh process, its own stat cache)."""
    full = {**os.environ, **(env or {}), "ARTY_CACHE_DIR": tempfile.mkdtemp(prefix="arty-cache-")}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "arty", "--store", store, "add", folder, "--type", "dataset",
                           "--name", name], env=full, capture_output=True, text=True)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"art add failed: {proc.stderr}")
    shutil.rmtree(full["ARTY_CACHE_DIR"], ignore_errors=True)
    return took


def compare(work: str, folder: str, name: str) -> tuple[float, float]:
    from art_servers import ArtServer

    from arty.store import init_store

    direct_store = os.path.join(work, f"direct-{name}")
    init_store(direct_store)
    direct = art_add(direct_store, folder, name)
    backing = os.path.join(work, f"backing-{name}")
    init_store(backing)
    with ArtServer(backing) as server:
        through = art_add(server.url, folder, name)
    return direct, through


def server_memory(work: str, mib: int) -> tuple[float, float, float]:
    """(RSS before, peak RSS during, seconds) of a server receiving one blob of ``mib`` MiB."""
    import psutil
    import requests
    from art_servers import ArtServer

    from arty.hashing import hash_file
    from arty.store import init_store, layout

    blob = os.path.join(work, "blob.bin")
    write_random(blob, mib * MiB)
    digest = hash_file(blob, "xxh128")
    backing = os.path.join(work, "backing-blob")
    init_store(backing)
    with ArtServer(backing) as server:
        assert server.proc is not None
        proc = psutil.Process(server.proc.pid)
        before = proc.memory_info().rss
        peak = before
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, proc.memory_info().rss)
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        with open(blob, "rb") as f:
            resp = requests.put(f"{server.url}/api/store/v1/blob", params={"path": layout.blob(digest)}, data=f,
                                timeout=600)
        took = time.perf_counter() - started
        done.set()
        sampler.join()
        resp.raise_for_status()
    os.unlink(blob)
    return before / MiB, peak / MiB, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-count", type=int, default=4)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--small-count", type=int, default=2000)
    parser.add_argument("--small-kib", type=int, default=4)
    parser.add_argument("--blob-mib", type=int, default=1024)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="arty-server-bench-", dir=args.workdir)
    try:
        big = os.path.join(work, "big")
        make_big(big, args.big_count, args.big_mib)
        d, t = compare(work, big, "big")
        print(f"art add {args.big_count} x {args.big_mib} MiB: direct {d:.2f} s, through the server {t:.2f} s, "
              f"ratio {t / d:.2f}")
        shutil.rmtree(big)
        small = os.path.join(work, "small")
        make_small(small, args.small_count, args.small_kib)
        d, t = compare(work, small, "small")
        print(f"art add {args.small_count} x {args.small_kib} KiB: direct {d:.2f} s, through the server {t:.2f} s, "
              f"ratio {t / d:.2f}")
        before, peak, took = server_memory(work, args.blob_mib)
        print(f"server receiving one {args.blob_mib} MiB blob: RSS {before:.0f} MiB before, peak {peak:.0f} MiB "
              f"(+{peak - before:.0f} MiB), {took:.2f} s ({args.blob_mib / took:.0f} MiB/s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
