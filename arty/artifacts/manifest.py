"""Manifest trees: an artifact version's files as a tree of nodes, like git's.

A node is a blob holding canonical JSON::

    {"format": 1, "entries": {
        "a.csv":  {"type": "file", "digest": "xxh128:…", "size": 12},
        "images": {"type": "dir",  "digest": "xxh128:…", "size": 4096, "files": 3},
        "raw.bin": {"type": "ref", "uri": "s3://b/raw.bin", "size": 9, "etag": "…"}}}

A directory entry names its child node by digest and carries the subtree's
total size and file count. Identical subtrees have identical digests, so a new
version stores only the nodes on the paths that changed. The artifact digest is
the digest of the root node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import GeneratorType
from typing import Any, Iterator

from arty.artifacts.names import check_part, check_path
from arty.artifacts.validate import is_whole, show
from arty.errors import IntegrityError, InvalidPath
from arty.hashing import Digest
from arty.store import Store, encode_json

NODE_FORMAT = 1
#: Fields a reference entry may carry besides uri and size.
REF_FIELDS = ("etag", "version_id", "generation", "md5", "mtime", "digest")


@dataclass(frozen=True)
class Entry:
    """A file in a manifest: stored (``digest``) or by reference (``uri``)."""

    path: str
    size: int
    digest: Digest | None = None
    uri: str | None = None
    ref: dict[str, Any] = field(default_factory=dict)

    @property
    def is_ref(self) -> bool:
        return self.uri is not None

    def to_json(self) -> dict[str, Any]:
        if self.uri is None:
            return {"type": "file", "digest": str(self.digest), "size": self.size}
        out: dict[str, Any] = {"type": "ref", "uri": self.uri, "size": self.size}
        out.update({k: v for k, v in self.ref.items() if v is not None})
        if self.digest is not None:
            out["digest"] = str(self.digest)
        return out

    @classmethod
    def from_json(cls, path: str, obj: dict[str, Any]) -> "Entry":
        """The entry at ``path`` from its JSON in a node; IntegrityError when malformed
        (a size that is not a whole number of bytes, a reference whose URI is not text)."""
        try:
            size = obj["size"]
            if not is_whole(size):
                raise ValueError(f"size {show(size)} is not a whole number of bytes")
            if obj["type"] == "file":
                return cls(path, size, Digest.parse(obj["digest"]))
            if obj["type"] == "ref":
                if not isinstance(obj["uri"], str) or not obj["uri"]:
                    raise ValueError(f"uri {show(obj['uri'])} is not text")
                digest = Digest.parse(obj["digest"]) if obj.get("digest") else None
                ref = {k: obj[k] for k in REF_FIELDS if k in obj and k != "digest"}
                return cls(path, size, digest, obj["uri"], ref)
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"malformed manifest entry '{path}': {exc}",
                                 hint="'art verify' lists every bad object") from None
        raise IntegrityError(f"malformed manifest entry '{path}': unknown type {show(obj.get('type'))}",
                             hint="'art verify' lists every bad object")

    def check_size(self, actual: int) -> None:
        """Raise IntegrityError unless ``actual`` (the bytes of this entry's object) is its size."""
        if actual != self.size:
            raise IntegrityError(f"file '{self.path}' is recorded as {self.size} bytes but object "
                                 f"'{self.digest}' holds {actual}",
                                 hint="the manifest does not match its objects; 'art verify' lists every bad object")

    def same_content(self, other: "Entry") -> bool:
        return self.to_json() == other.to_json()


def ref_identity(info: dict[str, Any]) -> dict[str, Any]:
    """What identifies a referenced object's content, from an fsspec ``info``."""
    out = {}
    etag = info.get("ETag") or info.get("etag")
    if etag:
        out["etag"] = str(etag).strip('"')
    if info.get("VersionId") or info.get("version_id"):
        out["version_id"] = str(info.get("VersionId") or info.get("version_id"))
    if info.get("generation"):
        out["generation"] = str(info["generation"])
    if info.get("md5Hash"):
        out["md5"] = str(info["md5Hash"])
    if info.get("mtime") is not None and not out:
        out["mtime"] = float(info["mtime"])
    return out


@dataclass
class Tree:
    """The result of :func:`build`: the root digest, totals, and every node's bytes."""

    digest: Digest
    size: int
    files: int
    nodes: dict[Digest, bytes]


def build(entries: list[Entry], store: Store) -> Tree:
    """Build the node tree for ``entries`` (paths validated; a later entry for
    the same path replaces an earlier one; a path that is both a file and a
    folder is an error). Nothing is written."""
    root: dict[str, Any] = {}
    for e in entries:
        check_path(e.path)
        parts = e.path.split("/")
        node = root
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if isinstance(child, Entry):
                raise InvalidPath(f"path '{'/'.join(parts[:i + 1])}' is both a file and a folder in the artifact",
                                  hint="rename one of them")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise InvalidPath(f"path '{e.path}' is both a file and a folder in the artifact", hint="rename one of them")
        node[parts[-1]] = e
    nodes: dict[Digest, bytes] = {}
    # Folders in pre-order (each before its subfolders), then encoded in reverse: every
    # subfolder before its parent. No recursion, so no limit on depth.
    order = []
    stack = [root]
    while stack:
        folder = stack.pop()
        order.append(folder)
        stack.extend(child for child in folder.values() if isinstance(child, dict))
    encoded: dict[int, tuple[Digest, int, int]] = {}
    for folder in reversed(order):
        out: dict[str, Any] = {}
        size = files = 0
        for name, child in folder.items():
            if isinstance(child, Entry):
                out[name] = child.to_json()
                size += child.size
                files += 1
            else:
                d, s, n = encoded.pop(id(child))
                out[name] = {"type": "dir", "digest": str(d), "size": s, "files": n}
                size += s
                files += n
        data = encode_json({"format": NODE_FORMAT, "entries": out})
        digest = store.digest_of(data)
        nodes[digest] = data
        encoded[id(folder)] = (digest, size, files)
    digest, size, files = encoded[id(root)]
    return Tree(digest, size, files, nodes)


def run_nested(top: Iterator[Any]) -> Iterator[Any]:
    """Run a recursive walk written as generators, with no limit on depth.

    A generator yields another generator to descend into it (it runs to its end,
    then the one that yielded it resumes), or any other value to pass it on to
    the caller. Only this loop's list grows with depth, not Python's stack.
    """
    stack = [top]
    while stack:
        try:
            item = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        if isinstance(item, GeneratorType):
            stack.append(item)
        else:
            yield item


def subtree(path: str, obj: dict[str, Any]) -> Digest:
    """The node digest of a ``dir`` entry; IntegrityError when it has none."""
    try:
        return Digest.parse(obj["digest"])
    except (KeyError, TypeError):
        raise IntegrityError(f"malformed manifest entry '{path}': a folder without a digest",
                             hint="'art verify' lists every bad object") from None


def _dir_digest(obj: dict[str, Any]) -> Digest | None:
    """The node digest of a ``dir`` entry, or None when it has none (:func:`subtree` raises)."""
    try:
        return Digest.parse(obj["digest"])
    except (KeyError, TypeError, IntegrityError):
        return None


class TreeReader:
    """Reads manifest nodes from a store (verified, cached) and walks them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[Digest, dict[str, dict[str, Any]]] = {}

    def node(self, digest: Digest) -> dict[str, dict[str, Any]]:
        """The entries of one node; names are re-validated (a crafted node cannot escape)."""
        cached = self._cache.get(digest)
        if cached is not None:
            return cached
        entries = self._parse(digest, self.store.read_blob(digest))
        self._cache[digest] = entries
        return entries

    @staticmethod
    def _parse(digest: Digest, raw: bytes) -> dict[str, dict[str, Any]]:
        """The entries of a node's (verified) bytes; IntegrityError when malformed."""
        try:
            obj = json.loads(raw)
            entries = obj["entries"]
            if not isinstance(entries, dict):
                raise TypeError("entries is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"manifest node '{digest}' is malformed: {exc}") from None
        for name, obj in entries.items():
            check_part(name)
            if not isinstance(obj, dict):
                raise IntegrityError(f"manifest node '{digest}' is malformed: entry '{name}' is not an object")
        return entries

    def prefetch(self, digests: list[Digest]) -> None:
        """Read the nodes among ``digests`` not cached yet as one batch (packed neighbours come
        in one ranged read: on a bucket, a folder's subfolders in one request instead of one
        each). A node that cannot be read or parsed is left out: :meth:`node` raises for it
        when it is asked for."""
        missing = [d for d in dict.fromkeys(digests) if d not in self._cache]
        if len(missing) < 2:
            return
        for digest, raw in self.store.read_blobs(missing).items():
            if isinstance(raw, bytes):
                try:
                    self._cache[digest] = self._parse(digest, raw)
                except IntegrityError:
                    pass

    def remember(self, nodes: dict[Digest, bytes]) -> None:
        """Cache nodes this process made (and stored), so that reading them costs no store read."""
        for digest, data in nodes.items():
            self._cache[digest] = json.loads(data)["entries"]

    def walk(self, root: Digest, prefix: str = "") -> Iterator[Entry]:
        """Every file entry under ``root``, in path order (any depth)."""
        return run_nested(self._walk(root, prefix))

    def _walk(self, root: Digest, prefix: str) -> Iterator[Any]:
        entries = self.node(root)
        folders = [obj for obj in entries.values() if obj.get("type") == "dir"]
        if len(folders) > 1:
            self.prefetch([d for d in (_dir_digest(obj) for obj in folders) if d is not None])
        # Folders sort as "name/" (like git's trees), so the full paths come out sorted:
        # "a.txt" < "a/b" although "a" < "a.txt".
        for name in sorted(entries, key=lambda n: n + "/" if entries[n].get("type") == "dir" else n):
            obj = entries[name]
            path = f"{prefix}{name}"
            if obj.get("type") == "dir":
                yield self._walk(subtree(path, obj), path + "/")
            else:
                yield Entry.from_json(path, obj)

    def node_digests(self, root: Digest) -> Iterator[Digest]:
        """Every node digest in the tree, root first, each once (any depth; a subtree
        that appears in several places is read once)."""
        seen = {root}
        stack = [root]
        while stack:
            digest = stack.pop()
            yield digest
            for name, obj in sorted(self.node(digest).items(), reverse=True):
                if obj.get("type") == "dir":
                    child = subtree(name, obj)
                    if child not in seen:
                        seen.add(child)
                        stack.append(child)

    def lookup(self, root: Digest, path: str) -> Entry | Digest | None:
        """What ``path`` names in the tree: a file's :class:`Entry`, a folder's node
        :class:`Digest`, or None. Reads only the nodes on the way to it."""
        check_path(path)
        parts = path.split("/")
        digest = root
        for i, part in enumerate(parts):
            obj = self.node(digest).get(part)
            if obj is None:
                return None
            if obj.get("type") == "dir":
                digest = subtree("/".join(parts[:i + 1]), obj)
                continue
            return Entry.from_json(path, obj) if i == len(parts) - 1 else None
        return digest

    def find(self, root: Digest, path: str) -> Entry | None:
        """The file entry at ``path``, or None."""
        check_path(path)
        parts = path.split("/")
        digest = root
        for part in parts[:-1]:
            obj = self.node(digest).get(part)
            if obj is None or obj.get("type") != "dir":
                return None
            digest = Digest.parse(obj["digest"])
        obj = self.node(digest).get(parts[-1])
        if obj is None or obj.get("type") == "dir":
            return None
        return Entry.from_json(path, obj)

    def kind(self, root: Digest, path: str) -> str | None:
        """``"file"`` (a stored file or a reference), ``"dir"`` or None: what is at ``path``
        in the tree ``root``. Reads only the nodes on that path."""
        parts = check_path(path).split("/")
        digest = root
        for i, part in enumerate(parts):
            obj = self.node(digest).get(part)
            if obj is None:
                return None
            if obj.get("type") != "dir":
                return "file" if i == len(parts) - 1 else None
            digest = subtree("/".join(parts[:i + 1]), obj)
        return "dir"

    def diff(self, a: Digest | None, b: Digest | None, prefix: str = "") -> "Diff":
        """Files added, removed and changed from tree ``a`` to tree ``b``.

        Subtrees with equal digests are skipped without being read.
        """
        out = Diff()
        self._diff(a, b, prefix, out)
        return out

    def _diff(self, a: Digest | None, b: Digest | None, prefix: str, out: "Diff") -> None:
        for _ in run_nested(self._diff_steps(a, b, prefix, out)):
            pass

    def _diff_steps(self, a: Digest | None, b: Digest | None, prefix: str, out: "Diff") -> Iterator[Any]:
        if a == b:
            return
        ea = self.node(a) if a is not None else {}
        eb = self.node(b) if b is not None else {}
        for name in sorted(set(ea) | set(eb)):
            oa, ob = ea.get(name), eb.get(name)
            path = prefix + name
            da = oa is not None and oa.get("type") == "dir"
            db = ob is not None and ob.get("type") == "dir"
            if da or db:
                sub_a = subtree(path, oa) if da else None  # type: ignore[arg-type]
                sub_b = subtree(path, ob) if db else None  # type: ignore[arg-type]
                yield self._diff_steps(sub_a, sub_b, path + "/", out)
                if oa is not None and not da:
                    out.removed.append(Entry.from_json(path, oa))
                if ob is not None and not db:
                    out.added.append(Entry.from_json(path, ob))
            elif oa is None:
                out.added.append(Entry.from_json(path, ob))  # type: ignore[arg-type]
            elif ob is None:
                out.removed.append(Entry.from_json(path, oa))
            elif oa != ob:
                out.changed.append((Entry.from_json(path, oa), Entry.from_json(path, ob)))


@dataclass
class Diff:
    """What changed between two manifests."""

    added: list[Entry] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    changed: list[tuple[Entry, Entry]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        """``"2 added, 1 removed, 3 changed"`` (or ``"no changes"``)."""
        if not self:
            return "no changes"
        return f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed"

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [e.path for e in self.added],
            "removed": [e.path for e in self.removed],
            "changed": [a.path for a, _ in self.changed],
        }


# -- incremental trees ---------------------------------------------------------------------------

@dataclass
class _Change:
    """Changes under one folder of a base tree: ``cleared`` drops what the base has at this
    path (a removal); ``children`` are the changes below it, by name (an :class:`Entry` adds or
    replaces a file; a :class:`_Change` changes a folder)."""

    cleared: bool = False
    children: dict[str, "_Change | Entry"] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)  # names removed here (a file may then replace a folder)

    @property
    def removal(self) -> bool:
        """A bare removal: nothing is added at or below this path."""
        return self.cleared and not self.children


def _changes(removals: list[str], entries: list[Entry]) -> _Change:
    """The change trie of ``removals`` (applied first) and ``entries`` (added on top; a later
    entry for a path replaces an earlier one). InvalidPath when the entries themselves put a
    file and a folder at one path."""
    top = _Change()
    for path in removals:
        parts = check_path(path).split("/")
        node = top
        for part in parts[:-1]:
            child = node.children.setdefault(part, _Change())
            if isinstance(child, _Change) and child.removal:
                break  # a folder above is removed already
            node = child  # type: ignore[assignment]
        else:
            node.children[parts[-1]] = _Change(cleared=True)
            node.removed.add(parts[-1])
    for e in entries:
        parts = check_path(e.path).split("/")
        node = top
        for i, part in enumerate(parts[:-1]):
            child = node.children.setdefault(part, _Change())
            if isinstance(child, Entry):
                raise InvalidPath(f"path '{'/'.join(parts[:i + 1])}' is both a file and a folder in the artifact",
                                  hint="rename one of them")
            node = child
        old = node.children.get(parts[-1])
        if isinstance(old, _Change) and old.children:
            raise InvalidPath(f"path '{e.path}' is both a file and a folder in the artifact", hint="rename one of them")
        node.children[parts[-1]] = e
    return top


def _adds(change: _Change) -> bool:
    """Does ``change`` add a file anywhere below it?"""
    stack = [change]
    while stack:
        for child in stack.pop().children.values():
            if isinstance(child, Entry):
                return True
            stack.append(child)
    return False


def _totals(digest: Digest | None, entries: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """Total size and file count of a node's entries (a folder's from its entry, not read)."""
    size = files = 0
    for name, obj in entries.items():
        s = obj.get("size")
        n = obj.get("files", 1) if obj.get("type") == "dir" else 1
        if not is_whole(s) or not is_whole(n):
            raise IntegrityError(f"manifest node '{digest}' is malformed: entry '{name}' has no whole size",
                                 hint="'art verify' lists every bad object")
        size += s
        files += n
    return size, files


def overlay(reader: TreeReader, base: Digest, removals: list[str], entries: list[Entry],
            store: Store, label: str = "the base version") -> Tree:
    """The tree of ``base`` with the paths in ``removals`` (files or folders) dropped, then
    ``entries`` added or replacing what is there. Nothing is written.

    Only the nodes on the paths that change are read and encoded again: every other
    subtree keeps its digest, unread (so the cost is proportional to the change, times
    the width of the folders on its paths). ``Tree.nodes`` holds only the new nodes.
    A folder left empty disappears, as in :func:`build`. Errors (``label`` names the base
    in them): :class:`NotFound` for a removal of a path the base does not have,
    :class:`InvalidPath` for a file added where the base has a folder or the reverse.
    """
    from arty.errors import NotFound

    top = _changes(removals, entries)
    nodes: dict[Digest, bytes] = {}

    def visit(change: _Change, digest: Digest | None, prefix: str) -> Iterator[Any]:
        """Yields sub-visits (run by :func:`run_nested`); leaves the folder's result in ``done``."""
        current = dict(reader.node(digest)) if digest is not None and not change.cleared else {}
        for name in sorted(change.children):
            child = change.children[name]
            path = prefix + name
            old = current.get(name)
            old_dir = old is not None and old.get("type") == "dir"
            if isinstance(child, Entry):
                if old_dir and name not in change.removed:
                    raise InvalidPath(f"cannot add file '{path}': {label} has a folder there",
                                      hint=f"remove the folder in the same version (--remove {path}) "
                                           "or add the file elsewhere")
                current[name] = child.to_json()
            elif child.removal:
                if old is None:
                    raise NotFound(f"cannot remove '{path}': no file or folder there in {label}",
                                   hint="'art show REF' lists its files")
                del current[name]
            else:
                if old is not None and not old_dir and not child.cleared:
                    if not _adds(child):
                        raise NotFound(f"cannot remove under '{path}/': {label} has a file '{path}'",
                                       hint="'art show REF' lists its files")
                    raise InvalidPath(f"cannot add files under '{path}/': {label} has a file '{path}'",
                                      hint=f"remove the file in the same version (--remove {path}) "
                                           "or add them elsewhere")
                sub = subtree(path, old) if old_dir and not child.cleared else None
                yield visit(child, sub, path + "/")
                got = done.pop(id(child))
                if got is None:
                    current.pop(name, None)
                else:
                    current[name] = {"type": "dir", "digest": str(got[0]), "size": got[1], "files": got[2]}
        if not current and prefix:
            done[id(change)] = None  # an emptied folder disappears
            return
        data = encode_json({"format": NODE_FORMAT, "entries": current})
        new = store.digest_of(data)
        nodes[new] = data
        done[id(change)] = (new, *_totals(new, current))

    if not top.children:  # nothing changes: the base tree as it is (only its root is read)
        return Tree(base, *_totals(base, reader.node(base)), {})
    done: dict[int, tuple[Digest, int, int] | None] = {}
    for _ in run_nested(visit(top, base, "")):
        pass
    digest, size, files = done[id(top)]  # type: ignore[misc]
    if digest == base:
        nodes = {}
    return Tree(digest, size, files, nodes)
