"""The project workspace in real headless Chromium, on a sweep of 30 runs (5 learning rates x
2 batch sizes x 3 seeds, grouped by lr, one failed, one still running) that all use one
dataset version: run colours and eye toggles, the runs table's default columns, grouping and
sticky columns, the panel grid and saved views, sweep panels with server-side parameter
importance, media across runs with a shared step slider, and the lineage graph's collapsed
fan-out with pan and zoom.
"""

from __future__ import annotations

import math
import random

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

P = "sweep"
WAIT = 15_000
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
BATCHES = (32, 128)
SEEDS = (0, 1, 2)


def _val_loss(lr: float, batch: int, seed: int) -> float:
    """The metric the sweep measures: driven by lr (best at 1e-3), hardly by batch, noise by seed."""
    return 0.3 + 0.4 * abs(math.log10(lr) + 3) + 0.002 * (batch == 128) + random.Random(seed).uniform(0, 0.01)


def fill_sweep(store: str, folder: str) -> dict:
    """30 sweep runs using ``data:v0`` (a fan-out of 30), two of them with media; the run named
    ``lr0.01-b128-s2`` failed. Returns ``{"runs": {name: id}, "running": Run}``: one more run,
    ``live``, is left running for the caller to finish."""
    import os

    import numpy as np

    import arty

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "a.txt"), "w") as f:
        f.write("data\n")
    data = arty.Artifact("data", type="dataset")
    data.add_dir(folder)
    arty.log_artifact(data, store=store, project=P)
    ids: dict[str, str] = {}
    for lr in LRS:
        for batch in BATCHES:
            for seed in SEEDS:
                name = f"lr{lr:g}-b{batch}-s{seed}"
                run = arty.init(project=P, name=name, store=store, group=f"lr={lr:g}", job_type="train",
                                tags=["sweep", f"b{batch}"], flush_interval=0.2,
                                config={"lr": lr, "batch": batch, "seed": seed, "epochs": 3, "opt": "adam"}, **ui.QUIET)
                run.use_artifact("data:v0")
                final = _val_loss(lr, batch, seed)
                media = seed == 0 and batch == 32 and lr in (1e-3, 1e-2)
                for step in range(12):
                    row = {"train/loss": final + 1.5 * math.exp(-step / 3), "train/acc": 1 - final / 2 - 0.3 * math.exp(-step / 3)}
                    if step % 4 == 3:
                        row["val/loss"] = final + 0.5 * math.exp(-step / 3)
                    if media and step % 4 == 0:
                        img = np.zeros((8, 8, 3), dtype=np.uint8)
                        img[..., 0] = 20 * step
                        row["samples"] = [arty.Image(img, caption=f"step {step}")]
                        row["weights"] = arty.Histogram(np.random.default_rng(step).normal(step, 1, 200), num_bins=10)
                    run.log(row)  # steps 0..11 (an Image logged with step= breaks finish(): see the report)
                run.summary["val/loss"] = final
                failed = name == "lr0.01-b128-s2"
                run.finish(quiet=True, exit_code=1 if failed else 0)
                ids[name] = run.id
    live = arty.init(project=P, name="live", store=store, config={"lr": 1e-3, "batch": 32, "seed": 9}, group="lr=0.001",
                     job_type="train", flush_interval=0.1, **ui.QUIET)
    live.log({"train/loss": 1.0})
    ids["live"] = live.id
    return {"runs": ids, "running": live}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The sweep's store served on a free port: ``(url, {name: id})``."""
    import httpx

    from arty.store import init_store

    root = tmp_path_factory.mktemp("ws")
    store_path = str(root / "store")
    init_store(store_path)
    info = fill_sweep(store_path, str(root / "data"))
    server = ui.ServerThread(store_path).start()
    live = info["running"]
    # the running run's first records reach the store in the background: wait for the index to list it
    for _ in range(200):
        runs = httpx.get(f"{server.url}/api/projects/{P}/runs?limit=100").json()["runs"]
        if any(r["name"] == "live" for r in runs):
            break
        import threading
        threading.Event().wait(0.05)
    yield server.url, info["runs"]
    live.finish(quiet=True)
    server.stop()


