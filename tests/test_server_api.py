"""The server's JSON API, in process (FastAPI's TestClient over a real local store), and
``art server`` as a real process."""

from __future__ import annotations

import json
import math
import re
import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi", reason="the server tests need the server extra (pip install -e '.[test]')")

from fastapi.testclient import TestClient  # noqa: E402

import runrecords as rr  # noqa: E402
from arty.artifacts import Artifact, Registry  # noqa: E402
from arty.hashing import StatCache  # noqa: E402
from arty.index import Index  # noqa: E402
from arty.server import create_app  # noqa: E402
from arty.server.downsample import min_max, min_max_indices  # noqa: E402
from arty.server.errors import MAX_BODY  # noqa: E402
from conftest import make_tree  # noqa: E402

P = "proj"
TOKEN = "s3cret-token"


@pytest.fixture
def store(local_store):
    return local_store


@pytest.fixture
def world(store, tmp_path):
    """A project with three finished runs (one with history, console, files, media), one running
    run, and an artifact with two versions used and logged by runs; returns what a test needs."""
    t0 = time.time() - 3600
    reg = Registry(store, P, StatCache(":memory:"))
    d1 = make_tree(tmp_path / "d1", {"a.txt": "one", "sub/b.txt": "two", "page.html": "<script>x</script>"})
    v0 = reg.log(Artifact("data", type="dataset").add_dir(d1), aliases=["prod"]).version
    d2 = make_tree(tmp_path / "d2", {"a.txt": "one!", "sub/b.txt": "two", "c.txt": "new"})
    v1 = reg.log(Artifact("data", type="dataset").add_dir(d2)).version

    main = rr.write_run(store, P, name="base", config={"lr": 0.01, "opt": {"name": "adam", "beta": 0.9}},
                        tags=["baseline"], notes="<b>bold</b> & \"quoted\"", group="g1", job_type="train",
                        started_at=t0)
    png = b"\x89PNG\r\n\x1a\nfake image bytes"
    digest = store.put_bytes(png)
    image = {"_type": "image", "digest": str(digest), "format": "png", "width": 2, "height": 1, "caption": "c"}
    rows = [{"loss": 1.0 / (i + 1), "acc": i / 100} for i in range(100)]
    rows[10]["loss"] = float("nan")
    rows[20]["samples"] = image
    rows[30]["samples"] = [image, image]
    rows[40]["note"] = "text, not a number"
    rr.add_history(store, P, main, rows, t0=t0)
    rr.add_system(store, P, main, [{"cpu.percent": 10.0 + i, "memory.percent": 50.0} for i in range(30)], t0=t0)
    rr.add_console(store, P, main, [(t0 + i, "stdout" if i % 2 else "stderr", f"line {i} <i>x</i>")
                                    for i in range(50)])
    rr.add_file(store, P, main, "requirements.txt", "numpy==2.0\n")
    rr.add_file(store, P, main, "code/train.py", "print('hi')\n")
    rr.add_file(store, P, main, "evil.html", "<script>alert(1)</script>")
    rr.add_input(store, P, main, v0)
    rr.add_output(store, P, main, v1)
    rr.finish(store, P, main, summary={"loss": float("nan"), "acc": 0.99, "best": float("inf"), "samples": image},
              steps=100, finished_at=t0 + 100)
    others = []
    for i, lr in enumerate([0.1, 0.001]):
        rid = rr.write_run(store, P, name=f"sweep-{i}", config={"lr": lr, "opt": {"name": "sgd"}},
                           tags=["sweep"], started_at=t0 + 10 + i)
        rr.finish(store, P, rid, summary={"acc": 0.5 + i / 10}, finished_at=t0 + 200)
        others.append(rid)
    running = rr.write_run(store, P, name="live", host=rr.this_host(), pid=os.getpid(), started_at=time.time())
    rr.finished_run(store, "other", config={"x": 1})
    return {"main": main, "others": others, "running": running, "v0": v0, "v1": v1, "digest": str(digest),
            "png": png, "image": image}


#: What the in-process clients send as ``Host`` (TestClient's own "testserver" is refused).
BASE = "http://127.0.0.1:8080"


@pytest.fixture
def client(store):
    with TestClient(create_app(store), base_url=BASE) as c:
        yield c


@pytest.fixture
def locked(store):
    with TestClient(create_app(store, token=TOKEN), base_url=BASE) as c:
        yield c


def error_of(resp, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "hint"} and isinstance(body["error"], str) and body["error"]
    return body["error"]


# -- projects and the runs table ------------------------------------------------------------------

def test_projects(client, world):
    got = {p["name"]: p for p in client.get("/api/projects").json()}
    assert set(got) == {P, "other"}
    assert got[P]["runs"] == 4 and got[P]["artifacts"] == 1
    assert got["other"]["runs"] == 1 and got["other"]["artifacts"] == 0
    assert got[P]["last_activity"].endswith("Z")


def test_runs_table(client, world):
    body = client.get(f"/api/projects/{P}/runs").json()
    assert body["total"] == 4
    by_id = {r["id"]: r for r in body["runs"]}
    main = by_id[world["main"]]
    assert main["name"] == "base" and main["state"] == "finished" and main["group"] == "g1"
    assert main["job_type"] == "train" and main["tags"] == ["baseline"]
    assert main["config"] == {"lr": 0.01, "opt.name": "adam", "opt.beta": 0.9}
    assert main["summary"]["acc"] == 0.99
    assert main["summary"]["samples"] == world["image"]  # a media value stays whole
    assert by_id[world["running"]]["state"] == "running"
    assert body["config_keys"] == ["lr", "opt.beta", "opt.name"]
    assert body["summary_keys"] == ["acc", "best", "loss", "samples"]


