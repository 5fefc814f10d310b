"""Bad input and faults: every failure names its subject and leaves the store valid.

The faults come from real causes wherever one can be had (a closed port, a
kernel file-size limit, SIGKILL, bytes overwritten on disk) and otherwise from
tests/faults.py, which wraps a real backend and fails its Nth write the way the
backend would (restic's error backend). Nothing else about the store is faked.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
from click.testing import CliRunner

import arty
import arty.hashing
from arty.artifacts import Artifact, Entry, Registry
from arty.artifacts.manifest import build
from arty.artifacts.verify import iter_versions, verify_store
from arty.cli import cli
from arty.errors import (
    IntegrityError,
    InvalidName,
    InvalidPath,
    MissingExtra,
    NotFound,
    StoreError,
    StoreFull,
    StorePermissionDenied,
    StoreUnreachable,
    UnsupportedStore,
)
from arty.hashing import StatCache
from arty.store import LocalBackend, encode_json, init_store, layout, now_iso, open_store, open_store_backend
from arty.store.backends import TMP_PREFIX
from conftest import make_tree, run_art
from faults import ERRORS, FaultPlan, wrap

TESTS = os.path.dirname(os.path.abspath(__file__))
FAULT_CLI = os.path.join(TESTS, "fault_cli.py")
#: Seed for the random kill points; set ARTY_TEST_SEED to replay a failure.
SEED = int(os.environ.get("ARTY_TEST_SEED") or random.randrange(1 << 30))


# -- helpers ---------------------------------------------------------------------------


def run_faulty(*args: str, env: dict[str, str] | None = None, cwd=None) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, with faults from ``ARTY_TEST_*`` variables (tests/fault_cli.py)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, FAULT_CLI, *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


def art(store: str, *args: str):
    """The real CLI, in this process (quicker than a subprocess for the checks after a fault)."""
    return CliRunner().invoke(cli, ["--store", store, *args], catch_exceptions=False)


def state(root) -> dict[str, bytes | None]:
    """Everything under ``root``, hidden files included: {relative path: bytes, or None for a folder}."""
    root = str(root)
    out: dict[str, bytes | None] = {}
    for here, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(here, d), root)] = None
        for f in files:
            with open(os.path.join(here, f), "rb") as fh:
                out[os.path.relpath(os.path.join(here, f), root)] = fh.read()
    return out


def store_state(root) -> dict[str, bytes | None]:
    """A local store's files, without its machine-local cache folder."""
    return {k: v for k, v in state(root).items() if not (k == "cache" or k.startswith("cache" + os.sep))}


def temp_files(root) -> list[str]:
    return [os.path.join(here, f) for here, _, files in os.walk(str(root)) for f in files
            if f.startswith(TMP_PREFIX)]


def referenced_blobs(store) -> set:
    reg = {}
    out = set()
    for project, name, n in iter_versions(store):
        r = reg.setdefault(project, Registry(store, project, StatCache(":memory:")))
        v = r.version(name, n)
        out.update(r.trees.node_digests(v.digest))
        out.update(e.digest for e in v.files() if e.digest is not None and not e.is_ref)
    return out


def assert_same_files(version, folder) -> None:
    """The version holds exactly the files under ``folder``, byte for byte."""
    on_disk = {k.replace(os.sep, "/"): v for k, v in state(folder).items() if v is not None}
    assert sorted(e.path for e in version.files()) == sorted(on_disk)
    for path, data in on_disk.items():
        assert version.read_bytes(path) == data, path


def check_store_ok(url: str) -> None:
    res = art(url, "verify")
    assert res.exit_code == 0, res.output + res.stderr


