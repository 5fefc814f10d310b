"""art gc and art rm: deleted versions, unreferenced blobs, the grace period, a concurrent writer."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from arty.artifacts import Artifact, Registry
from arty.artifacts.gc import apply_gc, plan_gc
from arty.artifacts.manifest import TreeReader
from arty.artifacts.verify import verify_store
from arty.errors import NotFound
from arty.hashing import Digest, StatCache
from arty.store import Store, init_store, layout, open_store
from conftest import _fresh_store_url, drop_memory_store, make_tree, run_art

LATER = 10 * 24 * 3600  # "now" this far ahead makes every blob older than the grace period


@pytest.fixture(params=["local", "memory", "s3"])
def any_store(request, tmp_path):
    url = _fresh_store_url(request.param, request, tmp_path)
    store, _ = init_store(url)
    yield store
    drop_memory_store(url)


def blobs_of(store: Store, digest: Digest) -> set[Digest]:
    trees = TreeReader(store)
    out = set(trees.node_digests(digest))
    out.update(e.digest for e in trees.walk(digest) if e.digest is not None)
    return out


def age_all(store: Store, seconds: float) -> None:
    """Set every file under a local store's objects/ to ``seconds`` ago."""
    root = store.backend.local_path(layout.OBJECTS)
    then = time.time() - seconds
    for here, _dirs, files in os.walk(root):
        for f in files:
            os.utime(os.path.join(here, f), (then, then))


def two_versions(reg: Registry, tmp_path):
    v0 = reg.log(Artifact("data").add_dir(make_tree(tmp_path / "a", {"shared.txt": "s", "only0.txt": "zero",
                                                                     "sub/x.txt": "x0"}))).version
    v1 = reg.log(Artifact("data").add_dir(make_tree(tmp_path / "b", {"shared.txt": "s", "only1.txt": "one",
                                                                     "sub/x.txt": "x1"}))).version
    return v0, v1


def test_dry_run_reports_exactly_the_unreferenced_blobs_and_apply_removes_them(any_store, tmp_path):
    reg = Registry(any_store, "default", StatCache(":memory:"))
    v0, v1 = two_versions(reg, tmp_path)
    reg.delete("data", 0)
    expected = blobs_of(any_store, v0.digest) - blobs_of(any_store, v1.digest)
    assert expected and Digest.parse(str(v0.digest)) in expected
    before = set(any_store.iter_blobs())

    plan = plan_gc(any_store, now=time.time() + LATER, grace=3600)
    assert {d for d, _ in plan.blobs} == expected
    assert plan.bytes > 0
    assert set(any_store.iter_blobs()) == before  # planning removes nothing

    assert apply_gc(any_store, plan) == len(expected)
    assert set(any_store.iter_blobs()) == before - expected
    assert blobs_of(any_store, v1.digest) <= set(any_store.iter_blobs())  # shared blobs stay
    assert verify_store(any_store) == []
    assert reg.resolve("data").read_bytes("shared.txt") == b"s"
    # A second run finds nothing.
    assert plan_gc(any_store, now=time.time() + LATER, grace=3600).blobs == []


def test_young_unreferenced_blobs_are_kept(any_store, tmp_path):
    reg = Registry(any_store, "default", StatCache(":memory:"))
    v0, v1 = two_versions(reg, tmp_path)
    reg.delete("data", 0)
    plan = plan_gc(any_store, grace=3600)  # just written: younger than the grace period
    assert plan.blobs == []
    assert plan.kept_young == len(blobs_of(any_store, v0.digest) - blobs_of(any_store, v1.digest))


def stop_before_version(store: Store) -> Store:
    """The same store through a backend that refuses version records: a writer stopped just
    before creating its version record (its blobs and tree nodes are written)."""
    inner = store.backend

    class Stopped(type(inner)):  # type: ignore[misc]
        def create(self, path, data):
            if "/versions/" in path:
                raise KeyboardInterrupt("writer stopped before its version record")
            return super().create(path, data)

    backend = object.__new__(Stopped)
    backend.__dict__.update(inner.__dict__)
    return Store(backend, store.config)


