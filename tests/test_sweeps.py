"""Sweeps: W&B's sweep configuration, agents that coordinate through the store, bad input.

The configuration tests follow W&B's sweep configuration reference ("Sweep configuration
options"): the top-level keys, the parameter search constraints (``values``, ``value``,
``distribution`` with ``min``/``max``/``q``), the default distribution when none is named,
``early_terminate`` with hyperband, and the ``command`` macros.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

import arty
from arty.errors import NotFound, UsageError
from arty.store import init_store, open_store
from arty.sweeps import records as rec
from arty.sweeps import search
from arty.sweeps.runner import Sweep, command_line, create
from arty.sweeps.spec import parse
from conftest import run_art

P = "sweeps"
QUIET = {"ARTY_SYSTEM_METRICS": "0", "ARTY_CONSOLE": "0", "ARTY_CODE": "0"}


# -- the configuration, as W&B documents it ---------------------------------------------------

def test_default_distributions_follow_wandb():
    spec = parse({"method": "random", "parameters": {
        "opt": {"values": ["adam", "sgd"]}, "epochs": {"value": 5}, "layers": {"min": 1, "max": 4},
        "dropout": {"min": 0.1, "max": 0.5}}})
    kinds = {p.name: p.distribution for p in spec.params}
    assert kinds == {"opt": "categorical", "epochs": "constant", "layers": "int_uniform", "dropout": "uniform"}


def test_samples_stay_in_their_bounds():
    spec = parse({"method": "random", "parameters": {
        "a": {"distribution": "int_uniform", "min": 2, "max": 5},
        "b": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "c": {"distribution": "log_uniform", "min": -4, "max": -1},  # bounds are natural logarithms
        "d": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2.5},
        "e": {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 1},
        "f": {"values": [[1, 2], {"k": 1}, "x"]}}})
    trials: dict = {}
    seen_f = set()
    for _ in range(40):
        p = search.params_of(spec, search.suggest(spec, "s", trials, time.time(), 0))
        assert isinstance(p["a"], int) and 2 <= p["a"] <= 5
        assert 1e-4 <= p["b"] <= 1e-1
        assert math.exp(-4) <= p["c"] <= math.exp(-1)
        assert p["d"] in (0, 2.5, 5.0, 7.5, 10.0)
        assert 0.01 <= p["e"] <= 1
        seen_f.add(json.dumps(p["f"]))
    assert seen_f <= {json.dumps([1, 2]), json.dumps({"k": 1}), json.dumps("x")} and len(seen_f) > 1


def test_grid_is_the_product_of_values_in_order():
    spec = parse({"method": "grid", "run_cap": 5, "parameters": {
        "lr": {"values": [0.1, 0.01]}, "opt": {"values": ["a", "b", "c"]}, "ep": {"value": 3}}})
    grid = spec.grid()
    assert grid[:4] == [{"lr": 0.1, "opt": "a", "ep": 3}, {"lr": 0.1, "opt": "b", "ep": 3},
                        {"lr": 0.1, "opt": "c", "ep": 3}, {"lr": 0.01, "opt": "a", "ep": 3}]
    assert len(grid) == 6 and spec.total == 5  # run_cap caps the grid


def test_command_macros():
    spec = parse({"method": "grid", "program": "train.py", "parameters": {"lr": {"value": 0.1}, "f": {"value": True}},
                  "command": ["${env}", "${interpreter}", "${program}", "--fixed", "${args}", "${args_no_hyphens}",
                              "${args_no_boolean_flags}", "${args_json}", "${args_json_file}"]})
    argv = command_line(spec, {"lr": 0.1, "f": True}, json_file="/tmp/p.json")
    assert argv == [sys.executable, "train.py", "--fixed", "--lr=0.1", "--f=True", "lr=0.1", "f=True",
                    "--lr=0.1", "--f", '{"lr": 0.1, "f": true}', "/tmp/p.json"]
    default = parse({"method": "grid", "program": "t.py", "parameters": {"lr": {"value": 1}}})
    assert command_line(default, {"lr": 1}) == [sys.executable, "t.py", "--lr=1"]


def test_early_terminate_is_optunas_hyperband():
    spec = parse({"method": "bayes", "metric": {"name": "loss"}, "parameters": {"x": {"min": 0.0, "max": 1.0}},
                  "early_terminate": {"type": "hyperband", "min_iter": 1, "max_iter": 9, "eta": 3}})
    pruner = search.pruner(spec)
    assert type(pruner).__name__ == "HyperbandPruner"
    # Trials 0..8 finished with a good loss at every step; trial 9 is far worse at the same steps.
    trials = {}
    for n in range(9):
        sampled = {"x": n / 10}
        trials[n] = rec.Trial(n, [rec.Attempt(n, 0, {"params": sampled, "sampled": sampled},
                                              end={"state": "finished", "value": 0.1 + n / 100,
                                                   "history": [[s, 0.1 + n / 100] for s in range(1, 10)]})])
    bad = {"x": 0.95}
    trials[9] = rec.Trial(9, [rec.Attempt(9, 0, {"params": bad, "sampled": bad, "expires": time.time() + 60})])
    history_bad = {s: 5.0 for s in range(1, 10)}
    history_good = {s: 0.01 for s in range(1, 10)}
    decisions = {search.should_prune(spec, f"s{i}", trials, 9, history_bad, time.time(), 0) for i in range(6)}
    assert True in decisions  # some bracket stops it (Hyperband assigns brackets by study name)
    assert not any(search.should_prune(spec, f"s{i}", trials, 9, history_good, time.time(), 0) for i in range(6))


# -- bad input: a clear error before anything runs ---------------------------------------------

@pytest.mark.parametrize("config, message", [
    ({"method": "hillclimb", "parameters": {"x": {"values": [1]}}}, "unknown sweep method 'hillclimb'"),
    ({"method": "random", "parameters": {"x": {"distribution": "zipf", "min": 1, "max": 2}}},
     "parameter 'x' has unknown distribution 'zipf'"),
    ({"method": "random", "parameters": {"x": {"distribution": "normal", "mu": 0, "sigma": 1}}},
     "distribution 'normal' is not supported"),
    ({"method": "grid", "parameters": {"x": {"values": []}}}, "parameter 'x' has an empty search space"),
    ({"method": "random", "parameters": {"x": {"min": 5, "max": 1}}}, r"'min' \(5\) is greater than 'max' \(1\)"),
    ({"method": "random", "parameters": {}}, "no 'parameters'"),
    ({"method": "grid", "parameters": {"x": {"min": 0.0, "max": 1.0}}}, "method 'grid' needs 'values'"),
    ({"method": "bayes", "parameters": {"x": {"min": 0.0, "max": 1.0}}}, "method 'bayes' needs a 'metric'"),
    ({"method": "random", "metric": {"name": "l", "goal": "lower"}, "parameters": {"x": {"values": [1]}}},
     "unknown metric goal 'lower'"),
    ({"method": "random", "paramters": {}}, "unknown key 'paramters'"),
    ({"method": "random", "metric": {"name": "l"}, "parameters": {"x": {"values": [1]}},
      "early_terminate": {"type": "median"}}, "unknown early_terminate type 'median'"),
])
def test_bad_configuration_is_refused_before_anything_is_written(local_store, config, message):
    with pytest.raises(UsageError, match=message) as exc:
        create(local_store, P, config)
    assert exc.value.hint or "needs" in exc.value.message or "greater" in exc.value.message
    assert rec.list_sweeps(local_store, P) == []


def test_bad_configuration_from_the_cli(tmp_path, local_store):
    (tmp_path / "s.yaml").write_text("method: grid\nparameters:\n  lr: {values: []}\n")
    proc = run_art("--store", local_store.url, "sweep", str(tmp_path / "s.yaml"))
    assert proc.returncode == 2
    assert "error: parameter 'lr' has an empty search space" in proc.stderr
    assert rec.list_sweeps(local_store, "default") == []


def test_unknown_sweep_id(local_store):
    with pytest.raises(NotFound, match="sweep 'nosuch12' not found in project 'sweeps'"):
        Sweep(local_store, P, "nosuch12")
    proc = run_art("--store", local_store.url, "agent", "nosuch12")
    assert proc.returncode == 3 and "error: sweep 'nosuch12' not found" in proc.stderr
    assert "art sweeps" in proc.stderr  # the hint
    proc = run_art("--store", local_store.url, "sweep", "show", "../../x")
    assert proc.returncode == 3 and "not found" in proc.stderr


def test_a_sweep_without_a_program_cannot_run_on_the_cli(local_store):
    sid = create(local_store, P, {"method": "grid", "parameters": {"x": {"values": [1]}}})
    proc = run_art("--store", local_store.url, "agent", sid, "--project", P)
    assert proc.returncode == 2 and "has no 'program' or 'command'" in proc.stderr
    assert Sweep(local_store, P, sid).trials() == {}  # nothing claimed


# -- the in-process agent ----------------------------------------------------------------------

def _quiet(monkeypatch):
    for k, v in QUIET.items():
        monkeypatch.setenv(k, v)


def test_agent_function_gets_params_and_tags_runs(local_store, monkeypatch):
    _quiet(monkeypatch)
    sid = arty.sweep({"method": "grid", "metric": {"name": "loss", "goal": "minimize"},
                      "parameters": {"lr": {"values": [0.3, 0.1, 0.2]}, "opt": {"value": "sgd"}}},
                     project=P, store=local_store)
    seen = []

    def train():
        run = arty.init(config={"lr": 99, "batch": 8})
        seen.append((dict(run.config), run.sweep_id))
        if run.config["lr"] == 0.1:
            raise RuntimeError("diverged")
        run.log({"loss": run.config["lr"] * 10})

    assert arty.agent(sid, train, project=P, store=local_store) == 3
    assert [c["lr"] for c, _ in seen] == [0.3, 0.1, 0.2]
    assert all(c["batch"] == 8 and c["opt"] == "sgd" and s == sid for c, s in seen)  # sweep params win
    from arty.sweeps.status import status

    st = status(Sweep(local_store, P, sid))
    assert [t["state"] for t in st["trials"]] == ["finished", "failed", "finished"]  # the failure did not stop it
    assert "RuntimeError: diverged" in st["trials"][1]["error"]
    assert st["best"] == 2 and st["trials"][2]["value"] == pytest.approx(2.0)
    run_json = local_store.read_record(f"projects/{P}/runs/{st['trials'][0]['run_id']}/run.json")
    assert run_json["sweep"] == {"id": sid, "trial": 0, "attempt": 0}
    assert "ARTY_SWEEP_ID" not in os.environ  # put back after each trial


def test_a_metric_no_trial_logs_is_reported(local_store, monkeypatch, tmp_path):
    _quiet(monkeypatch)
    sid = arty.sweep({"method": "grid", "metric": {"name": "val_loss"}, "parameters": {"x": {"values": [1, 2]}}},
                     project=P, store=local_store)
    said = []
    from arty.sweeps.runner import Agent, function_runner

    agent = Agent(Sweep(local_store, P, sid), say=said.append)

    def train():
        arty.init().log({"loss": 1.0})

    agent.run(function_runner(agent, train))
    assert any("trial 0 finished without logging metric 'val_loss' (its summary has: loss)" in m for m in said)
    assert any("no trial logged metric 'val_loss' (2 finished)" in m for m in said)
    proc = run_art("--store", local_store.url, "sweep", "show", sid, "--project", P)
    assert proc.returncode == 0 and "warning: no trial logged metric 'val_loss' (2 finished)" in proc.stderr


def test_random_sweep_respects_run_cap_and_count(local_store, monkeypatch):
    _quiet(monkeypatch)
    sid = arty.sweep({"method": "bayes", "metric": {"name": "y", "goal": "maximize"}, "run_cap": 5,
                      "parameters": {"x": {"min": -2.0, "max": 2.0}}}, project=P, store=local_store)

    def f():
        run = arty.init()
        run.log({"y": -run.config["x"] ** 2})

    assert arty.agent(sid, f, project=P, store=local_store, count=2) == 2
    assert arty.agent(sid, f, project=P, store=local_store) == 3  # run_cap: 5 in all
    trials = Sweep(local_store, P, sid).trials()
    assert sorted(trials) == [0, 1, 2, 3, 4]
    assert all(t.last.end["state"] == "finished" and -2 <= t.params["x"] <= 2 for t in trials.values())


# -- many agents, one store ------------------------------------------------------------------------

TRAIN = """
import argparse, os, sys, time, pathlib
import arty
p = argparse.ArgumentParser()
p.add_argument("--a", type=int); p.add_argument("--b")
args = p.parse_args()
trial, attempt = os.environ["ARTY_SWEEP_TRIAL"].split("-")
run = arty.init()
assert run.config["a"] == args.a and run.config["b"] == args.b, (dict(run.config), args)
if trial == "2" and attempt == "0":
    tmp = pathlib.Path(sys.argv[0]).with_name("started.tmp")
    tmp.write_text(str(os.getppid()))
    tmp.rename(tmp.with_name("started"))  # whole, never seen half written
    time.sleep(120)  # the test kills this trial's agent
