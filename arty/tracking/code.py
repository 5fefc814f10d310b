"""Code state of a run: git, the uncommitted diff, the environment and installed packages.

Every function here is best-effort and never raises for a missing git, a folder outside a
repository, a slow repository (each git call has a short timeout) or an unreadable entry script.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
import platform
import shlex
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["git_info", "rev_parse", "git_diff", "environment", "requirements", "entry_script",
           "entry_script_source", "strip_credentials", "MAX_UNTRACKED"]

#: Seconds one quick git call (rev-parse, status, config) may take.
GIT_TIMEOUT = 5.0
#: Seconds ``git diff`` may take.
GIT_DIFF_TIMEOUT = 15.0
#: At most this many untracked names are listed in :func:`git_info`.
MAX_UNTRACKED = 100


def _git(args: list[str], path: str, timeout: float = GIT_TIMEOUT,
         input: bytes | None = None) -> str | None:
    """stdout of ``git -C path <args>``, or None when git is missing, fails or times out."""
    env = dict(os.environ)
    env.update({
        "GIT_TERMINAL_PROMPT": "0",   # never ask for a password
        "GIT_OPTIONAL_LOCKS": "0",    # `git status` must not take index.lock under the user
        "LC_ALL": "C",
    })
    try:
        proc = subprocess.run(["git", "-C", str(path), "--no-pager", *args], capture_output=True,
                              input=b"" if input is None else input, timeout=timeout, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "replace")


def strip_credentials(url: str) -> str:
    """``url`` without a password or token: ``https://user:token@host/x`` -> ``https://host/x``.

    For http(s) the whole user part goes (a token often stands alone as the user name);
    for other schemes with a password (``ssh://user:pw@host``) only the password goes.
    scp-like ``git@host:repo`` has no secret and is returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if parts.scheme.lower() in ("http", "https"):
        netloc = hostport
    elif ":" in userinfo:
        netloc = userinfo.split(":", 1)[0] + "@" + hostport
    else:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _remote(path: str) -> tuple[str | None, str | None]:
    """(name, url) of ``origin``, else of the first remote; (None, None) without one."""
    out = _git(["config", "--get-regexp", r"^remote\..*\.url$"], path)
    if not out:
        return None, None
    remotes: list[tuple[str, str]] = []
    for line in out.splitlines():
        key, _, url = line.partition(" ")
        name = key[len("remote."):-len(".url")]
        remotes.append((name, url.strip()))
    for name, url in remotes:
        if name == "origin":
            return name, strip_credentials(url)
    name, url = remotes[0]
    return name, strip_credentials(url)


def rev_parse(ref: str, path: str | os.PathLike = ".") -> str | None:
    """The full hash of the commit ``ref`` names (``HEAD~1``, a branch, a tag, a short hash) in
    the repository holding ``path``, or None (no such commit, no repository, no git)."""
    if not ref or ref.startswith("-"):
        return None
    out = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], os.fspath(path))
    return out.strip() or None if out else None


def git_info(path: str | os.PathLike = ".") -> dict[str, Any] | None:
    """The git state of the repository holding ``path``, or None (no repository, no git).

    Keys: ``root`` (absolute), ``commit`` (None before the first commit), ``branch`` (None when
    detached), ``remote`` (URL of ``origin`` or the first remote, credentials stripped; None
    without one), ``remote_name``, ``is_dirty`` (tracked files differ from HEAD, staged or not;
    None when ``git status`` failed), ``untracked`` (up to :data:`MAX_UNTRACKED` untracked names,
    relative to the root, a folder of untracked files as ``dir/``) and ``untracked_count``.
    """
    path = os.fspath(path)
    root = _git(["rev-parse", "--show-toplevel"], path)
    if root is None or not root.strip():
        return None
    info: dict[str, Any] = {"root": os.path.abspath(root.strip()), "commit": None, "branch": None,
                            "remote": None, "remote_name": None, "is_dirty": None,
                            "untracked": [], "untracked_count": 0}
    status = _git(["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal",
                   "--ignore-submodules=dirty"], info["root"])
    if status is not None:
        dirty = False
        untracked: list[str] = []
        fields = status.split("\0")
        i = 0
        while i < len(fields):
            entry = fields[i]
            i += 1
            if entry.startswith("# branch.oid "):
                oid = entry[len("# branch.oid "):]
                info["commit"] = None if oid == "(initial)" else oid
            elif entry.startswith("# branch.head "):
                head = entry[len("# branch.head "):]
                info["branch"] = None if head == "(detached)" else head
            elif entry.startswith("? "):
                untracked.append(entry[2:])
            elif entry[:2] in ("1 ", "u "):
                dirty = True
            elif entry.startswith("2 "):
                dirty = True
                i += 1  # a rename's original path follows as its own field
        info["is_dirty"] = dirty
        info["untracked_count"] = len(untracked)
        info["untracked"] = sorted(untracked)[:MAX_UNTRACKED]
    else:
        commit = _git(["rev-parse", "--verify", "-q", "HEAD"], info["root"])
        info["commit"] = commit.strip() if commit else None
        branch = _git(["symbolic-ref", "--short", "-q", "HEAD"], info["root"])
        info["branch"] = branch.strip() if branch else None
    info["remote_name"], info["remote"] = _remote(info["root"])
    return info


