"""The W&B-shaped Python API end to end on a local store."""

from __future__ import annotations

import datetime
import os

import pytest

import arty
from arty.artifacts import Artifact, Registry
from arty.artifacts.manifest import TreeReader
from arty.errors import IntegrityError, InvalidName, InvalidPath, NotFound, ReferenceChanged, UsageError
from arty.hashing import Digest, StatCache, hash_bytes
from arty.store import layout
from conftest import make_tree, read, tree_of




DATA = {
    "train/0.png": b"zero",
    "train/1.png": b"one!",
    "test/2.png": b"two two",
    "README": "mnist digits\n",
}


@pytest.fixture
def data(tmp_path):
    return make_tree(tmp_path / "data", DATA)


# -- the example from the issue -------------------------------------------------


def test_wandb_shaped_example_on_default_store(tmp_path, data):
    make_tree(tmp_path, {"labels.csv": "id,label\n0,0\n1,1\n", "raw/blob.bin": b"\x00\x01raw"})
    art = arty.Artifact("mnist", type="dataset", description="handwritten digits",
                        metadata={"source": "yann.lecun.com", "n": 3})
    art.add_dir("data/")
    art.add_file("labels.csv", name="meta/labels.csv")
    art.add_reference("file://" + str(tmp_path / "raw" / "blob.bin"), name="raw/blob.bin")
    with art.new_file("notes.txt") as f:
        f.write("collected by hand")

    v = arty.log_artifact(art, aliases=["prod"])

    # No store was named: ./.arty is created, like the CLI does.
    assert os.path.isfile(tmp_path / ".arty" / "store.json")
    assert str(v) == "mnist:v0" and v.version == "v0" and v.number == 0
    assert v.type == "dataset"
    assert v.description == "handwritten digits"
    assert v.metadata == {"source": "yann.lecun.com", "n": 3}
    assert v.aliases == ["latest", "prod"]
    expected = {k: (c.encode() if isinstance(c, str) else c) for k, c in DATA.items()}
    expected |= {"meta/labels.csv": b"id,label\n0,0\n1,1\n", "raw/blob.bin": b"\x00\x01raw",
                 "notes.txt": b"collected by hand"}
    assert [e.path for e in v.files()] == sorted(expected)
    assert v.size == sum(len(b) for b in expected.values())
    assert v.file_count == len(expected)
    assert isinstance(v.digest, Digest) and v.digest.algorithm == "xxh128"

    for ref in ("mnist:prod", "mnist:latest", "mnist:v0", "mnist", "default/mnist:v0"):
        a = arty.use_artifact(ref)
        assert a == v, ref
        assert a.digest == v.digest

    a = arty.use_artifact("mnist:prod")
    root = a.download("out/", allow_local_refs=True)
    assert root == "out/"
    assert tree_of(tmp_path / "out") == expected
    a.verify(root)  # a good copy passes
    a.verify()  # and so do the store's objects


def test_files_entries_carry_digest_and_size(registry, data):
    v = registry.log(Artifact("mnist").add_dir(data)).version
    by_path = {e.path: e for e in v.files()}
    assert by_path["train/1.png"].digest == hash_bytes(b"one!")
    assert by_path["train/1.png"].size == 4
    assert not by_path["train/1.png"].is_ref
    assert v.read_bytes("test/2.png") == b"two two"


def test_files_come_in_path_order(registry, tmp_path):
    src = make_tree(tmp_path / "d", {"a/x": "1", "a-b.txt": "2", "a.txt": "3", "a0": "4", "b": "5"})
    paths = [e.path for e in registry.log(Artifact("d").add_dir(src)).version.files()]
    assert paths == sorted(paths) == ["a-b.txt", "a.txt", "a/x", "a0", "b"]


def test_large_files_round_trip(registry, tmp_path):
    big = os.urandom(1 << 20) * 9 + b"end"  # several read chunks, streamed rather than read whole
    src = make_tree(tmp_path / "d", {"big.bin": big, "small.txt": "s"})
    v = registry.log(Artifact("big").add_dir(src)).version
    assert v.size == len(big) + 1
    root = v.download(tmp_path / "out")
    assert read(os.path.join(root, "big.bin")) == big
    v.verify(root)
    v.verify()


def test_download_default_root_is_artifacts_name_version(registry, tmp_path, data):
    v = registry.log(Artifact("mnist").add_dir(data)).version
    root = v.download()
    assert os.path.abspath(root) == str(tmp_path / "artifacts" / "mnist:v0")
    assert tree_of(root) == tree_of(data)


