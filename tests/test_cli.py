"""Every ``art`` command through the real CLI.

Flows that depend on the process (the current folder, environment variables,
``python -m arty``) run ``art`` in a subprocess; the rest go through click's
in-process runner, which runs the same code faster.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from click.testing import CliRunner

from arty.cli import cli
from arty.store import layout, open_store
from conftest import make_tree, read, run_art, tree_of

DATA = {"train/0.png": "zero", "train/1.png": "one!", "test/2.png": "two two", "README": "digits\n"}
DATA_SIZE = sum(len(v) for v in DATA.values())  # 22 bytes
DIGEST = r"xxh128:[0-9a-f]{32}"
COMMANDS = {"init", "add", "ls", "show", "get", "alias", "diff", "verify"}


def art(*args: str, env: dict[str, str] | None = None):
    """Run ``art ARGS`` in-process; returns click's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    r = art(*args, env=env)
    assert r.exit_code == 0, f"art {' '.join(args)} -> {r.exit_code}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def js(*args: str, env: dict[str, str] | None = None):
    return json.loads(ok(*args, "--json", env=env))




@pytest.fixture
def data(tmp_path):
    return make_tree(tmp_path / "data", DATA)


# -- entry points ----------------------------------------------------------------


def test_python_m_arty_help_lists_every_command():
    proc = run_art("--help", check=True)
    assert "Usage:" in proc.stdout
    listed = set(re.findall(r"^  (\w+)\s", proc.stdout.split("Commands:")[1], re.M))
    assert COMMANDS <= listed
    for option in ("--store", "--project", "--version"):
        assert option in proc.stdout
    assert run_art("--version", check=True).stdout.startswith("art, version ")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command):
    out = ok(command, "--help")
    assert out.startswith(f"Usage: cli {command}") or out.startswith(f"Usage: art {command}")
    assert "--help" in out


# -- art add: the main job ------------------------------------------------------------


def test_add_creates_store_then_unchanged_then_v1(tmp_path, data):
    assert not (tmp_path / ".arty").exists()
    first = run_art("add", "data/", "--type", "dataset", check=True)
    assert (tmp_path / ".arty" / "store.json").is_file()  # created on first use
    m = re.fullmatch(rf"data:v0  created  ({DIGEST})  4 files  {DATA_SIZE} B\n", first.stdout)
    assert m, first.stdout
    digest = m.group(1)

    again = run_art("add", "data/", "--type", "dataset", check=True)
    assert again.stdout == f"data:v0  unchanged  {digest}  4 files  {DATA_SIZE} B\n"

    make_tree(tmp_path / "data", {"train/1.png": "ONE!!"})
    third = run_art("add", "data/", "--type", "dataset", check=True)
    lines = third.stdout.splitlines()
    assert re.fullmatch(rf"data:v1  created  {DIGEST}  4 files  {DATA_SIZE + 1} B", lines[0])
    assert digest not in lines[0]
    assert lines[1] == "  changes from v0: 0 added, 0 removed, 1 changed"
    assert lines[2] == "    ~ train/1.png"


def test_add_summarises_added_and_removed_files(tmp_path, data):
    ok("add", "data", "--type", "dataset")
    os.remove(tmp_path / "data" / "README")
    make_tree(tmp_path / "data", {"extra/new.txt": "n"})
    out = ok("add", "data", "--type", "dataset")
    assert "changes from v0: 1 added, 1 removed, 0 changed" in out
    assert "    + extra/new.txt" in out.splitlines()
    assert "    - README" in out.splitlines()


def test_add_dot_in_the_project_root_leaves_the_store_out(tmp_path, data):
    first = run_art("add", ".", "--type", "dataset", "--name", "all", check=True).stdout
    assert first.startswith("all:v0  created") and "  4 files  " in first
    again = run_art("add", ".", "--type", "dataset", "--name", "all", check=True).stdout
    assert again.startswith("all:v0  unchanged")
    assert all(f["path"].startswith("data/") for f in js("show", "all")["file_list"])