def closed_port() -> socket.socket:
    """A socket bound on 127.0.0.1 that does not listen: connecting is refused at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


# -- invalid names, unknown versions, aliases and artifacts ------------------------------


@pytest.fixture
def mnist(registry, tmp_path):
    """Artifact 'mnist' with versions v0..v5 and alias 'best' -> v2."""
    for i in range(6):
        d = make_tree(tmp_path / f"mnist{i}", {"labels.csv": f"version {i}\n"})
        registry.log(Artifact("mnist", type="dataset").add_dir(d), aliases=["best"] if i == 2 else [])
    return registry


def test_unknown_version_lists_versions(mnist):
    with pytest.raises(NotFound) as err:
        mnist.resolve("mnist:v7")
    assert err.value.message == "artifact 'mnist:v7' not found (versions: v0..v5)"
    assert err.value.hint and "art ls mnist" in err.value.hint
    assert err.value.exit_code == 3


def test_unknown_alias_lists_aliases_and_versions(mnist):
    with pytest.raises(NotFound) as err:
        mnist.resolve("mnist:prod")
    assert err.value.message == ("alias 'prod' of artifact 'mnist' not found "
                                 "(aliases: latest, best; versions: v0..v5)")
    assert "art alias mnist:v<N> prod" in err.value.hint


def test_unknown_artifact_lists_artifacts(mnist):
    with pytest.raises(NotFound) as err:
        mnist.resolve("mnsit")
    assert err.value.message == "artifact 'mnsit' not found in project 'default' (artifacts: mnist)"
    with pytest.raises(NotFound) as err:
        mnist.resolve("other/mnist:v0")
    assert err.value.message == "artifact 'mnist' not found in project 'other'; it exists in project 'default'"


def test_unknown_version_through_the_public_api(mnist, local_store):
    with pytest.raises(NotFound, match=r"artifact 'mnist:v9' not found \(versions: v0\.\.v5\)"):
        arty.use_artifact("mnist:v9", store=local_store.url)
    with pytest.raises(NotFound, match=r"artifact 'mnist:v9' not found"):
        mnist.set_alias("mnist", 9, "prod")
    with pytest.raises(NotFound, match=r"alias 'gone' of artifact 'mnist' not found \(aliases: latest, best;"):
        mnist.delete_alias("mnist", "gone")


@pytest.mark.parametrize("ref", ["", "mnist:", "../mnist", "a/b/mnist", "mnist:bad alias", "-mnist",
                                 "mn ist", "x" * 129, "mnist.json"])
def test_invalid_references_are_refused(mnist, ref):
    with pytest.raises(InvalidName) as err:
        mnist.resolve(ref)
    assert err.value.message.startswith("invalid")
    assert err.value.exit_code == 2


@pytest.mark.parametrize("name", ["", "../x", "a/b", "-x", ".hidden", "x" * 129, "sp ace", "x.json", "x:y"])
def test_invalid_artifact_names_are_refused(name):
    with pytest.raises(InvalidName, match="invalid artifact name"):
        Artifact(name, type="dataset")


@pytest.mark.parametrize("alias", ["latest", "v3", "bad/alias", "", "a b", "../x"])
def test_invalid_alias_writes_nothing(registry, local_store, tmp_path, alias):
    d = make_tree(tmp_path / "d", {"a.txt": "a"})
    before = store_state(local_store.url)
    with pytest.raises(InvalidName):
        registry.log(Artifact("d", type="dataset").add_dir(d), aliases=[alias])
    assert store_state(local_store.url) == before
    assert registry.versions("d") == []


CLI_NOT_FOUND = [
    (["get", "mnist:v7"], 3, "error: artifact 'mnist:v7' not found (versions: v0..v5)"),
    (["show", "mnist:prod"], 3, "error: alias 'prod' of artifact 'mnist' not found (aliases: latest, best; "
                                "versions: v0..v5)"),
    (["ls", "mnsit"], 3, "error: artifact 'mnsit' not found in project 'default' (artifacts: mnist)"),
    (["diff", "mnist:v0", "mnist:v9"], 3, "error: artifact 'mnist:v9' not found (versions: v0..v5)"),
    (["verify", "mnist:v6"], 3, "error: artifact 'mnist:v6' not found (versions: v0..v5)"),
    (["alias", "--delete", "mnist", "gone"], 3, "error: alias 'gone' of artifact 'mnist' not found"),
    (["alias", "mnist:v1", "latest"], 2, "error: alias 'latest' is reserved"),
    (["get", "mnist:../v1"], 2, "error: invalid version or alias '..'"),
    (["get", "../mnist"], 2, "error: invalid project name '..'"),
    (["get", "mn ist:v1"], 2, "error: invalid artifact name 'mn ist'"),
]


@pytest.mark.parametrize("args,code,first_line", CLI_NOT_FOUND, ids=[" ".join(c[0]) for c in CLI_NOT_FOUND])
def test_cli_names_what_exists(mnist, local_store, args, code, first_line):
    proc = run_art("--store", local_store.url, *args)
    lines = proc.stderr.splitlines()
    assert proc.returncode == code, proc.stderr
    assert lines[0].startswith(first_line), proc.stderr
    assert len(lines) == 2 and lines[1].startswith("hint: "), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [["--name", "bad name"], ["--alias", "v3"], ["--alias", "latest"],
                                  ["--name", "../up"]])
def test_cli_add_with_invalid_name_or_alias_writes_nothing(mnist, local_store, tmp_path, args):
    d = make_tree(tmp_path / "d", {"a.txt": "a"})
    before = store_state(local_store.url)
    proc = run_art("--store", local_store.url, "add", d, "--type", "dataset", *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: invalid ") or "is reserved" in proc.stderr
    assert "hint: " in proc.stderr
    assert store_state(local_store.url) == before


# -- manifest paths: '..', absolute, empty parts ------------------------------------------

BAD_PATHS = ["../x", "a/../../x", "/etc/x", "a//b", "a/", "./a", "a/./b", "a\\b", "a/\x00b", "..", "."]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_bad_paths_rejected_on_add(tmp_path, bad):
    f = make_tree(tmp_path / "src", {"f.txt": "data"}) + "/f.txt"
    d = make_tree(tmp_path / "dir", {"g.txt": "data"})
    draft = Artifact("paths", type="dataset")
    with pytest.raises(InvalidPath):
        draft.add_file(f, name=bad)
    with pytest.raises(InvalidPath):
        draft.add_dir(d, name=bad)
    with pytest.raises(InvalidPath):
        draft.add_reference(f, name=bad)
    body_ran = False
    with pytest.raises(InvalidPath):
        with draft.new_file(bad) as fh:
            body_ran = True
            fh.write("never")
    assert not body_ran
    assert draft.sources == []
    draft.cleanup()


def test_empty_path_rejected_for_new_file():
    with pytest.raises(InvalidPath):
        with Artifact("paths", type="dataset").new_file(""):
            pass


def test_bad_path_rejected_when_the_tree_is_built(local_store):
    d = local_store.put_bytes(b"x")
    for bad in ("../x", "/x", "a//b"):
        with pytest.raises(InvalidPath):
            build([Entry(bad, 1, d)], local_store)


def test_file_with_a_backslash_in_its_name_is_refused(registry, local_store, tmp_path):
    d = make_tree(tmp_path / "d", {"ok.txt": "ok", "sub/evil\\..\\name.txt": "x"})
    before = store_state(local_store.url)
    with pytest.raises(InvalidPath, match=r"evil\\\.\.\\name\.txt"):
        registry.log(Artifact("d", type="dataset").add_dir(d))
    assert store_state(local_store.url) == before
    proc = run_art("--store", local_store.url, "add", d, "--type", "dataset")
    assert proc.returncode == 2 and proc.stderr.startswith("error: cannot add "), proc.stderr
    assert store_state(local_store.url) == before


def craft_version(store, name: str, entries: dict) -> None:
    """Write a manifest node and a version record directly, as a hostile writer could."""
    root = store.put_bytes(encode_json({"format": 1, "entries": entries}))
    store.log_append(layout.versions("default", name), lambda n: {
        "project": "default", "name": name, "type": "dataset", "digest": str(root), "size": 6, "files": 1,
        "description": None, "metadata": {}, "created_at": now_iso(), "created_by": None, "by": "x",
        "version": n})


def node(store, entries: dict) -> dict:
    d = store.put_bytes(encode_json({"format": 1, "entries": entries}))
    return {"type": "dir", "digest": str(d), "size": 6, "files": 1}


ESCAPE = f"escape-{uuid.uuid4().hex[:8]}.txt"


def hostile_trees(store) -> dict[str, dict]:
    payload = {"type": "file", "digest": str(store.put_bytes(b"owned\n")), "size": 6}
    return {
        "dotdot-dir": {"..": node(store, {ESCAPE: payload})},
        "dotdot-deep": {"data": node(store, {"..": node(store, {"..": node(store, {ESCAPE: payload})})})},
        "slash-in-name": {f"../../{ESCAPE}": payload},
        "absolute": {"": node(store, {"tmp": node(store, {ESCAPE: payload})})},
        "absolute-name": {f"/tmp/{ESCAPE}": payload},
        "dot": {".": node(store, {ESCAPE: payload})},
        "backslash": {f"..\\{ESCAPE}": payload},
        "nul": {f"a\x00{ESCAPE}": payload},
    }


@pytest.fixture
def hostile(registry, local_store):
    trees = hostile_trees(local_store)
    for name, entries in trees.items():
        craft_version(local_store, name, entries)
    return sorted(trees)


def test_hostile_manifest_refused_on_download(registry, tmp_path, hostile):
    work = tmp_path / "work"
    target = work / "a" / "b" / "out"
    make_tree(work, {"a/keep.txt": "mine", "a/b/out/existing.txt": "also mine"})
    for name in hostile:
        before = state(work)
        v = registry.resolve(name)
        with pytest.raises(InvalidPath):
            v.download(target)
        with pytest.raises(InvalidPath):
            v.download(work / "fresh")
        assert state(work) == before, name
    assert not os.path.exists(f"/tmp/{ESCAPE}") and not os.path.exists(f"/{ESCAPE}")


def test_hostile_manifest_refused_by_art_get_and_flagged_by_verify(local_store, tmp_path, hostile):
    work = tmp_path / "work"
    make_tree(work, {"a/b/out/existing.txt": "mine"})
    for name in hostile:
        # 'art get' into a new folder, 'art checkout' into one that holds files: both refuse.
        for args in (["get", name, "-o", str(work / "a" / "b" / "fresh")],
                     ["checkout", name, str(work / "a" / "b" / "out"), "--force"]):
            before = state(work)
            proc = run_art("--store", local_store.url, *args, cwd=work)
            assert proc.returncode == 2, (name, args[0], proc.stderr)
            assert proc.stderr.startswith("error: "), proc.stderr
            assert "not empty" not in proc.stderr and "Traceback" not in proc.stderr
            assert state(work) == before, (name, args[0])
    assert not os.path.exists(f"/tmp/{ESCAPE}")
    proc = run_art("--store", local_store.url, "verify")
    assert proc.returncode == 5
    bad_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("bad: ")]
    for name in hostile:
        assert any(f"'default/{name}:v0'" in ln for ln in bad_lines), (name, proc.stdout)


# -- corrupt blobs -------------------------------------------------------------------------


@pytest.fixture
def corrupt(registry, local_store, tmp_path):
    """'data:v0' with two of its blobs overwritten by other bytes; returns (version, bad digests)."""
    src = make_tree(tmp_path / "src", {
        "a.txt": "alpha\n", "b.txt": "bravo\n", "sub/c.txt": "charlie\n",
        "big.bin": os.urandom(2 * 1024 * 1024 + 3),
    })
    v = registry.log(Artifact("data", type="dataset").add_dir(src)).version
    bad = []
    for path, new in (("a.txt", b"ALPHA\n"), ("sub/c.txt", b"not charlie at all\n")):
        d = v.get_entry(path).digest
        with open(local_store.backend.local_path(layout.blob(d)), "wb") as f:
            f.write(new)
        bad.append(str(d))
    return v, bad, src


@pytest.mark.usefixtures("loose_blobs")
def test_corrupt_blob_fails_download_and_leaves_nothing(corrupt, tmp_path):
    v, bad, src = corrupt
    work = tmp_path / "work"
    os.makedirs(work)
    with pytest.raises(IntegrityError) as err:
        v.download(work / "new" / "deeper" / "out")
    for d in bad:  # every bad object, not only the first one met
        assert f"object '{d}' is corrupt" in err.value.message, err.value.message
    assert state(work) == {}
    with pytest.raises(IntegrityError, match=bad[0]):
        v.read_bytes("a.txt")


@pytest.mark.usefixtures("loose_blobs")
def test_corrupt_blob_leaves_an_existing_folder_as_it_was(corrupt, tmp_path):
    v, bad, src = corrupt
    out = tmp_path / "out"
    make_tree(out, {"mine.txt": "my own file", "nested/deep.txt": "deep", "b.txt": "an older b\n"})
    shutil.copy(os.path.join(src, "big.bin"), out / "big.bin")  # already right: kept, not fetched
    before = state(out)
    with pytest.raises(IntegrityError):
        v.download(out)
    assert state(out) == before


@pytest.mark.usefixtures("loose_blobs")
def test_art_get_of_a_corrupt_blob(corrupt, local_store, tmp_path):
    v, bad, src = corrupt
    out = tmp_path / "out"
    make_tree(out, {"mine.txt": "mine", "b.txt": "old"})
    for target in (out, tmp_path / "fresh", tmp_path / "new" / "deeper"):
        before = state(tmp_path)
        # 'art get' downloads into new folders only; a folder that holds files is 'art checkout's.
        args = ["checkout", "data:v0", str(target), "--force"] if target == out else \
            ["get", "data:v0", "-o", str(target)]
        proc = run_art("--store", local_store.url, *args)
        assert proc.returncode == 5, proc.stderr
        first, hint = proc.stderr.splitlines()[:2]
        assert first.startswith("error: object '") and "is corrupt" in first
        assert all(f"object '{d}' is corrupt" in first for d in bad), first
        assert hint.startswith("hint: ")
        after = state(tmp_path)
        changed = {k for k in set(before) | set(after) if before.get(k, 0) != after.get(k, 0)}
        assert {k for k in changed if not k.startswith("store")} == set(), changed


@pytest.mark.usefixtures("loose_blobs")
def test_verify_names_every_corrupt_object(corrupt, local_store):
    v, bad, src = corrupt
    with pytest.raises(IntegrityError) as err:
        v.verify()
    for d in bad:
        assert d in err.value.message
    problems = verify_store(local_store)
    assert sorted(p.subject for p in problems) == sorted(bad)
    assert {p.kind for p in problems} == {"corrupt"}
    for args in (["verify"], ["verify", "data:v0"], ["verify", "data"]):
        proc = run_art("--store", local_store.url, *args)
        assert proc.returncode == 5, proc.stdout + proc.stderr
        bad_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("bad: ")]
        assert len(bad_lines) == len(bad)
        for d in bad:
            assert any(d in ln for ln in bad_lines), (d, proc.stdout)
    proc = run_art("--store", local_store.url, "verify", "--json")
    report = json.loads(proc.stdout)
    assert report["ok"] is False and sorted(p["subject"] for p in report["problems"]) == sorted(bad)


@pytest.mark.usefixtures("loose_blobs")
def test_corrupt_and_missing_manifest_nodes(registry, local_store, tmp_path):
    src = make_tree(tmp_path / "src", {"a.txt": "a", "sub/b.txt": "b"})
    v = registry.log(Artifact("data", type="dataset").add_dir(src)).version
    sub = next(d for d in registry.trees.node_digests(v.digest) if d != v.digest)
    with open(local_store.backend.local_path(layout.blob(sub)), "wb") as f:
        f.write(b'{"format":1,"entries":{}}')
    blob = v.get_entry("a.txt").digest
    os.unlink(local_store.backend.local_path(layout.blob(blob)))
    fresh = Registry(local_store, "default", StatCache(":memory:"))  # no cached nodes
    with pytest.raises(IntegrityError, match=str(sub)):
        fresh.resolve("data:v0").download(tmp_path / "out")
    assert not os.path.exists(tmp_path / "out")
    proc = run_art("--store", local_store.url, "verify")
    assert proc.returncode == 5
    assert f"manifest node '{sub}'" in proc.stdout and f"object '{blob}' is missing" in proc.stdout


@pytest.mark.usefixtures("loose_blobs")
def test_missing_blob_fails_download_naming_it(registry, local_store, tmp_path):
    src = make_tree(tmp_path / "src", {"a.txt": "a", "b.txt": "b"})
    v = registry.log(Artifact("data", type="dataset").add_dir(src)).version
    blob = v.get_entry("b.txt").digest
    os.unlink(local_store.backend.local_path(layout.blob(blob)))
    proc = run_art("--store", local_store.url, "get", "data", "-o", str(tmp_path / "out"))
    assert proc.returncode == 3 and f"error: object '{blob}' is missing" in proc.stderr, proc.stderr
    assert not os.path.exists(tmp_path / "out")


# -- SIGKILL during `art add` ------------------------------------------------------------


@pytest.fixture
def kill_setup(tmp_path):
    """A store holding 'data:v0', and the data changed since, for a v1 that a killed add tries to log.

    Returns (base store path, data folder, expected write points of one add).
    """
    data = make_tree(tmp_path / "data", {
        "train/a.csv": "a,b\n1,2\n", "train/b.csv": "a,b\n3,4\n", "test/c.csv": "a,b\n5,6\n", "README": "v0\n",
    })
    base = str(tmp_path / "base")
    init_store(base)
    proc = run_faulty("--store", base, "add", data, "--type", "dataset", "--alias", "prod")
    assert proc.returncode == 0, proc.stderr
    make_tree(data, {"train/b.csv": "a,b\n3,4\n7,8\n", "new/d.bin": os.urandom(1536 * 1024), "README": "v1\n"})
    # Count the write points of the add that makes v1, on a copy.
    probe = str(tmp_path / "probe")
    shutil.copytree(base, probe)
    log = str(tmp_path / "probe.log")
    proc = run_faulty("--store", probe, "add", data, "--type", "dataset", "--alias", "prod",
                      env={"ARTY_TEST_FAULT_LOG": log})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert Registry(open_store(probe), "default", StatCache(":memory:")).versions("data") == [0, 1]
    with open(log) as f:
        points = [line.split(" ", 2)[1] for line in f]
    # blobs (write/ingest), then tree nodes, then the version record and the rest (creates)
    assert "ingest" in points and points.count("create") >= 3, points
    return base, data, len(points)


def after_kill_checks(url: str, data: str) -> None:
    """The store verifies; a rerun of the add completes; versions are v0, v1 with 'prod' on v1."""
    check_store_ok(url)
    res = art(url, "ls", "data")
    assert res.exit_code == 0, res.stderr
    assert Registry(open_store(url), "default", StatCache(":memory:")).versions("data") in ([0], [0, 1])
    res = art(url, "add", data, "--type", "dataset", "--alias", "prod")
    assert res.exit_code == 0, res.stdout + res.stderr
    check_store_ok(url)
    reg = Registry(open_store(url), "default", StatCache(":memory:"))
    assert reg.versions("data") == [0, 1]
    assert reg.aliases("data") == {"prod": 1}
    assert_same_files(reg.resolve("data:prod"), data)
    assert reg.resolve("data:v0").verify() is None


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["kill", "torn"])
def test_kill_at_every_write_point(kill_setup, tmp_path, mode):
    """SIGKILL before (kill) or in the middle of (torn) the Nth write, for every N of one add."""
    base, data, writes = kill_setup
    for n in range(1, writes + 1):
        url = str(tmp_path / f"{mode}-{n}")
        shutil.copytree(base, url)
        log = url + ".log"
        proc = run_faulty("--store", url, "add", data, "--type", "dataset", "--alias", "prod",
                          env={"ARTY_TEST_FAULT": f"{mode}@{n}", "ARTY_TEST_FAULT_LOG": log})
        with open(log) as f:
            last = f.read().splitlines()[-1]
        where = f"{mode} at write {n}/{writes} ({last})"
        assert proc.returncode == -signal.SIGKILL, (where, proc.stdout, proc.stderr)
        assert last.startswith(f"{n} "), where
        if mode == "torn":
            assert temp_files(url), where  # died mid-write: the backend's temp file is left behind
        try:
            after_kill_checks(url, data)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from exc


@pytest.mark.slow
def test_kill_at_random_moments(tmp_path):
    """SIGKILL `art add` at random moments, on one store again and again, then let it finish.

    Each attempt adds new content (every file rewritten), so each has a full add's work to be
    killed in: hashing, copying, tree nodes, records, the stat cache.
    """
    rng = random.Random(SEED)

    def new_content(tag: int) -> str:
        files = {f"part{i % 7}/f{i:03d}.txt": f"{tag} row {i}\n" * rng.randrange(1, 200) for i in range(300)}
        files.update({"big/one.bin": os.urandom(3 * 1024 * 1024), "big/two.bin": os.urandom(2 * 1024 * 1024)})
        return make_tree(tmp_path / "data", files)

    data = new_content(0)
    url = str(tmp_path / "store")
    init_store(url)
    # How long an uninterrupted add takes, less the start-up it shares with every command.
    probe = str(tmp_path / "probe")
    shutil.copytree(url, probe)
    started = time.monotonic()
    assert run_faulty("--version").returncode == 0
    startup = time.monotonic() - started
    started = time.monotonic()
    proc = run_faulty("--store", probe, "add", data, "--type", "dataset", "--alias", "prod")
    work = time.monotonic() - started - startup
    assert proc.returncode == 0, proc.stderr
    shutil.rmtree(probe)
    killed = 0
    for attempt in range(1, 9):
        data = new_content(attempt)
        delay = rng.uniform(0.0, max(work, 0.05))
        proc = run_faulty("--store", url, "add", data, "--type", "dataset", "--alias", "prod",
                          env={"ARTY_TEST_KILL_AFTER": f"{delay:.4f}"})
        where = f"seed {SEED}, attempt {attempt}, killed after {delay:.3f}s of about {work:.3f}s"
        assert proc.returncode in (0, -signal.SIGKILL), (where, proc.stderr)
        killed += proc.returncode == -signal.SIGKILL
        res = art(url, "verify")
        assert res.exit_code == 0, (where, res.stdout, res.stderr)
        versions = Registry(open_store(url), "default", StatCache(":memory:")).versions("data")
        assert versions == list(range(len(versions))), (where, versions)
    assert killed >= 4, f"seed {SEED}: only {killed} of 8 runs were killed before they finished"
    res = art(url, "add", data, "--type", "dataset", "--alias", "prod")
    assert res.exit_code == 0, (SEED, res.stdout, res.stderr)
    check_store_ok(url)
    reg = Registry(open_store(url), "default", StatCache(":memory:"))
    versions = reg.versions("data")
    assert versions == list(range(len(versions))) and reg.aliases("data") == {"prod": versions[-1]}, SEED
    assert_same_files(reg.resolve("data:latest"), data)


def test_killed_mid_write_leaves_only_temp_files(kill_setup, tmp_path):
    base, data, writes = kill_setup
    url = str(tmp_path / "store")
    shutil.copytree(base, url)
    before = store_state(url)
    # Dies with the big file's bytes in a temp file under objects/, not yet renamed to its digest.
    proc = run_faulty("--store", url, "add", data, "--type", "dataset",
                      env={"ARTY_TEST_FAULT": "torn@1:ingest"})
    assert proc.returncode == -signal.SIGKILL
    temps = temp_files(url)
    assert len(temps) == 1 and os.path.dirname(temps[0]) == os.path.join(url, "objects")
    assert os.path.getsize(temps[0]) == 1536 * 1024
    new = set(store_state(url)) - set(before)
    # only blobs, and the writer's lease (it keeps them from 'art gc' until it expires); no records
    assert {p for p in new if not os.path.basename(p).startswith(TMP_PREFIX)} <= {
        p for p in new if p.startswith("objects" + os.sep)} | {p for p in new if p.startswith("leases" + os.sep)}
    assert len([p for p in new if p.startswith("leases" + os.sep)]) == 1
    store = open_store(url)
    assert TMP_PREFIX not in "".join(str(d) for d in store.iter_blobs())
    check_store_ok(url)
    assert art(url, "ls", "data").exit_code == 0
    assert Registry(store, "default", StatCache(":memory:")).versions("data") == [0]


def test_killed_before_the_version_record_leaves_unreferenced_blobs(kill_setup, tmp_path):
    base, data, writes = kill_setup
    url = str(tmp_path / "store")
    shutil.copytree(base, url)
    proc = run_faulty("--store", url, "add", data, "--type", "dataset",
                      env={"ARTY_TEST_FAULT": "kill@1:create"})  # the first create is the version record
    assert proc.returncode == -signal.SIGKILL
    store = open_store(url)
    unreferenced = set(store.iter_blobs()) - referenced_blobs(store)
    assert unreferenced  # the new file blobs and tree nodes, which 'art gc' may remove
    check_store_ok(url)
    assert Registry(store, "default", StatCache(":memory:")).versions("data") == [0]
    # What gc would do: remove them. The stat cache still knows the files' digests;
    # the rerun must copy their blobs in again instead of trusting the cache.
    for d in unreferenced:
        os.unlink(store.backend.local_path(layout.blob(d)))
    res = art(url, "add", data, "--type", "dataset")
    assert res.exit_code == 0, res.stderr
    check_store_ok(url)


def test_a_rerun_does_not_trust_the_stat_cache_for_blobs_gone_from_the_store(registry, local_store, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(arty.hashing, "RACY_WINDOW_NS", 0)  # trust the cache at once, without waiting 1 s
    data = make_tree(tmp_path / "data", {"a.txt": "a", "b/c.txt": "c"})
    cache = StatCache(":memory:")
    failing = Registry(open_store_backend(wrap(local_store.backend, FaultPlan("eio", 1, ops={"create"}))),
                       "default", cache)
    with pytest.raises(StoreError):
        failing.log(Artifact("data", type="dataset").add_dir(data))
    for d in set(local_store.iter_blobs()):
        os.unlink(local_store.backend.local_path(layout.blob(d)))
    result = Registry(local_store, "default", cache).log(Artifact("data", type="dataset").add_dir(data))
    assert result.created and result.hashed == 0  # the digests did come from the cache
    assert verify_store(local_store) == []
    assert_same_files(result.version, data)


# -- unreachable store, permission denied, disk full ---------------------------------------


@pytest.fixture
def dead_s3(monkeypatch):
    """s3:// pointed at a closed port on 127.0.0.1, with dummy credentials."""
    pytest.importorskip("s3fs")
    sock = closed_port()
    endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for var in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "dummy")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "dummy")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    yield endpoint
    sock.close()


