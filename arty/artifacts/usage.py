"""Storage usage (``art du``): bytes per project, artifact and version.

For each version, artifact and project:

* **logical** bytes: the sum of its files' sizes (references included), as the version records say;
* **unique** bytes: the stored blobs (files and tree nodes) that it alone references, so what
  deleting it (and ``art gc``) would free. Dedup across versions, artifacts and projects is taken
  into account, and a blob a run's history names (a logged image) is never unique to a version.
  Packed blobs count by their own size;
* **shared** bytes: the stored bytes it references that something else references too.

It stays fast on large artifacts with many versions because it never walks a version's files:
it works on the manifest's tree *nodes*, each distinct node once for the whole store (a subtree
unchanged between versions has the same digest, so 1,000 versions that differ in one file each
share all their other nodes). Ownership flows down the node graph once, parents before children:
the owner of a node is the set of versions (artifacts, projects) whose trees reach it, capped at
"several" where only uniqueness matters. A blob is unique to ``k`` when ``k`` alone owns it.

What each node holds (its own size, its child nodes, its stored files and their sizes, and the
bytes of its subtree) is kept in a local SQLite cache, ``<cache dir>/usage.sqlite``, with the
digest, size and creation time of each version record (both are immutable). Deleting the cache
loses nothing but speed.

A version's referenced bytes (``unique + shared``) add up its subtrees node by node: the same
content stored in two folders of one version counts twice there (it is stored once; the unique
bytes and every total above the version count it once).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

from arty.artifacts.links import is_registry
from arty.artifacts.manifest import subtree
from arty.artifacts.verify import iter_versions
from arty.errors import ArtyError, IntegrityError
from arty.hashing import Digest
from arty.store import Store, layout, records

#: Cache file name under the store's cache dir.
CACHE_NAME = "usage.sqlite"
#: The cache's layout; a cache of another layout is emptied and refilled.
CACHE_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    digest TEXT PRIMARY KEY,   -- the node's digest
    size INTEGER NOT NULL,     -- bytes of the node blob itself
    children TEXT NOT NULL,    -- JSON list of child node digests (hex)
    files TEXT NOT NULL,       -- JSON object {hex: size}: its stored files, each blob once
    subtree INTEGER            -- stored bytes under it (node blobs + files), null until computed
);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,      -- a digest of the live versions' roots and the runs' media blobs
    usage TEXT NOT NULL        -- StoreUsage.to_json() for them
);
CREATE TABLE IF NOT EXISTS versions (
    path TEXT PRIMARY KEY,     -- the version record's path
    digest TEXT NOT NULL, size INTEGER NOT NULL, files INTEGER NOT NULL, created_at TEXT NOT NULL
);
"""

_MANY = object()  # several owners: shared


