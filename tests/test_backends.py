"""One conformance suite, run unchanged on every backend: a local folder, memory://,
S3 (a real S3-compatible server on 127.0.0.1), GCS (a real emulator on 127.0.0.1) and
http (an ``art server`` process on 127.0.0.1 speaking the store protocol, over a local folder).

The servers and the ``store_url`` fixture live in tests/servers.py and tests/conftest.py.
No part of the store is mocked; the one wrapper below (``LostReplyBackend``) performs the
real create and then reports what a client sees when the reply to that create is lost.
"""

from __future__ import annotations

import json
import os

import pytest

from arty.artifacts import Artifact, Registry
from arty.errors import IntegrityError, NotFound, ReferenceChanged, UnsupportedStore
from arty.hashing import StatCache, hash_bytes
from arty.store import Backend, Store, encode_json, init_store, open_backend, open_store
from arty.store import layout, packs
from conftest import BACKENDS, _fresh_store_url, backing_url, drop_memory_store, make_tree, run_art


@pytest.fixture(params=[*(f"{b}-{m}" for b in BACKENDS for m in ("packed", "loose")), "http"])
def store_url(request, tmp_path, monkeypatch):
    """conftest's ``store_url`` with small blobs written into packs and without (``ARTY_PACKS``),
    plus a store served by ``art server`` (already created there; writers send loose blobs)."""
    kind, _, mode = request.param.partition("-")
    monkeypatch.setenv("ARTY_PACKS", "0" if mode == "loose" else "1")
    url = _fresh_store_url(kind, request, tmp_path)
    yield url
    drop_memory_store(url)


def _rot(store_url: str, digest, data: bytes) -> None:
    """Replace the stored bytes of blob ``digest`` behind the client's back (bit rot): in its
    pack when it is packed, else its loose file."""
    store = open_store(backing_url(store_url))
    loc = store.packs.lookup_fresh(digest)
    if loc is None:
        store.backend.write(layout.blob(digest), data)
        return
    path = packs.pack_path(loc.pack)
    whole = bytearray(store.backend.read(path))
    assert len(data) == loc.length
    whole[loc.offset:loc.offset + loc.length] = data
    store.backend.write(path, bytes(whole))


def _fresh_only(url: str) -> None:
    """Tests of creating a store: a server serves a store that exists already."""
    if url.startswith("http://"):
        pytest.skip("a server serves an existing store; creating one is the backing store's test")


def _registry(url: str) -> Registry:
    return Registry(open_store(url), "default", StatCache(":memory:"))


def _read_tree(root) -> dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            with open(full, "rb") as f:
                out[rel] = f.read()
    return out


# -- opening a store ------------------------------------------------------------------------


def test_init_then_open(store_url):
    _fresh_only(store_url)
    store, created = init_store(store_url)
    assert created
    assert store.config["format"] == layout.FORMAT
    again, created_again = init_store(store_url)
    assert not created_again
    assert again.config == store.config
    opened = open_store(store_url)
    assert opened.config == store.config
    assert opened.url == store.url


def test_open_missing_store_isnot_found(store_url):
    _fresh_only(store_url)
    with pytest.raises(NotFound, match="no store at"):
        open_store(store_url)


@pytest.mark.parametrize("fmt", [2, 999, "1"])
def test_unknown_store_format_is_refused(store_url, fmt):
    _fresh_only(store_url)
    backend = open_backend(store_url)
    backend.create(layout.STORE_JSON, encode_json({"format": fmt, "hash": "xxh128"}))
    with pytest.raises(UnsupportedStore) as info:
        open_store(store_url)
    assert repr(fmt) in str(info.value)
    # init_store finds the store there and refuses it too, without touching it
    with pytest.raises(UnsupportedStore):
        init_store(store_url)
    assert json.loads(backend.read(layout.STORE_JSON))["format"] == fmt


def test_unknown_hash_is_refused(store_url):
    _fresh_only(store_url)
    open_backend(store_url).create(layout.STORE_JSON, encode_json({"format": layout.FORMAT, "hash": "md4"}))
    with pytest.raises(UnsupportedStore, match="md4"):
        open_store(store_url)


# -- blobs ----------------------------------------------------------------------------------