@pytest.mark.parametrize("how", ["open", "init"])
def test_unreachable_s3_fails_fast_naming_url_and_cause(dead_s3, how):
    url = "s3://arty-unreachable/store"
    started = time.monotonic()
    with pytest.raises(StoreUnreachable) as err:
        open_store(url) if how == "open" else init_store(url)
    elapsed = time.monotonic() - started
    assert elapsed < 6, f"took {elapsed:.1f}s to report an unreachable store"
    assert err.value.url == url and err.value.exit_code == 4
    assert f"store '{url}'" in err.value.message
    assert "Could not connect to the endpoint URL" in err.value.message
    assert err.value.__cause__ is not None


def test_unreachable_s3_in_the_cli(dead_s3, tmp_path):
    url = "s3://arty-unreachable/store"
    d = make_tree(tmp_path / "d", {"a.txt": "a"})
    for args in (["add", d, "--type", "dataset"],):
        started = time.monotonic()
        proc = run_art("--store", url, *args)
        elapsed = time.monotonic() - started
        assert proc.returncode == 4, proc.stderr
        first, hint = proc.stderr.splitlines()[:2]
        assert first.startswith("error: store unreachable: ") and url in first, first
        assert "Could not connect" in first
        assert hint.startswith("hint: check the network")
        assert "Traceback" not in proc.stderr
        assert elapsed < 10, f"'art {args[0]}' took {elapsed:.1f}s to report an unreachable store"


