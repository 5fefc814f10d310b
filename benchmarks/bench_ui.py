"""Web UI speed in headless Chromium: cold pages with charts, a 1,000,000-point chart against
a freshly started server, and pan/zoom with 100 runs x 10 panels.

    python benchmarks/bench_ui.py [--workdir DIR] [--rows R] [--repeat K] [--only NAME,...]

Builds a local store (reused with ``--workdir``) holding

* project ``ui``: 5 runs with 6 metrics of 500 steps (the issue's "runs table with 6 charts
  for 5 runs" and "run page with 6 charts");
* project ``wide``: 100 runs with 10 metrics of 200 steps;
* project ``bench``: one run whose history has R rows (default 1,000,000) of 5 metrics in
  packed segments of 20,000 rows (as benchmarks/bench_queries.py makes it),

serves it with the real server (uvicorn on 127.0.0.1, in this process) and opens pages in
headless Chromium (Debian's /usr/bin/chromium through Playwright). Scenarios (``--only``):

* ``table``: the project page of ``ui`` (its first 5 runs selected, 6 charts), cold: each
  load in a new browser context (empty HTTP and code caches, as a fresh profile); from
  navigation start to the last chart drawn (``window.__arty.lastChartDrawn``);
* ``run``: the Charts tab of one ``ui`` run, cold, to ``window.__arty.chartsReady``;
* ``million``: the Charts tab of the 1,000,000-row run, first load in a cold browser
  against a server started just before (the server's first read of the segments counts),
  then the median of K loads in that browser (warm);
* ``wide``: the project page of ``wide`` with all 100 runs selected (10 panels of 100
  lines each); then each panel is zoomed (``Plotly.relayout`` of the x range, what a drag
  or a scroll ends in) and panned, and the time until plotly has redrawn is taken.

Each cold figure is the median of K loads (default 5). Targets (issue 15): cold runs table
with charts and cold run page each under 1 s; the 1,000,000-point chart first drawn under
1 s against a freshly started server; pan/zoom with 100 runs x 10 panels under 100 ms.
Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, HERE)

from bench_queries import make_history  # noqa: E402
import runrecords as rr  # noqa: E402
import ui_helpers as ui  # noqa: E402

from arty.store import init_store, open_store  # noqa: E402

VIEWPORT = {"width": 1400, "height": 900}
NAV_JS = "() => { const n = performance.getEntriesByType('navigation')[0]; return n ? n.startTime : 0; }"
PLOTLY_JS = """() => {
    const e = performance.getEntriesByType("resource").find(e => e.name.includes("/vendor/plotly"));
    return e ? {fetch: e.responseEnd - e.startTime, bytes: e.transferSize, size: e.decodedBodySize} : null;
}"""
#: Zoom then pan every panel; milliseconds per relayout until plotly resolves (drawn).
PANZOOM_JS = """async () => {
    const times = [];
    for (const el of document.querySelectorAll("#project-charts .chart.js-plotly-plot")) {
        const [a, b] = el.layout.xaxis.range;
        const w = b - a;
        for (const range of [[a + w * 0.25, a + w * 0.75], [a + w * 0.4, a + w * 0.9], [a, b]]) {
            const t = performance.now();
            await Plotly.relayout(el, {"xaxis.range": range});
            await new Promise(requestAnimationFrame);
            times.push(performance.now() - t);
        }
    }
    return times;
}"""


def make_project(store, project: str, runs: int, metrics: int, steps: int) -> list[tuple[str, str]]:
    """``runs`` finished runs of ``metrics`` metrics over ``steps`` steps; [(id, name)]."""
    rnd = random.Random(project)
    out = []
    for i in range(runs):
        name = f"{project}-{i:03d}"
        rid = rr.write_run(store, project, name=name, config={"lr": 10 ** -rnd.uniform(2, 4), "seed": i})
        t0 = time.time() - 3600
        cols = {"_step": list(range(steps)), "_timestamp": [t0 + s for s in range(steps)],
                "_runtime": [float(s) for s in range(steps)]}
        for m in range(metrics):
            cols[f"train/m{m}"] = [1 / (1 + s * (0.01 + 0.002 * m)) + rnd.gauss(0, 0.01) for s in range(steps)]
        rr.write_segment(store, project, rid, "history", cols, packed=True)
        rr.finish(store, project, rid, steps=steps, summary={"train/m0": cols["train/m0"][-1]})
        out.append((rid, name))
    return out


def build(url: str, rows: int) -> dict:
    marker = os.path.join(os.path.dirname(url), "bench-ui.ids")
    if os.path.exists(os.path.join(url, "store.json")) and os.path.exists(marker):
        print(f"reusing the store in {url}")
        with open(marker) as f:
            long_id, ui_run, *wide = f.read().split()
        return {"store": open_store(url), "long": long_id, "ui_run": ui_run, "wide": wide}
    store, _ = init_store(url)
    t = time.perf_counter()
    ui_runs = make_project(store, "ui", 5, 6, 500)
    wide = make_project(store, "wide", 100, 10, 200)
    long_id = make_history(store, rows, 20_000, packed=True)
    print(f"built the store ({rows:,}-row history, 105 other runs) in {time.perf_counter() - t:.1f} s")
    ids = [long_id, ui_runs[0][0]] + [rid for rid, _ in wide]
    with open(marker, "w") as f:
        f.write("\n".join(ids))
    return {"store": store, "long": long_id, "ui_run": ui_runs[0][0], "wide": ids[2:]}


def cold_loads(browser, page_url: str, ready: str, mark: str, repeat: int) -> tuple[list[float], dict | None]:
    """Median-able times (ms, navigation start -> ``mark``) of ``repeat`` loads, each in a fresh context."""
    times, plotly = [], None
    for _ in range(repeat):
        ctx = browser.new_context(viewport=VIEWPORT)
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        page.goto(page_url)
        page.wait_for_selector(ready)
        page.wait_for_function(f"() => window.__arty && window.__arty.{mark} > 0")
        times.append(page.evaluate(f"window.__arty.{mark}") - page.evaluate(NAV_JS))
        plotly = page.evaluate(PLOTLY_JS)
        ctx.close()
    return times, plotly


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values):6.0f} ms  (min {min(values):.0f}, max {max(values):.0f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", help="where to build the store (kept and reused when given)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="table,run,million,wide", help="scenarios, comma-separated")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if not ui.have_chromium():
        raise SystemExit(f"this benchmark needs Chromium at {ui.CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    tmp = None
    workdir = args.workdir or (tmp := tempfile.mkdtemp(prefix="arty-bench-ui-"))
    try:
        got = build(os.path.join(workdir, "store"), args.rows)
        with sync_playwright() as p:
            browser = ui.launch_chromium(p)
            if "million" in only:  # first: against a server started just now
                million(browser, got, args)
            server = ui.ServerThread(got["store"]).start()
            try:
                if "table" in only:
                    times, plotly = cold_loads(browser, f"{server.url}/p/ui", "#project-charts .chart .main-svg",
                                               "lastChartDrawn", args.repeat)
                    print(f"cold runs table, 5 runs x 6 charts, nav -> last chart drawn: {ms(times)}")
                    print(f"  plotly.js: {plotly}")
                if "run" in only:
                    times, _ = cold_loads(browser, f"{server.url}/p/ui/runs/{got['ui_run']}?tab=charts",
                                          "#run-charts[data-charts='6']", "chartsReady", args.repeat)
                    print(f"cold run page, 6 charts, nav -> all charts drawn:         {ms(times)}")
                if "wide" in only:
                    wide(browser, server, got, args)
            finally:
                server.stop()
            browser.close()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def million(browser, got: dict, args: argparse.Namespace) -> None:
    t = time.perf_counter()
    server = ui.ServerThread(got["store"]).start()
    started = time.perf_counter() - t
    try:
        ctx = browser.new_context(viewport=VIEWPORT)
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        url = f"{server.url}/p/bench/runs/{got['long']}?tab=charts"
        totals = []
        for i in range(args.repeat + 1):
            page.goto(url)
            page.wait_for_selector("#run-charts[data-charts='5']")
            total = page.evaluate("window.__arty.chartsReady") - page.evaluate(NAV_JS)
            if i == 0:
                hist = page.evaluate("""() => { const h = performance.getEntriesByType("resource")
                    .filter(e => e.name.includes("/history")).pop(); return h ? h.responseEnd - h.requestStart : null; }""")
                print(f"1,000,000-point run page, fresh server (started in {started * 1000:.0f} ms) and cold browser: "
                      f"{total:.0f} ms to all 5 charts drawn (history request {hist:.0f} ms)")
                print("  " + page.evaluate("document.getElementById('points-note').textContent"))
                continue
            totals.append(total)
        print(f"1,000,000-point run page reopened (warm):                  {ms(totals)}")
        ctx.close()
    finally:
        server.stop()


def wide(browser, server, got: dict, args: argparse.Namespace) -> None:
    ctx = browser.new_context(viewport=VIEWPORT)
    selection = [[rid, f"wide-{i:03d}"] for i, rid in enumerate(got["wide"])]
    ctx.add_init_script(f"sessionStorage.setItem('arty-selection:wide', JSON.stringify({json.dumps(selection)}))")
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    t = time.perf_counter()
    page.goto(f"{server.url}/p/wide")
    page.wait_for_function("() => document.querySelectorAll('#project-charts .chart.js-plotly-plot').length === 10 && "
                           "[...document.querySelectorAll('#project-charts .chart')].every(e => e.data && e.data.length >= 100)")
    loaded = (time.perf_counter() - t) * 1000
    traces = page.evaluate("[...document.querySelectorAll('#project-charts .chart')].map(e => e.data.length)")
    points = page.evaluate("[...document.querySelectorAll('#project-charts .chart')].reduce((n, e) => "
                           "n + e.data.reduce((m, t) => m + t.x.length, 0), 0)")
    print(f"100 runs x 10 panels: loaded and drawn in {loaded:.0f} ms; {sum(traces)} lines, {points:,} points")
    times = page.evaluate(PANZOOM_JS)
    print(f"  pan/zoom one panel (relayout -> drawn), {len(times)} moves: {ms(times)}")
    ctx.close()


if __name__ == "__main__":
    main()
