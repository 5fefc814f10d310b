"""What the store says is untrusted input: crafted records and manifests, local references,
very deep trees and configs (issue 10, "Trusting what the store says")."""

from __future__ import annotations

import json
import os

import pytest

import arty
from arty.errors import IntegrityError, InvalidName, NotFound, UsageError
from arty.store import encode_json, layout, open_store
from conftest import make_tree, read, run_art

VERSION_0 = "projects/default/artifacts/data/versions/00000000.json"


def store_at(tmp_path):
    return open_store(str(tmp_path / ".arty"))


def add_data(tmp_path, files: dict[str, str | bytes] | None = None) -> None:
    """``art init`` and ``art add data`` in ``tmp_path`` (the test's working folder)."""
    make_tree(tmp_path / "data", files or {"a.txt": "hello\n"})
    run_art("init", cwd=tmp_path, check=True)
    run_art("add", "data", "--type", "dataset", cwd=tmp_path, check=True)


def rewrite_record(tmp_path, rel: str, **changes) -> None:
    """Alter a record in place, as someone with write access to the bucket could."""
    path = tmp_path / ".arty" / rel
    rec = json.loads(read(path))
    rec.update(changes)
    path.write_bytes(json.dumps(rec).encode())


def craft_version(tmp_path, entries: dict[str, dict], size: int | None = None) -> str:
    """Append a version of 'data' whose root node holds ``entries`` as given; returns 'data:vN'."""
    store = store_at(tmp_path)
    node = encode_json({"format": 1, "entries": entries})
    digest = store.put_bytes(node)
    claimed = sum(int(e.get("size", 0)) for e in entries.values()) if size is None else size
    folder = layout.versions("default", "data")
    base = {"project": "default", "name": "data", "type": "dataset", "digest": str(digest), "size": claimed,
            "files": len(entries), "description": None, "metadata": {}, "created_at": "2025-01-01T00:00:00Z",
            "created_by": None, "by": "mallory@host"}
    number, _ = store.log_append(folder, lambda n: base | {"version": n})
    return f"data:v{number}"


def files_under(root) -> set[str]:
    out = set()
    for here, dirs, files in os.walk(root):
        out.update(os.path.join(here, n) for n in dirs + files)
    return out


# -- item 4: version records are checked like names typed by users ---------------------------------


def test_crafted_record_name_cannot_steer_the_default_download_folder(tmp_path):
    add_data(tmp_path)
    rewrite_record(tmp_path, VERSION_0, name="../../../escaped")
    work = tmp_path / "w" / "x" / "y"
    os.makedirs(work / "artifacts")
    before = files_under(tmp_path)
    r = run_art("--store", str(tmp_path / ".arty"), "get", "data", cwd=work)  # latest: the bad one is skipped
    assert r.returncode == NotFound.exit_code, r.stderr
    assert f"warning: skipped a bad record: version record '{VERSION_0}'" in r.stderr
    assert "error: artifact 'data' has no readable version" in r.stderr
    r = run_art("--store", str(tmp_path / ".arty"), "get", "data:v0", cwd=work)  # asked for by number
    assert r.returncode == IntegrityError.exit_code, r.stderr
    assert f"error: version record '{VERSION_0}'" in r.stderr
    assert "'../../../escaped'" in r.stderr and "hint:" in r.stderr
    assert files_under(tmp_path) == before  # nothing written anywhere, above ./artifacts or in it


@pytest.mark.parametrize("field, value, says", [
    ("name", "../../../escaped", "name '../../../escaped' is not the artifact's name 'data'"),
    ("name", "other", "name 'other' is not the artifact's name 'data'"),
    ("project", "elsewhere", "project 'elsewhere' is not the project 'default'"),
    ("version", 7, "version 7 is not its sequence number 0"),
    ("version", "0", "field 'version' of the wrong type (a string, not an integer)"),
    ("size", -1, "size -1 is not a whole number of bytes"),
    ("files", 2.5, "field 'files' of the wrong type (a number, not an integer)"),
], ids=["escape", "other-name", "project", "version", "version-str", "size", "files"])
def test_version_record_that_lies_about_itself_is_refused_and_reported(tmp_path, field, value, says):
    add_data(tmp_path)
    rewrite_record(tmp_path, VERSION_0, **{field: value})
    for args in (["get", "data:v0", "-o", "out"], ["show", "data:v0"]):
        r = run_art(*args, cwd=tmp_path)
        assert r.returncode == IntegrityError.exit_code, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("error: ") and f"record '{VERSION_0}' in store" in r.stderr, r.stderr
        assert says in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
    r = run_art("verify", cwd=tmp_path)
    assert r.returncode == IntegrityError.exit_code
    assert VERSION_0 in r.stdout and says in r.stdout, r.stdout