def test_add_json(data):
    first = js("add", "data", "--type", "dataset")
    assert first["qualified_name"] == "data:v0" and first["created"] is True
    assert (first["files"], first["size"], first["type"]) == (4, DATA_SIZE, "dataset")
    assert re.fullmatch(DIGEST, first["digest"])
    assert "changes" not in first
    again = js("add", "data", "--type", "dataset")
    assert again["created"] is False and again["digest"] == first["digest"]


def test_add_with_alias_description_and_metadata(data):
    out = ok("add", "data", "--type", "dataset", "--name", "mnist", "--alias", "prod", "--alias", "best",
             "--description", "hand-written digits", "--metadata", '{"source": "lecun", "n": 3}')
    assert out.startswith("mnist:v0  created")
    assert "  aliases: best, prod" in out.splitlines()
    shown = js("show", "mnist:prod")
    assert shown["aliases"] == ["latest", "best", "prod"]
    assert shown["description"] == "hand-written digits"
    assert shown["metadata"] == {"source": "lecun", "n": 3}
    text = ok("show", "mnist")
    assert "  description: hand-written digits" in text
    assert '  metadata:    {"n": 3, "source": "lecun"}' in text


@pytest.mark.parametrize("bad", ["{bad", "[1, 2]", "3"])
def test_add_with_bad_metadata_exits_2_and_logs_nothing(tmp_path, data, bad):
    r = art("add", "data", "--type", "dataset", "--metadata", bad)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: invalid --metadata '{bad}'")
    assert "hint:" in r.stderr
    assert not (tmp_path / ".arty").exists()  # refused before anything was created


def test_add_with_metadata_json_cannot_store_exits_2(tmp_path, data):
    r = art("add", "data", "--type", "dataset", "--metadata", '{"x": NaN}')
    assert r.exit_code == 2
    assert r.stderr.startswith("error: invalid metadata for artifact 'data'")
    assert not (tmp_path / ".arty").exists()


def test_add_errors_use_git_style_messages(tmp_path):
    r = art("add", "nope", "--type", "dataset")
    assert (r.exit_code, r.stderr.splitlines()[0]) == (3, "error: path 'nope' not found")
    r = art("add", "--type", "dataset")
    assert r.exit_code == 2 and r.stderr.startswith("error: nothing to add")
    r = art("add", str(tmp_path), "--type", "dataset", "--name", "bad name")
    assert r.exit_code == 2 and r.stderr.startswith("error: invalid artifact name 'bad name'")
    r = art("add", "x")  # --type is required (click's own usage error)
    assert r.exit_code == 2 and "--type" in r.stderr


def test_add_ref_records_without_copying(tmp_path):
    make_tree(tmp_path / "bucket", {"raw.bin": b"\x00raw bytes"})
    out = ok("add", "--ref", str(tmp_path / "bucket" / "raw.bin"), "--type", "dataset", "--name", "raw")
    assert out.startswith("raw:v0  created")
    shown = js("show", "raw")
    (entry,) = shown["file_list"]
    assert entry["type"] == "ref" and entry["path"] == "raw.bin"
    assert entry["uri"] == "file://" + str(tmp_path / "bucket" / "raw.bin")
    assert entry["size"] == len(b"\x00raw bytes")
    store = open_store(str(tmp_path / ".arty"))
    assert store.digest_of(b"\x00raw bytes") not in set(store.iter_blobs())  # recorded, not copied
    r = art("get", "raw", "-o", "got")  # a local file is copied only with consent
    assert r.exit_code == 2 and "--allow-local-refs" in r.stderr and not (tmp_path / "got").exists()
    ok("get", "raw", "-o", "got", "--allow-local-refs")
    assert read(tmp_path / "got" / "raw.bin") == b"\x00raw bytes"
    assert "file://" in ok("show", "raw")

    r = art("add", "--ref", str(tmp_path / "bucket"), "--type", "dataset")
    assert r.exit_code == 2 and "--name is required with --ref" in r.stderr


