"""The compare view and the plots of pipeline steps in real headless Chromium.

Three runs with config and summary that differ in known keys, a history each and images at the
same steps: selecting them in the runs table and pressing Compare opens the compare view, whose
URL holds the selection; exactly the differing keys are highlighted, "only differences" hides the
others, each chart draws one line per run, and the media key is shown for every run at one step.
A step run by ``art run --plot`` has its plots drawn on the run page like Python-logged metrics.
"""

from __future__ import annotations

import sys

import pytest

import ui_helpers as ui
from conftest import run_art

pytest.importorskip("fastapi", reason="the UI tests need the server extra (pip install -e '.[test]')")
pytest.importorskip("uvicorn", reason="the UI tests need the server extra (pip install -e '.[test]')")
pytest.importorskip("plotly", reason="the UI tests need plotly (pip install -e '.[test]')")
pytest.importorskip("playwright.sync_api", reason="the UI tests need playwright (pip install -e '.[test]')")
if not ui.have_chromium():
    pytest.skip(f"the UI tests need Debian's Chromium at {ui.CHROMIUM} (apt-get install -y chromium)",
                allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

P = "cmp"
WAIT = 15_000
RUNS = {  # name -> (config, summary)
    "a": ({"lr": 0.1, "batch": 32, "opt": "adam"}, {"acc": 0.9, "epochs_done": 3}),
    "b": ({"lr": 0.01, "batch": 32, "opt": "adam"}, {"acc": 0.8, "epochs_done": 3}),
    "c": ({"lr": 0.1, "batch": 32, "opt": "adam", "warmup": 5}, {"acc": 0.9, "epochs_done": 3}),
}
DIFF_CONFIG = ["lr", "warmup"]
DIFF_SUMMARY = ["acc", "loss"]  # loss: the history's last value, different per run


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    import numpy as np

    import arty
    from arty.store import init_store

    root = tmp_path_factory.mktemp("cmp")
    store = str(root / "store")
    init_store(store)
    ids = {}
    for k, (name, (config, summary)) in enumerate(RUNS.items()):
        run = arty.init(project=P, name=name, store=store, config=config, **ui.QUIET)
        for step in range(6):
            row = {"loss": 1.0 / (step + 1) + k}
            if step in (0, 5):
                img = np.zeros((6, 6, 3), dtype=np.uint8)
                img[..., k] = 40 * (step + 1)
                row["sample"] = arty.Image(img, caption=f"{name} {step}")
            run.log(row)
        for key, value in summary.items():
            run.summary[key] = value
        run.finish(quiet=True)
        ids[name] = run.id
    # A pipeline step with plots files, run by the real CLI.
    step_dir = root / "step"
    step_dir.mkdir()
    (step_dir / "w.py").write_text(
        "import json\n"
        "open('loss.csv', 'w').write('epoch,loss\\n0,0.9\\n1,0.5\\n2,0.2\\n')\n"
        "json.dump([{'actual': a, 'predicted': p} for a, p in [(0, 0), (0, 1), (1, 1), (1, 1)]], open('cm.json', 'w'))\n")
    for key in ("step", "step2"):
        out = run_art("--project", "steps", "run", "--name", "train", "--plot", "loss.csv: {x: epoch}",
                      "--plot", "cm.json: {template: confusion}", "--", sys.executable, "w.py",
                      cwd=step_dir, env={"ARTY_STORE": store})
        assert out.returncode == 0, out.stderr
        ids[key] = out.stderr.split("art run: run steps/")[1].split()[0]
    server = ui.ServerThread(store).start()
    yield server.url, ids
    server.stop()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(WAIT)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield pg
    ctx.close()
    assert not errors, f"errors in the page: {errors}"


def open_page(page, url: str, name: str) -> None:
    page.goto(url)
    page.wait_for_selector(f"body[data-page={name}]")


def keys(page, part: str, cls: str) -> list[str]:
    return page.locator(f"#{part} tbody tr.{cls}").evaluate_all("els => els.map(e => e.dataset.key)")


def visible_keys(page, part: str) -> list[str]:
    return page.locator(f"#{part} tbody tr[data-key]").evaluate_all(
        "els => els.filter(e => e.offsetParent !== null).map(e => e.dataset.key)")


def test_compare_from_the_runs_table_highlights_exactly_the_differences(page, site):
    url, ids = site
    open_page(page, f"{url}/p/{P}", "project")
    button = page.locator("#compare-selected")
    for name in ("a", "b", "c"):  # select exactly a, b and c
        box = page.locator(f"#runs-table tr[data-run='{ids[name]}'] td.sel input")
        if not box.is_checked():
            box.check()
    expect(button).to_be_enabled()
    expect(button).to_have_text("Compare 3")
    button.click()
    page.wait_for_selector("body[data-page=compare]")
    # The URL holds the selection (in the table's order); opening it again shows the same view.
    chosen = page.evaluate("() => new URL(location.href).searchParams.get('runs').split(',')")
    assert sorted(chosen) == sorted(ids[n] for n in "abc")
    cols = page.locator("#compare-config thead th[data-run]").evaluate_all("els => els.map(e => e.dataset.run)")
    assert cols == chosen
    assert keys(page, "compare-config", "differs") == DIFF_CONFIG
    assert keys(page, "compare-config", "same") == ["batch", "opt"]
    assert keys(page, "compare-summary", "differs") == DIFF_SUMMARY
    assert keys(page, "compare-summary", "same") == ["epochs_done"]
    # highlighted: the differing rows are drawn on another background than the others
    bg = page.evaluate("""() => [...document.querySelectorAll('#compare-config tbody tr')].map(tr =>
        [tr.dataset.key, getComputedStyle(tr.querySelector('td[data-run]')).backgroundColor])""")
    colours = {k: c for k, c in bg}
    assert colours["lr"] == colours["warmup"] != colours["batch"] == colours["opt"]
    # the run that lacks 'warmup' shows a dash there
    warm = page.locator("#compare-config tr[data-key=warmup] td[data-run]").all_inner_texts()
    assert warm == ["—" if n != "c" else "5" for n in [next(k for k, v in ids.items() if v == r) for r in chosen]]

    # "only differences" hides the rest, and the URL keeps it.
    assert visible_keys(page, "compare-config") == ["batch", "lr", "opt", "warmup"]
    page.check("#only-diff")
    assert visible_keys(page, "compare-config") == DIFF_CONFIG
    assert visible_keys(page, "compare-summary") == DIFF_SUMMARY
    assert "diff=1" in page.url
    page.reload()
    page.wait_for_selector("body[data-page=compare]")
    expect(page.locator("#only-diff")).to_be_checked()
    assert visible_keys(page, "compare-config") == DIFF_CONFIG
    page.uncheck("#only-diff")
    assert visible_keys(page, "compare-summary") == ["acc", "epochs_done", "loss"]


def test_compare_charts_one_line_per_run_and_media_side_by_side(page, site):
    url, ids = site
    chosen = [ids["a"], ids["b"], ids["c"]]
    open_page(page, f"{url}/p/{P}/compare?runs={','.join(chosen)}", "compare")
    chart = page.locator("#compare-charts .chart[data-key=loss]")
    expect(chart).to_have_attribute("data-lines", "3")
    traces = page.evaluate("""() => document.querySelector("#compare-charts .chart[data-key=loss]").data
        .filter(t => t.opacity === undefined).map(t => [t.name, t.y[t.y.length - 1]])""")
    names = {"a": 0, "b": 1, "c": 2}
    assert sorted(traces) == sorted([n, 1 / 6 + k] for n, k in names.items())
    # The same media key of every run at one step, side by side.
    grid = page.locator("#media-compare .media-compare")
    expect(grid.locator("figure.media-run")).to_have_count(3)
    expect(grid).to_have_attribute("data-step", "5")
    assert grid.locator("figure.media-run").evaluate_all("els => els.map(e => e.dataset.run)") == chosen
    assert grid.locator("figure.media-run[data-step='5'] img").count() == 3
    page.locator("#media-step").fill("0")
    expect(grid).to_have_attribute("data-step", "0")
    assert grid.locator("figure.media-run[data-step='0'] img").count() == 3


def test_compare_needs_two_runs(page, site):
    url, ids = site
    open_page(page, f"{url}/p/{P}/compare?runs={ids['a']}", "compare")
    expect(page.locator(".error")).to_contain_text("select at least two runs")


def test_a_steps_plots_are_drawn_on_its_run_page(page, site):
    url, ids = site
    open_page(page, f"{url}/p/steps/runs/{ids['step']}?tab=charts", "run")
    page.wait_for_selector("#run-charts[data-charts]")
    ks = page.locator("#run-charts .chart").evaluate_all("els => els.map(e => e.dataset.key)")
    assert ks == ["loss/loss"]
    ys = page.evaluate("""() => document.querySelector("#run-charts .chart[data-key='loss/loss']").data
        .find(t => t.name === 'loss/loss').y""")
    assert ys == [0.9, 0.5, 0.2]
    open_page(page, f"{url}/p/steps/runs/{ids['step']}?tab=media", "run")
    cm = page.locator("section.media[data-key=cm] .chart[data-kind=confusion_matrix]")
    expect(cm).to_have_attribute("data-drawn", "1")
    assert page.evaluate("() => document.querySelector('section[data-key=cm] .chart').data[0].z") == [[1, 1], [0, 2]]


def test_compare_draws_the_chart_of_a_plots_table_for_each_run(page, site):
    url, ids = site
    open_page(page, f"{url}/p/steps/compare?runs={ids['step']},{ids['step2']}&media=cm", "compare")
    charts = page.locator("#media-compare figure.media-run .chart[data-kind=confusion_matrix]")
    expect(charts).to_have_count(2)
    for i in range(2):
        expect(charts.nth(i)).to_have_attribute("data-drawn", "1")
    assert page.evaluate("""() => [...document.querySelectorAll('#media-compare .chart[data-kind=confusion_matrix]')]
        .map(el => el.data[0].z)""") == [[[1, 1], [0, 2]]] * 2