def test_blob_put_read(store_url, tmp_path):
    store, _ = init_store(store_url)
    data = os.urandom(3000) + b"blob"
    d = store.put_bytes(data)
    assert d == hash_bytes(data, store.algorithm)
    assert store.has_blob(d)
    assert store.read_blob(d) == data
    assert store.put_bytes(data) == d  # again: a no-op
    assert store.rehash_blob(d) == d
    dest = tmp_path / "out.bin"
    store.blob_to_file(d, str(dest))
    assert dest.read_bytes() == data
    # a blob of several MiB streams through blob_to_file as well
    big = os.urandom(5 * 1024 * 1024 + 7)
    bd = store.put_bytes(big)
    store.blob_to_file(bd, str(dest))
    assert dest.read_bytes() == big
    assert set(store.iter_blobs()) == {d, bd}


def test_read_range_returns_only_the_bytes_asked_for(store_url):
    store, _ = init_store(store_url)
    data = bytes(range(256)) * 40  # 10,240 bytes
    d = store.put_bytes(data)
    path = layout.blob(d)
    backend = open_backend(store_url)
    assert backend.read_range(path, 0, 10) == data[:10]
    assert backend.read_range(path, 5000, 5100) == data[5000:5100]
    assert backend.read_range(path, 10_000, 20_000) == data[10_000:]  # clipped at the end
    assert backend.read_range(path, 20_000, 20_010) == b""  # past the end
    assert backend.read_range(path, 7, 7) == b""
    absent = layout.blob(hash_bytes(b"never stored", store.algorithm))
    with pytest.raises(FileNotFoundError):
        backend.read_range(absent, 0, 10)
    with pytest.raises(FileNotFoundError):
        backend.read_range(absent, 3, 3)
    assert store.read_blob_range(d, 100, 356) == data[100:356]
    with pytest.raises(NotFound):
        store.read_blob_range(hash_bytes(b"never stored", store.algorithm), 0, 1)


def test_missing_blob_isnot_found(store_url, tmp_path):
    store, _ = init_store(store_url)
    absent = hash_bytes(b"never stored", store.algorithm)
    assert not store.has_blob(absent)
    with pytest.raises(NotFound, match=str(absent)):
        store.read_blob(absent)
    with pytest.raises(NotFound, match=str(absent)):
        store.blob_to_file(absent, str(tmp_path / "x"))


def test_corrupt_blob_is_refused_on_read(store_url, tmp_path):
    store, _ = init_store(store_url)
    d = store.digest_of(b"the real content")
    other = store.digest_of(b"a neighbour")
    store.put_many_bytes({d: b"the real content", other: b"a neighbour"})  # one pack, when packing
    store.flush()
    _rot(store_url, d, b"the real c0ntent")  # bit rot, same size
    store = open_store(store_url)
    assert store.read_blob(other) == b"a neighbour"  # the rest of a pack still reads
    with pytest.raises(IntegrityError) as info:
        store.read_blob(d)
    assert str(d) in str(info.value)
    dest = tmp_path / "out.bin"
    with pytest.raises(IntegrityError, match=str(d)):
        store.blob_to_file(d, str(dest))
    assert not dest.exists()  # nothing half-written is left
    assert store.rehash_blob(d) != d


def test_missing_blobs_few_and_many(store_url):
    store, _ = init_store(store_url)
    present = {}
    for i in range(70):
        data = f"blob {i}".encode()
        present[hash_bytes(data, store.algorithm)] = data
    store.put_many_bytes(present)
    assert store.missing_blobs(present) == set()  # buffered for a pack: known to this writer
    store.flush()
    store = open_store(store_url)  # a fresh client learns them from the store
    absent = {hash_bytes(f"absent {i}".encode(), store.algorithm) for i in range(10)}
    # many (> 64): remote stores list each objects/<xx>/ prefix instead of one request per blob
    assert store.missing_blobs(set(present) | absent) == absent
    assert store.missing_blobs(present) == set()
    # few: checked one by one
    some_absent = set(sorted(absent, key=str)[:5])
    some_present = set(sorted(present, key=str)[:5])
    assert store.missing_blobs(some_absent | some_present) == some_absent
    assert store.missing_blobs([]) == set()


