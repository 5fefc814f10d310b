"""Take the screenshots in docs/img/ from a store filled with realistic runs.

    python docs/screenshots.py [--out docs/img]

Fills a temporary store like the browser tests do (tests/ui_helpers.py: a dataset in two
versions, a learning-rate x optimizer sweep that uses it and logs models, an evaluation
run with images, a table and histograms), from inside a small git repository with an
uncommitted change so that runs record their code state. Serves it with the real server
and saves PNGs of the main pages, taken by headless Chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import ui_helpers as ui  # noqa: E402

from arty.store import init_store  # noqa: E402

PROJECT = "vision"


def git_repo(root: str) -> None:
    """A repository with one commit and an uncommitted change, as a training script's would be."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "train.py"), "w") as f:
        f.write("import arty\n\nLR = 0.01\n")
    env = dict(os.environ, GIT_AUTHOR_NAME="Ada", GIT_AUTHOR_EMAIL="ada@example.com",
               GIT_COMMITTER_NAME="Ada", GIT_COMMITTER_EMAIL="ada@example.com")
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "train.py"], ["git", "commit", "-q", "-m", "sweep"]):
        subprocess.run(cmd, cwd=root, env=env, check=True)
    with open(os.path.join(root, "train.py"), "a") as f:
        f.write("WARMUP_STEPS = 100  # try a warm-up\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "img"))
    args = ap.parse_args()
    if not ui.have_chromium():
        raise SystemExit(f"screenshots need Chromium at {ui.CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="arty-shots-") as tmp:
        os.environ["ARTY_CACHE_DIR"] = os.path.join(tmp, "cache")
        repo = os.path.join(tmp, "repo")
        git_repo(repo)
        os.chdir(repo)
        store = os.path.join(tmp, "store")
        init_store(store)
        info = ui.fill_store(store, PROJECT, steps=300, seeds=2, folder=os.path.join(tmp, "dataset"))
        runs = info["runs"]
        # the candidate model linked into the registry as staging (the registry page's shot)
        from arty.artifacts import Registry
        from arty.store import open_store

        Registry(open_store(store), PROJECT).resolve("classifier:candidate").link(
            "registry/digit-classifier", ["staging"])
        server = ui.ServerThread(store).start()
        base = f"{server.url}/p/{PROJECT}"
        pair = ",".join(runs[n] for n in ("adam-lr0.01-s0", "adam-lr0.03-s0"))
        shots = [
            ("projects", f"{server.url}/", "#projects", None),
            ("runs", f"{base}?order=-summary.best_val_acc", "#project-charts .chart[data-drawn]", None),
            ("runs-grouped", f"{base}?f=job_type%3Dtrain&group=lr&keys=loss", "#project-charts .chart[data-drawn]", None),
            ("run-overview", f"{base}/runs/{runs['adam-lr0.01-s0']}", "#git", None),
            ("run-charts", f"{base}/runs/{runs['adam-lr0.01-s0']}?tab=charts", "#run-charts[data-charts]", None),
            ("run-console", f"{base}/runs/{runs['adam-lr0.01-s0']}?tab=console&q=epoch", "#console .line", None),
            ("run-media", f"{base}/runs/{runs['eval']}?tab=media", "section.media .chart[data-drawn]", None),
            ("artifacts", f"{base}/artifacts", "section.artifact-type", None),
            ("artifact-version", f"{base}/artifacts/digits/v1", "#lineage svg", "#diff-button"),
            ("compare", f"{base}/compare?runs={pair}", "#compare-charts .chart[data-drawn]", None),
            ("registry", f"{server.url}/registry/registry", "section.collection", None),
        ]
        try:
            with sync_playwright() as p:
                browser = ui.launch_chromium(p)
                page = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light").new_page()
                page.set_default_timeout(60_000)
                for name, url, ready, click in shots:
                    page.goto(url)
                    page.wait_for_selector(ready)
                    if click:
                        page.click(click)
                        page.wait_for_selector("#diff ul, #diff p")
                    page.wait_for_load_state("networkidle")
                    path = os.path.join(out, f"{name}.png")
                    page.screenshot(path=path, full_page=name in ("artifact-version", "run-media", "compare"))
                    print(f"wrote {path}")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
