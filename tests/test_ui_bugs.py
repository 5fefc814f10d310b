"""Bugs of the web UI a W&B user meets first, each checked in real headless Chromium: chart
colours in dark mode, sideways scrolling in a narrow window, number alignment, the order of
artifact versions, malformed filters and charts that ignore the filter, histogram heatmaps,
a running run's steps, aliases and run names, hints for people, axis units, and how
plotly.js is served (compressed, cached for good under a versioned URL).

The store, server and page fixtures are those of tests/test_server_ui.py; the browser is
tests/conftest.py's, shared by the session.
"""

from __future__ import annotations

import gzip

import pytest

from test_server_ui import (  # noqa: F401 - fixtures used by name
    P, WAIT, _json, context, open_page, page, site, table_names, wait_until,
)

from playwright.sync_api import expect  # noqa: E402

#: The colours (r, g, b) of the page's background and of the text and grid of the charts.
COLOURS_JS = """(sel) => {
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
    const all = (q, prop) => [...document.querySelectorAll(`${sel} ${q}`)].map((e) => rgb(getComputedStyle(e)[prop]));
    return {
        bg: rgb(getComputedStyle(document.body).backgroundColor),
        text: [...all(".gtitle", "fill"), ...all(".xtick text", "fill"), ...all(".ytick text", "fill"),
               ...all(".g-xtitle text", "fill")],
        grid: [...all(".gridlayer path", "stroke")],
    };
}"""


