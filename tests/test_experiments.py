"""Experiments: ``art repro --set`` and ``--name``, params files, ``art exp show``, and the diffs
(``art runs diff``, ``art params diff``, ``art metrics diff``), with the real CLI in subprocesses,
real commands, a real local store and real git."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
import yaml

import arty
from arty.api import Api
from arty.errors import UsageError
from arty.pipeline import load_pipeline
from arty.pipeline.params import parse_set
from conftest import run_art

PY = sys.executable

STEP_PY = r'''
import json, os, sys
kind = sys.argv[1]
if kind == "prepare":
    out, seed = sys.argv[2:4]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    open(out, "w").write(f"data seed={seed}\n")
elif kind == "train":
    data, model, lr, epochs = sys.argv[2:6]
    open(model, "w").write(f"{lr} {epochs}\n")
    json.dump({"loss": round(1 / (1 + float(lr) * int(epochs)), 6), "_private": 1},
              open(os.path.join(os.path.dirname(model), "train.json"), "w"))
elif kind == "evaluate":
    model, report = sys.argv[2:4]
    lr, epochs = open(model).read().split()
    os.makedirs(report, exist_ok=True)
    json.dump({"accuracy": round(min(1.0, float(lr) * int(epochs) / 10), 6)},
              open(os.path.join(report, "metrics.json"), "w"))
'''

#: A pipeline whose params live in params.yaml and in a 'params:' section, steps listing the keys they use.
SHARED = {
    "params": {"train": {"lr": 0.1, "optimizer": "adam"}},
    "steps": {
        "prepare": {"cmd": f"{PY} step.py prepare {{outputs.data}} {{params.seed}}", "params": ["seed"],
                    "outputs": {"data": "build/data.txt"}},
        "train": {"cmd": f"{PY} step.py train {{inputs.data}} {{outputs.model}} {{params.train.lr}} {{params.epochs}}",
                  "uses": ["data"], "params": ["train.lr", "epochs"], "outputs": {"model": "build/model.txt"},
                  "metrics": "build/train.json"},
        "evaluate": {"cmd": f"{PY} step.py evaluate {{inputs.model}} {{outputs.report}}", "uses": ["model"],
                     "outputs": {"report": "build/report:report"}, "metrics": "build/report/metrics.json"},
    },
}

#: The same pipeline with each step's params its own (a mapping), as examples/pipeline has them.
INLINE = {
    "steps": {
        "prepare": {"cmd": f"{PY} step.py prepare {{outputs.data}} {{params.seed}}", "params": {"seed": 1},
                    "outputs": {"data": "build/data.txt"}},
        "train": {"cmd": f"{PY} step.py train {{inputs.data}} {{outputs.model}} {{params.lr}} {{params.epochs}}",
                  "uses": ["data"], "params": {"lr": 0.5, "epochs": 300}, "outputs": {"model": "build/model.txt"},
                  "metrics": "build/train.json"},
        "evaluate": {"cmd": f"{PY} step.py evaluate {{inputs.model}} {{outputs.report}}", "uses": ["model"],
                     "outputs": {"report": "build/report:report"}, "metrics": "build/report/metrics.json"},
    },
}


@pytest.fixture
def store_env(tmp_path):
    url = str(tmp_path / "store")
    arty.init_store(url)
    return {"ARTY_STORE": url}


def make(folder, spec: dict, params_yaml: dict | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "step.py").write_text(STEP_PY)
    (folder / "arty.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    if params_yaml is not None:
        (folder / "params.yaml").write_text(yaml.safe_dump(params_yaml, sort_keys=False))
    return folder


@pytest.fixture
def shared(tmp_path):
    return make(tmp_path / "shared", SHARED, {"seed": 1, "epochs": 10, "unused": "x"})


@pytest.fixture
def inline(tmp_path):
    return make(tmp_path / "inline", INLINE)


def repro(cwd, env, *args: str):
    proc = run_art("repro", "--json", *args, cwd=cwd, env=env)
    assert proc.stdout, proc.stderr
    return proc, json.loads(proc.stdout)


def actions(out: dict) -> dict[str, str]:
    return {s["step"]: s["action"] for s in out["steps"]}


def exp_show(cwd, env, *args: str) -> list[dict]:
    proc = run_art("exp", "show", "--json", *args, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def experiment_ids(store: str) -> list[str]:
    folder = os.path.join(store, "projects", "default", "experiments")
    return sorted(n for n in os.listdir(folder) if n.endswith(".json")) if os.path.isdir(folder) else []


# -- --set ------------------------------------------------------------------------------------

def test_parse_set_reads_values_as_yaml_scalars():
    assert parse_set("lr=0.01") == ("lr", 0.01)
    assert parse_set("epochs=5") == ("epochs", 5)
    assert parse_set("train.shuffle=true") == ("train.shuffle", True)
    assert parse_set("opt=adam") == ("opt", "adam")
    assert parse_set("name='5'") == ("name", "5")
    with pytest.raises(UsageError, match="invalid --set 'lr'"):
        parse_set("lr")


@pytest.mark.slow
def test_set_runs_with_changed_params_without_touching_the_file_and_the_run_cache_applies(inline, store_env):
    before = (inline / "arty.yaml").read_bytes()
    proc, first = repro(inline, store_env)
    assert proc.returncode == 0, proc.stderr
    assert actions(first) == {"prepare": "run", "train": "run", "evaluate": "run"}

    proc, changed = repro(inline, store_env, "--set", "train.lr=0.01", "--set", "epochs=5")
    assert proc.returncode == 0, proc.stderr
    assert actions(changed) == {"prepare": "skip", "train": "run", "evaluate": "run"}
    train = next(s for s in changed["steps"] if s["step"] == "train")
    assert "param lr changed (0.5 -> 0.01)" in train["reason"] and "param epochs changed (300 -> 5)" in train["reason"]
    assert (inline / "arty.yaml").read_bytes() == before
    assert (inline / "build" / "model.txt").read_text() == "0.01 5\n"
    assert Api(store_env["ARTY_STORE"]).run(train["run"]).config == {"lr": 0.01, "epochs": 5}

    # The same --set later: the run cache skips every step; without --set the file's params skip too.
    assert actions(repro(inline, store_env, "--set", "epochs=5", "--set", "train.lr=0.01")[1]) == \
        {"prepare": "skip", "train": "skip", "evaluate": "skip"}
    assert actions(repro(inline, store_env)[1]) == {"prepare": "skip", "train": "skip", "evaluate": "skip"}
    assert (inline / "build" / "model.txt").read_text() == "0.5 300\n"  # outputs restored from the cache


def test_set_of_an_unknown_param_is_an_error_before_anything_runs(inline, store_env):
    proc = run_art("repro", "--set", "train.momentum=0.9", cwd=inline, env=store_env)
    assert proc.returncode == 2, proc.stderr
    assert "error: --set train.momentum: no param 'train.momentum' in arty.yaml" in proc.stderr
    assert "prepare.seed, train.epochs, train.lr" in proc.stderr  # the hint lists the params there are
    assert not (inline / "build").exists()
    assert Api(store_env["ARTY_STORE"]).runs("default") == []
    assert experiment_ids(store_env["ARTY_STORE"]) == []


@pytest.mark.parametrize("setting, message", [
    ("lr=fast", "\"fast\" is a string, but param 'lr' is a number (0.5)"),
    ("epochs=true", "true is a bool, but param 'epochs' is a number (300)"),
    ("train.lr=[1, 2]", "[1, 2] is a list, but param 'train.lr' is a number (0.5)"),
])
def test_set_of_a_value_of_another_type_is_an_error_before_anything_runs(inline, store_env, setting, message):
    proc = run_art("repro", "--set", setting, cwd=inline, env=store_env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "hint: give a number" in proc.stderr
    assert not (inline / "build").exists()
    assert experiment_ids(store_env["ARTY_STORE"]) == []


def test_set_accepts_an_int_for_a_float_and_a_value_for_a_null(tmp_path):
    folder = make(tmp_path / "p", {"params": {"lr": 0.5, "note": None}, "steps": {
        "s": {"cmd": "echo {params.lr} {params.note}", "params": ["lr", "note"]}}})
    pipeline = load_pipeline(str(folder / "arty.yaml"), {"lr": 1, "note": "hi"})
    assert pipeline.steps["s"].params == {"lr": 1, "note": "hi"}
    assert pipeline.sets == {"lr": 1, "note": "hi"}


# -- params files --------------------------------------------------------------------------------

@pytest.mark.slow
def test_params_file_keys_a_step_lists_decide_its_cache_and_fill_placeholders(shared, store_env):
    proc, first = repro(shared, store_env)
    assert proc.returncode == 0, proc.stderr
    assert (shared / "build" / "model.txt").read_text() == "0.1 10\n"  # {params.train.lr} {params.epochs}
    train = next(s for s in first["steps"] if s["step"] == "train")
    assert Api(store_env["ARTY_STORE"]).run(train["run"]).config == {"train.lr": 0.1, "epochs": 10}

    # A key no step lists changes: nothing runs again.
    (shared / "params.yaml").write_text(yaml.safe_dump({"seed": 1, "epochs": 10, "unused": "y"}))
    assert actions(repro(shared, store_env)[1]) == {"prepare": "skip", "train": "skip", "evaluate": "skip"}
    # A key only 'train' lists (in params.yaml): train and what uses its output run, prepare does not.
    (shared / "params.yaml").write_text(yaml.safe_dump({"seed": 1, "epochs": 20, "unused": "y"}))
    assert actions(repro(shared, store_env)[1]) == {"prepare": "skip", "train": "run", "evaluate": "run"}
    # A key of the 'params:' section, changed with --set: the same.
    proc, out = repro(shared, store_env, "--set", "train.lr=0.05")
    assert actions(out) == {"prepare": "skip", "train": "run", "evaluate": "run"}
    assert (shared / "build" / "model.txt").read_text() == "0.05 20\n"
    # A key the section has that no step lists can still be set, and changes nothing that runs.
    assert actions(repro(shared, store_env, "--set", "train.lr=0.05", "--set", "train.optimizer=sgd")[1]) == \
        {"prepare": "skip", "train": "skip", "evaluate": "skip"}


def test_params_file_problems_are_errors_before_anything_runs(tmp_path):
    both = make(tmp_path / "both", {"params": {"lr": 0.1}, "steps": {"s": {"cmd": "echo", "params": ["lr"]}}},
                {"lr": 0.2})
    with pytest.raises(UsageError, match="param 'lr' is set both in params.yaml and in the 'params:' section"):
        load_pipeline(str(both / "arty.yaml"))
    missing = make(tmp_path / "missing", {"steps": {"s": {"cmd": "echo", "params": ["lr"]}}}, {"rate": 1})
    with pytest.raises(UsageError, match="step 's': param 'lr' is not in params.yaml"):
        load_pipeline(str(missing / "arty.yaml"))
    clash = make(tmp_path / "clash", {"steps": {"train": {"cmd": "echo", "params": {"lr": 1}}}}, {"train": {"x": 1}})
    with pytest.raises(UsageError, match="step 'train' has params of its own and the shared params have a key"):
        load_pipeline(str(clash / "arty.yaml"))


def test_a_step_can_read_keys_from_another_params_file(tmp_path):
    folder = make(tmp_path / "p", {"steps": {"s": {
        "cmd": "echo {params.model.depth} {params.batch}", "params": [{"conf/train.json": ["model.depth"]},
                                                                       {"conf/more.toml": None}]}}})
    (folder / "conf").mkdir()
    (folder / "conf" / "train.json").write_text(json.dumps({"model": {"depth": 4, "width": 8}}))
    (folder / "conf" / "more.toml").write_text("batch = 32\n")
    assert load_pipeline(str(folder / "arty.yaml")).steps["s"].params == {"model.depth": 4, "batch": 32}


# -- experiments -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_one_repro_is_one_experiment_whose_runs_share_its_id_and_name(inline, store_env):
    proc, out = repro(inline, store_env, "--name", "baseline")
    assert proc.returncode == 0, proc.stderr
    exp = out["experiment"]
    assert exp["name"] == "baseline" and len(exp["id"]) == 12
    store = store_env["ARTY_STORE"]
    for s in out["steps"]:
        run_json = json.load(open(os.path.join(store, "projects", "default", "runs", s["run"], "run.json")))
        assert run_json["experiment"] == {"id": exp["id"], "name": "baseline"}
    rec = json.load(open(os.path.join(store, "projects", "default", "experiments", exp["id"] + ".json")))
    assert rec["params"] == {"prepare": {"seed": 1}, "train": {"lr": 0.5, "epochs": 300}}
    assert {k: v["action"] for k, v in rec["steps"].items()} == {"prepare": "run", "train": "run", "evaluate": "run"}

    # A name is taken once: a second --name baseline is an error before anything runs.
    again = run_art("repro", "--name", "baseline", "--set", "epochs=1", cwd=inline, env=store_env)
    assert again.returncode == 2 and "experiment name 'baseline' is taken" in again.stderr
    assert len(experiment_ids(store)) == 1
    # Without --name one is generated; a repro that skips every step is an experiment too.
    proc, second = repro(inline, store_env)
    assert second["experiment"]["name"] not in ("baseline", None)
    assert actions(second) == {"prepare": "skip", "train": "skip", "evaluate": "skip"}


@pytest.mark.slow
def test_exp_show_joins_params_with_every_steps_metrics_sorted_filtered_json_csv(inline, store_env):
    for name, sets in (("slow", ["epochs=2"]), ("base", []), ("fast", ["train.lr=0.01", "epochs=5"])):
        args = ["--name", name] + [a for s in sets for a in ("--set", s)]
        assert repro(inline, store_env, *args)[0].returncode == 0

    rows = exp_show(inline, store_env)
    assert [r["name"] for r in rows] == ["fast", "base", "slow"]  # newest first
    fast = rows[0]
    assert fast["params"]["train"] == {"lr": 0.01, "epochs": 5}
    assert fast["metrics"]["evaluate"] == {"accuracy": 0.005}  # the evaluate step's metric next to train's lr
    assert fast["metrics"]["train"]["loss"] == round(1 / 1.05, 6)
    assert fast["actions"] == {"prepare": "skip", "train": "run", "evaluate": "run"}
    assert set(fast["runs"]) == {"prepare", "train", "evaluate"}

    by_acc = exp_show(inline, store_env, "--sort", "-metrics.evaluate.accuracy")
    assert [r["name"] for r in by_acc] == ["base", "slow", "fast"]
    assert [r["name"] for r in exp_show(inline, store_env, "--filter", "params.train.lr<0.1")] == ["fast"]
    assert [r["name"] for r in exp_show(inline, store_env, "--filter", "metrics.evaluate.accuracy>=0.1",
                                        "--sort", "name")] == ["base", "slow"]

    text = run_art("exp", "show", "--sort", "name", cwd=inline, env=store_env)
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["EXPERIMENT", "CREATED", "STATE", "prepare.seed", "train.epochs", "train.lr",
                                "evaluate.accuracy", "train.loss"]  # '_private' is left out
    assert lines[1].split()[0] == "base" and lines[1].split()[-3:] == ["0.5", "1", "0.00662"]

    table = list(csv.DictReader(io.StringIO(run_art("exp", "show", "--csv", "--sort", "name", cwd=inline,
                                                    env=store_env).stdout)))
    assert [(r["Experiment"], r["train.lr"], r["evaluate.accuracy"]) for r in table] == \
        [("base", "0.5", "1.0"), ("fast", "0.01", "0.005"), ("slow", "0.5", "0.1")]

    via_runs = run_art("runs", "--experiments", "--json", "--sort", "name", cwd=inline, env=store_env)
    assert [r["name"] for r in json.loads(via_runs.stdout)] == ["base", "fast", "slow"]
    # The index is a cache: rebuilt from the records alone, the table is the same.
    assert run_art("index", "rebuild", cwd=inline, env=store_env).returncode == 0
    assert exp_show(inline, store_env) == rows


def test_exp_show_bad_filter_is_a_clear_error(inline, store_env):
    proc = run_art("exp", "show", "--filter", "nosuch.key=1", cwd=inline, env=store_env)
    assert proc.returncode == 2 and "unknown run field 'nosuch.key'" in proc.stderr


# -- diffs ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_params_and_metrics_diff_between_experiments_and_runs(inline, store_env):
    _, a = repro(inline, store_env, "--name", "a")
    _, b = repro(inline, store_env, "--name", "b", "--set", "train.lr=0.01", "--set", "epochs=5")

    proc = run_art("params", "diff", "a", "b", cwd=inline, env=store_env)
    assert proc.returncode == 0, proc.stderr
    assert [line.split() for line in proc.stdout.splitlines()] == [
        ["Param", "a", "b"], ["train.epochs", "300", "5"], ["train.lr", "0.5", "0.01"]]
    every = run_art("params", "diff", "a", "b", "--all", "--json", cwd=inline, env=store_env)
    assert json.loads(every.stdout)["params"]["prepare.seed"] == {"old": 1, "new": 1}

    metrics = json.loads(run_art("metrics", "diff", "a", "b", "--json", cwd=inline, env=store_env).stdout)
    acc = metrics["metrics"]["evaluate.accuracy"]
    assert (acc["old"], acc["new"]) == (1.0, 0.005) and acc["diff"] == pytest.approx(-0.995)
    table = run_art("metrics", "diff", "a", "b", cwd=inline, env=store_env).stdout.splitlines()
    assert table[0].split() == ["Metric", "a", "b", "Change"]
    assert table[1].split() == ["evaluate.accuracy", "1", "0.005", "-0.995"]

    # Two runs (the train runs of the two experiments), by id: config, summary and inputs.
    run_a = next(s["run"] for s in a["steps"] if s["step"] == "train")
    run_b = next(s["run"] for s in b["steps"] if s["step"] == "train")
    runs = json.loads(run_art("runs", "diff", run_a, run_b, "--json", cwd=inline, env=store_env).stdout)
    assert runs["config"] == {"epochs": {"old": 300, "new": 5}, "lr": {"old": 0.5, "new": 0.01}}
    assert set(runs["summary"]) == {"loss"} and runs["inputs"] == {}
    # The evaluate runs used different model versions.
    ev_a = next(s["run"] for s in a["steps"] if s["step"] == "evaluate")
    ev_b = next(s["run"] for s in b["steps"] if s["step"] == "evaluate")
    text = run_art("runs", "diff", ev_a, ev_b, cwd=inline, env=store_env)
    assert ["model", "model:v0", "model:v1"] in [line.split() for line in text.stdout.splitlines()]
    exps = json.loads(run_art("runs", "diff", "a", "b", "--json", cwd=inline, env=store_env).stdout)
    assert exps["inputs"] == {"evaluate.model": {"old": "model:v0", "new": "model:v1"}}
    assert exps["a"]["kind"] == "experiment"

    nothing = run_art("params", "diff", "a", "nosuch", cwd=inline, env=store_env)
    assert nothing.returncode == 3 and "no experiment, run or git commit 'nosuch'" in nothing.stderr


def _git(folder, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.slow
def test_diffs_between_the_experiments_of_two_git_commits(shared, store_env):
    (shared / ".gitignore").write_text("build/\n")
    _git(shared, "init", "-q")
    _git(shared, "add", "-A")
    _git(shared, "commit", "-qm", "first")
    assert repro(shared, store_env)[0].returncode == 0
    first = _git(shared, "rev-parse", "HEAD")
    (shared / "params.yaml").write_text(yaml.safe_dump({"seed": 1, "epochs": 40, "unused": "x"}))
    _git(shared, "commit", "-qam", "more epochs")
    assert repro(shared, store_env)[0].returncode == 0

    assert [r["commit"] for r in exp_show(shared, store_env)] == [_git(shared, "rev-parse", "HEAD"), first]
    proc = run_art("params", "diff", "HEAD~1", "HEAD", "--json", cwd=shared, env=store_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["params"] == {"epochs": {"old": 10, "new": 40}}
    short = run_art("metrics", "diff", first[:7], "HEAD", "--json", cwd=shared, env=store_env)
    acc = json.loads(short.stdout)["metrics"]["evaluate.accuracy"]
    assert (acc["old"], acc["new"]) == (0.1, 0.4)


@pytest.mark.slow
def test_a_failed_step_makes_a_failed_experiment_whose_later_steps_are_not_run(tmp_path, store_env):
    folder = make(tmp_path / "fail", {"steps": {
        "train": {"cmd": f"{PY} -c 'import sys; sys.exit(3)'", "params": {"lr": 0.1},
                  "outputs": {"model": "build/model.txt"}},
        "evaluate": {"cmd": f"{PY} step.py evaluate {{inputs.model}} {{outputs.report}}", "uses": ["model"],
                     "outputs": {"report": "build/report"}}}})
    proc, out = repro(folder, store_env, "--name", "broken")
    assert proc.returncode == 3
    [row] = exp_show(folder, store_env)
    assert (row["name"], row["state"], row["exit_code"]) == ("broken", "failed", 3)
    assert row["actions"] == {"train": "run", "evaluate": "not run"}
    assert set(row["runs"]) == {"train"}  # a step that did not run has no run
    assert exp_show(folder, store_env, "--filter", "state=finished") == []


def test_a_run_started_inside_a_step_records_the_steps_experiment(tmp_path, monkeypatch):
    store = str(tmp_path / "store")
    arty.init_store(store)
    monkeypatch.setenv("ARTY_EXPERIMENT_ID", "abcdefabcdef")
    monkeypatch.setenv("ARTY_EXPERIMENT_NAME", "brisk-otter")
    run = arty.init(project="p", store=store, system_metrics=False, console=False, code=False)
    run.finish()
    rec = json.load(open(os.path.join(store, "projects", "p", "runs", run.id, "run.json")))
    assert rec["experiment"] == {"id": "abcdefabcdef", "name": "brisk-otter"}
    api = Api(store, "p")
    assert [r.id for r in api.runs("p", filters={"experiment": "abcdefabcdef"})] == [run.id]
    monkeypatch.delenv("ARTY_EXPERIMENT_ID")
    other = arty.init(project="p", store=store, system_metrics=False, console=False, code=False)
    other.finish()
    assert "experiment" not in json.load(open(os.path.join(store, "projects", "p", "runs", other.id, "run.json")))


def test_a_bad_experiment_record_is_left_out_with_a_warning_naming_it(tmp_path):
    from arty.index import experiments
    from arty.store import layout, open_store

    url = str(tmp_path / "store")
    arty.init_store(url)
    store = open_store(url)
    good = {"id": "aaaaaaaaaaaa", "name": "good", "started_at": "2026-12-01T00:00:00.000Z", "exit_code": 0,
            "params": {"lr": 0.1}, "steps": {"train": {"action": "run", "run": "r1"}}, "state": "finished"}
    store.create_record(layout.experiment("p", "aaaaaaaaaaaa"), good)
    store.backend.write(layout.experiment("p", "bbbbbbbbbbbb"), b"{not json")
    # A record of the wrong shape in places reads as empty there, not as an error.
    store.create_record(layout.experiment("p", "cccccccccccc"), {"name": "odd", "steps": [1, 2], "params": "x"})
    api = Api(url, "p")
    with pytest.warns(RuntimeWarning, match="bbbbbbbbbbbb.json"):
        api.rebuild_index()
    rows = {r["name"]: r for r in experiments.query(api.index, "p")}
    assert set(rows) == {"good", "odd"}
    assert rows["good"]["params"] == {"lr": 0.1} and rows["good"]["metrics"] == {"train": {}}
    assert rows["odd"]["params"] == {} and rows["odd"]["runs"] == {}


def test_art_repro_does_not_load_the_index(inline, store_env):
    # The index imports SQLite's wrapper (and with it pandas when installed): seconds on a busy
    # machine that a no-op 'art repro' must not pay for params or experiments.
    probe = ("import sys, json\nsys.argv = ['art', 'repro', '--set', 'epochs=5']\nfrom arty.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "sys.stderr.write('\\nMODULES=' + json.dumps(sorted(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=inline, env=dict(os.environ, **store_env),
                          capture_output=True, text=True, timeout=120)
    loaded = set(json.loads(proc.stderr.rsplit("MODULES=", 1)[1]))
    assert "train" in proc.stderr and os.path.exists(inline / "build" / "model.txt")
    assert not {m for m in loaded if m.startswith(("arty.index", "sqlite_utils"))}
