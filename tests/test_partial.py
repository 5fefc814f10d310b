"""Parts of a version without the rest: ``art get --path/--include``, ``name:alias/path``
references (``art show``, ``art get``, ``art cat``) and ``version.download(path_prefix=...)``.

Only the manifest nodes and blobs the chosen files need are read: the tests delete and
corrupt every other object of the version and still get the part, and count the reads made
on an S3 store.
"""

from __future__ import annotations

import os
import pytest

from arty.artifacts import Artifact, ArtifactRef, Registry
from arty.artifacts.select import glob_regex, literal_folder
from arty.errors import InvalidName, InvalidPath, NotFound
from arty.hashing import Digest, StatCache
from arty.store import Store, init_store, layout, open_store
from conftest import make_tree, read, run_art, tree_of
from faults import CountingBackend

FILES = {
    "train.csv": "a,b\n1,2\n",
    "images/train/a.png": "A" * 100,
    "images/train/b.jpg": "B" * 50,
    "images/train/deep/c.png": "C" * 10,
    "images/test/d.png": "D" * 20,
    "images/tr.txt": "not in train/",
    "other/big.bin": "X" * 5000,
    "other/sub/e.txt": "e",
}


def _log(store: Store, tmp_path, files=FILES, name="data"):
    reg = Registry(store, "default", StatCache(":memory:"))
    src = make_tree(tmp_path / "src", files)
    draft = Artifact(name, type="dataset")
    draft.add_dir(src)
    return reg, reg.log(draft).version


def _damage_all_but(store: Store, version, keep_prefix: str) -> int:
    """Delete every file blob whose path does not start with ``keep_prefix`` and corrupt every
    manifest node that no file under it needs. Returns how many objects were damaged."""
    trees = version._registry.trees
    needed: set[Digest] = {version.digest}
    parts = keep_prefix.rstrip("/").split("/")
    digest = version.digest
    for part in parts:
        obj = trees.node(digest).get(part)
        if obj is None or obj.get("type") != "dir":
            break
        digest = Digest.parse(obj["digest"])
        needed.add(digest)
    needed.update(trees.node_digests(digest))
    damaged = 0
    for d in list(trees.node_digests(version.digest)):
        if d not in needed:
            store.backend.write(layout.blob(d), b"corrupt node")
            damaged += 1
    for e in version.files():
        if not e.path.startswith(keep_prefix):
            store.delete_blob(e.digest)
            damaged += 1
    return damaged


# -- references with a path ------------------------------------------------------------------


@pytest.mark.parametrize("text, ref, path", [
    ("data:v3/images/train/a.png", ArtifactRef(None, "data", "v3"), "images/train/a.png"),
    ("data:prod/images/", ArtifactRef(None, "data", "prod"), "images"),
    ("proj/data:v3/a.csv", ArtifactRef("proj", "data", "v3"), "a.csv"),
    ("proj/data:latest/sub/x:y.csv", ArtifactRef("proj", "data", "latest"), "sub/x:y.csv"),
    ("data:v3", ArtifactRef(None, "data", "v3"), None),
    ("data:v3/", ArtifactRef(None, "data", "v3"), None),
    ("proj/data", ArtifactRef("proj", "data", None), None),
])
def test_references_with_a_path_split_after_the_version(text, ref, path):
    assert ArtifactRef.parse_with_path(text) == (ref, path)


@pytest.mark.parametrize("text, error", [
    ("data:v3/../secret", InvalidPath),
    ("data:v3/a//b", InvalidPath),
    ("data:v3//etc/passwd", InvalidPath),
    ("a/b/data:v3/x", InvalidName),  # names never hold a '/'
    ("data:/x", InvalidName),
])
def test_bad_references_with_a_path_are_refused(text, error):
    with pytest.raises(error):
        ArtifactRef.parse_with_path(text)