@pytest.fixture(scope="module")
def context(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    pg = context.new_page()
    pg.set_default_timeout(WAIT)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    pg.close()
    assert not errors, f"script errors in the page: {errors}"


def open_project(page, url: str, query: str = "") -> None:
    page.goto(f"{url}/p/{P}{query}")
    page.wait_for_selector("body[data-page=project]")


def trace_names(page, key: str) -> list[str]:
    """The names of the hoverable lines plotly holds in the panel of ``key``."""
    return page.evaluate("""(key) => {
        const el = document.querySelector(`#project-charts .chart[data-key='${key}']`);
        return el && el.data ? el.data.filter(t => t.hoverinfo === 'none').map(t => t.name) : null;
    }""", key)


def wait_lines(page, key: str, names: list[str]) -> None:
    """Wait until the panel of ``key`` draws exactly the lines ``names`` (in any order)."""
    page.wait_for_function("""([key, names]) => {
        const el = document.querySelector(`#project-charts .chart[data-key='${key}']`);
        if (!el || !el.data) return false;
        const got = el.data.filter(t => t.hoverinfo === 'none').map(t => t.name).sort();
        return JSON.stringify(got) === JSON.stringify([...names].sort());
    }""", arg=[key, names])


# -- the API -------------------------------------------------------------------------------------

def test_runs_api_names_the_config_keys_that_vary(site):
    import httpx

    url, _ = site
    body = httpx.get(f"{url}/api/projects/{P}/runs?limit=100").json()
    assert set(body["varying_keys"]) == {"lr", "batch", "seed"}  # epochs and opt are the same everywhere
    one = httpx.get(f"{url}/api/projects/{P}/runs", params={"filters": '{"config.lr": 0.01, "config.batch": 32}'}).json()
    assert one["varying_keys"] == ["seed"]  # over the runs the filter matches, not the whole project


def test_importance_ranks_the_key_that_drives_the_metric_first(site):
    import httpx

    url, _ = site
    body = httpx.get(f"{url}/api/projects/{P}/importance", params={"metric": "val/loss"}).json()
    assert body["method"] == "random_forest" and body["runs"] == 30
    keys = [k["key"] for k in body["keys"]]
    assert keys[0] == "lr", body
    assert set(keys) == {"lr", "batch", "seed"}
    by = {k["key"]: k for k in body["keys"]}
    assert by["lr"]["importance"] > 0.5 > by["seed"]["importance"]
    assert all(k["correlation"] is not None for k in body["keys"])
    bad = httpx.get(f"{url}/api/projects/{P}/importance", params={"metric": "val/loss", "filters": "{nope"})
    assert bad.status_code == 400 and "filters" in bad.json()["error"]


def test_importance_without_scikit_learn_gives_correlations(monkeypatch):
    from arty.server import importance

    monkeypatch.setattr(importance, "have_sklearn", lambda: False)
    configs = [{"lr": lr, "seed": s} for lr in (0.1, 0.2, 0.3, 0.4) for s in (0, 1)]
    out = importance.importance(configs, [c["lr"] * 10 + c["seed"] * 0.01 for c in configs], ["seed", "lr"])
    assert out["method"] == "correlation" and [k["key"] for k in out["keys"]] == ["lr", "seed"]
    assert out["keys"][0]["importance"] is None and out["keys"][0]["correlation"] == pytest.approx(1, abs=1e-3)


def test_views_are_a_log_and_need_the_write_role(tmp_path):
    import httpx

    from arty.store import init_store

    store_path = str(tmp_path / "store")
    init_store(store_path)
    import arty

    arty.init(project=P, name="one", store=store_path, **ui.QUIET).finish(quiet=True)
    server = ui.ServerThread(store_path, token="s3cret").start()
    try:
        base = f"{server.url}/api/projects/{P}/views/main"
        assert httpx.post(base, json={"state": {"params": "x=1"}}).status_code == 401  # no token: nothing written
        assert httpx.get(base).status_code == 404
        auth = {"Authorization": "Bearer s3cret"}
        assert httpx.post(base, json={"state": {"params": "x=1"}}, headers=auth).json()["seq"] == 0
        assert httpx.post(base, json={"state": {"params": "x=2"}}, headers=auth).json()["seq"] == 1
        assert httpx.get(base).json()["state"] == {"params": "x=2"}
        assert httpx.get(f"{server.url}/api/projects/{P}/views").json() == [{"name": "main", "saves": 2}]
        # both saves are kept in the store: nothing overwritten
        import os
        assert sorted(os.listdir(os.path.join(store_path, "projects", P, "views", "main"))) == [
            "00000000.json", "00000001.json"]
        assert httpx.post(f"{server.url}/api/projects/{P}/views/..bad", json={"state": {}}, headers=auth).status_code == 400
    finally:
        server.stop()


# -- run colours and eye toggles ----------------------------------------------------------------------

def test_run_colours_are_stable_and_eyes_hide_runs_and_groups(page, site):
    url, runs = site
    open_project(page, url)
    # each run's swatch is the colour of its id, the same on every load, from a palette of >= 20
    palette = page.evaluate("async () => (await import('/static/colors.js')).PALETTE")
    assert len(set(palette)) >= 20
    rid = runs["lr0.001-b32-s0"]
    sw = page.locator(f"#runs-table tr[data-run='{rid}'] .swatch")
    colour = sw.get_attribute("data-color")
    assert colour in palette
    assert colour == page.evaluate(f"async () => (await import('/static/colors.js')).colorOf('{rid}')")
    page.reload()
    page.wait_for_selector("body[data-page=project]")
    assert page.locator(f"#runs-table tr[data-run='{rid}'] .swatch").get_attribute("data-color") == colour
    # group by lr: one line per group; the group's eye removes its line from every panel
    page.select_option("#group-by", "lr")
    expect(page.locator("#runs-table tr.group-row")).to_have_count(5)
    wait_lines(page, "train/loss", ["lr = 1e-4", "lr = 3e-4", "lr = 0.001", "lr = 0.003", "lr = 0.01"])
    page.locator("#runs-table tr.group-row[data-group='0.01'] button.eye").click()
    page.wait_for_function("() => document.querySelector(\"#project-charts .chart[data-key='train/loss']\")?.dataset.lines === '4'")
    for key in ("train/loss", "train/acc", "val/loss"):
        names = trace_names(page, key)
        assert "lr = 0.01" not in names and len(names) == 4, (key, names)
    assert "hide=g%3A0.01" in page.url or "hide=g:0.01" in page.url
    # the group's colour is its own and stable; the line drawn has it
    gcolour = page.locator("#runs-table tr.group-row[data-group='0.001'] .swatch").get_attribute("data-color")
    line = page.evaluate("""() => document.querySelector("#project-charts .chart[data-key='train/loss']").data
        .find(t => t.name === 'lr = 0.001' && t.hoverinfo === 'none').line.color""")
    assert line == gcolour
    # shown again
    page.locator("#runs-table tr.group-row[data-group='0.01'] button.eye").click()
    page.wait_for_function("() => document.querySelector(\"#project-charts .chart[data-key='train/loss']\")?.dataset.lines === '5'")


def test_a_runs_eye_hides_it_and_the_tooltip_lists_every_run_sorted(page, site):
    url, runs = site
    page.goto(url + "/")
    names = ["lr0.0001-b32-s0", "lr0.001-b32-s0", "lr0.01-b32-s0"]
    page.evaluate("([p, sel]) => sessionStorage.setItem('arty-selection:' + p, JSON.stringify(sel))",
                  [P, [[runs[n], n] for n in names]])
    open_project(page, url)
    page.wait_for_function("() => document.querySelector(\"#project-charts .chart[data-key='train/loss']\")?.dataset.lines === '3'")
    assert sorted(trace_names(page, "train/loss")) == sorted(names)
    # hover: the tooltip names every run with its value at that x, highest first
    chart = page.locator("#project-charts .chart[data-key='train/loss'] .nsewdrag").first
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=3)
    tip = page.locator(".panel[data-key='train/loss'] .hover-tip")
    expect(tip).to_be_visible()
    rows = tip.locator(".tip-row")
    expect(rows).to_have_count(3)
    shown = rows.locator(".tip-name").all_inner_texts()
    assert sorted(shown) == sorted(names)
    values = [float(v) for v in rows.locator(".tip-value").all_inner_texts()]
    assert values == sorted(values, reverse=True)
    assert shown[-1] == "lr0.001-b32-s0"  # the best lr has the lowest loss
    page.mouse.move(0, 0)
    # one run's eye: gone from the charts, still selected in the table
    page.locator(f"#runs-table tr[data-run='{runs['lr0.01-b32-s0']}'] button.eye").click()
    page.wait_for_function("() => document.querySelector(\"#project-charts .chart[data-key='train/loss']\")?.dataset.lines === '2'")
    assert "lr0.01-b32-s0" not in trace_names(page, "train/loss")
    expect(page.locator(f"#runs-table tr[data-run='{runs['lr0.01-b32-s0']}'] td.sel input")).to_be_checked()


