"""Code state: real git repositories in temporary folders, real child interpreters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata

import pytest

from arty.tracking.code import (MAX_UNTRACKED, entry_script_source, environment, git_diff, git_info,
                                requirements, strip_credentials)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

GIT_ENV = {"GIT_AUTHOR_NAME": "A U Thor", "GIT_AUTHOR_EMAIL": "a@example.com",
           "GIT_COMMITTER_NAME": "A U Thor", "GIT_COMMITTER_EMAIL": "a@example.com",
           "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd, *args) -> str:
    env = dict(os.environ, **GIT_ENV)
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(autouse=True)
def _no_outer_repo(tmp_path, monkeypatch):
    """Git must not find a repository above the test's folder."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))  # no user config (e.g. excludes) from outside
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def repo(tmp_path):
    """A repository with one commit, a modified file, a staged new file and an untracked file."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("lr = 0.1\nepochs = 10\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "util.py").write_text("X = 1\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    (root / "train.py").write_text("lr = 0.01\nepochs = 10\n")          # unstaged change
    (root / "staged.txt").write_text("staged content\n")
    git(root, "add", "staged.txt")                                      # staged new file
    (root / "notes.txt").write_text("untracked\n")                      # untracked
    git(root, "remote", "add", "origin", "https://alice:s3cr3t-token@example.com/team/repo.git")
    return root


def test_git_info_of_a_dirty_repository(repo):
    info = git_info(repo)
    assert info is not None
    assert info["root"] == os.path.realpath(repo)
    assert info["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert len(info["commit"]) == 40
    assert info["branch"] == "main"
    assert info["is_dirty"] is True
    assert info["untracked"] == ["notes.txt"]
    assert info["untracked_count"] == 1
    assert info["remote"] == "https://example.com/team/repo.git"
    assert info["remote_name"] == "origin"
    assert "s3cr3t" not in json.dumps(info) and "alice" not in json.dumps(info)


def test_git_info_from_a_subfolder_and_by_default_from_cwd(repo, monkeypatch):
    assert git_info(repo / "pkg")["root"] == os.path.realpath(repo)
    monkeypatch.chdir(repo / "pkg")
    assert git_info()["commit"] == git(repo, "rev-parse", "HEAD").strip()


def test_git_diff_holds_staged_and_unstaged_changes_and_applies_cleanly(repo, tmp_path):
    patch = git_diff(repo)
    assert "-lr = 0.1\n" in patch and "+lr = 0.01\n" in patch
    assert "+staged content" in patch
    assert "notes.txt" not in patch                        # untracked files are not in the diff
    # the patch rebuilds the working state from a clean checkout of the commit
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    (tmp_path / "diff.patch").write_text(patch)
    git(clone, "apply", str(tmp_path / "diff.patch"))
    assert (clone / "train.py").read_text() == "lr = 0.01\nepochs = 10\n"
    assert (clone / "staged.txt").read_text() == "staged content\n"


def test_a_clean_repository(repo):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second")
    info = git_info(repo)
    assert info["is_dirty"] is False
    assert info["untracked"] == [] and info["untracked_count"] == 0
    assert git_diff(repo) == ""


def test_untracked_files_alone_do_not_make_it_dirty(repo):
    git(repo, "add", "-A")
    git(repo, "rm", "-q", "--cached", "notes.txt")
    git(repo, "commit", "-q", "-m", "second")
    info = git_info(repo)
    assert info["is_dirty"] is False
    assert info["untracked"] == ["notes.txt"]


def test_detached_head_and_a_rename(repo):
    (repo / "? odd.txt").write_text("a file whose name looks like a status entry\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second")
    git(repo, "checkout", "-q", "--detach", "HEAD")
    info = git_info(repo)
    assert info["branch"] is None
    assert info["commit"] == git(repo, "rev-parse", "HEAD").strip()
    git(repo, "mv", "train.py", "train2.py")
    git(repo, "mv", "? odd.txt", "even.txt")
    (repo / "z-untracked.txt").write_text("z")
    info = git_info(repo)
    assert info["is_dirty"] is True
    assert info["untracked"] == ["z-untracked.txt"]    # a rename's old path is not an entry


def test_untracked_names_are_limited(repo):
    for i in range(MAX_UNTRACKED + 50):
        (repo / f"u{i:03d}.tmp").write_text("x")
    info = git_info(repo)
    assert len(info["untracked"]) == MAX_UNTRACKED
    assert info["untracked_count"] == MAX_UNTRACKED + 51   # + notes.txt
    assert info["untracked"] == sorted(info["untracked"])


def test_a_repository_without_commits(tmp_path):
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("hello\n")
    git(root, "add", "a.txt")
    info = git_info(root)
    assert info["commit"] is None and info["branch"] == "main" and info["is_dirty"] is True
    assert info["remote"] is None
    assert "+hello" in git_diff(root)


def test_outside_a_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_info(plain) is None
    assert git_diff(plain) == ""
    assert git_info(tmp_path / "does-not-exist") is None


def test_without_the_git_program(repo, tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert git_info(repo) is None
    assert git_diff(repo) == ""


@pytest.mark.parametrize("url,clean", [
    ("https://user:token@host/repo.git", "https://host/repo.git"),
    ("https://ghp_abc123@github.com/o/r.git", "https://github.com/o/r.git"),
    ("http://u:p@host:8080/r.git", "http://host:8080/r.git"),
    ("https://github.com/o/r.git", "https://github.com/o/r.git"),
    ("ssh://git:pw@host/r.git", "ssh://git@host/r.git"),
    ("ssh://git@host:22/r.git", "ssh://git@host:22/r.git"),
    ("git@github.com:o/r.git", "git@github.com:o/r.git"),
    ("/srv/git/r.git", "/srv/git/r.git"),
])
def test_strip_credentials(url, clean):
    assert strip_credentials(url) == clean


def test_first_remote_when_there_is_no_origin(repo):
    git(repo, "remote", "remove", "origin")
    git(repo, "remote", "add", "upstream", "https://bob:pw@example.org/u.git")
    info = git_info(repo)
    assert info["remote_name"] == "upstream"
    assert info["remote"] == "https://example.org/u.git"


# -- environment, entry script, requirements --------------------------------------------------

def test_environment_and_entry_script_of_a_real_process(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    script = work / "train.py"
    script.write_text(
        "import json, sys\n"
        "from arty.tracking.code import environment, entry_script_source\n"
        "name, data = entry_script_source()\n"
        "print(json.dumps({'env': environment(), 'name': name, 'data': data.decode()}))\n")
    out = subprocess.run([sys.executable, "train.py", "--lr", "0.1"], cwd=work,
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    env = got["env"]
    assert env["argv"] == ["train.py", "--lr", "0.1"]
    assert env["entry_script"] == str(script)
    assert env["cwd"] == str(work)
    assert env["executable"] == sys.executable
    assert env["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert env["command"].endswith("train.py --lr 0.1")
    assert isinstance(env["pid"], int) and env["pid"] != os.getpid()
    assert env["host"] and env["os"] and env["user"]
    assert env["started_at"].endswith("Z")
    assert got["name"] == "train.py"
    assert got["data"] == script.read_text()


def test_no_entry_script_for_python_c(tmp_path):
    out = subprocess.run([sys.executable, "-c",
                          "import json; from arty.tracking.code import environment, entry_script_source;"
                          "print(json.dumps([environment()['entry_script'], entry_script_source()]))"],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [None, None]


def test_requirements_lists_installed_distributions():
    text = requirements()
    lines = text.splitlines()
    assert text.endswith("\n")
    assert f"arty=={metadata.version('arty')}" in lines
    assert f"psutil=={metadata.version('psutil')}" in lines
    assert all("==" in line for line in lines)
    assert lines == sorted(lines, key=str.lower)
    names = [line.split("==")[0].lower() for line in lines]
    assert len(names) == len(set(names))