def test_text_comes_back_as_stored_and_nonfinite_numbers_as_strings(client, world):
    resp = client.get(f"/api/projects/{P}/runs/{world['main']}")
    json.loads(resp.text, parse_constant=lambda c: pytest.fail(f"non-JSON token {c}"))
    body = resp.json()
    assert body["notes"] == "<b>bold</b> & \"quoted\""  # the UI escapes; the API returns text as stored
    assert body["summary"]["loss"] == "NaN" and body["summary"]["best"] == "Infinity"


def test_runs_filter_order_and_pages(client, world):
    def ids(**params):
        body = client.get(f"/api/projects/{P}/runs", params=params).json()
        return body["total"], [r["name"] for r in body["runs"]]

    total, names = ids(filters=json.dumps({"config.opt.name": "sgd"}), order="config.lr")
    assert (total, names) == (2, ["sweep-1", "sweep-0"])
    total, names = ids(filters=json.dumps({"tags": "baseline"}))
    assert (total, names) == (1, ["base"])
    total, names = ids(order="-summary.acc", limit=2)
    assert total == 4 and names == ["base", "sweep-1"]
    total, names = ids(order="-summary.acc", limit=2, offset=2)
    assert total == 4 and names == ["sweep-0", "live"]


@pytest.mark.parametrize("params, status, fragment", [
    ({"filters": "{not json"}, 400, "not valid json"),
    ({"filters": "[1, 2]"}, 400, "json object"),
    ({"filters": json.dumps({"config.lr": {"$bogus": 1}})}, 400, "$bogus"),
    ({"order": "nonsense.key"}, 400, "nonsense"),
    ({"limit": -1}, 422, "limit"),
    ({"limit": "many"}, 422, "limit"),
])
def test_runs_bad_queries(client, world, params, status, fragment):
    assert fragment in error_of(client.get(f"/api/projects/{P}/runs", params=params), status).lower()


def test_unknown_things_are_404_with_a_json_error(client, world):
    assert "project 'nope' not found" in error_of(client.get("/api/projects/nope/runs"), 404)
    assert "not found" in error_of(client.get(f"/api/projects/{P}/runs/zzzzzzzz"), 404)
    for suffix in ("history", "system", "console", "files", "media/loss", "files/requirements.txt"):
        error_of(client.get(f"/api/projects/{P}/runs/zzzzzzzz/{suffix}"), 404)
    error_of(client.get("/api/projects/nope/artifacts"), 404)
    assert "artifact 'nope'" in error_of(client.get(f"/api/projects/{P}/artifacts/nope"), 404)
    assert "v9" in error_of(client.get(f"/api/projects/{P}/artifacts/data/v9"), 404)
    assert "alias 'gone'" in error_of(client.get(f"/api/projects/{P}/artifacts/data/gone/files"), 404)
    error_of(client.get("/api/no/such/endpoint"), 404)
    error_of(client.get(f"/api/projects/{P}/lineage", params={"ref": "nope:v0"}), 404)


NASTY = ["%00", "a%00b", "%FF", "a%0Ab", "x" * 300, "a%5Cb", "%E2%80%AE", "%2E%2E", "CON", "a:b:c"]


@pytest.mark.parametrize("bad", NASTY)
def test_nasty_path_parts_get_a_json_4xx(client, world, bad):
    run = world["main"]
    urls = [f"/api/projects/{P}/runs/{bad}", f"/api/projects/{bad}/runs", f"/api/projects/{P}/runs/{run}/files/{bad}",
            f"/api/projects/{P}/runs/{run}/files/code/{bad}", f"/api/projects/{P}/runs/{bad}/history",
            f"/api/projects/{P}/runs/{run}/media/{bad}", f"/api/projects/{P}/artifacts/{bad}",
            f"/api/projects/{P}/artifacts/data/{bad}", f"/api/projects/{P}/artifacts/data/v0/file/{bad}",
            f"/api/projects/{P}/artifacts/data/v0/diff?other={bad}", f"/api/blobs/{bad}",
            f"/api/projects/{P}/lineage?ref={bad}", f"/api/projects/{P}/runs?order={bad}",
            f"/api/projects/{P}/runs?filters={bad}", f"/api/projects/{P}/runs/{run}/history?keys={bad}"]
    for url in urls:
        resp = client.get(url)
        assert resp.status_code < 500, (url, resp.text)
        if resp.status_code >= 400:
            assert set(resp.json()) == {"error", "hint"}, (url, resp.text)


@pytest.mark.parametrize("edit", [{"notes": "a\x00b"}, {"tags": ["ok", "bell\x07"]}, {"name": "line\nbreak"}])
def test_control_characters_are_refused_in_edits(client, store, world, edit):
    assert "control characters" in error_of(client.patch(f"/api/projects/{P}/runs/{world['main']}", json=edit), 400)
    assert store.log_seqs(f"projects/{P}/runs/{world['main']}/edits") == []


def test_a_lone_surrogate_is_refused_in_edits(client, store, world):
    resp = client.patch(f"/api/projects/{P}/runs/{world['main']}", content=b'{"notes": "\\ud800"}',
                        headers={"content-type": "application/json"})
    assert "not valid unicode" in error_of(resp, 400).lower()
    assert store.log_seqs(f"projects/{P}/runs/{world['main']}/edits") == []


