"""Plots from any step: ``plots:`` in arty.yaml and ``art run --plot`` record CSV/TSV/JSON/YAML
series in the run's history and confusion matrices, PR curves and scatters as chart tables; a bad
plots file fails the step by name and the others are still recorded. ``art plots diff`` writes an
offline HTML page comparing two runs or two experiments.

Real CLI in subprocesses, real commands, a real local store.
"""

from __future__ import annotations

import json
import sys

import pytest
import yaml

import arty
from arty.api import Api
from arty.errors import NotFound, UsageError
from arty.pipeline import load_pipeline
from arty.pipeline.plots import PlotError, parse_plot_option, read_plot
from conftest import run_art

PY = sys.executable

#: A step script: writes a loss curve (CSV, x = epoch), accuracy (TSV, no x: the row index),
#: a confusion matrix (JSON samples), a PR curve (JSON object holding an array) and a scatter (YAML).
WRITER = r'''
import json, os, sys
lr = float(sys.argv[1])
os.makedirs("plots", exist_ok=True)
with open("plots/train.csv", "w") as f:
    f.write("epoch,loss,val_loss\n")
    for e in range(1, 6):
        f.write(f"{e},{1.0 / (e * lr * 10):.4f},{1.2 / (e * lr * 10):.4f}\n")
with open("plots/acc.tsv", "w") as f:
    f.write("acc\n0.5\n0.7\n0.9\n")
samples = [("cat", "cat")] * 3 + [("cat", "dog")] + [("dog", "dog")] * 2
json.dump([{"actual": a, "predicted": p} for a, p in samples], open("plots/cm.json", "w"))
json.dump({"pr": [{"recall": r / 4, "precision": 1 - r / 8} for r in range(5)]}, open("plots/pr.json", "w"))
open("plots/emb.yaml", "w").write("- {u: 0.1, v: 0.2}\n- {u: 0.4, v: 0.3}\n- {u: 0.9, v: 0.8}\n")
'''

PLOTS = [
    "plots/train.csv: {x: epoch}",
    "plots/acc.tsv",
    "plots/cm.json: {template: confusion, x: actual, y: predicted}",
    "plots/pr.json: {x: recall, y: precision, title: PR curve}",
    "plots/emb.yaml: {template: scatter, x: u, y: v}",
]


@pytest.fixture
def store_env(tmp_path):
    url = str(tmp_path / "store")
    arty.init_store(url)
    return {"ARTY_STORE": url}


def write_step(folder, plots=None, script=WRITER, extra: dict | None = None) -> None:
    (folder / "write.py").write_text(script)
    step = {"cmd": [PY, "write.py", "{params.lr}"], "params": {"lr": 0.1}, "deps": ["write.py"],
            "plots": [yaml.safe_load(p) if ":" in p else p for p in (plots or PLOTS)]}
    step.update(extra or {})
    (folder / "arty.yaml").write_text(yaml.safe_dump({"steps": {"train": step}}, sort_keys=False))


def only_run(store: str, name: str = "train"):
    with Api(store) as api:
        runs = [r for r in api.runs() if r.name == name]
        assert len(runs) == 1, runs
        return api.run(runs[0].id)


def check_recorded(run) -> None:
    rows = run.history()
    by_step = {r["_step"]: r for r in rows}
    # The CSV's x (epoch) is the step; every y column is a key under the file's name.
    assert [by_step[e]["train/loss"] for e in range(1, 6)] == [1.0, 0.5, 0.3333, 0.25, 0.2]
    assert by_step[5]["train/val_loss"] == 0.24
    # No x: the row index is the step (DVC's generated 'step').
    assert [by_step[s]["acc/acc"] for s in range(3)] == [0.5, 0.7, 0.9]
    assert run.summary["train/loss"] == 0.2 and run.summary["acc/acc"] == 0.9
    # Tables: a confusion matrix counted from samples, a PR curve (x not a step), a scatter.
    assert run.media_keys() == ["cm", "emb", "pr"]
    cm = run.media("cm")[0]["value"]
    assert cm["chart"]["kind"] == "confusion_matrix" and cm["chart"]["classes"] == ["cat", "dog"]
    assert run.table(cm).data == [["cat", "cat", 3], ["cat", "dog", 1], ["dog", "cat", 0], ["dog", "dog", 2]]
    pr = run.media("pr")[0]["value"]
    assert pr["chart"]["kind"] == "line" and pr["chart"]["title"] == "PR curve"
    assert [r[0] for r in run.table(pr).data] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert run.media("emb")[0]["value"]["chart"]["kind"] == "scatter"


@pytest.mark.slow
def test_repro_records_plots_files_as_history_and_tables(tmp_path, store_env):
    write_step(tmp_path)
    out = run_art("repro", cwd=tmp_path, env=store_env)
    assert out.returncode == 0, out.stderr
    check_recorded(only_run(store_env["ARTY_STORE"]))
    # The declaration is part of the step's fingerprint: a changed one reruns the step.
    again = run_art("repro", "--json", cwd=tmp_path, env=store_env)
    assert json.loads(again.stdout)["steps"][0]["action"] == "skip"
    write_step(tmp_path, plots=PLOTS[:-1])
    third = run_art("repro", "--json", cwd=tmp_path, env=store_env)
    step = json.loads(third.stdout)["steps"][0]
    assert step["action"] == "run" and "outputs changed" in step["reason"]