def test_add_several_paths_puts_each_under_its_base_name(tmp_path):
    make_tree(tmp_path, {"images/a.png": "a", "images/sub/b.png": "b", "labels.csv": "l", "more/c": "c"})
    out = ok("add", "images", "labels.csv", "more", "--type", "dataset", "--name", "mix")
    assert out.startswith("mix:v0  created") and "4 files" in out
    assert [f["path"] for f in js("show", "mix")["file_list"]] == [
        "images/a.png", "images/sub/b.png", "labels.csv", "more/c"]
    # Without --name, the first path names the artifact.
    assert ok("add", "labels.csv", "images", "--type", "dataset").startswith("labels.csv:v0  created")


def test_add_paths_and_refs_together(tmp_path, data):
    make_tree(tmp_path / "bucket", {"r.bin": "ref"})
    ok("add", "data", "--ref", str(tmp_path / "bucket" / "r.bin"), "--type", "dataset")
    files = {f["path"]: f["type"] for f in js("show", "data")["file_list"]}
    assert files == {"README": "file", "test/2.png": "file", "train/0.png": "file", "train/1.png": "file",
                     "r.bin": "ref"}


# -- art init and finding the store ------------------------------------------------


def test_init_local_store(tmp_path):
    out = run_art("init", check=True).stdout
    assert out == f"created store at {tmp_path / '.arty'} (hash xxh128)\n"
    assert json.loads(read(tmp_path / ".arty" / "store.json"))["format"] == 1
    assert run_art("init", check=True).stdout == f"found existing store at {tmp_path / '.arty'} (hash xxh128)\n"
    info = js("init")
    assert info == {"store": str(tmp_path / ".arty"), "created": False, "hash": "xxh128", "pointer": None}


def test_init_with_default_project(tmp_path, data):
    ok("init", "--project", "vision")
    ok("add", "data", "--type", "dataset")
    assert os.path.isdir(tmp_path / ".arty" / "projects" / "vision" / "artifacts" / "data")
    assert [r["name"] for r in js("ls")] == ["data"]
    # 'default' is not this store's default project, and has nothing: unknown, as for 'art runs'
    r = art("ls", "--json", env={"ARTY_PROJECT": "default"})
    assert r.exit_code == 3 and "error: project 'default' not found (projects: vision)" in r.stderr
    r = art("init", "elsewhere", "--project", "bad name")
    assert r.exit_code == 2 and "invalid project name" in r.stderr


def test_init_other_folder_writes_a_pointer_that_commands_follow(tmp_path):
    proj = tmp_path / "proj"
    make_tree(proj / "sub", DATA)
    out = run_art("init", "../elsewhere", cwd=proj, check=True).stdout
    elsewhere = tmp_path / "elsewhere"
    assert out.splitlines() == [f"created store at {elsewhere} (hash xxh128)",
                                f"commands run under {proj} now use it ({proj / '.arty' / 'config.json'})"]
    assert json.loads(read(proj / ".arty" / "config.json")) == {"store": str(elsewhere)}
    assert not (proj / ".arty" / "store.json").exists()
    assert (elsewhere / "store.json").is_file()

    # From a subfolder of proj: the pointer is found upward and followed.
    added = run_art("add", ".", "--type", "dataset", "--name", "data", cwd=proj / "sub", check=True)
    assert added.stdout.startswith("data:v0  created")
    assert os.listdir(elsewhere / "projects" / "default" / "artifacts") == ["data"]
    assert not (proj / ".arty" / "projects").exists()
    assert not (proj / "sub" / ".arty").exists()
    assert "data" in run_art("ls", cwd=proj, check=True).stdout


def test_init_elsewhere_refused_where_a_local_store_exists(tmp_path):
    ok("init")
    r = art("init", str(tmp_path / "other"))
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: '{tmp_path / '.arty'}' is already a local store")