def test_invalid_names_are_400(client, world):
    assert "invalid project name" in error_of(client.get("/api/projects/-bad/runs"), 400)
    assert "invalid artifact name" in error_of(client.get(f"/api/projects/{P}/artifacts/-x"), 400)


# -- one run --------------------------------------------------------------------------------------

def test_run_detail(client, world):
    body = client.get(f"/api/projects/{P}/runs/{world['main']}").json()
    for key in ("host", "user", "command", "python", "git", "exit_code", "error", "steps", "mode"):
        assert key in body
    assert body["steps"] == 100 and body["exit_code"] == 0 and body["command"] == ["train.py", "--epochs", "3"]
    used, logged = body["artifacts"]["used"], body["artifacts"]["logged"]
    assert [(a["name"], a["version"], a["type"]) for a in used] == [("data", "v0", "dataset")]
    assert [(a["name"], a["version"]) for a in logged] == [("data", "v1")]
    assert used[0]["digest"] == str(world["v0"].digest)
    # a run is found by a name only it has
    assert client.get(f"/api/projects/{P}/runs/base").json()["id"] == world["main"]


def test_history_series(client, world):
    url = f"/api/projects/{P}/runs/{world['main']}/history"
    body = client.get(url, params={"keys": "loss,acc"}).json()
    assert body["x"] == "step"
    assert set(body["series"]) == {"loss", "acc"}
    loss = body["series"]["loss"]
    assert loss["x"] == [i for i in range(100) if i != 10]  # NaN left out of the plot
    assert loss["y"][0] == 1.0
    assert body["keys"] == ["acc", "loss", "note", "samples"]  # every key, sorted, axes left out
    assert body["total_points"] == 99 + 100
    everything = client.get(url).json()
    assert set(everything["series"]) == {"loss", "acc", "samples", "note"}
    assert everything["series"]["samples"] == {"x": [], "y": []}  # media are not points
    by_time = client.get(url, params={"keys": "acc", "x": "_timestamp"}).json()
    assert by_time["x"] == "_timestamp" and len(by_time["series"]["acc"]["x"]) == 100
    assert by_time["series"]["acc"]["x"][0] > 1e9
    assert client.get(url, params={"keys": "absent"}).json()["series"] == {"absent": {"x": [], "y": []}}


def test_history_is_downsampled_on_the_server(client, store, world):
    rid = rr.write_run(store, P, name="long")
    n = 50_000
    ys = [math.sin(i / 500) for i in range(n)]
    ys[12_345] = 99.0  # a spike that even spacing would miss
    ys[33_333] = -99.0
    rr.add_history(store, P, rid, [{"y": y} for y in ys[:30_000]], packed=True)
    rr.add_history(store, P, rid, [{"y": y} for y in ys[30_000:]], start_step=30_000, packed=True)
    body = client.get(f"/api/projects/{P}/runs/{rid}/history", params={"keys": "y", "samples": 500}).json()
    s = body["series"]["y"]
    assert body["total_points"] == n
    assert 250 <= len(s["x"]) <= 500
    assert s["x"] == sorted(s["x"]) and s["x"][0] == 0 and s["x"][-1] == n - 1
    assert 99.0 in s["y"] and -99.0 in s["y"]
    assert all(ys[x] == y for x, y in zip(s["x"], s["y"]))


@pytest.mark.parametrize("params", [{"samples": 1}, {"samples": 10**7}, {"x": "wallclock"}, {"samples": "x"}])
def test_history_bad_parameters(client, world, params):
    error_of(client.get(f"/api/projects/{P}/runs/{world['main']}/history", params=params), 422)


def test_min_max_keeps_extremes_order_and_ends():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=400),
                      st.integers(2, 120))
    @hypothesis.settings(max_examples=200, deadline=None)
    def check(ys, samples):
        xs = list(range(len(ys)))
        ox, oy = min_max(xs, ys, samples)
        assert ox == sorted(set(ox))
        assert [ys[i] for i in ox] == oy
        if len(ys) <= samples:
            assert oy == ys
            return
        assert len(ox) <= samples
        assert ox[0] == 0 and ox[-1] == len(ys) - 1
        if samples >= 4:
            assert min(ys) in oy and max(ys) in oy

    check()


def test_the_numpy_downsampling_keeps_the_same_points():
    hypothesis = pytest.importorskip("hypothesis")
    np = pytest.importorskip("numpy")
    st = hypothesis.strategies

    @hypothesis.given(st.lists(st.integers(-50, 50), max_size=300), st.integers(2, 80))
    @hypothesis.settings(max_examples=200, deadline=None)
    def check(ys, samples):
        ox, _ = min_max(list(range(len(ys))), ys, samples)
        assert min_max_indices(np.array(ys, dtype=np.float64), samples).tolist() == ox

    check()


def test_system_series(client, world):
    body = client.get(f"/api/projects/{P}/runs/{world['main']}/system", params={"samples": 10}).json()
    assert body["x"] == "_timestamp"
    assert set(body["keys"]) == {"cpu.percent", "memory.percent"}
    cpu = body["series"]["cpu.percent"]
    assert len(cpu["x"]) <= 10 and cpu["y"][0] == 10.0 and cpu["y"][-1] == 39.0


def test_console_search_and_pages(client, world):
    url = f"/api/projects/{P}/runs/{world['main']}/console"
    body = client.get(url).json()
    assert body["total"] == 50 and body["lines"][0]["text"] == "line 0 <i>x</i>"
    assert body["lines"][0]["stream"] == "stderr" and isinstance(body["lines"][0]["time"], float)
    body = client.get(url, params={"q": "LINE 1", "offset": 1, "limit": 3}).json()
    assert body["total"] == 11  # line 1, 10..19
    assert [ln["text"].split()[1] for ln in body["lines"]] == ["10", "11", "12"]