def test_version_record_digest_that_does_not_parse_names_the_record(tmp_path):
    add_data(tmp_path)
    rewrite_record(tmp_path, VERSION_0, digest="md5:not-hex")
    r = run_art("get", "data:v0", "-o", "out", cwd=tmp_path)
    assert r.returncode == IntegrityError.exit_code
    assert f"version record '{VERSION_0}'" in r.stderr and "digest 'md5:not-hex'" in r.stderr, r.stderr


def test_log_record_names_count_only_ascii_digits(tmp_path):
    add_data(tmp_path)
    folder = tmp_path / ".arty" / "projects" / "default" / "artifacts" / "data" / "versions"
    (folder / "\u0663.json").write_bytes(read(folder / "00000000.json"))  # ARABIC-INDIC DIGIT THREE
    r = run_art("ls", "data", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [row["qualified_name"] for row in json.loads(r.stdout)] == ["data:v0"]
    assert layout.parse_seq("\u0663.json") is None and layout.parse_seq("00000003.json") == 3


def test_python_api_refuses_a_lying_record_too(tmp_path):
    add_data(tmp_path)
    rewrite_record(tmp_path, VERSION_0, version=7)
    reg = arty.registry(str(tmp_path / ".arty"))
    for call in (lambda: reg.resolve("data:v0"), lambda: reg.version("data", 0)):
        with pytest.raises(IntegrityError, match="is not its sequence number 0"):
            call()
    with pytest.warns(RuntimeWarning, match="is not its sequence number 0"):  # latest skips it, named
        assert reg.latest("data") is None


# -- item 5: entry sizes are checked against the blob ---------------------------------------------


@pytest.mark.parametrize("claimed", [10**18, -5, 5.9, True, "6"], ids=["huge", "negative", "fraction", "bool", "text"])
def test_entry_size_that_does_not_match_its_blob_fails_get_and_verify(tmp_path, claimed):
    add_data(tmp_path, {"a.txt": "hello\n", "b.txt": "b" * 100})
    honest = arty.registry(str(tmp_path / ".arty")).resolve("data:v0")
    entries = {e.path: e.to_json() for e in honest.files()}
    entries["a.txt"]["size"] = claimed
    # The record agrees with the tree, as the old reader summed it (a careful forger).
    ref = craft_version(tmp_path, entries, size=int(float(claimed)) + 100)
    r = run_art("get", ref, "-o", "out", cwd=tmp_path)
    assert r.returncode == IntegrityError.exit_code, (r.stdout, r.stderr)
    assert "'a.txt'" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
    r = run_art("verify", ref, cwd=tmp_path)
    assert r.returncode == IntegrityError.exit_code, r.stdout
    assert "'a.txt'" in r.stdout, r.stdout
    r = run_art("verify", cwd=tmp_path)
    assert r.returncode == IntegrityError.exit_code and "'a.txt'" in r.stdout, r.stdout


def test_size_mismatch_names_the_path_and_the_blob(tmp_path):
    add_data(tmp_path)
    honest = arty.registry(str(tmp_path / ".arty")).resolve("data:v0")
    (entry,) = honest.files()
    ref = craft_version(tmp_path, {"a.txt": entry.to_json() | {"size": 10**18}})
    r = run_art("get", ref, "-o", "out", cwd=tmp_path)
    assert r.returncode == IntegrityError.exit_code
    assert f"'a.txt' is recorded as 1000000000000000000 bytes but object '{entry.digest}' holds 6" in r.stderr, \
        r.stderr
    r = run_art("verify", ref, cwd=tmp_path)
    assert f"'a.txt' is recorded as 1000000000000000000 bytes but object '{entry.digest}' holds 6" in r.stdout, \
        r.stdout
    v = arty.registry(str(tmp_path / ".arty")).resolve(ref)
    with pytest.raises(IntegrityError, match="holds 6"):
        v.read_bytes("a.txt")


# -- item 6: local references are downloaded only with consent ------------------------------------


@pytest.mark.parametrize("form", ["file-url", "plain-path"])
def test_crafted_local_reference_is_not_copied_without_consent(tmp_path, form):
    add_data(tmp_path)
    secret = make_tree(tmp_path / "home", {"secret.txt": "private key\n"}) + "/secret.txt"
    uri = "file://" + secret if form == "file-url" else secret
    entry = {"type": "ref", "uri": uri, "size": len("private key\n")}
    ref = craft_version(tmp_path, {"innocent.txt": entry})
    r = run_art("get", ref, "-o", "out", cwd=tmp_path)
    assert r.returncode == UsageError.exit_code, (r.stdout, r.stderr)
    assert f"'innocent.txt' is a reference to local file '{uri}'" in r.stderr, r.stderr
    assert "--allow-local-refs" in r.stderr
    assert not (tmp_path / "out").exists()
    v = arty.registry(str(tmp_path / ".arty")).resolve(ref)
    with pytest.raises(UsageError, match="allow_local_refs=True"):
        v.download(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # With consent it is fetched (and still checked against what was recorded).
    r = run_art("get", ref, "-o", "out", "--allow-local-refs", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert read(tmp_path / "out" / "innocent.txt") == b"private key\n"


def test_own_local_reference_downloads_with_the_option(tmp_path):
    make_tree(tmp_path / "bucket", {"raw.bin": b"\x00raw"})
    run_art("init", cwd=tmp_path, check=True)
    run_art("add", "--ref", str(tmp_path / "bucket" / "raw.bin"), "--type", "dataset", "--name", "raw",
            cwd=tmp_path, check=True)
    r = run_art("get", "raw", "-o", "got", cwd=tmp_path)
    assert r.returncode == UsageError.exit_code and "--allow-local-refs" in r.stderr
    run_art("get", "raw", "-o", "got", "--allow-local-refs", cwd=tmp_path, check=True)
    assert read(tmp_path / "got" / "raw.bin") == b"\x00raw"
    v = arty.registry(str(tmp_path / ".arty")).resolve("raw")
    assert read(os.path.join(v.download(tmp_path / "api", allow_local_refs=True), "raw.bin")) == b"\x00raw"


@pytest.mark.parametrize("uri, local", [
    ("file:///etc/hostname", True), ("/etc/hostname", True), ("etc/hostname", True), ("local:///etc/x", True),
    ("FILE:///etc/x", True), ("file:/etc/hostname", True), ("simplecache::file:///etc/hostname", True),
    ("zip://a.txt::file:///tmp/x.zip", True), ("s3://bucket/key", False), ("gs://bucket/key", False),
    ("memory://x/y", False),
])
def test_which_references_read_local_files(uri, local):
    from arty.store import is_local_uri

    assert is_local_uri(uri) is local


# -- item 7: no recursion limit on depth ----------------------------------------------------------


DEPTH = 1200


def deep_folder(root, depth: int = DEPTH, content: str = "deep\n") -> str:
    """``root/d/d/.../d/f.txt``, ``depth`` folders deep (os.makedirs itself recurses)."""
    path = str(root)
    os.mkdir(path)
    for _ in range(depth):
        path = os.path.join(path, "d")
        os.mkdir(path)
    with open(os.path.join(path, "f.txt"), "w") as f:
        f.write(content)
    return path


def remove_deep(root) -> None:
    """Remove a tree made by :func:`deep_folder` (shutil.rmtree recurses per level)."""
    stack = [str(root)]
    while stack:
        here = stack[-1]
        if not os.path.isdir(here):
            stack.pop()
            continue
        subdirs = [e.path for e in os.scandir(here) if e.is_dir(follow_symlinks=False)]
        if subdirs:
            stack.extend(subdirs)
            continue
        for e in os.scandir(here):
            os.unlink(e.path)
        os.rmdir(here)
        stack.pop()


@pytest.mark.slow
def test_very_deep_folder_adds_downloads_verifies_and_survives_gc(tmp_path):
    leaf = deep_folder(tmp_path / "deep")
    try:
        run_art("init", cwd=tmp_path, check=True)
        r = run_art("add", "deep", "--type", "dataset", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.startswith("deep:v0  created")
        with open(os.path.join(leaf, "f.txt"), "w") as f:
            f.write("deeper\n")
        r = run_art("add", "deep", "--type", "dataset", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "changes from v0: 0 added, 0 removed, 1 changed" in r.stdout
        path = "/".join(["d"] * DEPTH) + "/f.txt"
        assert run_art("diff", "deep:v0", "deep:v1", cwd=tmp_path, check=True).stdout.splitlines()[1] \
            .startswith(f"~ {path}")
        r = run_art("get", "deep:v0", "-o", "out", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        with open(os.path.join(str(tmp_path / "out"), *path.split("/"))) as f:
            assert f.read() == "deep\n"
        r = run_art("verify", cwd=tmp_path)
        assert r.returncode == 0 and "ok: 2 versions verified" in r.stdout, r.stdout + r.stderr[-2000:]
        r = run_art("gc", "--json", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        assert json.loads(r.stdout)["referenced"] == 2 * (DEPTH + 1) + 2  # every node of both trees, both files
        assert run_art("show", "deep:v1", "--json", cwd=tmp_path, check=True).stdout.count(path) == 1
    finally:
        for root in ("deep", "out"):
            remove_deep(tmp_path / root)


def test_crafted_deep_tree_does_not_crash_gc_or_verify(tmp_path):
    """A tree 5,000 nodes deep, written straight into the store (no folder needed)."""
    add_data(tmp_path)
    store = store_at(tmp_path)
    (entry,) = arty.registry(str(tmp_path / ".arty")).resolve("data:v0").files()
    node = {"a.txt": entry.to_json()}
    for _ in range(5000):
        digest = store.put_bytes(encode_json({"format": 1, "entries": node}))
        node = {"d": {"type": "dir", "digest": str(digest), "size": 6, "files": 1}}
    craft_version(tmp_path, node, size=6)
    r = run_art("gc", "--dry-run", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["blobs"] == 0
    r = run_art("verify", "data:v1", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]


def test_deeply_nested_config_is_refused_with_a_clear_limit(tmp_path):
    def nested(depth: int, leaf=1):
        value = leaf
        for _ in range(depth):
            value = {"k": value}
        return value

    store = str(tmp_path / "store")
    with pytest.raises(UsageError, match="config key 'deep' is nested more than 100 levels deep"):
        arty.init(project="p", config={"deep": nested(1000)}, dir=str(tmp_path / "runs"), store=store)
    from arty.tracking.config import MAX_CONFIG_DEPTH

    lists = [[1]]
    for _ in range(1000):
        lists = [lists]
    with pytest.raises(UsageError, match="nested more than"):
        arty.init(project="p", config={"deep": lists}, dir=str(tmp_path / "runs"), store=store)
    # Up to the limit is kept as it is.
    run = arty.init(project="p", config={"ok": nested(MAX_CONFIG_DEPTH - 1)}, dir=str(tmp_path / "runs"),
                    store=store)
    with pytest.raises(UsageError, match="nested more than"):
        run.config.update({"later": nested(1000)})
    with pytest.raises(UsageError, match="nested more than"):
        run.config["later"] = nested(1000)
    run.finish()
    assert MAX_CONFIG_DEPTH >= 20


# -- smaller: aliases that could never resolve ----------------------------------------------------


@pytest.mark.parametrize("alias", ["x.json", "prod.v1.json"])
def test_alias_that_cannot_be_resolved_is_refused(tmp_path, alias):
    add_data(tmp_path)
    r = run_art("alias", "data:v0", alias, cwd=tmp_path)
    assert r.returncode == InvalidName.exit_code, r.stdout + r.stderr
    assert f"error: invalid alias '{alias}'" in r.stderr
    assert not (tmp_path / ".arty" / "projects" / "default" / "artifacts" / "data" / "aliases").exists()


def test_every_alias_that_can_be_set_resolves(registry, tmp_path):
    v = registry.log(arty.Artifact("data").add_dir(make_tree(tmp_path / "data", {"a.txt": "a"}))).version
    for alias in ("prod", "v1.0", "best_2", "x.jsonl", "a-b", "json"):
        registry.set_alias("data", 0, alias)
        assert registry.resolve(f"data:{alias}") == v
    with pytest.raises(InvalidName, match="invalid alias 'x.json'"):
        registry.set_alias("data", 0, "x.json")


def test_alias_record_pointing_at_a_non_number_is_refused(tmp_path):
    add_data(tmp_path)
    run_art("alias", "data:v0", "prod", cwd=tmp_path, check=True)
    rel = "projects/default/artifacts/data/aliases/prod/00000000.json"
    rewrite_record(tmp_path, rel, version="../../x")
    r = run_art("get", "data:prod", "-o", "out", cwd=tmp_path)  # the bad move is skipped, named
    assert r.returncode == NotFound.exit_code, r.stderr
    assert f"warning: skipped a bad record: record '{rel}'" in r.stderr and "'version'" in r.stderr, r.stderr