FAULTS = [  # (fault, error class, words of the cause in the message)
    ("enospc", StoreFull, "No space left on device"),
    ("edquot", StoreFull, "quota exceeded"),
    ("eacces", StorePermissionDenied, "Permission denied"),
    ("connection", StoreUnreachable, "connection reset"),
    ("timeout", StoreUnreachable, "timed out"),
]


def write_points(url: str, data: str) -> list[tuple[int, str, str]]:
    """The write points one log of ``data`` makes, on a throwaway copy of the store."""
    probe = url + "-probe"
    shutil.copytree(url, probe)
    plan = FaultPlan()
    store = open_store_backend(wrap(LocalBackend(probe), plan))
    reg = Registry(store, "default", StatCache(":memory:"))
    assert reg.log(Artifact("data").add_dir(data), aliases=["prod"]).created
    shutil.rmtree(probe)
    return plan.calls


@pytest.fixture
def v0_store(tmp_path):
    """A local store with 'data:v0', and the data changed since: (url, data folder)."""
    data = make_tree(tmp_path / "data", {"x/a.txt": "a", "x/b.txt": "b", "y/c.txt": "c", "big.bin": b"\0" * 2**21})
    url = str(tmp_path / "store")
    store, _ = init_store(url)
    Registry(store, "default", StatCache(":memory:")).log(Artifact("data").add_dir(data), aliases=["prod"])
    make_tree(data, {"x/b.txt": "b2", "z/new.txt": "new", "big.bin": b"\1" * 2**21})
    return url, data