def test_download_twice_keeps_good_files_and_repairs_bad_ones(registry, tmp_path, data):
    v = registry.log(Artifact("mnist").add_dir(data)).version
    root = v.download(tmp_path / "out")
    with open(os.path.join(root, "train", "0.png"), "wb") as f:
        f.write(b"ZERO")  # same size, wrong bytes
    with pytest.raises(IntegrityError, match="0.png"):
        v.verify(root)
    v.download(root)
    assert tree_of(root) == tree_of(data)
    v.verify(root)


def test_verify_names_missing_downloaded_file(registry, tmp_path, data):
    v = registry.log(Artifact("mnist").add_dir(data)).version
    root = v.download(tmp_path / "out")
    os.remove(os.path.join(root, "README"))
    with pytest.raises(IntegrityError, match="README"):
        v.verify(root)


def test_use_artifact_forms_across_versions_and_projects(local_store, tmp_path):
    for i in range(3):
        src = make_tree(tmp_path / f"d{i}", {"x.txt": f"content {i}"})
        v = arty.log_artifact(Artifact("mnist").add_dir(src), store=local_store, project="proj")
        assert v.version == f"v{i}"
    arty.log_artifact(Artifact("mnist").add_dir(make_tree(tmp_path / "other", {"y": "y"})), store=local_store)

    # From the default project, the project prefix reaches the other one.
    v2 = arty.use_artifact("proj/mnist:v2", store=local_store)
    assert (v2.project, v2.version) == ("proj", "v2")
    assert v2.read_bytes("x.txt") == b"content 2"
    assert arty.use_artifact("mnist:v2", store=local_store, project="proj") == v2
    assert arty.use_artifact("mnist:latest", store=local_store, project="proj") == v2
    assert arty.use_artifact("mnist:v1", store=local_store, project="proj").read_bytes("x.txt") == b"content 1"
    default = arty.use_artifact("mnist", store=local_store)
    assert (default.project, default.version) == ("default", "v0")

    with pytest.raises(NotFound, match=r"'mnist:v7' not found \(versions: v0\.\.v2\)"):
        arty.use_artifact("proj/mnist:v7", store=local_store)
    with pytest.raises(NotFound, match="alias 'prod'"):
        arty.use_artifact("proj/mnist:prod", store=local_store)
    with pytest.raises(NotFound, match="artifact 'nope' not found"):
        arty.use_artifact("nope", store=local_store)


def test_registry_of_a_store_url_is_shared(tmp_path, data):
    url = str(tmp_path / "s")
    arty.init_store(url)
    arty.log_artifact(Artifact("mnist").add_dir(data), store=url)
    assert arty.registry(url) is arty.registry(url)
    assert arty.registry(url).names() == ["mnist"]


# -- references ----------------------------------------------------------------


def test_reference_is_recorded_not_copied_and_fetched_on_download(registry, tmp_path):
    target = tmp_path / "bucket" / "raw.bin"
    make_tree(tmp_path / "bucket", {"raw.bin": b"referenced bytes"})
    art = Artifact("raw").add_reference("file://" + str(target))
    v = registry.log(art).version

    (entry,) = v.files()
    assert entry.is_ref
    assert entry.path == "raw.bin"
    assert entry.uri == "file://" + str(target)
    assert entry.size == len(b"referenced bytes")
    assert entry.digest == hash_bytes(b"referenced bytes")
    assert not registry.store.has_blob(hash_bytes(b"referenced bytes"))  # not copied

    root = v.download(tmp_path / "out", allow_local_refs=True)
    assert read(os.path.join(root, "raw.bin")) == b"referenced bytes"
    v.verify()


def test_reference_to_a_folder_records_every_object(registry, tmp_path):
    make_tree(tmp_path / "bucket", {"a.txt": "a", "sub/b.txt": "bb"})
    v = registry.log(Artifact("raw").add_reference(str(tmp_path / "bucket"), name="mirror")).version
    assert [(e.path, e.size, e.is_ref) for e in v.files()] == [("mirror/a.txt", 1, True), ("mirror/sub/b.txt", 2, True)]
    root = v.download(tmp_path / "out", allow_local_refs=True)
    assert tree_of(root) == {"mirror/a.txt": b"a", "mirror/sub/b.txt": b"bb"}


@pytest.mark.parametrize("new_content", [b"referenced bytes, now longer", b"REFERENCED BYTES"],
                         ids=["size-changed", "same-size"])
