"""A working folder against a version: compare it (status, diff) and make it match (checkout).

Plan, then apply, like dvc-data's checkout: :func:`compare` reads the folder and says which
files were added, removed or modified against a version's manifest; :func:`plan_checkout` turns
that into files to fetch, files to remove, and the local changes that no version holds (which a
checkout refuses to discard unless forced); :func:`apply_checkout` fetches through the download
code (staged, verified, renamed into place only when every file is good) and then removes.

Digests of local files come from the stat cache when a file's stat is unchanged, so an
unchanged folder is not re-read; files hashed now are remembered there. The stat cache is the
only thing :func:`compare` and :func:`plan_checkout` write: never the store, the folder or the
lock file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

from arty.artifacts.download import Action, download, safe_target
from arty.artifacts.lockfile import LockEntry
from arty.artifacts.manifest import Diff, Entry, subtree
from arty.artifacts.staging import LocalFile, walk_folder
from arty.artifacts.versions import ArtifactVersion, Registry
from arty.errors import ArtyError, BadRecord, InvalidPath, NotFound
from arty.hashing import Digest, FileStat, StatCache, hash_file
from arty.store import records


class FolderHasher:
    """Digests of the files under one folder, from the stat cache when their stat is unchanged."""

    def __init__(self, root: str, cache: StatCache | None, algorithm: str) -> None:
        self.root = os.path.abspath(root)
        self.cache = cache
        self.algorithm = algorithm
        self._known: dict[str, tuple[FileStat, Digest]] = \
            cache.load(self.root + os.sep, algorithm) if cache is not None else {}
        self._fresh: list[tuple[str, FileStat, Digest]] = []
        self._started = time.time_ns()
        #: Files actually read (not answered by the stat cache).
        self.hashed = 0

    def digest(self, f: LocalFile) -> Digest:
        hit = self._known.get(f.local)
        if hit is not None and hit[0] == f.stat:
            return hit[1]
        try:
            d = hash_file(f.local, self.algorithm)
        except FileNotFoundError:
            raise NotFound(f"file '{f.local}' vanished while it was being compared",
                           hint="run the command again once the folder stops changing") from None
        self.hashed += 1
        self._known[f.local] = (f.stat, d)
        self._fresh.append((f.local, f.stat, d))
        return d

    def save(self) -> None:
        """Remember the digests computed so far in the stat cache."""
        if self.cache is not None and self._fresh:
            self.cache.store(self._fresh, self._started)
            self._fresh = []


@dataclass
class FolderDiff:
    """What differs from a version to a folder (paths relative to the folder, '/'-separated)."""

    root: str
    exists: bool
    added: list[LocalFile] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    modified: list[tuple[Entry, LocalFile]] = field(default_factory=list)
    unchanged: list[tuple[Entry, LocalFile]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)

    def as_diff(self) -> Diff:
        """As a :class:`Diff` from the version to the folder (local files carry their size only)."""
        return Diff(added=[Entry(f.path, f.stat.size) for f in self.added], removed=list(self.removed),
                    changed=[(e, Entry(f.path, f.stat.size)) for e, f in self.modified])

    def to_json(self) -> dict[str, list[str]]:
        return {"added": [f.path for f in self.added], "removed": [e.path for e in self.removed],
                "modified": [e.path for e, _ in self.modified]}

    def summary(self) -> str:
        if not self:
            return "up to date" if self.exists else "empty"
        return f"{len(self.added)} added, {len(self.removed)} removed, {len(self.modified)} modified"


def local_files(root: str) -> dict[str, LocalFile]:
    """The files under ``root`` by path ({} when it does not exist); a file in its place is an error."""
    if not os.path.lexists(root):
        return {}
    if not os.path.isdir(root):
        raise InvalidPath(f"'{root}' is a file, not a folder", hint="give the folder a version was checked out to")
    return {f.path: f for f in walk_folder(root)}


def compare(root: str, entries: list[Entry], hasher: FolderHasher) -> FolderDiff:
    """Compare the folder ``root`` with a version's ``entries``. A file whose size differs is
    modified without being read; one of the same size is compared by digest (stat cache first).
    A file added by reference without a recorded digest is compared by size only."""
    local = local_files(root)
    out = FolderDiff(os.path.abspath(root), os.path.isdir(root))
    wanted = set()
    for e in entries:
        wanted.add(e.path)
        f = local.get(e.path)
        if f is None:
            out.removed.append(e)
        elif f.stat.size != e.size or (e.digest is not None and hasher.digest(f) != e.digest):
            out.modified.append((e, f))
        else:
            out.unchanged.append((e, f))
    out.added = sorted((f for p, f in local.items() if p not in wanted), key=lambda f: f.path)
    return out


def held_by_versions(registry: Registry, name: str, digests: set[Digest]) -> set[Digest]:
    """Which of ``digests`` some version of artifact ``name`` holds (newest first, each distinct
    manifest node read once, stopping as soon as all are found). Versions whose record is bad are
    skipped with a warning."""
    left = set(digests)
    seen: set[Digest] = set()
    for number in reversed(registry.versions(name)):
        if not left:
            break
        try:
            root = registry.version(name, number).digest
        except (BadRecord, NotFound) as exc:
            if isinstance(exc, BadRecord):
                records.warn_skipped(exc)
            continue
        stack = [root] if root not in seen else []
        seen.add(root)
        while stack and left:
            for child_name, obj in registry.trees.node(stack.pop()).items():
                if obj.get("type") == "dir":
                    child = subtree(child_name, obj)
                    if child not in seen:
                        seen.add(child)
                        stack.append(child)
                elif obj.get("digest"):
                    left.discard(Digest.parse(obj["digest"]))
    return digests - left


@dataclass
class CheckoutPlan:
    """What a checkout of ``version`` into ``root`` will do."""

    root: str
    version: ArtifactVersion
    fetch: list[Action]
    remove: list[LocalFile]
    kept: int
    #: ``(path, "modified" | "added")``: local content that no version of the artifact holds.
    unsafe: list[tuple[str, str]]
    #: Every file path of the version.
    targets: set[str] = field(default_factory=set)

    @property
    def restored(self) -> list[str]:
        return [a.entry.path for a in self.fetch]

    def to_json(self) -> dict[str, object]:
        return {"fetched": self.restored, "removed": [f.path for f in self.remove], "kept": self.kept}


def plan_checkout(registry: Registry, version: ArtifactVersion, root: str, hasher: FolderHasher,
                  base: ArtifactVersion | None = None) -> CheckoutPlan:
    """Plan making ``root`` hold exactly ``version``. ``base`` is the version the folder was last
    added or checked out as: content it holds is safe to replace. So is content of ``version``
    and of any other version of the same artifact. Reads the folder; writes nothing but the
    stat cache."""
    entries = version.files()
    diff = compare(root, entries, hasher)
    fetch = [Action("fetch", e, safe_target(root, e.path)) for e in diff.removed]
    fetch += [Action("fetch", e, safe_target(root, e.path)) for e, _ in diff.modified]
    fetch.sort(key=lambda a: a.entry.path)
    local: list[tuple[LocalFile, str]] = [(f, "modified") for _, f in diff.modified]
    local += [(f, "added") for f in diff.added]
    unsafe: list[tuple[str, str]] = []
    if local:
        known = {e.digest for e in entries if e.digest is not None}
        if base is not None and base.digest != version.digest:
            known |= {e.digest for e in base.files() if e.digest is not None}
        digests = {f.path: hasher.digest(f) for f, _ in local}
        unknown = {d for d in digests.values() if d not in known}
        if unknown:
            unknown -= held_by_versions(registry.in_project(version.project), version.base_name, unknown)
        unsafe = sorted((f.path, kind) for f, kind in local if digests[f.path] in unknown)
    hasher.save()
    return CheckoutPlan(os.path.abspath(root), version, fetch, diff.added, len(diff.unchanged), unsafe,
                        {e.path for e in entries})


def refuse_unsafe(plan: CheckoutPlan, shown: str) -> None:
    """Raise the error of a checkout that would discard local changes (``shown``: the folder as
    the user named it)."""
    listed = ", ".join(f"{p} ({kind})" for p, kind in plan.unsafe[:10])
    more = f" and {len(plan.unsafe) - 10} more" if len(plan.unsafe) > 10 else ""
    raise ArtyError(f"checkout of '{plan.version.name}' would discard local changes in '{shown}' that no "
                    f"version holds: {listed}{more}",
                    hint=f"keep them as a new version first ('art add {shown} --type ...'), "
                         "or pass --force to discard them")


def apply_checkout(registry: Registry, plan: CheckoutPlan, progress: Callable[[int, int], None] | None = None,
                   allow_local_refs: bool = False) -> None:
    """Fetch the missing and modified files (verified; a failure leaves them as they were), then
    remove the files the version does not have and the folders that leaves empty. Files already
    right are not touched. Unsafe local changes must have been refused (or forced) by the caller."""
    root = plan.root
    folders = set().union(*(_prefixes(p) for p in plan.targets)) if plan.targets else set()
    # A removed file that stands where the version needs a folder (or inside a folder that stands
    # where it needs a file) goes first, so that the fetched files can be placed.
    in_way = [f for f in plan.remove if f.path in folders or _prefixes(f.path) & plan.targets]
    _remove(root, in_way)
    for a in plan.fetch:
        if os.path.isdir(a.target) and not os.path.islink(a.target):
            _remove_empty_tree(a.target)  # an empty folder where a file goes
    if plan.fetch:
        download(registry.store, [a.entry for a in plan.fetch], root, progress=progress,
                 stat_cache=registry.stat_cache, allow_local_refs=allow_local_refs, planned=plan.fetch)
    done = {f.path for f in in_way}
    _remove(root, [f for f in plan.remove if f.path not in done])


def _remove_empty_tree(path: str) -> None:
    """Remove the folder ``path`` if it holds nothing but empty folders (else leave all of it)."""
    for here, _dirs, _files in os.walk(path, topdown=False):
        try:
            os.rmdir(here)
        except OSError:
            return


def _prefixes(path: str) -> set[str]:
    """``a/b/c`` -> ``{"a", "a/b"}``."""
    parts = path.split("/")
    return {"/".join(parts[:i]) for i in range(1, len(parts))}


def _remove(root: str, files: list[LocalFile]) -> None:
    """Remove ``files`` and then every folder below ``root`` that this left empty."""
    parents: set[str] = set()
    for f in files:
        try:
            os.unlink(f.local)
        except FileNotFoundError:
            pass
        parents |= _prefixes(f.path)
    for rel in sorted(parents, key=lambda p: p.count("/"), reverse=True):
        try:
            os.rmdir(os.path.join(root, *rel.split("/")))
        except OSError:
            pass  # not empty (or gone): kept


def resolve_locked(registry: Registry, entry: LockEntry, lock_path: str) -> ArtifactVersion:
    """The version a lock entry names: found by its digest (numbers may differ between stores),
    else by number when that version has the digest; NotFound naming the entry otherwise."""
    reg = registry.in_project(entry.project)
    v = reg.find_by_digest(entry.name, entry.digest)
    if v is None and entry.number in reg.versions(entry.name):
        candidate = reg.version(entry.name, entry.number)
        if candidate.digest == entry.digest:
            v = candidate
    if v is None:
        raise NotFound(f"version '{entry.ref}' ({entry.digest}) recorded for folder '{entry.path}' in "
                       f"'{lock_path}' is not in store '{registry.store.url}'",
                       hint="use the store it was added to (--store, ARTY_STORE, .arty/config.json) "
                            "or 'art pull' it from there")
    return v
