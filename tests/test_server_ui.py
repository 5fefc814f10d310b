"""The web UI in real headless Chromium: every page, the runs table's sort, filter and group,
editing a note that survives a reload, user text staying inert, charts drawing their lines,
media, artifact pages and live updates of a running run.

One browser for the session and one server with a store filled by real runs for the module
(tests/ui_helpers.py); each test gets a fresh browser context. Skipped only when Debian's
Chromium (/usr/bin/chromium) or the server's packages are absent; CI installs both.
"""

from __future__ import annotations

import json
import re

import pytest

import ui_helpers as ui

pytest.importorskip("fastapi", reason="the UI tests need the server extra (pip install -e '.[test]')")
pytest.importorskip("uvicorn", reason="the UI tests need the server extra (pip install -e '.[test]')")
pytest.importorskip("plotly", reason="the UI tests need plotly (pip install -e '.[test]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="the UI tests need playwright (pip install -e '.[test]')")
if not ui.have_chromium():
    pytest.skip(f"the UI tests need Debian's Chromium at {ui.CHROMIUM} (apt-get install -y chromium)",
                allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

P = "vision"
#: Milliseconds a page may take to show what a test waits for.
WAIT = 15_000


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A store with a dataset, a sweep of training runs, models and an eval run with media,
    served on a free port; yields ``(url, {run name: id}, store path)``."""
    from arty.store import init_store

    root = tmp_path_factory.mktemp("ui")
    store_path = str(root / "store")
    init_store(store_path)
    info = ui.fill_store(store_path, P, steps=40, seeds=1, folder=str(root / "dataset"))
    server = ui.ServerThread(store_path).start()
    yield server.url, info["runs"], store_path
    server.stop()


#: Records every Content-Security-Policy violation a page reports, in ``window.__csp``.
CSP_LISTENER = """window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));"""


@pytest.fixture(scope="module")
def context(browser):
    """One browser context for the module, so plotly.js is fetched and compiled once."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.add_init_script(CSP_LISTENER)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    """A fresh tab; the test fails if the page threw a script error or broke the server's
    Content-Security-Policy (reported in the console and to ``window.__csp``)."""
    pg = context.new_page()
    pg.set_default_timeout(WAIT)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield pg
    try:
        errors += pg.evaluate("window.__csp || []")
    except Exception:  # noqa: BLE001 - a page that navigated away or closed: its console still counts
        pass
    pg.close()
    assert not errors, f"script errors or CSP violations in the page: {errors}"


def open_page(page, url: str, name: str) -> None:
    page.goto(url)
    page.wait_for_selector(f"body[data-page={name}]")


#: The number of points plotly holds for the line of ``key`` in the chart box ``box``.
POINTS_JS = """(box, key) => {
    const el = document.querySelector(`${box} .chart[data-key='${key}']`);
    const trace = el && el.data && el.data.find(t => t.name === key && t.opacity === undefined);
    return trace ? trace.x.length : -1;
}"""


def points(page, box: str, key: str) -> int:
    return page.evaluate(f"([box, key]) => ({POINTS_JS})(box, key)", [box, key])


def _json(url: str) -> dict:
    import httpx

    r = httpx.get(url)
    return r.json() if r.status_code == 200 else {}


def wait_until(condition, what: str, timeout: float = WAIT / 1000) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    import threading
    import time

    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        tick.wait(0.05)


def table_names(page) -> list[str]:
    return page.locator("#runs-table tbody tr[data-run] td.name").all_inner_texts()


def test_projects_page_links_through_the_app(page, site):
    url, runs, _ = site
    open_page(page, url + "/", "projects")
    row = page.locator("#projects tr[data-project=vision]")
    expect(row).to_contain_text(str(len(runs)))      # runs
    expect(row.locator("td").nth(2)).to_have_text("2")  # artifacts: digits, classifier
    page.evaluate("window.__sameDocument = true")
    row.locator("a").first.click()
    page.wait_for_selector("body[data-page=project]")
    assert page.url == url + "/p/vision"
    assert page.evaluate("window.__sameDocument") is True  # History API, not a page load
    page.go_back()
    page.wait_for_selector("body[data-page=projects]")


def test_runs_table_sorts_and_filters(page, site):
    url, runs, _ = site
    open_page(page, url + "/p/vision", "project")
    expect(page.locator("#run-count")).to_have_text(f"{len(runs)} runs")
    # sort by a config column, ascending then descending
    page.locator("#runs-table th[data-sort='config.lr']").click()
    expect(page.locator("#runs-table th[data-sort='config.lr']")).to_have_attribute("aria-sort", "ascending")
    lrs = page.locator("#runs-table tbody td[data-col='config.lr']").all_inner_texts()
    values = [float(v) for v in lrs if v]
    assert values == sorted(values) and len(values) == 6
    page.locator("#runs-table th[data-sort='config.lr']").click()
    expect(page.locator("#runs-table th[data-sort='config.lr']")).to_have_attribute("aria-sort", "descending")
    values = [float(v) for v in page.locator("#runs-table tbody td[data-col='config.lr']").all_inner_texts() if v]
    assert values == sorted(values, reverse=True)
    # sort by a summary column
    page.locator("#runs-table th[data-sort='summary.best_val_acc']").click()
    expect(page.locator("#runs-table th[data-sort='summary.best_val_acc']")).to_have_attribute("aria-sort", "ascending")
    accs = [float(v) for v in page.locator("#runs-table tbody td[data-col='summary.best_val_acc']").all_inner_texts() if v]
    assert accs == sorted(accs) and len(accs) == 6
    # filter by config: typed like `art runs --filter`
    page.fill("#filter-input", "config.lr>0.005")
    page.press("#filter-input", "Enter")
    expect(page.locator("#run-count")).to_have_text("4 runs")
    assert all("lr0.001" not in n for n in table_names(page))
    # and by tag, and by state; the URL keeps them
    page.select_option("#tag-filter", "adam")
    expect(page.locator("#run-count")).to_have_text("2 runs")
    assert sorted(table_names(page)) == ["adam-lr0.01-s0", "adam-lr0.03-s0"]
    page.select_option("#state-filter", "running")
    expect(page.locator("#run-count")).to_have_text("0 runs")
    page.select_option("#state-filter", "finished")
    expect(page.locator("#run-count")).to_have_text("2 runs")
    assert "tag=adam" in page.url and "f=config.lr" in page.url
    page.reload()
    page.wait_for_selector("body[data-page=project]")
    expect(page.locator("#run-count")).to_have_text("2 runs")
    # removing the chip widens the filter again
    page.locator("#filter-chips .chip button").click()
    expect(page.locator("#run-count")).to_have_text("3 runs")


def test_columns_are_chosen_from_every_config_and_summary_key(page, site):
    url, _, _ = site
    open_page(page, url + "/p/vision", "project")
    page.click("#columns summary")
    offered = page.locator("#columns input[data-col]").evaluate_all("els => els.map(e => e.dataset.col)")
    assert {"config.lr", "config.model.arch", "config.seed", "config.threshold", "summary.best_val_acc",
            "summary.train/loss", "summary.test/acc"} <= set(offered)
    page.check("#columns input[data-col='summary.test/acc']")
    page.uncheck("#columns input[data-col='config.batch_size']")
    expect(page.locator("#runs-table th[data-sort='summary.test/acc']")).to_have_count(1)
    expect(page.locator("#runs-table th[data-sort='config.batch_size']")).to_have_count(0)
    page.reload()
    page.wait_for_selector("body[data-page=project]")
    expect(page.locator("#runs-table th[data-sort='summary.test/acc']")).to_have_count(1)
    expect(page.locator("#runs-table th[data-sort='config.batch_size']")).to_have_count(0)


def test_bad_filter_is_an_error_and_loses_nothing(page, site):
    url, _, _ = site
    open_page(page, url + "/p/vision", "project")
    page.fill("#filter-input", "{not json")
    page.press("#filter-input", "Enter")
    expect(page.locator(".message .error")).to_contain_text("invalid filter")
    expect(page.locator("#filter-input")).to_have_value("{not json")  # the text is kept to fix
    # an operator the server refuses comes back as its JSON error, shown, the table kept
    page.fill("#filter-input", '{"config.lr": {"$bogus": 1}}')
    page.press("#filter-input", "Enter")
    expect(page.locator(".message .error")).to_be_visible()
    assert len(table_names(page)) > 0


def test_group_by_config_draws_mean_and_band(page, site):
    url, _, _ = site
    open_page(page, url + "/p/vision?f=job_type%3Dtrain", "project")
    page.select_option("#group-by", "lr")
    groups = page.locator("#runs-table tr.group-row")
    expect(groups).to_have_count(3)
    expect(page.locator("#runs-table tr.group-row[data-group='0.01'] td.agg[data-col='config.lr']")).to_have_text("0.01")
    agg = page.locator("#runs-table tr.group-row[data-group='0.01'] td.agg[data-col='summary.best_val_acc']").inner_text()
    assert re.fullmatch(r"[\d.]+ \([\d.]+–[\d.]+\)", agg), agg  # mean (min–max) of two runs
    # members are hidden until the group is opened
    expect(page.locator("#runs-table tr.member:visible")).to_have_count(0)
    page.locator("#runs-table tr.group-row[data-group='0.01'] button.expander").click()
    expect(page.locator("#runs-table tr.member:visible")).to_have_count(2)
    # charts: a filled min–max band per group under each mean line
    chart = page.locator("#project-charts .chart[data-key='train/loss']")
    expect(chart.locator(".scatterlayer .trace")).to_have_count(9)  # 3 groups x (min, max, mean)
    assert chart.locator(".scatterlayer path.js-fill").count() >= 3


def test_edit_note_is_kept_after_reload(page, site):
    url, runs, _ = site
    rid = runs["sgd-lr0.03-s0"]
    open_page(page, f"{url}/p/vision/runs/{rid}", "run")
    page.click("#edit-toggle")
    page.fill("#notes-input", "diverged after epoch 3\nsecond line")
    page.fill("#tags-input", "sweep, sgd, reviewed")
    page.click("#save-edit")
    expect(page.locator("#edit-status")).to_have_text("saved")
    page.reload()
    page.wait_for_selector("body[data-page=run]")
    assert page.locator("#notes").inner_text() == "diverged after epoch 3\nsecond line"
    expect(page.locator("#tags .tag")).to_have_text(["sweep", "sgd", "reviewed"])
    open_page(page, url + "/p/vision?tag=reviewed", "project")
    assert table_names(page) == ["sgd-lr0.03-s0"]


def test_user_text_stays_inert(page, site):
    import httpx

    url, runs, _ = site
    rid = runs["sgd-lr0.001-s0"]
    evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    r = httpx.patch(f"{url}/api/projects/vision/runs/{rid}",
                    json={"notes": evil, "tags": ["<b>bold</b>"], "name": "<i>x</i>"})
    assert r.status_code == 200, r.text
    open_page(page, f"{url}/p/vision/runs/{rid}", "run")
    assert page.locator("#notes").inner_text() == evil
    assert page.locator("#notes script, #notes img").count() == 0
    expect(page.locator("#tags .tag")).to_have_text(["<b>bold</b>"])
    expect(page.locator("h1")).to_contain_text("<i>x</i>")
    open_page(page, url + "/p/vision", "project")
    expect(page.locator(f"#runs-table tr[data-run='{rid}'] td.notes")).to_have_text(evil)
    assert page.locator("#runs-table script, #runs-table td img, #runs-table b, #runs-table i").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_run_charts_draw_every_history_key(page, site):
    url, runs, _ = site
    rid = runs["adam-lr0.01-s0"]
    open_page(page, f"{url}/p/vision/runs/{rid}?tab=charts", "run")
    page.wait_for_selector("#run-charts[data-charts]")
    keys = page.locator("#run-charts .chart").evaluate_all("els => els.map(e => e.dataset.key)")
    assert keys == ["train/acc", "train/loss", "val/acc"]
    d = page.locator("#run-charts .chart[data-key='train/loss'] .scatterlayer path.js-line").first.get_attribute("d")
    assert d.count("L") >= 30  # a line drawn through the points (plotly merges nearly straight runs)
    assert points(page, "#run-charts", "train/loss") == 40  # every logged step
    expect(page.locator("#points-note")).to_contain_text("points logged")
    # log scale and smoothing redraw the same chart
    page.check("#log-y")
    expect(page.locator("#run-charts .chart[data-key='train/loss'] .yaxislayer-above text").first).to_be_visible()
    page.locator("#smoothing").fill("0.9")
    page.locator("#smoothing").dispatch_event("change")
    expect(page.locator("#run-charts .chart[data-key='train/loss'] .scatterlayer .trace")).to_have_count(2)


def test_run_tabs_system_console_files_artifacts(page, site):
    url, runs, _ = site
    rid = runs["adam-lr0.01-s0"]  # captured console and system metrics
    open_page(page, f"{url}/p/vision/runs/{rid}?tab=system", "run")
    page.wait_for_selector("#system-charts[data-charts]")
    assert page.locator("#system-charts .chart[data-key='memory.percent']").count() == 1
    page.click(".tabs a[data-tab=console]")
    page.wait_for_selector("#console .line")
    expect(page.locator("#console .line")).to_have_count(5)  # 4 epochs and a warning
    expect(page.locator("#console .line.stderr")).to_contain_text("learning rate schedule")
    page.fill("#console-search", "EPOCH 2")
    expect(page.locator("#console .line")).to_have_count(1)
    expect(page.locator("#console mark")).to_have_text("epoch 2")
    page.click(".tabs a[data-tab=files]")
    link = page.locator("#run-files tr[data-path='requirements.txt'] a[download]")
    expect(link).to_be_visible()
    body = page.request.get(url + link.get_attribute("href"))
    assert body.ok and b"==" in body.body()
    page.click(".tabs a[data-tab=artifacts]")
    expect(page.locator("#used-artifacts a")).to_have_text(["digits:v1"])
    expect(page.locator("#logged-artifacts a")).to_have_count(1)
    page.locator("#used-artifacts a").click()
    page.wait_for_selector("body[data-page=version]")
    assert page.url.endswith("/p/vision/artifacts/digits/v1")


def test_artifact_pages_browse_diff_alias_and_lineage(page, site):
    url, runs, _ = site
    open_page(page, url + "/p/vision/artifacts", "artifacts")
    expect(page.locator("section.artifact-type")).to_have_count(2)
    page.click("#type-filter a:text-is('model')")
    expect(page.locator("section.artifact-type")).to_have_count(1)
    expect(page.locator("section[data-type=model] tr[data-artifact=classifier] td").nth(1)).to_have_text("6")
    page.go_back()
    page.wait_for_selector("body[data-page=artifacts]")
    expect(page.locator("section.artifact-type")).to_have_count(2)
    expect(page.locator("section[data-type=dataset] tr[data-artifact=digits] td").nth(1)).to_have_text("2")
    page.locator("section[data-type=dataset] a", has_text="digits").first.click()
    page.wait_for_selector("body[data-page=artifact]")
    expect(page.locator("#versions tr[data-version=v1] .tag")).to_contain_text(["latest", "prod"])
    # set an alias on v0, then remove it
    page.fill("#alias-input", "stable")
    page.select_option("#alias-version", "v0")
    page.click("#alias-form button[type=submit]")
    expect(page.locator("#versions tr[data-version=v0] .tag")).to_contain_text(["stable"])
    page.locator("#versions tr[data-version=v0] button[aria-label='remove alias stable']").click()
    expect(page.locator("#versions tr[data-version=v0] .tag")).to_have_count(0)
    # the version page: files, a folder, a download, a diff and the lineage graph
    page.locator("#versions tr[data-version=v1] a").first.click()
    page.wait_for_selector("body[data-page=version]")
    expect(page.locator("#metadata")).to_contain_text('"fixes": 1')
    page.locator("#file-browser tr.dir a", has_text="images/").click()
    expect(page.locator("#file-browser tr[data-path='images/003.txt']")).to_be_visible()
    href = page.locator("#file-browser tr[data-path='images/003.txt'] a[download]").get_attribute("href")
    assert page.request.get(url + href).text() == "sample 3\n"
    page.click("#diff-button")
    expect(page.locator("#diff li.added")).to_contain_text(["README.txt"])
    expect(page.locator("#diff li.changed")).to_contain_text(["labels.csv"])
    nodes = page.locator("#lineage svg g.node")
    expect(nodes.first).to_be_visible()
    assert nodes.count() >= 7  # the version and the six runs that used it, at least
    assert page.locator("#lineage g.node.focus").count() == 1
    page.locator(f"#lineage a g[data-node='run:vision/{runs['adam-lr0.03-s0']}']").click()
    page.wait_for_selector("body[data-page=run]")
    assert page.url.endswith(f"/runs/{runs['adam-lr0.03-s0']}")


def test_media_gallery_table_and_histogram(page, site):
    url, runs, _ = site
    open_page(page, f"{url}/p/vision/runs/{runs['eval']}?tab=media", "run")
    gallery = page.locator("section.media[data-key=examples]")
    expect(gallery.locator("figure img")).to_have_count(3)
    page.wait_for_function("() => [...document.querySelectorAll('section[data-key=examples] img')]"
                           ".every(i => i.complete && i.naturalWidth === 32)")
    last = gallery.locator("img").first.get_attribute("src")
    gallery.locator("input[type=range]").fill("0")
    expect(gallery.locator(".slider .mono")).to_have_text("step 0")
    assert gallery.locator("img").first.get_attribute("src") != last
    table = page.locator("section.media[data-key=predictions]")
    expect(table.locator("tbody tr")).to_have_count(25)  # first page of 40 rows
    table.locator("th", has_text="score").click()
    scores = [float(s) for s in table.locator("tbody td:nth-child(3)").all_inner_texts()]
    assert scores == sorted(scores)
    table.locator("button", has_text="Next").click()
    expect(table.locator("tbody tr")).to_have_count(15)
    hist = page.locator("section.media[data-key=scores] .chart")
    expect(hist).to_have_attribute("data-drawn", "1")
    assert hist.locator(".heatmaplayer image, .hm image").count() >= 1


def test_table_image_cells_render_as_images(page, site):
    import numpy as np

    import arty

    url, _, store_path = site
    run = arty.init(project="tables", name="image-cells", store=store_path, **ui.QUIET)
    table = arty.Table(columns=["id", "image", "scores"])
    for i in range(3):
        img = np.zeros((6, 10, 3), np.uint8)
        img[..., 1] = 80 * i
        table.add_data(i, arty.Image(img, caption=f"sample {i}"), np.array([0.5, 0.25]))
    table.add_data(3, None, None)
    run.log({"preds": table})
    run.finish(quiet=True)
    open_page(page, f"{url}/p/tables/runs/{run.id}?tab=media", "run")
    section = page.locator("section.media[data-key=preds]")
    expect(section.locator("tbody tr")).to_have_count(4)
    images = section.locator("tbody td img.thumb")
    expect(images).to_have_count(3)
    page.wait_for_function("() => [...document.querySelectorAll('section[data-key=preds] td img')]"
                           ".every(i => i.complete && i.naturalWidth === 10 && i.naturalHeight === 6)")
    assert images.nth(1).get_attribute("alt") == "sample 1"
    assert images.nth(2).get_attribute("src").startswith("/api/blobs/")
    last = section.locator("tbody tr").nth(3).locator("td")
    expect(last.nth(1)).to_have_text("null")
    expect(section.locator("tbody tr").first.locator("td").nth(2)).to_have_text("[0.5,0.25]")


def test_plot_charts_are_drawn_above_their_tables(page, site):
    import arty

    url, _, store_path = site
    run = arty.init(project="charts", name="plots", store=store_path, **ui.QUIET)
    table = arty.Table(data=[[x, x * x] for x in range(10)], columns=["x", "y"])
    run.log({"sq": arty.plot.line(table, "x", "y", title="x squared"),
             "cm": arty.plot.confusion_matrix(y_true=[0, 1, 2, 2], preds=[0, 1, 1, 2], class_names=["a", "b", "c"])})
    run.finish(quiet=True)
    open_page(page, f"{url}/p/charts/runs/{run.id}?tab=media", "run")
    line = page.locator("section.media[data-key=sq] .chart[data-kind=line]")
    expect(line).to_have_attribute("data-drawn", "1")
    assert page.evaluate("() => document.querySelector('section[data-key=sq] .chart').data[0].y") == \
        [x * x for x in range(10)]
    assert line.locator(".scatterlayer .trace path.js-line").count() == 1
    expect(page.locator("section.media[data-key=sq] tbody tr")).to_have_count(10)  # the table stays below
    cm = page.locator("section.media[data-key=cm] .chart[data-kind=confusion_matrix]")
    expect(cm).to_have_attribute("data-drawn", "1")
    z = page.evaluate("() => document.querySelector('section[data-key=cm] .chart').data[0].z")
    assert z == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert cm.locator(".heatmaplayer image, .hm image").count() >= 1


def test_running_run_updates_live(page, site):
    import arty

    url, _, store_path = site
    run = arty.init(project="live", name="live-run", store=store_path, flush_interval=0.1, **ui.QUIET)
    try:
        for step in range(5):
            run.log({"live/metric": float(step)})
        # the run's records reach the store in the background: open the page once they have
        history = f"{url}/api/projects/live/runs/{run.id}/history"
        wait_until(lambda: _json(history).get("total_points") == 5, "the first 5 steps in the store")
        open_page(page, f"{url}/p/live/runs/{run.id}?tab=charts", "run")
        expect(page.locator("h1 .state")).to_have_text("running")
        expect(page.locator("#live")).to_be_visible()
        chart = page.locator("#run-charts .chart[data-key='live/metric'] path.js-line")
        expect(chart).to_have_count(1)
        page.wait_for_function(f"() => ({POINTS_JS})('#run-charts', 'live/metric') === 5")
        page.evaluate("window.__samePage = true")
        for step in range(5, 30):
            run.log({"live/metric": float(step)})
        # the page polls the API and redraws: 30 points, no reload
        page.wait_for_function(f"() => ({POINTS_JS})('#run-charts', 'live/metric') === 30", timeout=WAIT)
    finally:
        run.finish(quiet=True)
    expect(page.locator("h1 .state")).to_have_text("finished", timeout=WAIT)
    assert page.evaluate("window.__samePage") is True


def test_the_ui_runs_under_a_strict_content_security_policy(context, site):
    # Every test's page fixture fails on a CSP violation, so the whole UI works under the
    # policy; here the policy is shown to be enforced: no inline script, no eval, no framing.
    url, runs, _ = site
    pg = context.new_page()
    pg.set_default_timeout(WAIT)
    framer = context.new_page()
    framer.set_default_timeout(WAIT)
    try:
        open_page(pg, f"{url}/p/vision/runs/{runs['adam-lr0.01-s0']}?tab=charts", "run")
        pg.wait_for_selector("#run-charts[data-charts]")
        assert pg.evaluate("window.__csp") == []
        # (eval runs from a timer: code the test driver evaluates directly is exempt from the policy)
        pg.evaluate("""() => {
            const s = document.createElement("script");
            s.textContent = "window.__inline = true";
            document.body.append(s);
            setTimeout(() => {
                try { window.__evaluated = eval("1 + 1") === 2; } catch (e) { window.__evaluated = false; }
            }, 0);
        }""")
        pg.wait_for_function("window.__evaluated !== undefined")
        assert pg.evaluate("[window.__inline === true, window.__evaluated]") == [False, False]
        pg.wait_for_function("window.__csp.length >= 2")
        assert sorted(v.split()[0] for v in pg.evaluate("window.__csp")) == ["script-src", "script-src-elem"]
        # another page cannot frame the UI (clickjacking): the frame never shows it
        framer.set_content(f'<iframe id="f" src="{url}/" onload="this.dataset.loaded = 1"></iframe>')
        framer.wait_for_selector("#f[data-loaded]")
        child = framer.frames[1]
        assert not child.url.startswith(url) and child.locator("body[data-page]").count() == 0
    finally:
        pg.close()
        framer.close()


def test_unknown_pages_show_the_api_error(page, site):
    url, _, _ = site
    open_page(page, url + "/p/vision/runs/nosuchrun", "error")
    expect(page.locator(".error")).to_contain_text("not found")
    open_page(page, url + "/p/vision/artifacts/digits/v9", "error")
    expect(page.locator(".error")).to_contain_text("v9")
    open_page(page, url + "/p/nosuchproject", "error")
    expect(page.locator(".error")).to_contain_text("nosuchproject")


def test_writes_ask_for_the_token_and_a_wrong_one_changes_nothing(page, site):
    url, runs, store_path = site
    rid = runs["sgd-lr0.01-s0"]
    guarded = ui.ServerThread(store_path, token="s3cret").start()
    try:
        open_page(page, f"{guarded.url}/p/vision/runs/{rid}", "run")
        before = page.locator("#notes").inner_text()
        page.click("#edit-toggle")
        page.fill("#notes-input", "needs the token")
        page.click("#save-edit")
        page.fill("#token-input", "wrong")
        page.click(".token-dialog button[value=ok]")
        expect(page.locator("#edit-status .error")).to_contain_text("token")
        page.reload()
        page.wait_for_selector("body[data-page=run]")
        assert page.locator("#notes").inner_text() == before
        page.click("#edit-toggle")
        page.fill("#notes-input", "needs the token")
        page.click("#save-edit")
        page.fill("#token-input", "s3cret")
        page.click(".token-dialog button[value=ok]")
        expect(page.locator("#edit-status")).to_have_text("saved")
        page.reload()
        page.wait_for_selector("body[data-page=run]")
        assert page.locator("#notes").inner_text() == "needs the token"
    finally:
        guarded.stop()


def test_version_page_shows_edits_with_who_and_when(page, site):
    url, _, store_path = site
    from arty.artifacts import Registry
    from arty.store import open_store

    v = Registry(open_store(store_path), P).version("digits", 0)
    v.tags = ["reviewed"]
    v.save()
    open_page(page, f"{url}/p/{P}/artifacts/digits/v0", "version")
    expect(page.locator("#version-info")).to_contain_text("reviewed")
    expect(page.locator("#version-edits tr")).to_have_count(1)
    expect(page.locator("#version-edits td")).to_contain_text(re.compile(r"\S+: tags$"))


# -- team servers: the login page, sessions and cross-site requests -------------------------------

@pytest.fixture
def team_site(tmp_path):
    """A store with users (so every page needs a login): bob may write to 'vision', which has a
    run and an artifact; yields ``(server url, bob's key, run id, store)``."""
    import runrecords as rr
    from arty.server.accounts import Accounts
    from arty.store import init_store

    store, _ = init_store(str(tmp_path / "store"))
    rid = rr.finished_run(store, P, config={"lr": 0.1}, notes="before")
    accounts = Accounts(store, ttl=0)
    bob = accounts.add_user("bob")[1]
    accounts.grant("bob", P, "write")
    server = ui.ServerThread(store, auth_ttl=0.2).start()
    yield server.url, bob, rid, store
    server.stop()


def test_login_page_edit_and_logout(browser, team_site):
    url, key, rid, store = team_site
    ctx = browser.new_context()
    page = ctx.new_page()
    page.set_default_timeout(WAIT)
    try:
        open_page(page, url + "/", "login")
        page.fill("#login-key", key[:-2] + "xx")
        page.click("#login-submit")
        expect(page.locator("#login-status .error")).to_contain_text("invalid or revoked key")
        page.fill("#login-key", key)
        page.click("#login-submit")
        page.wait_for_selector("body[data-page=projects]")
        expect(page.locator("#who-name")).to_have_text("bob")
        cookies = {c["name"]: c for c in ctx.cookies()}
        assert cookies["arty_session"]["httpOnly"] and cookies["arty_session"]["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # the script cannot read the session
        expect(page.locator("#projects tr[data-project=vision]")).to_be_visible()
        open_page(page, f"{url}/p/{P}/runs/{rid}", "run")
        page.click("#edit-toggle")
        page.fill("#notes-input", "edited through the ui")
        page.click("#save-edit")
        expect(page.locator("#edit-status")).to_have_text("saved")
        edits = store.log_records(f"projects/{P}/runs/{rid}/edits")
        assert edits[-1][1]["notes"] == "edited through the ui" and edits[-1][1]["by"] == "bob"
        page.click("#logout")
        page.wait_for_selector("body[data-page=login]")
        assert "arty_session" not in {c["name"] for c in ctx.cookies()}
        page.reload()
        page.wait_for_selector("body[data-page=login]")
    finally:
        ctx.close()


#: Another site's page: a form and a fetch that try to change the server's data.
EVIL_PAGE = """<!doctype html><html><body>
<form id="f" method="post" action="{target}/api/projects/vision/runs/{rid}" enctype="text/plain">
<input name='{{"notes":"pwned","x":"' value='"}}'></form>
<script>
fetch("{target}/api/users", {{method: "POST", credentials: "include", mode: "no-cors",
  body: JSON.stringify({{name: "mallory", admin: true}})}}).catch(() => null).finally(() => {{ document.title = "sent"; }});
</script></body></html>"""


def test_a_cross_origin_post_from_another_page_is_refused(browser, team_site):
    import http.server
    import socketserver
    import threading

    url, key, rid, store = team_site
    page_html = EVIL_PAGE.format(target=url, rid=rid).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args):
            pass

    evil = socketserver.TCPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    ctx = browser.new_context()
    page = ctx.new_page()
    page.set_default_timeout(WAIT)
    try:
        open_page(page, url + "/", "login")
        page.fill("#login-key", key)
        page.click("#login-submit")
        page.wait_for_selector("body[data-page=projects]")
        before = store.log_records(f"projects/{P}/runs/{rid}/edits")
        statuses = []
        page.on("response", lambda r: statuses.append((r.request.method, r.url, r.status)) if r.url.startswith(url)
                else None)
        # another origin (another port, and another site name: localhost)
        page.goto(f"http://localhost:{evil.server_address[1]}/")
        page.wait_for_function("document.title === 'sent'")
        with page.expect_navigation():
            page.evaluate("document.getElementById('f').submit()")
        assert "change from another site refused" in page.content()
        assert ("POST", f"{url}/api/users", 403) in statuses, statuses
        assert ("POST", f"{url}/api/projects/{P}/runs/{rid}", 403) in statuses, statuses
        assert store.log_records(f"projects/{P}/runs/{rid}/edits") == before  # nothing written
        assert store.list("auth/users") == ["bob"]
        # and the session still works on the server's own pages
        open_page(page, f"{url}/p/{P}/runs/{rid}", "run")
        expect(page.locator("#who-name")).to_have_text("bob")
    finally:
        ctx.close()
        evil.shutdown()
        evil.server_close()

def test_every_media_type_is_shown(page, site, tmp_path):
    import numpy as np

    import arty

    url, _, store_path = site
    mol = tmp_path / "water.pdb"
    mol.write_text("HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\nEND\n")
    run = arty.init(project="kinds", name="all-media", store=store_path, **ui.QUIET)
    pixels = np.zeros((40, 60, 3), np.uint8)
    mask = np.zeros((40, 60), np.uint8)
    mask[10:20, 10:30] = 1
    boxes = {"predictions": {"box_data": [
        {"position": {"minX": 0.1, "maxX": 0.5, "minY": 0.2, "maxY": 0.6}, "class_id": 1, "box_caption": "cat",
         "scores": {"acc": 0.9}},
        {"position": {"middle": [40, 20], "width": 10, "height": 8}, "domain": "pixel", "class_id": 2}],
        "class_labels": {1: "cat", 2: "dog"}}}
    cloud = np.random.default_rng(0).random((50, 3))
    table = arty.Table(columns=["id", "clip"])
    table.add_data(0, arty.Audio(np.zeros(800), sample_rate=8000))
    run.log({
        "img": arty.Image(pixels, caption="boxed", boxes=boxes,
                          masks={"truth": {"mask_data": mask, "class_labels": {1: "cat"}}}),
        "sound": arty.Audio(np.sin(np.linspace(0, 2000, 8000)), sample_rate=8000, caption="sine"),
        "clip": arty.Video(np.random.default_rng(1).integers(0, 255, (4, 3, 16, 24), dtype=np.uint8), fps=4),
        "page": arty.Html("<h1 id=hi>Hello</h1><script>parent.document.title = 'owned'</script>"
                          "<img src=x onerror=\"parent.document.title = 'owned'\">"),
        "cloud": arty.Object3D(cloud),
        "fig": arty.Plotly({"data": [{"type": "bar", "x": ["a", "b"], "y": [3, 5]}], "layout": {"title": "bars"}}),
        "mol": arty.Molecule(str(mol)),
        "cells": table,
    })
    run.finish(quiet=True)
    open_page(page, f"{url}/p/kinds/runs/{run.id}?tab=media", "run")
    title = page.title()
    # image: its boxes as an SVG overlay (one rect per box) and its mask as a drawn canvas
    img = page.locator("section.media[data-key=img]")
    expect(img.locator("svg.boxes g.box rect")).to_have_count(2)
    expect(img.locator("svg.boxes text").first).to_have_text("cat acc=0.9")
    expect(img.locator("canvas.mask")).to_have_attribute("data-drawn", "1")
    page.wait_for_function("() => document.querySelector('section[data-key=img] img').naturalWidth === 60")
    # audio: the WAV loads and has a duration
    expect(page.locator("section.media[data-key=sound] audio[controls]")).to_have_count(1)
    page.wait_for_function("() => document.querySelector('section[data-key=sound] audio').duration > 0.9")
    # video: the GIF loads
    page.wait_for_function("() => document.querySelector('section[data-key=clip] img').naturalWidth === 24")
    # html: in a frame sandboxed with no permission at all; its scripts never run
    frame = page.locator("section.media[data-key=page] iframe")
    expect(frame).to_have_attribute("sandbox", "")
    expect(frame).to_have_attribute("data-loaded", "1")
    expect(page.frame_locator("section.media[data-key=page] iframe").locator("#hi")).to_have_text("Hello")
    # point cloud and plotly figure: drawn with plotly from their JSON
    cloud_el = page.locator("section.media[data-key=cloud] .chart.cloud")
    expect(cloud_el).to_have_attribute("data-drawn", "1")
    assert page.evaluate("() => document.querySelector('section[data-key=cloud] .chart').data[0].x.length") == 50
    expect(page.locator("section.media[data-key=fig] .plotly-figure")).to_have_attribute("data-drawn", "1")
    assert page.evaluate("() => document.querySelector('section[data-key=fig] .chart').data[0].y") == [3, 5]
    # molecule: a download of the stored file
    link = page.locator("section.media[data-key=mol] a.download")
    expect(link).to_have_count(1)
    assert page.request.get(url + link.get_attribute("href")).body() == mol.read_bytes()
    # a table cell holding audio is playable in the table
    page.wait_for_function("() => document.querySelector('section[data-key=cells] td audio')?.duration > 0")
    assert page.title() == title != "owned"
