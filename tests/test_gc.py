"""art gc and art rm: deleted versions, unreferenced blobs, the grace period, concurrent writers and leases."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from arty.artifacts import Artifact, Registry
from arty.artifacts.gc import GcPlan, apply_gc, collect, plan_gc
from arty.artifacts.manifest import TreeReader
from arty.artifacts.verify import verify_store
from arty.errors import NotFound, UsageError
from arty.hashing import Digest, StatCache
from arty.store import Store, init_store, layout, open_store
from arty.store.leases import CLOCK_SKEW, GC, WRITE, WRITE_TTL, Lease, read_leases
from conftest import _fresh_store_url, drop_memory_store, make_tree, run_art, tree_of

LATER = 10 * 24 * 3600  # "now" this far ahead makes every blob older than the grace period


@pytest.fixture(params=["local", "memory", "s3"])
def any_store(request, tmp_path):
    url = _fresh_store_url(request.param, request, tmp_path)
    store, _ = init_store(url)
    yield store
    drop_memory_store(url)


@contextlib.contextmanager
def gc_lease(store: Store):
    """A gc lease held for the block: plans made under it can be applied."""
    with Lease.take(store, GC, "test gc") as lease:
        yield lease


def gc_pass(store: Store, now: float | None = None, grace: float = 3600) -> tuple[GcPlan, int]:
    """Plan and apply one gc pass under a gc lease (as of ``now``, default the current time)."""
    with gc_lease(store) as lease:
        plan = plan_gc(store, now=now, grace=grace, lease=lease)
        return plan, apply_gc(store, plan)


def blobs_of(store: Store, digest: Digest) -> set[Digest]:
    trees = TreeReader(store)
    out = set(trees.node_digests(digest))
    out.update(e.digest for e in trees.walk(digest) if e.digest is not None)
    return out


def age_all(store: Store, seconds: float) -> None:
    """Set every file under a local store's objects/ and packs/ to ``seconds`` ago."""
    then = time.time() - seconds
    for top in (layout.OBJECTS, "packs"):
        for here, _dirs, files in os.walk(store.backend.local_path(top)):
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

    with gc_lease(any_store) as lease:
        plan = plan_gc(any_store, now=time.time() + LATER, grace=3600, lease=lease)
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

    plan, _ = gc_pass(any_store, grace=3600)
    assert plan.blobs == [] and plan.kept_young == len(written)
    assert set(any_store.iter_blobs()) == written
    assert read_leases(any_store) == []  # the stopped writer removed its lease on the way out

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

    new = reg.log(Artifact("w").add_dir(src)).version
    assert new.number == 1 and new.digest == old.digest
    assert verify_store(local_store) == []


def test_a_blob_reused_after_the_plan_under_a_lease_gc_saw_is_kept(local_store, tmp_path):
    """A writer at work (its open lease seen by gc) freshens an old unreferenced blob after the
    plan listed it: the removal checks the blob's mtime again (after moving it aside) and keeps it."""
    reg = Registry(local_store, "default", StatCache(":memory:"))
    old = reg.log(Artifact("w").add_dir(make_tree(tmp_path / "src", {"a.txt": "a"}))).version
    reg.delete("w", old.number)
    age_all(local_store, 7200)
    with Lease.take(local_store, WRITE, "a writer at work") as writer, gc_lease(local_store) as lease:
        plan = plan_gc(local_store, grace=0, lease=lease)
        assert [info.path for info in plan.leases] == [writer.path]
        stale = {d for d, _ in plan.blobs}
        assert stale == blobs_of(local_store, old.digest)  # old: older than the lease began
        assert local_store.freshen_blobs(stale) == set()  # the writer reuses them now
        assert apply_gc(local_store, plan) == 0
    assert blobs_of(local_store, old.digest) <= set(local_store.iter_blobs())


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
        collect(open_store(local_store.url), grace=60)
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
    plan, _ = gc_pass(local_store, grace=3600)
    assert [p for p, _ in plan.temp_files] == ["objects/.tmp-old"]
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


# -- writers at work: leases (docs/store-format.md, "Garbage collection") ---------------------

FAULT_CLI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fault_cli.py")


