"""Registries (docs/registry.md): versions linked from any project into collections with their
own aliases, and protected aliases whose moves wait for a second admin's approval, through the
library, the CLI and a real ``art server`` process."""

from __future__ import annotations

import json
import os

import pytest
import requests
from art_servers import ArtServer
from conftest import make_tree, run_art, tree_of

import arty
from arty.artifacts import Artifact, Registry, approvals
from arty.artifacts.links import collections, link, linked_versions, registries
from arty.errors import ConflictError, NotFound, PermissionDenied, UsageError
from arty.store import init_store, open_store


def _model(reg: Registry, tmp_path, content: str = "weights", name: str = "det") -> arty.ArtifactVersion:
    path = make_tree(tmp_path / f"m-{abs(hash(content))}", {"model.pt": content})
    return reg.log(Artifact(name, type="model").add_dir(path)).version


def _blob_files(store_root: str) -> set[str]:
    out = set()
    for top in ("objects", "packs"):
        if os.path.isdir(os.path.join(store_root, top)):
            out |= {f"{top}/{p}" for p in tree_of(os.path.join(store_root, top))}
    return out


def test_link_copies_no_bytes_records_who_and_is_idempotent(local_store, tmp_path):
    vision = Registry(local_store, "vision")
    v = _model(vision, tmp_path)
    root = local_store.url
    blobs = _blob_files(root)
    done = link(v, "registry/pedestrian-detector", ["staging"], by="alice")
    assert done.created and _blob_files(root) == blobs  # no blob written
    lv = done.version
    assert lv.qualified_name == "registry/pedestrian-detector:v0" and lv.digest == v.digest
    assert lv.record["link"] == {"project": "vision", "name": "det", "version": 0}
    assert lv.record["by"] == "alice" and lv.record["created_at"]
    assert lv.is_link and lv.source_qualified_name == "vision/det:v0" and lv.source_version == v
    assert registries(local_store) == ["registry"] and linked_versions(local_store) == {("vision", "det", 0)}
    # the same version again: the same collection version, only the alias moves
    again = v.link("pedestrian-detector", ["prod"])
    assert again == lv and Registry(local_store, "registry").versions("pedestrian-detector") == [0]
    # a link of the link links the source
    assert link(lv, "registry/pedestrian-detector").version == lv
    reg = Registry(local_store, "registry")
    assert reg.aliases("pedestrian-detector") == {"staging": 0, "prod": 0}
    got = reg.resolve("registry/pedestrian-detector:prod")
    assert got.read_bytes("model.pt") == b"weights" and got.source_name == "det:v0"
    # a second version of the source is a second collection version; the collection's aliases are its own
    v1 = _model(vision, tmp_path, "better")
    lv1 = v1.link("registry/pedestrian-detector", ["staging"])
    assert lv1.version == "v1" and reg.aliases("pedestrian-detector") == {"staging": 1, "prod": 0}
    assert vision.aliases("det") == {}
    assert [m["version"] for m in reg.alias_history("pedestrian-detector", "staging")] == [0, 1]
    cols = collections(local_store, "registry")
    assert [c.name for c in cols] == ["pedestrian-detector"]
    assert [x["source"] for x in cols[0].to_json()["versions"]] == ["vision/det:v0", "vision/det:v1"]


def test_link_refuses_what_it_cannot_link(local_store, tmp_path):
    vision = Registry(local_store, "vision")
    v = _model(vision, tmp_path)
    data = vision.log(Artifact("data", type="dataset").add_dir(make_tree(tmp_path / "d", {"a": "1"}))).version
    v.link("registry/detector")
    with pytest.raises(UsageError, match="holds versions of type 'model'"):
        data.link("registry/detector")
    with pytest.raises(ConflictError, match="not a registry"):
        _other_project(local_store, v)
    with pytest.raises(UsageError, match="into its own project"):
        v.link("vision/x")
    for bad in ("a/b/c/d", "registry/det:v1", "", "bad name/x"):
        with pytest.raises(UsageError):
            v.link(bad)
    assert Registry(local_store, "registry").versions("detector") == [0]


def _other_project(store, v):
    other = Registry(store, "other")
    other.log(Artifact("thing", type="dataset").add_file(__file__))
    return v.link("other/collection")


