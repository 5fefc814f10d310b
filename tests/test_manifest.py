"""Property tests of manifest trees and paths: random trees, naive oracles."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from arty.artifacts import Artifact, Registry
from arty.artifacts.download import safe_target
from arty.artifacts.manifest import Entry, TreeReader, build
from arty.artifacts.names import check_path
from arty.errors import InvalidPath
from arty.hashing import Digest, StatCache, hash_bytes
from arty.store import init_store

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Names that are valid in a manifest and on a POSIX file system: no '/', '\\' or NUL,
# not '.' or '..', short enough for any file system (and some non-ASCII).
NAME = st.text(alphabet="abcxyzABC019._- é字", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
CONTENT = st.binary(max_size=64)


def _trees(max_leaves: int = 12):
    """A nested ``{name: bytes | subtree}``: conflict-free by construction."""
    return st.recursive(
        st.dictionaries(NAME, CONTENT, max_size=4),
        lambda children: st.dictionaries(NAME, st.one_of(CONTENT, children), max_size=4),
        max_leaves=max_leaves,
    )


def flatten(tree: dict, prefix: str = "") -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{name}/"))
        else:
            out[f"{prefix}{name}"] = value
    return out


FLAT_TREES = _trees().map(flatten)


def entries_of(files: dict[str, bytes]) -> list[Entry]:
    return [Entry(path, len(content), hash_bytes(content)) for path, content in files.items()]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for every example: content addressing makes sharing safe."""
    s, _ = init_store(str(tmp_path_factory.mktemp("manifest-store")))
    return s


# -- add -> download ----------------------------------------------------------------------


def write_tree(root: str, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        path = os.path.join(root, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)


def read_tree(root: str) -> dict[str, bytes]:
    out = {}
    for here, _dirs, names in os.walk(root):
        for name in names:
            full = os.path.join(here, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, root).replace(os.sep, "/")] = f.read()
    return out


@SETTINGS
@given(files=FLAT_TREES)
@example(files={})
@example(files={"a": b"", "b/c": b"", "b/d/e": b"same", "f": b"same"})
def test_add_then_download_gives_the_same_bytes_at_the_same_paths(store, files):
    registry = Registry(store, "default", StatCache())
    work = tempfile.mkdtemp()
    try:
        src, out = os.path.join(work, "src"), os.path.join(work, "out")
        os.makedirs(src)
        write_tree(src, files)
        v = registry.log(Artifact("prop").add_dir(src)).version
        assert v.file_count == len(files)
        assert v.size == sum(len(c) for c in files.values())
        assert v.download(out) == out
        assert read_tree(out) == files
        v.verify(out)
        # And the same content logs to the same version.
        again = registry.log(Artifact("prop").add_dir(src))
        assert not again.created and again.version == v
    finally:
        shutil.rmtree(work)


# -- build -> walk ---------------------------------------------------------------------------


@SETTINGS
@given(files=FLAT_TREES)
@example(files={})
@example(files={"0.": b"", "0/0": b"", "0-": b"-"})  # '.' and '-' sort before '/'
def test_build_then_walk_is_identity(store, files):
    entries = entries_of(files)
    tree = build(entries, store)
    store.put_many_bytes(tree.nodes)
    walked = list(TreeReader(store).walk(tree.digest))
    assert [(e.path, e.digest, e.size) for e in walked] == sorted((e.path, e.digest, e.size) for e in entries)
    assert tree.files == len(files) and tree.size == sum(len(c) for c in files.values())
    # The digest depends on content only, not on the order things were added.
    assert build(list(reversed(entries)), store).digest == tree.digest
    # Every node in the tree is one that build produced.
    assert set(TreeReader(store).node_digests(tree.digest)) == set(tree.nodes)
    for path, content in files.items():
        found = TreeReader(store).find(tree.digest, path)
        assert found is not None and found.digest == hash_bytes(content)


@SETTINGS
@given(files=FLAT_TREES, extra=st.dictionaries(NAME, CONTENT, min_size=1, max_size=3))
def test_a_change_rewrites_only_the_nodes_on_its_path(store, files, extra):
    """Adding files in one folder changes that folder's node and its ancestors, nothing else."""
    assume(files)
    some = sorted(files)[0]
    folder = some.rpartition("/")[0]
    prefix = f"{folder}/" if folder else ""
    changed = dict(files)
    for name, content in extra.items():
        if f"{prefix}{name}" not in files and not any(p.startswith(f"{prefix}{name}/") for p in files):
            changed[f"{prefix}{name}"] = content + b"!new" * 20  # longer than any CONTENT: unique
    assume(changed != files)
    a, b = build(entries_of(files), store), build(entries_of(changed), store)
    store.put_many_bytes(b.nodes)
    trees = TreeReader(store)
    on_path = [b.digest]
    for part in folder.split("/") if folder else []:
        on_path.append(Digest.parse(trees.node(on_path[-1])[part]["digest"]))
    assert set(b.nodes) - set(on_path) <= set(a.nodes)  # everything off the path is shared
    assert b.digest not in a.nodes and on_path[-1] not in a.nodes
    assert len(set(b.nodes) - set(a.nodes)) <= len(on_path)


def test_later_entry_replaces_earlier_and_conflicts_are_rejected(store):
    one, two = Entry("a/b", 1, hash_bytes(b"1")), Entry("a/b", 1, hash_bytes(b"2"))
    tree = build([one, two], store)
    store.put_many_bytes(tree.nodes)
    assert [e.digest for e in TreeReader(store).walk(tree.digest)] == [hash_bytes(b"2")]
    for first, second in (("a", "a/b"), ("a/b", "a"), ("a/b/c", "a/b")):
        with pytest.raises(InvalidPath, match="both a file and a folder"):
            build([Entry(first, 0, hash_bytes(b"")), Entry(second, 0, hash_bytes(b""))], store)