class UsageCache:
    """The rebuildable SQLite cache of node and version facts (``:memory:`` for none on disk)."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self.db = self._open(path)
        except sqlite3.DatabaseError:  # a damaged cache: it is only a cache
            os.unlink(path)
            self.db = self._open(path)

    @staticmethod
    def _open(path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False)
        if db.execute("PRAGMA user_version").fetchone()[0] != CACHE_VERSION:
            db.executescript("DROP TABLE IF EXISTS nodes; DROP TABLE IF EXISTS results; "
                             "DROP TABLE IF EXISTS versions;")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {CACHE_VERSION}")
            db.commit()
        return db

    @classmethod
    def for_store(cls, store: Store) -> "UsageCache":
        """The cache beside ``store`` (its cache dir); one in memory where that cannot be written
        (a read-only store): slower, never wrong."""
        try:
            return cls(os.path.join(store.cache_dir(), CACHE_NAME))
        except (OSError, sqlite3.Error):
            return cls(":memory:")

    def _write(self, sql: str, rows: list[tuple[Any, ...]], many: bool = True) -> None:
        """Run a write; a cache that cannot be written (read-only, full disk) is left as it is."""
        try:
            with self._lock, self.db:
                if many:
                    self.db.executemany(sql, rows)
                else:
                    for row in rows:
                        self.db.execute(sql, row)
        except sqlite3.Error:
            pass

    def nodes(self, hexes: list[str]) -> dict[str, tuple[int, list[str], dict[str, int], int | None]]:
        out = {}
        for i in range(0, len(hexes), 500):
            chunk = hexes[i:i + 500]
            q = f"SELECT digest, size, children, files, subtree FROM nodes WHERE digest IN ({','.join('?' * len(chunk))})"
            for d, size, children, files, sub in self.db.execute(q, chunk):
                out[d] = (size, json.loads(children), json.loads(files), sub)
        return out

    def put_nodes(self, rows: list[tuple[str, int, list[str], dict[str, int]]]) -> None:
        self._write("INSERT OR REPLACE INTO nodes (digest, size, children, files, subtree) VALUES (?, ?, ?, ?, NULL)",
                    [(d, s, json.dumps(c), json.dumps(f)) for d, s, c, f in rows])

    def put_subtrees(self, sizes: dict[str, int]) -> None:
        self._write("UPDATE nodes SET subtree = ? WHERE digest = ?", [(v, k) for k, v in sizes.items()])

    def result(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT usage FROM results WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_result(self, key: str, usage: dict[str, Any]) -> None:
        """Keep the result for ``key`` (and only the latest few: the store moves on)."""
        self._write("DELETE FROM results WHERE rowid NOT IN (SELECT rowid FROM results ORDER BY rowid DESC LIMIT 3)",
                    [()], many=False)
        self._write("INSERT OR REPLACE INTO results VALUES (?, ?)", [(key, json.dumps(usage))], many=False)

    def versions(self) -> dict[str, tuple[str, int, int, str]]:
        return {p: (d, s, f, c) for p, d, s, f, c in self.db.execute(
            "SELECT path, digest, size, files, created_at FROM versions")}

    def put_versions(self, rows: list[tuple[str, str, int, int, str]]) -> None:
        self._write("INSERT OR REPLACE INTO versions VALUES (?, ?, ?, ?, ?)", rows)


@dataclass
class Usage:
    """Bytes of one version, artifact or project."""

    logical: int = 0
    unique: int = 0
    shared: int = 0
    versions: int = 0
    files: int = 0

    def to_json(self) -> dict[str, int]:
        return {"logical": self.logical, "unique": self.unique, "shared": self.shared,
                "versions": self.versions, "files": self.files}


@dataclass
class StoreUsage:
    """The usage of every project, artifact and live version of a store (registries left out:
    their versions are links to others, no bytes of their own)."""

    projects: dict[str, Usage] = field(default_factory=dict)
    artifacts: dict[tuple[str, str], Usage] = field(default_factory=dict)
    versions: dict[tuple[str, str, int], Usage] = field(default_factory=dict)
    #: stored bytes every version references (each blob once) and those only runs reference
    total: Usage = field(default_factory=Usage)
    nodes: int = 0  # distinct tree nodes looked at
    nodes_read: int = 0  # of those, read from the store (not in the cache)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "StoreUsage":
        def usage(row: dict[str, Any]) -> Usage:
            return Usage(**{k: row[k] for k in ("logical", "unique", "shared", "versions", "files")})

        return cls(projects={r["project"]: usage(r) for r in obj["projects"]},
                   artifacts={(r["project"], r["artifact"]): usage(r) for r in obj["artifacts"]},
                   versions={(r["project"], r["artifact"], int(r["version"][1:])): usage(r) for r in obj["versions"]},
                   total=usage(obj["total"]), nodes=obj["nodes"], nodes_read=obj["nodes_read"])

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total.to_json(), "nodes": self.nodes, "nodes_read": self.nodes_read,
            "projects": [{"project": p} | u.to_json() for p, u in sorted(self.projects.items())],
            "artifacts": [{"project": p, "artifact": a} | u.to_json() for (p, a), u in sorted(self.artifacts.items())],
            "versions": [{"project": p, "artifact": a, "version": f"v{n}"} | u.to_json()
                         for (p, a, n), u in sorted(self.versions.items())],
        }


class _Graph:
    """The distinct tree nodes reachable from a set of roots: hex -> (size, children, {file hex: size})."""

    def __init__(self, store: Store, cache: UsageCache) -> None:
        self.store = store
        self.cache = cache
        self.nodes: dict[str, tuple[int, list[str], dict[str, int]]] = {}
        self.subtree: dict[str, int | None] = {}
        self.read = 0

    def load(self, roots: Iterable[str]) -> None:
        todo = list(dict.fromkeys(r for r in roots if r not in self.nodes))
        while todo:
            cached = self.cache.nodes(todo)
            missing = [h for h in todo if h not in cached]
            fresh = self._read(missing) if missing else {}
            nxt: list[str] = []
            for h in todo:
                size, children, files, sub = cached[h] if h in cached else (*fresh[h], None)
                self.nodes[h] = (size, children, files)
                self.subtree[h] = sub
                nxt.extend(c for c in children if c not in self.nodes)
            todo = list(dict.fromkeys(c for c in nxt if c not in self.nodes))

    def _read(self, hexes: list[str]) -> dict[str, tuple[int, list[str], dict[str, int]]]:
        got = self.store.read_blobs([Digest(self.store.algorithm, h) for h in hexes])
        out: dict[str, tuple[int, list[str], dict[str, int]]] = {}
        for d, raw in got.items():
            if isinstance(raw, ArtyError):
                raise raw
            try:
                entries = json.loads(raw)["entries"]
                children: list[str] = []
                files: dict[str, int] = {}
                prefix = self.store.algorithm + ":"
                for name, obj in entries.items():
                    kind = obj.get("type")
                    if kind == "dir":
                        d_ = obj.get("digest")
                        children.append(d_[len(prefix):] if isinstance(d_, str) and d_.startswith(prefix)
                                        else subtree(name, obj).hex)
                    elif kind == "file":
                        d_ = obj["digest"]  # the node was verified by its digest: a quick split will do
                        files[d_[len(prefix):] if isinstance(d_, str) and d_.startswith(prefix)
                              else Digest.parse(d_).hex] = int(obj["size"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise IntegrityError(f"manifest node '{d}' is malformed: {exc}",
                                     hint="'art verify' lists every bad object") from None
            out[d.hex] = (len(raw), list(dict.fromkeys(children)), files)
        self.read += len(out)
        self.cache.put_nodes([(h, *v) for h, v in out.items()])
        return out

    def order(self, roots: Iterable[str]) -> list[str]:
        """Every node reachable from ``roots``, each parent before its children."""
        post: list[str] = []
        seen: set[str] = set()
        for root in roots:
            if root in seen:
                continue
            seen.add(root)
            stack = [(root, iter(self.nodes[root][1]))]
            while stack:
                node, it = stack[-1]
                for child in it:
                    if child not in seen:
                        seen.add(child)
                        stack.append((child, iter(self.nodes[child][1])))
                        break
                else:
                    stack.pop()
                    post.append(node)
        post.reverse()
        return post

    def subtree_sizes(self, order: list[str]) -> None:
        """Fill in (and cache) the stored bytes under each node: its blob, its files, its children's."""
        new: dict[str, int] = {}
        for h in reversed(order):  # children first
            if self.subtree.get(h) is None:
                size, children, files = self.nodes[h]
                total = size + sum(files.values()) + sum(self.subtree[c] or 0 for c in children)
                self.subtree[h] = new[h] = total
        if new:
            self.cache.put_subtrees(new)