def test_init_at_the_store_option(tmp_path, data):
    ok("--store", str(tmp_path / "team"), "init", "--hash", "sha256")
    assert json.loads(read(tmp_path / "team" / "store.json"))["hash"] == "sha256"
    ok("add", "data", "--type", "dataset")  # found through ./.arty/config.json
    assert os.path.isdir(tmp_path / "team" / "projects" / "default" / "artifacts" / "data")


def test_init_with_a_missing_hash_package_creates_nothing(tmp_path):
    try:
        import blake3  # noqa: F401
    except ImportError:
        r = art("init", "--hash", "blake3")
        assert r.exit_code == 4
        assert r.stderr.splitlines() == ["error: hash algorithm 'blake3' needs the blake3 package",
                                         "hint: pip install blake3"]
        assert not (tmp_path / ".arty").exists()
    else:
        assert js("init", "--hash", "blake3")["hash"] == "blake3"


def test_init_json_with_pointer(tmp_path):
    info = js("init", "store-dir")
    assert info == {"store": str(tmp_path / "store-dir"), "created": True, "hash": "xxh128",
                    "pointer": str(tmp_path / ".arty" / "config.json")}


def test_store_is_found_upward_like_git(tmp_path):
    run_art("init", check=True)
    deep = tmp_path / "a" / "b" / "c"
    make_tree(deep / "data", DATA)
    run_art("add", "data", "--type", "dataset", cwd=deep, check=True)
    assert not (deep / ".arty").exists()
    assert not (tmp_path / "a" / ".arty").exists()
    assert os.path.isdir(tmp_path / ".arty" / "projects" / "default" / "artifacts" / "data")
    listed = json.loads(run_art("ls", "--json", cwd=tmp_path / "a", check=True).stdout)
    assert [r["name"] for r in listed] == ["data"]


# -- global options and environment ---------------------------------------------------


def test_store_option_and_env(tmp_path, data):
    other = str(tmp_path / "other-store")
    ok("--store", other, "add", "data", "--type", "dataset")
    assert (tmp_path / "other-store" / "store.json").is_file()
    assert not (tmp_path / ".arty").exists()
    assert [r["name"] for r in js("--store", other, "ls")] == ["data"]

    # The same through the environment, in a real process.
    proc = run_art("ls", "--json", env={"ARTY_STORE": other}, check=True)
    assert [r["name"] for r in json.loads(proc.stdout)] == ["data"]
    # The option wins over the environment.
    r = art("--store", str(tmp_path / "third"), "ls", env={"ARTY_STORE": other})
    assert r.exit_code == 3 and f"no store at '{tmp_path / 'third'}'" in r.stderr
    assert not (tmp_path / "third").exists()


def test_project_option_and_env(tmp_path, data):
    ok("--project", "vision", "add", "data", "--type", "dataset")
    assert js("ls") == []
    assert [r["name"] for r in js("--project", "vision", "ls")] == ["data"]
    proc = run_art("ls", "--json", env={"ARTY_PROJECT": "vision"}, check=True)
    assert [r["name"] for r in json.loads(proc.stdout)] == ["data"]
    # project/name reaches another project from the default one.
    assert js("show", "vision/data:v0")["project"] == "vision"
    assert js("ls", "vision/data")[0]["qualified_name"] == "data:v0"
    r = art("--project", "bad/name", "ls")
    assert r.exit_code == 2 and "invalid project name" in r.stderr


# -- reading commands -------------------------------------------------------------------


@pytest.fixture
def two_versions(tmp_path, data):
    ok("add", "data", "--type", "dataset", "--alias", "prod")
    make_tree(tmp_path / "data", {"train/1.png": "ONE!!", "extra.txt": "x"})
    ok("add", "data", "--type", "dataset")
    return data