def gc_before(store: Store, path_part: str) -> tuple[Store, list[tuple[GcPlan, int]]]:
    """The same store through a backend that runs a whole gc pass with grace 0 (in a store of its
    own) just before it creates any record whose path holds ``path_part``: the worst moment for a
    writer, whose blobs are all written and not yet named. Returns the store and the passes' results."""
    inner = store.backend
    passes: list[tuple[GcPlan, int]] = []

    class GcFirst(type(inner)):  # type: ignore[misc]
        def create(self, path, data):
            if path_part in path:
                passes.append(gc_pass(open_store(store.url), grace=0))
            return super().create(path, data)

    backend = object.__new__(GcFirst)
    backend.__dict__.update(inner.__dict__)
    return Store(backend, store.config), passes


def test_gc_grace_0_just_before_a_version_record_keeps_the_writers_blobs(any_store, tmp_path, monkeypatch):
    # Loose blobs: counts blob by blob (a pack holding a reused blob stays whole: tests/test_packs.py).
    monkeypatch.setenv("ARTY_PACKS", "0")
    any_store.packing = False
    reg = Registry(any_store, "default", StatCache(":memory:"))
    old = reg.log(Artifact("data").add_dir(make_tree(tmp_path / "a", {"keep.txt": "reused", "old.txt": "gone"})))
    reg.delete("data", old.version.number)  # unreferenced now; the next version reuses keep.txt
    if any_store.is_local:
        age_all(any_store, 7200)  # older than the writer's lease
    hooked, passes = gc_before(any_store, "/versions/")
    files = {"keep.txt": "reused", "new.txt": "fresh", "d/x.txt": "x"}
    v = Registry(hooked, "default", StatCache(":memory:")).log(
        Artifact("data").add_dir(make_tree(tmp_path / "b", files))).version
    [(plan, removed)] = passes
    assert [info.what for info in plan.leases] == ["add default/data"]  # gc saw the writer at work
    assert verify_store(any_store) == []
    got = Registry(open_store(any_store.url), "default", StatCache(":memory:")).version("data", v.number)
    assert tree_of(got.download(tmp_path / "out")) == {k: c.encode() for k, c in files.items()}
    # What no one needs went: v0's own blobs (old.txt and v0's root node), not keep.txt.
    assert removed == 2 and blobs_of(any_store, v.digest) <= set(any_store.iter_blobs())


@pytest.mark.parametrize("kind,rounds", [("local", 16), ("memory", 16), pytest.param("s3", 8, marks=pytest.mark.slow)])
def test_gc_grace_0_in_a_loop_during_an_add_loop_breaks_no_version(kind, rounds, request, tmp_path):
    """gc with grace 0 in a loop in one thread while another adds changing folders (half of the
    versions deleted at once, their blobs reused by later ones): every version left verifies and
    downloads."""
    url = _fresh_store_url(kind, request, tmp_path)
    init_store(url)
    done = threading.Event()
    passes: list[int] = []
    errors: list[BaseException] = []

    def gc_loop() -> None:
        try:
            while not done.is_set():
                passes.append(collect(open_store(url), grace=0)[1])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=gc_loop)
    thread.start()
    reg = Registry(open_store(url), "default", StatCache(":memory:"))
    kept: dict[int, dict[str, str]] = {}
    try:
        for i in range(rounds):
            files = {"same.txt": "in every version", "cycle.txt": f"cycle {i % 3}", f"new/{i}.txt": f"new {i}\n" * 50,
                     f"sub{i % 2}/x.txt": f"x {i % 4}"}
            v = reg.log(Artifact("data").add_dir(make_tree(tmp_path / f"d{i}", files))).version
            if i % 2:
                reg.delete("data", v.number)
            else:
                kept[v.number] = files
    finally:
        done.set()
        thread.join()
    try:
        assert not errors, errors
        assert len(passes) >= 2, passes
        store = open_store(url)
        assert verify_store(store) == []
        check = Registry(store, "default", StatCache(":memory:"))
        assert check.versions("data") == sorted(kept)
        for n, files in kept.items():
            out = check.version("data", n).download(tmp_path / f"out{n}")
            assert tree_of(out) == {k: c.encode() for k, c in files.items()}, n
        assert read_leases(store) == []
        assert sum(passes) > 0  # gc did remove blobs of the deleted versions while the adds ran
    finally:
        drop_memory_store(url)


