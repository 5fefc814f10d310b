"""The SQLite index: rebuilt from the records alone, caught up from the journal, never in the way.

Every test writes real run records into a real store (tests/runrecords.py)
and reads them through a real SQLite file.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

from arty.api import Api
from arty.artifacts import Artifact, Registry
from arty.errors import NotFound
from arty.hashing import StatCache
from arty.index import SCHEMA_VERSION, Index
from arty.index.index import JOURNAL_WINDOW_MS
from arty.store import init_store
from arty.store.store import journal_id
from conftest import make_tree
import runrecords as rr


@pytest.fixture
def store(local_store):
    return local_store


def registry(store, project="default"):
    return Registry(store, project, StatCache(":memory:"))


def fill(store, tmp_path, stage: int) -> dict[str, str]:
    """Add records in stages, as runs and artifacts appear over time; returns ids by role."""
    ids = {}
    now = time.time()
    if stage == 0:
        ids["a"] = rr.write_run(store, "vision", run_id="run00aaa", config={"lr": 0.1, "opt": {"name": "sgd"}},
                                tags=["baseline"], name="base", started_at=now - 30)
        rr.add_history(store, "vision", "run00aaa", [{"loss": 1.0}, {"loss": 0.5}], t0=now - 29)
    if stage == 1:
        rr.add_event(store, "vision", "run00aaa", "notes", notes="first try", at=now - 20)
        rr.add_event(store, "vision", "run00aaa", "summary", summary={"loss": 0.5}, at=now - 19)
        reg = registry(store, "vision")
        data = make_tree(tmp_path / "d1", {"x.csv": "1,2\n"})
        v = reg.log(Artifact("data", type="dataset").add_dir(data), aliases=["prod"]).version
        rr.add_input(store, "vision", "run00aaa", v)
        rr.add_console(store, "vision", "run00aaa", [(now - 18, "stdout", "epoch 1")])
    if stage == 2:
        rr.add_history(store, "vision", "run00aaa", [{"loss": 0.25}], start_step=2, t0=now - 10)
        model = make_tree(tmp_path / "m1", {"model.pt": "weights"})
        v = registry(store, "vision").log(Artifact("model", type="model").add_dir(model), created_by="run00aaa")
        rr.add_output(store, "vision", "run00aaa", v.version)
        rr.finish(store, "vision", "run00aaa", summary={"loss": 0.25, "acc": 0.9}, steps=3)
        ids["b"] = rr.write_run(store, "nlp", run_id="run00bbb", config={"lr": 0.01}, host="elsewhere",
                                started_at=now - 5)
        rr.add_event(store, "nlp", "run00bbb", "tags", tags=["t1", "t2"], at=now - 4)
        registry(store, "vision").set_alias("data", 0, "stable")
    if stage == 3:
        rr.add_event(store, "vision", "run00aaa", "notes", notes="edited after the end", at=now)
        registry(store, "vision").delete_alias("data", "prod")
        rr.add_system(store, "nlp", "run00bbb", [{"cpu.percent": 12.5}], t0=now - 1)
    return ids


# -- rebuild and catch-up agree -------------------------------------------------------------------


def test_catch_up_step_by_step_equals_rebuild(store, tmp_path):
    live = Index(store, str(tmp_path / "live.sqlite"))
    assert live.catch_up()["rebuilt"] == 1  # the first call builds (an empty store here)
    for stage in range(4):
        fill(store, tmp_path, stage)
        applied = live.catch_up()
        assert applied["entries"] > 0
        fresh = Index(store, str(tmp_path / f"fresh{stage}.sqlite"))
        fresh.rebuild()
        assert live.dump() == fresh.dump(), f"stage {stage}"
    dump = live.dump()
    run = next(r for r in dump["runs"] if r["id"] == "run00aaa")
    assert (run["state"], run["notes"], run["steps"]) == ("finished", "edited after the end", 3)
    assert [(v["name"], v["version"], v["created_by"]) for v in dump["artifact_versions"]] == [
        ("data", 0, None), ("model", 0, "run00aaa")]
    assert [(a["name"], a["alias"]) for a in dump["aliases"]] == [("data", "stable")]  # prod was deleted
    assert [(i["artifact"], i["version"]) for i in dump["inputs"]] == [("data", 0)]
    assert [(i["run"], i["artifact"], i["version"]) for i in dump["outputs"]] == [("run00aaa", "model", 0)]
    assert [p["name"] for p in dump["projects"]] == ["nlp", "vision"]
    nlp = next(r for r in dump["runs"] if r["id"] == "run00bbb")
    assert nlp["tags"] == '["t1", "t2"]' and nlp["final"] == 0


def test_catch_up_applies_each_entry_once(store, tmp_path):
    index = Index(store, str(tmp_path / "i.sqlite"))
    index.catch_up()
    fill(store, tmp_path, 0)
    first = index.catch_up()
    assert first["entries"] == 2 and first["runs"] == 1  # run_started and a segment of one run
    assert index.catch_up()["entries"] == 0
    # Another process's index over the same file sees nothing new either.
    assert Index(store, index.path).catch_up()["entries"] == 0


def test_late_entry_inside_the_window_is_applied(store, tmp_path):
    """A writer whose clock lags names its entry before the cursor: re-reading the window finds it."""
    index = Index(store, str(tmp_path / "i.sqlite"))
    rr.finished_run(store, "p", summary={"acc": 0.5})
    index.catch_up()
    late = rr.write_run(store, "p", journal=False)
    rr.finish(store, "p", late, journal=False)
    lag_ms = int(time.time() * 1000) - 60_000
    store.create_record(f"journal/{journal_id(lag_ms)}.json", {"kind": "run_finished", "project": "p", "run": late})
    assert index.catch_up()["runs"] == 1
    assert late in [r["id"] for r in index.runs("p")]


def test_entry_older_than_the_window_needs_a_rebuild(store, tmp_path):
    index = Index(store, str(tmp_path / "i.sqlite"))
    rr.finished_run(store, "p")
    index.catch_up()
    old = rr.write_run(store, "p", journal=False)
    too_old = int(time.time() * 1000) - JOURNAL_WINDOW_MS - 60_000
    store.create_record(f"journal/{journal_id(too_old)}.json", {"kind": "run_started", "project": "p", "run": old})
    index.catch_up()
    assert old not in [r["id"] for r in index.runs("p")]
    index.rebuild()
    assert old in [r["id"] for r in index.runs("p")]


def test_journal_entries_are_hints_the_records_are_the_truth(store, tmp_path):
    """Entries naming things that do not exist, or of unknown kinds, change nothing."""
    index = Index(store, str(tmp_path / "i.sqlite"))
    index.catch_up()
    store.journal("run_started", project="p", run="ghost123")
    store.journal("something_new", project="p", detail=1)
    store.journal("version_created", project="p", artifact="nothing", version=0)
    got = index.catch_up()
    assert got["entries"] == 3
    assert index.runs("p") == [] and index.versions() == []


def test_damaged_records_do_not_stop_the_others(store, tmp_path):
    """A journal entry or run.json that is not JSON: the entry is skipped, the run left out with a warning."""
    index = Index(store, str(tmp_path / "i.sqlite"))
    index.catch_up()
    good = rr.finished_run(store, "p")
    store.backend.create(f"journal/{journal_id()}.json", b"{half an entry")
    store.backend.create("projects/p/runs/badrun01/run.json", b"not json")
    store.journal("run_started", project="p", run="badrun01")
    with pytest.warns(RuntimeWarning, match="run 'p/badrun01' left out of the index"):
        index.catch_up()
    assert [r["id"] for r in index.runs("p")] == [good]
    with pytest.warns(RuntimeWarning, match="badrun01"):
        assert index.rebuild()["runs"] == 1


def test_looking_up_a_run_of_a_missing_project_adds_no_project(store, tmp_path):
    api = Api(store, "p", index_path=str(tmp_path / "i.sqlite"))
    rr.finished_run(store, "p")
    with pytest.raises(NotFound, match="run 'typo/abcdefgh' not found \\(project 'typo' has no runs; projects: p\\)"):
        api.run("typo/abcdefgh")
    assert api.projects() == ["p"]


def test_unjournaled_run_is_found_by_id_and_by_rebuild(store, tmp_path):
    api = Api(store, "p", index_path=str(tmp_path / "i.sqlite"))
    assert api.runs() == []
    quiet = rr.finished_run(store, "p", journal=False)
    assert api.runs() == []  # nothing told the index
    assert api.run(quiet).state == "finished"  # looked up in the store directly
    assert [r.id for r in api.runs()] == [quiet]


# -- the index is a cache ---------------------------------------------------------------------------


def snapshot(api):
    return [r.to_json() for r in api.runs(order="name")]


def populated(store, tmp_path):
    for stage in range(4):
        fill(store, tmp_path, stage)
    rr.finished_run(store, "vision", name="zeta", config={"lr": 0.3}, summary={"acc": float("nan")})


def test_default_location_is_the_store_cache_folder(store, tmp_path):
    api = Api(store, "vision")
    api.runs()
    assert api.index.path == os.path.join(store.cache_dir(), "index.sqlite")
    assert os.path.isfile(api.index.path)


def test_deleting_the_index_loses_nothing(store, tmp_path):
    populated(store, tmp_path)
    api = Api(store, "vision")
    before = snapshot(api)
    assert len(before) == 2 and before[0]["summary"] == {"acc": 0.9, "loss": 0.25}
    path = api.index.path
    api.close()
    os.unlink(path)
    again = Api(store, "vision")
    assert snapshot(again) == before
    assert [v.name for v in again.run("run00aaa").logged_artifacts()] == ["model:v0"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "pages"])
def test_a_damaged_index_file_is_rebuilt(store, tmp_path, damage):
    populated(store, tmp_path)
    api = Api(store, "vision")
    before = snapshot(api)
    path = api.index.path
    api.close()
    size = os.path.getsize(path)
    if damage == "garbage":
        with open(path, "wb") as f:
            f.write(b"this is not a database" * 100)
    elif damage == "truncated":
        with open(path, "r+b") as f:
            f.truncate(size // 3)
    else:  # overwrite every page after the first: the header still says SQLite
        with open(path, "r+b") as f:
            f.seek(4096)
            f.write(os.urandom(size - 4096))
    again = Api(store, "vision")
    assert snapshot(again) == before


def test_damage_found_during_a_query_rebuilds_and_answers(store, tmp_path):
    """The file opens fine, but the runs table's pages are garbage: the query itself recovers."""
    populated(store, tmp_path)
    for i in range(40):
        rr.finished_run(store, "vision", name=f"filler-{i}", config={"blob": "x" * 500})
    api = Api(store, "vision")
    before = snapshot(api)
    path = api.index.path
    try:
        pages = [p for (p,) in api.index.db.execute("SELECT pageno FROM dbstat WHERE name = 'runs'")]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table")
    api.close()
    assert len(pages) > 3
    with open(path, "r+b") as f:
        for p in pages:
            f.seek((p - 1) * 4096)
            f.write(os.urandom(4096))
    again = Api(store, "vision")
    assert again.index.path == path  # opened: the damage was not visible yet
    assert snapshot(again) == before