def test_a_version_reference_refuses_a_path_where_a_version_is_meant(registry, tmp_path):
    with pytest.raises(InvalidName, match="names a path inside a version") as info:
        ArtifactRef.parse("data:v3/x.csv")
    assert "'data:v3'" in info.value.hint
    _log(registry.store, tmp_path)
    proc = run_art("--store", registry.store.url, "rm", "data:v0/train.csv")
    assert proc.returncode == 2 and "names a path inside a version" in proc.stderr
    assert Registry(registry.store).versions("data") == [0]  # nothing deleted


# -- globs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("glob, matches, misses", [
    ("*.csv", ["a.csv"], ["x/a.csv", "a.csvx"]),
    ("**/*.csv", ["a.csv", "x/a.csv", "x/y/a.csv"], ["a.txt"]),
    ("images/**/*.png", ["images/a.png", "images/x/y/a.png"], ["images/a.jpg", "other/images/a.png"]),
    ("images/*", ["images/a"], ["images/x/a"]),
    ("images/**", ["images/a", "images/x/a"], ["imagesx/a"]),
    ("img?.png", ["img1.png"], ["img/.png", "img12.png"]),
    ("[ab].txt", ["a.txt", "b.txt"], ["c.txt"]),
    ("[!ab].txt", ["c.txt"], ["a.txt"]),
])
def test_globs_match_within_and_across_folders(glob, matches, misses):
    rx = glob_regex(glob)
    assert all(rx.fullmatch(m) for m in matches), matches
    assert not any(rx.fullmatch(m) for m in misses), misses


def test_a_glob_walks_only_the_folder_its_fixed_parts_name():
    assert literal_folder("images/train/**/*.png") == "images/train"
    assert literal_folder("images/*/x.png") == "images"
    assert literal_folder("*.csv") is None
    assert literal_folder("**/a") is None


# -- partial downloads: only the needed objects are read -----------------------------------------


@pytest.mark.usefixtures("loose_blobs")  # damages objects/ files one by one
def test_download_path_prefix_reads_only_the_subtree_it_needs(local_store, tmp_path):
    reg, v = _log(local_store, tmp_path)
    assert _damage_all_but(local_store, v, "images/train/") >= 5
    reg = Registry(open_store(local_store.url), "default", StatCache(":memory:"))  # no cached nodes
    v = reg.resolve("data:v0")
    root = v.download(str(tmp_path / "out"), path_prefix="images/train/")
    assert tree_of(root) == {p: c.encode() for p, c in FILES.items() if p.startswith("images/train/")}
    with pytest.raises(Exception):  # the rest of the version is really gone
        v.download(str(tmp_path / "all"))


def test_path_prefix_keeps_its_string_prefix_meaning(registry, tmp_path):
    _, v = _log(registry.store, tmp_path)
    root = v.download(str(tmp_path / "out"), path_prefix="images/tr")
    assert sorted(tree_of(root)) == ["images/tr.txt", "images/train/a.png", "images/train/b.jpg",
                                     "images/train/deep/c.png"]
    with pytest.raises(NotFound, match="starts with 'nope'"):
        v.download(str(tmp_path / "none"), path_prefix="nope")