@pytest.mark.parametrize("fault,cls,cause", FAULTS, ids=[f[0] for f in FAULTS])
def test_store_error_at_every_write_point(v0_store, fault, cls, cause):
    url, data = v0_store
    pristine = url + "-v0"
    shutil.copytree(url, pristine)
    # Removing the writer's lease at the end may fail quietly (the version is complete; the lease expires).
    points = [p for p in write_points(url, data) if not (p[1] == "delete" and p[2].startswith("leases/"))]
    assert len(points) >= 6
    for n, op, path in points:
        shutil.rmtree(url)
        shutil.copytree(pristine, url)
        plan = FaultPlan(fault, n)
        store = open_store_backend(wrap(LocalBackend(url), plan))
        where = f"{fault} at write {n} ({op} {path})"
        with pytest.raises(cls) as err:
            Registry(store, "default", StatCache(":memory:")).log(Artifact("data").add_dir(data), aliases=["prod"])
        # The failed write is the last, but for the removal of the writer's lease on the way out.
        calls = [c for c in plan.calls if not (c[1] == "delete" and c[2].startswith("leases/"))]
        assert plan.failed == 1 and calls[-1][:2] == (n, op), where
        assert path.startswith(("journal/", "leases/")) or calls[-1][2] == path, where  # names with a random part
        assert err.value.url == url and f"store '{url}'" in err.value.message, (where, err.value.message)
        assert cause in err.value.message, (where, err.value.message)
        assert isinstance(err.value.__cause__, OSError), where
        assert err.value.exit_code == 4
        # Nothing lost: the store verifies, v0 is intact, and a retry succeeds.
        real = open_store(url)
        assert verify_store(real) == [], where
        reg = Registry(real, "default", StatCache(":memory:"))
        assert reg.resolve("data:v0").verify() is None
        retry = reg.log(Artifact("data").add_dir(data), aliases=["prod"])
        assert retry.version.number == 1 and reg.versions("data") == [0, 1], where
        assert reg.aliases("data") == {"prod": 1}, where
        assert_same_files(retry.version, data)
        assert verify_store(real) == [], where