def _merge(a: Any, b: Any, capped: bool) -> Any:
    """Owner lattice: None (nobody) < a set of keys; capped: one key < _MANY."""
    if a is None:
        return b
    if b is None or a is b or a == b:
        return a
    if capped:
        return _MANY
    return a | b


def _owners(graph: _Graph, order: list[str], roots: dict[str, Any], capped: bool,
            extra: dict[str, Any]) -> dict[str, Any]:
    """The owner of every stored blob (node or file, by hex): ``roots`` gives each root node's
    owner, which flows to its descendants; ``extra`` adds owners of single blobs (runs).

    Nodes are grouped by owner first, and each group's blobs gathered into one set (C-speed
    unions): the per-blob work in Python is then one step per distinct blob per group, not one
    per file entry of every node (a file unchanged across 1,000 versions of its folder sits in
    many nodes, nearly always of one group)."""
    node_owner: dict[str, Any] = dict(roots)
    for h in order:
        own = node_owner.get(h)
        for c in graph.nodes[h][1]:
            node_owner[c] = _merge(node_owner.get(c), own, capped)
    groups: dict[Any, set[str]] = {}
    for h in order:
        own = node_owner[h]
        key = id(own) if own is _MANY else own
        group = groups.get(key)
        if group is None:
            group = groups[key] = set()
        group.add(h)
        group.update(graph.nodes[h][2])
    owner_of = {(id(o) if o is _MANY else o): o for o in node_owner.values()}
    blob: dict[str, Any] = {}
    many = groups.pop(id(_MANY), None)
    for key, group in groups.items():
        own = owner_of[key]
        for h in group:
            blob[h] = _merge(blob.get(h), own, capped)
    if many:  # several owners already: nothing to merge
        blob.update(dict.fromkeys(many, _MANY))
    for h, own in extra.items():
        if h in blob:
            blob[h] = _merge(blob[h], own, capped)
    return blob