def test_blobs_of_a_writer_in_progress_survive_gc_and_its_version_completes(any_store, tmp_path):
    reg = Registry(any_store, "default", StatCache(":memory:"))
    src = make_tree(tmp_path / "src", {"a.txt": "a" * 1000, "d/b.txt": "b"})
    stopped = Registry(stop_before_version(any_store), "default", StatCache(":memory:"))
    with pytest.raises(KeyboardInterrupt):
        stopped.log(Artifact("w").add_dir(src))
    written = set(any_store.iter_blobs())
    assert written and reg.versions("w") == []

    plan = plan_gc(any_store, grace=3600)
    assert plan.blobs == [] and plan.kept_young == len(written)
    apply_gc(any_store, plan)
    assert set(any_store.iter_blobs()) == written

    v = reg.log(Artifact("w").add_dir(src)).version  # the writer's version completes
    assert verify_store(any_store) == []
    assert v.read_bytes("a.txt") == b"a" * 1000
    # Had the writer crashed for good, its blobs go once they are older than the grace period.
    assert plan_gc(any_store, now=time.time() + LATER, grace=3600).blobs == []


def test_a_writer_reusing_blobs_of_a_deleted_version_freshens_them(local_store, tmp_path):
    reg = Registry(local_store, "default", StatCache(":memory:"))
    src = make_tree(tmp_path / "src", {"a.txt": "a", "d/b.txt": "b"})
    old = reg.log(Artifact("w").add_dir(src)).version
    reg.delete("w", old.number)
    age_all(local_store, 7200)
    assert {d for d, _ in plan_gc(local_store, grace=3600).blobs} == blobs_of(local_store, old.digest)

    stopped = Registry(stop_before_version(local_store), "default", StatCache(":memory:"))
    with pytest.raises(KeyboardInterrupt):
        stopped.log(Artifact("w").add_dir(src))  # same content: every blob already there
    assert plan_gc(local_store, grace=3600).blobs == []  # freshened by the writer

    # A plan made before the writer reused them: each blob's age is checked again when removed.
    age_all(local_store, 7200)
    stale = plan_gc(local_store, grace=3600)
    assert stale.blobs
    with pytest.raises(KeyboardInterrupt):
        stopped.log(Artifact("w").add_dir(src))
    assert apply_gc(local_store, stale) == 0
    new = reg.log(Artifact("w").add_dir(src)).version
    assert new.number == 1 and new.digest == old.digest
    assert verify_store(local_store) == []


def test_gc_racing_a_real_writer_keeps_its_versions_complete(local_store, tmp_path):
    reg = Registry(local_store, "default", StatCache(":memory:"))
    # Deleted versions whose blobs are old: gc removes them while the writer reuses some of them.
    for i in range(3):
        v = reg.log(Artifact("old").add_dir(make_tree(tmp_path / f"old{i}", {"f.txt": f"old {i}",
                                                                            "g.txt": "g" * i}))).version
        reg.delete("old", v.number)
    age_all(local_store, 7200)

    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            wreg = Registry(open_store(local_store.url), "default", StatCache(":memory:"))
            for i in range(25):
                src = make_tree(tmp_path / f"new{i}", {"f.txt": f"old {i % 3}", "g.txt": "g" * (i % 3),
                                                       "n.txt": f"new {i}"})
                wreg.log(Artifact("new").add_dir(src))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=writer)
    t.start()
    runs = 0
    while not done.is_set() or runs == 0:
        gc_store = open_store(local_store.url)
        apply_gc(gc_store, plan_gc(gc_store, grace=60))
        runs += 1
    t.join()
    assert not errors, errors
    assert len(reg.versions("new")) == 25
    assert verify_store(open_store(local_store.url)) == []
    for n in reg.versions("new"):
        v = reg.version("new", n)
        assert v.read_bytes("n.txt") == f"new {n}".encode()


def test_gc_removes_stale_temp_files_of_a_local_store(local_store):
    young = local_store.backend.local_path("objects/ab/.tmp-young")
    old = local_store.backend.local_path("objects/.tmp-old")
    for p in (young, old):
        with open(p, "wb") as f:
            f.write(b"partial")
    then = time.time() - 7200
    os.utime(old, (then, then))
    plan = plan_gc(local_store, grace=3600)
    assert [p for p, _ in plan.temp_files] == ["objects/.tmp-old"]
    apply_gc(local_store, plan)
    assert os.path.exists(young) and not os.path.exists(old)


