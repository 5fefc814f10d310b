"""What the browser tests, the UI benchmark and the screenshot script share: a store filled
with realistic runs and artifacts, the server on a free port in a thread, and headless Chromium.

Everything is real: runs are written by ``arty.init``/``run.log``, artifacts by
``log_artifact``, the server is uvicorn serving :func:`arty.server.create_app`, and the
browser is Debian's Chromium driven by Playwright (never a downloaded browser build).
"""

from __future__ import annotations

import math
import os
import random
import socket
import threading
from typing import Any, Iterator

import arty
from arty.store import Store

#: Debian's Chromium; CI installs it with apt (see .ci/run).
CHROMIUM = os.environ.get("ARTY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Capture off for runs written by tests: the pages read what the script logged.
QUIET = dict(console=False, system_metrics=False, code=False)


def have_chromium() -> bool:
    return os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


def launch_chromium(playwright: Any) -> Any:
    """A headless Chromium browser from ``sync_playwright()``."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


class ServerThread:
    """``create_app(store, **options)`` served by uvicorn in a daemon thread on a free 127.0.0.1 port."""

    def __init__(self, store: Store | str, token: str | None = None, **options: Any) -> None:
        import uvicorn

        from arty.server import create_app

        self.app = create_app(store, token=token, **options)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, timeout: float = 30.0) -> "ServerThread":
        self.thread.start()
        started = threading.Event()

        def watch() -> None:
            while not self.server.started and self.thread.is_alive():
                started.wait(0.02)
            started.set()

        threading.Thread(target=watch, daemon=True).start()
        if not started.wait(timeout) or not self.server.started:
            raise RuntimeError("the server did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def say(line: str, fd: int = 1) -> None:
    """Write a line to file descriptor 1 or 2, where console capture reads it (pytest swaps
    ``sys.stdout`` for its own object, so ``print`` would not reach the descriptor)."""
    os.write(fd, (line + "\n").encode())


def curve(step: int, steps: int, lr: float, seed: int) -> dict[str, float]:
    """Loss and accuracy that look like training: faster with a higher lr, with noise."""
    rnd = random.Random(seed * 100_003 + step)
    t = (step + 1) / steps
    speed = 1.0 + 40 * lr
    loss = 2.3 * math.exp(-3.0 * speed * t) + 0.05 + rnd.gauss(0, 0.03)
    acc = 1.0 - 0.9 * math.exp(-2.5 * speed * t) - rnd.uniform(0, 0.03)
    return {"train/loss": max(loss, 1e-3), "train/acc": min(max(acc, 0.0), 1.0)}


def fill_store(store: str, project: str = "vision", *, steps: int = 60, seeds: int = 2,
               media: bool = True, folder: str | None = None) -> dict[str, Any]:
    """Make a realistic project: a dataset (two versions), training runs over a small sweep
    (lr x optimizer x seeds) that use it and log models, and one evaluation run with media.

    Returns ``{"runs": {name: id}, "project": project}``. ``folder`` is where the dataset's
    files are written (default: ``./dataset-src``).
    """
    folder = folder or os.path.join(os.getcwd(), "dataset-src")
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    for i in range(12):
        with open(os.path.join(folder, "images", f"{i:03d}.txt"), "w") as f:
            f.write(f"sample {i}\n")
    with open(os.path.join(folder, "labels.csv"), "w") as f:
        f.write("id,label\n" + "".join(f"{i},{i % 3}\n" for i in range(12)))
    data = arty.Artifact("digits", type="dataset", description="small digits set",
                         metadata={"source": "synthetic", "classes": 3})
    data.add_dir(folder)
    arty.log_artifact(data, store=store, project=project)
    with open(os.path.join(folder, "labels.csv"), "a") as f:
        f.write("12,0\n")
    with open(os.path.join(folder, "README.txt"), "w") as f:
        f.write("digits, second cut\n")
    data = arty.Artifact("digits", type="dataset", description="small digits set, relabelled",
                         metadata={"source": "synthetic", "classes": 3, "fixes": 1})
    data.add_dir(folder)
    arty.log_artifact(data, store=store, project=project, aliases=["prod"])

    ids: dict[str, str] = {}
    for lr in (0.001, 0.01, 0.03):
        for opt in ("adam", "sgd"):
            for seed in range(seeds):
                name = f"{opt}-lr{lr:g}-s{seed}"
                config = {"lr": lr, "optimizer": opt, "batch_size": 64, "seed": seed,
                          "model": {"arch": "cnn", "layers": 3}}
                # one run per optimizer captures its console and system metrics, as a script would
                capture = lr == 0.01 and seed == 0
                run = arty.init(project=project, name=name, config=config, store=store,
                                tags=["sweep", opt] + (["baseline"] if lr == 0.01 else []),
                                notes=f"{opt} at lr={lr:g}", group=f"lr={lr:g}", job_type="train",
                                flush_interval=0.2,
                                **(dict(console=True, system_metrics=0.05, code=True) if capture else QUIET))
                run.use_artifact("digits:latest")
                best = 0.0
                for step in range(steps):
                    row = curve(step, steps, lr * (1.5 if opt == "adam" else 1.0), seed)
                    if step % 10 == 9:
                        row["val/acc"] = row["train/acc"] - 0.02
                        best = max(best, row["val/acc"])
                        if capture:
                            say(f"epoch {step // 10}: train/loss={row['train/loss']:.4f} val/acc={row['val/acc']:.4f}")
                    run.log(row)
                if capture:
                    say("warning: learning rate schedule not set, using constant lr", fd=2)
                run.summary["best_val_acc"] = best
                if seed == 0:
                    model_dir = os.path.join(os.path.dirname(folder), f"model-{name}")
                    os.makedirs(model_dir, exist_ok=True)
                    with open(os.path.join(model_dir, "weights.bin"), "wb") as f:
                        f.write(os.urandom(2048))
                    model = arty.Artifact("classifier", type="model", metadata={"lr": lr, "optimizer": opt})
                    model.add_dir(model_dir)
                    run.log_artifact(model, aliases=["candidate"] if lr == 0.03 else [])
                run.finish(quiet=True)
                ids[name] = run.id
    if media:
        ids["eval"] = _eval_run(store, project)
    return {"runs": ids, "project": project}


def _eval_run(store: str, project: str) -> str:
    import numpy as np

    run = arty.init(project=project, name="eval-classifier", config={"split": "test", "threshold": 0.5},
                    store=store, tags=["eval"], job_type="eval", flush_interval=0.2, **QUIET)
    run.use_artifact("classifier:latest")
    rng = np.random.default_rng(0)
    for step in range(5):
        images = []
        for k in range(3):
            img = np.zeros((32, 32, 3), dtype=np.uint8)
            img[..., k] = 40 + 40 * step
            img[8:24, 8 + step:24 + step, :] = 255
            images.append(arty.Image(img, caption=f"sample {k}"))
        rows = [[i, int(rng.integers(0, 3)), round(float(rng.random()), 3)] for i in range(40)]
        run.log({"examples": images,
                 "predictions": arty.Table(columns=["id", "label", "score"], data=rows),
                 "scores": arty.Histogram(rng.normal(step * 0.5, 1.0, 500), num_bins=20),
                 "test/acc": 0.8 + 0.02 * step})
    run.finish(quiet=True)
    return run.id


def iter_pages(base: str, project: str, run_id: str) -> Iterator[tuple[str, str]]:
    """(label, url) of the main pages, for screenshots."""
    yield "projects", f"{base}/"
    yield "project", f"{base}/p/{project}"
    yield "run", f"{base}/p/{project}/runs/{run_id}"
    yield "run-charts", f"{base}/p/{project}/runs/{run_id}?tab=charts"
    yield "artifacts", f"{base}/p/{project}/artifacts"