def test_a_writer_waits_for_a_gc_pass_that_began_before_it_then_stores_what_it_removed(any_store, tmp_path,
                                                                                      monkeypatch):
    reg = Registry(any_store, "default", StatCache(":memory:"))
    old = reg.log(Artifact("data").add_dir(make_tree(tmp_path / "a", {"keep.txt": "reused"}))).version
    reg.delete("data", old.number)
    checking = threading.Event()
    settle = Lease.settle

    def watched(self: Lease) -> bool:
        checking.set()  # the writer has checked its blobs and is about to wait for older gc passes
        return settle(self)

    monkeypatch.setattr(Lease, "settle", watched)
    result: dict[str, object] = {}

    def writer() -> None:
        try:
            w = Registry(open_store(any_store.url), "default", StatCache(":memory:"))
            result["v"] = w.log(Artifact("data").add_dir(make_tree(tmp_path / "b", {"keep.txt": "reused",
                                                                                   "new.txt": "n"}))).version
        except BaseException as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    with gc_lease(any_store) as lease:
        plan = plan_gc(any_store, grace=0, lease=lease)  # keep.txt's blob is unreferenced: it goes
        assert blobs_of(any_store, old.digest) == {d for d, _ in plan.blobs}
        thread = threading.Thread(target=writer)
        thread.start()
        assert checking.wait(60)
        apply_gc(any_store, plan)  # the writer checked keep.txt before this; it waits for the pass
        # A gc pass that begins after the writer's lease sees it: the writer does not wait for it.
        later = Lease.take(any_store, GC, "a later pass")
        later.release()
    thread.join(60)
    assert "error" not in result, result
    v = result["v"]
    assert verify_store(any_store) == []
    assert Registry(open_store(any_store.url), "default", StatCache(":memory:")).version(
        "data", v.number).read_bytes("keep.txt") == b"reused"  # type: ignore[union-attr]