def _sizes(graph: _Graph, order: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for h in order:
        size, _, files = graph.nodes[h]
        out.update(files)
        out[h] = size
    return out


def _version_facts(store: Store, cache: UsageCache, chosen: list[tuple[str, str, int]]
                   ) -> dict[tuple[str, str, int], tuple[str, int, int]]:
    """``(digest hex, logical size, files)`` of each version, from the cache or its record."""
    known = cache.versions()
    out: dict[tuple[str, str, int], tuple[str, int, int]] = {}
    new: list[tuple[str, str, int, int, str]] = []
    for p, a, n in chosen:
        path = f"{layout.versions(p, a)}/{layout.seq_name(n)}"
        hit = known.get(path)
        if hit is None:
            rec = store.try_record(path, records.VERSION)
            if rec is None:
                continue  # bad record: warned of
            try:
                digest = Digest.parse(rec["digest"]).hex
            except ArtyError:
                continue
            hit = (digest, int(rec["size"]), int(rec["files"]), rec["created_at"])
            new.append((path, *hit))
        out[(p, a, n)] = hit[:3]
    if new:
        cache.put_versions(new)
    return out


def live_versions(store: Store) -> list[tuple[str, str, int]]:
    """Every version that is not deleted, registries left out (their versions are links)."""
    registries: dict[str, bool] = {}
    out = []
    for p, a, n in iter_versions(store):
        if p not in registries:
            registries[p] = is_registry(store, p)
        if not registries[p]:
            out.append((p, a, n))
    return out


def store_usage(store: Store, cache: UsageCache | None = None, runs: bool = True) -> StoreUsage:
    """The usage of every live version, artifact and project of ``store``.

    ``runs``: count the blobs run histories name (logged media) as referenced by runs, so never
    unique to a version (reads every run's history segments; False skips that)."""
    from arty.artifacts.gc import run_media_digests

    cache = cache or UsageCache.for_store(store)
    facts = _version_facts(store, cache, live_versions(store))
    media = {d.hex: frozenset({("runs",)}) for d in run_media_digests(store)} if runs else {}
    # the same live versions and run media as a pass before: its result (all of it immutable input)
    state = [sorted([list(k), list(v)] for k, v in facts.items()), sorted(media), runs]
    result_key = hashlib.sha256(json.dumps(state).encode()).hexdigest()
    hit = cache.result(result_key)
    if hit is not None:
        return StoreUsage.from_json(hit | {"nodes_read": 0})
    graph = _Graph(store, cache)
    roots = sorted({d for d, _, _ in facts.values()})
    graph.load(roots)
    order = graph.order(roots)
    graph.subtree_sizes(order)
    sizes = _sizes(graph, order)
    out = StoreUsage(nodes=len(order), nodes_read=graph.read)

    # versions: capped owners (a version key, or several)
    root_owner: dict[str, Any] = {}
    for key, (d, _, _) in facts.items():
        root_owner[d] = _merge(root_owner.get(d), key, True)
    owners = _owners(graph, order, root_owner, True, {h: _MANY for h in media})
    for key, (d, logical, files) in facts.items():
        out.versions[key] = Usage(logical=logical, versions=1, files=files)
    for h, own in owners.items():
        if own is not None and own is not _MANY:
            out.versions[own].unique += sizes[h]
    for key, (d, _, _) in facts.items():
        u = out.versions[key]
        u.shared = max(0, (graph.subtree[d] or 0) - u.unique)

    # artifacts and projects: owner sets (few keys), exact
    for level, table in (("artifact", out.artifacts), ("project", out.projects)):
        root_sets: dict[str, Any] = {}
        for (p, a, n), (d, _, _) in facts.items():
            k = (p, a) if level == "artifact" else p
            root_sets[d] = _merge(root_sets.get(d), frozenset({k}), False)
        owners = _owners(graph, order, root_sets, False, media)
        for (p, a, n), (_, logical, files) in facts.items():
            u = table.setdefault((p, a) if level == "artifact" else p, Usage())  # type: ignore[arg-type]
            u.logical += logical
            u.files += files
            u.versions += 1
        for h, own in owners.items():
            if not own:
                continue
            keys = [k for k in own if k != ("runs",)]
            for k in keys:
                if len(own) == 1:
                    table[k].unique += sizes[h]
                else:
                    table[k].shared += sizes[h]
    out.total = Usage(logical=sum(u.logical for u in out.projects.values()),
                      unique=sum(sizes.values()), versions=len(facts),
                      files=sum(u.files for u in out.projects.values()))
    cache.put_result(result_key, out.to_json())
    return out


def freed_by(store: Store, doomed: Iterable[tuple[str, str, int]], cache: UsageCache | None = None) -> int:
    """The stored bytes that deleting the versions ``doomed`` together would free: the blobs
    they reference that no other live version and no run references."""
    from arty.artifacts.gc import run_media_digests

    doomed = set(doomed)
    if not doomed:
        return 0
    cache = cache or UsageCache.for_store(store)
    facts = _version_facts(store, cache, live_versions(store))
    graph = _Graph(store, cache)
    roots = sorted({d for d, _, _ in facts.values()})
    graph.load(roots)
    order = graph.order(roots)
    sizes = _sizes(graph, order)
    root_owner: dict[str, Any] = {}
    for key, (d, _, _) in facts.items():
        root_owner[d] = _merge(root_owner.get(d), "doomed" if key in doomed else "kept", True)
    owners = _owners(graph, order, root_owner, True, {d.hex: _MANY for d in run_media_digests(store)})
    return sum(sizes[h] for h, own in owners.items() if own == "doomed")
