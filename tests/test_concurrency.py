"""Concurrent writers: version numbers and log sequence numbers stay unique and contiguous.

Eight processes open the store themselves from its URL and the environment, wait at one
barrier, and then write at the same moment. They come from multiprocessing's "forkserver":
a clean server process (started fresh, with the libraries imported but no client, thread or
connection yet) forks each worker, which is as independent as a spawned process but starts
in milliseconds instead of a second. Runs: on a local folder, on S3 (the workers reach
the test server over HTTP) and on GCS (the emulator honours ``ifGenerationMatch=0`` on
the multipart uploads small records use).

The S3 test server serialises its own write handlers so that ``If-None-Match`` is atomic
as on real S3 (see tests/servers.py); the races between the clients are untouched.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import threading
import time
import traceback

import pytest
import servers  # noqa: F401 - sets GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT before any worker imports gcsfs

from arty.artifacts import Artifact, Registry
from arty.hashing import StatCache, hash_bytes
from arty.store import init_store, open_store
from conftest import make_tree

WORKERS = 8
PROCESS_BACKENDS = ["local", "s3", "gcs"]  # memory:// lives in one process: threads below
LOG = "logs/shared"
TIMEOUT = 120


# -- workers (module level, so that the worker processes can import them) ------------------


def _log_version_worker(url, env, i, folder, barrier, results):
    try:
        os.environ.update(env)
        reg = Registry(open_store(url), "default", StatCache(":memory:"))
        reg.versions("shared")  # connect before the start line
        draft = Artifact("shared", type="dataset", metadata={"worker": i}).add_dir(folder)
        barrier.wait(TIMEOUT)
        res = reg.log(draft)
        results.put(("ok", i, res.version.number, str(res.version.digest), res.created))
    except BaseException:  # noqa: BLE001 - reported to the parent
        results.put(("error", i, traceback.format_exc()))


def _append_worker(url, env, i, count, barrier, results):
    try:
        os.environ.update(env)
        store = open_store(url)
        store.log_seqs(LOG)  # connect before the start line
        barrier.wait(TIMEOUT)
        seqs = []
        for k in range(count):
            seq, rec = store.log_append(LOG, lambda s, k=k: {"worker": i, "k": k, "seq": s})
            assert (rec["worker"], rec["k"], rec["seq"]) == (i, k, seq), rec
            seqs.append(seq)
        results.put(("ok", i, seqs))
    except BaseException:  # noqa: BLE001 - reported to the parent
        results.put(("error", i, traceback.format_exc()))


def _context():
    ctx = multiprocessing.get_context("forkserver")
    # Effective only before the fork server starts (the first time processes are made).
    ctx.set_forkserver_preload(["arty.store", "arty.artifacts", "s3fs", "gcsfs", "test_concurrency"])
    return ctx


def _run_processes(target, args_for) -> dict[int, tuple]:
    """Run ``target(*args_for(i), barrier, results)`` in WORKERS processes; their results by worker."""
    ctx = _context()
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(i), barrier, results), daemon=True)
             for i in range(WORKERS)]
    for p in procs:
        p.start()
    out: dict[int, tuple] = {}
    errors = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(out) + len(errors) < WORKERS:
            try:
                msg = results.get(timeout=0.5)
            except queue.Empty:
                # a worker that died without reporting (crash at start-up): fail now, not at the deadline
                crashed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if crashed or time.monotonic() > deadline:
                    pytest.fail(f"workers did not report; exit codes: {[p.exitcode for p in procs]}")
                continue
            if msg[0] == "error":
                errors.append(f"worker {msg[1]}:\n{msg[2]}")
            else:
                out[msg[1]] = msg[2:]
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()
    assert not errors, "\n".join(errors)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return out


def _worker_env(url, env_for) -> dict[str, str]:
    # Workers start with the fork server's environment (as it was when it started) and
    # apply env_for(url) on top: what a user's shell holds to reach the store.
    return env_for(url)


# -- versions -------------------------------------------------------------------------------


def _check_versions(url, tmp_path, contents: dict[int, dict[str, str]], results: dict[int, tuple]) -> None:
    reg = Registry(open_store(url), "default", StatCache(":memory:"))
    numbers = sorted(r[0] for r in results.values())
    assert numbers == list(range(WORKERS)), numbers  # unique and contiguous
    assert all(r[2] for r in results.values()), "every worker's distinct content is a new version"
    assert reg.versions("shared") == list(range(WORKERS))  # nothing lost, nothing extra
    for i, (number, digest, _) in results.items():
        v = reg.version("shared", number)
        assert str(v.digest) == digest
        assert v.metadata == {"worker": i}
        assert reg.find_by_digest("shared", v.digest).number == number
        v.verify()
        root = v.download(tmp_path / f"check-{number}")
        for rel, content in contents[i].items():
            with open(os.path.join(root, rel), encoding="utf-8") as f:
                assert f.read() == content
        v.verify(root)
    assert reg.resolve("shared:latest").number == WORKERS - 1


@pytest.mark.slow
@pytest.mark.parametrize("store_url", PROCESS_BACKENDS, indirect=True)
def test_processes_log_versions_at_the_same_moment(store_url, env_for, tmp_path):
    init_store(store_url)
    contents = {i: {"common.txt": "shared by all\n", f"own/{i}.txt": f"worker {i}\n" * (i + 1)}
                for i in range(WORKERS)}
    folders = {i: make_tree(tmp_path / f"w{i}", contents[i]) for i in range(WORKERS)}
    env = _worker_env(store_url, env_for)
    results = _run_processes(_log_version_worker, lambda i: (store_url, env, i, folders[i]))
    _check_versions(store_url, tmp_path, contents, results)


@pytest.mark.parametrize("store_url", ["local", "s3"], indirect=True)
def test_processes_add_overlapping_small_file_folders_into_packs(store_url, env_for, tmp_path):
    """8 writers pack overlapping small-file folders at once: two packing the same blob is harmless."""
    init_store(store_url)
    shared = {f"shared/{k}.txt": f"common {k}\n" for k in range(60)}
    contents = {i: {**shared, **{f"own/{k}.txt": f"worker {i} file {k}\n" for k in range(40)},
                    f"half/{i % 2}.txt": f"half {i % 2}\n"} for i in range(WORKERS)}
    folders = {i: make_tree(tmp_path / f"w{i}", contents[i]) for i in range(WORKERS)}
    env = {**_worker_env(store_url, env_for), "ARTY_PACKS": "1"}
    results = _run_processes(_log_version_worker, lambda i: (store_url, env, i, folders[i]))
    _check_versions(store_url, tmp_path, contents, results)
    store = open_store(store_url)
    assert [f for f in store.walk("packs") if f.endswith(".pack")], "the small files went into packs"
    from arty.artifacts.verify import verify_store

    assert verify_store(store) == []


# -- one log, many appends ------------------------------------------------------------------


def _check_log(url, results: dict[int, tuple], per_worker: int) -> None:
    store = open_store(url)
    total = WORKERS * per_worker
    all_seqs = sorted(s for (seqs,) in results.values() for s in seqs)
    assert all_seqs == list(range(total)), "unique and contiguous"
    assert store.log_seqs(LOG) == list(range(total)), "nothing lost, nothing extra"
    for i, (seqs,) in results.items():
        assert seqs == sorted(seqs), f"worker {i}'s appends are ordered"
        for k, seq in enumerate(seqs):
            rec = store.log_read(LOG, seq)
            assert (rec["worker"], rec["k"], rec["seq"]) == (i, k, seq)


@pytest.mark.slow
@pytest.mark.parametrize("store_url", PROCESS_BACKENDS, indirect=True)
def test_processes_append_to_one_log(store_url, env_for):
    per_worker = 40 if store_url.startswith("/") else 5
    init_store(store_url)
    env = _worker_env(store_url, env_for)
    results = _run_processes(_append_worker, lambda i: (store_url, env, i, per_worker))
    _check_log(store_url, results, per_worker)


# -- threads, each with its own client --------------------------------------------------------
# memory:// cannot be shared between processes, and a local folder is also raced in one
# process; the remote backends are raced by the processes above.

IN_PROCESS_BACKENDS = ["local", "memory"]


@pytest.fixture
def fast_switching(store_url):
    """On local and memory stores, switch threads as often as the interpreter allows, to
    widen every race window. (Remote clients wait on the network anyway; switching that
    often would only slow down their event loop.)"""
    if "://" in store_url and not store_url.startswith("memory://"):
        yield
        return
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_threads(work) -> dict[int, tuple]:
    """Run ``work(i, barrier)`` in WORKERS threads that start together; return ``{i: result}``."""
    barrier = threading.Barrier(WORKERS)
    results: dict[int, tuple] = {}
    errors = []

    def run(i):
        try:
            results[i] = work(i, barrier)
        except BaseException:  # noqa: BLE001 - reported below
            errors.append(traceback.format_exc())
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not errors, "\n".join(errors)
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.mark.parametrize("store_url", IN_PROCESS_BACKENDS, indirect=True)
def test_threads_append_to_one_log(store_url, fast_switching):
    init_store(store_url)
    per_worker = 40

    def work(i, barrier):
        store = open_store(store_url)  # a client of its own, as another process would have
        barrier.wait(TIMEOUT)
        seqs = []
        for k in range(per_worker):
            seq, rec = store.log_append(LOG, lambda s, k=k: {"worker": i, "k": k, "seq": s})
            assert (rec["worker"], rec["k"]) == (i, k)
            seqs.append(seq)
        return (seqs,)

    _check_log(store_url, _run_threads(work), per_worker)


@pytest.mark.parametrize("store_url", IN_PROCESS_BACKENDS, indirect=True)
def test_threads_log_versions_of_one_artifact(store_url, tmp_path, fast_switching):
    init_store(store_url)
    contents = {i: {"common.txt": "shared by all\n", f"own/{i}.txt": f"worker {i}\n"} for i in range(WORKERS)}
    folders = {i: make_tree(tmp_path / f"w{i}", contents[i]) for i in range(WORKERS)}

    def work(i, barrier):
        reg = Registry(open_store(store_url), "default", StatCache(":memory:"))
        draft = Artifact("shared", type="dataset", metadata={"worker": i}).add_dir(folders[i])
        barrier.wait(TIMEOUT)
        res = reg.log(draft)
        return (res.version.number, str(res.version.digest), res.created)

    _check_versions(store_url, tmp_path, contents, _run_threads(work))


def test_identical_content_from_many_writers_is_one_version(store_url, tmp_path, fast_switching):
    """Eight writers log the same content at once: however the race goes, every one of
    them gets a version holding that content, and no two versions hold other content."""
    init_store(store_url)
    folder = make_tree(tmp_path / "same", {"a.txt": "same\n", "b/c.txt": "same too\n"})
    barrier = threading.Barrier(WORKERS)
    got: list = []
    errors = []

    def work():
        try:
            reg = Registry(open_store(store_url), "default", StatCache(":memory:"))
            draft = Artifact("same", type="dataset").add_dir(folder)
            barrier.wait(TIMEOUT)
            got.append(reg.log(draft))
        except BaseException:  # noqa: BLE001 - reported below
            errors.append(traceback.format_exc())
            barrier.abort()

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not errors, "\n".join(errors)
    reg = Registry(open_store(store_url), "default", StatCache(":memory:"))
    digests = {r.version.digest for r in got}
    assert len(digests) == 1
    versions = reg.versions("same")
    assert versions == list(range(len(versions)))
    assert {reg.version("same", n).digest for n in versions} == digests
    assert sum(r.created for r in got) == len(versions)
    assert reg.find_by_digest("same", digests.pop()).number in versions
    assert hash_bytes(b"same\n", reg.store.algorithm) in set(reg.store.iter_blobs())