@pytest.mark.parametrize("kind", ["memory", "s3"])
def test_store_error_at_every_write_point_on_remote_backends(kind, request, tmp_path):
    """The same wrapper around a real remote backend: memory://, and S3 on the test server.

    One store; for N = 1, 2, ... an add of new content loses its connection at write N,
    the store still verifies, and the retry logs the next version.
    """
    url = (f"s3://{request.getfixturevalue('s3').make_bucket()}/store" if kind == "s3"
           else f"memory://arty-faults-{uuid.uuid4().hex[:8]}/store")
    store, _ = init_store(url)
    reg = Registry(store, "default", StatCache(":memory:"))
    for n in range(1, 40):
        data = make_tree(tmp_path / f"data{n}", {"x/a.txt": "a", "x/b.txt": f"b{n}", f"n{n}/c.txt": "c"})
        plan = FaultPlan("connection", n)
        faulty = open_store_backend(wrap(store.backend, plan))
        try:
            Registry(faulty, "default", StatCache(":memory:")).log(Artifact("data").add_dir(data), aliases=["prod"])
        except StoreUnreachable as exc:
            assert plan.failed == 1 and exc.url == url and f"store '{url}'" in exc.message
        else:
            failed = [c for c in plan.calls if c[0] == n]
            if failed and failed[0][1] == "delete" and failed[0][2].startswith("leases/"):
                # removing the writer's lease may fail quietly: the version is complete, the lease expires
                assert plan.failed == 1 and reg.versions("data") == list(range(n))
                continue
            assert plan.failed == 0 and n > 6, plan.calls  # past the last write point: done
            break
        where = f"{kind}: connection lost at write {n} ({' '.join(plan.calls[-1][1:])})"
        assert verify_store(store, versions=[("default", "data", v) for v in reg.versions("data")[-1:]]) == [], where
        retry = reg.log(Artifact("data").add_dir(data), aliases=["prod"])
        assert reg.versions("data") == list(range(n)) and reg.aliases("data") == {"prod": n - 1}, where
        assert_same_files(retry.version, data)
    else:
        raise AssertionError("no end to the write points")
    assert verify_store(store) == []