def test_deleted_versions_are_hidden_from_latest_ls_resolve_and_aliases(registry, tmp_path):
    v0, v1 = two_versions(registry, tmp_path)
    registry.set_alias("data", 1, "prod")
    assert registry.delete("data", 1) is True
    assert registry.versions("data") == [0]
    assert registry.deleted("data") == {1}
    assert registry.latest("data") == v0
    assert registry.resolve("data:latest") == v0
    with pytest.raises(NotFound, match="'data:v1' was deleted"):
        registry.resolve("data:v1")
    with pytest.raises(NotFound, match="alias 'prod' .* v1, which was deleted"):
        registry.resolve("data:prod")
    with pytest.raises(NotFound, match="was deleted"):
        registry.delete("data", 1)
    # The version record stays; nothing is overwritten.
    assert registry.store.exists(f"{layout.versions('default', 'data')}/{layout.seq_name(1)}")
    # Logging the deleted content again makes a new version.
    again = registry.log(Artifact("data").add_dir(str(tmp_path / "b"))).version
    assert again.number == 2 and again.digest == v1.digest
    registry.delete("data", 0)
    registry.delete("data", 2)
    assert registry.latest("data") is None and "data" not in registry.names()


def test_cli_rm_ls_gc_verify(tmp_path):
    store = str(tmp_path / "store")
    run_art("init", store, check=True)
    base = ["--store", store]
    run_art(*base, "add", make_tree(tmp_path / "a", {"x.txt": "x", "big.bin": "0" * 5000}),
            "--type", "dataset", "--name", "data", check=True)
    run_art(*base, "add", make_tree(tmp_path / "b", {"x.txt": "x", "big.bin": "1" * 5000}),
            "--type", "dataset", "--name", "data", "--alias", "prod", check=True)

    with_latest = run_art(*base, "rm", "data", )
    assert with_latest.returncode != 0 and "one version" in with_latest.stderr
    out = run_art(*base, "rm", "data:prod", check=True)
    assert "deleted data:v1" in out.stdout
    rows = json.loads(run_art(*base, "ls", "data", "--json", check=True).stdout)
    assert [r["version"] for r in rows] == ["v0"] and rows[0]["aliases"] == ["latest"]
    gone = run_art(*base, "show", "data:v1")
    assert gone.returncode == NotFound.exit_code and "was deleted" in gone.stderr
    gone = run_art(*base, "get", "data:prod")
    assert gone.returncode == NotFound.exit_code and "was deleted" in gone.stderr

    # Just written: the grace period keeps everything; --grace 0 frees v1's own blobs.
    kept = json.loads(run_art(*base, "gc", "--dry-run", "--json", check=True).stdout)
    assert kept["blobs"] == 0 and kept["kept_young"] == 2
    dry = run_art(*base, "gc", "--dry-run", "--grace", "0", check=True)
    assert "would remove 2 blobs" in dry.stdout
    real = json.loads(run_art(*base, "gc", "--grace", "0", "--json", check=True).stdout)
    assert real["removed_blobs"] == 2 and real["bytes"] > 5000 and not real["dry_run"]
    assert "ok: 1 version verified" in run_art(*base, "verify", check=True).stdout
    assert json.loads(run_art(*base, "gc", "--grace", "0", "--json", check=True).stdout)["blobs"] == 0
    run_art(*base, "get", "data:v0", "--output", str(tmp_path / "out"), check=True)
    assert open(tmp_path / "out" / "big.bin").read() == "0" * 5000


def test_the_index_forgets_deleted_versions(tmp_path):
    """A version deleted with `art rm` leaves the index on catch-up and stays out on rebuild."""
    from arty.index import Index

    store, _ = init_store(str(tmp_path / "store"))
    reg = Registry(store, "default", StatCache(":memory:"))
    for i in range(2):
        reg.log(Artifact("data").add_dir(make_tree(tmp_path / f"d{i}", {"x.txt": f"content {i}"})))
    index = Index(store, str(tmp_path / "index.sqlite"))
    index.sync()
    assert [v["version"] for v in index.versions("default")] == [0, 1]
    reg.delete("data", 0)
    index.sync()
    assert [v["version"] for v in index.versions("default")] == [1]
    index.rebuild()
    assert [v["version"] for v in index.versions("default")] == [1]
