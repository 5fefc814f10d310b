"""``arty.lock``: which artifact version each folder of a repository holds.

A small text file at the repository root, meant to be committed with the code, so that
``git checkout <commit> && art checkout`` gives that commit's data. One line per folder,
sorted by path, fields separated by two spaces::

    # arty.lock: folders and the artifact versions they hold (written by 'art add' and 'art checkout')
    data/raw  vision/raw:v3  xxh128:9f2c...
    models/best  vision/model:v12  xxh128:04ab...

* the folder, relative to the root, ``/``-separated (it may contain single spaces);
* the version as ``project/name:vN``;
* the version's digest, which identifies its content in any store (numbers may differ after
  ``art push``/``art pull``; the digest does not).

The root is the nearest folder at or above the current one holding ``arty.lock``, else the
top of the git work tree. Outside a git work tree with no ``arty.lock`` there is no lock file
and nothing is recorded.

Lines are independent, so two branches that add different folders merge line by line; a
``.gitattributes`` line ``arty.lock merge=union`` (written beside a new lock file in a git
repository) makes git keep both sides' lines instead of stopping at adjacent insertions. Two
branches that recorded different versions of one folder then leave two lines for it, which
:func:`parse` reports by line number, as it reports leftover conflict markers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from arty.artifacts.names import ArtifactRef, check_name, parse_version
from arty.errors import ArtyError, IntegrityError, UsageError
from arty.hashing import Digest
from arty.store.localfile import replace_file

LOCK_NAME = "arty.lock"
HEADER = "# arty.lock: folders and the artifact versions they hold (written by 'art add' and 'art checkout')"
ATTRIBUTES_LINE = f"{LOCK_NAME} merge=union"
_MARKERS = ("<<<<<<<", "=======", ">>>>>>>", "|||||||")


@dataclass(frozen=True)
class LockEntry:
    """One folder and the version it holds."""

    path: str
    project: str
    name: str
    number: int
    digest: Digest

    @property
    def ref(self) -> str:
        """``project/name:vN``."""
        return f"{self.project}/{self.name}:v{self.number}"

    def line(self) -> str:
        return f"{self.path}  {self.ref}  {self.digest}"


def find_root(start: str | None = None) -> str | None:
    """The folder whose ``arty.lock`` applies at ``start`` (default: cwd): the nearest one holding
    ``arty.lock``, else the top of the git work tree (a folder holding ``.git``), else None."""
    here = os.path.abspath(start or os.getcwd())
    git_top = None
    probe = here
    while True:
        if os.path.isfile(os.path.join(probe, LOCK_NAME)):
            return probe
        if git_top is None and os.path.exists(os.path.join(probe, ".git")):
            git_top = probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return git_top
        probe = parent


def check_lock_path(path: str, where: str = LOCK_NAME) -> str:
    """``path`` if it can be a folder in the lock file (relative, '/'-separated, normalized, no
    leading or trailing space, not a comment); else UsageError."""
    parts = path.split("/")
    bad = (not path or path.startswith("#") or path != path.strip() or "\n" in path or "\r" in path
           or "  " in path or "\t" in path or any(p in ("", ".", "..") for p in parts))
    if bad:
        raise UsageError(f"cannot record folder '{path}' in '{where}'",
                         hint="a recorded folder is a path below the repository root without '..', "
                              "tabs, double spaces or a leading '#'")
    return path


def parse(text: str, where: str = LOCK_NAME) -> dict[str, LockEntry]:
    """The entries of a lock file's text, by folder. A malformed line, a leftover merge conflict
    marker or a folder recorded twice is an error naming the line(s)."""
    out: dict[str, LockEntry] = {}
    lines: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(_MARKERS):
            raise UsageError(f"'{where}' line {n} is a merge conflict marker ('{line[:7]}')",
                             hint="keep one line per folder, remove the markers, then 'art checkout'")
        fields = line.rsplit(None, 2)
        if len(fields) != 3:
            raise UsageError(f"'{where}' line {n} is malformed: '{line}'",
                             hint="each line is 'FOLDER  PROJECT/NAME:vN  DIGEST'")
        path, ref_text, digest_text = fields
        try:
            check_lock_path(path, where)
            ref = ArtifactRef.parse(ref_text)
            number = parse_version(ref.selector or "")
            if ref.project is None or number is None:
                raise UsageError(f"'{ref_text}' is not PROJECT/NAME:vN")
            check_name(ref.name)
            digest = Digest.parse(digest_text)
        except (UsageError, IntegrityError) as exc:
            raise UsageError(f"'{where}' line {n} is malformed: {exc.message}",
                             hint="each line is 'FOLDER  PROJECT/NAME:vN  DIGEST'") from None
        if path in out:
            raise UsageError(f"folder '{path}' is recorded twice in '{where}' (lines {lines[path]} and {n}: "
                             f"{out[path].ref} and {ref.project}/{ref.name}:v{number})",
                             hint="a merge kept both; delete the line you do not want, then 'art checkout'")
        out[path] = LockEntry(path, ref.project, ref.name, number, digest)
        lines[path] = n
    return out


class LockFile:
    """The lock file of a repository root: read it, change entries, :meth:`save` atomically."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.path = os.path.join(self.root, LOCK_NAME)
        self.entries: dict[str, LockEntry] = {}
        self.exists = False
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtyError(f"cannot read '{self.path}': {exc}", hint="fix or remove the file") from None
        self.exists = True
        self.entries = parse(text, self.path)

    @classmethod
    def find(cls, start: str | None = None) -> "LockFile | None":
        """The lock file that applies at ``start`` (see :func:`find_root`), or None."""
        root = find_root(start)
        return None if root is None else cls(root)

    def relative(self, folder: str) -> str | None:
        """``folder`` as a lock path ('/'-separated, relative to the root), or None when it is not
        strictly below the root."""
        full = os.path.abspath(folder)
        if full == self.root or os.path.commonpath([full, self.root]) != self.root:
            return None
        return os.path.relpath(full, self.root).replace(os.sep, "/")

    def absolute(self, entry: LockEntry) -> str:
        return os.path.join(self.root, *entry.path.split("/"))

    def record(self, folder: str, project: str, name: str, number: int, digest: Digest) -> LockEntry:
        """Set the entry of ``folder`` (a local path below the root); not saved yet."""
        rel = self.relative(folder)
        if rel is None:
            raise UsageError(f"cannot record folder '{folder}' in '{self.path}': it is not below '{self.root}'")
        entry = LockEntry(check_lock_path(rel, self.path), project, name, number, digest)
        self.entries[rel] = entry
        return entry

    def text(self) -> str:
        return "\n".join([HEADER, *(self.entries[p].line() for p in sorted(self.entries))]) + "\n"

    def save(self) -> None:
        """Write the file: a complete temp file renamed over it, so a reader never sees half of one.
        A new lock file in a git repository also gets its ``merge=union`` line in ``.gitattributes``."""
        replace_file(self.path, self.text())
        if not self.exists and os.path.exists(os.path.join(self.root, ".git")):
            _add_union_merge(self.root)
        self.exists = True


def _add_union_merge(root: str) -> None:
    """Append ``arty.lock merge=union`` to the root's ``.gitattributes`` unless it names arty.lock."""
    path = os.path.join(root, ".gitattributes")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    if any(line.split()[:1] == [LOCK_NAME] for line in text.splitlines()):
        return
    with open(path, "a", encoding="utf-8", newline="\n") as f:
        f.write(("" if not text or text.endswith("\n") else "\n") + ATTRIBUTES_LINE + "\n")
