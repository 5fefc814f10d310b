"""Incremental versions: a new version made from a logged one (``version.new_draft()``,
``art add --base``) adds, replaces and removes files without the others locally, and
logging it reads and writes only the tree nodes on the changed paths."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from arty.artifacts import Artifact
from arty.artifacts.manifest import TreeReader
from arty.cli import cli
from arty.errors import InvalidPath, NotFound, UsageError
from arty.hashing import Digest
from tests.conftest import make_tree

#: 3 top folders x 4 subfolders x 5 files, plus one file at the root.
BASE = {f"d{i}/s{j}/f{k}.txt": f"{i}-{j}-{k}" for i in range(3) for j in range(4) for k in range(5)}
BASE["top.txt"] = "top"


@pytest.fixture
def base(registry, tmp_path):
    src = make_tree(tmp_path / "base", BASE)
    draft = Artifact("data", type="dataset", description="d", metadata={"rows": 60})
    draft.add_dir(src)
    return registry.log(draft).version


def contents(version) -> dict[str, bytes]:
    return {e.path: version.read_bytes(e.path) for e in version.files()}


class Counting:
    """Counts the blobs a store reads and writes (wraps the store's own methods)."""

    def __init__(self, store, monkeypatch):
        self.reads: list = []
        self.writes: list = []
        read, put = store.read_blob, store.put_many_bytes
        monkeypatch.setattr(store, "read_blob", lambda d: self.reads.append(d) or read(d))
        monkeypatch.setattr(store, "put_many_bytes", lambda items: self.writes.extend(items) or put(items))


def test_new_version_is_exactly_base_plus_and_minus_the_changes(registry, base, tmp_path):
    new = make_tree(tmp_path / "new", {"n.txt": "new file", "f0.txt": "replaced"})
    draft = base.new_draft()
    draft.add_file(os.path.join(new, "n.txt"), "d9/n.txt")  # a new folder
    draft.add_file(os.path.join(new, "f0.txt"), "d0/s0/f0.txt")  # replaced
    draft.remove("d1/s2/f3.txt")  # one file
    draft.remove("d2/s1/")  # a whole folder
    result = registry.log(draft)
    v1 = result.version
    assert result.created and v1.name == "data:v1"
    expected = {p: c.encode() for p, c in BASE.items() if p != "d1/s2/f3.txt" and not p.startswith("d2/s1/")}
    expected |= {"d9/n.txt": b"new file", "d0/s0/f0.txt": b"replaced"}
    assert contents(v1) == expected
    assert (v1.file_count, v1.size) == (len(expected), sum(map(len, expected.values())))
    assert (v1.type, v1.description, v1.metadata) == ("dataset", "d", {"rows": 60})
    assert sorted(e.path for e in result.diff.added) == ["d9/n.txt"]
    assert sorted(e.path for e in result.diff.removed) == ["d1/s2/f3.txt"] + [f"d2/s1/f{k}.txt" for k in range(5)]
    assert [a.path for a, _ in result.diff.changed] == ["d0/s0/f0.txt"]
    # The base is untouched, and the same tree as one built from scratch.
    assert contents(registry.version("data", 0)) == {p: c.encode() for p, c in BASE.items()}
    full = make_tree(tmp_path / "full", {p: c.decode() for p, c in expected.items()})
    scratch = Artifact("scratch", type="dataset")
    scratch.add_dir(full)
    assert registry.log(scratch).version.digest == v1.digest


def test_unchanged_subtrees_are_shared_and_only_changed_paths_are_read_or_written(registry, base, tmp_path,
                                                                                  monkeypatch):
    new = make_tree(tmp_path / "new", {"x.txt": "changed"})
    count = Counting(registry.store, monkeypatch)
    draft = base.new_draft()
    draft.add_file(os.path.join(new, "x.txt"), "d1/s2/f0.txt")
    draft.remove("d0/s3/f1.txt")
    v1 = registry.log(draft).version
    # Nodes written: the five new ones (root, d0, d0/s3, d1, d1/s2); the new file is copied in
    # while it is hashed, into a local store.
    assert len(count.writes) == 5
    # Nodes read: those five of v0, nothing else (the diff against v0 reads the same ones).
    assert len(count.reads) == 5 and not set(count.reads) & set(count.writes)
    reader = TreeReader(registry.store)
    old_root, new_root = reader.node(base.digest), reader.node(v1.digest)
    assert old_root["d2"] == new_root["d2"] and old_root["top.txt"] == new_root["top.txt"]
    assert old_root["d1"] != new_root["d1"]
    old_d1 = reader.node(Digest.parse(old_root["d1"]["digest"]))
    new_d1 = reader.node(Digest.parse(new_root["d1"]["digest"]))
    assert {k: v for k, v in old_d1.items() if k != "s2"} == {k: v for k, v in new_d1.items() if k != "s2"}


def test_no_change_returns_the_base_version(registry, base):
    result = registry.log(base.new_draft())
    assert not result.created and result.version == base


def test_removing_a_missing_path_is_a_clear_error(registry, base):
    draft = base.new_draft()
    with pytest.raises(NotFound, match=r"cannot remove 'd1/nope.txt': no file or folder there in "
                                       r"base version 'data:v0'"):
        draft.remove("d1/nope.txt")
    with pytest.raises(NotFound, match="cannot remove 'top.txt/x'"):
        draft.remove("top.txt/x")
    assert registry.versions("data") == [0]


def test_file_over_folder_and_folder_over_file_are_clear_errors(registry, base, tmp_path):
    f = make_tree(tmp_path / "f", {"x.txt": "x"})
    draft = base.new_draft()
    draft.add_file(os.path.join(f, "x.txt"), "d1")
    with pytest.raises(InvalidPath, match=r"cannot add file 'd1': base version 'data:v0' has a folder there"):
        registry.log(draft)
    draft = base.new_draft()
    draft.add_file(os.path.join(f, "x.txt"), "top.txt/x.txt")
    with pytest.raises(InvalidPath, match=r"cannot add files under 'top.txt/': base version 'data:v0' has a file"):
        registry.log(draft)
    assert registry.versions("data") == [0]
    # Removed in the same version, the path is free.
    draft = base.new_draft()
    draft.remove("d1")
    draft.add_file(os.path.join(f, "x.txt"), "d1")
    v1 = registry.log(draft).version
    assert v1.read_bytes("d1") == b"x" and not any(e.path.startswith("d1/") for e in v1.files())


def test_a_draft_from_a_version_logs_only_to_its_store(base, tmp_path):
    from arty.artifacts import Registry
    from arty.hashing import StatCache
    from arty.store import init_store

    other, _ = init_store(str(tmp_path / "other"))
    with pytest.raises(UsageError, match="holds files of a version in store"):
        Registry(other, "default", StatCache(":memory:")).log(base.new_draft())


def art(store, *args: str):
    return CliRunner().invoke(cli, ["--store", store.url, *args], catch_exceptions=False)


def test_cli_add_base_remove_prefix(registry, base, tmp_path):
    new = make_tree(tmp_path / "new", {"new/a.csv": "a", "new/b/c.csv": "c", "one.txt": "1"})
    r = art(registry.store, "add", "--base", "data:v0", os.path.join(new, "new"), os.path.join(new, "one.txt"),
            "--prefix", "d0/s0", "--remove", "d1/s1/f1.txt", "--remove", "d2/", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["version"] == "v1" and out["created"] and out["type"] == "dataset"
    v1 = registry.version("data", 1)
    files = {e.path for e in v1.files()}
    assert {"d0/s0/new/a.csv", "d0/s0/new/b/c.csv", "d0/s0/one.txt"} <= files
    assert "d1/s1/f1.txt" not in files and not any(p.startswith("d2/") for p in files)
    assert len(files) == len(BASE) - 1 - 20 + 3
    # Only removals, into another artifact.
    r = art(registry.store, "add", "--base", "data:v1", "--remove", "top.txt", "--name", "trimmed")
    assert r.exit_code == 0, r.output
    assert "trimmed:v0" in r.stdout
    assert registry.version("trimmed", 0).file_count == len(files) - 1


def test_cli_add_base_errors(registry, base, tmp_path):
    r = art(registry.store, "add", "--base", "data:v0", "--remove", "nope.txt")
    assert r.exit_code == NotFound.exit_code
    assert "cannot remove 'nope.txt'" in r.stderr
    r = art(registry.store, "add", "--remove", "x", "--type", "dataset", str(tmp_path))
    assert r.exit_code == UsageError.exit_code and "--remove needs --base" in r.stderr
    r = art(registry.store, "add", str(tmp_path / "base"))
    assert r.exit_code == UsageError.exit_code and "--type" in r.stderr
    assert registry.versions("data") == [0]


def test_incremental_version_on_every_backend(store_url, tmp_path):
    from arty.artifacts import Registry
    from arty.hashing import StatCache
    from arty.store import open_store

    reg = Registry(open_store(store_url, create=True), "default", StatCache(":memory:"))
    src = make_tree(tmp_path / "b", {"a/1.txt": "1", "a/2.txt": "2", "b/3.txt": "3"})
    v0 = reg.log(Artifact("data", type="dataset").add_dir(src)).version
    new = make_tree(tmp_path / "n", {"4.txt": "4"})
    v1 = reg.log(v0.new_draft().add_file(os.path.join(new, "4.txt"), "b/4.txt").remove("a/1.txt")).version
    assert contents(v1) == {"a/2.txt": b"2", "b/3.txt": b"3", "b/4.txt": b"4"}
    assert contents(v0) == {"a/1.txt": b"1", "a/2.txt": b"2", "b/3.txt": b"3"}