def test_changed_reference_fails_download_and_leaves_nothing(registry, tmp_path, new_content):
    target = tmp_path / "bucket" / "raw.bin"
    make_tree(tmp_path / "bucket", {"raw.bin": b"referenced bytes"})
    v = registry.log(Artifact("raw").add_reference("file://" + str(target))
                     .add_file(make_tree(tmp_path / "local", {"k.txt": "k"}) + "/k.txt")).version
    with open(target, "wb") as f:
        f.write(new_content)
    out = tmp_path / "out"
    with pytest.raises(ReferenceChanged, match="raw.bin"):
        v.download(out, allow_local_refs=True)
    assert not out.exists()  # nothing half-written (the stored file is not there either)
    with pytest.raises(IntegrityError, match="raw.bin"):
        v.verify()


def test_deleted_reference_fails_download(registry, tmp_path):
    target = tmp_path / "bucket" / "raw.bin"
    make_tree(tmp_path / "bucket", {"raw.bin": b"referenced bytes"})
    v = registry.log(Artifact("raw").add_reference(str(target))).version
    os.remove(target)
    with pytest.raises(ReferenceChanged, match="no longer exists"):
        v.download(tmp_path / "out", allow_local_refs=True)


def test_missing_reference_is_refused_when_logged(registry, tmp_path):
    with pytest.raises(NotFound, match="not found"):
        registry.log(Artifact("raw").add_reference("file://" + str(tmp_path / "nothing-here")))
    assert registry.names() == []


# -- versions: dedup, diffs, tree sharing ------------------------------------------


def test_identical_content_is_the_same_version_with_new_aliases(registry, tmp_path, data):
    first = registry.log(Artifact("mnist").add_dir(data), aliases=["a"])
    assert first.created and first.diff is None
    copy = make_tree(tmp_path / "copy", DATA)  # same content, other files
    again = registry.log(Artifact("mnist", description="ignored").add_dir(copy), aliases=["b"])
    assert not again.created
    assert again.version == first.version and again.version.version == "v0"
    assert again.version.digest == first.version.digest
    assert registry.versions("mnist") == [0]
    assert registry.aliases("mnist") == {"a": 0, "b": 0}
    assert arty.use_artifact("mnist:b", store=registry.store) == first.version


def test_content_of_an_older_version_returns_that_version(registry, tmp_path):
    src = make_tree(tmp_path / "d", {"x": "0"})
    v0 = registry.log(Artifact("m").add_dir(src)).version
    make_tree(src, {"x": "1"})
    registry.log(Artifact("m").add_dir(src))
    make_tree(src, {"x": "0"})
    back = registry.log(Artifact("m").add_dir(src), aliases=["old"])
    assert not back.created and back.version == v0
    assert registry.versions("m") == [0, 1]
    assert registry.resolve("m:latest").number == 1
    assert registry.resolve("m:old") == v0


def test_arty_folders_inside_an_added_folder_are_skipped(registry, tmp_path):
    src = make_tree(tmp_path / "d", {"a.txt": "a", ".arty/config.json": "{}", "sub/.arty/store.json": "{}",
                                     ".other/kept": "k"})
    v = registry.log(Artifact("d").add_dir(src)).version
    assert [e.path for e in v.files()] == [".other/kept", "a.txt"]


def test_dedup_through_module_api_reports_the_existing_version(local_store, data):
    v0 = arty.log_artifact(Artifact("mnist").add_dir(data), store=local_store)
    same = arty.log_artifact(Artifact("mnist").add_dir(data), aliases=["prod"], store=local_store)
    assert same == v0
    assert same.aliases == ["latest", "prod"]


def test_one_file_edited_gives_v1_with_a_diff(registry, data):
    registry.log(Artifact("mnist").add_dir(data))
    make_tree(data, {"train/1.png": b"ONE!!", "new.txt": "n"})
    os.remove(os.path.join(data, "README"))
    res = registry.log(Artifact("mnist").add_dir(data))
    assert res.created and res.version.version == "v1"
    assert res.diff is not None
    assert [e.path for e in res.diff.added] == ["new.txt"]
    assert [e.path for e in res.diff.removed] == ["README"]
    assert [(a.path, a.size, b.size) for a, b in res.diff.changed] == [("train/1.png", 4, 5)]
    assert res.diff.summary() == "1 added, 1 removed, 1 changed"
    v0 = registry.version("mnist", 0)
    assert v0.diff(res.version).to_json() == res.diff.to_json()
    assert res.version.diff(v0).to_json() == {"added": ["README"], "removed": ["new.txt"], "changed": ["train/1.png"]}
    assert not v0.diff(v0)
    # v0 is untouched.
    assert v0.read_bytes("train/1.png") == b"one!"


