"""Digests, file hashing, the stat cache and its racy-git window, and sha256 stores."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from arty.artifacts import Artifact, Registry
from arty.errors import IntegrityError, MissingExtra, UsageError
from arty.hashing import (
    CHUNK,
    HEX_LENGTHS,
    RACY_WINDOW_NS,
    Digest,
    FileStat,
    StatCache,
    hash_bytes,
    hash_file,
    new_hasher,
)
from arty.store import init_store, layout, open_store
from conftest import make_tree, run_art

# -- Digest ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["xxh128", "sha256", "blake3"]).flatmap(
    lambda a: st.tuples(st.just(a), st.text("0123456789abcdef", min_size=HEX_LENGTHS[a], max_size=HEX_LENGTHS[a]))))
def test_digest_str_parse_round_trip(pair):
    algorithm, hexpart = pair
    d = Digest(algorithm, hexpart)
    assert str(d) == f"{algorithm}:{hexpart}"
    assert Digest.parse(str(d)) == d
    assert Digest.parse(f"{algorithm}:{hexpart.upper()}") == d  # normalised to lowercase
    assert d.short() == hexpart[:12] and d.short(4) == hexpart[:4]


MALFORMED = [
    "", ":", "xxh128", "xxh128:", "0" * 32, ":" + "0" * 32,
    "xxh128:" + "0" * 31, "xxh128:" + "0" * 33, "xxh128:" + "g" * 32,
    "md5:" + "0" * 32, "XXH128:" + "0" * 32, "sha256:" + "0" * 32,
    "xxh128:0x" + "0" * 30, "xxh128:+" + "0" * 31, "xxh128:-" + "0" * 31,
    "xxh128:" + "0_" * 15 + "00", "xxh128: " + "0" * 30 + " ", "xxh128:" + "0" * 31 + "\n",
    "xxh128:" + "٠" * 32,  # Arabic-Indic digits are digits to int(), not hex
    " xxh128:" + "0" * 32, "xxh128 :" + "0" * 32,
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_digests_are_rejected(text):
    with pytest.raises(IntegrityError, match="malformed digest"):
        Digest.parse(text)


def test_digests_order_and_hash_like_values():
    a, b = Digest("xxh128", "0" * 32), Digest("xxh128", "f" * 32)
    assert a < b and sorted([b, a]) == [a, b]
    assert {a, Digest.parse(str(a))} == {a}


# -- known answers, computed independently ---------------------------------------------


@pytest.mark.parametrize("data", [b"", b"abc", b"\x00" * 1000, bytes(range(256)) * 17])
def test_hash_bytes_matches_the_reference_libraries(data):
    assert hash_bytes(data) == Digest("xxh128", xxhash.xxh3_128_hexdigest(data))
    assert hash_bytes(data, "xxh128").hex == xxhash.xxh3_128(data).hexdigest()
    assert hash_bytes(data, "sha256") == Digest("sha256", hashlib.sha256(data).hexdigest())


def test_sha256_known_answer():
    assert str(hash_bytes(b"abc", "sha256")) == \
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_hash_file_over_several_chunks(tmp_path):
    data = os.urandom(1024) * (2 * CHUNK // 1024) + b"tail"  # two chunks and a bit
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    seen = []
    assert hash_file(path, progress=seen.append) == Digest("xxh128", xxhash.xxh3_128_hexdigest(data))
    assert sum(seen) == len(data) and len(seen) == 3
    assert hash_file(str(path), "sha256").hex == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert hash_file(tmp_path / "empty") == hash_bytes(b"")


def test_incremental_hasher_matches_one_shot():
    h = new_hasher("sha256")
    h.update(b"ab")
    h.update(memoryview(b"c"))
    assert h.hexdigest() == hashlib.sha256(b"abc").hexdigest()


def test_unknown_and_missing_algorithms():
    with pytest.raises(UsageError, match="unknown hash algorithm 'md5'"):
        new_hasher("md5")
    try:
        import blake3  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtra, match="blake3") as info:
            new_hasher("blake3")
        assert info.value.hint == "pip install blake3"
    with pytest.raises(UsageError, match="unknown hash algorithm"):
        init_store("somewhere", algorithm="md5")


# -- StatCache: the comparison and the racy window ---------------------------------------

OLD = 1_600_000_000 * 10**9  # a file last changed in 2020
DIG = Digest("xxh128", "ab" * 16)


def test_stat_cache_trusts_an_unchanged_old_entry():
    cache = StatCache()
    stat = FileStat(ino=7, size=10, mtime_ns=OLD, ctime_ns=OLD)
    cache.store([("/d/f", stat, DIG)], hashed_at_ns=OLD + 5 * RACY_WINDOW_NS)
    assert cache.lookup("/d/f", stat, "xxh128") == DIG
    assert cache.load("/d/", "xxh128") == {"/d/f": (stat, DIG)}
    assert cache.lookup("/d/f", stat, "sha256") is None  # per algorithm
    assert cache.lookup("/d/g", stat, "xxh128") is None


@pytest.mark.parametrize("field", ["ino", "size", "mtime_ns", "ctime_ns"])
def test_stat_cache_misses_when_any_stat_field_changed(field):
    cache = StatCache()
    stat = FileStat(ino=7, size=10, mtime_ns=OLD, ctime_ns=OLD)
    cache.store([("/d/f", stat, DIG)], hashed_at_ns=OLD + 5 * RACY_WINDOW_NS)
    values = {"ino": 7, "size": 10, "mtime_ns": OLD, "ctime_ns": OLD}
    values[field] += 1
    assert cache.lookup("/d/f", FileStat(**values), "xxh128") is None


def test_stat_cache_never_trusts_an_entry_hashed_within_the_racy_window():
    cache = StatCache()
    stat = FileStat(ino=7, size=10, mtime_ns=OLD, ctime_ns=OLD)
    # Hashed in the same clock tick as the last change: the file may have changed
    # again after hashing without changing its stat.
    cache.store([("/d/f", stat, DIG)], hashed_at_ns=OLD)
    assert cache.lookup("/d/f", stat, "xxh128") is None
    cache.store([("/d/f", stat, DIG)], hashed_at_ns=OLD + RACY_WINDOW_NS - 1)
    assert cache.lookup("/d/f", stat, "xxh128") is None
    cache.store([("/d/f", stat, DIG)], hashed_at_ns=OLD + RACY_WINDOW_NS)
    assert cache.lookup("/d/f", stat, "xxh128") == DIG
    # A recent ctime (metadata change, e.g. mtime set back with utime) is racy too.
    touched = FileStat(ino=7, size=10, mtime_ns=OLD, ctime_ns=OLD + 10 * RACY_WINDOW_NS)
    cache.store([("/d/f", touched, DIG)], hashed_at_ns=OLD + 10 * RACY_WINDOW_NS)
    assert cache.lookup("/d/f", touched, "xxh128") is None


def test_stat_cache_persists_in_its_file(tmp_path):
    path = tmp_path / "c" / "stat.sqlite"
    stat = FileStat(ino=1, size=2, mtime_ns=OLD, ctime_ns=OLD)
    first = StatCache(path)
    first.store([("/x", stat, DIG)], hashed_at_ns=OLD + 2 * RACY_WINDOW_NS)
    first.close()
    assert StatCache(path).lookup("/x", stat, "xxh128") == DIG


# -- StatCache through Registry.log: what is hashed, counted -------------------------------


def _old_files() -> list[str]:
    """Files of the Python installation: their mtime and ctime are long past the racy window."""
    base = os.path.dirname(json.__file__)
    files = [os.path.join(base, n) for n in ("__init__.py", "decoder.py", "encoder.py", "scanner.py")]
    now = time.time_ns()
    for f in files:
        st = os.stat(f)
        assert max(st.st_mtime_ns, st.st_ctime_ns) < now - 2 * RACY_WINDOW_NS, f
    return files


def _draft(files: list[str]) -> Artifact:
    art = Artifact("std")
    for f in files:
        art.add_file(f)
    return art


def test_unchanged_files_are_not_hashed_again(local_store, tmp_path):
    files = _old_files()
    cache_path = tmp_path / "stat-cache.sqlite"
    first = Registry(local_store, "default", StatCache(cache_path)).log(_draft(files))
    assert (first.created, first.hashed) == (True, 4)
    again = Registry(local_store, "default", StatCache(cache_path)).log(_draft(files))  # like a new process
    assert (again.created, again.hashed, again.version.number) == (False, 0, 0)
    # Without the cache everything is read again, and the result is the same.
    fresh = Registry(local_store, "default", StatCache()).log(_draft(files))
    assert (fresh.created, fresh.hashed, fresh.version.number) == (False, 4, 0)


def test_default_stat_cache_lives_beside_a_local_store(local_store):
    reg = Registry(local_store)
    reg.log(_draft(_old_files()))
    assert os.path.isfile(os.path.join(local_store.url, "cache", "stat-cache.sqlite"))
    assert Registry(local_store).log(_draft(_old_files())).hashed == 0


def test_file_rewritten_within_the_racy_window_is_hashed_again(registry, tmp_path):
    path = tmp_path / "d" / "f.txt"
    make_tree(tmp_path / "d", {"f.txt": "aaaa"})
    first = registry.log(Artifact("d").add_dir(tmp_path / "d"))
    assert first.hashed == 1
    before = os.stat(path)
    path.write_bytes(b"bbbb")  # same size ...
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... and the same mtime: one clock tick
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    second = registry.log(Artifact("d").add_dir(tmp_path / "d"))
    assert second.hashed == 1
    assert second.created and second.version.version == "v1"
    assert second.version.read_bytes("f.txt") == b"bbbb"


@pytest.mark.parametrize("change", ["size", "mtime", "inode"])
def test_changed_stat_triggers_a_new_hash(registry, tmp_path, change):
    path = tmp_path / "d" / "f.txt"
    make_tree(tmp_path / "d", {"f.txt": "content"})
    registry.log(Artifact("d").add_dir(tmp_path / "d"))
    st = os.stat(path)
    if change == "size":
        path.write_bytes(b"content, longer")
        expect = b"content, longer"
    elif change == "mtime":
        path.write_bytes(b"CONTENT")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 5 * RACY_WINDOW_NS))
        expect = b"CONTENT"
    else:
        make_tree(tmp_path, {"new.txt": "CoNtEnT"})
        os.replace(tmp_path / "new.txt", path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(path).st_ino != st.st_ino
        expect = b"CoNtEnT"
    res = registry.log(Artifact("d").add_dir(tmp_path / "d"))
    assert res.hashed == 1 and res.created
    assert res.version.read_bytes("f.txt") == expect


# -- sha256 stores ---------------------------------------------------------------------------


@pytest.mark.usefixtures("loose_blobs")  # damages objects/ files one by one
def test_sha256_store_end_to_end_through_the_cli(tmp_path):
    files = {"a.txt": b"alpha", "sub/b.bin": os.urandom(3000), "sub/deeper/c": b""}
    make_tree(tmp_path / "data", files)
    init = run_art("init", "--hash", "sha256", check=True)
    assert init.stdout.endswith("(hash sha256)\n")
    added = run_art("add", "data", "--type", "dataset", check=True).stdout
    m = re.fullmatch(r"data:v0  created  (sha256:[0-9a-f]{64})  3 files  .*\n", added)
    assert m, added

    store = open_store(str(tmp_path / ".arty"))
    assert store.algorithm == "sha256"
    shown = json.loads(run_art("show", "data", "--json", check=True).stdout)
    assert shown["digest"] == m.group(1)
    for f in shown["file_list"]:
        content = files[f["path"]]
        assert f["digest"] == "sha256:" + hashlib.sha256(content).hexdigest()
        hexpart = f["digest"].split(":")[1]
        stored = tmp_path / ".arty" / "objects" / hexpart[:2] / hexpart[2:]
        assert stored.read_bytes() == content
    # The version digest is the sha256 of the root manifest node, and every node is sha256-named.
    root = Digest.parse(shown["digest"])
    node = store.read_blob(root)
    assert hashlib.sha256(node).hexdigest() == root.hex
    for d in store.iter_blobs():
        assert d.algorithm == "sha256"
        assert hashlib.sha256(store.backend.read(layout.blob(d))).hexdigest() == d.hex

    again = run_art("add", "data", "--type", "dataset", check=True).stdout
    assert again.startswith(f"data:v0  unchanged  {m.group(1)}")
    run_art("get", "data", "-o", "out", check=True)
    for rel, content in files.items():
        assert (tmp_path / "out" / rel).read_bytes() == content
    assert run_art("verify", check=True).stdout.startswith("ok: 1 version verified")


def test_sha256_store_through_the_library(tmp_path):
    store, created = init_store(str(tmp_path / "s"), algorithm="sha256")
    assert created and json.loads((tmp_path / "s" / "store.json").read_bytes())["hash"] == "sha256"
    make_tree(tmp_path / "d", {"x": "x"})
    v = Registry(store, "default", StatCache()).log(Artifact("d").add_dir(tmp_path / "d")).version
    assert v.digest.algorithm == "sha256"
    (entry,) = v.files()
    assert entry.digest == Digest("sha256", hashlib.sha256(b"x").hexdigest())
    # Reopened, the store still says sha256.
    assert open_store(str(tmp_path / "s")).algorithm == "sha256"


def _open_and_store(path: str, i: int, go, results) -> None:
    from arty.hashing import Digest, FileStat, StatCache

    go.wait()  # every process opens the new cache at the same moment
    try:
        cache = StatCache(path)
        cache.store([(f"/f{i}", FileStat(i, 1, 0, 0), Digest("xxh128", f"{i:032x}"))], hashed_at_ns=10**18)
        results.put((i, None))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        results.put((i, repr(exc)))


@pytest.mark.slow
def test_many_processes_opening_a_new_stat_cache_at_once(tmp_path):
    """Two 'art' processes starting together (e.g. two 'art repro') both open the cache."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    path = str(tmp_path / "stat-cache.sqlite")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_open_and_store, args=(path, i, go, results)) for i in range(12)]
    for p in procs:
        p.start()
    go.set()
    outcome = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert outcome == {i: None for i in range(12)}
    from arty.hashing import StatCache

    assert len(StatCache(path).load("/", "xxh128")) == 12
