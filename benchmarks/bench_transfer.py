"""``art push`` of many small files to the S3 test server, beside a plain batched
s3fs upload of the same files.

    python benchmarks/bench_transfer.py [--files N] [--workdir DIR]

N files of 4 KiB (default 20,000) are logged as one artifact in a local store,
then pushed to an empty S3 store (tests/servers.py starts the server, moto on
127.0.0.1). The baseline is ``fs.put(list of files, list of keys)`` with one
s3fs client into another bucket: the same bytes, one batched call, no hashing,
no records. Prints both times and the ratio (target: push within 1.5x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def make_small(root: str, n: int) -> list[str]:
    rnd = os.urandom(4096 * 64)
    paths = []
    for i in range(n):
        d = os.path.join(root, f"d{i // 1000:03d}")
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        off = (i * 4099) % (len(rnd) - 4096)
        p = os.path.join(d, f"f{i:06d}.bin")
        with open(p, "wb") as f:
            f.write(i.to_bytes(8, "little") + rnd[off:off + 4088])
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--workdir")
    args = ap.parse_args()

    import servers

    server = servers.S3Server().start()
    for k, v in server.env().items():
        os.environ[k] = v
    work = tempfile.mkdtemp(prefix="bench-transfer-", dir=args.workdir)
    try:
        from arty.artifacts import Artifact, Registry
        from arty.artifacts.transfer import open_target, transfer
        from arty.hashing import StatCache
        from arty.store import init_store

        data = os.path.join(work, "data")
        paths = make_small(data, args.files)
        src, _ = init_store(os.path.join(work, "store"))
        reg = Registry(src, "default", StatCache(":memory:"))
        draft = Artifact("small", type="dataset")
        draft.add_dir(data)
        reg.log(draft)

        fs = server.fs()
        base_bucket = server.make_bucket()
        keys = [f"{base_bucket}/objects/{os.path.relpath(p, data)}" for p in paths]
        t0 = time.perf_counter()
        fs.put(paths, keys)
        baseline = time.perf_counter() - t0

        bucket = server.make_bucket()
        t0 = time.perf_counter()
        dst = open_target(f"s3://{bucket}/arty", src)
        result = transfer(src, dst, "default", "small")
        push = time.perf_counter() - t0
        assert result.blobs_sent == args.files + len(set(os.path.dirname(p) for p in paths)) + 1, result

        t0 = time.perf_counter()
        again = transfer(src, dst, "default", "small")
        rerun = time.perf_counter() - t0
        assert again.blobs_sent == 0

        print(f"files: {args.files} x 4 KiB to the S3 test server (moto, 127.0.0.1)")
        print(f"plain s3fs fs.put of the files:   {baseline:7.2f} s")
        print(f"push (new store, {result.blobs_sent} blobs):  {push:7.2f} s   ratio {push / baseline:.2f}x")
        print(f"push again (nothing to send):     {rerun:7.2f} s")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
