"""One bad record must not break a whole store.

Text that is not valid Unicode (a lone surrogate, as Python decodes an undecodable byte of a
file name or of ``sys.argv``) is replaced with U+FFFD when a record is written, with a warning
naming the field; a store that already holds such text is read the same way. A record that is
not JSON, not an object, or lacks a field its readers need is skipped by every reader with a
warning naming its path; ``art verify`` reports it and ``art verify --repair`` moves it aside.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap

import pytest

import runrecords as rr
from arty.artifacts import Artifact, Registry
from arty.hashing import StatCache
from arty.store import layout
from conftest import make_tree, run_art

BAD = b"/data/caf\xe9".decode("utf-8", "surrogateescape")  # what argparse hands a script for that path
FFFD = "/data/caf\ufffd"


def art(store, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = run_art("--store", store.url, *args)
    if ok:
        assert proc.returncode == 0, f"art {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def write_raw(store, path: str, data: bytes) -> None:
    """Put crafted bytes at ``path`` (replacing what is there), as damage or another tool would."""
    full = store.backend.local_path(path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)


def server_client(store):
    pytest.importorskip("fastapi", reason="the server tests need the server extra (pip install -e '.[test]')")
    from fastapi.testclient import TestClient

    from arty.server import create_app

    return TestClient(create_app(store.url), base_url="http://127.0.0.1:8080")  # a store of its own: nothing read before is cached


# -- item 2: text that is not valid Unicode -----------------------------------------------------

SCRIPT = """
import argparse
import arty

parser = argparse.ArgumentParser()
parser.add_argument("store")
parser.add_argument("data")
args = parser.parse_args()
run = arty.init(project="p", store=args.store, name="train " + args.data, config={"data": args.data},
                notes="reads " + args.data, tags=["from " + args.data], console=False, system_metrics=False,
                code=False)
