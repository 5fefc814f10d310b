"""Pack files (docs/store-format.md, "Packs"): faults and gc.

Kills are real SIGKILLs of the real CLI (tests/fault_cli.py) at every write point of a packed
``art add`` and ``art push``; corruption is bytes changed in the real pack files; gc runs
against real leases.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from arty.artifacts import Artifact, Registry
from arty.artifacts.gc import REPACK_BELOW, apply_gc, plan_gc
from arty.artifacts.verify import verify_store
from arty.errors import IntegrityError
from arty.hashing import StatCache
from arty.store import init_store, open_store
from arty.store.leases import GC, WRITE, Lease
from arty.store.packs import index_path, pack_path
from conftest import make_tree, run_art, tree_of

FAULT_CLI = os.path.join(os.path.dirname(__file__), "fault_cli.py")


@pytest.fixture(autouse=True)
def _packed(monkeypatch):
    monkeypatch.setenv("ARTY_PACKS", "1")


def small_files(n: int, tag: str = "") -> dict[str, str]:
    return {f"d{i % 7}/f{i}.txt": f"{tag}file {i}\n" * (1 + i % 5) for i in range(n)}


def _packs(url: str) -> list[str]:
    return sorted(f for f in open_store(url).walk("packs") if f.endswith(".pack"))


def _fault_run(args: list[str], fault: str, log: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, FAULT_CLI, *args],
                          env={**os.environ, "ARTY_TEST_FAULT": fault, "ARTY_TEST_FAULT_LOG": log},
                          capture_output=True, text=True, timeout=120)


def _write_points(args: list[str], tmp_path, setup) -> list[str]:
    """The write points of one undisturbed run (``setup()`` makes a fresh target first)."""
    setup()
    log = str(tmp_path / "points.log")
    proc = _fault_run(args, "kill@100000", log)
    assert proc.returncode == 0, proc.stderr
    with open(log) as f:
        return [line.split(" ", 1)[1].strip() for line in f if line.strip()]


def test_packed_add_killed_at_every_write_point_then_rerun(tmp_path):
    data = make_tree(tmp_path / "data", small_files(120))
    url = str(tmp_path / "store")

    def fresh() -> None:
        import shutil

        shutil.rmtree(url, ignore_errors=True)
        init_store(url)

    points = _write_points(["--store", url, "add", data, "--type", "dataset"], tmp_path, fresh)
    assert any(p.endswith(".pack") for p in points) and any(p.endswith(".idx") for p in points)
    assert len(points) < 20  # 120 files: one pack and its index, not a write per file
    for n in range(1, len(points) + 1):
        fresh()
        proc = _fault_run(["--store", url, "add", data, "--type", "dataset"], f"kill@{n}", str(tmp_path / "x.log"))
        assert proc.returncode == -signal.SIGKILL, (n, proc.stderr)
        assert verify_store(open_store(url)) == [], f"invalid after a kill at write {n} ({points[n - 1]})"
        run_art("--store", url, "add", data, "--type", "dataset", check=True)
        assert run_art("--store", url, "verify").returncode == 0
        v = Registry(open_store(url), "default", StatCache(":memory:")).resolve("data:latest")
        assert tree_of(v.download(tmp_path / f"out{n}")) == tree_of(data)


def test_packed_push_killed_at_every_write_point_then_rerun(tmp_path):
    src = str(tmp_path / "src")
    init_store(src)
    data = make_tree(tmp_path / "data", small_files(150))
    run_art("--store", src, "add", data, "--type", "dataset", check=True)
    dst = str(tmp_path / "dst")

    def fresh() -> None:
        import shutil

        shutil.rmtree(dst, ignore_errors=True)

    args = ["--store", src, "push", "data", "--to", dst]
    points = _write_points(args, tmp_path, fresh)
    assert any(p.endswith(".pack") for p in points)
    assert len(points) < 30  # the blobs go as packs, not one write each
    for n in range(1, len(points) + 1):
        fresh()
        proc = _fault_run(args, f"kill@{n}", str(tmp_path / "x.log"))
        assert proc.returncode == -signal.SIGKILL, (n, proc.stderr)
        if os.path.exists(os.path.join(dst, "store.json")):
            assert verify_store(open_store(dst)) == [], f"invalid after a kill at write {n} ({points[n - 1]})"
        run_art(*args, check=True)
        assert run_art("--store", dst, "verify").returncode == 0
        got = run_art("--store", dst, "get", "data", "-o", str(tmp_path / f"got{n}"), check=True)
        assert got.returncode == 0 and tree_of(tmp_path / f"got{n}") == tree_of(data)


def _one_pack_store(tmp_path, files: dict[str, str]):
    url = str(tmp_path / "store")
    init_store(url)
    reg = Registry(open_store(url), "default", StatCache(":memory:"))
    v = reg.log(Artifact("data").add_dir(make_tree(tmp_path / "data", files))).version
    [pack] = _packs(url)
    return url, v, pack


def test_a_corrupt_byte_in_a_pack_names_its_blob_and_the_rest_still_reads(tmp_path):
    files = {"a.txt": "alpha " * 50, "b.txt": "bravo " * 50, "c.txt": "charlie " * 50}
    url, v, _ = _one_pack_store(tmp_path, files)
    store = open_store(url)
    bad = v.get_entry("b.txt").digest
    loc = store.packs.lookup(bad)
    full = os.path.join(url, pack_path(loc.pack))
    with open(full, "r+b") as f:  # one byte inside b.txt's bytes
        f.seek(loc.offset + 7)
        f.write(b"X")
    fresh = Registry(open_store(url), "default", StatCache(":memory:")).version("data", 0)
    assert fresh.read_bytes("a.txt") == files["a.txt"].encode()
    assert fresh.read_bytes("c.txt") == files["c.txt"].encode()
    with pytest.raises(IntegrityError, match=str(bad)):
        fresh.read_bytes("b.txt")
    got = run_art("--store", url, "get", "data", "-o", str(tmp_path / "out"))
    assert got.returncode == 5 and str(bad) in got.stderr and loc.pack in got.stderr
    out = run_art("--store", url, "verify", "--json")
    assert out.returncode == 5
    problems = json.loads(out.stdout)["problems"]
    assert [(p["kind"], p["subject"]) for p in problems] == [("corrupt", str(bad))]


def test_a_missing_pack_index_is_detected_and_explained(tmp_path):
    url, v, pack = _one_pack_store(tmp_path, small_files(10))
    name = pack.replace("/", "")[:-len(".pack")]
    os.unlink(os.path.join(url, index_path(name)))
    out = run_art("--store", url, "verify", "--json")
    assert out.returncode == 5
    problems = json.loads(out.stdout)["problems"]
    assert problems and {p["kind"] for p in problems} == {"missing"}
    assert any("have no usable index" in p["message"] for p in problems)
    assert f"pack '{pack_path(name)}' has no index" in out.stderr
    got = run_art("--store", url, "get", "data", "-o", str(tmp_path / "out"))
    assert got.returncode == 3 and "missing" in got.stderr


def test_a_pack_index_naming_a_range_past_the_end_is_detected_and_explained(tmp_path):
    url, v, pack = _one_pack_store(tmp_path, small_files(10))
    name = pack.replace("/", "")[:-len(".pack")]
    # The pack loses its tail (a torn copy): the index names bytes past its end.
    full = os.path.join(url, pack_path(name))
    size = os.path.getsize(full)
    with open(full, "r+b") as f:
        f.truncate(size - 10)
    out = run_art("--store", url, "verify", "--json")
    assert out.returncode == 5
    problems = json.loads(out.stdout)["problems"]
    assert any(p["subject"] == f"pack {name}" and "end past the end of the pack" in p["message"] for p in problems)
    assert any(p["kind"] == "corrupt" and p["subject"].startswith("xxh128:") for p in problems)
    # An index whose own entries pass the size it records is refused as a whole, explained.
    idx = os.path.join(url, index_path(name))
    rec = json.loads(open(idx).read())
    h = next(iter(rec["blobs"]))
    rec["blobs"][h] = [rec["size"] - 2, 50]
    os.chmod(idx, 0o644)
    with open(idx, "w") as f:
        f.write(json.dumps(rec))
    out = run_art("--store", url, "verify", "--json")
    problems = json.loads(out.stdout)["problems"]
    msg = [p["message"] for p in problems if p["subject"] == f"pack {name}"]
    assert msg and "past the end of its pack" in msg[0] and "cannot be found" in msg[0]


def _age(url: str, seconds: float) -> None:
    then = time.time() - seconds
    for top in ("objects", "packs"):
        for here, _d, files in os.walk(os.path.join(url, top)):
            for f in files:
                os.utime(os.path.join(here, f), (then, then))


def test_gc_drops_a_dead_pack_and_repacks_a_mostly_dead_one(tmp_path):
    url = str(tmp_path / "store")
    init_store(url)
    reg = Registry(open_store(url), "default", StatCache(":memory:"))
    gone = reg.log(Artifact("gone").add_dir(make_tree(tmp_path / "g", small_files(20, "g")))).version
    files = small_files(40, "m")
    mixed = reg.log(Artifact("mixed").add_dir(make_tree(tmp_path / "m", files))).version
    keep_only = "d0/f0.txt"
    reg.delete("gone", gone.number)
    # the next version keeps one file of 'mixed': its pack is then mostly garbage
    reg.log(Artifact("kept").add_file(str(tmp_path / "m" / keep_only), keep_only))
    reg.delete("mixed", mixed.number)
    _age(url, 7200)
    store = open_store(url)
    before = set(_packs(url))
    with Lease.take(store, GC, "test gc") as lease:
        plan = plan_gc(store, grace=3600, lease=lease)
        assert len(plan.drop_packs) == 1 and len(plan.repacks) == 1
        assert apply_gc(store, plan) == len(plan.blobs)
    after = set(_packs(url))
    assert len(before - after) == 2 and len(after - before) == 1  # the repack's new pack
    assert verify_store(open_store(url)) == []
    kept = Registry(open_store(url), "default", StatCache(":memory:")).resolve("kept:latest")
    assert kept.read_bytes(keep_only) == files[keep_only].encode()
    assert REPACK_BELOW > 0


def test_gc_repacking_while_a_writer_reuses_a_blob_of_that_pack_loses_nothing(tmp_path):
    """A writer (open lease, local store) reuses a blob of a pack that gc is about to repack
    without it: the writer freshens the pack, so gc keeps the old pack; the version is whole."""
    url = str(tmp_path / "store")
    init_store(url)
    reg = Registry(open_store(url), "default", StatCache(":memory:"))
    files = small_files(30, "r")
    old = reg.log(Artifact("old").add_dir(make_tree(tmp_path / "o", files))).version
    reg.log(Artifact("anchor").add_file(str(tmp_path / "o" / "d0/f0.txt"), "f0.txt"))  # a little stays live
    reg.delete("old", old.number)
    _age(url, 7200)
    store = open_store(url)
    with Lease.take(store, WRITE, "a writer at work") as writer, Lease.take(store, GC, "test gc") as lease:
        plan = plan_gc(store, grace=0, lease=lease)
        assert [i.path for i in plan.leases] == [writer.path]
        # the writer began after the pack was written: gc plans to repack it without the garbage ...
        assert len(plan.repacks) == 1
        reused = {d for d, _ in plan.blobs}
        # ... and the writer reuses that garbage now (as a local add does: freshen every blob)
        assert store.freshen_blobs(reused) == set()
        apply_gc(store, plan)
    reader = open_store(url)
    assert reader.missing_blobs(reused) == set()
    for d in reused:
        reader.read_blob(d)
    again = Registry(reader, "default", StatCache(":memory:")).log(Artifact("old").add_dir(str(tmp_path / "o")))
    assert tree_of(again.version.download(tmp_path / "again")) == tree_of(tmp_path / "o")
    assert verify_store(open_store(url)) == []


def test_gc_repack_keeps_a_blob_a_bucket_writers_lease_names(tmp_path, s3):
    """On a bucket the writer's lease names its tree: gc marks the reused blob live, the repack
    copies it into the new pack before the old pack goes."""
    url = f"s3://{s3.make_bucket()}/store"
    init_store(url)
    reg = Registry(open_store(url), "default", StatCache(":memory:"))
    files = small_files(30, "b")
    old = reg.log(Artifact("old").add_dir(make_tree(tmp_path / "o", files))).version
    reg.log(Artifact("anchor").add_file(str(tmp_path / "o" / "d0/f0.txt"), "f0.txt"))
    reg.delete("old", old.number)
    store = open_store(url)
    with Lease.take(store, WRITE, "a writer", roots=[old.digest]) as writer, \
            Lease.take(store, GC, "test gc") as lease:
        plan = plan_gc(store, grace=0, lease=lease)
        assert [i.path for i in plan.leases] == [writer.path]
        assert plan.blobs == [] and plan.repacks == []  # everything the lease names is live
    assert verify_store(open_store(url)) == []


class _SentRequests:
    """Every HTTP request this process's S3 clients send (method, key, Range header), counted
    where aiobotocore hands a request to the network (retries count too)."""

    def __init__(self, monkeypatch) -> None:
        from aiobotocore.httpsession import AIOHTTPSession

        self.sent: list[tuple[str, str, str | None]] = []
        original = AIOHTTPSession.send

        async def send(session, request):  # type: ignore[no-untyped-def]
            from urllib.parse import parse_qs, urlsplit

            url = urlsplit(request.url)
            key = url.path.lstrip("/")
            prefix = parse_qs(url.query).get("prefix")
            rng = request.headers.get("Range")
            self.sent.append((request.method, f"{key}?prefix={prefix[0]}" if prefix else key,
                              rng.decode() if isinstance(rng, bytes) else rng))
            return await original(session, request)

        monkeypatch.setattr(AIOHTTPSession, "send", send)

    def during(self, fn):  # type: ignore[no-untyped-def]
        """``fn()``'s result and the requests it sent."""
        start = len(self.sent)
        result = fn()
        return result, self.sent[start:]


