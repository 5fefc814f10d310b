"""Logging images: ``run.log({"img": arty.Image(array)})`` with a 512x512 RGB image every step.

    python benchmarks/bench_media.py [--steps N] [--size 512] [--repeat R]

Each step logs a different uint8 HWC image (so none is deduplicated), of two
kinds: *smooth* (gradients, like a photo or a rendered sample) and *noise*
(uniform random pixels: PNG's worst case). Printed, best of R runs:

* steps/s the training loop sees: the ``arty.Image(...)`` + ``run.log`` calls alone,
  and the CPU time the training thread spends in them (less sensitive to other load
  on the machine than wall-clock figures);
* steps/s end to end, from ``init`` to after ``finish()`` returned, so every PNG
  encode, hash and blob write in the background counts;
* the peak of Python-tracked memory (numpy buffers included) during a run: the
  pixels waiting for the encoder are bounded by ``media.MAX_PENDING_BYTES``;
* one PNG encode of each kind, at the level Arty uses and at zlib's default.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time
import tracemalloc

import numpy as np
from PIL import Image as PILImage

import arty
from arty.store import init_store
from arty.tracking import media


def make_images(kind: str, size: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    if kind == "noise":
        return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]
    y, x = np.mgrid[0:size, 0:size]
    out = []
    for i in range(count):
        r = (x + i) % 256
        g = (y * 2 + i) % 256
        b = ((x + y) // 2 + 3 * i) % 256
        out.append(np.stack([r, g, b], axis=-1).astype(np.uint8))
    return out


def log_run(store: str, images: list[np.ndarray], steps: int) -> tuple[float, float, float]:
    """(seconds init..finish, seconds in Image() + run.log calls, CPU seconds of this thread in them)."""
    t0 = time.perf_counter()
    run = arty.init(project="bench", store=store, system_metrics=False, console=False, code=False)
    in_calls = cpu = 0.0
    for i in range(steps):
        arr = images[i % len(images)]
        arr[0, 0, 0] = i % 256  # a different image every step (no deduplication)
        arr[0, 0, 1] = (i // 256) % 256
        t, c = time.perf_counter(), time.thread_time()
        run.log({"img": arty.Image(arr), "loss": 1.0 / (i + 1)})
        cpu += time.thread_time() - c
        in_calls += time.perf_counter() - t
    run.finish()
    return time.perf_counter() - t0, in_calls, cpu


def png_time(arr: np.ndarray, level: int, repeat: int = 5) -> float:
    img = PILImage.fromarray(arr)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        img.save(io.BytesIO(), format="PNG", compress_level=level)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"arty {arty.__version__}, {os.cpu_count()} cpus, {args.steps} steps, one {args.size}x{args.size} "
          f"RGB uint8 image per step, PNG level {media.PNG_COMPRESS_LEVEL}")
    for kind in ("smooth", "noise"):
        images = make_images(kind, args.size, 8)
        best_total = best_calls = best_cpu = float("inf")
        for _ in range(args.repeat):
            work = tempfile.mkdtemp(prefix="arty-bench-media-")
            try:
                store = os.path.join(work, "store")
                init_store(store)
                total, calls, cpu = log_run(store, images, args.steps)
                best_total, best_calls, best_cpu = min(best_total, total), min(best_calls, calls), min(best_cpu, cpu)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        work = tempfile.mkdtemp(prefix="arty-bench-media-")
        try:
            store = os.path.join(work, "store")
            init_store(store)
            tracemalloc.start()
            log_run(store, images, min(args.steps, 300))
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"{kind:6}  loop (Image + log)  {args.steps / best_calls:8.0f} steps/s   "
              f"end to end (init..finish)  {args.steps / best_total:6.0f} steps/s   "
              f"peak memory {peak:5.0f} MiB (300 steps)")
        print(f"{kind:6}  CPU time of the training thread in Image + log: {best_cpu / args.steps * 1000:.3f} ms/step")
        print(f"{kind:6}  one PNG encode: {png_time(images[0], media.PNG_COMPRESS_LEVEL) * 1000:5.1f} ms at level "
              f"{media.PNG_COMPRESS_LEVEL}, {png_time(images[0], 6) * 1000:5.1f} ms at level 6 (zlib default)")


if __name__ == "__main__":
    main()