def test_art_run_plot_option_records_the_same(tmp_path, store_env):
    (tmp_path / "write.py").write_text(WRITER)
    args = [a for p in PLOTS for a in ("--plot", p)]
    out = run_art("run", "--name", "train", *args, "--", PY, "write.py", "0.1", cwd=tmp_path, env=store_env)
    assert out.returncode == 0, out.stderr
    check_recorded(only_run(store_env["ARTY_STORE"]))


@pytest.mark.slow
def test_a_bad_or_missing_plots_file_fails_the_step_by_name_and_the_rest_is_recorded(tmp_path, store_env):
    script = WRITER + 'open("plots/bad.csv", "w").write("step,loss\\n0,0.5\\n1,abc\\n")\n' \
        + 'os.makedirs("out", exist_ok=True); open("out/model.txt", "w").write("m")\n'
    write_step(tmp_path, plots=PLOTS + ["plots/bad.csv", "plots/never.json"], script=script,
               extra={"outputs": {"model": "out/model.txt"}})
    out = run_art("repro", "--json", cwd=tmp_path, env=store_env)
    assert out.returncode == 1
    step = json.loads(out.stdout)["steps"][0]
    assert step["action"] == "run" and step["exit_code"] == 1
    run = only_run(store_env["ARTY_STORE"])
    assert run.state == "failed"
    assert "plots/bad.csv': field 'loss' of row 2 is not a number ('abc')" in run.error
    assert "plots/never.json' was not written" in run.error
    check_recorded(run)  # what could be read is there
    assert run.logged_artifacts() == []  # a failed step logs no outputs, and is not cached
    assert json.loads(run_art("repro", "--json", cwd=tmp_path, env=store_env).stdout)["steps"][0]["action"] == "run"


@pytest.mark.parametrize("entry, message", [
    ({"p.csv": {"xx": "a"}}, "plot 'p.csv' has unknown key(s): xx"),
    ({"p.csv": {"template": "pie"}}, "unknown template 'pie'"),
    ({"p.csv": {"x": ["a", "b"]}}, "'x' must be one field"),
    ({"a.csv": None, "b.csv": None}, "a mapping of one path to its properties"),
    (42, "each entry of 'plots' is a path"),
])
def test_bad_plots_declarations_fail_before_anything_runs(tmp_path, store_env, entry, message):
    (tmp_path / "arty.yaml").write_text(yaml.safe_dump(
        {"steps": {"s": {"cmd": [PY, "-c", "open('ran', 'w')"], "plots": [entry]}}}))
    out = run_art("repro", cwd=tmp_path, env=store_env)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert not (tmp_path / "ran").exists()


def test_two_plots_with_one_name_are_refused(tmp_path):
    steps = {"s": {"cmd": "true", "plots": ["a/loss.csv", "b/loss.json"]}}
    (tmp_path / "arty.yaml").write_text(yaml.safe_dump({"steps": steps}))
    with pytest.raises(UsageError, match="have the same name 'loss'"):
        load_pipeline(str(tmp_path / "arty.yaml"))


def test_read_plot_formats_and_errors(tmp_path):
    (tmp_path / "n.csv").write_text("0,1.5\n1,2.5\n")
    data = read_plot(parse_plot_option("n.csv: {header: false, x: '0', y: '1'}", str(tmp_path)))
    assert data.series == {0: {"n/1": 1.5}, 1: {"n/1": 2.5}}
    (tmp_path / "s.csv").write_text("step,loss\n10,0.5\n20,0.25\n")  # its own 'step' column is x
    assert read_plot(parse_plot_option("s.csv", str(tmp_path))).series == {10: {"s/loss": 0.5}, 20: {"s/loss": 0.25}}
    (tmp_path / "d.json").write_text('[{"step": 0, "loss": 1}]')
    with pytest.raises(PlotError, match=r"has no field 'acc'.*\n.*its fields: step, loss"):
        read_plot(parse_plot_option("d.json: {y: acc}", str(tmp_path)))
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(PlotError, match="unknown format"):
        read_plot(parse_plot_option("d.txt", str(tmp_path)))
    (tmp_path / "o.json").write_text('{"a": 1}')
    with pytest.raises(PlotError, match="does not hold an array of objects"):
        read_plot(parse_plot_option("o.json", str(tmp_path)))
    (tmp_path / "cm.csv").write_text("a,p\n1,1\n1,0\n0,0\n")
    cm = read_plot(parse_plot_option("cm.csv: {template: confusion_normalized, x: a, y: p}", str(tmp_path)))
    cols, rows, spec = cm.table
    assert cols[-1] == "fraction" and spec["value"] == "fraction" and spec["classes"] == ["0", "1"]
    assert rows == [["0", "0", 1, 1.0], ["0", "1", 0, 0.0], ["1", "0", 1, 0.5], ["1", "1", 1, 0.5]]