def test_blobs_written_in_a_batch_read_like_any_blob(store_url, tmp_path):
    """Small blobs of a batch go into packs (unless ARTY_PACKS=0): every blob call finds them."""
    store, _ = init_store(store_url)
    items = {}
    for i in range(40):
        data = os.urandom(100 + i * 37)
        items[hash_bytes(data, store.algorithm)] = data
    big = os.urandom(packs.PACK_BLOB_MAX + 1)  # too big for a pack: loose
    items[hash_bytes(big, store.algorithm)] = big
    store.put_many_bytes(items)
    store.flush()
    reader = open_store(store_url)
    layout_files = reader.walk("")
    packed = [f for f in layout_files if f.startswith("packs/")]
    if os.environ["ARTY_PACKS"] == "1" and not store_url.startswith("http://"):
        assert len([f for f in packed if f.endswith(".pack")]) == 1
        assert len([f for f in packed if f.endswith(".idx")]) == 1
        assert len([f for f in layout_files if f.startswith("objects/")]) == 1  # the big one
    else:
        assert packed == []
    assert set(reader.iter_blobs()) == set(items)
    assert reader.missing_blobs(items) == set()
    d0, data0 = next(iter(items.items()))
    assert reader.has_blob(d0)
    assert reader.read_blob(d0) == data0
    assert reader.read_blob_range(d0, 3, 50) == data0[3:50]
    assert reader.measure_blob(d0) == (d0, len(data0))
    assert reader.blob_mtime(d0) > 0
    got = reader.read_blobs(items)
    assert got == items
    dest = tmp_path / "one"
    reader.blob_to_file(d0, str(dest))
    assert dest.read_bytes() == data0
    assert reader.freshen_blobs(items) == set()
    absent = hash_bytes(b"never stored", store.algorithm)
    assert isinstance(reader.read_blobs([absent])[absent], NotFound)


# -- create-if-absent and records -----------------------------------------------------------


def test_create_if_absent(store_url):
    store, _ = init_store(store_url)
    backend = store.backend
    backend.create("projects/p/records/a.json", b'{"n":1}')
    with pytest.raises(FileExistsError):
        backend.create("projects/p/records/a.json", b'{"n":2}')
    assert backend.read("projects/p/records/a.json") == b'{"n":1}'
    # a second client of the same store sees the record and cannot replace it either
    other = open_backend(store_url)
    assert other.exists("projects/p/records/a.json")
    with pytest.raises(FileExistsError):
        other.create("projects/p/records/a.json", b'{"n":3}')
    assert other.read("projects/p/records/a.json") == b'{"n":1}'


def test_create_record_reports_another_writers_record(store_url):
    store, _ = init_store(store_url)
    assert store.create_record("projects/p/records/r.json", {"who": "first"}) is True
    other = open_store(store_url)
    assert other.create_record("projects/p/records/r.json", {"who": "second"}) is False
    assert json.loads(other.backend.read("projects/p/records/r.json"))["who"] == "first"
    assert other.read_record("projects/p/records/r.json")["who"] == "first"


