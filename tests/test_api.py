"""The query API (``arty.api.Api``): filters, order, lookups, and reading what runs recorded.

Runs are real records in a real local store (tests/runrecords.py); segments are
real gzip files in both column encodings; artifacts are logged through Registry.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import time

import pytest

from arty.api import Api, ApiRun
from arty.artifacts import Artifact, Registry
from arty.errors import InvalidPath, NotFound, UsageError
from arty.hashing import StatCache
from conftest import make_tree
import runrecords as rr

P = "proj"


@pytest.fixture
def store(local_store):
    return local_store


@pytest.fixture
def api(store):
    return Api(store, P)


@pytest.fixture
def zoo(store):
    """Five finished runs with varied config, summary and tags; returns {name: id}."""
    t0 = time.time() - 3600
    specs = [
        ("base-1", {"lr": 0.01, "optimizer": {"name": "adam", "lr": 0.1}, "arch": "cnn", "flag": True,
                    "layers": [64, 32]}, {"acc": 0.91, "loss": 0.3}, ["baseline", "paper1"], "g1"),
        ("base-2", {"lr": 0.001, "optimizer": {"name": "sgd", "lr": 0.05}, "arch": "resnet", "flag": False,
                    "layers": [64]}, {"acc": 0.85, "loss": 0.4, "val.acc": 0.8}, ["baseline"], "g1"),
        ("sweep-a", {"lr": 0.1, "optimizer": {"name": "adam"}, "arch": "cnn", "flag": 1, "note": None},
         {"acc": 0.95, "loss": float("nan")}, ["sweep"], "g2"),
        ("sweep-b", {"lr": "0.5", "arch": "vit"}, {"acc": 0.5, "loss": float("inf")}, [], "g2"),
        ("debug", {"lr": 0.003, "arch": "cnn"}, {}, ["debug", "paper1"], None),
    ]
    ids = {}
    for i, (name, config, summary, tags, group) in enumerate(specs):
        rid = rr.write_run(store, P, name=name, config=config, tags=tags, group=group, started_at=t0 + i * 60,
                           job_type="train" if group else "eval")
        rr.finish(store, P, rid, summary=summary, runtime=100.0 + i, steps=10 * i, finished_at=t0 + i * 60 + 30)
        ids[name] = rid
    return ids


def names(runs: list[ApiRun]) -> list[str]:
    return [r.name for r in runs]


def matching(api, flt, order="name") -> list[str]:
    return names(api.runs(filters=flt, order=order))


# -- store and project resolution -------------------------------------------------------------------


def test_api_resolves_store_and_project_like_the_cli(store, tmp_path, monkeypatch):
    rid = rr.finished_run(store, "elsewhere")
    monkeypatch.setenv("ARTY_STORE", store.url)
    monkeypatch.setenv("ARTY_PROJECT", "elsewhere")
    api = Api()
    assert api.store.url == store.url and api.default_project == "elsewhere"
    assert [r.id for r in api.runs()] == [rid]
    assert Api(store.url, "other").default_project == "other"


def test_api_without_a_store_is_not_found_and_creates_nothing(tmp_path):
    with pytest.raises(NotFound, match="no store found"):
        Api()
    assert not (tmp_path / ".arty").exists()


# -- filters -------------------------------------------------------------------------------------


def test_the_issue_example_filter_and_order(api, zoo):
    runs = api.runs(P, filters={"config.lr": {"$gt": 0.001}, "tags": "baseline"}, order="-summary.acc")
    assert names(runs) == ["base-1"]
    runs = api.runs(P, filters={"config.lr": {"$gte": 0.001}, "tags": "baseline"}, order="-summary.acc")
    assert names(runs) == ["base-1", "base-2"]


@pytest.mark.parametrize("flt, expected", [
    ({"config.lr": 0.01}, ["base-1"]),
    ({"config.lr": {"$eq": 0.01}}, ["base-1"]),
    ({"config.lr": {"$ne": 0.01}}, ["base-2", "debug", "sweep-a", "sweep-b"]),
    ({"config.lr": {"$gt": 0.01}}, ["sweep-a"]),  # "0.5" is a string: never greater than a number
    ({"config.lr": {"$gte": 0.01}}, ["base-1", "sweep-a"]),
    ({"config.lr": {"$lt": 0.003}}, ["base-2"]),
    ({"config.lr": {"$lte": 0.003}}, ["base-2", "debug"]),
    ({"config.lr": {"$gt": 0.001, "$lt": 0.05}}, ["base-1", "debug"]),
    ({"config.lr": {"$in": [0.01, 0.1, "0.5"]}}, ["base-1", "sweep-a", "sweep-b"]),
    ({"config.lr": {"$nin": [0.01, 0.1]}}, ["base-2", "debug", "sweep-b"]),
    ({"config.lr": {"$in": []}}, []),
    ({"config.lr": "0.5"}, ["sweep-b"]),
    ({"config.lr": {"$gt": "0.1"}}, ["sweep-b"]),  # strings compare with strings
    ({"config.optimizer.name": "adam"}, ["base-1", "sweep-a"]),
    ({"config.optimizer.lr": {"$lt": 0.08}}, ["base-2"]),
    ({"config.optimizer": {"$exists": True}}, ["base-1", "base-2", "sweep-a"]),
    ({"config.optimizer.lr": {"$exists": False}}, ["debug", "sweep-a", "sweep-b"]),
    ({"config.optimizer": {"lr": 0.1, "name": "adam"}}, ["base-1"]),  # a whole object
    ({"config.layers": [64]}, ["base-2"]),  # a whole list
    ({"config.flag": True}, ["base-1"]),  # a bool never equals 1
    ({"config.flag": 1}, ["sweep-a"]),
    ({"config.flag": {"$ne": True}}, ["base-2", "debug", "sweep-a", "sweep-b"]),
    ({"config.note": None}, ["base-1", "base-2", "debug", "sweep-a", "sweep-b"]),  # null or missing
    ({"config.note": {"$exists": True}}, ["sweep-a"]),  # present, even as null
    ({"config.arch": {"$regex": "^res|^vi"}}, ["base-2", "sweep-b"]),
    ({"config.arch": {"$regex": "N"}}, []),
    ({"config.missing": {"$gt": 0}}, []),
    ({"summary.acc": {"$gte": 0.9}}, ["base-1", "sweep-a"]),
    ({"summary_metrics.acc": {"$lt": 0.6}}, ["sweep-b"]),
    ({"summary.loss": {"$gt": 1000}}, ["sweep-b"]),  # inf compares as a number
    ({"summary.loss": {"$exists": True}}, ["base-1", "base-2", "sweep-a", "sweep-b"]),  # NaN is a value
    ({"summary.val.acc": 0.8}, ["base-2"]),  # a flat key with a dot
    ({"name": {"$regex": "^base"}}, ["base-1", "base-2"]),
    ({"display_name": "debug"}, ["debug"]),
    ({"state": "finished"}, ["base-1", "base-2", "debug", "sweep-a", "sweep-b"]),
    ({"group": "g2"}, ["sweep-a", "sweep-b"]),
    ({"group": None}, ["debug"]),
    ({"job_type": "eval"}, ["debug"]),
    ({"runtime": {"$gte": 103}}, ["debug", "sweep-b"]),
    ({"steps": {"$in": [10, 20]}}, ["base-2", "sweep-a"]),
    ({"exit_code": 0}, ["base-1", "base-2", "debug", "sweep-a", "sweep-b"]),
    ({"host": {"$ne": "worker-7"}}, []),
])
def test_operators_on_fields(api, zoo, flt, expected):
    assert matching(api, flt) == expected


@pytest.mark.parametrize("flt, expected", [
    ({"tags": "baseline"}, ["base-1", "base-2"]),
    ({"tags": {"$eq": "paper1"}}, ["base-1", "debug"]),
    ({"tags": {"$in": ["sweep", "debug"]}}, ["debug", "sweep-a"]),
    ({"tags": {"$nin": ["baseline", "sweep"]}}, ["debug", "sweep-b"]),
    ({"tags": {"$ne": "baseline"}}, ["debug", "sweep-a", "sweep-b"]),
    ({"tags": ["baseline", "paper1"]}, ["base-1"]),  # has all of them
    ({"tags": {"$exists": True}}, ["base-1", "base-2", "debug", "sweep-a"]),  # any tag at all
    ({"tags": {"$exists": False}}, ["sweep-b"]),
    ({"tags": {"$regex": "^pap"}}, ["base-1", "debug"]),
])
def test_tags(api, zoo, flt, expected):
    assert matching(api, flt) == expected


def test_logic(api, zoo):
    assert matching(api, {"$or": [{"config.arch": "vit"}, {"summary.acc": {"$gt": 0.9}}]}) == \
        ["base-1", "sweep-a", "sweep-b"]
    assert matching(api, {"$and": [{"config.arch": "cnn"}, {"tags": "paper1"}]}) == ["base-1", "debug"]
    assert matching(api, {"$nor": [{"config.arch": "cnn"}, {"tags": "sweep"}]}) == ["base-2", "sweep-b"]
    assert matching(api, {"config.arch": "cnn", "$or": [{"group": "g1"}, {"group": "g2"}]}) == \
        ["base-1", "sweep-a"]
    nested = {"$or": [{"$and": [{"tags": "baseline"}, {"config.lr": {"$lt": 0.005}}]}, {"name": "debug"}]}
    assert matching(api, nested) == ["base-2", "debug"]


def test_created_at_compares_as_iso_text_and_accepts_datetimes(api, zoo):
    third = api.run(zoo["sweep-a"]).created_at
    assert matching(api, {"created_at": {"$gte": third}}) == ["debug", "sweep-a", "sweep-b"]
    since = dt.datetime.fromisoformat(third.replace("Z", "+00:00"))
    assert matching(api, {"createdAt": {"$gte": since}}) == ["debug", "sweep-a", "sweep-b"]


@pytest.mark.parametrize("flt, message", [
    ({"config.lr": {"$gt": 0.1, "lr": 2}}, "mixes operators"),
    ({"config.lr": {"$near": 1}}, "unknown filter operator '\\$near'"),
    ({"$where": "1"}, "unknown filter operator '\\$where'"),
    ({"colour": "red"}, "unknown run field 'colour'"),
    ({"config.lr": {"$in": 3}}, "'\\$in' needs a list"),
    ({"config.lr": {"$gt": [1]}}, "'\\$gt' needs a number or a string"),
    ({"name": {"$regex": "("}}, "invalid regular expression"),
    ({"$or": {"a": 1}}, "'\\$or' needs a non-empty list"),
    ({"config..lr": 1}, "invalid key part"),
])
def test_bad_filters_are_usage_errors(api, zoo, flt, message):
    with pytest.raises(UsageError, match=message):
        api.runs(filters=flt)


def test_a_filter_must_be_a_dict(api):
    with pytest.raises(UsageError, match="must be a dict"):
        api.runs(filters=[("config.lr", 1)])


# -- order and limits ---------------------------------------------------------------------------------


def test_order(api, zoo):
    assert names(api.runs()) == ["debug", "sweep-b", "sweep-a", "base-2", "base-1"]  # newest first
    assert names(api.runs(order="created_at")) == ["base-1", "base-2", "sweep-a", "sweep-b", "debug"]
    assert names(api.runs(order="-summary.acc")) == ["sweep-a", "base-1", "base-2", "sweep-b", "debug"]
    assert names(api.runs(order="summary.acc")) == ["sweep-b", "base-2", "base-1", "sweep-a", "debug"]  # missing last
    assert names(api.runs(order="config.optimizer.lr")) == ["base-2", "base-1", "debug", "sweep-b", "sweep-a"]
    assert names(api.runs(order="group,-summary.acc")) == ["base-1", "base-2", "sweep-a", "sweep-b", "debug"]
    assert names(api.runs(order=["-job_type", "name"])) == ["base-1", "base-2", "sweep-a", "sweep-b", "debug"]
    assert names(api.runs(order="-name", limit=2)) == ["sweep-b", "sweep-a"]
    assert len(api.runs(per_page=2)) == 5  # W&B's page size: the whole list is returned
    with pytest.raises(UsageError, match="cannot sort by tags"):
        api.runs(order="tags")
    with pytest.raises(UsageError, match="unknown run field"):
        api.runs(order="-acc")


# -- one run -------------------------------------------------------------------------------------------


def test_run_fields(api, store, zoo):
    rid = zoo["base-1"]
    r = api.run(f"{P}/{rid}")
    assert (r.id, r.project, r.path, r.name, r.state) == (rid, P, f"{P}/{rid}", "base-1", "finished")
    assert r.config == {"lr": 0.01, "optimizer": {"name": "adam", "lr": 0.1}, "arch": "cnn", "flag": True,
                        "layers": [64, 32]}
    assert r.summary == {"acc": 0.91, "loss": 0.3}
    assert (r.tags, r.group, r.job_type, r.exit_code, r.error) == (["baseline", "paper1"], "g1", "train", 0, None)
    assert r.runtime == 100.0 and r.steps == 0
    assert r.created_at.endswith("Z") and r.finished_at > r.created_at
    assert r.command == ["train.py", "--epochs", "3"] and r.host == "worker-7"
    assert api.run(rid) == r  # the default project
    sweep = api.run(zoo["sweep-a"]).summary
    assert math.isnan(sweep["loss"]) and sweep["acc"] == 0.95
    assert api.run(zoo["sweep-b"]).summary["loss"] == float("inf")
    assert json.loads(json.dumps(r.to_json()))["summary"] == {"acc": 0.91, "loss": 0.3}


def test_run_by_unique_name(api, store, zoo):
    assert api.run("sweep-a").id == zoo["sweep-a"]
    rr.finished_run(store, P, name="twin")
    rr.finished_run(store, P, name="twin")
    with pytest.raises(UsageError, match="2 runs of project 'proj' are named 'twin'"):
        api.run("twin")


def test_unknown_run_names_close_ids(api, store):
    rr.finished_run(store, P, run_id="abc12345")
    rr.finished_run(store, P, run_id="zzz99999")
    with pytest.raises(NotFound) as exc:
        api.run("abc12346")
    assert exc.value.message == "run 'proj/abc12346' not found (close: abc12345)"
    assert "art runs proj" in exc.value.hint
    with pytest.raises(NotFound, match=r"\(2 runs, none close\)"):
        api.run("qqqqqqqq")


def test_unknown_run_in_an_empty_project_names_the_others(api, store):
    rr.finished_run(store, "other")
    with pytest.raises(NotFound, match="run 'empty/x1' not found \\(project 'empty' has no runs; projects: other"):
        api.run("empty/x1")


def test_unknown_project(api, store):
    rr.finished_run(store, "vision")
    with pytest.raises(NotFound, match=r"project 'nope' not found \(projects: vision\)"):
        api.runs("nope")
    assert api.runs() == []  # the default project may be empty
    assert api.projects() == ["vision"]


@pytest.mark.parametrize("path", ["a/b/c/d", "", "bad name/x"])
def test_bad_run_paths(api, path):
    with pytest.raises(UsageError):
        api.run(path)


# -- current values and state ----------------------------------------------------------------------------


def test_current_values_come_from_the_latest_events(api, store):
    rid = rr.write_run(store, P, name="first", config={"lr": 0.1}, tags=["a"], notes="n0", host="far-away")
    rr.add_event(store, P, rid, "config", config={"lr": 0.2})
    rr.add_event(store, P, rid, "summary", summary={"loss": 2.0})
    rr.add_event(store, P, rid, "config", config={"lr": 0.3, "extra": 1})
    rr.add_event(store, P, rid, "tags", tags=["b", "c"])
    rr.add_event(store, P, rid, "notes", notes="n1")
    rr.add_event(store, P, rid, "name", name="renamed")
    rr.add_event(store, P, rid, "summary", summary={"loss": 1.0})
    rr.add_event(store, P, rid, "heartbeat", step=41)
    r = api.run(rid)
    assert (r.config, r.tags, r.notes, r.name, r.summary) == ({"lr": 0.3, "extra": 1}, ["b", "c"], "n1", "renamed",
                                                              {"loss": 1.0})
    assert r.state == "running"
    assert matching(api, {"config.extra": 1, "tags": "c", "summary.loss": 1.0}) == ["renamed"]
    # final.json's summary wins over the events'; an edit after the end still counts.
    rr.finish(store, P, rid, summary={"loss": 0.5, "acc": 1.0}, state="failed", exit_code=3, error="boom")
    rr.add_event(store, P, rid, "notes", notes="post mortem")
    r = api.runs()[0]
    assert (r.summary, r.state, r.exit_code, r.error, r.notes) == ({"loss": 0.5, "acc": 1.0}, "failed", 3, "boom",
                                                                   "post mortem")


def test_states(api, store):
    now = time.time()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    ids = {
        "alive-here": rr.write_run(store, P, host=rr.this_host(), pid=os.getpid()),
        "dead-here": rr.write_run(store, P, host=rr.this_host(), pid=dead_pid),
        "recent-elsewhere": rr.write_run(store, P, host="far-away", started_at=now - 3600),
        "silent-elsewhere": rr.write_run(store, P, host="far-away", started_at=now - 3600),
        "segment-elsewhere": rr.write_run(store, P, host="far-away", started_at=now - 3600),
        "resumed-here": rr.write_run(store, P, host=rr.this_host(), pid=dead_pid, started_at=now - 3600),
        "failed": rr.write_run(store, P),
    }
    rr.add_event(store, P, ids["recent-elsewhere"], "heartbeat", at=now - 30)
    rr.add_event(store, P, ids["silent-elsewhere"], "heartbeat", at=now - 11 * 60)
    rr.add_history(store, P, ids["segment-elsewhere"], [{"loss": 1.0}], t0=now - 5)
    rr.add_event(store, P, ids["resumed-here"], "resume", host=rr.this_host(), pid=os.getpid())
    rr.finish(store, P, ids["failed"], state="failed", exit_code=1, error="ValueError: x")
    states = {r.id: r.state for r in api.runs()}
    assert {k: states[v] for k, v in ids.items()} == {
        "alive-here": "running", "dead-here": "crashed", "recent-elsewhere": "running",
        "silent-elsewhere": "crashed", "segment-elsewhere": "running", "resumed-here": "running",
        "failed": "failed"}
    assert sorted(r.id for r in api.runs(filters={"state": "crashed"})) == sorted(
        [ids["dead-here"], ids["silent-elsewhere"]])
    assert api.run(ids["segment-elsewhere"]).runtime == pytest.approx(3595, abs=2)


# -- history ---------------------------------------------------------------------------------------------


@pytest.fixture(params=["json", "orjson"])
def parser(request, monkeypatch):
    """Run a test with the json module only, and again with orjson for number lists when installed."""
    from arty.index import segments

    if request.param == "json":
        monkeypatch.setattr(segments, "_orjson", None)
    elif segments._orjson is None:
        pytest.skip("orjson is not installed")
    return request.param


@pytest.fixture(params=["lists", "packed"])
def long_run(request, store):
    """A run with 3 history segments: train/loss each step, val/acc every 10th step from step 20."""
    packed = request.param == "packed"
    rid = rr.write_run(store, P)
    t0 = time.time() - 100
    for seg in range(3):
        start = seg * 20
        rows = []
        for step in range(start, start + 20):
            row = {"train/loss": 1.0 / (step + 1)}
            if step >= 20 and step % 10 == 0:
                row["val/acc"] = step / 100
            rows.append(row)
        rr.add_history(store, P, rid, rows, start_step=start, t0=t0 + start, packed=packed)
    rr.finish(store, P, rid, steps=60)
    return rid


def test_history_rows(api, long_run, parser):
    r = api.run(long_run)
    rows = r.history()
    assert len(rows) == 60 and [x["_step"] for x in rows] == list(range(60))
    assert rows[0].keys() == {"_step", "_runtime", "_timestamp", "train/loss"}  # val/acc not logged there
    assert rows[30] == {"_step": 30, "_runtime": rows[30]["_runtime"], "_timestamp": rows[30]["_timestamp"],
                        "train/loss": 1.0 / 31, "val/acc": 0.3}
    assert list(rows[0])[0] == "_step"
    assert r.history(keys=["val/acc"]) == [{"_step": s, "val/acc": s / 100} for s in (20, 30, 40, 50)]
    both = r.history(keys=["train/loss", "val/acc"])
    assert [x["_step"] for x in both] == [20, 30, 40, 50] and both[0]["train/loss"] == 1.0 / 21
    assert r.history(keys="val/acc") == r.history(keys=["val/acc"])
    assert r.history(keys=["nothing"]) == []
    assert list(r.scan_history()) == rows
    assert list(r.scan_history(keys=["val/acc"], min_step=30, max_step=50)) == [
        {"_step": 30, "val/acc": 0.3}, {"_step": 40, "val/acc": 0.4}]


def test_history_samples(api, long_run):
    r = api.run(long_run)
    sampled = r.history(keys=["train/loss"], samples=7)
    assert [x["_step"] for x in sampled] == [0, 9, 19, 29, 39, 49, 59]
    assert len(r.history(samples=1000)) == 60
    assert r.history(samples=1) == [r.history()[-1]]


def test_history_values_are_faithful(api, store, parser):
    rid = rr.write_run(store, P)
    rows = [{"a": float("nan"), "s": "text", "b": True, "o": {"k": [1, 2]}, "big": 2 ** 70},
            {"a": float("inf"), "s": None, "b": False, "i": 7},
            {"a": float("-inf"), "i": -(2 ** 63)}]
    rr.add_history(store, P, rid, rows)
    rr.add_history(store, P, rid, [{"a": 1.5, "i": 2 ** 63 - 1}], start_step=3, packed=True)
    got = api.run(rid).history(keys=["a", "s", "b", "o", "big", "i"][:1])
    assert math.isnan(got[0]["a"]) and got[1]["a"] == float("inf") and got[2]["a"] == float("-inf")
    assert got[3]["a"] == 1.5
    full = api.run(rid).history()
    assert full[0]["s"] == "text" and full[0]["b"] is True and full[0]["o"] == {"k": [1, 2]}
    assert full[0]["big"] == 2 ** 70 and "i" not in full[0]
    assert full[1]["b"] is False and "s" not in full[1] and full[1]["i"] == 7
    assert full[2]["i"] == -(2 ** 63) and full[3]["i"] == 2 ** 63 - 1


def test_history_reads_segments_the_run_writer_makes(api, store):
    segments = pytest.importorskip("arty.store.segments")
    rid = rr.write_run(store, P)
    rows = [{"_step": i, "_timestamp": 1.0 + i, "_runtime": float(i), "loss": 1.0 / (i + 1), "epoch": i // 2,
             **({"note": "x"} if i == 1 else {})} for i in range(4)]
    store.backend.create(f"projects/{P}/runs/{rid}/history/00000000.json.gz", segments.encode_rows(rows))
    assert api.run(rid).history() == [{k: v for k, v in r.items()} for r in rows]
    assert api.run(rid).history(keys=["loss"]) == [{"_step": r["_step"], "loss": r["loss"]} for r in rows]


def test_no_history(api, store):
    rid = rr.finished_run(store, P)
    r = api.run(rid)
    assert r.history() == [] and list(r.scan_history()) == [] and r.system_metrics() == []
    assert r.console() == [] and r.files() == []


def test_pandas(api, long_run):
    pd = pytest.importorskip("pandas")
    df = api.run(long_run).history(keys=["val/acc"], pandas=True)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["_step", "val/acc"] and list(df["_step"]) == [20, 30, 40, 50]
    full = api.run(long_run).history(pandas=True)
    assert len(full) == 60 and full["val/acc"].isna().sum() == 56


def test_pandas_missing_is_a_clear_error(api, long_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # what an environment without pandas looks like
    with pytest.raises(UsageError, match="pandas=True needs pandas, which is not installed") as exc:
        api.run(long_run).history(pandas=True)
    assert "pip install pandas" in exc.value.hint


def test_a_damaged_segment_is_an_integrity_error(api, store):
    from arty.errors import IntegrityError

    rid = rr.finished_run(store, P)
    store.backend.create(f"projects/{P}/runs/{rid}/history/00000000.json.gz", b"not gzip")
    with pytest.raises(IntegrityError, match="history/00000000.json.gz"):
        api.run(rid).history()


# -- system metrics, console, files ----------------------------------------------------------------------


def test_system_metrics(api, store):
    rid = rr.write_run(store, P)
    rr.add_system(store, P, rid, [{"cpu.percent": 10.0, "memory.percent": 50.0},
                                  {"cpu.percent": 20.0, "memory.percent": 51.0, "gpu.0.utilization": 99}], t0=1000.0)
    rr.add_system(store, P, rid, [{"cpu.percent": 30.0}], t0=1020.0)
    rows = api.run(rid).system_metrics()
    assert rows == [{"_timestamp": 1000.0, "cpu.percent": 10.0, "memory.percent": 50.0},
                    {"_timestamp": 1010.0, "cpu.percent": 20.0, "gpu.0.utilization": 99, "memory.percent": 51.0},
                    {"_timestamp": 1020.0, "cpu.percent": 30.0}]
    assert list(rows[1]) == ["_timestamp", "cpu.percent", "gpu.0.utilization", "memory.percent"]


def test_console(api, store):
    rid = rr.write_run(store, P)
    rr.add_console(store, P, rid, [(1.0, "stdout", "epoch 1"), (2.0, "stderr", "warning: slow")])
    rr.add_console(store, P, rid, [(3.0, "stdout", "done")])
    r = api.run(rid)
    assert r.console() == [(1.0, "stdout", "epoch 1"), (2.0, "stderr", "warning: slow"), (3.0, "stdout", "done")]
    assert r.console("stderr") == [(2.0, "stderr", "warning: slow")]
    with pytest.raises(UsageError):
        r.console("stdin")


def test_files(api, store, tmp_path):
    rid = rr.write_run(store, P)
    rr.add_file(store, P, rid, "requirements.txt", "numpy==2.0\n")
    rr.add_file(store, P, rid, "diff.patch", "--- a\n+++ b\n")
    rr.add_file(store, P, rid, "code/src/train.py", "print('hi')\n")
    rr.add_file(store, P, rid, "x/x", "same name as its folder")
    r = api.run(rid)
    assert r.files() == ["code/src/train.py", "diff.patch", "requirements.txt", "x/x"]
    dest = r.download_file("code/src/train.py", tmp_path / "out")
    assert dest == os.path.join(str(tmp_path / "out"), "code", "src", "train.py")
    with open(dest) as f:
        assert f.read() == "print('hi')\n"
    assert r.read_file("requirements.txt") == b"numpy==2.0\n"
    with pytest.raises(NotFound, match="no file 'nope.txt' in run .* \\(files: code/src/train.py, diff.patch"):
        r.download_file("nope.txt", tmp_path)
    for bad in ("../escape", "/etc/passwd", "a//b", "C:/x"):
        with pytest.raises(InvalidPath):
            r.download_file(bad, tmp_path)


# -- artifacts -------------------------------------------------------------------------------------------


def test_used_and_logged_artifacts(api, store, tmp_path):
    reg = Registry(store, P, StatCache(":memory:"))
    other = Registry(store, "shared", StatCache(":memory:"))
    data = other.log(Artifact("data", type="dataset").add_dir(make_tree(tmp_path / "d", {"a.csv": "1"}))).version
    data2 = other.log(Artifact("data", type="dataset").add_dir(make_tree(tmp_path / "d", {"a.csv": "2"}))).version
    rid = rr.write_run(store, P)
    rr.add_input(store, P, rid, data)
    rr.add_input(store, P, rid, data2)
    model = reg.log(Artifact("model", type="model").add_dir(make_tree(tmp_path / "m", {"w": "1"})),
                    created_by=rid).version
    model2 = reg.log(Artifact("model", type="model").add_dir(make_tree(tmp_path / "m", {"w": "2"})),
                     created_by=rid).version
    reg.log(Artifact("model", type="model").add_dir(make_tree(tmp_path / "m", {"w": "3"})), created_by="someone")
    rr.finish(store, P, rid)
    r = api.run(rid)
    assert r.used_artifacts() == [data, data2]
    assert [v.project for v in r.used_artifacts()] == ["shared", "shared"]
    assert r.logged_artifacts() == [model, model2]
    assert [str(v) for v in r.logged_artifacts()] == ["model:v0", "model:v1"]
    assert api.run(rr.finished_run(store, P)).logged_artifacts() == []


def test_logging_content_that_exists_counts_as_an_output(api, store, tmp_path):
    """The second run gets the first run's version back (same digest): created_by still names the
    first, the second's outputs/ record names the version too."""
    reg = Registry(store, P, StatCache(":memory:"))
    first, second = rr.write_run(store, P), rr.write_run(store, P)
    v = reg.log(Artifact("model", type="model").add_dir(make_tree(tmp_path / "m", {"w": "1"})),
                created_by=first).version
    rr.add_output(store, P, first, v)
    again = reg.log(Artifact("model", type="model").add_dir(make_tree(tmp_path / "m", {"w": "1"})),
                    created_by=second)
    assert not again.created and again.version.created_by == first
    rr.add_output(store, P, second, again.version, created=False)
    assert api.run(first).logged_artifacts() == [v]
    assert api.run(second).logged_artifacts() == [v]
    assert {r["run"] for r in api.index.producers(P, "model", 0)} == {first, second}