def test_one_small_file_of_a_packed_version_on_s3_is_one_request(tmp_path, s3, monkeypatch):
    url = f"s3://{s3.make_bucket()}/store"
    init_store(url)
    files = small_files(300)
    Registry(open_store(url), "default", StatCache(":memory:")).log(
        Artifact("data").add_dir(make_tree(tmp_path / "data", files)))
    assert _packs(url)
    wanted = "d3/f52.txt"
    # A first reader learns the pack indexes; they are kept in the store's cache folder.
    assert Registry(open_store(url), "default", StatCache(":memory:")).version("data", 0).read_bytes(
        "d0/f0.txt") == files["d0/f0.txt"].encode()
    requests = _SentRequests(monkeypatch)

    def reader():  # a new reader, as a new process would be: the version and its entry first
        store = open_store(url)
        v = Registry(store, "default", StatCache(":memory:")).version("data", 0)
        return store, v, v.get_entry(wanted).entry

    for how in ("read_bytes", "download", "download_file"):
        store, v, entry = reader()
        out = tmp_path / f"out-{how}"
        if how == "read_bytes":
            data, sent = requests.during(lambda: v.read_bytes(wanted))
        elif how == "download":
            root, sent = requests.during(lambda: v.download(out, paths=[wanted]))
            data = (out / wanted).read_bytes()
        else:
            from arty.artifacts.download import download_file

            _, sent = requests.during(lambda: download_file(store, entry, str(out / "f.txt")))
            data = (out / "f.txt").read_bytes()
        assert data == files[wanted].encode()
        # one ranged GET of the pack: only the file's bytes
        assert [(m, k.endswith(".pack")) for m, k, _ in sent] == [("GET", True)], (how, sent)
        loc = store.packs.lookup(entry.digest)
        assert sent[0][2] == f"bytes={loc.offset}-{loc.offset + loc.length - 1}", (how, sent)

    # The whole command, as a new process runs it: records are read with one GET each (no
    # HEAD first), the pack indexes come from the cache (no listing of packs/), and the
    # file's bytes are one ranged GET.
    from arty.cli import cli

    loc = store.packs.lookup(entry.digest)
    _, sent = requests.during(lambda: cli.main(["--store", url, "get", f"data:v0/{wanted}", "-o",
                                                str(tmp_path / "cli.txt")], standalone_mode=False))
    assert (tmp_path / "cli.txt").read_bytes() == files[wanted].encode()
    assert [r for r in sent if r[0] == "HEAD" or "?prefix=" in r[1] and "/packs" in r[1]] == [], sent
    assert [r for r in sent if r[2] == f"bytes={loc.offset}-{loc.offset + loc.length - 1}"] == [
        ("GET", f"{url[len('s3://'):]}/{pack_path(loc.pack)}", f"bytes={loc.offset}-{loc.offset + loc.length - 1}")]