class LostReplyBackend(Backend):
    """Delegates to a real backend; ``create`` really creates, then raises
    FileExistsError as a client does when the reply to its PUT was lost and its
    retry got "412 Precondition Failed"."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.url = inner.url
        self.protocol = inner.protocol
        self.lost = 0

    def create(self, path: str, data: bytes) -> None:
        self.inner.create(path, data)  # FileExistsError here is a genuine conflict
        self.lost += 1
        raise FileExistsError(path)

    # everything else goes straight through
    def read(self, path):
        return self.inner.read(path)

    def write(self, path, data):
        self.inner.write(path, data)

    def exists(self, path):
        return self.inner.exists(path)

    def list(self, path):
        return self.inner.list(path)


def test_create_record_recognises_its_own_write_after_a_lost_reply(store_url):
    store, _ = init_store(store_url)
    lossy = LostReplyBackend(store.backend)
    lossy_store = Store(lossy, store.config)
    assert lossy_store.create_record("projects/p/records/mine.json", {"who": "me"}) is True
    assert lossy.lost == 1
    assert json.loads(store.backend.read("projects/p/records/mine.json"))["who"] == "me"
    # where the record is somebody else's, the lossy client still says so
    store.create_record("projects/p/records/theirs.json", {"who": "them"})
    assert lossy_store.create_record("projects/p/records/theirs.json", {"who": "me"}) is False
    assert json.loads(store.backend.read("projects/p/records/theirs.json"))["who"] == "them"


def test_log_append_after_a_lost_reply_does_not_skip_or_duplicate(store_url):
    store, _ = init_store(store_url)
    lossy_store = Store(LostReplyBackend(store.backend), store.config)
    for i in range(3):
        seq, rec = lossy_store.log_append("projects/p/logs/l", lambda s, i=i: {"i": i, "seq": s})
        assert (seq, rec["i"]) == (i, i)
    assert store.log_seqs("projects/p/logs/l") == [0, 1, 2]


# -- logs and listings ----------------------------------------------------------------------


def test_log_append_and_latest(store_url):
    store, _ = init_store(store_url)
    folder = "projects/p/artifacts/a/versions"
    assert store.log_seqs(folder) == []
    assert store.log_latest(folder) is None
    for expected in range(3):
        seq, rec = store.log_append(folder, lambda s: {"n": s, "payload": "x" * s})
        assert seq == expected and rec["n"] == expected
    assert store.log_seqs(folder) == [0, 1, 2]
    latest = store.log_latest(folder)
    assert latest is not None and latest[0] == 2 and latest[1]["payload"] == "xx"
    assert store.log_read(folder, 1)["n"] == 1
    assert sorted(store.list(folder)) == [layout.seq_name(i) for i in range(3)]
    # a second client appending continues the same log
    seq, _ = open_store(store_url).log_append(folder, lambda s: {"n": s})
    assert seq == 3
    assert store.log_latest(folder)[0] == 3


def test_list_of_missing_folder_is_empty(store_url):
    store, _ = init_store(store_url)
    assert store.list("projects/no/such/folder") == []
    assert store.backend.list("projects/nothing-here") == []
    store.backend.create("projects/p/dir/sub/file.json", b"{}")
    store.backend.create("projects/p/dir/top.json", b"{}")
    assert sorted(store.list("projects/p/dir")) == ["sub", "top.json"]
    assert store.list("projects/p/dir/sub") == ["file.json"]


def test_journal_entries_are_listed(store_url):
    store, _ = init_store(store_url)
    store.journal("test_event", n=1)
    store.journal("test_event", n=2)
    names = store.list(layout.JOURNAL)
    assert len(names) == 2
    assert sorted(store.read_record(f"{layout.JOURNAL}/{n}")["n"] for n in names) == [1, 2]


# -- artifacts end to end -------------------------------------------------------------------

FILES = {
    "README.md": "top level\n",
    "train/a.csv": "1,2,3\n",
    "train/b.csv": "4,5,6\n",
    "train/deep/nested/x.bin": b"\x00\x01" * 500,
    "test/c.csv": "7,8,9\n",
    "empty.txt": "",
}


def test_artifact_round_trip(store_url, tmp_path):
    init_store(store_url)
    reg = _registry(store_url)
    data = make_tree(tmp_path / "data", FILES)

    first = reg.log(Artifact("data", type="dataset").add_dir(data), aliases=["prod"])
    assert first.created and first.version.version == "v0" and first.diff is None
    assert first.version.file_count == len(FILES)
    assert first.version.size == sum(len(v) for v in FILES.values())
    blobs_v0 = set(reg.store.iter_blobs())

    again = reg.log(Artifact("data", type="dataset").add_dir(data))
    assert not again.created
    assert again.version.number == 0 and again.version.digest == first.version.digest
    assert set(reg.store.iter_blobs()) == blobs_v0

    # one file, three folders deep, changes: v1, and only that path of tree nodes is new
    make_tree(tmp_path / "data", {"train/deep/nested/x.bin": b"\x02\x03" * 500})
    second = reg.log(Artifact("data", type="dataset").add_dir(data))
    assert second.created and second.version.version == "v1"
    assert second.diff is not None
    assert [a.path for a, _ in second.diff.changed] == ["train/deep/nested/x.bin"]
    assert second.diff.added == [] and second.diff.removed == []
    new_blobs = set(reg.store.iter_blobs()) - blobs_v0
    # the file's bytes + nodes for nested/, deep/, train/ and the root
    assert len(new_blobs) == 1 + 4
    assert hash_bytes(b"\x02\x03" * 500, reg.store.algorithm) in new_blobs

    # aliases and names, read by a fresh client of the store
    reader = _registry(store_url)
    assert reader.resolve("data:prod").number == 0
    assert reader.resolve("data:latest").number == 1
    assert reader.resolve("data").number == 1
    assert reader.resolve("default/data:v0").digest == first.version.digest
    reader.set_alias("data", 1, "prod")
    assert reader.resolve("data:prod").number == 1
    assert [m["version"] for m in reader.alias_history("data", "prod")] == [0, 1]
    assert reader.resolve("data:v1").aliases == ["latest", "prod"]
    assert reader.delete_alias("data", "prod") == 1
    with pytest.raises(NotFound, match="prod"):
        reader.resolve("data:prod")
    with pytest.raises(NotFound, match="v0, v1"):
        reader.resolve("data:v7")

    # download both versions, verified
    for version, expected_x in ((0, b"\x00\x01" * 500), (1, b"\x02\x03" * 500)):
        v = reader.resolve(f"data:v{version}")
        root = v.download(tmp_path / f"out{version}")
        got = _read_tree(root)
        assert got == {k: (c.encode() if isinstance(c, str) else c) for k, c in
                       (FILES | {"train/deep/nested/x.bin": expected_x}).items()}
        v.verify(root)
        v.verify()
    assert reader.resolve("data:v1").read_bytes("train/a.csv") == b"1,2,3\n"


def test_download_of_corrupt_blob_fails_naming_it(store_url, tmp_path):
    init_store(store_url)
    reg = _registry(store_url)
    data = make_tree(tmp_path / "data", {"good.txt": "fine", "bad.txt": "will rot"})
    v = reg.log(Artifact("data", type="dataset").add_dir(data)).version
    bad = v.get_entry("bad.txt").digest
    _rot(store_url, bad, b"will r0t")
    target = tmp_path / "out"
    with pytest.raises(IntegrityError, match=str(bad)):
        _registry(store_url).resolve("data:v0").download(target)
    assert not target.exists() or not any(target.iterdir())
    with pytest.raises(IntegrityError, match=str(bad)):
        _registry(store_url).resolve("data:v0").verify()


def test_reference_to_s3_object(store_url, s3, tmp_path):
    bucket = s3.make_bucket()
    fs = s3.fs()
    key = f"{bucket}/raw/part-0.bin"
    fs.pipe_file(key, b"referenced bytes v1")
    init_store(store_url)
    reg = _registry(store_url)
    draft = Artifact("raw", type="dataset").add_reference(f"s3://{key}")
    draft.add_dir(make_tree(tmp_path / "local", {"notes.txt": "stored"}))
    v = reg.log(draft).version

    entry = v.get_entry("part-0.bin")
    assert entry.is_ref and entry.uri == f"s3://{key}"
    assert entry.size == len(b"referenced bytes v1")
    assert entry.ref["etag"] == fs.info(key)["ETag"].strip('"')
    assert not reg.store.has_blob(hash_bytes(b"referenced bytes v1", reg.store.algorithm))  # not copied

    root = _registry(store_url).resolve("raw:v0").download(tmp_path / "out")
    assert _read_tree(root) == {"part-0.bin": b"referenced bytes v1", "notes.txt": b"stored"}

    fs.pipe_file(key, b"referenced bytes v2")  # same size, new content
    target = tmp_path / "out2"
    with pytest.raises(ReferenceChanged, match="part-0.bin"):
        _registry(store_url).resolve("raw:v0").download(target)
    assert not target.exists() or not any(target.iterdir())
    fs.rm_file(key)
    with pytest.raises(ReferenceChanged, match="no longer exists"):
        _registry(store_url).resolve("raw:v0").download(tmp_path / "out3")


# -- the CLI in a subprocess reaches the store through the environment ----------------------


@pytest.mark.parametrize("store_url", ["local", "s3", "gcs"], indirect=True)
def test_cli_reaches_store_through_environment(store_url, env_for, tmp_path):
    env = env_for(store_url)
    data = make_tree(tmp_path / "data", {"a.txt": "a", "sub/b.txt": "b"})
    run_art("--store", store_url, "init", store_url, env=env, check=True)
    out = run_art("--store", store_url, "add", data, "--type", "dataset", "--name", "d", "--json", env=env,
                  check=True)
    assert "d:v0" in out.stdout or '"version": 0' in out.stdout or '"v0"' in out.stdout
    got = run_art("--store", store_url, "get", "d:v0", "-o", str(tmp_path / "out"), env=env, check=True)
    assert got.returncode == 0
    assert _read_tree(tmp_path / "out") == {"a.txt": b"a", "sub/b.txt": b"b"}
    # the same store, seen from this process
    assert _registry(store_url).resolve("d:latest").number == 0