def test_one_file_change_writes_only_the_new_blob_and_its_path_of_nodes(registry, tmp_path):
    files = {f"d{i}/e{j}/f{k}.bin": f"{i}-{j}-{k}" for i in range(3) for j in range(3) for k in range(4)}
    files["top.txt"] = "top"
    src = make_tree(tmp_path / "nested", files)
    store = registry.store
    v0 = registry.log(Artifact("nested").add_dir(src)).version
    # 37 distinct blobs + nodes: root, 3 d*, 9 d*/e*.
    assert len(set(store.iter_blobs())) == 37 + 1 + 3 + 9

    before = set(store.iter_blobs())
    make_tree(src, {"d1/e2/f3.bin": "a brand new content"})
    v1 = registry.log(Artifact("nested").add_dir(src)).version
    after = set(store.iter_blobs())

    new = after - before
    assert len(new) == 4  # the blob + root, d1, d1/e2
    trees = TreeReader(store)
    d1 = Digest.parse(trees.node(v1.digest)["d1"]["digest"])
    e2 = Digest.parse(trees.node(d1)["e2"]["digest"])
    assert new == {hash_bytes(b"a brand new content"), v1.digest, d1, e2}
    # Untouched subtrees are shared between the versions.
    old_root, new_root = trees.node(v0.digest), trees.node(v1.digest)
    assert old_root["d0"] == new_root["d0"] and old_root["d2"] == new_root["d2"]
    assert old_root["d1"] != new_root["d1"]


def test_unchanged_relog_writes_nothing(registry, data):
    registry.log(Artifact("mnist").add_dir(data))
    store = registry.store
    before = set(store.iter_blobs())
    records_before = store.list(layout.versions("default", "mnist"))
    res = registry.log(Artifact("mnist").add_dir(data))
    assert not res.created
    assert set(store.iter_blobs()) == before
    assert store.list(layout.versions("default", "mnist")) == records_before


# -- aliases ---------------------------------------------------------------------


def test_latest_is_derived_not_stored(registry, tmp_path):
    v0 = registry.log(Artifact("m").add_dir(make_tree(tmp_path / "a", {"x": "0"}))).version
    assert v0.aliases == ["latest"]
    v1 = registry.log(Artifact("m").add_dir(make_tree(tmp_path / "b", {"x": "1"}))).version
    assert registry.resolve("m:latest") == v1
    assert registry.resolve("m") == v1
    assert registry.version("m", 0).aliases == []
    assert v1.aliases == ["latest"]
    assert not registry.store.exists(layout.alias("default", "m", "latest"))
    assert registry.aliases("m") == {}


def test_alias_moves_are_kept_as_history(registry, tmp_path):
    registry.log(Artifact("m").add_dir(make_tree(tmp_path / "a", {"x": "0"})), aliases=["prod"])
    registry.log(Artifact("m").add_dir(make_tree(tmp_path / "b", {"x": "1"})))
    assert registry.resolve("m:prod").number == 0
    registry.set_alias("m", 1, "prod")
    registry.set_alias("m", 1, "prod")  # already there: no new record
    assert registry.resolve("m:prod").number == 1
    assert registry.version("m", 0).aliases == []
    assert registry.version("m", 1).aliases == ["latest", "prod"]
    assert registry.delete_alias("m", "prod") == 1
    history = registry.alias_history("m", "prod")
    assert [(h["seq"], h["version"]) for h in history] == [(0, 0), (1, 1), (2, None)]
    assert all(h["at"] and h["by"] for h in history)
    assert registry.aliases("m") == {}
    with pytest.raises(NotFound, match=r"alias 'prod' of artifact 'm' not found \(aliases: latest; versions: v0, v1\)"):
        registry.resolve("m:prod")
    with pytest.raises(NotFound):
        registry.delete_alias("m", "prod")
    # Setting it again appends to the same history.
    registry.set_alias("m", 0, "prod")
    assert [h["version"] for h in registry.alias_history("m", "prod")] == [0, 1, None, 0]


def test_alias_on_a_missing_version_is_refused(registry, tmp_path):
    registry.log(Artifact("m").add_dir(make_tree(tmp_path / "a", {"x": "0"})))
    with pytest.raises(NotFound, match="versions: v0"):
        registry.set_alias("m", 5, "prod")
    assert registry.aliases("m") == {}


@pytest.mark.parametrize("alias", ["latest", "v3", "v0"])
def test_reserved_aliases_are_refused(registry, tmp_path, alias):
    art = Artifact("m").add_dir(make_tree(tmp_path / "a", {"x": "0"}))
    with pytest.raises(InvalidName, match="reserved"):
        registry.log(art, aliases=[alias])
    assert registry.names() == []  # refused before anything was logged
    registry.log(art)
    with pytest.raises(InvalidName, match="reserved"):
        registry.set_alias("m", 0, alias)