def test_ls(tmp_path, two_versions):
    make_tree(tmp_path / "m", {"w.bin": "weights"})
    ok("add", "m", "--type", "model", "--name", "net")
    lines = ok("ls").splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "LATEST", "VERSIONS", "SIZE", "FILES", "UPDATED"]
    assert lines[1].split()[:7] == ["data", "dataset", "v1", "2", str(DATA_SIZE + 2), "B", "5"]
    assert lines[2].split()[:6] == ["net", "model", "v0", "1", "7", "B"]
    rows = js("ls")
    assert [(r["name"], r["type"], r["latest"], r["versions"], r["files"], r["size"]) for r in rows] == [
        ("data", "dataset", "v1", 2, 5, DATA_SIZE + 2), ("net", "model", "v0", 1, 1, 7)]
    assert all(r["updated"] for r in rows)


def test_ls_without_a_store_creates_none(tmp_path):
    for args in (["ls"], ["show", "x"], ["get", "x"], ["verify"], ["diff", "x:v0", "x:v1"], ["alias", "x:v0", "p"]):
        r = art(*args)
        assert r.exit_code == 3, args
        assert r.stderr.startswith(f"error: no store found in '{tmp_path}' or above"), args
    assert not (tmp_path / ".arty").exists()


def test_ls_empty_store(tmp_path):
    ok("init")
    assert ok("ls") == f"no artifacts in project 'default' of store {tmp_path / '.arty'}\n"
    assert js("ls") == []


def test_ls_name_lists_versions_with_aliases(two_versions):
    lines = ok("ls", "data").splitlines()
    assert lines[0].split() == ["VERSION", "ALIASES", "SIZE", "FILES", "CREATED", "DIGEST"]
    assert lines[1].split()[:2] == ["v0", "prod"]
    assert lines[2].split()[:2] == ["v1", "latest"]
    rows = js("ls", "data")
    assert [(r["version"], r["qualified_name"], r["aliases"], r["files"]) for r in rows] == [
        ("v0", "data:v0", ["prod"], 4), ("v1", "data:v1", ["latest"], 5)]
    assert all(re.fullmatch(DIGEST, r["digest"]) and r["created"] and "size" in r for r in rows)
    r = art("ls", "nope")
    assert r.exit_code == 3
    assert r.stderr.splitlines()[0] == "error: artifact 'nope' not found in project 'default' (artifacts: data)"


def test_show(two_versions):
    text = ok("show", "data:prod").splitlines()
    assert text[0] == "default/data:v0"
    assert re.fullmatch(rf"  digest:      {DIGEST}", text[1])
    assert "  type:        dataset" in text
    assert f"  size:        {DATA_SIZE} B in 4 files" in text
    assert "  aliases:     prod" in text
    assert any(line.startswith("    train/1.png  4 B  ") for line in text)
    shown = js("show", "data")
    assert shown["qualified_name"] == "data:v1" and shown["version"] == "v1"
    assert shown["aliases"] == ["latest"]
    assert (shown["files"], shown["files_total"], shown["offset"]) == (5, 5, 0)
    assert {f["path"] for f in shown["file_list"]} == set(DATA) | {"extra.txt"}
    for f in shown["file_list"]:
        assert set(f) >= {"path", "digest", "size", "type"}
    r = art("show", "data:v9")
    assert r.exit_code == 3
    assert r.stderr.splitlines() == ["error: artifact 'data:v9' not found (versions: v0, v1)",
                                     "hint: 'art ls data' lists its versions"]


def test_show_pages_files(tmp_path):
    make_tree(tmp_path / "many", {f"f{i}.txt": str(i) for i in range(7)})
    ok("add", "many", "--type", "dataset")
    text = ok("show", "many", "--limit", "2", "--offset", "1").splitlines()
    listed = [line.split()[0] for line in text if line.startswith("    f")]
    assert listed == ["f1.txt", "f2.txt"]
    assert text[-1] == "    ... 4 more (--offset 3 for the next page, --limit 0 for all)"
    page = js("show", "many", "--limit", "3", "--offset", "3")
    assert [f["path"] for f in page["file_list"]] == ["f3.txt", "f4.txt", "f5.txt"]
    assert (page["files_total"], page["offset"]) == (7, 3)
    assert len(js("show", "many", "--limit", "0")["file_list"]) == 7
    assert js("show", "many", "--offset", "10")["file_list"] == []
    assert "more" not in ok("show", "many", "--limit", "0")