def test_run_files(client, world):
    url = f"/api/projects/{P}/runs/{world['main']}/files"
    assert client.get(url).json() == [{"path": "code/train.py", "size": 12}, {"path": "evil.html", "size": 25},
                                      {"path": "requirements.txt", "size": 11}]
    resp = client.get(f"{url}/code/train.py")
    assert resp.content == b"print('hi')\n" and resp.headers["content-type"].startswith("text/plain")
    evil = client.get(f"{url}/evil.html")
    assert evil.status_code == 200 and evil.headers["content-type"] == "application/octet-stream"
    assert evil.headers["x-content-type-options"] == "nosniff" and "sandbox" in evil.headers["content-security-policy"]
    error_of(client.get(f"{url}/nothere.txt"), 404)


@pytest.mark.parametrize("path", ["%2e%2e/run.json", "..%2Frun.json", "code/..%2F..%2Frun.json", "%2Fetc%2Fpasswd",
                                  "code%5C..%5C..%5Crun.json", "code//train.py", ".%2Frequirements.txt"])
def test_no_path_traversal_through_run_files(client, world, path):
    resp = client.get(f"/api/projects/{P}/runs/{world['main']}/files/{path}")
    assert resp.status_code in (400, 404), resp.text
    assert set(resp.json()) == {"error", "hint"}


def test_media_values_of_a_key(client, world):
    body = client.get(f"/api/projects/{P}/runs/{world['main']}/media/samples").json()
    assert body == [{"step": 20, "value": world["image"]}, {"step": 30, "value": [world["image"]] * 2}]
    assert client.get(f"/api/projects/{P}/runs/{world['main']}/media/loss").json() == []


def test_table_rows(client, store, world):
    from arty.tracking.media import Table, resolve

    value = resolve(Table(columns=["id", "label"], data=[[i, f"<b>{i}</b>"] for i in range(25)], format="jsonl"),
                    lambda d, b: store.put_bytes(b, d))
    rid = rr.write_run(store, P, name="tabled")
    rr.add_history(store, P, rid, [{"preds": value}])
    url = f"/api/projects/{P}/runs/{rid}/table"
    body = client.get(url, params={"digest": value["digest"], "offset": 20, "limit": 3}).json()
    assert body == {"columns": ["id", "label"], "rows": [[20, "<b>20</b>"], [21, "<b>21</b>"], [22, "<b>22</b>"]],
                    "total": 25}
    # only a table the run logged can be read through the run
    error_of(client.get(f"/api/projects/{P}/runs/{world['main']}/table", params={"digest": value["digest"]}), 404)
    error_of(client.get(url, params={"digest": value["digest"], "limit": -1}), 422)


def test_table_bad_digests(client, world):
    url = f"/api/projects/{P}/runs/{world['main']}/table"
    error_of(client.get(url, params={"digest": "nothex"}), 400)
    error_of(client.get(url, params={"digest": "xxh128:" + "0" * 32}), 404)


# -- edits ----------------------------------------------------------------------------------------

def test_patch_run_appends_an_edit_record(client, store, world):
    url = f"/api/projects/{P}/runs/{world['main']}"
    body = client.patch(url, json={"notes": "<script>still text</script>", "tags": ["a", "b", "a"]}).json()
    assert body["notes"] == "<script>still text</script>" and body["tags"] == ["a", "b"]
    assert body["name"] == "base"
    body = client.patch(url, json={"name": "renamed"}).json()
    assert body["name"] == "renamed" and body["tags"] == ["a", "b"]
    folder = f"projects/{P}/runs/{world['main']}/edits"
    assert store.log_seqs(folder) == [0, 1]  # appended, never overwritten
    assert store.read_record(f"{folder}/00000000.json")["notes"] == "<script>still text</script>"
    table = {r["id"]: r for r in client.get(f"/api/projects/{P}/runs").json()["runs"]}
    assert table[world["main"]]["name"] == "renamed"
    # a fresh index, and a rebuilt one, read the same from the records
    fresh = Index(store, str(store.cache_dir()) + "/other-index.sqlite")
    fresh.catch_up()
    row = fresh.run_row(P, world["main"])
    assert (row["name"], json.loads(row["tags"]), row["notes"]) == (
        "renamed", ["a", "b"], "<script>still text</script>")
    before = fresh.dump()
    fresh.rebuild()
    assert fresh.dump() == before
    fresh.close()


def test_edits_and_the_runs_own_events_order_by_event_number(client, store, world):
    rid = world["running"]
    url = f"/api/projects/{P}/runs/{rid}"
    rr.add_event(store, P, rid, "notes", notes="from the run, before")
    assert client.patch(url, json={"notes": "from the UI"}).json()["notes"] == "from the UI"
    rr.add_event(store, P, rid, "heartbeat")
    assert client.get(url).json()["notes"] == "from the UI"  # an unrelated event changes nothing
    rr.add_event(store, P, rid, "notes", notes="from the run, after")
    assert client.get(url).json()["notes"] == "from the run, after"
    fresh = Index(store, str(store.cache_dir()) + "/other-index.sqlite")
    fresh.rebuild()
    assert fresh.run_row(P, rid)["notes"] == "from the run, after"
    fresh.close()


