"""Web UI speed: a run page whose charts hold 1,000,000 history points, drawn in Chromium.

    python benchmarks/bench_ui.py [--workdir DIR] [--rows R] [--repeat K]

Builds a local store with one run whose history has R rows (default 1,000,000) of 5
metrics in packed segments of 20,000 rows (as benchmarks/bench_queries.py makes it),
serves it with the real server (uvicorn on 127.0.0.1, in this process), and opens the
run's Charts tab in headless Chromium (Debian's /usr/bin/chromium through Playwright).
The server downsamples each series to about 1,000 points (min/max buckets); the page
draws one plotly chart per metric.

Printed, each the median of K page loads (default 5) after one cold load:

* "page load -> all charts drawn": from navigation start to the moment the last of the
  5 charts has been drawn (the page's ``window.__arty.chartsReady``), which includes
  fetching the page, its modules, plotly.js (from the browser cache after the first
  load), the history request and drawing;
* "history request (server)": the /history request alone, as the browser timed it;
* "drawing": the part of the load after the history response arrived.

Target (issue 5): a run page chart of 1,000,000 history points drawn in under 1 s.
Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, HERE)

from bench_queries import make_history  # noqa: E402
import ui_helpers as ui  # noqa: E402

from arty.store import init_store, open_store  # noqa: E402

MEASURE_JS = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const hist = performance.getEntriesByType("resource").filter(e => e.name.includes("/history"));
    const h = hist[hist.length - 1];
    return {total: window.__arty.chartsReady, history: h ? h.responseEnd - h.requestStart : null,
            historyEnd: h ? h.responseEnd : null, nav: nav ? nav.startTime : 0};
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", help="where to build the store (kept and reused when given)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if not ui.have_chromium():
        raise SystemExit(f"this benchmark needs Chromium at {ui.CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    tmp = None
    workdir = args.workdir or (tmp := tempfile.mkdtemp(prefix="arty-bench-ui-"))
    url = os.path.join(workdir, "store")
    marker = os.path.join(workdir, "long-run")
    try:
        if os.path.exists(os.path.join(url, "store.json")) and os.path.exists(marker):
            store = open_store(url)
            run_id = open(marker).read().strip()
            print(f"reusing the store in {url}")
        else:
            store, _ = init_store(url)
            t = time.perf_counter()
            run_id = make_history(store, args.rows, 20_000, packed=True)
            with open(marker, "w") as f:
                f.write(run_id)
            print(f"built a {args.rows:,}-row history of 5 metrics in {time.perf_counter() - t:.1f} s")
        server = ui.ServerThread(store).start()
        page_url = f"{server.url}/p/bench/runs/{run_id}?tab=charts"
        try:
            with sync_playwright() as p:
                browser = ui.launch_chromium(p)
                page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
                page.set_default_timeout(120_000)
                totals, requests, drawing = [], [], []
                for i in range(args.repeat + 1):
                    page.goto(page_url)
                    page.wait_for_selector("#run-charts[data-charts='5']")
                    m = page.evaluate(MEASURE_JS)
                    points = page.evaluate("document.getElementById('points-note').textContent")
                    if i == 0:
                        print(f"cold (first load, plotly.js fetched): page load -> all charts drawn "
                              f"{m['total'] - m['nav']:.0f} ms; history request {m['history']:.0f} ms")
                        print(f"  {points}")
                        continue
                    totals.append(m["total"] - m["nav"])
                    requests.append(m["history"])
                    drawing.append(m["total"] - m["historyEnd"])
                browser.close()
        finally:
            server.stop()
        print(f"median of {args.repeat} loads ({args.rows:,} rows x 5 metrics, ~1,000 points drawn per chart):")
        print(f"  page load -> all charts drawn  {statistics.median(totals):7.0f} ms")
        print(f"  history request (server)       {statistics.median(requests):7.0f} ms")
        print(f"  drawing (after the response)   {statistics.median(drawing):7.0f} ms")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
