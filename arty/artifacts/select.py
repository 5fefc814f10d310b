"""Choosing part of a version's files without reading the rest of its tree.

A manifest is a tree of nodes (:mod:`arty.artifacts.manifest`), so the files under a folder
are found by reading the nodes on the path to that folder and the nodes below it, nothing
else: a partial download of a million-file version reads a handful of nodes and the blobs it
needs.

Three ways to choose, all matched against the path inside the version:

* ``paths``: files or folders (``images/train`` or ``images/train/``: every file under it);
  a path that is in the version neither as a file nor as a folder is :class:`NotFound`.
* ``include``: globs. ``*`` matches within one part of a path (no ``/``), ``?`` one
  character of a part, ``[abc]`` one of a set, and ``**`` any number of whole parts,
  none included: ``images/**/*.png`` matches ``images/a.png`` and ``images/x/y/a.png``;
  ``*.csv`` matches ``a.csv`` at the top only (``**/*.csv`` at any depth). Only the folder
  named by a glob's leading parts without wildcards is walked.
* ``path_prefix``: a plain string prefix (W&B's ``download(path_prefix=...)``):
  ``"images/tr"`` matches ``images/train/a.png`` and ``images/tr.txt``.

With both ``paths`` and ``include``, the files under ``paths`` that match a glob are chosen.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

from arty.artifacts.manifest import Entry, TreeReader, subtree
from arty.artifacts.names import check_path
from arty.errors import NotFound, UsageError
from arty.hashing import Digest

_WILD = re.compile(r"[*?\[]")


def normalise(path: str) -> str:
    """A path given by a user, validated, without a trailing ``/``."""
    if not isinstance(path, str) or not path.strip("/"):
        raise UsageError(f"invalid path '{path}'", hint="a file or folder inside the version, e.g. 'images/train/'")
    return check_path(path[:-1] if path.endswith("/") else path)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression for one glob (see the module docstring); UsageError when empty."""
    if not isinstance(pattern, str) or not pattern or pattern.startswith("/"):
        raise UsageError(f"invalid glob '{pattern}'", hint="a pattern relative to the version, e.g. 'images/**/*.png'")
    out = []
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        j = 0
        while j < len(part):
            c = part[j]
            if c == "*":
                out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
            elif c == "[":
                k = part.find("]", j + 2)
                if k < 0:
                    out.append(re.escape(c))
                else:
                    body = part[j + 1:k]
                    body = "^" + body[1:] if body.startswith("!") else body
                    out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                    j = k
            else:
                out.append(re.escape(c))
            j += 1
        if not last:
            out.append("/")
    return re.compile("".join(out))


def literal_folder(pattern: str) -> str | None:
    """The folder a glob's matches all lie under (its leading parts without wildcards), or
    None for the whole version."""
    parts = pattern.split("/")[:-1]
    fixed = []
    for part in parts:
        if _WILD.search(part) or part == "**":
            break
        fixed.append(part)
    return "/".join(fixed) or None


def under(trees: TreeReader, root: Digest, path: str) -> Iterator[Entry] | None:
    """Every file under ``path`` (a file: that one file), walking only that subtree; None when
    the version has no such file or folder."""
    found = trees.lookup(root, path)
    if found is None:
        return None
    if isinstance(found, Entry):
        return iter([found])
    return trees.walk(found, path + "/")


def select(trees: TreeReader, root: Digest, what: str, paths: Iterable[str] = (),
           include: Iterable[str] = ()) -> list[Entry]:
    """The files of the version whose tree is ``root`` (named ``what`` in messages) that
    ``paths`` and ``include`` choose (module docstring); every file when both are empty.

    :class:`NotFound` for a path that is not in the version, or when nothing matches.
    """
    paths = [normalise(p) for p in paths]
    globs = [(g, glob_regex(g)) for g in include]
    chosen: dict[str, Entry] = {}
    if paths:
        for p in paths:
            found = under(trees, root, p)
            if found is None:
                raise NotFound(f"no file or folder '{p}' in artifact '{what}'",
                               hint=f"'art show {what}' lists its files")
            for e in found:
                chosen.setdefault(e.path, e)
        if globs:
            chosen = {k: e for k, e in chosen.items() if any(rx.fullmatch(k) for _, rx in globs)}
    elif globs:
        for g, rx in globs:
            top = literal_folder(g)
            found = trees.walk(root) if top is None else (under(trees, root, top) or iter(()))
            for e in found:
                if rx.fullmatch(e.path):
                    chosen.setdefault(e.path, e)
    else:
        return list(trees.walk(root))
    if not chosen:
        asked = " ".join([*(f"--path {p}" for p in paths), *(f"--include '{g}'" for g, _ in globs)])
        raise NotFound(f"no file of artifact '{what}' matches {asked}", hint=f"'art show {what}' lists its files")
    return sorted(chosen.values(), key=lambda e: e.path)


def with_prefix(trees: TreeReader, root: Digest, prefix: str) -> Iterator[Entry]:
    """Every file whose path starts with the string ``prefix``, reading only the nodes of the
    folders that can hold one."""
    folder, _, start = prefix.rpartition("/")
    if folder:
        found = trees.lookup(root, folder)
        if not isinstance(found, Digest):
            return
        digest, base = found, folder + "/"
    else:
        digest, base = root, ""
    entries = trees.node(digest)
    for name in sorted(entries, key=lambda n: n + "/" if entries[n].get("type") == "dir" else n):
        if not name.startswith(start):
            continue
        obj = entries[name]
        if obj.get("type") == "dir":
            yield from trees.walk(subtree(base + name, obj), base + name + "/")
        else:
            yield Entry.from_json(base + name, obj)