@pytest.mark.slow
def test_runs_link_use_and_lineage_show_both_names(tmp_path, monkeypatch):
    store_url = str(tmp_path / "store")
    init_store(store_url)
    monkeypatch.setenv("ARTY_STORE", store_url)
    (tmp_path / "model.pt").write_text("weights")
    run = arty.init(project="vision", name="train")
    lv = run.link_model(str(tmp_path / "model.pt"), "pedestrian-detector", aliases=["staging"])
    draft = Artifact("extra", type="model").add_file(str(tmp_path / "model.pt"))
    lv2 = run.link_artifact(draft, "wandb-registry-models/extra", aliases=["prod"])
    train_id = run.id
    run.finish()
    assert lv.qualified_name == "registry/pedestrian-detector:v0" and lv.record["run"] == train_id
    assert lv.source_name == f"run-{train_id}-model.pt:v0"
    assert lv2.qualified_name == "models/extra:v0" and draft.logged is not None
    api_linked = arty.Api(store=store_url).artifact(f"vision/run-{train_id}-model.pt:v0").link(
        "registry/pedestrian-detector", ["prod"])
    assert api_linked.qualified_name == "registry/pedestrian-detector:v0"

    ev = arty.init(project="eval", name="evaluate")
    used = ev.use_artifact("registry/pedestrian-detector:prod")
    assert used.read_bytes("model.pt") == b"weights"
    eval_id = ev.id
    ev.finish()
    api = arty.Api(store=store_url)
    a = api.artifact("registry/pedestrian-detector:prod")
    assert a.logged_by().id == train_id and [r.id for r in a.used_by()] == [eval_id]
    text = run_art("lineage", "registry/pedestrian-detector:prod", env={"ARTY_STORE": store_url}, check=True).stdout
    assert f"linked from vision/run-{train_id}-model.pt:v0" in text and train_id in text and eval_id in text
    src = run_art("lineage", f"vision/run-{train_id}-model.pt:v0", env={"ARTY_STORE": store_url}, check=True).stdout
    assert "linked as registry/pedestrian-detector:v0" in src and eval_id in src
    out = tmp_path / "got"
    run_art("get", "registry/pedestrian-detector:prod", "-o", str(out), env={"ARTY_STORE": store_url}, check=True)
    assert (out / "model.pt").read_text() == "weights"


@pytest.mark.slow
def test_cli_link_registry_ls_show_and_collection_alias_history(tmp_path):
    store_url = str(tmp_path / "store")
    env = {"ARTY_STORE": store_url}
    make_tree(tmp_path / "m", {"model.pt": "w0"})
    run_art("init", store_url, check=True)
    run_art("add", str(tmp_path / "m"), "--name", "det", "--type", "model", "--project", "vision", env=env, check=True)
    blobs = _blob_files(store_url)
    out = run_art("link", "vision/det:v0", "pedestrian-detector", "--alias", "staging", env=env, check=True).stdout
    assert "vision/det:v0 -> registry/pedestrian-detector:v0" in out
    assert _blob_files(store_url) == blobs
    again = json.loads(run_art("link", "vision/det:latest", "registry/pedestrian-detector", "--alias", "prod",
                               "--json", env=env, check=True).stdout)
    assert again["created"] is False and again["version"] == "v0" and again["source"] == "vision/det:v0"
    listed = json.loads(run_art("registry", "ls", "--json", env=env, check=True).stdout)
    assert listed == [{"registry": "registry", "collection": "pedestrian-detector", "versions": 1, "type": "model",
                       "aliases": {"prod": "v0", "staging": "v0"}}]
    shown = run_art("registry", "show", "registry", env=env, check=True).stdout
    assert "vision/det:v0" in shown and "prod, staging" in shown
    run_art("alias", "registry/pedestrian-detector:v0", "candidate", env=env, check=True)
    run_art("alias", "--delete", "registry/pedestrian-detector", "candidate", env=env, check=True)
    history = json.loads(run_art("alias", "--history", "registry/pedestrian-detector", "candidate", "--json",
                                 env=env, check=True).stdout)
    assert [m["version"] for m in history] == ["v0", None] and all(m["by"] and m["at"] for m in history)
    bad = run_art("registry", "show", "nothing", env=env)
    assert bad.returncode == 3 and "registry 'nothing' not found" in bad.stderr
    bad = run_art("link", "vision/det", "registry/x", env=env)
    assert bad.returncode == 2 and "which version" in bad.stderr