# -- the runs table -----------------------------------------------------------------------------------

def test_table_defaults_to_the_varying_keys_and_short_numbers(page, site):
    url, runs = site
    open_project(page, url)
    cols = page.locator("#runs-table thead th[data-sort^='config.']").evaluate_all("els => els.map(e => e.dataset.sort)")
    assert set(cols) == {"config.lr", "config.batch", "config.seed"}, cols  # not epochs or opt (the same everywhere)
    assert page.locator("#runs-table thead th[data-sort='summary.val/loss']").count() == 1
    cell = page.locator(f"#runs-table tr[data-run='{runs['lr0.0003-b32-s0']}'] td[data-col='config.lr']")
    expect(cell).to_have_text("3e-4")
    assert cell.evaluate("el => getComputedStyle(el).textAlign") == "right"
    # sticky: the checkbox and name columns stay put when the table scrolls sideways
    page.set_viewport_size({"width": 700, "height": 900})
    wrap = page.locator(".table-wrap")
    name = page.locator(f"#runs-table tr[data-run='{runs['lr0.0003-b32-s0']}'] td.name")
    before = name.bounding_box()["x"]
    wrap.evaluate("el => { el.scrollLeft = 400; }")
    assert wrap.evaluate("el => el.scrollLeft") > 100
    assert abs(name.bounding_box()["x"] - before) < 1
    assert page.locator(f"#runs-table tr[data-run='{runs['lr0.0003-b32-s0']}'] td.sel input").is_visible()
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_group_by_group_and_a_config_key_nested_sorted_by_value(page, site):
    url, runs = site
    open_project(page, url)
    page.select_option("#group-by", "@group")
    top = page.locator("#runs-table tr.group-row.depth-0")
    expect(top).to_have_count(5)
    assert top.evaluate_all("els => els.map(e => e.dataset.group)") == [
        "lr=0.0001", "lr=0.0003", "lr=0.001", "lr=0.003", "lr=0.01"]
    page.select_option("#group-by-2", "batch")
    expect(page.locator("#runs-table tr.group-row.depth-1")).to_have_count(10)
    # opening a group shows its sub-groups, sorted by value (32 before 128); opening one shows its runs
    page.locator("#runs-table tr.group-row[data-group='lr=0.001'] button.expander").click()
    sub = page.locator("#runs-table tr.group-row.depth-1:visible")
    assert sub.evaluate_all("els => els.map(e => e.dataset.group)") == ["lr=0.001|32", "lr=0.001|128"]
    page.locator("#runs-table tr.group-row[data-group='lr=0.001|32'] button.expander").click()
    # 3 seeds and the running run, grouped in lr=0.001 with batch 32
    expect(page.locator("#runs-table tr.member:visible")).to_have_count(4)
    assert "group2=batch" in page.url
    # charts: one line per innermost group
    page.wait_for_function("() => document.querySelector(\"#project-charts .chart[data-key='train/loss']\")?.dataset.lines === '10'")
    assert "lr=0.001, batch = 128" in " ".join(trace_names(page, "train/loss")).replace("group = ", "")
    # by tag: a group per tag
    page.select_option("#group-by", "@tag")
    tags = page.locator("#runs-table tr.group-row.depth-0")
    expect(tags).to_have_count(4)  # a run is in the group of each of its tags; "live" has none
    assert tags.evaluate_all("els => els.map(e => e.dataset.group)") == ["b32", "b128", "sweep", "(none)"]
    # by job type
    page.select_option("#group-by-2", "")
    page.select_option("#group-by", "@job_type")
    expect(page.locator("#runs-table tr.group-row")).to_have_count(1)


