"""Re-hashing: a version's objects, a downloaded copy, or the whole store.

Every check returns a list of :class:`Problem` (empty means good) and names
every bad object; nothing stops at the first one.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

from arty.artifacts.download import safe_target
from arty.artifacts.manifest import Entry, TreeReader, ref_identity
from arty.artifacts.repair import KIND, find_bad_records
from arty.errors import ArtyError, IntegrityError, NotFound
from arty.hashing import Digest, hash_file
from arty.store import Store, UriReader, layout


@dataclass(frozen=True)
class Problem:
    """One thing that failed a check: ``kind`` is missing, corrupt, changed, malformed or bad-record."""

    kind: str
    subject: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message}


def _rehash(store: Store, digests: Iterable[Digest], progress: Callable[[int], None] | None) -> list[Problem]:
    def check(d: Digest) -> Problem | None:
        try:
            actual = store.rehash_blob(d)
        except NotFound:
            return Problem("missing", str(d), f"object '{d}' is missing")
        finally:
            if progress:
                progress(1)
        if actual != d:
            return Problem("corrupt", str(d), f"object '{d}' is corrupt (its bytes hash to '{actual}')")
        return None

    with ThreadPoolExecutor(4) as pool:
        return [p for p in pool.map(check, sorted(set(digests))) if p is not None]


def _walk_tree(trees: TreeReader, root: Digest, where: str) -> tuple[list[Digest], list[Entry], list[Problem]]:
    """Nodes and entries of a tree, with a problem for each unreadable node."""
    nodes: list[Digest] = []
    entries: list[Entry] = []
    problems: list[Problem] = []

    def visit(d: Digest, prefix: str) -> None:
        try:
            node = trees.node(d)
        except NotFound:
            problems.append(Problem("missing", str(d), f"manifest node '{d}' of {where} is missing"))
            return
        except ArtyError as exc:
            problems.append(Problem("corrupt", str(d), f"manifest node '{d}' of {where}: {exc.message}"))
            return
        nodes.append(d)
        for name, obj in sorted(node.items()):
            try:
                if obj.get("type") == "dir":
                    visit(Digest.parse(obj["digest"]), f"{prefix}{name}/")
                else:
                    entries.append(Entry.from_json(prefix + name, obj))
            except ArtyError as exc:
                problems.append(Problem("malformed", f"{where}:{prefix}{name}", exc.message))

    visit(root, "")
    return nodes, entries, problems


def check_reference(entry: Entry) -> Problem | None:
    """Is a referenced object still what was recorded?"""
    try:
        info = UriReader(entry.uri or "").info(entry.uri or "")
    except FileNotFoundError:
        return Problem("changed", entry.uri or entry.path, f"referenced object '{entry.uri}' no longer exists")
    now = ref_identity(info)
    recorded = {k: v for k, v in entry.ref.items() if k != "mtime"}
    if int(info.get("size") or 0) != entry.size or any(
            k in now and str(now[k]) != str(v) for k, v in recorded.items()):
        return Problem("changed", entry.uri or entry.path, f"referenced object '{entry.uri}' changed")
    uri = entry.uri or ""
    if entry.digest is not None and uri.startswith("file://"):
        # A local reference carries no ETag: its recorded digest is what identifies it.
        try:
            actual = hash_file(uri[len("file://"):], entry.digest.algorithm)
        except FileNotFoundError:
            return Problem("changed", uri, f"referenced object '{uri}' no longer exists")
        if actual != entry.digest:
            return Problem("changed", uri, f"referenced object '{uri}' changed")
    return None


def verify_version(store: Store, trees: TreeReader, root: Digest, where: str | None = None,
                   progress: Callable[[int], None] | None = None) -> list[Problem]:
    """Every node and blob of one version present and matching its digest; references unchanged."""
    where = where or f"tree '{root}'"
    nodes, entries, problems = _walk_tree(trees, root, where)
    problems += _rehash(store, [e.digest for e in entries if e.digest is not None and not e.is_ref], progress)
    for e in entries:
        if e.is_ref:
            p = check_reference(e)
            if p:
                problems.append(p)
    return problems


def verify_download(store: Store, entries: list[Entry], root: str) -> list[Problem]:
    """A downloaded folder holds every file of the version with the right bytes."""
    problems = []
    for e in entries:
        target = safe_target(root, e.path)
        if not os.path.isfile(target):
            problems.append(Problem("missing", target, f"file '{target}' is missing"))
        elif e.digest is not None:
            actual = hash_file(target, e.digest.algorithm)
            if actual != e.digest:
                problems.append(Problem("corrupt", target, f"file '{target}' does not match '{e.digest}'"))
        elif os.path.getsize(target) != e.size:
            problems.append(Problem("corrupt", target, f"file '{target}' has the wrong size"))
    return problems


def iter_versions(store: Store) -> Iterable[tuple[str, str, int]]:
    """``(project, artifact, version)`` for every version in the store that is not deleted."""
    for project in store.list(layout.PROJECTS):
        for name in store.list(layout.artifacts(project)):
            gone = {layout.parse_seq(n) for n in store.list(layout.deleted(project, name))}
            for n in store.log_seqs(layout.versions(project, name)):
                if n not in gone:
                    yield project, name, n


def verify_store(store: Store, progress: Callable[[int], None] | None = None,
                 versions: Iterable[tuple[str, str, int]] | None = None) -> list[Problem]:
    """Check every record (:func:`arty.artifacts.repair.find_bad_records`: kind ``bad-record``,
    the record's path as subject); re-hash every object; check every version's tree.

    With ``versions``, only those versions (and their objects), and the records of their artifacts.
    """
    trees = TreeReader(store)
    selected = versions is not None
    chosen = list(versions) if versions is not None else None
    bad = find_bad_records(store, None if chosen is None else {(p, name) for p, name, _ in chosen})
    problems = [Problem(KIND, f.path, f.message) for f in bad]
    bad_paths = {f.path for f in bad}
    referenced: set[Digest] = set()
    node_set: set[Digest] = set()
    for project, name, n in (chosen if chosen is not None else iter_versions(store)):
        where = f"'{project}/{name}:v{n}'"
        if f"{layout.versions(project, name)}/{layout.seq_name(n)}" in bad_paths:
            continue  # reported above
        try:
            rec = store.log_read(layout.versions(project, name), n)
            root = Digest.parse(rec["digest"])
        except (IntegrityError, KeyError, TypeError) as exc:
            problems.append(Problem("malformed", where, f"version record {where} is unreadable: {exc}"))
            continue
        nodes, entries, found = _walk_tree(trees, root, where)
        problems += found
        referenced.update(nodes)
        node_set.update(nodes)
        for e in entries:
            if e.is_ref:
                p = check_reference(e)
                if p:
                    problems.append(p)
            elif e.digest is not None:
                referenced.add(e.digest)
        if not found and (sum(e.size for e in entries), len(entries)) != (rec.get("size"), rec.get("files")):
            problems.append(Problem("malformed", where, f"version record {where} disagrees with its tree "
                                                        "about size or file count"))
    if selected:
        problems += _rehash(store, referenced - node_set, progress)
        return _dedupe(problems)
    all_blobs = set(store.iter_blobs())
    for d in sorted(referenced - all_blobs):
        problems.append(Problem("missing", str(d), f"object '{d}' is missing"))
    problems += _run_media_problems(store, all_blobs)
    problems += _rehash(store, all_blobs, progress)
    return _dedupe(problems)


def _run_media_problems(store: Store, all_blobs: set[Digest]) -> list[Problem]:
    """Every image or table a run's history names must be in the store (docs/media.md)."""
    from arty.artifacts.gc import media_digests_of_run

    problems = []
    for project in store.list(layout.PROJECTS):
        for run_id in store.list(layout.runs(project)):
            where = f"run '{project}/{run_id}'"
            try:
                named = media_digests_of_run(store, project, run_id)
            except ArtyError as exc:
                problems.append(Problem("malformed", where, f"{where}: {exc.message}"))
                continue
            for d in sorted(named - all_blobs, key=str):
                problems.append(Problem("missing", str(d), f"object '{d}' (an image or table logged by {where}) "
                                                           "is missing"))
    return problems


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if p.subject not in seen:
            seen.add(p.subject)
            out.append(p)
    return out