@pytest.mark.parametrize("fault,cls,cause", FAULTS[:4], ids=[f[0] for f in FAULTS[:4]])
def test_store_error_in_the_cli(v0_store, fault, cls, cause):
    url, data = v0_store
    for n in (1, 5):
        proc = run_faulty("--store", url, "add", data, "--type", "dataset", "--alias", "prod",
                          env={"ARTY_TEST_FAULT": f"{fault}@{n}"})
        assert proc.returncode == 4, proc.stdout + proc.stderr
        first, hint = proc.stderr.splitlines()[:2]
        assert first.startswith("error: ") and f"store '{url}'" in first and cause in first, first
        assert hint.startswith("hint: ")
        assert "Traceback" not in proc.stderr
        check_store_ok(url)
    res = art(url, "add", data, "--type", "dataset", "--alias", "prod")
    assert res.exit_code == 0, res.stdout + res.stderr
    check_store_ok(url)
    assert Registry(open_store(url), "default", StatCache(":memory:")).versions("data") == [0, 1]


def test_disk_stays_full_then_frees(v0_store):
    url, data = v0_store
    for _ in range(2):
        store = open_store_backend(wrap(LocalBackend(url), FaultPlan("enospc", 1, repeat=True)))
        with pytest.raises(StoreFull, match="no space left"):
            Registry(store, "default", StatCache(":memory:")).log(Artifact("data").add_dir(data))
        assert verify_store(open_store(url)) == []
    reg = Registry(open_store(url), "default", StatCache(":memory:"))
    assert reg.log(Artifact("data").add_dir(data)).version.number == 1


@pytest.mark.parametrize("fault,cls", [("eacces", StorePermissionDenied), ("connection", StoreUnreachable),
                                       ("timeout", StoreUnreachable)])