def test_reference_entries_round_trip(store):
    ref = Entry("raw/x.bin", 9, None, "s3://bucket/raw/x.bin", {"etag": "abc", "version_id": "7"})
    local = Entry("raw/y.bin", 3, hash_bytes(b"yyy"), "file:///data/y.bin", {"mtime": 1.5})
    tree = build([ref, local], store)
    store.put_many_bytes(tree.nodes)
    walked = list(TreeReader(store).walk(tree.digest))
    assert walked == [ref, local]
    assert all(e.is_ref for e in walked)


# -- diff ------------------------------------------------------------------------------------

# Few names and contents, so that two trees overlap a lot and a path can be a file
# in one and a folder in the other.
SMALL_NAME = st.sampled_from(["a", "b", "c"])
SMALL_CONTENT = st.sampled_from([b"", b"1", b"22"])
SMALL_TREES = st.recursive(
    st.dictionaries(SMALL_NAME, SMALL_CONTENT, max_size=3),
    lambda children: st.dictionaries(SMALL_NAME, st.one_of(SMALL_CONTENT, children), max_size=3),
    max_leaves=10,
).map(flatten)


def naive_diff(a: dict[str, bytes], b: dict[str, bytes]) -> tuple[set, set, set]:
    added = set(b) - set(a)
    removed = set(a) - set(b)
    changed = {p for p in set(a) & set(b) if a[p] != b[p]}
    return added, removed, changed


@SETTINGS
@given(a=SMALL_TREES, b=SMALL_TREES)
@example(a={"a": b"1"}, b={"a/b": b"1"})
@example(a={"a/b/c": b"1", "b": b""}, b={"a/b": b"22", "b/a": b""})
@example(a={}, b={"c": b"22"})
def test_diff_is_the_naive_set_difference(store, a, b):
    ta, tb = build(entries_of(a), store), build(entries_of(b), store)
    store.put_many_bytes(ta.nodes | tb.nodes)
    d = TreeReader(store).diff(ta.digest, tb.digest)
    added, removed, changed = naive_diff(a, b)
    assert {e.path for e in d.added} == added
    assert {e.path for e in d.removed} == removed
    assert {x.path for x, _ in d.changed} == changed
    assert len(d.added) == len(added) and len(d.removed) == len(removed) and len(d.changed) == len(changed)
    for old, new in d.changed:
        assert (old.digest, new.digest) == (hash_bytes(a[old.path]), hash_bytes(b[new.path]))
    assert bool(d) == (a != b)
    # From nothing, everything is added.
    assert {e.path for e in TreeReader(store).diff(None, tb.digest).added} == set(b)


# -- check_path ------------------------------------------------------------------------------

VALID_PATHS = st.lists(NAME, min_size=1, max_size=4).map("/".join)


@SETTINGS
@given(path=VALID_PATHS)
def test_valid_paths_are_accepted_unchanged(path):
    assert check_path(path) == path
    root = tempfile.gettempdir()
    assert safe_target(root, path).startswith(root + os.sep)


@SETTINGS
@given(parts=st.lists(NAME, min_size=0, max_size=3), bad=st.sampled_from(["..", ".", ""]),
       where=st.integers(min_value=0, max_value=3))
def test_dot_dot_dot_and_empty_parts_are_rejected(parts, bad, where):
    parts.insert(min(where, len(parts)), bad)
    with pytest.raises(InvalidPath):
        check_path("/".join(parts))


@SETTINGS
@given(parts=st.lists(NAME, min_size=1, max_size=3), char=st.sampled_from(["\\", "\x00"]),
       where=st.integers(min_value=0, max_value=3))
def test_backslash_and_nul_are_rejected_anywhere(parts, char, where):
    name = parts[0]
    parts[0] = name[:where] + char + name[where:]
    with pytest.raises(InvalidPath, match="forbidden character"):
        check_path("/".join(parts))


@SETTINGS
@given(path=VALID_PATHS)
def test_absolute_paths_are_rejected(path):
    with pytest.raises(InvalidPath, match="absolute"):
        check_path("/" + path)
    with pytest.raises(InvalidPath, match="absolute"):
        check_path("C:" + path)


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/../b", "a/..", "./a", "a/./b", "/", "/a", "a//b",
                                 "a/", "C:\\x", "a\\b", "a\x00b", None, 3])
def test_bad_paths(bad):
    with pytest.raises(InvalidPath):
        check_path(bad)


def test_a_crafted_manifest_cannot_escape_on_read(store):
    """Names in a node are checked again when it is read (and so on download)."""
    from arty.store import encode_json

    for name in ("..", "a/b", "x\\y", ""):
        node = encode_json({"format": 1, "entries": {name: {"type": "file", "digest": str(hash_bytes(b"")),
                                                              "size": 0}}})
        d = store.put_bytes(node)
        with pytest.raises(InvalidPath):
            list(TreeReader(store).walk(d))
    with pytest.raises(InvalidPath):
        safe_target("/tmp/root", "../etc/passwd")


def test_node_digest_is_the_store_algorithm(tmp_path):
    s, _ = init_store(str(tmp_path / "sha"), algorithm="sha256")
    tree = build([Entry("x", 1, Digest("sha256", "0" * 64))], s)
    assert tree.digest.algorithm == "sha256"