def luminance(rgb: list[float]) -> float:
    def chan(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (chan(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: list[float], b: list[float]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def chart_colours(page, sel: str) -> dict:
    got = page.evaluate(COLOURS_JS, sel)
    assert got["text"] and got["grid"], f"no chart text or grid found under {sel}"
    return got


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_chart_text_and_grid_follow_the_page_colours(browser, site, scheme):  # noqa: F811
    url, runs, _ = site
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme=scheme)
    try:
        pg = ctx.new_page()
        pg.set_default_timeout(WAIT)
        for link, name, sel in ((f"{url}/p/{P}/runs/{runs['adam-lr0.01-s0']}?tab=charts", "run", "#run-charts"),
                                (f"{url}/p/{P}", "project", "#project-charts")):
            open_page(pg, link, name)
            pg.wait_for_selector(f"{sel} .chart .gridlayer path", state="attached")
            got = chart_colours(pg, sel + " .chart")
            worst_text = min(contrast(c, got["bg"]) for c in got["text"])
            assert worst_text >= 4.5, f"{scheme}: chart text contrast {worst_text:.2f} on {got['bg']}"
            # grid lines are visible but quiet: not white on a dark page, not black on a light one
            grid = [contrast(c, got["bg"]) for c in got["grid"]]
            assert all(1.05 <= g <= 3 for g in grid), f"{scheme}: grid contrast {min(grid):.2f}-{max(grid):.2f}"
    finally:
        ctx.close()


def test_a_narrow_window_never_scrolls_sideways(browser, site):  # noqa: F811
    url, runs, _ = site
    ctx = browser.new_context(viewport={"width": 900, "height": 800})
    try:
        pg = ctx.new_page()
        pg.set_default_timeout(WAIT)
        pages = [(f"{url}/p/{P}", "project", "#project-charts .chart .main-svg"),
                 (f"{url}/p/{P}/runs/{runs['adam-lr0.01-s0']}", "run", None),
                 (f"{url}/p/{P}/runs/{runs['adam-lr0.01-s0']}?tab=charts", "run", "#run-charts[data-charts]"),
                 (f"{url}/p/{P}/artifacts/classifier", "artifact", None),
                 (f"{url}/p/{P}/artifacts/digits/v1", "version", None)]
        for link, name, ready in pages:
            open_page(pg, link, name)
            if ready:
                pg.wait_for_selector(ready)
            width = pg.evaluate("[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
            assert width[0] <= width[1], f"{link} scrolls sideways at 900 px: {width[0]} > {width[1]}"
    finally:
        ctx.close()


def test_numbers_are_right_aligned(page, site):  # noqa: F811
    url, _, _ = site
    open_page(page, f"{url}/p/{P}", "project")
    cells = page.locator("#runs-table td.num")
    expect(cells.first).to_be_visible()
    aligns = set(cells.evaluate_all("els => els.map(e => getComputedStyle(e).textAlign)"))
    assert aligns == {"right"}, aligns
    open_page(page, f"{url}/p/{P}/artifacts/classifier", "artifact")
    aligns = set(page.locator("#versions td.num").evaluate_all("els => els.map(e => getComputedStyle(e).textAlign)"))
    assert aligns == {"right"}, aligns


def test_artifact_versions_are_newest_first_with_run_names(page, site):  # noqa: F811
    url, runs, _ = site
    open_page(page, f"{url}/p/{P}/artifacts/classifier", "artifact")
    newest_first = [f"v{n}" for n in range(5, -1, -1)]
    rows = page.locator("#versions tbody tr").evaluate_all("els => els.map(e => e.dataset.version)")
    assert rows == newest_first
    options = page.locator("#alias-version option").evaluate_all("els => els.map(e => e.value)")
    assert options == newest_first
    # "By run" names the runs (the training runs of seed 0), never their ids
    by_run = page.locator("#versions tbody tr td:last-child").all_inner_texts()
    assert set(by_run) == {n for n in runs if n.endswith("-s0")}, by_run
    assert not set(by_run) & set(runs.values())
    # the version page's "compare against" menu too
    open_page(page, f"{url}/p/{P}/artifacts/classifier/v3", "version")
    others = page.locator("#diff-other option").evaluate_all("els => els.map(e => e.value)")
    assert others == ["v5", "v4", "v2", "v1", "v0"]


def test_a_malformed_filter_is_refused_under_the_box(page, site):  # noqa: F811
    url, _, _ = site
    open_page(page, f"{url}/p/{P}", "project")
    total = page.locator("#run-count").inner_text()
    page.fill("#filter-input", "config.lr>>0.1")
    page.press("#filter-input", "Enter")
    expect(page.locator(".message .error")).to_contain_text("'>>' is not an operator")
    expect(page.locator(".message .error .hint")).to_contain_text("KEY>VALUE")
    expect(page.locator("#filter-chips .chip")).to_have_count(0)      # no chip that matches nothing
    expect(page.locator("#filter-input")).to_have_value("config.lr>>0.1")  # kept, to fix
    expect(page.locator("#run-count")).to_have_text(total)


def test_charts_follow_the_table_filter(page, site):  # noqa: F811
    url, _, _ = site
    open_page(page, f"{url}/p/{P}", "project")
    # select every run shown, then filter: the charts draw only the runs the table keeps
    page.locator("#runs-table thead th.sel input").check()
    chart = "#project-charts .chart[data-key='train/loss']"
    names_js = f"() => (document.querySelector(\"{chart}\")?.data || []).map(t => t.name)"
    page.wait_for_function(f"() => ({names_js})().length === 6")
    page.fill("#filter-input", "config.optimizer=sgd")
    page.press("#filter-input", "Enter")
    expect(page.locator("#run-count")).to_have_text("3 runs")
    page.wait_for_function(f"() => ({names_js})().every(n => n.startsWith('sgd-'))", timeout=WAIT)
    assert sorted(page.evaluate(names_js)) == sorted(table_names(page))
    expect(page.locator("#project-charts").locator("xpath=..")).to_contain_text("hidden by the filter")


def test_histogram_heatmap_draws_each_step_on_its_own_edges(page, site):  # noqa: F811
    url, runs, _ = site
    rid = runs["eval"]
    logged = _json(f"{url}/api/projects/{P}/runs/{rid}/media/scores")
    assert len(logged) == 5
    open_page(page, f"{url}/p/{P}/runs/{rid}?tab=media", "run")
    el = page.locator("section[data-key=scores] .chart")
    expect(el).to_have_attribute("data-drawn", "1")
    traces = el.evaluate("el => el.data.map(t => ({type: t.type, x: t.x, y: t.y, z: t.z}))")
    assert len(traces) == len(logged)
    for trace, entry in zip(traces, logged):
        hist = entry["value"]
        assert trace["type"] == "heatmap"
        assert trace["y"] == pytest.approx(hist["bins"])            # this step's own edges
        assert [row[0] for row in trace["z"]] == hist["values"]       # each count once, none moved
        assert trace["x"][0] < entry["step"] < trace["x"][1]          # one column around its step
    # neighbouring columns meet without overlapping
    assert all(a["x"][1] == b["x"][0] for a, b in zip(traces, traces[1:]))


def test_a_running_run_shows_its_steps(page, site):  # noqa: F811
    import arty
    import ui_helpers as ui

    url, _, store_path = site
    run = arty.init(project="live-steps", name="going", store=store_path, flush_interval=0.1, **ui.QUIET)
    try:
        for step in range(7):
            run.log({"m": float(step)})
        history = f"{url}/api/projects/live-steps/runs/{run.id}/history"
        wait_until(lambda: _json(history).get("total_points") == 7, "the 7 steps in the store")
        open_page(page, f"{url}/p/live-steps/runs/{run.id}", "run")
        expect(page.locator("h1 .state")).to_have_text("running")
        expect(page.locator("#run-info tr", has_text="Steps").locator("td")).to_have_text("7")
    finally:
        run.finish(quiet=True)


def test_a_runs_artifacts_tab_shows_aliases(page, site):  # noqa: F811
    url, runs, _ = site
    open_page(page, f"{url}/p/{P}/runs/{runs['sgd-lr0.03-s0']}?tab=artifacts", "run")
    expect(page.locator("#logged-artifacts a")).to_have_text(["classifier:v5"])
    expect(page.locator("#logged-artifacts .tag")).to_have_text(["latest", "candidate"])
    expect(page.locator("#used-artifacts .tag")).to_have_text(["latest", "prod"])


def test_error_hints_speak_to_people_not_programs(page, site):  # noqa: F811
    url, _, _ = site
    open_page(page, f"{url}/p/nosuchproject", "error")
    expect(page.locator(".error")).to_contain_text("nosuchproject")
    hint = page.locator(".error .hint").inner_text()
    assert hint and "/api" not in hint and "GET" not in hint, hint
    assert "projects list" in hint


def test_relative_time_axis_says_its_unit(page, site):  # noqa: F811
    url, runs, _ = site
    open_page(page, f"{url}/p/{P}", "project")
    page.wait_for_selector("#project-charts .chart .main-svg")
    page.select_option("#chart-x", "_runtime")
    title = page.locator("#project-charts .chart[data-key='train/loss'] .g-xtitle")
    expect(title).to_have_text("relative time (s)")
    open_page(page, f"{url}/p/{P}/runs/{runs['adam-lr0.01-s0']}?tab=charts", "run")
    page.wait_for_selector("#run-charts[data-charts]")
    page.select_option("#chart-x", "_runtime")
    expect(page.locator("#run-charts .chart[data-key='train/loss'] .g-xtitle")).to_have_text("relative time (s)")


def test_plotly_is_served_compressed_and_cached_for_good(page, site):  # noqa: F811
    import httpx

    from arty.server.vendor import plotly_js_path

    url, _, _ = site
    html = httpx.get(url + "/").text
    start = html.index('name="arty-plotly" content="') + len('name="arty-plotly" content="')
    js_url = html[start:html.index('"', start)]
    assert js_url.startswith("/vendor/plotly-") and js_url.endswith(".min.js") and js_url != "/vendor/plotly.min.js"
    with open(plotly_js_path(), "rb") as f:
        original = f.read()
    with httpx.stream("GET", url + js_url, headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
        assert "immutable" in r.headers["cache-control"] and "max-age=31536000" in r.headers["cache-control"]
        assert r.headers["vary"] == "Accept-Encoding"
    assert len(raw) < len(original) / 2 and gzip.decompress(raw) == original
    plain = httpx.get(url + js_url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == original
    assert httpx.get(url + "/vendor/plotly-0.0.0.min.js").status_code == 404
    # the browser loads it from there, compressed on the wire
    open_page(page, f"{url}/p/{P}", "project")
    page.wait_for_selector("#project-charts .chart .main-svg")
    sizes = page.evaluate("""(u) => performance.getEntriesByType('resource').filter(e => e.name.endsWith(u))
        .map(e => [e.encodedBodySize, e.decodedBodySize])""", js_url)
    assert sizes and sizes[0][0] < sizes[0][1] / 2, sizes
    assert page.evaluate("typeof window.Plotly.react") == "function"