def test_read_errors_opening_a_store(local_store, fault, cls):
    backend = wrap(LocalBackend(local_store.url), FaultPlan(fault, 1, ops={"read"}))
    with pytest.raises(cls) as err:
        open_store_backend(backend)
    assert err.value.url == local_store.url
    assert f"cannot read 'store.json' in store '{local_store.url}'" in err.value.message


def test_file_size_limit_never_leaves_a_short_blob(tmp_path):
    """A real kernel limit (RLIMIT_FSIZE): a write past it is cut short, the next one fails.

    The blob must never be stored short under the digest of the whole file.
    """
    data = make_tree(tmp_path / "data", {"small.txt": "s", "big.bin": os.urandom(3 * 1024 * 1024)})
    url = str(tmp_path / "store")
    init_store(url)
    proc = run_faulty("--store", url, "add", data, "--type", "dataset",
                      env={"ARTY_TEST_FSIZE": str(1024 * 1024 + 4096)})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and f"store '{url}'" in proc.stderr and "File too large" in proc.stderr
    check_store_ok(url)
    assert temp_files(url) == []
    res = art(url, "add", data, "--type", "dataset")
    assert res.exit_code == 0, res.stdout + res.stderr
    check_store_ok(url)
    assert_same_files(Registry(open_store(url), "default", StatCache(":memory:")).resolve("data:v0"), data)
    # Downloading under the limit fails too, and leaves nothing behind.
    work = tmp_path / "work"
    make_tree(work, {"out/mine.txt": "mine"})
    before = state(work)
    for args in (("get", "data", "-o", "fresh"), ("get", "data", "-o", "new/out"),
                 ("checkout", "data", "out", "--force")):  # a folder with files: checkout, not get
        proc = run_faulty("--store", url, *args, cwd=work, env={"ARTY_TEST_FSIZE": str(1024 * 1024 + 4096)})
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith("error: cannot download into '") and "File too large" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        assert state(work) == before


# -- store.json of an unknown format, missing extras ----------------------------------------


@pytest.mark.parametrize("content,cls,message", [
    ({"format": 99, "hash": "xxh128"}, UnsupportedStore, "has format 99, this Arty reads format 1"),
    ({"format": 1, "hash": "md7"}, UnsupportedStore, "uses unknown hash 'md7'"),
    ("not json", StoreError, "has an unreadable store.json"),
    ({"hash": "xxh128"}, StoreError, "has an unreadable store.json"),
])
def test_unknown_store_format_is_refused(tmp_path, content, cls, message):
    url = str(tmp_path / "store")
    os.makedirs(url)
    with open(os.path.join(url, "store.json"), "w") as f:
        f.write(content if isinstance(content, str) else json.dumps(content))
    d = make_tree(tmp_path / "d", {"a.txt": "a"})
    before = state(url)
    for fn in (lambda: open_store(url), lambda: init_store(url), lambda: open_store(url, create=True)):
        with pytest.raises(cls) as err:
            fn()
        assert err.value.message.startswith(f"store '{url}' ") and message in err.value.message
    for args in (["ls"], ["add", d, "--type", "dataset"], ["verify"], ["init", url]):
        proc = run_art("--store", url, *args)
        assert proc.returncode == 4, (args, proc.stderr)
        assert proc.stderr.startswith(f"error: store '{url}' ") and message in proc.stderr, proc.stderr
    assert state(url) == before


@pytest.mark.parametrize("url,module,hint", [
    ("s3://bucket/store", "s3fs", 'pip install "arty[s3]"'),
    ("gs://bucket/store", "gcsfs", 'pip install "arty[gcs]"'),
])
def test_missing_extra_names_the_pip_install(tmp_path, url, module, hint):
    env = {"ARTY_TEST_BLOCK_IMPORTS": module}
    check = run_faulty("--version", env=env)  # the blocker is in place and harmless otherwise
    assert check.returncode == 0
    extra = "s3" if url.startswith("s3") else "gcs"
    for args in (["ls"], ["add", make_tree(tmp_path / "d", {"a.txt": "a"}), "--type", "dataset"], ["init", url]):
        proc = run_faulty("--store", url, *args, env=env)
        assert proc.returncode == 4, proc.stderr
        assert proc.stderr.splitlines() == [
            f"error: cannot open store '{url}': the '{extra}' extra is not installed", f"hint: {hint}"]
    script = (f"import sys; sys.path.insert(0, {TESTS!r}); import faults; faults.block_imports([{module!r}])\n"
              "import arty\n"
              f"try:\n    arty.open_store({url!r})\n"
              "except arty.MissingExtra as e:\n    print(type(e).__name__, e.url, e.hint, sep='|')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == f"MissingExtra|{url}|{hint}", proc.stdout + proc.stderr


def test_unknown_protocol_is_refused(tmp_path):
    with pytest.raises(StoreError) as err:
        open_store("nosuchproto://bucket/store")
    assert "nosuchproto://bucket/store" in err.value.message and not isinstance(err.value, MissingExtra)
    proc = run_art("--store", "nosuchproto://bucket/store", "ls")
    assert proc.returncode == 4 and proc.stderr.startswith("error: cannot open store 'nosuchproto://bucket/store'")


def test_fault_plan_fires_where_asked():
    plan = FaultPlan.parse("enospc@2:create")
    assert plan.hit("write", "a") is None and plan.count == 0  # not counted
    assert plan.hit("create", "b") is None
    assert plan.hit("create", "c") == "enospc"
    assert plan.hit("create", "d") is None  # once, unless repeat
    plan = FaultPlan.parse("eacces@1+")
    assert [plan.hit("write", str(i)) for i in range(3)] == ["eacces"] * 3
    for kind in ERRORS:
        assert FaultPlan(kind, 1).hit("put", "p") == kind
