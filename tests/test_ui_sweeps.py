"""The sweep pages of the web UI in real headless Chromium, and their JSON endpoints.

A sweep run by an in-process agent (one trial fails, one logs no metric); the sweep page shows
its trials with the best one highlighted, parallel coordinates of params and metric, and a
scatter of the metric against each param with the best trial marked.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

import arty
import ui_helpers as ui
from test_server_ui import context, page  # noqa: F401 - fixtures used by name
from test_server_ui import open_page

from playwright.sync_api import expect  # noqa: E402

P = "tune"


@pytest.fixture(scope="module")
def sweep_site(tmp_path_factory):
    """``(url, sweep id, status)``: a grid sweep of 6 trials over lr x opt, served."""
    from arty.store import init_store
    from arty.sweeps.runner import Sweep
    from arty.sweeps.status import status

    root = tmp_path_factory.mktemp("sweep-ui")
    store = init_store(str(root / "store"))[0]
    mp = pytest.MonkeyPatch()
    for k in ("ARTY_SYSTEM_METRICS", "ARTY_CONSOLE", "ARTY_CODE"):
        mp.setenv(k, "0")
    sid = arty.sweep({"method": "grid", "name": "lr-opt", "metric": {"name": "val_loss", "goal": "minimize"},
                      "parameters": {"lr": {"values": [0.001, 0.01, 0.1]}, "opt": {"values": ["adam", "sgd"]}}},
                     project=P, store=store)

    def train():
        run = arty.init()
        lr, opt = run.config["lr"], run.config["opt"]
        if lr == 0.1 and opt == "sgd":
            raise RuntimeError("diverged")
        for step in range(3):
            run.log({"val_loss": abs(lr - 0.01) * 10 + (0.5 if opt == "sgd" else 0.1) + 1 / (step + 1)})

    arty.agent(sid, train, project=P, store=store)
    mp.undo()
    server = ui.ServerThread(str(root / "store")).start()
    yield server.url, sid, status(Sweep(store, P, sid))
    server.stop()


def _get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sweep_endpoints(sweep_site):
    url, sid, st = sweep_site
    code, listing = _get(f"{url}/api/projects/{P}/sweeps")
    assert code == 200 and [s["id"] for s in listing] == [sid]
    assert listing[0]["counts"] == {"failed": 1, "finished": 5} and listing[0]["name"] == "lr-opt"
    code, one = _get(f"{url}/api/projects/{P}/sweeps/{sid}")
    assert code == 200 and one["params"] == ["lr", "opt"] and len(one["trials"]) == 6
    assert one["best"] == 2 and one["trials"][2]["params"] == {"lr": 0.01, "opt": "adam"}
    assert one["trials"][2]["history"] and one["trials"][5]["state"] == "failed"
    code, err = _get(f"{url}/api/projects/{P}/sweeps/zzzzzzzz")
    assert code == 404 and "sweep 'zzzzzzzz' not found" in json.dumps(err)


def test_sweep_page_shows_trials_parcoords_and_scatter_with_the_best_marked(sweep_site, page):  # noqa: F811
    url, sid, st = sweep_site
    open_page(page, f"{url}/p/{P}/sweeps", "sweeps")
    page.click(f"#sweeps tr[data-sweep='{sid}'] a")
    page.wait_for_selector("body[data-page=sweep]")
    rows = page.locator("#trials tbody tr")
    expect(rows).to_have_count(6)
    expect(page.locator("#trials tr.best")).to_have_count(1)
    expect(page.locator("#trials tr.best")).to_have_attribute("data-trial", "2")
    expect(page.locator("#trials tr[data-trial='5']")).to_have_attribute("data-state", "failed")
    expect(page.locator("#sweep-best")).to_contain_text("trial 2")
    axes = page.locator("#sweep-parcoords svg.parallel g.axis")
    expect(axes).to_have_count(3)
    labels = [axes.nth(i).get_attribute("data-label") for i in range(3)]
    assert labels[0].startswith("lr") and labels[1:] == ["opt", "val_loss"]
    expect(page.locator("#sweep-parcoords polyline.pc-line")).to_have_count(5)  # the failed trial has no metric
    expect(page.locator("#sweep-parcoords polyline.best")).to_have_attribute("data-trial", "2")
    page.wait_for_selector(".sweep-scatter[data-param='opt'] .scatterlayer", state="attached")
    best = page.evaluate("""() => [...document.querySelectorAll('.sweep-scatter')].map(el => ({
        param: el.dataset.param, points: el.data[0].y.length, best: [el.data[1].x, el.data[1].y]}))""")
    assert [b["param"] for b in best] == ["lr", "opt"]
    assert all(b["points"] == 5 for b in best)
    assert best[0]["best"][0] == [0.01] and best[1]["best"][0] == ["adam"]
    assert best[0]["best"][1] == [pytest.approx(st["trials"][2]["value"])]


def test_unknown_sweep_page_says_so(sweep_site, page):  # noqa: F811
    url, _sid, _st = sweep_site
    page.goto(f"{url}/p/{P}/sweeps/zzzzzzzz")
    page.wait_for_selector("body[data-page=error]")
    expect(page.locator(".error")).to_contain_text("sweep 'zzzzzzzz' not found")