# -- the panel grid and saved views ------------------------------------------------------------------

def test_panel_grid_sections_search_columns_and_per_panel_settings(page, site):
    url, runs = site
    open_project(page, url)
    page.wait_for_function("() => document.querySelector(\"#project-charts .chart[data-key='val/loss']\")?.dataset.drawn")
    sections = page.locator("#project-charts details.panel-section")
    assert sections.evaluate_all("els => els.map(e => e.dataset.section)") == ["train", "val"]
    assert page.locator("#project-charts details[data-section=train] .panel").evaluate_all(
        "els => els.map(e => e.dataset.key)") == ["train/acc", "train/loss"]
    # columns: 3 panels side by side
    page.select_option("#panel-cols", "3")
    page.wait_for_function("() => getComputedStyle(document.querySelector('.panel-grid')).gridTemplateColumns.split(' ').length === 3")
    # search
    page.fill("#chart-keys", "loss")
    page.wait_for_function("() => document.querySelector('#project-charts').dataset.panels === '2'")
    # a section folds; its state is in the URL
    page.locator("#project-charts details[data-section=val] > summary").click()
    page.wait_for_function("() => location.search.includes('closed=val')")
    # per-panel settings: log scale and a y range on one panel only
    panel = page.locator(".panel[data-key='train/loss']")
    panel.locator("button.gear").click()
    panel.locator("form.panel-settings select[name=logY]").select_option("1")
    panel.locator("form.panel-settings input[name=ymin]").fill("0.1")
    panel.locator("form.panel-settings input[name=ymax]").fill("10")
    panel.locator("form.panel-settings button[type=submit]").click()
    page.wait_for_function("""() => {
        const el = document.querySelector(".chart[data-key='train/loss']");
        return el.layout.yaxis.type === 'log' && el.layout.yaxis.range[0] === -1 && el.layout.yaxis.range[1] === 1;
    }""")
    assert page.evaluate("document.querySelector(\".chart[data-key='train/acc']\")?.layout?.yaxis.type") in (None, "linear")
    assert "panels=" in page.url