run.log({"path": args.data, "x": 1})
run.summary["last"] = args.data
run.finish()
print(run.id)
"""


def test_a_run_given_an_undecodable_path_is_stored_as_valid_unicode_with_a_warning(local_store, tmp_path):
    store = local_store
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.run([sys.executable, str(script), store.url.encode(), b"/data/caf\xe9"], cwd=tmp_path,
                          capture_output=True, timeout=120, env=dict(os.environ))
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, stderr
    run_id = proc.stdout.decode().split()[-1]
    assert "not valid Unicode" in stderr and "'config.data'" in stderr and "run.json" in stderr
    base = f"projects/p/runs/{run_id}"
    for rel in ("run.json", "final.json", "history/00000000.json.gz"):
        raw = store.backend.read(f"{base}/{rel}")
        raw = gzip.decompress(raw) if rel.endswith(".gz") else raw
        raw.decode("utf-8")  # strict: valid UTF-8
        assert b"\\ud" not in raw.lower() and "\ufffd".encode() in raw, rel
    run_json = json.loads(store.backend.read(f"{base}/run.json"))
    assert run_json["config"]["data"] == FFFD and run_json["name"] == "train " + FFFD
    rr.finished_run(store, "q", config={"a": 1})
    listing = json.loads(art(store, "runs", "p", "--json").stdout)
    assert [r["name"] for r in listing] == ["train " + FFFD]
    assert listing[0]["config"]["data"] == FFFD and listing[0]["tags"] == ["from " + FFFD]
    assert listing[0]["summary"]["last"] == FFFD
    art(store, "index", "rebuild")
    assert len(json.loads(art(store, "runs", "q", "--json").stdout)) == 1
    with server_client(store) as client:
        assert client.get("/api/projects").status_code == 200
        hist = client.get(f"/api/projects/p/runs/{run_id}/history", params={"keys": "path"})
        assert hist.status_code == 200, hist.text


def test_a_store_that_already_holds_lone_surrogates_is_read_with_a_warning(local_store):
    """Records written before the fix hold ``\\udce9`` escapes: every reader still works."""
    store = local_store
    bad = rr.write_run(store, "p", name="placeholder")
    base = f"projects/p/runs/{bad}"
    legacy = json.loads(store.backend.read(f"{base}/run.json"))  # as older versions wrote it: escaped
    legacy.update(name="n" + BAD, config={"data": BAD}, notes=BAD, tags=[BAD])
    write_raw(store, f"{base}/run.json", json.dumps(legacy).encode())
    write_raw(store, f"{base}/events/00000000.json",
              json.dumps({"seq": 0, "at": rr.iso(), "kind": "notes", "notes": "edited " + BAD}).encode())
    rr.add_history(store, "p", bad, [{"path": BAD, "x": 1}])
    rr.finish(store, "p", bad, summary={"last": BAD})
    good = rr.finished_run(store, "q", config={"a": 1})
    assert b"\\udce9" in store.backend.read(f"{base}/run.json")

    proc = art(store, "runs", "q", "--json")
    assert [r["id"] for r in json.loads(proc.stdout)] == [good]
    assert "not valid Unicode" in proc.stderr and f"{base}/run.json" in proc.stderr
    rows = json.loads(art(store, "runs", "p", "--json").stdout)
    assert rows[0]["name"] == "n" + FFFD and rows[0]["config"] == {"data": FFFD}
    assert rows[0]["notes"] == "edited " + FFFD and rows[0]["tags"] == [FFFD]
    assert rows[0]["summary"] == {"last": FFFD}
    assert "2 runs" in art(store, "index", "rebuild").stdout

    with server_client(store) as client:  # startup catches up: it used to fail here
        assert sorted(p["name"] for p in client.get("/api/projects").json()) == ["p", "q"]
        for url in ("/api/projects/q/runs", "/api/projects/p/runs", f"/api/projects/p/runs/{bad}",
                    f"/api/projects/p/runs/{bad}/history?keys=path"):
            resp = client.get(url)
            assert resp.status_code == 200, (url, resp.text)
        assert client.get("/api/projects/p/runs").json()["runs"][0]["name"] == "n" + FFFD


def test_one_run_whose_values_sqlite_cannot_hold_is_left_out_with_a_warning(local_store):
    store = local_store
    good = rr.finished_run(store, "p", config={"a": 1})
    huge = rr.write_run(store, "p", pid=10 ** 30)
    proc = art(store, "runs", "p", "--json")
    assert [r["id"] for r in json.loads(proc.stdout)] == [good]
    assert f"run 'p/{huge}'" in proc.stderr
    art(store, "index", "rebuild")


# -- item 3: malformed records ------------------------------------------------------------------

@pytest.fixture
def data(local_store, tmp_path):
    """Artifact ``d`` with v0 (``prod``) and v1, each from its own folder; returns the folders."""
    reg = Registry(local_store, "default", StatCache(":memory:"))
    f0 = make_tree(tmp_path / "f0", {"a.txt": "zero"})
    f1 = make_tree(tmp_path / "f1", {"a.txt": "one"})
    reg.log(Artifact("d", type="data").add_dir(f0), aliases=["prod", "stable"])
    reg.log(Artifact("d", type="data").add_dir(f1))
    return {"f0": f0, "f1": f1, "reg": reg}


ALIAS = "projects/default/artifacts/d/aliases/prod/00000000.json"
V0 = "projects/default/artifacts/d/versions/00000000.json"


def test_a_truncated_alias_record_is_skipped_reported_and_repaired(local_store, data):
    store = local_store
    write_raw(store, ALIAS, store.backend.read(ALIAS)[:10])

    proc = art(store, "ls", "d", "--json")
    rows = {r["version"]: r["aliases"] for r in json.loads(proc.stdout)}
    assert rows == {"v0": ["stable"], "v1": ["latest"]}
    assert ALIAS in proc.stderr and "not valid JSON" in proc.stderr
    art(store, "alias", "d:v1", "prod")  # a superseding record repairs the alias at once
    rows = {r["version"]: r["aliases"] for r in json.loads(art(store, "ls", "d", "--json").stdout)}
    assert rows == {"v0": ["stable"], "v1": ["latest", "prod"]}
    assert "2 artifact versions" in art(store, "index", "rebuild").stdout
    with server_client(store) as client:
        resp = client.get("/api/projects/default/artifacts/d")
        assert resp.status_code == 200, resp.text
        assert {v["version"]: v["aliases"] for v in resp.json()["versions"]} == {"v0": ["stable"],
                                                                               "v1": ["latest", "prod"]}

    proc = art(store, "verify", "--json", ok=False)
    assert proc.returncode == 5
    problems = json.loads(proc.stdout)["problems"]
    assert [(p["kind"], p["subject"]) for p in problems] == [("bad-record", ALIAS)]

    proc = art(store, "verify", "--repair")
    assert ALIAS in proc.stdout and "quarantine/" in proc.stdout
    assert not store.exists(ALIAS)
    moved = [p for p in store.walk("quarantine") if p.endswith(ALIAS)]
    assert len(moved) == 1 and store.backend.read(f"quarantine/{moved[0]}") == b'{"alias":"'
    assert "ok:" in art(store, "verify").stdout
    proc = art(store, "ls", "d")
    assert "warning" not in proc.stderr and "prod" in proc.stdout


def test_a_version_record_that_is_not_an_object_is_skipped_not_a_traceback(local_store, data):
    store = local_store
    write_raw(store, V0, b"[1, 2]")

    proc = art(store, "ls", "d", "--json")
    assert [r["version"] for r in json.loads(proc.stdout)] == ["v1"]
    assert V0 in proc.stderr and "not an object" in proc.stderr
    proc = art(store, "ls")
    assert "d " in proc.stdout
    proc = art(store, "show", "d:v0", ok=False)
    assert proc.returncode == 5 and V0 in proc.stderr and "art verify --repair" in proc.stderr
    assert "1 artifact version" in art(store, "index", "rebuild").stdout
    art(store, "lineage", "d:v1")
    with server_client(store) as client:
        resp = client.get("/api/projects/default/artifacts/d")
        assert resp.status_code == 200, resp.text
        assert [v["version"] for v in resp.json()["versions"]] == ["v1"]
        assert client.get("/api/projects/default/artifacts").status_code == 200
        assert client.get("/api/projects/default/artifacts/d/v1").status_code == 200
        resp = client.get("/api/projects/default/artifacts/d/v0")  # what was asked for is a bad record
        assert resp.status_code == 409 and V0 in resp.json()["error"], resp.text  # named, not a crash
        assert "internal error" not in resp.json()["error"] and "--repair" in resp.json()["hint"]

    proc = art(store, "verify", "--json", ok=False)
    assert proc.returncode == 5
    assert [(p["kind"], p["subject"]) for p in json.loads(proc.stdout)["problems"]] == [("bad-record", V0)]
    proc = art(store, "verify", "--repair")
    assert V0 in proc.stdout
    assert store.exists(V0)  # kept, so that v0 is never given to other content
    assert "ok:" in art(store, "verify").stdout
    assert "warning" not in art(store, "ls", "d").stderr
    added = json.loads(art(store, "add", data["f0"], "--type", "data", "--name", "d", "--json").stdout)
    assert added["version"] == "v2"


def test_a_missing_field_in_a_version_record_is_reported(local_store, data):
    store = local_store
    rec = json.loads(store.backend.read(V0))
    del rec["digest"]
    write_raw(store, V0, json.dumps(rec).encode())
    proc = art(store, "ls", "d", "--json")
    assert [r["version"] for r in json.loads(proc.stdout)] == ["v1"] and "'digest'" in proc.stderr
    proc = art(store, "verify", "--json", ok=False)
    assert [(p["kind"], p["subject"]) for p in json.loads(proc.stdout)["problems"]] == [("bad-record", V0)]


def by_digest_path(store, data, name: str) -> tuple[str, str]:
    v = data["reg"].resolve(name)
    return layout.by_digest("default", "d", v.digest), str(v.digest)


@pytest.mark.parametrize("content", [b"garbage", b'{"version": 1}', b'{"version": 7}', b'{"version": "0"}'])
def test_a_bad_by_digest_record_does_not_block_add_and_verify_finds_it(local_store, data, content):
    store = local_store
    path, _ = by_digest_path(store, data, "d:v0")
    write_raw(store, path, content)

    proc = art(store, "add", data["f0"], "--type", "data", "--name", "d", "--json")
    assert json.loads(proc.stdout)["version"] == "v0"  # still the same content as v0
    assert path in proc.stderr

    proc = art(store, "verify", "--json", ok=False)
    assert proc.returncode == 5
    assert [(p["kind"], p["subject"]) for p in json.loads(proc.stdout)["problems"]] == [("bad-record", path)]
    proc = art(store, "verify", "--repair")
    assert path in proc.stdout
    assert json.loads(store.backend.read(path))["version"] == 0  # a correct record in its place
    assert "ok:" in art(store, "verify").stdout
    proc = art(store, "add", data["f0"], "--type", "data", "--name", "d", "--json")
    assert json.loads(proc.stdout)["version"] == "v0" and "warning" not in proc.stderr


def test_bad_run_records_are_skipped_one_by_one(local_store, data):
    """A garbage event or edge costs that record only; a run.json that is not an object costs its run."""
    store = local_store
    v1 = data["reg"].resolve("d:v1")
    keep = rr.write_run(store, "p", name="keep", config={"a": 1})
    rr.add_event(store, "p", keep, "notes", notes="hello")
    rr.add_input(store, "p", keep, v1)
    rr.add_output(store, "p", keep, v1)
    rr.finish(store, "p", keep)
    base = f"projects/p/runs/{keep}"
    event = f"{base}/events/00000001.json"
    edge = f"{base}/inputs/default/d/1.json"
    write_raw(store, event, b"{trunc")
    write_raw(store, edge, b"\x00\x01")
    gone = rr.write_run(store, "p", name="gone")
    write_raw(store, f"projects/p/runs/{gone}/run.json", b'"just a string"')

    proc = art(store, "runs", "p", "--json")
    assert [r["name"] for r in json.loads(proc.stdout)] == ["keep"]
    assert event in proc.stderr and edge in proc.stderr and f"projects/p/runs/{gone}/run.json" in proc.stderr
    art(store, "index", "rebuild")
    assert "keep" in art(store, "lineage", "d:v1").stdout

    proc = art(store, "verify", "--json", ok=False)
    subjects = sorted(p["subject"] for p in json.loads(proc.stdout)["problems"] if p["kind"] == "bad-record")
    assert subjects == sorted([event, edge, f"projects/p/runs/{gone}/run.json"])
    proc = art(store, "verify", "--repair")
    for path in (event, edge):
        assert path in proc.stdout and not store.exists(path)
    assert "ok:" in art(store, "verify").stdout
    proc = art(store, "runs", "p", "--json")
    assert [r["name"] for r in json.loads(proc.stdout)] == ["keep"] and "warning" not in proc.stderr


def test_the_index_catches_up_with_a_repair(local_store, data):
    """After --repair the index catches up from the journal: no rebuild needed for the server."""
    store = local_store
    with server_client(store) as client:
        assert client.get("/api/projects/default/artifacts").status_code == 200
    write_raw(store, ALIAS, b"")
    art(store, "verify", "--repair")
    with server_client(store) as client:
        resp = client.get("/api/projects/default/artifacts/d")
        assert resp.status_code == 200
        assert {v["version"]: v["aliases"] for v in resp.json()["versions"]} == {"v0": ["stable"], "v1": ["latest"]}