def test_a_damaged_edit_record_is_skipped(client, store, world):
    url = f"/api/projects/{P}/runs/{world['main']}"
    client.patch(url, json={"notes": "kept"})
    folder = f"projects/{P}/runs/{world['main']}/edits"
    store.backend.create(f"{folder}/00000001.json", b"{not json")
    store.journal("run_updated", project=P, run=world["main"], path="edits/00000001.json")
    with pytest.warns(RuntimeWarning, match=f"skipped a bad record: record '{folder}/00000001.json'"):
        assert client.get(url).json()["notes"] == "kept"
        assert client.patch(url, json={"tags": ["after"]}).json()["tags"] == ["after"]
    assert store.log_seqs(folder) == [0, 1, 2]


@pytest.mark.parametrize("body, status", [
    ({}, 400),
    ({"notes": 5}, 422),
    ({"tags": "not-a-list"}, 422),
    ({"tags": [1, 2]}, 422),
    ({"tags": ["  "]}, 400),
    ({"name": ""}, 400),
    ({"unknown": "x"}, 422),
    ([1, 2], 422),
    ({"notes": "x" * 200_000}, 400),
])
def test_bad_edits_are_refused_and_change_nothing(client, store, world, body, status):
    url = f"/api/projects/{P}/runs/{world['main']}"
    error_of(client.patch(url, json=body), status)
    assert store.log_seqs(f"projects/{P}/runs/{world['main']}/edits") == []
    assert client.get(url).json()["notes"] == "<b>bold</b> & \"quoted\""


def test_malformed_and_oversized_bodies(client, store, world):
    url = f"/api/projects/{P}/runs/{world['main']}"
    error_of(client.patch(url, content=b"{not json", headers={"content-type": "application/json"}), 422)
    big = json.dumps({"notes": "x" * (MAX_BODY + 10)}).encode()
    assert "too large" in error_of(client.patch(url, content=big, headers={"content-type": "application/json"}), 413)

    def chunks():  # no Content-Length: the limit still holds
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"x" * 65536

    error_of(client.patch(url, content=chunks(), headers={"content-type": "application/json"}), 413)
    assert store.log_seqs(f"projects/{P}/runs/{world['main']}/edits") == []
    error_of(client.patch(f"/api/projects/{P}/runs/zzzzzzzz", json={"notes": "x"}), 404)