def test_get(tmp_path, two_versions):
    out = ok("get", "data:v0", "-o", "out")
    assert out == f"data:v0  4 files  {DATA_SIZE} B  -> out\n"
    assert tree_of(tmp_path / "out") == {k: v.encode() for k, v in DATA.items()}
    info = js("get", "data", "--output", "latest-out")
    assert info["artifact"] == "data:v1" and info["path"] == str(tmp_path / "latest-out")
    assert (info["files"], info["size"]) == (5, DATA_SIZE + 2)
    assert tree_of(tmp_path / "latest-out") == tree_of(tmp_path / "data")
    # Default target folder.
    ok("get", "data:prod")
    assert tree_of(tmp_path / "artifacts" / "data:v0") == tree_of(tmp_path / "out")


def test_get_into_a_file_is_refused(tmp_path, two_versions):
    (tmp_path / "taken").write_bytes(b"mine")
    r = art("get", "data", "-o", "taken")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: cannot download into 'taken': it is a file")
    assert (tmp_path / "taken").read_bytes() == b"mine"


def test_get_unknown_alias_lists_what_exists(two_versions):
    r = art("get", "data:staging")
    assert r.exit_code == 3
    assert r.stderr.splitlines()[0] == ("error: alias 'staging' of artifact 'data' not found "
                                        "(aliases: latest, prod; versions: v0, v1)")


def test_alias_set_move_delete_history(two_versions):
    assert ok("alias", "data:v1", "prod") == "data:prod -> v1\n"
    assert js("ls", "data")[1]["aliases"] == ["latest", "prod"]
    assert js("alias", "data:v0", "prod") == {"artifact": "data", "alias": "prod", "version": "v0"}
    assert ok("alias", "--delete", "data", "prod") == "deleted alias 'prod' of 'data' (was v0)\n"
    assert js("show", "data:v0")["aliases"] == []

    lines = ok("alias", "--history", "data", "prod").splitlines()
    assert lines[0].split() == ["SEQ", "TARGET", "AT", "BY"]
    assert [line.split()[:2] for line in lines[1:]] == [["0", "v0"], ["1", "v1"], ["2", "v0"], ["3", "deleted"]]
    history = js("alias", "--history", "data", "prod")
    assert [(h["seq"], h["version"]) for h in history] == [(0, "v0"), (1, "v1"), (2, "v0"), (3, None)]
    assert all(set(h) >= {"alias", "at", "by", "version"} for h in history)

    ok("alias", "data:latest", "prod")
    assert js("alias", "--delete", "data", "prod") == {"artifact": "data", "alias": "prod", "deleted": True,
                                                       "was": "v1"}
    r = art("alias", "--delete", "data", "prod")
    assert r.exit_code == 3 and "alias 'prod' of artifact 'data' not found" in r.stderr