run.log({"score": args.a * 10 + len(args.b)})
"""


def _store_url(kind: str, request, tmp_path) -> tuple[str, dict[str, str]]:
    if kind == "local":
        return str(tmp_path / "store"), {}
    server = request.getfixturevalue("s3")
    return f"s3://{server.make_bucket()}/stores/{uuid.uuid4().hex[:8]}", dict(server.env())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_four_agents_run_every_grid_point_once_and_retry_a_killed_one(kind, request, tmp_path):
    url, env = _store_url(kind, request, tmp_path)
    init_store(url)
    store = open_store(url)
    (tmp_path / "train.py").write_text(TRAIN)
    config = {"program": str(tmp_path / "train.py"), "method": "grid", "metric": {"name": "score", "goal": "maximize"},
              "parameters": {"a": {"values": [1, 2, 3, 4]}, "b": {"values": ["x", "yy"]}}}
    sid = create(store, P, config, retries=1, lease_ttl=1.0, grace=0.5)
    full_env = dict(os.environ) | env | QUIET | {"ARTY_STORE": url}
    agents = [subprocess.Popen([sys.executable, "-m", "arty", "agent", sid, "--project", P], env=full_env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(4)]
    try:
        started = tmp_path / "started"
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline, "trial 2 never started"
            assert all(a.poll() is None for a in agents), "an agent exited before trial 2 started"
            time.sleep(0.05)
        holder = int(started.read_text())
        victim = next(a for a in agents if a.pid == holder)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        outs = [a.communicate(timeout=120) for a in agents if a is not victim]
        assert all(a.returncode == 0 for a in agents if a is not victim), outs
    finally:
        for a in agents:
            if a.poll() is None:
                a.kill()
                a.wait()
    trials = Sweep(store, P, sid).trials()
    grid = [{"a": a, "b": b} for a in (1, 2, 3, 4) for b in ("x", "yy")]
    assert sorted(trials) == list(range(8))
    assert [trials[n].params for n in range(8)] == grid  # every grid point, each one trial
    for n, t in trials.items():
        states = [a.end["state"] for a in t.attempts]
        if n == 2:
            assert states == ["crashed", "finished"], states  # the killed agent's trial, retried once
            assert "stopped renewing its lease" in t.attempts[0].end["error"]
            assert t.attempts[0].claim["pid"] == holder
        else:
            assert states == ["finished"], (n, states)
        assert t.last.end["value"] == grid[n]["a"] * 10 + len(grid[n]["b"])
    runs = store.list(f"projects/{P}/runs")
    # one run per trial (the killed attempt's run may have reached the store before the kill)
    assert set(runs) - {f"{sid}-2-0"} == {f"{sid}-{n}-0" for n in range(8) if n != 2} | {f"{sid}-2-1"}
    assert "crashed: its agent" in "".join(o[1] for o in outs)  # an agent said so


def test_a_dead_agents_trial_without_retries_left_is_reported(local_store, monkeypatch):
    """What a killed agent leaves (a claim whose lease ran out, no end) is marked crashed; with
    retries=0 it is not run again, and 'art sweep show' reports it."""
    _quiet(monkeypatch)
    sid = create(local_store, P, {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2]}}},
                 retries=0, lease_ttl=0.2, grace=0.0)
    assert rec.claim(local_store, P, sid, 0, 0, {"x": 1}, ttl=0.2, extra={"run_id": f"{sid}-0-0"}) is not None
    deadline = time.monotonic() + 5
    while Sweep(local_store, P, sid).trials()[0].state(time.time(), 0.0) != rec.STALE:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ran = []

    def f():
        run = arty.init()
        ran.append(run.config["x"])
        run.log({"m": run.config["x"]})

    said = []
    from arty.sweeps.runner import Agent, function_runner

    agent = Agent(Sweep(local_store, P, sid), say=said.append)
    agent.run(function_runner(agent, f))
    assert ran == [2]  # trial 0 not retried
    t0 = Sweep(local_store, P, sid).trials()[0]
    assert [a.end["state"] for a in t0.attempts] == ["crashed"]
    assert any("trial 0 (attempt 0) crashed" in m and "no retries left" in m for m in said)
    proc = run_art("--store", local_store.url, "sweep", "show", sid, "--project", P, "--json")
    st = json.loads(proc.stdout)
    assert [t["state"] for t in st["trials"]] == ["crashed", "finished"]
    assert "trial(s) 0 crashed with no retries left" in st["warnings"]


def test_an_attempt_ends_once(local_store):
    """The agent that marks a stale attempt crashed and the agent that held it cannot both end it."""
    sid = create(local_store, P, {"method": "grid", "parameters": {"x": {"values": [1]}}})
    assert rec.claim(local_store, P, sid, 0, 0, {"x": 1}, ttl=60) is not None
    assert rec.claim(local_store, P, sid, 0, 0, {"x": 1}, ttl=60) is None  # claimed once
    assert rec.end(local_store, P, sid, 0, 0, "crashed") is True
    assert rec.end(local_store, P, sid, 0, 0, "finished", value=1.0) is False
    assert Sweep(local_store, P, sid).trials()[0].last.end["state"] == "crashed"


def test_bad_sweep_params_in_the_environment(monkeypatch):
    monkeypatch.setenv("ARTY_SWEEP_ID", "abcd1234")
    monkeypatch.setenv("ARTY_SWEEP_PARAMS", "[1, 2]")
    with pytest.raises(UsageError, match="invalid ARTY_SWEEP_PARAMS: not a JSON object"):
        arty.init(mode="disabled")


def test_cli_sweep_project_and_listing(tmp_path, local_store):
    (tmp_path / "s.yaml").write_text("program: t.py\nmethod: random\nrun_cap: 3\nname: first\n"
                                     "metric: {name: acc, goal: maximize}\n"
                                     "parameters:\n  lr: {distribution: log_uniform_values, min: 0.001, max: 0.1}\n")
    proc = run_art("--store", local_store.url, "sweep", str(tmp_path / "s.yaml"), "--project", "other", "--json")
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)
    assert made["project"] == "other"
    proc = run_art("--store", local_store.url, "sweeps", "--project", "other", "--json")
    listing = json.loads(proc.stdout)
    assert [(s["id"], s["name"], s["method"], s["total"], s["trials"]) for s in listing] == \
        [(made["id"], "first", "random", 3, 0)]
    assert rec.list_sweeps(local_store, "default") == []


PRUNED_TRAIN = """
import time, arty
run = arty.init(flush_interval=0.1)
for step in range(1, 600):
    run.log({"loss": 100.0}, step=step)  # far worse than every finished trial
    time.sleep(0.05)