# -- art plots diff ------------------------------------------------------------------------------

def step_run(tmp_path, env, lr: str) -> str:
    (tmp_path / "write.py").write_text(WRITER)
    args = [a for p in PLOTS for a in ("--plot", p)]
    out = run_art("run", "--name", "train", *args, "--", PY, "write.py", lr, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    return out.stderr.split("art run: run default/")[1].split()[0]


#: Per figure of the page: its key and the number of traces plotly drew (as the DOM shows them).
DRAWN_JS = """() => [...document.querySelectorAll('.fig')].map(el => [el.dataset.key,
    el.querySelectorAll('.scatterlayer .trace, .heatmaplayer .hm, .barlayer .trace').length,
    (el.data || []).length])"""


def open_offline(browser, path) -> tuple[list, list[str], list[str]]:
    """Open the file in Chromium with the network off; returns (figures drawn, errors, requests)."""
    ctx = browser.new_context(offline=True)
    page = ctx.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(f"file://{path}")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.fig')].every(el => el.classList.contains('js-plotly-plot'))",
            timeout=15_000)
        return page.evaluate(DRAWN_JS), errors, requests
    finally:
        ctx.close()


@pytest.mark.slow
def test_plots_diff_of_two_runs_is_an_offline_page_with_a_trace_per_side(tmp_path, store_env, request):
    import ui_helpers as ui

    a = step_run(tmp_path, store_env, "0.1")
    b = step_run(tmp_path, store_env, "0.2")
    out = run_art("plots", "diff", a, b, "-o", str(tmp_path / "report.html"), "--json", cwd=tmp_path, env=store_env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    plots = {p["key"]: p for p in report["plots"]}
    assert sorted(plots) == ["acc/acc", "cm", "emb", "pr", "train/loss", "train/val_loss"]
    assert all(len(p["sides"]) == 2 for p in plots.values())
    assert plots["train/loss"]["traces"] == 2 and plots["cm"]["traces"] == 2
    page = (tmp_path / "report.html").read_text()
    assert "<script src=" not in page  # plotly.js is inlined
    assert f"train ({a})" in page and f"train ({b})" in page
    if not ui.have_chromium():
        pytest.skip("no Chromium to open the page in")
    drawn, errors, requests = open_offline(request.getfixturevalue("browser"), tmp_path / "report.html")
    assert not errors, errors
    assert all(u.startswith("file://") for u in requests), requests
    traces = {k: n for k, _, n in drawn}
    assert traces == {"acc/acc": 2, "cm": 2, "emb": 2, "pr": 2, "train/loss": 2, "train/val_loss": 2}
    assert all(dom >= 1 for _, dom, _ in drawn)  # drawn in the page, not only held as data
    # --key narrows the page; an unknown side is an error naming it.
    from arty.plotsdiff import plots_diff

    with Api(store_env["ARTY_STORE"]) as api:
        assert [f.key for f in plots_diff(api, a, b, ["train/*"])[3]] == ["train/loss", "train/val_loss"]
        with pytest.raises(NotFound, match="no run or experiment 'nosuch' in project 'default'"):
            plots_diff(api, a, "nosuch")


@pytest.mark.slow
def test_plots_diff_of_two_experiments_matches_plots_by_step(tmp_path, store_env, request):
    import runrecords as rr
    import ui_helpers as ui
    from arty.store import open_store

    store = open_store(store_env["ARTY_STORE"])
    for exp, scale in (("exp-a", 1.0), ("exp-b", 2.0)):
        for step, key in (("train", "loss"), ("evaluate", "acc")):
            rid = rr.write_run(store, "default", name=step, extra={"experiment": exp})
            rr.add_history(store, "default", rid, [{key: scale * i} for i in range(4)])
            rr.finish(store, "default", rid, steps=4)
    rr.finished_run(store, "default", name="other")  # in no experiment
    out = run_art("plots", "diff", "exp-a", "exp-b", "-o", str(tmp_path / "e.html"), "--json", cwd=tmp_path,
                  env=store_env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert len(report["a"]["runs"]) == 2 and len(report["b"]["runs"]) == 2
    assert {p["key"]: p["traces"] for p in report["plots"]} == {"evaluate/acc": 2, "train/loss": 2}
    if not ui.have_chromium():
        pytest.skip("no Chromium to open the page in")
    drawn, errors, _ = open_offline(request.getfixturevalue("browser"), tmp_path / "e.html")
    assert not errors and {k: n for k, _, n in drawn} == {"evaluate/acc": 2, "train/loss": 2}


def test_the_pages_data_is_json_a_browser_parses_inside_a_script_element():
    from arty.plotsdiff import _script_json

    text = _script_json({"y": [float("nan"), 1.5, float("inf")], "name": "</script><!--"})
    assert "</script" not in text and "<!--" not in text
    assert json.loads(text) == {"y": [None, 1.5, None], "name": "</script><!--"}