def test_approvals_on_the_store(local_store, tmp_path):
    v = _model(Registry(local_store, "vision"), tmp_path)
    v.link("registry/detector", ["prod"])
    v1 = _model(Registry(local_store, "vision"), tmp_path, "v1")
    v1.link("registry/detector")
    reg = Registry(local_store, "registry")
    move = approvals.propose(local_store, "registry", "detector", "prod", 1, "alice")
    assert move["state"] == "pending" and move["from"] == 0
    assert [m["id"] for m in approvals.moves(local_store, "registry")] == [move["id"]]
    assert reg.aliases("detector")["prod"] == 0  # not moved yet
    with pytest.raises(PermissionDenied, match="'alice' proposed it"):
        approvals.approve(local_store, "registry", "detector", "prod", None, "alice")
    done = approvals.approve(local_store, "registry", "detector", "prod", None, "dave")
    assert done["state"] == "approved" and reg.aliases("detector")["prod"] == 1
    last = reg.alias_history("detector", "prod")[-1]
    assert (last["by"], last["proposed_by"], last["approved_by"], last["move"]) == ("dave", "alice", "dave", move["id"])
    with pytest.raises(ConflictError, match="approved by dave already"):
        approvals.approve(local_store, "registry", "detector", "prod", move["id"], "erin")
    assert approvals.moves(local_store, "registry") == []
    # rejected by another, cancelled by its proposer: the alias stays
    m2 = approvals.propose(local_store, "registry", "detector", "prod", 0, "alice")
    m3 = approvals.propose(local_store, "registry", "detector", "prod", 0, "alice")
    with pytest.raises(UsageError, match="2 moves"):
        approvals.approve(local_store, "registry", "detector", "prod", None, "dave")
    assert approvals.reject(local_store, "registry", "detector", "prod", m2["id"], "dave")["state"] == "rejected"
    assert approvals.reject(local_store, "registry", "detector", "prod", m3["id"], "alice")["state"] == "cancelled"
    with pytest.raises(ConflictError, match="rejected by dave"):
        approvals.approve(local_store, "registry", "detector", "prod", m2["id"], "erin")
    assert reg.aliases("detector")["prod"] == 1
    states = {m["id"]: m["state"] for m in approvals.moves(local_store, "registry", pending_only=False)}
    assert states == {move["id"]: "approved", m2["id"]: "rejected", m3["id"]: "cancelled"}
    with pytest.raises(NotFound):
        approvals.approve(local_store, "registry", "detector", "prod", None, "dave")
    with pytest.raises(UsageError, match="invalid move id"):
        approvals.approve(local_store, "registry", "detector", "prod", "../x", "dave")


def _key(store: str, *args: str) -> str:
    return json.loads(run_art("server", *args, "--store", store, "--json", check=True).stdout)["key"]