def test_every_json_output_gives_a_version_as_v_and_its_number(tmp_path, two_versions):
    # one form everywhere, as the Python API's ArtifactVersion.version and W&B's artifact.version
    ok("alias", "data:v0", "stable")
    ok("alias", "--delete", "data", "stable")
    make_tree(tmp_path / "more", {"new.txt": "n"})
    outputs = {
        "add": js("add", "more", "--type", "dataset", "--name", "data"),
        "ls": js("ls"), "ls NAME": js("ls", "data"), "show": js("show", "data:v1"),
        "alias": js("alias", "data:v1", "best"), "alias --history": js("alias", "--history", "data", "stable"),
        "lineage": js("lineage", "data:v0"),
    }
    seen = []

    def walk(where: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in ("version", "latest", "was"):
                    seen.append((where, k, v))
                walk(where, v)
        elif isinstance(value, list):
            for v in value:
                walk(where, v)

    for where, value in outputs.items():
        walk(where, value)
    assert {where for where, _, _ in seen} == set(outputs)  # each output has a version somewhere
    bad = [(where, k, v) for where, k, v in seen if not (isinstance(v, str) and re.fullmatch(r"v\d+", v))
           and not (where == "alias --history" and v is None)]
    assert bad == []
    assert outputs["add"]["version"] == "v2" and outputs["ls"][0]["latest"] == "v2"
    assert [h["version"] for h in outputs["alias --history"]] == ["v0", None]


def test_alias_errors(two_versions):
    for reserved in ("latest", "v5"):
        r = art("alias", "data:v0", reserved)
        assert r.exit_code == 2 and r.stderr.startswith(f"error: alias '{reserved}' is reserved")
    r = art("alias", "data", "prod")
    assert r.exit_code == 2 and "which version should 'prod' point at?" in r.stderr
    r = art("alias", "--delete", "data:v0", "prod")
    assert r.exit_code == 2 and "without a version" in r.stderr
    r = art("alias", "data:v7", "prod")
    assert r.exit_code == 3 and "'data:v7' not found" in r.stderr
    r = art("alias", "--history", "data", "never")
    assert r.exit_code == 3


def test_diff(two_versions):
    lines = ok("diff", "data:v0", "data:v1").splitlines()
    assert lines[0] == "data:v0 -> data:v1: 1 added, 0 removed, 1 changed"
    assert "+ extra.txt  1 B" in lines
    assert "~ train/1.png  4 B -> 5 B" in lines
    assert js("diff", "data:prod", "data:latest") == {
        "from": "data:v0", "to": "data:v1", "added": ["extra.txt"], "removed": [], "changed": ["train/1.png"]}
    assert js("diff", "data:v1", "data:v0")["removed"] == ["extra.txt"]
    assert ok("diff", "data:v0", "data:prod") == "data:v0 -> data:v0: no changes\n"


@pytest.mark.usefixtures("loose_blobs")  # damages objects/ files one by one
def test_verify_ok_then_corrupt(tmp_path, two_versions):
    assert ok("verify") == f"ok: 2 versions verified in store {tmp_path / '.arty'}\n"
    assert ok("verify", "data") == "ok: 2 versions verified in data\n"
    assert ok("verify", "data:v0") == "ok: 1 version verified in data:v0\n"
    assert js("verify") == {"ok": True, "problems": [], "versions": 2}

    store = open_store(str(tmp_path / ".arty"))
    blob = store.digest_of(b"zero")
    with open(store.backend.local_path(layout.blob(blob)), "wb") as f:
        f.write(b"ZERO")
    r = art("verify")
    assert r.exit_code == 5
    assert f"bad: object '{blob}' is corrupt" in r.stdout
    report = json.loads(art("verify", "--json").stdout)
    assert report["ok"] is False
    assert [(p["kind"], p["subject"]) for p in report["problems"]] == [("corrupt", str(blob))]
    assert art("verify", "data:v1").exit_code == 5
    r = art("get", "data:v0", "-o", "broken")
    assert r.exit_code == 5 and str(blob) in r.stderr
    assert not (tmp_path / "broken").exists()


def test_verify_names_a_changed_reference(tmp_path):
    make_tree(tmp_path / "bucket", {"raw.bin": "original"})
    ok("add", "--ref", str(tmp_path / "bucket" / "raw.bin"), "--type", "dataset", "--name", "raw")
    assert ok("verify", "raw").startswith("ok:")
    (tmp_path / "bucket" / "raw.bin").write_bytes(b"ORIGINAL")  # same size, other bytes
    r = art("verify", "raw")
    assert r.exit_code == 5
    assert f"bad: referenced object 'file://{tmp_path / 'bucket' / 'raw.bin'}' changed" in r.stdout
    r = art("get", "raw", "-o", "out", "--allow-local-refs")
    assert r.exit_code == 5 and "changed since it was recorded" in r.stderr
    assert not (tmp_path / "out").exists()


def test_sizes_are_human_readable(tmp_path):
    make_tree(tmp_path / "big", {"a.bin": b"\x00" * (3 * 1024 * 1024 // 2)})
    assert "1.5 MiB" in ok("add", "big", "--type", "model")