def test_a_saved_view_reloads_the_same_panel_settings(page, site):
    url, runs = site
    open_project(page, url, "?pcols=3&keys=loss&smooth=0.5&group=lr&hide=g%3A0.01")
    panel = page.locator(".panel[data-key='train/loss']")
    panel.locator("button.gear").click()
    panel.locator("form.panel-settings select[name=x]").select_option("_runtime")
    panel.locator("form.panel-settings button[type=submit]").click()
    page.wait_for_function("() => location.search.includes('panels=')")
    page.fill("#view-name", "lr-study")
    page.click("#view-save")
    expect(page.locator("#view-status")).to_contain_text("saved 'lr-study'")
    # a fresh page without any of it, then the view opened from the menu
    open_project(page, url)
    expect(page.locator("#view-select option[value='lr-study']")).to_have_count(1)
    page.select_option("#view-select", "lr-study")
    page.wait_for_function("() => location.search.includes('view=lr-study')")
    page.wait_for_selector("body[data-page=project]")
    expect(page.locator("#panel-cols")).to_have_value("3")
    expect(page.locator("#chart-keys")).to_have_value("loss")
    expect(page.locator("#group-by")).to_have_value("lr")
    page.wait_for_function("() => document.querySelector(\".panel[data-key='train/loss']\")?.dataset.x === '_runtime'")
    assert page.evaluate("document.querySelector(\".panel[data-key='train/loss']\").classList.contains('custom')")
    page.wait_for_function("() => document.querySelector(\"#project-charts .chart[data-key='train/loss']\")?.dataset.lines === '4'")
    assert "lr = 0.01" not in trace_names(page, "train/loss")


# -- sweep panels -----------------------------------------------------------------------------------------

