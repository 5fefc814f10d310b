"""art push / art pull: copying versions, their blobs, alias history and runs between stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from arty.artifacts import Artifact, Registry
from arty.artifacts.transfer import apply, open_target, plan_transfer, select_versions, transfer
from arty.artifacts.verify import verify_store
from arty.errors import ConflictError, StoreError, UsageError
from arty.hashing import StatCache
from arty.store import Store, init_store, layout, open_store
from arty.tracking.run import record_finished_run
from conftest import make_tree, run_art, tree_of
from faults import FaultPlan, wrap

TESTS = os.path.dirname(os.path.abspath(__file__))
FAULT_CLI = os.path.join(TESTS, "fault_cli.py")


def _log(reg: Registry, root, name: str = "data", aliases=(), run_id: str | None = None):
    result = reg.log(_draft(root, name), aliases=aliases, created_by=run_id)
    if run_id and result.created:
        record_finished_run(reg.store, reg.project, run_id, name=f"make {name}", job_type="test",
                            config={}, outputs=[result.version])
    return result.version


def _draft(root, name: str) -> Artifact:
    a = Artifact(name, type="dataset")
    a.add_dir(str(root))
    return a


@pytest.fixture
def source(tmp_path):
    """A local store with data:v0, data:v1 (one file changed), alias history prod v0 -> v1,
    a producer run for each version and a run that used v1."""
    store, _ = init_store(str(tmp_path / "src"))
    reg = Registry(store, "default", StatCache(":memory:"))
    files = {f"part/{i:03d}.bin": os.urandom(100 + i) for i in range(30)} | {"a.csv": "x,y\n1,2\n"}
    make_tree(tmp_path / "data", files)
    v0 = _log(reg, tmp_path / "data", aliases=["prod"], run_id="mk000000")
    make_tree(tmp_path / "data", {"a.csv": "x,y\n3,4\n"})
    v1 = _log(reg, tmp_path / "data", run_id="mk000001")
    reg.set_alias("data", v1.number, "prod")
    record_finished_run(store, "default", "user0001", name="train", job_type="test", config={}, inputs=[v1])
    return store


def _problems(store: Store) -> list:
    return verify_store(open_store(store.url))


def test_push_then_pull_round_trip(source, store_url, tmp_path):
    dst = open_target(store_url, source)
    r = transfer(source, dst, "default", "data")
    assert r.versions == [0, 1]
    assert r.blobs_sent > 0 and r.blobs_present == 0
    assert _problems(dst) == []
    reg = Registry(dst, "default", StatCache(":memory:"))
    assert reg.versions("data") == [0, 1]
    assert reg.alias_target("data", "prod") == 1
    assert [h["version"] for h in reg.alias_history("data", "prod")] == [0, 1]
    # records byte for byte
    for path in ("projects/default/artifacts/data/versions/00000001.json",
                 "projects/default/artifacts/data/aliases/prod/00000000.json"):
        assert dst.backend.read(path) == source.backend.read(path)
    # producer runs and the run that used v1
    assert r.runs == ["mk000000", "mk000001", "user0001"]
    for run in r.runs:
        assert dst.walk(layout.run("default", run)) == source.walk(layout.run("default", run))
    # second push sends nothing
    again = transfer(source, dst, "default", "data")
    assert again.blobs_sent == 0 and again.records_created == 0
    assert again.blobs_present == r.blobs_sent
    # pull back into a fresh local store
    back, _ = init_store(str(tmp_path / "back"))
    pulled = transfer(open_store(store_url), back, "default", "data")
    assert pulled.blobs_sent == r.blobs_sent
    assert _problems(back) == []
    v1 = Registry(back, "default", StatCache(":memory:")).resolve("data:prod")
    v1.download(tmp_path / "out")
    assert tree_of(tmp_path / "out") == tree_of(tmp_path / "data")


def test_one_changed_file_sends_only_its_blob_and_nodes(source, tmp_path):
    dst = open_target(str(tmp_path / "dst"), source)
    first = transfer(source, dst, "default", "data", [0])
    assert first.versions == [0]
    # the alias log stops where it names a version the target lacks
    reg = Registry(dst, "default", StatCache(":memory:"))
    assert [h["version"] for h in reg.alias_history("data", "prod")] == [0]
    second = transfer(source, dst, "default", "data", [1])
    # a.csv changed: its blob and the root node
    assert second.blobs_sent == 2
    assert [h["version"] for h in reg.alias_history("data", "prod")] == [0, 1]
    assert _problems(dst) == []


def test_select_versions(source):
    assert select_versions(source, "default", "data", None) == [0, 1]
    assert select_versions(source, "default", "data", "prod") == [1]
    assert select_versions(source, "default", "data", "v0") == [0]


def test_divergence_is_a_conflict(source, tmp_path):
    other, _ = init_store(str(tmp_path / "other"))
    reg = Registry(other, "default", StatCache(":memory:"))
    make_tree(tmp_path / "different", {"z.txt": "zzz"})
    _log(reg, tmp_path / "different")
    with pytest.raises(ConflictError, match="version 'data:v0' differs between the stores: they diverged"):
        transfer(source, other, "default", "data")
    assert [h for h in reg.versions("data")] == [0]  # nothing written


def test_target_with_another_hash_is_refused(source, tmp_path):
    init_store(str(tmp_path / "sha"), algorithm="sha256")
    with pytest.raises(UsageError, match="hash"):
        open_target(str(tmp_path / "sha"), source)


def _count_write_points(source: Store, url: str) -> int:
    real = open_target(url, source)
    plan = FaultPlan(None)
    transfer(source, Store(wrap(real.backend, plan), real.config), "default", "data")
    return plan.count


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_interrupted_push_then_rerun(source, tmp_path, kind, request):
    if kind == "s3":
        server = request.getfixturevalue("s3")
        base = f"s3://{server.make_bucket()}"
    else:
        base = str(tmp_path)
    # The last write point removes the push's lease on the target: a failure there is ignored
    # (the push is complete; the lease expires), so the points that must fail end before it.
    total = _count_write_points(source, f"{base}/count") - 1
    assert total > 20  # blobs go in packs: one write per pack, then its index
    points = {1, 2, total // 3, total // 2, total - 5, total - 1, total} if kind == "local" else \
        {2, total // 2, total - 1}
    for n in sorted(points):
        url = f"{base}/t{n}"
        real = open_target(url, source)
        plan = FaultPlan("eio", at=n)
        with pytest.raises(StoreError):
            transfer(source, Store(wrap(real.backend, plan), real.config), "default", "data")
        assert _problems(real) == [], f"invalid after a fault at write {n}"
        again = transfer(source, open_store(url), "default", "data")
        assert again.versions == [0, 1]
        assert _problems(real) == []
        reg = Registry(open_store(url), "default", StatCache(":memory:"))
        assert reg.versions("data") == [0, 1] and reg.alias_target("data", "prod") == 1
        assert [h["version"] for h in reg.alias_history("data", "prod")] == [0, 1]
        final = transfer(source, open_store(url), "default", "data")
        assert final.blobs_sent == 0 and final.records_created == 0


@pytest.mark.parametrize("point", ["blobs", "records"])
def test_push_killed_then_rerun(source, tmp_path, point):
    """SIGKILL of a real `art push` subprocess mid-way; the rerun completes the target."""
    src = source.url
    total = _count_write_points(source, str(tmp_path / "count"))
    n = 2 if point == "blobs" else total - 3  # 1: the lease; 2: the first pack (or blob)
    dst = str(tmp_path / "dst")
    proc = subprocess.run([sys.executable, FAULT_CLI, "--store", src, "push", "data", "--to", dst],
                          env=dict(os.environ, ARTY_TEST_FAULT=f"kill@{n}"), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert run_art("--store", dst, "verify").returncode == 0
    done = run_art("--store", src, "push", "data", "--to", dst, "--json", check=True)
    out = json.loads(done.stdout)
    assert out["versions"] == ["v0", "v1"]
    assert out["blobs_sent"] > 0 if point == "blobs" else out["blobs_sent"] == 0
    assert run_art("--store", dst, "verify", check=True).returncode == 0
    assert run_art("--store", dst, "ls", "data", "--json", check=True).stdout.count('"version"') == 2


def test_cli_push_pull(tmp_path, store_url, env_for):
    if store_url.startswith("memory://"):
        pytest.skip("a memory:// store lives in one process")
    env = env_for(store_url)
    make_tree(tmp_path / "data", {"a.txt": "a", "b/c.txt": "c"})
    src = str(tmp_path / "src")
    run_art("--store", src, "add", str(tmp_path / "data"), "--type", "dataset", "--alias", "prod",
            env=env, check=True)
    out = run_art("--store", src, "push", "data:prod", "--to", store_url, env=env, check=True).stdout
    assert "pushed 1 version of data" in out and "4 sent" in out
    out = run_art("--store", src, "push", "data", "--to", store_url, "--json", env=env, check=True).stdout
    assert json.loads(out)["blobs_sent"] == 0
    assert run_art("--store", store_url, "verify", env=env).returncode == 0
    work = tmp_path / "work"
    work.mkdir()
    out = run_art("pull", "data", "--from", store_url, "--json", cwd=work, env=env, check=True).stdout
    assert json.loads(out)["blobs_sent"] == 4
    run_art("get", "data:prod", "-o", str(work / "got"), cwd=work, env=env, check=True)
    assert tree_of(work / "got") == tree_of(tmp_path / "data")
    bad = run_art("--store", src, "push", "nope", "--to", store_url, env=env)
    assert bad.returncode == 3


def test_plan_reports_missing(source, tmp_path):
    dst = open_target(str(tmp_path / "dst"), source)
    plan = plan_transfer(source, dst, "default", "data", None)
    assert plan.missing == set(plan.blobs)
    seen = []
    apply(plan, progress=lambda f, b: seen.append((f, b)))
    assert sum(f for f, _ in seen) == len(plan.blobs)
    assert sum(b for _, b in seen) >= plan.missing_bytes


def test_push_skips_versions_deleted_on_the_target_and_says_so(source, tmp_path, monkeypatch):
    from arty.artifacts.gc import collect

    # Loose blobs on the target, so that gc removes v0's own blobs one by one (in a pack with
    # v1's blobs they would stay until the pack is mostly garbage: tests/test_packs.py).
    monkeypatch.setenv("ARTY_PACKS", "0")
    dst_url = str(tmp_path / "dst-deleted")
    dst = open_target(dst_url, source)
    transfer(source, dst, "default", "data")
    there = Registry(dst, "default", StatCache(":memory:"))
    there.delete_alias("data", "prod")
    there.delete("data", 0)
    collect(dst, grace=0)  # v0's own blobs (its a.csv and root node) leave the target
    v0_only = {e.digest for e in Registry(source, "default").version("data", 0).files()} - \
              {e.digest for e in Registry(source, "default").version("data", 1).files()}
    assert dst.missing_blobs(v0_only) == v0_only
    result = transfer(source, dst, "default", "data", select_versions(source, "default", "data", None))
    assert result.versions == [1] and result.skipped == {0: "deleted on the target"}
    assert result.blobs_sent == 0 and result.bytes_sent == 0
    assert dst.missing_blobs(v0_only) == v0_only
    assert there.versions("data") == [1] and 0 in there.deleted("data")
    # The CLI reports it, sends nothing, and the version stays deleted.
    out = run_art("--store", source.url, "push", "data", "--to", dst_url, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["versions"] == ["v1"] and report["skipped"] == {"v0": "deleted on the target"}
    assert report["blobs_sent"] == 0
    text = run_art("--store", source.url, "push", "data:v0", "--to", dst_url)
    assert text.returncode == 0 and "skipped v0: deleted on the target" in text.stdout, text.stdout + text.stderr
    assert there.versions("data") == [1]


def test_push_of_a_version_deleted_in_the_source_sends_nothing_of_it(source, tmp_path):
    reg = Registry(source, "default", StatCache(":memory:"))
    reg.delete("data", 0)
    dst = open_target(str(tmp_path / "dst-src-deleted"), source)
    result = transfer(source, dst, "default", "data")  # every record, the deleted one too
    assert result.versions == [1] and result.skipped == {0: "deleted in the source"}
    assert dst.log_seqs(layout.versions("default", "data")) == [1]
    assert Registry(dst, "default").deleted("data") == set()