@pytest.mark.slow
def test_protected_alias_with_approval_through_a_server(tmp_path):
    backing = str(tmp_path / "backing")
    init_store(backing)
    alice = _key(backing, "users", "add", "alice", "--admin")
    dave = _key(backing, "users", "add", "dave", "--admin")
    bob = _key(backing, "users", "add", "bob")
    carol = _key(backing, "users", "add", "carol")  # may write the registry, not read vision
    for project in ("vision", "registry"):
        run_art("server", "grant", "bob", project, "--role", "write", "--store", backing, check=True)
    run_art("server", "grant", "carol", "registry", "--role", "write", "--store", backing, check=True)
    store = open_store(backing)
    vision = Registry(store, "vision")
    v0 = _model(vision, tmp_path, "w0")
    v1 = _model(vision, tmp_path, "w1")
    v0.link("registry/detector", ["prod"])
    v1.link("registry/detector", ["staging"])
    run_art("server", "protect", "registry", "detector:prod", "--approvals", "1", "--store", backing, check=True)
    work = tmp_path / "work"
    work.mkdir()
    with ArtServer(backing) as server:
        def art(key, *args):
            return run_art(*args, env={"ARTY_STORE": server.url, "ARTY_API_KEY": key}, cwd=work)

        def prod():
            return Registry(open_store(backing), "registry").aliases("detector")["prod"]

        # a non-admin moving the protected alias: refused, nothing written
        before = tree_of(os.path.join(backing, "projects"))
        proc = art(bob, "alias", "registry/detector:v1", "prod")
        assert proc.returncode == 4 and "permission denied" in proc.stderr and "admin" in proc.stderr, proc.stderr
        proc = art(bob, "alias", "approve", "registry/detector:prod")
        assert proc.returncode == 7 and "admin" in proc.stderr, proc.stderr
        assert tree_of(os.path.join(backing, "projects")) == before
        # an admin's move is recorded as pending, the alias does not move
        proc = art(alice, "alias", "registry/detector:v1", "prod")
        assert proc.returncode == 0 and "waits for another admin's approval" in proc.stderr, proc.stderr
        assert prod() == 0
        pending = json.loads(art(bob, "alias", "pending", "--json").stdout)
        assert [(m["by"], m["version"], m["state"]) for m in pending] == [("alice", 1, "pending")]
        # moves/ cannot be written through the store protocol, not even by an admin
        r = requests.put(f"{server.url}/api/store/v1/create",
                         params={"path": f"projects/registry/artifacts/detector/moves/{pending[0]['id']}/decision.json"},
                         data=json.dumps({"decision": "approved", "by": "dave"}),
                         headers={"Authorization": f"Bearer {alice}"}, timeout=30)
        assert r.status_code == 400 and "approve" in r.json()["hint"]
        # approving one's own move: refused
        proc = art(alice, "alias", "approve", "registry/detector:prod")
        assert proc.returncode == 7 and "'alice' proposed it" in proc.stderr, proc.stderr
        assert prod() == 0
        # another admin approves: moved, with both names in the alias record
        proc = art(dave, "alias", "approve", "registry/detector:prod", pending[0]["id"])
        assert proc.returncode == 0 and "proposed by alice, approved by dave" in proc.stdout, proc.stderr
        assert prod() == 1
        history = json.loads(art(bob, "alias", "--history", "registry/detector", "prod", "--json").stdout)
        assert [(m["version"], m["by"], m.get("proposed_by"), m.get("approved_by")) for m in history][1:] == [
            ("v1", "dave", "alice", "dave")]
        # through the HTTP API (what the UI calls): a move proposed, then rejected by another admin
        h = {"Authorization": f"Bearer {dave}"}
        r = requests.post(f"{server.url}/api/projects/registry/artifacts/detector/aliases", headers=h,
                          json={"alias": "prod", "version": "v0"}, timeout=30)
        assert r.status_code == 200 and r.json()["pending"]["state"] == "pending" and prod() == 1
        move_id = r.json()["pending"]["id"]
        r = requests.post(f"{server.url}/api/projects/registry/artifacts/detector/aliases/prod/approve",
                          headers={"Authorization": f"Bearer {bob}"}, json={"move": move_id}, timeout=30)
        assert r.status_code == 403
        r = requests.post(f"{server.url}/api/projects/registry/artifacts/detector/aliases/prod/reject",
                          headers={"Authorization": f"Bearer {alice}"}, json={"move": move_id}, timeout=30)
        assert r.status_code == 200 and r.json()["state"] == "rejected" and prod() == 1
        page = requests.get(f"{server.url}/api/registries/registry", headers=h, timeout=30).json()
        col = page["collections"][0]
        assert col["protected"] == {"prod": 1} and col["pending"] == [] and page["can_approve"] is True
        assert [m["by"] for m in col["history"]["prod"]][-1] == "dave"
        # a link record written through the protocol: only of a readable source, with its content
        def forge(key, digest):
            rec = {"project": "registry", "name": "forged", "version": 0, "type": "model", "digest": digest,
                   "size": 2, "files": 1, "created_at": "2026-12-03T00:00:00.000Z",
                   "link": {"project": "vision", "name": "det", "version": 0}}
            return requests.put(f"{server.url}/api/store/v1/create",
                                params={"path": "projects/registry/artifacts/forged/versions/00000000.json"},
                                data=json.dumps(rec), headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert forge(carol, str(v0.digest)).status_code == 403
        r = forge(bob, str(v1.digest))
        assert r.status_code == 400 and "holds other content" in r.json()["error"]
        assert not os.path.exists(os.path.join(backing, "projects", "registry", "artifacts", "forged"))
        # the unprotected alias moves as before
        assert art(bob, "alias", "registry/detector:v0", "staging").returncode == 0
        # art link through the server: the link is made (stamped with its user), a protected alias waits
        proc = art(alice, "link", "vision/det:v0", "registry/detector", "--alias", "prod", "--alias", "candidate")
        assert proc.returncode == 0 and "already linked: vision/det:v0 -> registry/detector:v0 (candidate)" in \
            proc.stdout and "pending: " in proc.stderr, proc.stderr
        assert prod() == 1 and [m["version"] for m in json.loads(art(alice, "alias", "pending", "--json").stdout)] == [0]
        v2 = _model(vision, tmp_path, "w2")
        assert art(bob, "link", f"vision/det:{v2.version}", "registry/detector").returncode == 0
        assert open_store(backing).read_record("projects/registry/artifacts/detector/versions/00000002.json")["by"] == "bob"
    assert run_art("--store", backing, "verify", check=True).returncode == 0


def test_a_link_keeps_its_files_when_the_source_is_deleted_and_gc_runs(loose_blobs, local_store, tmp_path):
    from arty.artifacts.gc import collect
    from arty.errors import IntegrityError

    vision = Registry(local_store, "vision")
    v = _model(vision, tmp_path, "kept by the link")
    v.link("registry/detector", ["prod"])
    other = _model(vision, tmp_path, "not linked", name="other")
    vision.delete("det", 0)
    vision.delete("other", 0)
    collect(local_store, grace=0)
    got = Registry(local_store, "registry").resolve("detector:prod")
    assert got.read_bytes("model.pt") == b"kept by the link"
    with pytest.raises((IntegrityError, NotFound, FileNotFoundError)):
        other.read_bytes("model.pt")  # gc did remove what nothing references
    with pytest.raises(NotFound, match="was deleted"):
        got.source_version


def test_concurrent_links_of_one_version_and_approvals_of_one_move_make_one(local_store, tmp_path):
    import threading

    v = _model(Registry(local_store, "vision"), tmp_path)
    barrier = threading.Barrier(4)
    got: list = []

    def link_it():
        barrier.wait()
        got.append(link(v, "registry/detector").version.number)

    threads = [threading.Thread(target=link_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reg = Registry(local_store, "registry")
    assert len(set(got)) == 1 and reg.versions("detector") == got[:1]

    move = approvals.propose(local_store, "registry", "detector", "prod", got[0], "alice")
    outcomes: list = []
    barrier = threading.Barrier(3)

    def approve(name):
        barrier.wait()
        try:
            outcomes.append(approvals.approve(local_store, "registry", "detector", "prod", move["id"], name)["decided_by"])
        except ConflictError:
            outcomes.append("refused")

    threads = [threading.Thread(target=approve, args=(n,)) for n in ("dave", "erin", "frank")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = reg.alias_history("detector", "prod")
    assert sorted(outcomes).count("refused") == 2 and len(history) == 1
    assert history[0]["approved_by"] in ("dave", "erin", "frank") and history[0]["approved_by"] in outcomes


def test_an_approval_its_approver_did_not_apply_is_applied_by_the_next(local_store, tmp_path):
    v = _model(Registry(local_store, "vision"), tmp_path)
    v.link("registry/detector")
    move = approvals.propose(local_store, "registry", "detector", "prod", 0, "alice")
    # dave's approval crashed after its decision record, before the alias record
    local_store.create_record(approvals.decision_record("registry", "detector", move["id"]),
                              {"decision": "approved", "by": "dave", "at": "2026-01-01T00:00:00.000Z"})
    reg = Registry(local_store, "registry")
    assert reg.aliases("detector") == {}
    done = approvals.approve(local_store, "registry", "detector", "prod", move["id"], "erin")
    assert done["decided_by"] == "dave" and reg.aliases("detector") == {"prod": 0}
    assert reg.alias_history("detector", "prod")[-1]["approved_by"] == "dave"
    with pytest.raises(ConflictError):
        approvals.approve(local_store, "registry", "detector", "prod", move["id"], "erin")