def test_another_schema_version_is_rebuilt(store, tmp_path):
    populated(store, tmp_path)
    api = Api(store, "vision")
    before = snapshot(api)
    api.index.db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    api.index.db.execute("DELETE FROM runs")
    path = api.index.path
    api.close()
    assert snapshot(Api(store, "vision")) == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == \
            str(SCHEMA_VERSION)


def test_a_foreign_sqlite_file_is_replaced(store, tmp_path):
    path = os.path.join(store.cache_dir(), "index.sqlite")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE something (x)")
    rr.finished_run(store, "p")
    assert len(Api(store, "p").runs()) == 1


def test_index_of_another_store_at_the_same_path_is_rebuilt(tmp_path):
    a, _ = init_store(str(tmp_path / "a"))
    b, _ = init_store(str(tmp_path / "b"))
    ra = rr.finished_run(a, "p")
    rb = rr.finished_run(b, "p")
    shared = str(tmp_path / "shared.sqlite")
    assert [r.id for r in Api(a, "p", index_path=shared).runs()] == [ra]
    assert [r.id for r in Api(b, "p", index_path=shared).runs()] == [rb]


def test_an_index_path_that_cannot_be_a_file_falls_back_to_memory(store, tmp_path):
    blocked = tmp_path / "blocked.sqlite"
    blocked.mkdir()  # a folder where the file should be
    rid = rr.finished_run(store, "p")
    api = Api(store, "p", index_path=str(blocked))
    assert [r.id for r in api.runs()] == [rid]
    assert api.index.path == ":memory:"
    assert blocked.is_dir()