def test_writes_need_the_token_when_one_is_set(locked, store, world):
    url = f"/api/projects/{P}/runs/{world['main']}"
    assert "requires a token" in error_of(locked.patch(url, json={"notes": "x"}), 401)
    assert "wrong token" in error_of(locked.patch(url, json={"notes": "x"}, headers={"X-Arty-Token": "nope"}), 401)
    aliases = f"/api/projects/{P}/artifacts/data/aliases"
    error_of(locked.post(aliases, json={"alias": "best", "version": "v1"}), 401)
    error_of(locked.delete(f"{aliases}/prod"), 401)
    assert store.log_seqs(f"projects/{P}/runs/{world['main']}/edits") == []
    assert Registry(store, P).aliases("data") == {"prod": 0}
    assert locked.get(url).status_code == 200  # reads need no token
    ok = locked.patch(url, json={"notes": "by bearer"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["notes"] == "by bearer"
    ok = locked.patch(url, json={"notes": "by header"}, headers={"X-Arty-Token": TOKEN})
    assert ok.status_code == 200 and ok.json()["notes"] == "by header"


# -- artifacts ------------------------------------------------------------------------------------

def test_artifacts(client, world):
    assert client.get(f"/api/projects/{P}/artifacts").json() == [{
        "name": "data", "type": "dataset", "versions": 2, "latest": "v1", "aliases": {"prod": "v0"},
        "updated_at": world["v1"].created_at}]
    assert client.get(f"/api/projects/{P}/artifacts", params={"type": "model"}).json() == []
    body = client.get(f"/api/projects/{P}/artifacts/data").json()
    assert body["name"] == "data" and body["type"] == "dataset"
    assert [(v["version"], v["aliases"], v["files"]) for v in body["versions"]] == [
        ("v1", ["latest"], 3), ("v0", ["prod"], 3)]
    assert body["versions"][0]["digest"] == str(world["v1"].digest)


def test_artifact_version(client, world):
    for ref in ("v0", "prod"):
        body = client.get(f"/api/projects/{P}/artifacts/data/{ref}").json()
        assert body["version"] == "v0" and body["aliases"] == ["prod"] and body["files"] == 3
        assert [r["id"] for r in body["used_by"]] == [world["main"]]
        assert body["used_by"][0]["name"] == "base"
    latest = client.get(f"/api/projects/{P}/artifacts/data/latest").json()
    assert latest["version"] == "v1" and latest["digest"] == str(world["v1"].digest)


def test_artifact_files_and_bytes(client, world):
    base = f"/api/projects/{P}/artifacts/data/v0"
    files = client.get(f"{base}/files").json()
    assert [f["path"] for f in files] == ["a.txt", "page.html", "sub/b.txt"]
    assert files[0]["size"] == 3 and files[0]["digest"].startswith("xxh128:")
    assert [f["path"] for f in client.get(f"{base}/files", params={"prefix": "sub/"}).json()] == ["sub/b.txt"]
    assert client.get(f"{base}/file/sub/b.txt").content == b"two"
    page = client.get(f"{base}/file/page.html")
    assert page.headers["content-type"] == "application/octet-stream"
    assert "no file 'zzz'" in error_of(client.get(f"{base}/file/zzz"), 404)
    for bad in ("..%2F..%2Fstore.json", "%2Fetc%2Fpasswd", "sub/..%2Fa.txt", "sub%5C..%5Ca.txt"):
        resp = client.get(f"{base}/file/{bad}")
        assert resp.status_code in (400, 404) and set(resp.json()) == {"error", "hint"}


@pytest.mark.usefixtures("loose_blobs")  # damages objects/ files one by one
def test_artifact_file_is_verified(client, store, world):
    entry = world["v0"].get_entry("sub/b.txt")
    path = store.backend.local_path(f"objects/{entry.digest.hex[:2]}/{entry.digest.hex[2:]}")
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(b"TWO")
    resp = client.get(f"/api/projects/{P}/artifacts/data/v0/file/sub/b.txt")
    assert resp.status_code == 500 and "corrupt" in resp.json()["error"]
    assert b"TWO" not in resp.content


def test_a_damaged_segment_is_a_json_error_naming_it(client, store, world):
    rid = rr.write_run(store, P, name="damaged")
    store.backend.create(f"projects/{P}/runs/{rid}/history/00000000.json.gz", b"not gzip at all")
    resp = client.get(f"/api/projects/{P}/runs/{rid}/history")
    assert resp.status_code == 500 and "00000000.json.gz" in resp.json()["error"]


def test_artifact_diff(client, world):
    body = client.get(f"/api/projects/{P}/artifacts/data/v1/diff", params={"other": "v0"}).json()
    assert body == {"added": ["c.txt"], "removed": ["page.html"], "changed": ["a.txt"]}
    error_of(client.get(f"/api/projects/{P}/artifacts/data/v1/diff", params={"other": "v7"}), 404)
    error_of(client.get(f"/api/projects/{P}/artifacts/data/v1/diff"), 422)


def test_alias_moves_are_logged(client, store, world):
    url = f"/api/projects/{P}/artifacts/data/aliases"
    assert client.post(url, json={"alias": "prod", "version": "v1"}).json()["aliases"] == {"prod": "v1"}
    assert client.post(url, json={"alias": "best", "version": "latest"}).json()["aliases"] == {
        "best": "v1", "prod": "v1"}
    assert client.delete(f"{url}/best").json()["aliases"] == {"prod": "v1"}
    history = Registry(store, P).alias_history("data", "prod")
    assert [h["version"] for h in history] == [0, 1]
    assert [h["version"] for h in Registry(store, P).alias_history("data", "best")] == [1, None]
    listed = client.get(f"/api/projects/{P}/artifacts").json()[0]["aliases"]
    assert listed == {"prod": "v1"}


@pytest.mark.parametrize("body, status", [
    ({"alias": "latest", "version": "v0"}, 400),
    ({"alias": "v3", "version": "v0"}, 400),
    ({"alias": "../x", "version": "v0"}, 400),
    ({"alias": "ok", "version": "v9"}, 404),
    ({"alias": "ok"}, 422),
    ({"alias": 3, "version": "v0"}, 422),
])
def test_bad_alias_moves(client, store, world, body, status):
    error_of(client.post(f"/api/projects/{P}/artifacts/data/aliases", json=body), status)
    assert Registry(store, P).aliases("data") == {"prod": 0}


def test_deleting_an_unknown_alias_is_404(client, world):
    error_of(client.delete(f"/api/projects/{P}/artifacts/data/aliases/nope"), 404)
    error_of(client.delete(f"/api/projects/{P}/artifacts/nothing/aliases/prod"), 404)


# -- lineage, blobs, pages ------------------------------------------------------------------------

def test_lineage(client, world):
    body = client.get(f"/api/projects/{P}/lineage", params={"ref": "data:v0"}).json()
    nodes = {n["id"] for n in body["nodes"]}
    assert f"run:{P}/{world['main']}" in nodes and f"artifact:{P}/data:v1" in nodes
    assert body["graph"]["direction"] == "both"
    # versions as everywhere in the API: "v1", like the node id says
    assert {n["id"]: n["version"] for n in body["nodes"] if n["kind"] == "artifact"} == {
        f"artifact:{P}/data:v0": "v0", f"artifact:{P}/data:v1": "v1"}
    up = client.get(f"/api/projects/{P}/lineage", params={"ref": world["main"], "direction": "upstream"}).json()
    assert f"artifact:{P}/data:v1" not in {n["id"] for n in up["nodes"]}
    error_of(client.get(f"/api/projects/{P}/lineage", params={"ref": "data:v0", "direction": "sideways"}), 400)


def test_blobs(client, world):
    resp = client.get(f"/api/blobs/{world['digest']}", params={"type": "image/png"})
    assert resp.content == world["png"] and resp.headers["content-type"] == "image/png"
    assert client.get(f"/api/blobs/{world['digest']}").headers["content-type"] == "application/octet-stream"
    assert "not allowed" in error_of(client.get(f"/api/blobs/{world['digest']}", params={"type": "text/html"}), 400)
    for scripted in ("image/svg+xml", "application/xhtml+xml", "text/javascript", "application/pdf"):
        error_of(client.get(f"/api/blobs/{world['digest']}", params={"type": scripted}), 400)
    for media_type in ("audio/wav", "video/mp4", "image/gif"):  # what the Media tab plays
        resp = client.get(f"/api/blobs/{world['digest']}", params={"type": media_type})
        assert resp.headers["content-type"] == media_type and resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["content-security-policy"].startswith("sandbox")
    assert "malformed digest" in error_of(client.get("/api/blobs/xxh128:zz"), 400)
    error_of(client.get("/api/blobs/..%5Cstore.json"), 400)
    error_of(client.get("/api/blobs/..%2Fstore.json"), 404)  # no route has a '/' there
    error_of(client.get("/api/blobs/xxh128:" + "0" * 32), 404)


def test_pages_spec_and_plotly(client):
    spec = client.get("/openapi.json").json()
    assert "/api/projects/{project}/runs" in spec["paths"]
    assert client.get("/docs").status_code == 200
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and b"plotly" in js.content[:200].lower()
    for page in ("/", f"/p/{P}", f"/p/{P}/runs/abc", f"/p/{P}/artifacts", f"/p/{P}/artifacts/data",
                 f"/p/{P}/artifacts/data/v1"):
        resp = client.get(page)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
        assert resp.content == client.get("/").content  # one page; the browser routes
    for escape in ("/static/..%2Fapp.py", "/static/%2e%2e/app.py", "/static/..%2F..%2Fstore.json"):
        error_of(client.get(escape), 404)


# -- hosts, origins and headers -------------------------------------------------------------------

def _edits(store, world) -> list[int]:
    return store.log_seqs(f"projects/{P}/runs/{world['main']}/edits")


def test_a_rebound_host_is_refused_for_reads_and_writes(client, store, world):
    # DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 sends its own
    # name as Host; no token is set, so only the Host check stands between it and the store.
    evil = {"Host": "evil.example:8080"}
    url = f"/api/projects/{P}/runs/{world['main']}"
    for resp in (client.get("/api/projects", headers=evil), client.get(url, headers=evil),
                 client.get("/", headers=evil), client.get("/static/app.js", headers=evil)):
        message = error_of(resp, 400)
        assert message == "host 'evil.example' is not allowed"
        assert "--allowed-host" in resp.json()["hint"] and "127.0.0.1" in resp.json()["hint"]
    error_of(client.patch(url, json={"notes": "pwned"}, headers=evil), 400)
    error_of(client.post(f"/api/projects/{P}/artifacts/data/aliases", json={"alias": "x", "version": "v1"},
                         headers=evil), 400)
    error_of(client.delete(f"/api/projects/{P}/artifacts/data/aliases/prod", headers=evil), 400)
    assert _edits(store, world) == [] and Registry(store, P).aliases("data") == {"prod": 0}
    for bad in ("evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "a b", "[::1", "host:port", ""):
        error_of(client.get("/api/projects", headers={"Host": bad}), 400)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8080", "localhost", "LOCALHOST:1", "localhost.",
                                  "[::1]:8080", "[::1]"])
def test_a_loopback_server_answers_its_loopback_names(client, world, host):
    assert client.get("/api/projects", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("address, allowed, answered, refused", [
    ("0.0.0.0", (), ["10.1.2.3:8080", "[fe80::1]", "localhost", "127.0.0.1"], ["evil.example", "myhost"]),
    ("0.0.0.0", ("myhost", "arty.example.com"), ["myhost:8080", "arty.example.com"], ["evil.example"]),
    ("192.168.5.9", (), ["192.168.5.9:8080"], ["localhost", "10.1.2.3", "evil.example"]),
    ("127.0.0.1", ("*.arty.internal",), ["a.arty.internal", "b.c.arty.internal:9"], ["arty.internal", "evil.example"]),
    ("::1", (), ["[::1]:8080", "localhost"], ["10.1.2.3"]),
    ("127.0.0.1", ("*",), ["evil.example", "anything:1"], []),
])
def test_configured_hosts(store, world, address, allowed, answered, refused):
    with TestClient(create_app(store, host=address, allowed_hosts=allowed), base_url=BASE) as c:
        for host in answered:
            assert c.get("/api/projects", headers={"Host": host}).status_code == 200, host
        for host in refused:
            error_of(c.get("/api/projects", headers={"Host": host}), 400)


@pytest.mark.parametrize("bad", ["a b", "*x.example", "http://x", "x/y", "*.", "*.x:80", "[::1"])
def test_an_invalid_allowed_host_is_a_usage_error(store, bad):
    from arty.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(f"invalid allowed host '{bad}'")):
        create_app(store, allowed_hosts=["ok.example", bad])


def test_changes_from_another_site_are_refused(client, locked, store, world):
    url = f"/api/projects/{P}/runs/{world['main']}"
    aliases = f"/api/projects/{P}/artifacts/data/aliases"
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:9999"},
                    {"Origin": "http://localhost:8080"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        assert "another site" in error_of(client.patch(url, json={"notes": "x"}, headers=headers), 403)
        error_of(client.post(aliases, json={"alias": "x", "version": "v1"}, headers=headers), 403)
        error_of(client.delete(f"{aliases}/prod", headers=headers), 403)
        # the token does not make a foreign page's request acceptable
        error_of(locked.patch(url, json={"notes": "x"}, headers={**headers, "X-Arty-Token": TOKEN}), 403)
        assert client.get(url, headers=headers).status_code == 200  # reads: the browser keeps them from the page
    assert _edits(store, world) == [] and Registry(store, P).aliases("data") == {"prod": 0}
    # the server's own pages, and clients that send no Origin (scripts, curl)
    same = client.patch(url, json={"notes": "ui"}, headers={"Origin": BASE, "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and same.json()["notes"] == "ui"
    assert client.patch(url, json={"notes": "script"}).status_code == 200
    assert _edits(store, world) == [0, 1]


def test_pages_carry_a_strict_content_security_policy(client, world):
    for path in ("/", f"/p/{P}/runs/{world['main']}", "/static/app.js", "/api/projects", "/vendor/plotly.min.js"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        csp = {d.split()[0]: d.split()[1:] for d in resp.headers["content-security-policy"].split("; ")}
        assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"], path  # no inline, no eval
        assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
        assert csp["object-src"] == ["'none'"]
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "no-referrer"
    # downloads keep their own sandbox; the errors carry the headers too
    f = client.get(f"/api/projects/{P}/runs/{world['main']}/files/evil.html")
    assert f.headers.get_list("content-security-policy") == ["sandbox; default-src 'none'"]
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and "frame-ancestors 'none'" in missing.headers["content-security-policy"]
    # the API docs load Swagger UI from its CDN: only framing and <base> are restricted there
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert "script-src" not in docs.headers["content-security-policy"]


# -- live updates ---------------------------------------------------------------------------------

def test_runs_written_meanwhile_show_up(client, store, world):
    url = f"/api/projects/{P}/runs"
    assert client.get(url).json()["total"] == 4
    rid = rr.write_run(store, P, name="newcomer", host=rr.this_host(), pid=os.getpid())
    assert client.get(url).json()["total"] == 5
    live = f"{url}/{rid}/history"
    assert client.get(live, params={"keys": "loss"}).json()["total_points"] == 0
    rr.add_history(store, P, rid, [{"loss": 1.0}, {"loss": 0.5}])
    assert client.get(live, params={"keys": "loss"}).json()["series"]["loss"]["y"] == [1.0, 0.5]
    rr.add_history(store, P, rid, [{"loss": 0.25}], start_step=2)
    assert client.get(live, params={"keys": "loss"}).json()["series"]["loss"]["y"] == [1.0, 0.5, 0.25]
    rr.finish(store, P, rid, summary={"loss": 0.25})
    row = next(r for r in client.get(url).json()["runs"] if r["id"] == rid)
    assert row["state"] == "finished" and row["summary"] == {"loss": 0.25}


# -- art server -----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 60.0):
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"art server exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            return requests.get(url, timeout=5)
        except requests.ConnectionError:
            time.sleep(0.1)  # waiting for the process to listen, not for a result
    raise AssertionError("art server did not start")


def test_art_server_serves_the_store_on_localhost_with_a_token(store, world, tmp_path):
    import requests

    port = _free_port()
    env = dict(os.environ, ARTY_SERVER_TOKEN=TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "arty", "server", "--store", store.url, "--port", str(port),
                             "--allowed-host", "arty.test"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        resp = _wait_for(f"{base}/api/projects", proc)
        assert resp.status_code == 200 and {p["name"] for p in resp.json()} == {P, "other"}
        assert resp.headers["x-frame-options"] == "DENY"
        evil = requests.get(f"{base}/api/projects", headers={"Host": f"evil.example:{port}"}, timeout=10)
        assert evil.status_code == 400 and evil.json()["error"] == "host 'evil.example' is not allowed"
        named = requests.get(f"{base}/api/projects", headers={"Host": f"arty.test:{port}"}, timeout=10)
        assert named.status_code == 200
        url = f"{base}/api/projects/{P}/runs/{world['main']}"
        assert requests.patch(url, json={"notes": "x"}, timeout=10).status_code == 401
        ok = requests.patch(url, json={"notes": "x"}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["notes"] == "x"
        ip = socket.gethostbyname(socket.gethostname())
        if ip != "127.0.0.1" and not ip.startswith("127."):
            with pytest.raises(requests.ConnectionError):
                requests.get(f"http://{ip}:{port}/api/projects", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_art_server_warns_when_anyone_on_the_network_can_write(store, world):
    # the real command, listening on every interface without a token: it says so before serving
    env = {k: v for k, v in os.environ.items() if k != "ARTY_SERVER_TOKEN"}
    env["ARTY_SERVER_ALLOWED_HOSTS"] = "arty.test, *.arty.internal"
    proc = subprocess.Popen([sys.executable, "-m", "arty", "server", "--store", store.url, "--host", "0.0.0.0",
                             "--port", str(_free_port())], env=env, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stderr.readline() for _ in range(3)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "(writes open; answering to localhost, 127.0.0.1, ::1, arty.test, *.arty.internal, any IP address)" \
        in lines[0], lines
    assert lines[1].startswith("warning: the server listens on 0.0.0.0 without a token: anyone on the network")
    assert lines[2].startswith("hint: add users")


@pytest.mark.parametrize("host, token, warned", [
    ("0.0.0.0", None, True), ("::", None, True), ("192.168.1.5", None, True), ("0.0.0.0", "t", False),
    ("127.0.0.1", None, False), ("127.0.0.2", None, False), ("::1", None, False), ("localhost", None, False),
])
def test_which_servers_warn(host, token, warned):
    from arty.cli.server import exposure_warning

    assert (exposure_warning(host, token, 8080) is not None) is warned


def test_art_server_refuses_an_invalid_allowed_host(store):
    from conftest import run_art

    proc = run_art("server", "--store", store.url, "--port", str(_free_port()), "--allowed-host", "http://arty.test")
    assert proc.returncode == 2 and "error: invalid allowed host 'http://arty.test'" in proc.stderr, proc.stderr


def test_art_server_needs_an_existing_store(tmp_path):
    from conftest import run_art

    proc = run_art("server", "--store", str(tmp_path / "absent"), "--port", str(_free_port()))
    assert proc.returncode == 3 and "error: no store at" in proc.stderr
    assert not (tmp_path / "absent").exists()
    bad = run_art("server", "--store", str(tmp_path), "--port", "70000")
    assert bad.returncode == 2 and "invalid --port" in bad.stderr