@pytest.mark.usefixtures("loose_blobs")  # damages objects/ files one by one
def test_cli_get_path_succeeds_when_every_other_object_is_deleted_or_corrupt(local_store, tmp_path):
    _, v = _log(local_store, tmp_path)
    _damage_all_but(local_store, v, "images/train/")
    out = tmp_path / "part"
    proc = run_art("--store", local_store.url, "get", "data:v0", "--path", "images/train/", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert tree_of(out) == {p: c.encode() for p, c in FILES.items() if p.startswith("images/train/")}
    assert "3 files (of 8 files)" in proc.stdout
    # a glob whose fixed part is the same folder reads no more than that
    proc = run_art("--store", local_store.url, "get", "data:v0", "--include", "images/train/**/*.png",
                   "-o", str(tmp_path / "pngs"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert sorted(tree_of(tmp_path / "pngs")) == ["images/train/a.png", "images/train/deep/c.png"]
    # the whole version does not download: the test really removed the rest
    proc = run_art("--store", local_store.url, "get", "data:v0", "-o", str(tmp_path / "all"))
    assert proc.returncode != 0


def test_cli_get_path_and_include_combine(registry, tmp_path):
    _log(registry.store, tmp_path)
    url = registry.store.url
    proc = run_art("--store", url, "get", "data:v0", "--path", "images", "--path", "train.csv",
                   "--include", "**/*.png", "--include", "*.csv", "-o", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(tree_of(tmp_path / "o")) == ["images/test/d.png", "images/train/a.png",
                                               "images/train/deep/c.png", "train.csv"]
    # a folder named by the reference is a --path
    proc = run_art("--store", url, "get", "data:v0/other/", "-o", str(tmp_path / "o2"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(tree_of(tmp_path / "o2")) == ["other/big.bin", "other/sub/e.txt"]


@pytest.mark.parametrize("args, code, message", [
    (["data:v0", "--path", "images/nope"], 3, "no file or folder 'images/nope' in artifact 'data:v0'"),
    (["data:v0", "--path", "images/tr"], 3, "no file or folder 'images/tr'"),  # a folder or file, not a prefix
    (["data:v0", "--path", "../etc"], 2, "'..'"),
    (["data:v0", "--include", "**/*.gif"], 3, "no file of artifact 'data:v0' matches --include '**/*.gif'"),
    (["data:v0/train.csv", "--path", "images"], 2, "--path/--include choose others"),
    (["data:v0/nope.csv"], 3, "no file 'nope.csv' in artifact 'data:v0'"),
    (["nosuch:v0/a.csv"], 3, "artifact 'nosuch' not found"),
])
def test_cli_get_of_a_missing_part_says_what_is_missing(registry, tmp_path, args, code, message):
    _log(registry.store, tmp_path)
    out = tmp_path / "o"
    proc = run_art("--store", registry.store.url, "get", *args, "-o", str(out))
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert not out.exists()


def test_cli_get_one_file_to_a_file_or_a_folder(registry, tmp_path):
    _log(registry.store, tmp_path)
    url = registry.store.url
    proc = run_art("--store", url, "get", "data:v0/images/train/a.png", "-o", str(tmp_path / "x.png"))
    assert proc.returncode == 0, proc.stderr
    assert read(tmp_path / "x.png") == b"A" * 100
    os.mkdir(tmp_path / "dir")
    proc = run_art("--store", url, "get", "default/data:latest/train.csv", "-o", str(tmp_path / "dir"))
    assert proc.returncode == 0, proc.stderr
    assert tree_of(tmp_path / "dir") == {"train.csv": b"a,b\n1,2\n"}
    proc = run_art("--store", url, "get", "data:v0/other/big.bin", cwd=str(tmp_path / "dir"))
    assert proc.returncode == 0, proc.stderr
    assert read(tmp_path / "dir" / "big.bin") == b"X" * 5000
    proc = run_art("--store", url, "get", "data:v0/train.csv", "-o", str(tmp_path / "new") + "/")
    assert proc.returncode == 0, proc.stderr
    assert tree_of(tmp_path / "new") == {"train.csv": b"a,b\n1,2\n"}


@pytest.mark.usefixtures("loose_blobs")  # damages objects/ files one by one
def test_cli_get_one_corrupt_file_writes_nothing(local_store, tmp_path):
    _, v = _log(local_store, tmp_path)
    e = v.get_entry("train.csv")
    local_store.backend.write(layout.blob(e.digest), b"a,b\n6,6\n")  # same size, other bytes
    proc = run_art("--store", local_store.url, "get", "data:v0/train.csv", "-o", str(tmp_path / "t.csv"))
    assert proc.returncode == 5, proc.stderr
    assert str(e.digest) in proc.stderr
    assert not (tmp_path / "t.csv").exists()


@pytest.mark.usefixtures("loose_blobs")  # damages objects/ files one by one
def test_cli_cat_writes_one_files_bytes_verified(local_store, tmp_path):
    big = os.urandom(17 * 1024 * 1024 + 3)  # past the size read in memory: through a verified temp file
    files = {**FILES, "bin/big.bin": big}
    _, v = _log(local_store, tmp_path, files)
    url = local_store.url
    proc = run_art("--store", url, "cat", "data:v0/images/train/a.png")
    assert proc.returncode == 0 and proc.stdout == "A" * 100
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "arty", "--store", url, "cat", "data:latest/bin/big.bin"],
                         capture_output=True, timeout=120)
    assert out.returncode == 0 and out.stdout == big
    for path, blob in (("train.csv", b"a,b\n6,6\n"), ("bin/big.bin", b"\0" * len(big))):
        local_store.backend.write(layout.blob(v.get_entry(path).digest), blob)
        out = subprocess.run([sys.executable, "-m", "arty", "--store", url, "cat", f"data:v0/{path}"],
                             capture_output=True, timeout=120)
        assert out.returncode == 5 and out.stdout == b"", path  # nothing unverified reaches stdout
        assert b"is corrupt" in out.stderr


@pytest.mark.parametrize("ref, message", [
    ("data:v0", "names a version, not a file"),
    ("data:v0/images", "'images' is a folder in 'data:v0', not a file"),
    ("data:v0/images/nope.png", "no file 'images/nope.png' in artifact 'data:v0'"),
    ("data:v0/images/../../x", "'..'"),
])
def test_cli_cat_of_no_file_is_refused(registry, tmp_path, ref, message):
    _log(registry.store, tmp_path)
    proc = run_art("--store", registry.store.url, "cat", ref)
    assert proc.returncode in (2, 3) and message in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_cli_show_a_file_or_a_folder_of_a_version(registry, tmp_path):
    _log(registry.store, tmp_path)
    url = registry.store.url
    import json

    proc = run_art("--store", url, "show", "data:v0/images/train/a.png", "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert (got["artifact"], got["path"], got["size"], got["type"]) == ("data:v0", "images/train/a.png", 100, "file")
    proc = run_art("--store", url, "show", "data:v0/images/train/", "--json")
    got = json.loads(proc.stdout)
    assert [f["path"] for f in got["file_list"]] == ["images/train/a.png", "images/train/b.jpg",
                                                     "images/train/deep/c.png"]
    assert got["files_total"] == 3 and got["path_size"] == 160
    proc = run_art("--store", url, "show", "data:v0/images")
    assert "folder:      images/  193 B in 5 files" in proc.stdout
    proc = run_art("--store", url, "show", "data:v0/zzz")
    assert proc.returncode == 3 and "no file 'zzz'" in proc.stderr


# -- reads counted on S3 --------------------------------------------------------------------------


@pytest.mark.usefixtures("loose_blobs")  # damages objects/ files one by one
def test_partial_download_from_s3_reads_only_its_nodes_and_blobs(s3, tmp_path):
    url = f"s3://{s3.make_bucket()}/store"
    store, _ = init_store(url)
    files = {f"part{i}/f{j}.txt": f"{i}-{j}" for i in range(20) for j in range(10)}
    files["part7/deep/x.txt"] = "x"
    _, v = _log(store, tmp_path, files)
    counting = CountingBackend(store.backend)
    store = Store(counting, store.config)
    store.blob_cache = None  # every blob comes from the bucket
    reg = Registry(store, "default", StatCache(":memory:"))
    v = reg.resolve("data:v0")
    counting.reads.clear()
    root = v.download(str(tmp_path / "out"), paths=["part7/"])
    assert len(tree_of(root)) == 11
    blobs = [p for p, _ in counting.reads if p.startswith("objects/")]
    # the root node, part7's node, part7/deep's node and the 11 files: not the 21 nodes and 201 files
    assert len(blobs) == 3 + 11, blobs