def test_a_later_gc_pass_does_not_hold_a_writer_up(local_store):
    writer = Lease.take(local_store, WRITE, "w")
    with gc_lease(local_store):
        assert writer.settle() is False  # this pass began after the writer's lease: it sees the lease
    writer.release()
    with gc_lease(local_store):
        writer = Lease.take(local_store, WRITE, "w")
    assert writer.settle() is True  # that pass was live when the lease was taken; it has ended
    writer.release()
    assert read_leases(local_store) == []


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_killed_writers_lease_keeps_its_blobs_until_it_expires(kind, request, tmp_path, env_for, monkeypatch):
    monkeypatch.setenv("ARTY_PACKS", "0")  # write point 1 is the version record (packed: tests/test_packs.py)
    url = _fresh_store_url(kind, request, tmp_path)
    init_store(url)
    data = make_tree(tmp_path / "data", {"a.txt": "a" * 100, "d/b.txt": "b"})
    proc = subprocess.run([sys.executable, FAULT_CLI, "--store", url, "add", data, "--type", "dataset"],
                          env={**os.environ, **env_for(url), "ARTY_TEST_FAULT": "kill@1:create"},  # the version record
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    store = open_store(url)
    left = set(store.iter_blobs())
    assert left and Registry(store, "default", StatCache(":memory:")).versions("data") == []
    [info] = read_leases(store)
    assert info.kind == WRITE and info.what == "add default/data"

    # The lease may be a live writer's: gc keeps what it may own, and says why.
    out = json.loads(run_art("--store", url, "gc", "--grace", "0", "--json", env=env_for(url), check=True).stdout)
    assert out["removed_blobs"] == 0 and out["kept_leased"] == len(left)
    assert [lease["what"] for lease in out["leases"]] == ["add default/data"]
    assert set(store.iter_blobs()) == left

    # Once it expired (a pass as of that time), it blocks nothing: the blobs go, and the lease.
    plan, removed = gc_pass(store, now=time.time() + WRITE_TTL + CLOCK_SKEW + 1, grace=0)
    assert removed == len(left) and [i.path for i in plan.expired_leases] == [info.path]
    assert set(store.iter_blobs()) == set() and read_leases(store) == []


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_gc_grace_0_just_before_a_history_segment_keeps_the_runs_media(kind, request, tmp_path):
    np = pytest.importorskip("numpy")
    pytest.importorskip("PIL")
    import arty
    from arty.tracking.local import sync_all

    url = _fresh_store_url(kind, request, tmp_path)
    init_store(url)
    run = arty.init(store=url, project="p", mode="offline", console=False, system_metrics=False, code=False)
    run.log({"img": arty.Image(np.full((3, 3), 7, np.uint8)), "loss": 1.0})
    run.finish()
    store = open_store(url)
    hooked, passes = gc_before(store, "/history/")
    assert [r[3] for r in sync_all(hooked)] == [None]  # art sync: the image, then the segment naming it
    [(plan, _removed)] = passes
    assert [info.what for info in plan.leases] == [f"run p/{run.id}"]
    row = arty.Api(store, "p").run(run.path).history()[0]
    assert store.read_blob(Digest.parse(row["img"]["digest"])).startswith(b"\x89PNG")
    assert verify_store(store) == []


def test_a_media_blob_sent_before_the_segment_naming_it_is_checked_again(local_store, tmp_path):
    """An image encoded before its row is flushed goes up first, named by nothing; if gc removes
    it meanwhile, the upload of the segment that names it stores it again."""
    from arty.store import segments
    from arty.tracking.local import RunFolder

    folder = RunFolder(str(tmp_path / "run"))
    data = b"\x89PNG not really"
    d = local_store.digest_of(data)
    folder.write("run.json", b"{}")
    folder.write(f"blobs/{d.algorithm}/{d.hex}", data)
    folder.sync(local_store, "p", "r1")
    assert local_store.has_blob(d)
    gc_pass(local_store, grace=0)  # nothing names it yet
    assert not local_store.has_blob(d)
    folder.write("history/00000000.json.gz", segments.encode_rows([{"_step": 0, "img": {"_type": "image",
                                                                                        "digest": str(d)}}]))
    folder.sync(local_store, "p", "r1")
    assert local_store.read_blob(d) == data and folder.pending() == []


def test_gc_grace_0_just_before_a_pushed_version_keeps_its_blobs(any_store, tmp_path):
    from arty.artifacts.transfer import transfer

    src, _ = init_store(str(tmp_path / "src"))
    files = {"keep.txt": "reused", "new.txt": "pushed"}
    v = Registry(src, "default", StatCache(":memory:")).log(Artifact("data").add_dir(make_tree(tmp_path / "a", files)))
    dst = Registry(any_store, "default", StatCache(":memory:"))
    other = dst.log(Artifact("other").add_dir(make_tree(tmp_path / "b", {"keep.txt": "reused"}))).version
    dst.delete("other", other.number)  # keep.txt's blob is on the target, unreferenced
    hooked, passes = gc_before(any_store, "/versions/")
    transfer(src, hooked, "default", "data")
    assert len(passes) == 1 and [i.what for i in passes[0][0].leases] == ["copy default/data"]
    assert verify_store(any_store) == []
    got = Registry(open_store(any_store.url), "default", StatCache(":memory:")).version("data", v.version.number)
    assert tree_of(got.download(tmp_path / "out")) == {k: c.encode() for k, c in files.items()}


def test_a_plan_without_a_gc_lease_cannot_be_applied_and_a_dry_run_writes_nothing(local_store, tmp_path):
    reg = Registry(local_store, "default", StatCache(":memory:"))
    v = reg.log(Artifact("data").add_dir(make_tree(tmp_path / "a", {"x.txt": "x"}))).version
    reg.delete("data", v.number)
    plan = plan_gc(local_store, grace=0)
    assert plan.blobs
    with pytest.raises(UsageError, match="without a gc lease"):
        apply_gc(local_store, plan)
    before = tree_of(local_store.backend.local_path(""))
    plan, removed = collect(local_store, grace=0, dry_run=True)
    assert plan.blobs and removed == 0 and tree_of(local_store.backend.local_path("")) == before
    assert collect(local_store, grace=0)[1] == len(plan.blobs)
    assert os.listdir(local_store.backend.local_path(layout.LEASES)) == []  # its own lease went too


def test_a_lease_that_expired_is_never_renewed(local_store):
    """A holder suspended past its lease's expiry (nothing renewed it) finds it lapsed, also if its
    renewal thread wakes first: gc may have ignored it meanwhile, so the holder must start over."""
    lease = Lease.take(local_store, WRITE, "w", ttl=0.3)
    assert not lease.lapsed()
    with lease._lock:  # the process is suspended: the renewal thread cannot run
        time.sleep(0.4)
    lease.renew()
    assert lease.lapsed()
    lease.release()
    assert read_leases(local_store) == []