def git_diff(path: str | os.PathLike = ".") -> str:
    """Uncommitted changes to tracked files (staged and unstaged) against HEAD, as a patch.

    Untracked files are not included (:func:`git_info` lists them). Before the first commit the
    diff is against the empty tree. ``""`` when clean, outside a repository or without git.
    """
    path = os.fspath(path)
    root = _git(["rev-parse", "--show-toplevel"], path)
    if root is None:
        return ""
    root = root.strip()
    base = "HEAD"
    if _git(["rev-parse", "--verify", "-q", "HEAD"], root) is None:
        empty = _git(["hash-object", "-t", "tree", "--stdin"], root, input=b"")
        if not empty:
            return ""
        base = empty.strip()
    out = _git(["diff", "--no-color", "--no-ext-diff", "--no-textconv", base, "--"], root,
               timeout=GIT_DIFF_TIMEOUT)
    return out or ""


def entry_script() -> str | None:
    """Absolute path of ``sys.argv[0]`` when it names a file (None for ``-c``, a REPL, ...)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if not argv0 or argv0 in ("-c", "-m", "-"):
        return None
    try:
        full = os.path.abspath(argv0)
        return full if os.path.isfile(full) else None
    except (OSError, ValueError):
        return None


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None


def environment() -> dict[str, Any]:
    """Where and how this process runs.

    Keys: ``host``, ``os`` (``platform.platform()``), ``system``, ``machine``, ``python``
    (version), ``python_implementation``, ``executable``, ``argv``, ``command`` (the full command
    line, interpreter and its options included, shell-quoted), ``entry_script`` (see
    :func:`entry_script`), ``cwd``, ``user``, ``pid``, ``started_at`` (now, ISO 8601 UTC).
    """
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    orig = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    return {
        "host": socket.gethostname(),
        "os": platform.platform(),
        "system": platform.system(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "argv": list(sys.argv),
        "command": shlex.join(orig),
        "entry_script": entry_script(),
        "cwd": cwd,
        "user": _user(),
        "pid": os.getpid(),
        "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
                                  .replace("+00:00", "Z"),
    }


def requirements() -> str:
    """Installed distributions as sorted ``name==version`` lines (a ``requirements.txt``).

    Read through :mod:`importlib.metadata` (no pip subprocess). When a name is installed twice
    on ``sys.path``, the first one (the one that imports) wins.
    """
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:
            continue
        if not name or not version:
            continue
        key = name.lower().replace("_", "-").replace(".", "-")
        seen.setdefault(key, f"{name}=={version}")
    lines = sorted(seen.values(), key=str.lower)
    return "".join(line + "\n" for line in lines)


def entry_script_source(max_bytes: int = 10 * 1024 * 1024) -> tuple[str, bytes] | None:
    """``(file name, contents)`` of the entry script, for ``save_code=True``.

    None when there is no entry script (see :func:`entry_script`), it cannot be read, or it is
    larger than ``max_bytes``.
    """
    path = entry_script()
    if path is None:
        return None
    try:
        if os.path.getsize(path) > max_bytes:
            return None
        with open(path, "rb") as f:
            return os.path.basename(path), f.read()
    except OSError:
        return None