def test_two_indexes_on_one_file_stay_consistent(store, tmp_path):
    path = str(tmp_path / "i.sqlite")
    one, two = Index(store, path), Index(store, path)
    one.catch_up()
    ids = {rr.finished_run(store, "p") for _ in range(3)}
    two.catch_up()
    one.catch_up()
    assert {r["id"] for r in one.runs("p")} == ids == {r["id"] for r in two.runs("p")}


# -- remote stores -----------------------------------------------------------------------------------


def test_memory_store_index_lives_in_the_user_cache(tmp_path):
    url = f"memory://arty-tests/{uuid.uuid4().hex}/store"
    store, _ = init_store(url)
    try:
        rid = rr.write_run(store, "p", config={"lr": 0.1}, tags=["baseline"])
        rr.add_history(store, "p", rid, [{"loss": 1.0}, {"loss": 0.5}], packed=True)
        rr.add_console(store, "p", rid, [(1.0, "stdout", "hi")])
        for rel in ("requirements.txt", "code/train.py", "code/code", "a/a/a"):
            rr.add_file(store, "p", rid, rel, rel)
        rr.finish(store, "p", rid, summary={"loss": 0.5}, steps=2)
        other = rr.finished_run(store, "p", config={"lr": 0.001})
        api = Api(url, "p")
        assert api.index.path.startswith(str(tmp_path / "user-cache"))
        assert [r.id for r in api.runs(filters={"config.lr": {"$gt": 0.01}})] == [rid]
        assert {r.id for r in api.runs()} == {rid, other}
        run = api.run(f"p/{rid}")
        assert [row["loss"] for row in run.history(keys=["loss"])] == [1.0, 0.5]
        assert run.console() == [(1.0, "stdout", "hi")]
        assert run.files() == ["a/a/a", "code/code", "code/train.py", "requirements.txt"]
        assert run.read_file("a/a/a") == b"a/a/a"
        assert Index(store, str(tmp_path / "x.sqlite")).rebuild()["runs"] == 2
    finally:
        import fsspec

        fsspec.filesystem("memory").rm(url[len("memory://"):], recursive=True)