def test_a_reader_whose_cached_pack_index_names_a_repacked_pack_still_reads(tmp_path, s3, monkeypatch):
    """Readers of a bucket take pack indexes from the cache without listing ``packs/``; after
    gc repacked a pack, the cached index names a pack that is gone: the read finds out, looks
    again and reads the blob from the new pack."""
    url = f"s3://{s3.make_bucket()}/store"
    init_store(url)
    reg = Registry(open_store(url), "default", StatCache(":memory:"))
    files = small_files(40, "m")
    mixed = reg.log(Artifact("mixed").add_dir(make_tree(tmp_path / "m", files))).version
    keep = "d0/f0.txt"
    reg.log(Artifact("kept").add_file(str(tmp_path / "m" / keep), keep))
    reader_cache = str(tmp_path / "reader-cache")  # the reader's machine
    monkeypatch.setenv("ARTY_CACHE_DIR", reader_cache)
    first = Registry(open_store(url), "default", StatCache(":memory:")).resolve("kept:latest")
    assert first.read_bytes(keep) == files[keep].encode()  # caches every pack index
    monkeypatch.setenv("ARTY_CACHE_DIR", str(tmp_path / "gc-cache"))  # gc runs elsewhere
    reg.delete("mixed", mixed.number)
    store = open_store(url)
    with Lease.take(store, GC, "test gc") as lease:
        plan = plan_gc(store, grace=0, lease=lease)
        assert len(plan.repacks) == 1
        apply_gc(store, plan)
    [(gone, _, _)] = plan.repacks
    monkeypatch.setenv("ARTY_CACHE_DIR", reader_cache)
    cached = os.path.join(open_store(url).cache_dir(), "packs", gone + ".idx")
    assert os.path.exists(cached) and not open_store(url).exists(pack_path(gone))
    for how in ("read_bytes", "download"):
        v = Registry(open_store(url), "default", StatCache(":memory:")).resolve("kept:latest")
        if how == "read_bytes":
            assert v.read_bytes(keep) == files[keep].encode()
        else:
            assert tree_of(v.download(tmp_path / "out")) == {keep: files[keep].encode()}
    assert not os.path.exists(cached)  # the stale copy is dropped once found out