def test_sweep_panels_parallel_coordinates_scatter_and_importance(page, site):
    url, _ = site
    open_project(page, url, "?smetric=val%2Floss")
    page.wait_for_function("() => document.querySelector(\"#sweep .chart[data-key='sweep:parallel']\")?.dataset.drawn")
    expect(page.locator("#sweep-metric")).to_have_value("val/loss")
    par = page.locator("#sweep .chart[data-key='sweep:parallel']")
    # lr, batch, seed, then the metric; 30 finished runs with val/loss (the running one has none)
    dims = par.locator("g.axis").evaluate_all("els => els.map(e => e.dataset.label)")
    assert dims == ["batch", "lr (log)", "seed", "val/loss"], dims  # the varying keys, then the metric
    expect(par.locator("polyline.pc-line")).to_have_count(30)
    # importance, ranked by the server: lr first
    rows = page.locator("#importance tr[data-key]")
    expect(rows).to_have_count(3)
    assert rows.first.get_attribute("data-key") == "lr"
    expect(page.locator("#importance")).to_have_attribute("data-method", "random_forest")
    # scatter against a chosen key, and against time
    page.select_option("#sweep-x", "batch")
    page.wait_for_function("() => document.querySelector(\"#sweep .chart[data-key='sweep:scatter']\").data[0].x.every(v => v === 32 || v === 128)")
    page.select_option("#sweep-x", "@created_at")
    page.wait_for_function("() => document.querySelector(\"#sweep .chart[data-key='sweep:scatter']\").layout.xaxis.type === 'date'")
    assert "sx=%40created_at" in page.url or "sx=@created_at" in page.url


# -- media across runs -------------------------------------------------------------------------------------

def test_media_side_by_side_with_a_shared_step_slider_and_zoom(page, site):
    url, runs = site
    a, b = runs["lr0.001-b32-s0"], runs["lr0.01-b32-s0"]
    page.goto(url + "/")
    page.evaluate("([p, sel]) => sessionStorage.setItem('arty-selection:' + p, JSON.stringify(sel))",
                  [P, [[a, "lr0.001-b32-s0"], [b, "lr0.01-b32-s0"], [runs["lr0.0001-b32-s1"], "lr0.0001-b32-s1"]]])
    open_project(page, url, "?media=samples")
    grid = page.locator("#media-compare .media-compare")
    expect(grid.locator("figure.media-run")).to_have_count(3)
    expect(page.locator("#media-key")).to_have_value("samples")
    # the last step by default: both runs with media show their step-8 image; the third has none
    expect(grid).to_have_attribute("data-step", "8")
    expect(grid.locator(f"figure.media-run[data-run='{a}'] img")).to_have_count(1)
    expect(grid.locator(f"figure.media-run[data-run='{b}'] img")).to_have_count(1)
    expect(grid.locator(f"figure.media-run[data-run='{runs['lr0.0001-b32-s1']}']")).to_contain_text("nothing logged")
    # one slider moves every run to the same step
    page.locator("#media-step").evaluate("el => { el.value = '0'; el.dispatchEvent(new Event('input')); }")
    expect(grid).to_have_attribute("data-step", "0")
    expect(grid.locator(f"figure.media-run[data-run='{a}'] figcaption").last).to_have_text("step 0")
    expect(grid.locator(f"figure.media-run[data-run='{b}'] figcaption").last).to_have_text("step 0")
    # tiny images are scaled up without smoothing; a click opens them full size
    img = grid.locator(f"figure.media-run[data-run='{a}'] img")
    assert img.evaluate("el => getComputedStyle(el).imageRendering") == "pixelated"
    img.click()
    zoom = page.locator("dialog#image-zoom img")
    expect(zoom).to_be_visible()
    assert zoom.evaluate("el => el.getBoundingClientRect().width") >= 500
    page.keyboard.press("Escape")
    expect(page.locator("dialog#image-zoom")).to_have_count(0)
    # the histogram key, side by side too
    page.select_option("#media-key", "weights")
    expect(grid.locator(f"figure.media-run[data-run='{a}'] svg.mini-hist rect")).to_have_count(10)


# -- lineage ------------------------------------------------------------------------------------------------