def test_many_runs_with_many_events_on_a_remote_store(tmp_path):
    """Runs load in parallel and each reads its events in parallel too: no thread waits on itself."""
    url = f"memory://arty-tests/{uuid.uuid4().hex}/store"
    store, _ = init_store(url)
    try:
        ids = []
        for i in range(40):
            rid = rr.write_run(store, "p", config={"i": i}, journal=False)
            for j in range(6):
                rr.add_event(store, "p", rid, "heartbeat", journal=False)
            rr.add_event(store, "p", rid, "notes", notes=f"n{i}", journal=False)
            for j in range(6):
                rr.add_event(store, "p", rid, "heartbeat", journal=False)
            rr.finish(store, "p", rid, journal=False)
            ids.append(rid)
        index = Index(store, str(tmp_path / "i.sqlite"))
        assert index.rebuild()["runs"] == 40
        rows = index.runs("p", order="config.i")
        assert [r["id"] for r in rows] == ids and [r["notes"] for r in rows] == [f"n{i}" for i in range(40)]
    finally:
        import fsspec

        fsspec.filesystem("memory").rm(url[len("memory://"):], recursive=True)


# -- unfinished runs ------------------------------------------------------------------------------


def test_state_changes_without_any_journal_entry(store, tmp_path):
    """A process that dies writes nothing: the next query still shows its run crashed."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        rid = rr.write_run(store, "p", host=rr.this_host(), pid=child.pid)
        api = Api(store, "p")
        assert api.runs()[0].state == "running"
        entries = len(store.list("journal"))
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert api.runs()[0].state == "crashed"
    assert api.runs(filters={"state": "crashed"})[0].id == rid
    assert len(store.list("journal")) == entries
