"""``art runs``, ``art run show``, ``art run logs``, ``art index rebuild`` through the real CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

import arty
from click.testing import CliRunner

from arty.artifacts import Artifact, Registry
from arty.cli import cli
from arty.cli.runs import human_runtime, parse_filters
from arty.errors import UsageError
from arty.hashing import StatCache
from conftest import make_tree, run_art
import runrecords as rr

P = "vision"


def art(store, *args: str):
    return CliRunner().invoke(cli, ["--store", store.url, "--project", P, *args], catch_exceptions=False)


def ok(store, *args: str) -> str:
    r = art(store, *args)
    assert r.exit_code == 0, f"art {' '.join(args)} -> {r.exit_code}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def js(store, *args: str):
    return json.loads(ok(store, *args, "--json"))


@pytest.fixture
def store(local_store):
    return local_store


@pytest.fixture
def runs(store, tmp_path):
    """Three finished runs and one running; the best one used and produced artifacts."""
    t0 = time.time() - 7200
    reg = Registry(store, P, StatCache(":memory:"))
    data = reg.log(Artifact("data", type="dataset").add_dir(make_tree(tmp_path / "d", {"a.csv": "1,2\n"}))).version
    ids = {}
    for i, (name, lr, acc, tags) in enumerate([("base", 0.01, 0.91, ["baseline"]), ("big-lr", 0.1, 0.7, []),
                                               ("tiny-lr", 0.0001, 0.8, ["baseline", "slow"])]):
        rid = rr.write_run(store, P, name=name, config={"lr": lr, "opt": {"name": "adam"}}, tags=tags,
                           started_at=t0 + i * 60, notes=f"try {i}",
                           git={"commit": "abc123", "branch": "main", "remote": "git@example.com:x.git",
                                "is_dirty": True})
        rr.add_console(store, P, rid, [(t0 + 1, "stdout", f"start {name}"), (t0 + 2, "stderr", "warn: x"),
                                       (t0 + 3, "stdout", "done")])
        rr.finish(store, P, rid, summary={"acc": acc, "loss": 1 - acc, "epoch": 3}, runtime=65.0 + i * 3600,
                  steps=3)
        ids[name] = rid
    rr.add_input(store, P, ids["base"], data)
    reg.log(Artifact("model", type="model").add_dir(make_tree(tmp_path / "m", {"w.pt": "w"})), created_by=ids["base"])
    ids["live"] = rr.write_run(store, P, name="live", host=rr.this_host(), pid=os.getpid(), config={"lr": 0.02})
    return ids


def test_runs_table(store, runs):
    out = ok(store, "runs")
    lines = out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["ID", "NAME", "STATE", "CREATED", "RUNTIME", "acc", "epoch", "loss"]
    assert [line.split()[1] for line in lines[1:]] == ["live", "tiny-lr", "big-lr", "base"]
    base = next(line for line in lines if " base " in line)
    assert re.search(rf"^{runs['base']}\s+base\s+finished\s+\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\s+1m05s\s+0\.91\s+3\s+0\.09",
                     base), base
    assert "running" in lines[1]
    assert "2h01m" in out  # tiny-lr's runtime


def test_runs_filters_sort_limit(store, runs):
    def listed(*args):
        return [r["name"] for r in js(store, "runs", *args)]

    assert listed("--filter", "config.lr>0.005", "--filter", "tags=baseline") == ["base"]
    assert listed("--filter", "config.lr>=0.01", "--sort", "-summary.acc") == ["base", "big-lr", "live"]  # no acc: last
    assert listed("--filter", "config.lr<0.01") == ["tiny-lr"]
    assert listed("--filter", "config.lr<=0.01", "--sort", "name") == ["base", "tiny-lr"]
    assert listed("--filter", "state!=finished") == ["live"]
    assert listed("--filter", "name~^b", "--sort", "name") == ["base", "big-lr"]
    assert listed("--filter", "config.opt.name=adam", "--sort", "summary.acc") == ["big-lr", "tiny-lr", "base"]
    assert listed("--filter", '{"$or": [{"tags": "slow"}, {"summary.acc": {"$lt": 0.75}}]}', "--sort", "name") == \
        ["big-lr", "tiny-lr"]
    assert listed("--sort", "name", "--limit", "2") == ["base", "big-lr"]
    assert len(listed("--limit", "0")) == 4
    out = ok(store, "runs", "--sort", "-summary.loss", "--limit", "1")
    assert re.split(r"\s{2,}", out.splitlines()[0])[5] == "loss"  # the sort key's column comes first
    assert out.splitlines()[-1] == "... 3 more (--limit 0 for all)"
    assert ok(store, "runs", "--filter", "tags=nothing") == f"no runs in project '{P}' match\n"


def test_runs_json_has_every_field(store, runs):
    got = {r["name"]: r for r in js(store, "runs")}
    base = got["base"]
    assert base["id"] == runs["base"] and base["state"] == "finished" and base["tags"] == ["baseline"]
    assert base["config"] == {"lr": 0.01, "opt": {"name": "adam"}}
    assert base["summary"] == {"acc": 0.91, "loss": pytest.approx(0.09), "epoch": 3}
    assert base["git"]["commit"] == "abc123" and base["notes"] == "try 0" and base["exit_code"] == 0


def test_runs_of_another_project_by_argument(store, runs):
    rid = rr.finished_run(store, "nlp", name="other")
    assert [r["id"] for r in js(store, "runs", "nlp")] == [rid]
    r = art(store, "runs", "nope")
    assert r.exit_code == 3 and "error: project 'nope' not found (projects: nlp, vision)" in r.stderr


@pytest.mark.parametrize("expr", ["config.lr", "{not json", "[1]", "tags=x=y=", ">3"])
def test_runs_bad_filter_is_a_usage_error(store, runs, expr):
    r = art(store, "runs", "--filter", expr)
    if expr == "tags=x=y=":  # the value may hold '=': a tag literally named 'x=y='
        assert r.exit_code == 0
        return
    assert r.exit_code == 2 and "error: invalid --filter" in r.stderr


def test_runs_unknown_field_and_operator(store, runs):
    r = art(store, "runs", "--filter", "colour=red")
    assert r.exit_code == 2 and "unknown run field 'colour'" in r.stderr
    r = art(store, "runs", "--filter", '{"config.lr": {"$near": 1}}')
    assert r.exit_code == 2 and "unknown filter operator '$near'" in r.stderr


def test_parse_filters():
    assert parse_filters(()) is None
    assert parse_filters(("config.lr>0.1",)) == {"config.lr": {"$gt": 0.1}}
    assert parse_filters(("state=finished", "config.flag=true", "config.n!=null", "name~^a.*=b")) == {"$and": [
        {"state": "finished"}, {"config.flag": True}, {"config.n": {"$ne": None}}, {"name": {"$regex": "^a.*=b"}}]}
    assert parse_filters(('config.s="7"',)) == {"config.s": "7"}
    with pytest.raises(UsageError):
        parse_filters(("=3",))


def test_human_runtime():
    assert [human_runtime(s) for s in (None, 4.25, 12, 65.2, 3725, 90000)] == ["", "4.2s", "12s", "1m05s", "1h02m",
                                                                                "1d01h"]


def test_run_show(store, runs):
    out = ok(store, "run", "show", runs["base"])
    assert out.splitlines()[0] == f"{P}/{runs['base']}  base  finished (exit 0)"
    for expected in ("  tags:      baseline", "  notes:     try 0", "  host:      worker-7",
                     "  command:   train.py --epochs 3",
                     "  git:       abc123 (main) git@example.com:x.git, uncommitted changes",
                     "    lr: 0.01", "    opt.name: adam", "    acc: 0.91",
                     f"    {P}/data:v0  dataset  ", f"    {P}/model:v0  model  "):
        assert expected in out, expected
    assert out.index("inputs:") < out.index("data:v0") < out.index("outputs:") < out.index("model:v0")
    assert ok(store, "run", "show", f"{P}/{runs['base']}") == out
    assert ok(store, "run", "show", "base") == out  # a unique name works too


def test_run_show_json(store, runs):
    got = js(store, "run", "show", runs["base"])
    assert got["name"] == "base" and got["summary"]["acc"] == 0.91
    assert [a["artifact"] for a in got["inputs"]] == ["data:v0"]
    assert [a["artifact"] for a in got["outputs"]] == ["model:v0"]
    live = js(store, "run", "show", runs["live"])
    assert live["state"] == "running" and live["outputs"] == [] and live["exit_code"] is None


def test_run_show_unknown(store, runs):
    wrong = runs["base"][:-1] + ("x" if runs["base"][-1] != "x" else "y")
    r = art(store, "run", "show", wrong)
    assert r.exit_code == 3
    assert f"error: run '{P}/{wrong}' not found (close: {runs['base']}" in r.stderr
    assert f"hint: 'art runs {P}' lists its runs" in r.stderr


def test_run_logs(store, runs):
    assert ok(store, "run", "logs", runs["big-lr"]) == "start big-lr\nwarn: x\ndone\n"
    assert ok(store, "run", "logs", runs["big-lr"], "--stream", "stderr") == "warn: x\n"
    assert ok(store, "run", "logs", runs["live"]) == ""
    got = js(store, "run", "logs", runs["base"], "--stream", "stdout")
    assert [x["text"] for x in got] == ["start base", "done"] and got[0]["stream"] == "stdout"


def test_index_rebuild(store, runs):
    got = js(store, "index", "rebuild")
    assert (got["runs"], got["versions"], got["projects"], got["inputs"]) == (4, 2, 1, 1)
    assert got["path"] == os.path.join(store.cache_dir(), "index.sqlite") and got["store"] == store.url
    out = ok(store, "index", "rebuild")
    assert re.fullmatch(rf"rebuilt the index of {re.escape(store.url)}: 4 runs, 2 artifact versions in 1 project "
                        rf"\(\d+\.\d\d s, .*index.sqlite\)\n", out), out


def test_commands_in_a_subprocess_find_the_store_like_every_command(store, runs, tmp_path):
    env = {"ARTY_STORE": store.url, "ARTY_PROJECT": P}
    proc = run_art("runs", "--json", env=env, check=True)
    assert len(json.loads(proc.stdout)) == 4
    proc = run_art("run", "logs", runs["base"], env=env, check=True)
    assert proc.stdout == "start base\nwarn: x\ndone\n"


def test_no_store_is_not_found(tmp_path):
    r = CliRunner().invoke(cli, ["runs"], catch_exceptions=False)
    assert r.exit_code == 3 and "no store found" in r.stderr
    assert not (tmp_path / ".arty").exists()


@pytest.mark.parametrize("args", [["runs"], ["run", "show"], ["run", "logs"], ["index", "rebuild"], ["run"],
                                  ["index"]])
def test_help(args):
    r = CliRunner().invoke(cli, [*args, "--help"])
    assert r.exit_code == 0 and r.stdout.startswith("Usage:")


def test_other_commands_do_not_load_the_query_side():
    """``art add`` and friends start without importing the index (sqlite-utils costs ~0.1 s)."""
    code = "import sys, arty.cli; print('arty.api' in sys.modules, 'sqlite_utils' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_art_add_records_the_producer_run(tmp_path):
    """Every version made by `art add` has a producer run in the lineage; an unchanged re-add makes none."""
    from conftest import make_tree, run_art

    make_tree(tmp_path / "data", {"a.txt": "a", "sub/b.txt": "b"})
    run_art("add", "data", "--type", "dataset", cwd=tmp_path, check=True)
    run_art("add", "data", "--type", "dataset", cwd=tmp_path, check=True)  # unchanged: no new run
    api = arty.Api(store=str(tmp_path / ".arty"))
    runs = api.runs("default")
    assert len(runs) == 1
    run = runs[0]
    assert (run.state, run.job_type) == ("finished", "art-add")
    assert [v.name for v in run.logged_artifacts()] == ["data:v0"]
    assert arty.use_artifact("data:v0", store=str(tmp_path / ".arty")).created_by == run.id