@pytest.mark.parametrize("alias", ["", "has space", "a/b", "-dash", "x:y"])
def test_invalid_aliases_are_refused(registry, tmp_path, alias):
    art = Artifact("m").add_dir(make_tree(tmp_path / "a", {"x": "0"}))
    with pytest.raises(InvalidName):
        registry.log(art, aliases=[alias])


@pytest.mark.parametrize("metadata", [{"when": datetime.date(2024, 1, 1)}, {"x": float("nan")}, {"s": {1, 2}}])
def test_metadata_must_be_json(metadata):
    with pytest.raises(UsageError, match="invalid metadata for artifact 'm'"):
        Artifact("m", metadata=metadata)


@pytest.mark.parametrize("name", ["", "a/b", "-x", "has space", "x:1", "a" * 129, "thing.json"])
def test_invalid_artifact_names_are_refused(name):
    with pytest.raises(InvalidName):
        Artifact(name)


# -- drafts ----------------------------------------------------------------------


def test_later_add_at_same_path_replaces_earlier(registry, tmp_path):
    make_tree(tmp_path, {"one.txt": "first", "two.txt": "second", "dir/x.txt": "from dir"})
    art = Artifact("m")
    art.add_dir(tmp_path / "dir")
    art.add_file(tmp_path / "one.txt", name="x.txt")  # replaces dir's x.txt
    art.add_file(tmp_path / "one.txt", name="y.txt")
    art.add_file(tmp_path / "two.txt", name="y.txt")  # replaces the previous y.txt
    with art.new_file("z.txt") as f:
        f.write("new")
    with art.new_file("z.txt", mode="wb") as f:
        f.write(b"newer")
    v = registry.log(art).version
    assert {e.path: v.read_bytes(e.path) for e in v.files()} == {
        "x.txt": b"first", "y.txt": b"second", "z.txt": b"newer"}
    art.cleanup()


def test_add_file_defaults_to_base_name_and_add_dir_takes_a_prefix(registry, tmp_path):
    make_tree(tmp_path, {"a/b/c.txt": "c", "d/e.txt": "e"})
    art = Artifact("m").add_file(tmp_path / "a" / "b" / "c.txt").add_dir(tmp_path / "d", name="under/here")
    v = registry.log(art).version
    assert [e.path for e in v.files()] == ["c.txt", "under/here/e.txt"]


@pytest.mark.parametrize("first,second", [("a", "a/b"), ("a/b", "a"), ("x/y", "x/y/z")])
def test_file_vs_folder_conflict_is_rejected(registry, tmp_path, first, second):
    make_tree(tmp_path, {"f1": "1", "f2": "2"})
    art = Artifact("m").add_file(tmp_path / "f1", name=first).add_file(tmp_path / "f2", name=second)
    with pytest.raises(InvalidPath, match="both a file and a folder"):
        registry.log(art)
    assert registry.names() == []


@pytest.mark.parametrize("bad", ["../up", "/abs", "a//b", "a/./b", "trailing/", "back\\slash", "nul\x00"])
def test_bad_names_rejected_when_added(tmp_path, bad):
    make_tree(tmp_path, {"f": "1"})
    art = Artifact("m")
    with pytest.raises(InvalidPath):
        art.add_file(tmp_path / "f", name=bad)
    with pytest.raises(InvalidPath):
        with art.new_file(bad):
            pass
    assert art.sources == []


def test_missing_local_paths_are_refused(tmp_path):
    art = Artifact("m")
    with pytest.raises(NotFound, match="not found"):
        art.add_file(tmp_path / "nope")
    with pytest.raises(NotFound, match="not found"):
        art.add_dir(tmp_path / "nope")


def test_empty_folder_gives_an_empty_version(registry, tmp_path):
    os.makedirs(tmp_path / "empty")
    v = registry.log(Artifact("e").add_dir(tmp_path / "empty")).version
    assert (v.version, v.file_count, v.size, v.files()) == ("v0", 0, 0, [])


def test_separate_registries_see_each_others_versions(local_store, tmp_path):
    a = Registry(local_store, "default", StatCache(":memory:"))
    b = Registry(arty.open_store(local_store.url), "default", StatCache(":memory:"))
    a.log(Artifact("m").add_dir(make_tree(tmp_path / "a", {"x": "0"})))
    res = b.log(Artifact("m").add_dir(make_tree(tmp_path / "b", {"x": "1"})))
    assert res.version.version == "v1"
    assert res.diff is not None and [x.path for x, _ in res.diff.changed] == ["x"]
    assert a.resolve("m:latest").number == 1