run.log({"loss": 0.0})  # never reached: the agent stops it first
"""


def test_early_terminate_stops_a_hopeless_trial_of_art_agent(local_store, tmp_path, monkeypatch):
    """Hyperband with one bracket (min_iter == max_iter) judges at step 1 against the finished
    trials: a trial logging a far worse loss is stopped (SIGTERM) and recorded pruned."""
    _quiet(monkeypatch)
    (tmp_path / "train.py").write_text(PRUNED_TRAIN)
    sid = create(local_store, P, {"program": str(tmp_path / "train.py"), "method": "grid",
                                  "metric": {"name": "loss", "goal": "minimize"},
                                  "early_terminate": {"type": "hyperband", "min_iter": 1, "max_iter": 1, "eta": 3},
                                  "parameters": {"x": {"values": [0, 1, 2, 3]}}}, lease_ttl=0.6)
    for n in range(3):  # three trials other agents finished, each with a good loss at every step
        assert rec.claim(local_store, P, sid, n, 0, {"x": n}, ttl=60, extra={"sampled": {"x": n}})
        assert rec.end(local_store, P, sid, n, 0, "finished", value=0.1 * (n + 1),
                       history=[[s, 0.1 * (n + 1)] for s in range(1, 10)])
    t0 = time.monotonic()
    proc = run_art("--store", local_store.url, "agent", sid, "--project", P, env=QUIET)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t0 < 25  # stopped long before its 600 steps (30 s)
    t3 = Sweep(local_store, P, sid).trials()[3]
    assert t3.last.end["state"] == "pruned" and t3.last.end["error"] == "stopped by hyperband"
    assert "trial 3 pruned" in proc.stderr
    assert t3.last.end["history"] and all(v == 100.0 for _s, v in t3.last.end["history"])


def test_early_terminate_tells_an_in_process_function(local_store, monkeypatch):
    _quiet(monkeypatch)
    sid = create(local_store, P, {"method": "grid", "metric": {"name": "loss", "goal": "minimize"},
                                  "early_terminate": {"type": "hyperband", "min_iter": 1, "max_iter": 1, "eta": 3},
                                  "parameters": {"x": {"values": [0, 1, 2, 3]}}}, lease_ttl=0.6)
    for n in range(3):
        assert rec.claim(local_store, P, sid, n, 0, {"x": n}, ttl=60, extra={"sampled": {"x": n}})
        assert rec.end(local_store, P, sid, n, 0, "finished", value=0.1, history=[[s, 0.1] for s in range(1, 10)])
    from arty.sweeps import should_prune

    steps = []

    def train():
        run = arty.init(flush_interval=0.1)
        deadline = time.monotonic() + 20
        step = 0
        while not should_prune():
            assert time.monotonic() < deadline, "never told to stop"
            step += 1
            run.log({"loss": 100.0}, step=step)
            time.sleep(0.05)
        steps.append(step)

    assert arty.agent(sid, train, project=P, store=local_store) == 1
    assert steps and not should_prune()  # cleared once the trial ended
    assert Sweep(local_store, P, sid).trials()[3].last.end["state"] == "pruned"


def test_agents_through_an_art_server_store(request, tmp_path, monkeypatch):
    """A client whose store is an 'art server' (the store protocol) runs a sweep: heartbeats are
    written and removed with the write role, like leases."""
    from conftest import HTTP_BACKING, _fresh_store_url

    _quiet(monkeypatch)
    url = _fresh_store_url("http", request, tmp_path)
    store = open_store(url)
    sid = create(store, P, {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2]}}})

    def f():
        run = arty.init()
        run.log({"m": run.config["x"] * 2})

    assert arty.agent(sid, f, project=P, store=store) == 2
    backing = open_store(HTTP_BACKING[url])
    names = backing.list(f"projects/{P}/sweeps/{sid}/trials")
    assert sorted(names) == ["00000000-claim-0.json", "00000000-end-0.json",
                             "00000001-claim-0.json", "00000001-end-0.json"]  # heartbeats removed
    assert [t.last.end["value"] for t in Sweep(backing, P, sid).trials().values()] == [2, 4]