def test_a_download_groups_small_files_into_few_bounded_tasks():
    """Many small files: about two tasks per worker (so few ranged reads of a bucket), each
    holding at most DIRECT_GROUP_BYTES in memory; order kept; a file over the cap alone."""
    from arty.artifacts.download import DIRECT_GROUP, DIRECT_GROUP_BYTES, Action, direct_groups
    from arty.artifacts.manifest import Entry
    from arty.hashing import hash_bytes

    def items(sizes):
        return [(i, Action("fetch", Entry(f"f{i}", n, hash_bytes(str(i).encode())), f"/x/f{i}"))
                for i, n in enumerate(sizes)]

    many = items([4096] * 20_000)
    groups = direct_groups(many, workers=8)
    assert [it for g in groups for it in g] == many
    assert len(groups) <= 2 * 8 + 1 and all(sum(a.entry.size for _, a in g) <= DIRECT_GROUP_BYTES for g in groups)
    assert len(direct_groups(items([4096] * 300), workers=8)) == 2  # at least DIRECT_GROUP per task
    assert len(direct_groups(items([4096] * 300), workers=8)[0]) == DIRECT_GROUP
    big = direct_groups(items([DIRECT_GROUP_BYTES + 1, 10, DIRECT_GROUP_BYTES, 10]), workers=1)
    assert [[i for i, _ in g] for g in big] == [[0], [1], [2], [3]]
