"""The working-folder loop: art checkout, art status, art diff against a folder, and arty.lock
with real git (init, commit, checkout of an old lock file, clone, merge)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from arty.artifacts.lockfile import LOCK_NAME, LockFile, parse
from arty.artifacts.workspace import FolderHasher, compare
from arty.cli import cli
from arty.errors import UsageError
from arty.hashing import StatCache
from conftest import make_tree, tree_of

V0 = {"a.txt": "alpha", "b.txt": "bravo", "sub/c.txt": "charlie"}
V1 = {"a.txt": "alpha", "b.txt": "BRAVO!", "sub/c.txt": "charlie", "new/d.txt": "delta"}


def art(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def ok(*args: str) -> str:
    r = art(*args)
    assert r.exit_code == 0, f"art {' '.join(args)} -> {r.exit_code}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def js(*args: str):
    return json.loads(ok(*args, "--json"))


def git(*args: str, cwd=None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x", GIT_COMMITTER_NAME="t",
                                   GIT_COMMITTER_EMAIL="t@x", GIT_CONFIG_GLOBAL=os.devnull,
                                   GIT_CONFIG_NOSYSTEM="1"))
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def write(root, files: dict[str, str]) -> None:
    """Make ``root`` hold exactly ``files``."""
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    make_tree(root, files)


def stats(root) -> dict[str, tuple[int, int]]:
    """``{path: (inode, mtime_ns)}`` of every file under root."""
    out = {}
    for here, _dirs, files in os.walk(root):
        for name in files:
            st = os.stat(os.path.join(here, name))
            out[os.path.relpath(os.path.join(here, name), root)] = (st.st_ino, st.st_mtime_ns)
    return out


def as_bytes(files: dict[str, str]) -> dict[str, bytes]:
    return {k: v.encode() for k, v in files.items()}


@pytest.fixture
def two_versions(tmp_path):
    """raw:v0 and raw:v1 in ./.arty, added from a scratch folder outside any repository."""
    ok("init")  # here, whatever stores there are above
    write(tmp_path / "scratch" / "raw", V0)
    ok("add", "scratch/raw", "--type", "dataset")
    write(tmp_path / "scratch" / "raw", V1)
    ok("add", "scratch/raw", "--type", "dataset")
    assert not (tmp_path / LOCK_NAME).exists()  # not a git work tree, no arty.lock: nothing recorded
    return tmp_path


@pytest.fixture
def repo(tmp_path):
    """A git work tree whose store lives outside it, named by a committed .arty/config.json."""
    work = tmp_path / "repo"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    os.chdir(work)
    ok("init", str(tmp_path / "store"))
    (work / ".gitignore").write_text("/data/\n")  # the data is versioned by Arty, not by git
    return work


# -- art get stays a download into a new or empty folder; art checkout makes a folder match --------


def test_get_refuses_a_folder_that_is_not_empty_and_checkout_makes_it_match(two_versions):
    ok("get", "raw:v1", "-o", "out")
    before = tree_of("out")
    r = art("get", "raw:v0", "-o", "out")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        "error: cannot download into 'out': it is not empty",
        "hint: 'art checkout raw:v0 out' makes it hold exactly raw:v0 (removing what the version does not "
        "have); or choose a new folder with -o DIR"]
    assert tree_of("out") == before
    os.makedirs("empty")
    ok("get", "raw:v0", "-o", "empty")  # an empty folder is fine
    assert tree_of("empty") == as_bytes(V0)

    kept = stats("out")["a.txt"]
    out = ok("checkout", "raw:v0", "out")
    assert out.splitlines()[0] == "out: default/raw:v0  1 fetched, 1 removed, 2 files kept"
    assert tree_of("out") == as_bytes(V0)             # v1's extra file and its folder are gone
    assert not os.path.exists("out/new")
    assert stats("out")["a.txt"] == kept              # unchanged files untouched: same inode, same mtime
    # Re-adding the folder finds v0 again: no version that never existed.
    assert ok("add", "out", "--name", "raw", "--type", "dataset").startswith("raw:v0  unchanged")


def test_checkout_into_a_new_folder_and_again_changes_nothing(two_versions):
    assert js("checkout", "raw:v1", "fresh/deeper")[0]["fetched"] == sorted(V1)
    assert tree_of("fresh/deeper") == as_bytes(V1)
    before = stats("fresh/deeper")
    again = js("checkout", "raw:v1", "fresh/deeper")[0]
    assert (again["fetched"], again["removed"], again["kept"]) == ([], [], 4)
    assert stats("fresh/deeper") == before


def test_checkout_refuses_to_discard_changes_no_version_holds_and_changes_nothing(two_versions):
    ok("checkout", "raw:v1", "out")
    make_tree("out", {"b.txt": "my own edit", "mine.csv": "x,y"})
    before_tree, before_stats = tree_of("out"), stats("out")
    r = art("checkout", "raw:v0", "out")
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == ("error: checkout of 'raw:v0' would discard local changes in 'out' that no "
                                        "version holds: b.txt (modified), mine.csv (added)")
    assert "--force" in r.stderr.splitlines()[1]
    assert tree_of("out") == before_tree and stats("out") == before_stats
    # --force discards them.
    assert js("checkout", "raw:v0", "out", "--force")[0]["discarded"] == ["b.txt", "mine.csv"]
    assert tree_of("out") == as_bytes(V0)


def test_checkout_replaces_content_that_some_version_holds_without_force(two_versions):
    # The folder was not checked out from anything recorded; its files are v1's content, plus a
    # copy of v0's b.txt under another name: every byte of it is in some version of 'raw'.
    write("out", V1 | {"copy-of-b.txt": "bravo"})
    ok("checkout", "raw:v0", "out")
    assert tree_of("out") == as_bytes(V0)


def test_checkout_swaps_a_file_and_a_folder_of_the_same_name(tmp_path):
    ok("init")
    write("src", {"x": "a file named x", "keep.txt": "k"})
    ok("add", "src", "--name", "shape", "--type", "dataset")
    write("src", {"x/inside.txt": "now x is a folder", "keep.txt": "k"})
    ok("add", "src", "--name", "shape", "--type", "dataset")
    ok("get", "shape:v0", "-o", "out")
    ok("checkout", "shape:v1", "out")
    assert tree_of("out") == {"x/inside.txt": b"now x is a folder", "keep.txt": b"k"}
    ok("checkout", "shape:v0", "out")
    assert tree_of("out") == {"x": b"a file named x", "keep.txt": b"k"}


def test_compare_uses_the_stat_cache_so_unchanged_files_are_not_read_again(two_versions, monkeypatch):
    import arty.hashing

    ok("checkout", "raw:v1", "out")
    # Files written this second are "racy" (git's word) and always re-read; this test is about the
    # files that are not, so no window: an entry hashed after the file's last change is trusted.
    monkeypatch.setattr(arty.hashing, "RACY_WINDOW_NS", 0)
    cache = StatCache(":memory:")
    from arty.artifacts import Registry
    from arty.store import open_store

    v1 = Registry(open_store(".arty"), "default", cache).resolve("raw:v1")
    first = FolderHasher("out", cache, "xxh128")
    assert not compare("out", v1.files(), first)
    first.save()
    assert first.hashed == 4
    second = FolderHasher("out", cache, "xxh128")
    assert not compare("out", v1.files(), second)
    assert second.hashed == 0
    make_tree("out", {"b.txt": "BRAVO?"})  # same size, new content: read again, found modified
    third = FolderHasher("out", cache, "xxh128")
    d = compare("out", v1.files(), third)
    assert [e.path for e, _ in d.modified] == ["b.txt"] and third.hashed == 1


def test_diff_of_a_version_and_a_folder(two_versions):
    ok("get", "raw:v0", "-o", "out")
    make_tree("out", {"extra.bin": "12345", "b.txt": "changed!"})
    os.unlink("out/sub/c.txt")
    assert js("diff", "raw:v0", "out") == {"from": "raw:v0", "to": "out", "added": ["extra.bin"],
                                           "removed": ["sub/c.txt"], "changed": ["b.txt"]}
    lines = ok("diff", "raw:v0", "out").splitlines()
    assert lines == ["raw:v0 -> out: 1 added, 1 removed, 1 changed", "+ extra.bin  5 B", "- sub/c.txt  7 B",
                     "~ b.txt  5 B -> 8 B"]
    assert ok("diff", "raw:v0", "raw:v1").startswith("raw:v0 -> raw:v1: 1 added, 0 removed, 1 changed")
    r = art("diff", "out")  # not recorded anywhere: say how to compare it
    assert r.exit_code == 2 and r.stderr.startswith("error: folder 'out' is not recorded in 'arty.lock'")


# -- arty.lock with git ----------------------------------------------------------------------------


def test_the_git_loop_old_commit_fresh_clone_and_drift(repo, tmp_path):
    write(repo / "data" / "raw", V0)
    out = ok("add", "data/raw", "--type", "dataset")
    assert "recorded in arty.lock: data/raw -> default/raw:v0" in out
    lock_text = (repo / LOCK_NAME).read_text()
    lines = lock_text.splitlines()
    assert lines[0].startswith("# arty.lock")
    assert lines[1].split("  ")[:2] == ["data/raw", "default/raw:v0"]
    assert (repo / ".gitattributes").read_text() == "arty.lock merge=union\n"
    git("add", "arty.lock", ".gitattributes", ".gitignore", ".arty/config.json", cwd=repo)
    git("commit", "-q", "-m", "data v0", cwd=repo)

    write(repo / "data" / "raw", V1)
    ok("add", "data/raw", "--type", "dataset")
    git("commit", "-q", "-am", "data v1", cwd=repo)
    assert "default/raw:v1" in (repo / LOCK_NAME).read_text()

    # The old commit's lock file, then art checkout: the old data, exactly.
    git("checkout", "-q", "HEAD~1", "--", LOCK_NAME, cwd=repo)
    assert js("status")[0]["clean"] is False  # the folder holds v1, the lock file says v0
    ok("checkout")
    assert tree_of(repo / "data" / "raw") == as_bytes(V0)
    assert js("status") == [{"path": "data/raw", "artifact": "default/raw:v0", "digest": js("status")[0]["digest"],
                             "clean": True, "exists": True, "added": [], "removed": [], "modified": []}]
    git("checkout", "-q", "HEAD", "--", LOCK_NAME, cwd=repo)
    ok("checkout")
    assert tree_of(repo / "data" / "raw") == as_bytes(V1)

    # A fresh clone has the lock file and the store pointer, not the data.
    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone))
    os.chdir(clone)
    st = js("status")
    assert st[0]["exists"] is False and sorted(st[0]["removed"]) == sorted(V1)
    assert "missing" in ok("status")
    ok("checkout")
    assert tree_of(clone / "data" / "raw") == as_bytes(V1)
    assert art("status", "-q").exit_code == 0

    # Drift: art status names it, writes nothing, and -q says so in its exit code.
    make_tree(clone / "data" / "raw", {"b.txt": "edited", "zz.txt": "new"})
    os.unlink(clone / "data" / "raw" / "sub" / "c.txt")
    store = tmp_path / "store"
    before = {k: v for k, v in tree_of(store).items() if not k.startswith("cache/")}
    folder_before, lock_before = stats(clone / "data"), (clone / LOCK_NAME).read_bytes()
    assert ok("status").splitlines() == [
        "data/raw: default/raw:v1  1 added, 1 removed, 1 modified",
        "    added:    data/raw/zz.txt", "    removed:  data/raw/sub/c.txt", "    modified: data/raw/b.txt"]
    r = art("status", "-q")
    assert (r.exit_code, r.stdout) == (1, "")
    assert ok("status", "data/raw").splitlines()[0].endswith("1 added, 1 removed, 1 modified")
    assert {k: v for k, v in tree_of(store).items() if not k.startswith("cache/")} == before
    assert stats(clone / "data") == folder_before and (clone / LOCK_NAME).read_bytes() == lock_before
    assert js("diff", "data/raw") == {"from": "raw:v1", "to": "data/raw", "added": ["zz.txt"],
                                      "removed": ["sub/c.txt"], "changed": ["b.txt"]}


def test_checkout_by_artifact_or_by_folder_updates_the_lock_file(repo):
    write(repo / "data" / "raw", V0)
    ok("add", "data/raw", "--type", "dataset")
    write(repo / "data" / "raw", V1)
    ok("add", "data/raw", "--type", "dataset")
    ok("checkout", "raw:v0")  # REF alone: the folder recorded for the artifact
    assert tree_of(repo / "data" / "raw") == as_bytes(V0)
    assert "default/raw:v0" in (repo / LOCK_NAME).read_text()
    make_tree(repo / "data" / "raw", {"b.txt": "BRAVO!"})  # v1's content: safe to replace
    os.chdir(repo / "data")
    ok("checkout", "raw")  # a recorded folder: back to the version the lock file names, from a subfolder
    assert tree_of(repo / "data" / "raw") == as_bytes(V0)
    os.chdir(repo)
    ok("checkout", "raw:v1", "data/copy")  # a new folder below the root is recorded too
    entries = LockFile(str(repo)).entries
    assert {p: e.ref for p, e in entries.items()} == {"data/copy": "default/raw:v1", "data/raw": "default/raw:v0"}
    r = art("checkout", "raw:v1")
    assert r.exit_code == 2 and "several folders hold artifact 'default/raw': data/copy, data/raw" in r.stderr
    r = art("checkout", "raw:v0", ".")
    assert r.exit_code == 2 and r.stderr.startswith("error: refusing to check out into '.'")
    assert not [n for n in os.listdir(repo) if n.startswith(".arty.lock.")]  # no temp file left


def test_two_branches_adding_different_folders_merge_cleanly(repo):
    write(repo / "README", {"x": "x"})
    write(repo / "data" / "base", {"f": "base"})
    ok("add", "data/base", "--type", "dataset")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "base", cwd=repo)
    git("checkout", "-q", "-b", "images", cwd=repo)
    write(repo / "data" / "images", {"1.png": "one"})
    ok("add", "data/images", "--type", "dataset")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "images", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    write(repo / "data" / "labels", {"l.csv": "a,b"})
    ok("add", "data/labels", "--type", "dataset")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "labels", cwd=repo)
    git("merge", "-q", "--no-edit", "images", cwd=repo)  # asserts exit 0: no conflict
    assert sorted(LockFile(str(repo)).entries) == ["data/base", "data/images", "data/labels"]
    assert all(js("status")[i]["clean"] for i in range(3))


def test_two_branches_changing_one_folder_leave_a_readable_error(repo):
    write(repo / "data" / "raw", V0)
    ok("add", "data/raw", "--type", "dataset")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "v0", cwd=repo)
    git("checkout", "-q", "-b", "other", cwd=repo)
    write(repo / "data" / "raw", V1)
    ok("add", "data/raw", "--type", "dataset")
    git("commit", "-q", "-am", "v1", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    write(repo / "data" / "raw", {"only": "main's"})
    ok("add", "data/raw", "--type", "dataset")
    git("commit", "-q", "-am", "v2", cwd=repo)
    git("merge", "-q", "--no-edit", "other", cwd=repo)  # union: both lines kept
    r = art("status")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0].startswith("error: folder 'data/raw' is recorded twice in ")
    assert "(lines 2 and 3: default/raw:v" in r.stderr
    # Without the union driver git stops with markers, and they are named by line.
    (repo / LOCK_NAME).write_text("# h\n<<<<<<< HEAD\ndata/raw  default/raw:v2  xxh128:" + "0" * 32 + "\n=======\n")
    r = art("checkout")
    assert r.exit_code == 2 and "line 2 is a merge conflict marker" in r.stderr


def test_add_with_a_broken_lock_file_logs_nothing(repo):
    (repo / LOCK_NAME).write_text("data/raw  not-a-ref  xxh128:zz\n")
    write(repo / "data" / "raw", V0)
    r = art("add", "data/raw", "--type", "dataset")
    assert r.exit_code == 2 and r.stderr.startswith(f"error: '{repo / LOCK_NAME}' line 1 is malformed")
    assert js("ls") == []


def test_lock_file_format_and_atomic_write(tmp_path, monkeypatch):
    from arty.hashing import Digest

    lock = LockFile(str(tmp_path))
    d = Digest("xxh128", "1" * 32)
    os.makedirs(tmp_path / "z dir" / "x")
    lock.record(str(tmp_path / "z dir" / "x"), "p", "b", 3, d)
    lock.record(str(tmp_path / "a"), "p", "a", 0, d)
    lock.save()
    text = (tmp_path / LOCK_NAME).read_text()
    assert text.splitlines()[1:] == [f"a  p/a:v0  {d}", f"z dir/x  p/b:v3  {d}"]  # sorted, a space in a path
    assert parse(text)["z dir/x"].ref == "p/b:v3"
    with pytest.raises(UsageError, match="cannot record folder"):
        lock.record(str(tmp_path.parent), "p", "a", 0, d)

    def broken(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    lock.record(str(tmp_path / "c"), "p", "c", 1, d)
    with pytest.raises(OSError):
        lock.save()
    assert (tmp_path / LOCK_NAME).read_text() == text  # the old file, whole
    assert sorted(os.listdir(tmp_path)) == [LOCK_NAME, "z dir"]  # no temp file left