def test_lineage_collapses_a_fan_out_and_pans_and_zooms(page, site):
    url, _ = site
    page.goto(f"{url}/p/{P}/artifacts/data/v0")
    page.wait_for_selector("body[data-page=version]")
    group = page.locator("#lineage .node-group")
    expect(group).to_have_count(1)
    expect(group).to_contain_text("30 runs")
    expect(page.locator("#lineage .node-run")).to_have_count(0)
    # zoom with the wheel and pan by dragging: the view's transform changes
    svg = page.locator("#lineage svg.pannable")
    before = page.locator("#lineage g.viewport").get_attribute("transform")
    box = svg.bounding_box()
    page.mouse.move(box["x"] + 50, box["y"] + 30)
    page.mouse.wheel(0, -300)
    page.wait_for_function(f"() => document.querySelector('#lineage g.viewport').getAttribute('transform') !== {before!r}")
    zoomed = page.locator("#lineage g.viewport").get_attribute("transform")
    assert "scale(1)" not in zoomed
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 60, steps=5)
    page.mouse.up()
    assert page.locator("#lineage g.viewport").get_attribute("transform") != zoomed
    # expanded: every run its own node
    page.click("#lineage button#lineage-reset")
    group.click()
    expect(page.locator("#lineage .node-run")).to_have_count(30)
    expect(page.locator("#lineage .node-group")).to_have_count(0)


def test_system_metrics_form_the_last_section_against_relative_time(page, tmp_path):
    """System samples (no step) join the grid as the "system" section, drawn against relative
    time while the logged metrics stay on the step."""
    import arty
    from arty.store import init_store
    from arty.tracking.system import SystemSampler

    store = str(tmp_path / "store")
    init_store(store)
    run = arty.init(project="sys", name="with-system", store=store, **ui.QUIET)
    with SystemSampler(gpu=None) as sampler:
        for step in range(3):
            run.log({"train/loss": 1.0 / (step + 1)})
            run._on_system(run._start_wall + step, sampler.sample())  # what the monitor thread does
    run.finish(quiet=True)
    server = ui.ServerThread(store).start()
    try:
        page.goto(f"{server.url}/p/sys")
        page.wait_for_function("() => document.querySelector(\"#project-charts .chart[data-key='system/cpu.percent']\")?.dataset.drawn")
        sections = page.locator("#project-charts details.panel-section").evaluate_all("els => els.map(e => e.dataset.section)")
        assert sections == ["train", "system"]
        axis = page.evaluate("""() => [".chart[data-key='system/cpu.percent']", ".chart[data-key='train/loss']"].map(
            (s) => document.querySelector(s).layout.xaxis.title.text)""")
        assert axis == ["relative time (s)", "step"]
        xs = page.evaluate("document.querySelector(\".chart[data-key='system/cpu.percent']\").data.find(t => t.hoverinfo === 'none').x")
        assert xs == [0, 1, 2]
    finally:
        server.stop()


def test_a_panel_dragged_taller_redraws_its_chart_and_keeps_the_height(page, site):
    """Panels resize (a CSS resize handle); the chart follows the new height, which is kept in
    the panel's settings, so in the address: a reload draws it that tall again."""
    url, runs = site
    open_project(page, url)
    page.wait_for_function("() => document.querySelector(\".chart[data-key='train/loss']\")?.dataset.drawn")
    panel = ".panel[data-key='train/loss']"
    assert page.evaluate(f"getComputedStyle(document.querySelector(\"{panel}\")).resize") == "vertical"
    before = page.evaluate(f"document.querySelector(\"{panel} .chart\").layout.height")
    page.evaluate(f"document.querySelector(\"{panel}\").style.height = '480px'")  # what dragging the handle does
    page.wait_for_function(f"""() => {{
        const el = document.querySelector("{panel} .chart");
        return el.layout.height > 400 && el.getBoundingClientRect().height > 400;
    }}""")
    assert page.evaluate(f"document.querySelector(\"{panel} .chart\").layout.height") > before
    page.wait_for_function("() => location.search.includes('480')")
    page.reload()
    page.wait_for_function(f"() => document.querySelector(\"{panel} .chart\")?.layout?.height > 400")
    assert page.evaluate(f"document.querySelector(\"{panel}\").style.height") == "480px"
    # another panel kept its own height
    assert page.evaluate("document.querySelector(\".panel[data-key='train/acc'] .chart\").layout.height") == before
