"""Re-hashing: a version's objects, a downloaded copy, or the whole store.

Every check returns a list of :class:`Problem` (empty means good) and names
every bad object; nothing stops at the first one.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from arty.artifacts.download import safe_target
from arty.artifacts.manifest import Entry, TreeReader, ref_identity, run_nested
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


class Claims:
    """The sizes that file entries claim for their blobs, to check once the blobs are read.

    Kept small: the first claim per blob, and only the claims that differ from it.
    """

    def __init__(self) -> None:
        self._first: dict[Digest, tuple[str, str, int]] = {}  # blob -> (where, path, size)
        self._other: dict[Digest, list[tuple[str, str, int]]] = {}

    def add(self, where: str, entries: Iterable[Entry]) -> None:
        for e in entries:
            if e.digest is None or e.is_ref:
                continue
            first = self._first.setdefault(e.digest, (where, e.path, e.size))
            if first[2] != e.size:
                self._other.setdefault(e.digest, []).append((where, e.path, e.size))

    def digests(self) -> list[Digest]:
        return list(self._first)

    def problems(self, digest: Digest, size: int) -> list[Problem]:
        """A problem for every entry that claims another size than ``size`` for ``digest``."""
        out = []
        claimed = [self._first[digest]] if digest in self._first else []
        for where, path, n in claimed + self._other.get(digest, []):
            try:
                Entry(path, n, digest).check_size(size)
            except IntegrityError as exc:
                out.append(Problem("malformed", f"{where}:{path}", f"{where}: {exc.message}"))
        return out


def _rehash(store: Store, digests: Iterable[Digest], progress: Callable[[int], None] | None,
            claims: Claims | None = None) -> list[Problem]:
    """Re-hash ``digests``; the size of each must also be what every entry in ``claims`` says."""
    def check(d: Digest) -> list[Problem]:
        try:
            actual, size = store.measure_blob(d)
        except NotFound:
            return [Problem("missing", str(d), f"object '{d}' is missing")]
        finally:
            if progress:
                progress(1)
        if actual != d:
            return [Problem("corrupt", str(d), f"object '{d}' is corrupt (its bytes hash to '{actual}')")]
        return claims.problems(d, size) if claims is not None else []

    with ThreadPoolExecutor(4) as pool:
        return [p for found in pool.map(check, sorted(set(digests))) for p in found]


def _walk_tree(trees: TreeReader, root: Digest, where: str) -> tuple[list[Digest], list[Entry], list[Problem]]:
    """Nodes and entries of a tree, with a problem for each unreadable node."""
    nodes: list[Digest] = []
    entries: list[Entry] = []
    problems: list[Problem] = []

    def visit(d: Digest, prefix: str) -> Iterator[Any]:  # recursion as generators: any depth
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
                    sub = Digest.parse(obj["digest"])
                else:
                    entries.append(Entry.from_json(prefix + name, obj))
                    continue
            except (ArtyError, KeyError, TypeError) as exc:
                message = exc.message if isinstance(exc, ArtyError) else f"malformed manifest entry '{prefix}{name}'"
                problems.append(Problem("malformed", f"{where}:{prefix}{name}", message))
                continue
            yield visit(sub, f"{prefix}{name}/")

    for _ in run_nested(visit(root, "")):
        pass
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
    claims = Claims()
    claims.add(where, entries)
    problems += _rehash(store, claims.digests(), progress, claims)
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
    claims = Claims()
    for project, name, n in (chosen if chosen is not None else iter_versions(store)):
        where = f"'{project}/{name}:v{n}'"
        if f"{layout.versions(project, name)}/{layout.seq_name(n)}" in bad_paths:
            continue  # reported above (find_bad_records also applies the checks of arty.artifacts.validate)
        try:
            rec = store.log_read(layout.versions(project, name), n)
        except IntegrityError as exc:
            problems.append(Problem("malformed", where, f"version record {where} is unreadable: {exc}"))
            continue
        root = Digest.parse(rec["digest"])
        nodes, entries, found = _walk_tree(trees, root, where)
        problems += found
        referenced.update(nodes)
        node_set.update(nodes)
        claims.add(where, entries)
        for e in entries:
            if e.is_ref:
                p = check_reference(e)
                if p:
                    problems.append(p)
            elif e.digest is not None:
                referenced.add(e.digest)
        if not found and (sum(e.size for e in entries), len(entries)) != (rec["size"], rec["files"]):
            problems.append(Problem("malformed", where, f"version record {where} disagrees with its tree "
                                                        "about size or file count"))
    if selected:
        problems += _rehash(store, referenced - node_set, progress, claims)
        return _dedupe(problems)
    all_blobs = set(store.iter_blobs())
    pack_problems, why_missing = _pack_problems(store)
    problems = [Problem(p.kind, p.subject, p.message + why_missing) if p.kind == "missing" else p
                for p in problems] + pack_problems
    for d in sorted(referenced - all_blobs):
        problems.append(Problem("missing", str(d), f"object '{d}' is missing{why_missing}"))
    problems += _run_media_problems(store, all_blobs)
    problems += _rehash(store, all_blobs, progress, claims)
    return _dedupe(problems)


def _pack_problems(store: Store) -> tuple[list[Problem], str]:
    """Problems of the packs themselves (the blobs in them are re-hashed like loose ones): an
    index that cannot be used, or a pack shorter than its index says. Also what to add to a
    "missing" message when packs without a usable index exist (their blobs cannot be found).

    A pack without any index is not a problem by itself: a writer at work or killed before
    its index leaves one (``art gc`` removes it after the grace period); it is warned about.
    """
    from arty.store.packs import index_path, pack_path

    index = store.packs
    problems = [Problem("malformed", f"pack {name}", f"{message}: the objects it indexes cannot be found")
                for name, message in sorted(index.problems.items())]
    for name, entries in sorted(index.packs().items()):
        try:
            size = store.backend.size(pack_path(name))
        except FileNotFoundError:
            continue
        if size < index.size_of(name):
            cut = sorted(h for h, (o, n) in entries.items() if o + n > size)
            problems.append(Problem("corrupt", f"pack {name}",
                                    f"pack '{pack_path(name)}' holds {size} bytes but its index names "
                                    f"{index.size_of(name)}: {len(cut)} object(s) end past the end of the pack"))
    for name in sorted(index.unindexed):
        warnings.warn(f"arty: pack '{pack_path(name)}' has no index '{index_path(name)}' (a writer at work, or "
                      "one stopped before it wrote the index): the objects in it cannot be found; "
                      "'art gc' removes it after the grace period", RuntimeWarning, stacklevel=2)
    unusable = len(index.problems) + len(index.unindexed)
    why = (f" ({unusable} pack(s) in 'packs/' have no usable index, so objects in them cannot be found: "
           "add or push the files again)") if unusable else ""
    return problems, why


def _run_media_problems(store: Store, all_blobs: set[Digest]) -> list[Problem]:
    """Every blob a run's history names (images, masks, tables, audio, video, ...) must be in
    the store (docs/media.md)."""
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
                problems.append(Problem("missing", str(d), f"object '{d}' (media logged by {where}) "
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
