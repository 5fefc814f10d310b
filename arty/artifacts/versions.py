"""Artifact versions and aliases in one project of a store.

A version is an immutable record in the log ``versions/``; ``by-digest/``
maps content to the version that first held it, so logging identical content
returns the existing version. An alias is a log of moves; its current value is
its highest record (``version: null`` means deleted). ``latest`` is derived:
the highest version.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from arty.artifacts import staging
from arty.artifacts.draft import Artifact, Base
from arty.artifacts.manifest import Diff, Entry, Tree, TreeReader, build, overlay
from arty.artifacts.names import ArtifactRef, check_alias, check_name, parse_version
from arty.artifacts.validate import check_alias_target, check_version_record
from arty.errors import BadRecord, ConflictError, NotFound, UsageError, missing_attribute
from arty.hashing import Digest, StatCache
from arty.store import Store, layout, now_iso, records
from arty.store.leases import WRITE, Lease, who

#: Rounds of upload and check before :meth:`Registry.log` gives up on blobs that keep vanishing.
MAX_STORE_ATTEMPTS = 6


def _span(versions: list[int]) -> str:
    if not versions:
        return "none"
    if versions == list(range(versions[0], versions[-1] + 1)) and len(versions) > 2:
        return f"v{versions[0]}..v{versions[-1]}"
    return ", ".join(f"v{v}" for v in versions)


@dataclass
class LogResult:
    """What :meth:`Registry.log` did: the version, whether it is new, and what changed."""

    version: "ArtifactVersion"
    created: bool
    diff: Diff | None  # against the previous latest version (None for a first version)
    hashed: int  # files read and hashed (the rest came from the stat cache)


def _tree_blobs(entries: list[Entry], tree: "Tree") -> set[Digest]:
    """Every blob a version of ``tree`` references: its nodes and its stored files."""
    out = set(tree.nodes)
    out.update(e.digest for e in entries if e.digest is not None and not e.is_ref)
    return out


class Registry:
    """The artifacts of one project in one store."""

    def __init__(self, store: Store, project: str = "default", stat_cache: StatCache | None = None) -> None:
        self.store = store
        self.project = check_name(project, "project")
        self._stat_cache = stat_cache
        self.trees = TreeReader(store)

    @property
    def stat_cache(self) -> StatCache:
        if self._stat_cache is None:
            self._stat_cache = StatCache(os.path.join(self.store.cache_dir(), "stat-cache.sqlite"))
        return self._stat_cache

    def in_project(self, project: str | None) -> "Registry":
        """The registry of another project in the same store (self for None or the same)."""
        if project is None or project == self.project:
            return self
        return Registry(self.store, project, self._stat_cache)

    # -- reading -------------------------------------------------------------

    def names(self) -> list[str]:
        """Artifact names in this project that have at least one version."""
        return [n for n in self.store.list(layout.artifacts(self.project)) if self.versions(n)]

    def versions(self, name: str) -> list[int]:
        """Version numbers of ``name``, ascending; deleted versions (``art rm``) left out."""
        numbers = self.store.log_seqs(layout.versions(self.project, name))
        if not numbers:
            return numbers
        gone = self.deleted(name)
        return [n for n in numbers if n not in gone] if gone else numbers

    def deleted(self, name: str) -> set[int]:
        """Numbers of the deleted versions of ``name``."""
        seqs = (layout.parse_seq(n) for n in self.store.list(layout.deleted(self.project, name)))
        return {s for s in seqs if s is not None}

    def version(self, name: str, number: int) -> "ArtifactVersion":
        """Version ``number``; NotFound when absent or deleted, BadRecord when its record is bad."""
        check_name(name)
        folder = layout.versions(self.project, name)
        if number in self.deleted(name) and self.store.exists(f"{folder}/{layout.seq_name(number)}"):
            raise self.deleted_error(name, number)
        try:
            rec = self.store.log_read(folder, number, records.VERSION)
        except FileNotFoundError:
            raise self.not_found(name, f"v{number}") from None
        return ArtifactVersion(self, check_version_record(self.store, rec, self.project, name, number))

    def deleted_error(self, name: str, number: int, alias: str | None = None) -> NotFound:
        what = f"alias '{alias}' of artifact '{name}' points to v{number}, which" if alias else \
            f"artifact '{name}:v{number}'"
        rec = self.store.try_record(f"{layout.deleted(self.project, name)}/{number}.json")
        reason = rec.get("reason") if rec is not None else None
        how = f"({reason})" if isinstance(reason, str) and reason.startswith(("retention", "ttl")) else "(art rm)"
        return NotFound(f"{what} was deleted {how} in project '{self.project}' "
                        f"(versions: {_span(self.versions(name))})",
                        hint=f"'art ls {name}' lists the versions that remain")

    def latest(self, name: str) -> "ArtifactVersion | None":
        """The highest version that is not deleted and whose record is good (bad ones warned of), or None."""
        check_name(name)
        folder = layout.versions(self.project, name)
        for number in reversed(self.versions(name)):
            rec = self.store.try_record(f"{folder}/{layout.seq_name(number)}", records.VERSION)
            if rec is None:
                continue
            try:
                return ArtifactVersion(self, check_version_record(self.store, rec, self.project, name, number))
            except BadRecord as exc:
                records.warn_skipped(exc)
        return None

    def delete(self, name: str, number: int, by: str | None = None, reason: str | None = None) -> bool:
        """Delete version ``number`` of ``name``: a record ``deleted/<N>.json``, created if absent
        (``by``: who, default this process's ``user@host``; ``reason``: why, e.g. the retention
        rule that selected it, recorded when given).

        The version record and its blobs stay; the version is hidden from
        ``latest``, listings and resolving, and ``art gc`` reclaims the blobs no
        other version uses. Returns False when it was already deleted.
        """
        self.version(name, number)  # must exist and not be deleted yet
        rec: dict[str, Any] = {"version": number, "at": now_iso(), "by": by or who()}
        if reason is not None:
            rec["reason"] = reason
        created = self.store.create_record(f"{layout.deleted(self.project, name)}/{number}.json", rec)
        if created:
            self.store.journal("version_deleted", project=self.project, artifact=name, version=number)
        return created

    def not_found(self, name: str, selector: str | None) -> NotFound:
        """The error for a missing artifact, version or alias, listing what exists."""
        versions = self.versions(name)
        if not versions:
            elsewhere = self.projects_with(name)
            if elsewhere:
                ref = f"{elsewhere[0]}/{name}" + (f":{selector}" if selector else "")
                return NotFound(f"artifact '{name}' not found in project '{self.project}'; it exists in "
                                f"project{'s' if len(elsewhere) > 1 else ''} "
                                + ", ".join(f"'{p}'" for p in elsewhere),
                                hint=f"name the project in the reference: '{ref}'")
            names = self.names()
            listing = ", ".join(names) if names else "none yet"
            return NotFound(f"artifact '{name}' not found in project '{self.project}' (artifacts: {listing})",
                            hint="'art ls' lists artifacts; '--project' picks another project")
        if selector in (None, "latest"):  # every version's record is bad (each was warned of)
            return NotFound(f"artifact '{name}' has no readable version (versions: {_span(versions)})",
                            hint=records.REPAIR_HINT)
        if parse_version(selector) is not None:
            return NotFound(f"artifact '{name}:{selector}' not found (versions: {_span(versions)})",
                            hint=f"'art ls {name}' lists its versions")
        aliases = sorted(self.aliases(name))
        return NotFound(f"alias '{selector}' of artifact '{name}' not found "
                        f"(aliases: {', '.join(['latest', *aliases])}; versions: {_span(versions)})",
                        hint=f"set it with 'art alias {name}:v<N> {selector}'")

    def projects_with(self, name: str) -> list[str]:
        """The other projects of the store that have a version of artifact ``name``, sorted
        (one listing per project: for error messages)."""
        out = []
        for project in sorted(self.store.list(layout.PROJECTS)):
            try:
                if project != self.project and self.in_project(project).versions(name):
                    out.append(project)
            except UsageError:  # a folder that is not a project name: not a project
                continue
        return out

    def resolve(self, ref: str | ArtifactRef) -> "ArtifactVersion":
        """``name``, ``name:v3``, ``name:latest``, ``name:alias``, ``project/name:alias``."""
        r = ArtifactRef.parse(ref) if isinstance(ref, str) else ref
        reg = self.in_project(r.project)
        sel = r.selector
        if sel is None or sel == "latest":
            v = reg.latest(r.name)
            if v is None:
                raise reg.not_found(r.name, sel)
            return v
        number = parse_version(sel)
        if number is not None:
            return reg.version(r.name, number)
        number = reg.alias_target(r.name, sel)
        if number is None:
            raise reg.not_found(r.name, sel)
        if number in reg.deleted(r.name):
            raise reg.deleted_error(r.name, number, alias=sel)
        return reg.version(r.name, number)

    def resolve_path(self, ref: str) -> tuple["ArtifactVersion", str | None]:
        """``name:alias/path/in/version`` (``project/name:v3/a.csv``, ...): the version and the
        path (validated, no trailing ``/``), or None for a reference to a whole version."""
        r, path = ArtifactRef.parse_with_path(ref)
        return self.resolve(r), path

    # -- aliases -------------------------------------------------------------

    def alias_target(self, name: str, alias: str) -> int | None:
        """The version ``alias`` points at: its highest good record's (bad ones skipped with a warning)."""
        folder = layout.alias(self.project, name, alias)
        got = self.store.log_latest(folder, records.ALIAS)
        return None if got is None else check_alias_target(self.store, got[1], f"{folder}/{layout.seq_name(got[0])}")

    def aliases(self, name: str) -> dict[str, int]:
        """Current aliases of an artifact: alias -> version number (deleted ones left out)."""
        out = {}
        for alias in self.store.list(layout.aliases(self.project, name)):
            target = self.alias_target(name, alias)
            if target is not None:
                out[alias] = target
        return out

    def alias_history(self, name: str, alias: str) -> list[dict[str, Any]]:
        """Every move of ``alias``, oldest first."""
        return [rec for _, rec in self.store.log_records(layout.alias(self.project, name, alias), records.ALIAS)]

    def set_alias(self, name: str, number: int, alias: str, created_by: str | None = None,
                  by: str | None = None) -> None:
        """Point ``alias`` at version ``number`` (a no-op if it already does). ``created_by``: the
        run that moved it; ``by``: who (default this process's ``user@host``)."""
        check_alias(alias)
        self.version(name, number)  # must exist
        if self.alias_target(name, alias) == number:
            return
        self._move_alias(name, alias, number, created_by, by)

    def delete_alias(self, name: str, alias: str, by: str | None = None) -> int:
        """Remove ``alias`` (recorded as a move to nothing; history kept). Returns the old target."""
        check_alias(alias)
        target = self.alias_target(name, alias)
        if target is None:
            raise self.not_found(name, alias)
        self._move_alias(name, alias, None, None, by)
        return target

    def move_alias(self, name: str, alias: str, number: int | None, created_by: str | None = None,
                   by: str | None = None, extra: dict[str, Any] | None = None) -> None:
        """Append a move of ``alias`` to ``number`` (None: removed) even when it points there
        already, with ``extra`` fields in the record (an approval's ``proposed_by``, ...)."""
        check_alias(alias)
        if number is not None:
            self.version(name, number)
        self._move_alias(name, alias, number, created_by, by, extra)

    def _move_alias(self, name: str, alias: str, number: int | None, created_by: str | None,
                    by: str | None = None, extra: dict[str, Any] | None = None) -> None:
        rec = {**(extra or {}), "alias": alias, "version": number, "at": now_iso(), "by": by or who(),
               "run": created_by}
        seq, _ = self.store.log_append(layout.alias(self.project, name, alias), lambda s: rec | {"seq": s})
        self.store.journal("alias_moved", project=self.project, artifact=name, alias=alias, version=number, seq=seq)

    # -- writing -------------------------------------------------------------

    def find_by_digest(self, name: str, digest: Digest) -> "ArtifactVersion | None":
        """The version of ``name`` holding ``digest``: ``by-digest``'s, else the latest if it has it.

        A bad ``by-digest`` record (see :func:`check_by_digest`) is warned of, and
        the versions are searched instead, oldest first.
        """
        path = layout.by_digest(self.project, name, digest)
        try:
            rec = self.store.read_record(path, records.BY_DIGEST)
            if rec["version"] not in self.deleted(name):
                return check_by_digest(self, name, digest, rec)
        except FileNotFoundError:
            pass
        except BadRecord as exc:
            records.warn_skipped(exc)
            return self.first_with_digest(name, digest)
        latest = self.latest(name)
        return latest if latest is not None and latest.digest == digest else None

    def first_with_digest(self, name: str, digest: Digest) -> "ArtifactVersion | None":
        """The oldest version of ``name`` (not deleted, record good) holding ``digest``: reads every one."""
        folder = layout.versions(self.project, name)
        for number in self.versions(name):
            rec = self.store.try_record(f"{folder}/{layout.seq_name(number)}", records.VERSION)
            if rec is not None and rec["digest"] == str(digest):
                return ArtifactVersion(self, rec)
        return None

    def log(self, draft: Artifact, aliases: Iterable[str] = (), created_by: str | None = None,
            progress: staging.Progress | None = None) -> LogResult:
        """Store a draft as a new version, or return the version that already has its content.

        Write order: a write lease, blobs, tree nodes, one flush, the version record,
        ``by-digest``, alias records, journal, and the lease removed. A crash at any
        point leaves a valid store; the lease keeps a concurrent ``art gc`` off the
        blobs until the version record names them (docs/store-format.md).
        """
        aliases = [check_alias(a) for a in aliases]
        ttl = _draft_ttl(draft, aliases)
        self.store.backend.ensure_writable()
        what = f"add {self.project}/{draft.name}"
        base = draft.base
        if base is not None and base.store_url != self.store.url:
            raise UsageError(f"draft '{draft.name}' holds files of a version in store '{base.store_url}', "
                             f"not '{self.store.url}'", hint="log it to the store it came from, "
                                                             "or download the files and add them with add_dir")
        # A draft from a version reuses that version's subtrees unread: a lease naming its tree
        # keeps gc off them (even if the version is deleted meanwhile) until the new record names them.
        base_lease = Lease.take(self.store, WRITE, what, roots=[base.digest]) if base is not None else None
        # Into a local store, scanning already copies files in: the lease comes first and is
        # open (gc keeps what it writes or freshens). Elsewhere scanning only hashes, so the
        # lease can name the tree it will need.
        held: list[Lease] = [base_lease] if base_lease is not None else []
        try:
            if self.store.is_local:
                held.append(Lease.take(self.store, WRITE, what))
            staged = staging.scan(draft, self.store, self.stat_cache, progress)
            tree = self._tree(draft, staged)
            existing = self.find_by_digest(draft.name, tree.digest)
            if existing is not None:
                for a in aliases:
                    self.set_alias(draft.name, existing.number, a, created_by)
                if ttl is not None:
                    existing = _give_ttl(self, existing, ttl)
                return LogResult(existing, False, None, staged.hashed)
            if not self.store.is_local:
                held.append(Lease.take(self.store, WRITE, what, roots=[tree.digest]))
            previous = self.latest(draft.name)
            staged, tree = self._store_blobs(draft, staged, tree, held, progress)
            if base is not None:
                self._check_base(base, base_lease)  # type: ignore[arg-type]
                self.trees.remember(tree.nodes)  # a few nodes: the diff below need not read them back
            folder = layout.versions(self.project, draft.name)
            base = {
                "project": self.project, "name": draft.name, "type": draft.type,
                "digest": str(tree.digest), "size": tree.size, "files": tree.files,
                "description": draft.description, "metadata": draft.metadata,
                "created_at": now_iso(), "created_by": created_by, "by": who(),
            }
            number, rec = self.store.log_append(folder, lambda n: base | {"version": n})
        finally:
            for lease in held:
                lease.release()
        self.store.create_record(layout.by_digest(self.project, draft.name, tree.digest), {"version": number})
        version = ArtifactVersion(self, rec)
        for a in aliases:
            self._move_alias(draft.name, a, number, created_by)
        self.store.journal("version_created", project=self.project, artifact=draft.name, version=number,
                           digest=str(tree.digest))
        if ttl is not None:
            version = _give_ttl(self, version, ttl)
        diff = self.trees.diff(previous.digest, tree.digest) if previous is not None else None
        return LogResult(version, True, diff, staged.hashed)

    def _store_blobs(self, draft: Artifact, staged: staging.Staged, tree: Tree, held: list[Lease],
                     progress: staging.Progress | None) -> tuple[staging.Staged, Tree]:
        """Upload what the version needs and make sure all of it is in the store when the
        version record is created: check the blobs it reuses after the lease (``held[-1]``)
        was taken, wait for the gc passes that were already running then (and check again),
        and replace the lease if it ran out (appended to ``held``; the caller releases them
        all). Returns the (possibly rescanned) draft and tree."""
        store = self.store
        lease = held[-1]
        reused = staging.upload(store, staged, tree)
        check_all = False
        for _ in range(MAX_STORE_ATTEMPTS):
            # On a local store files are copied in while hashing, so which blobs were reused is
            # not known: all are freshened (one utime each), which also marks them as in use for
            # gc. Elsewhere the reused ones are checked (new ones were written under the lease).
            wanted = _tree_blobs(staged.entries, tree) if store.is_local or check_all else reused
            missing = store.freshen_blobs(wanted)
            if missing:  # removed by a gc pass meanwhile: store them again
                staged = staging.scan(draft, store, self.stat_cache, progress)
                tree = self._tree(draft, staged)
                if not lease.open and tree.digest not in lease.roots:  # the files changed meanwhile
                    lease = self._replace_lease(held, tree.digest)
                reused = staging.upload(store, staged, tree)
                continue
            if lease.settle():  # gc passes that began before the lease may have removed some
                continue
            if lease.lapsed():  # paused past its expiry: gc may have ignored it; start over
                lease = self._replace_lease(held, None if lease.open else tree.digest)
                check_all = True
                continue
            return staged, tree
        raise ConflictError(f"blobs of '{draft.name}' kept vanishing while it was logged "
                            "(a concurrent 'art gc' removing them?)", hint="log it again")

    def _tree(self, draft: Artifact, staged: staging.Staged) -> Tree:
        """The tree of a scanned draft: built from its entries, or for a draft from a version,
        that version's tree with the draft's removals and entries applied (only the nodes on
        the changed paths are read and made)."""
        if draft.base is None:
            return build(staged.entries, self.store)
        return overlay(self.trees, draft.base.digest, draft.removed, staged.entries, self.store, draft.base.label)

    def _check_base(self, base: "Base", lease: Lease) -> None:
        """ConflictError unless the subtrees reused from ``base`` are still safe to name: its
        lease held throughout and the version not deleted (then no gc pass removed them)."""
        if lease.lapsed() or base.number in self.in_project(base.project).deleted(base.name):
            raise ConflictError(f"{base.label} was deleted (or its lease lapsed) while the new version was logged",
                                hint="start again from a version that exists")

    def _replace_lease(self, held: list[Lease], root: Digest | None) -> Lease:
        """A new lease (naming ``root``, or open for None) in place of ``held[-1]``, which is
        released. The caller rechecks every blob it relies on after this."""
        new = Lease.take(self.store, WRITE, held[-1].what, roots=None if root is None else [root])
        held[-1].release()
        held.append(new)
        return new


def _draft_ttl(draft: Artifact, aliases: list[str]) -> int | None:
    """The draft's ``ttl`` in seconds (None: none), checked before anything is logged: a TTL that
    would be past at once, or one on a version that aliases will hold, is refused."""
    from arty.artifacts.edits import check_edit

    ttl = check_edit({"ttl": getattr(draft, "ttl", None)})["ttl"]
    if ttl is None:
        return None
    if ttl <= 0:
        raise UsageError(f"ttl {ttl}s of artifact '{draft.name}' is in the past as soon as it is logged",
                         hint="give a duration above 0, e.g. datetime.timedelta(days=30)")
    if aliases:
        raise ConflictError(f"cannot log '{draft.name}' with a ttl and aliases ({', '.join(aliases)}): "
                            "a version an alias points at is never deleted", hint="give one or the other")
    return ttl


def _give_ttl(registry: Registry, version: "ArtifactVersion", ttl: int) -> "ArtifactVersion":
    """Record ``ttl`` on a version just logged (or found by its content), as an edit; re-read."""
    from arty.artifacts.retention import set_ttl

    set_ttl(registry.store, version, ttl)
    return registry.version(version.base_name, version.number)


def _strings(value: Iterable[str] | str, what: str) -> list[str]:
    """A list of strings from a list (or one string) given as ``what``."""
    items = [value] if isinstance(value, str) else list(value or ())
    if not all(isinstance(v, str) for v in items):
        raise UsageError(f"{what} must be strings, got {items!r}")
    return items


def check_by_digest(registry: Registry, name: str, digest: Digest, rec: dict[str, Any]) -> "ArtifactVersion":
    """The version that the ``by-digest`` record ``rec`` of ``digest`` names (not a deleted one);
    :class:`BadRecord` unless that version exists, its record is good and it holds ``digest``."""
    path = layout.by_digest(registry.project, name, digest)
    try:
        version = registry.version(name, rec["version"])
    except NotFound:
        version = None
    if version is None or version.record.get("digest") != str(digest):
        raise BadRecord(f"record '{path}' in store '{registry.store.url}' names v{rec['version']}, which "
                        + ("does not exist" if version is None else f"holds other content ('{version.digest}')"),
                        records.REPAIR_HINT, path=path)
    return version


class ArtifactVersion:
    """One logged, immutable version of an artifact."""

    def __init__(self, registry: Registry, record: dict[str, Any]) -> None:
        self._registry = registry
        self.record = record  # the version record as logged (edits not applied)
        self._current: dict[str, Any] | None = None  # the record with its edits applied, read once
        self._edit_log: list[dict[str, Any]] = []
        # What the caller may change before save(): (the object handed out, what it was then).
        self._views: dict[str, tuple[Any, Any]] = {}

    def _edited(self) -> dict[str, Any]:
        """The record with its edits applied (read on first use, then kept: a snapshot)."""
        if self._current is None:
            from arty.artifacts.edits import apply_edits, version_edits

            self._edit_log = version_edits(self._registry.store, self.project, self.base_name, self.number)
            self._current = apply_edits(self.record, self._edit_log)
        return self._current

    def _view(self, key: str, fresh: Any) -> Any:
        """The mutable value handed out for ``key``: the one handed out before if the caller
        changed it (not saved yet), else ``fresh``."""
        held = self._views.get(key)
        if held is not None and held[0] != held[1]:
            return held[0]
        view = copy.deepcopy(fresh)
        self._views[key] = (view, copy.deepcopy(fresh))
        return view

    def _set_view(self, key: str, value: Any, base: Any) -> None:
        self._views[key] = (value, copy.deepcopy(base))

    # identity and record fields
    @property
    def project(self) -> str:
        return self.record["project"]

    @property
    def base_name(self) -> str:
        """The artifact's name without a version: ``"mnist"`` (W&B: ``collection.name``)."""
        return self.record["name"]

    @property
    def name(self) -> str:
        """``"mnist:v3"``, like W&B's ``artifact.name`` for a logged version (the bare name is
        :attr:`base_name`)."""
        return f"{self.base_name}:{self.version}"

    @property
    def is_link(self) -> bool:
        """Whether this version is a link in a registry to a version of another project
        (W&B's ``artifact.is_link``)."""
        from arty.artifacts.links import link_of

        return link_of(self.record) is not None

    @property
    def source_version(self) -> "ArtifactVersion":
        """The version this one links to (itself when it is not a link)."""
        from arty.artifacts.links import source_of

        return source_of(self)

    @property
    def source_project(self) -> str:
        """The project of :attr:`source_version` (W&B's ``source_project``)."""
        from arty.artifacts.links import link_of

        got = link_of(self.record)
        return self.project if got is None else got[0]

    @property
    def source_name(self) -> str:
        """``"mnist:v3"``: the name in the project that logged it (W&B's ``source_name``): for a
        link in a registry, the source's name and version; else :attr:`name`."""
        from arty.artifacts.links import link_of

        got = link_of(self.record)
        return self.name if got is None else f"{got[1]}:v{got[2]}"

    @property
    def source_qualified_name(self) -> str:
        """``"project/mnist:v3"`` of :attr:`source_version` (W&B's ``source_qualified_name``)."""
        return f"{self.source_project}/{self.source_name}"

    @property
    def entity(self) -> None:
        """Always None: Arty has no entities (a store and a project say where a version lives)."""
        return None

    @property
    def collection(self) -> "ArtifactCollection":
        """Every version of this artifact (W&B's ``artifact.collection``)."""
        return ArtifactCollection(self._registry.in_project(self.project), self.base_name)

    @property
    def source_collection(self) -> "ArtifactCollection":
        """The collection of :attr:`source_version` (for a version that is not a link, :attr:`collection`)."""
        from arty.artifacts.links import link_of

        got = link_of(self.record)
        return self.collection if got is None else ArtifactCollection(self._registry.in_project(got[0]), got[1])

    @property
    def number(self) -> int:
        return int(self.record["version"])

    @property
    def version(self) -> str:
        """``"v3"``."""
        return f"v{self.number}"

    @property
    def qualified_name(self) -> str:
        """``"project/mnist:v3"``: W&B's ``entity/project/name:v3`` without the entity;
        ``use_artifact`` and ``Api.artifact`` take it as is."""
        return f"{self.project}/{self.name}"

    @property
    def digest(self) -> Digest:
        return Digest.parse(self.record["digest"])

    @property
    def type(self) -> str:
        return self.record["type"]

    @property
    def size(self) -> int:
        return int(self.record["size"])

    @property
    def file_count(self) -> int:
        return int(self.record["files"])

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata (with later edits applied); change it and :meth:`save` to record an edit."""
        return self._view("metadata", dict(self._edited().get("metadata") or {}))

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._set_view("metadata", value, dict(self._edited().get("metadata") or {}))

    @property
    def description(self) -> str | None:
        return self._view("description", self._edited().get("description"))

    @description.setter
    def description(self, value: str | None) -> None:
        self._set_view("description", value, self._edited().get("description"))

    @property
    def tags(self) -> list[str]:
        """Tags of this version (edits only; none when logged)."""
        return self._view("tags", list(self._edited().get("tags") or []))

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self._set_view("tags", value, list(self._edited().get("tags") or []))

    @property
    def ttl(self) -> int | None:
        """Seconds this version is kept after it was logged (``art gc`` deletes it once they have
        passed), or None: no TTL of its own, the retention policy decides (docs/retention.md).
        Set a ``datetime.timedelta``, whole seconds, None or ``"inherit"`` (same as None), then
        :meth:`save`; a TTL already past, or on a version an alias or a registry link holds, is refused."""
        return self._view("ttl", self._edited().get("ttl"))

    @ttl.setter
    def ttl(self, value: Any) -> None:
        self._set_view("ttl", value, self._edited().get("ttl"))

    @property
    def edits(self) -> list[dict[str, Any]]:
        """The edit records of this version (who, when, which fields), oldest first."""
        self._edited()
        return [{k: v for k, v in e.items() if k != "nonce"} for e in self._edit_log]

    @property
    def created_at(self) -> str:
        return self.record["created_at"]

    @property
    def created_by(self) -> str | None:
        return self.record.get("created_by")

    @property
    def aliases(self) -> list[str]:
        """Aliases pointing here now, plus ``latest`` when this is the highest version. Add or
        remove some from the list (or assign one) and :meth:`save` to move them."""
        return self._view("aliases", self._live_aliases())

    @aliases.setter
    def aliases(self, value: list[str]) -> None:
        self._set_view("aliases", list(value), self._live_aliases())

    def _live_aliases(self) -> list[str]:
        reg = self._registry.in_project(self.project)
        out = sorted(a for a, v in reg.aliases(self.base_name).items() if v == self.number)
        versions = reg.versions(self.base_name)
        if versions and versions[-1] == self.number:
            out.insert(0, "latest")
        return out

    def save(self, created_by: str | None = None) -> "ArtifactVersion":
        """Record the changes made on this object, like W&B's ``artifact.save()`` on a logged
        artifact: ``description``, ``metadata``, ``tags`` and ``ttl`` as one edit record (who
        and when kept; the files never change), ``aliases`` as alias moves. Everything is
        checked before anything is written. Returns self, re-read."""
        from arty.artifacts.edits import check_edit, edit_version

        current = self._edited()
        fields: dict[str, Any] = {}
        for key in ("description", "metadata", "tags", "ttl"):
            held = self._views.get(key)
            if held is None or held[0] == held[1]:
                continue
            was = current.get(key) if key != "metadata" else dict(current.get("metadata") or {})
            if held[0] != was:
                fields[key] = held[0]
        fields = check_edit(fields)
        if fields.get("ttl") is not None:  # not in the past, not on a version an alias or a link holds
            from arty.artifacts.retention import check_ttl

            check_ttl(self._registry.store, self, fields["ttl"])
        add: list[str] = []
        drop: list[str] = []
        held = self._views.get("aliases")
        if held is not None:
            wanted, before = list(held[0]), list(held[1])
            if not isinstance(held[0], list) or not all(isinstance(a, str) for a in wanted):
                raise UsageError("aliases must be a list of strings")
            live = self._live_aliases()
            if ("latest" in wanted) != ("latest" in live):
                raise UsageError("'latest' is not an alias that can be moved: it is the highest version",
                                 hint="add or remove other aliases; 'art rm' deletes a version")
            add = [check_alias(a) for a in dict.fromkeys(wanted) if a != "latest" and a not in live]
            drop = [a for a in before if a not in wanted and a != "latest" and a in live]
        if fields:
            edit_version(self._registry.store, self.project, self.base_name, self.number, fields, who())
        reg = self._registry.in_project(self.project)
        for a in add:
            reg.set_alias(self.base_name, self.number, a, created_by)
        for a in drop:
            reg.delete_alias(self.base_name, a)
        self._current = None
        self._views = {}
        return self

    def __repr__(self) -> str:
        return f"<ArtifactVersion {self.qualified_name} {self.digest.short()}>"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArtifactVersion) and (self.project, self.base_name, self.number) == (
            other.project, other.base_name, other.number)

    def __hash__(self) -> int:
        return hash((self.project, self.base_name, self.number))

    def to_json(self) -> dict[str, Any]:
        """The version record (without its nonce), ``version`` as ``"v3"`` like everywhere Arty
        prints one, plus ``aliases`` and ``qualified_name`` (``"mnist:v3"``, the short form the
        CLI prints; ``name`` stays the bare name of the record)."""
        out = {k: v for k, v in self._edited().items() if k != "nonce"}
        out["version"] = self.version
        out["aliases"] = self._live_aliases()
        out["qualified_name"] = self.name
        if self._edit_log:
            out["edits"] = self.edits
        return out

    # contents
    def files(self) -> list[Entry]:
        """Every file entry, in path order."""
        return list(self._registry.trees.walk(self.digest))

    def iter_files(self) -> Iterable[Entry]:
        return self._registry.trees.walk(self.digest)

    def get_entry(self, path: str) -> "ArtifactEntry":
        """The entry at ``path`` (an :class:`Entry`: ``path``, ``size``, ``digest``, ``uri``, ...)
        that can ``download(root)`` itself; :class:`NotFound` when there is none."""
        e = self._registry.trees.find(self.digest, path)
        if e is None:
            raise NotFound(f"no file '{path}' in artifact '{self.name}'",
                           hint=f"'art show {self.name}' lists its files")
        return ArtifactEntry(self, e)

    def is_folder(self, path: str) -> bool:
        """Whether ``path`` is a folder of this version (reads only the nodes on the way)."""
        return isinstance(self._registry.trees.lookup(self.digest, path), Digest)

    def get_path(self, path: str) -> "ArtifactEntry":
        """:meth:`get_entry` (W&B's older name for it)."""
        return self.get_entry(path)

    def read_bytes(self, path: str) -> bytes:
        """The verified bytes of one stored file of this version."""
        e = self.get_entry(path)
        if e.is_ref:
            raise UsageError(f"'{path}' in '{self.name}' is a reference to '{e.uri}'",
                             hint="download() fetches references")
        data = self._registry.store.read_blob(e.digest)  # type: ignore[arg-type]
        e.check_size(len(data))
        return data

    def get(self, name: str) -> Any:
        """The table added with ``artifact.add(table, name)``, as an :class:`arty.Table`
        (``.data`` its rows, ``.get_dataframe()`` a pandas DataFrame)."""
        from arty.artifacts.tables import SUFFIXES, table_from_bytes

        if name.endswith(tuple(SUFFIXES.values())):
            candidates = [(name, next(f for f, sfx in SUFFIXES.items() if name.endswith(sfx)))]
        else:
            candidates = [(name + sfx, f) for f, sfx in SUFFIXES.items()]
        for path, fmt in candidates:
            if self._registry.trees.find(self.digest, path) is not None:
                return table_from_bytes(self.read_bytes(path), fmt)
        raise NotFound(f"no table '{name}' in artifact '{self.name}'",
                       hint="tables are added with artifact.add(table, name); "
                            f"'art show {self.name}' lists its files")

    def diff(self, other: "ArtifactVersion") -> Diff:
        """What changed from this version to ``other``."""
        return self._registry.trees.diff(self.digest, other.digest)

    def default_root(self) -> str:
        return os.path.join("artifacts", self.name)

    def select(self, paths: Iterable[str] = (), include: Iterable[str] = (),
               path_prefix: str | None = None) -> list[Entry]:
        """The file entries that ``paths`` (files or folders), ``include`` (globs, ``**`` for any
        depth) and ``path_prefix`` (a string prefix) choose: every file when none is given.
        Reads only the manifest nodes of the folders that can hold them (arty.artifacts.select).
        :class:`NotFound` for a path not in the version or when nothing matches."""
        from arty.artifacts.select import select, with_prefix

        trees = self._registry.trees
        if path_prefix is not None:
            if not isinstance(path_prefix, str) or not path_prefix:
                raise UsageError(f"invalid path_prefix {path_prefix!r}", hint="a path inside the artifact, e.g. 'images/'")
            entries = list(with_prefix(trees, self.digest, path_prefix))
            if not entries:
                raise NotFound(f"no file of artifact '{self.name}' starts with '{path_prefix}'",
                               hint=f"'art show {self.name}' lists its files")
            if not paths and not include:
                return entries
            wanted = {e.path for e in select(trees, self.digest, self.name, paths, include)}
            entries = [e for e in entries if e.path in wanted]
            if not entries:
                raise NotFound(f"no file of artifact '{self.name}' matches every selection given",
                               hint=f"'art show {self.name}' lists its files")
            return entries
        return select(trees, self.digest, self.name, paths, include)

    def download(self, root: str | os.PathLike[str] | None = None,
                 progress: Callable[[int, int], None] | None = None, *, allow_local_refs: bool = False,
                 path_prefix: str | None = None, skip_cache: bool | None = None,
                 multipart: bool | None = None, paths: Iterable[str] = (), include: Iterable[str] = ()) -> str:
        """Materialise the files under ``root`` (default ``./artifacts/<name>:v<N>``), verified.

        Returns the root. Nothing half-written is left on failure. Files added by
        reference to local files (``file://``) are fetched only with
        ``allow_local_refs=True``: a crafted manifest could name any file on
        this machine. ``path_prefix`` fetches only the files whose path starts
        with it (a file, or a folder such as ``"images/"``); ``paths`` only the
        files and folders it names, ``include`` only the files matching one of its
        globs (see :meth:`select`); each keeps its path under ``root``, and only the
        manifest nodes and blobs those files need are read. :class:`NotFound`
        when nothing matches. ``skip_cache`` and ``multipart`` are accepted for
        compatibility with W&B and change nothing (files are verified by hash
        and kept when already there).
        """
        from arty.artifacts.download import download

        paths, include = _strings(paths, "paths"), _strings(include, "include")
        entries = self.select(paths, include, path_prefix)
        target = os.fspath(root) if root is not None else self.default_root()
        download(self._registry.store, entries, target, progress=progress,
                 stat_cache=self._registry.stat_cache, allow_local_refs=allow_local_refs)
        return target

    def file(self, root: str | os.PathLike[str] | None = None) -> str:
        """Download the one file of a single-file artifact under ``root``; returns its local path.
        :class:`UsageError` when the version holds more (or fewer) than one file."""
        entries = self.files()
        if len(entries) != 1:
            raise UsageError(f"artifact '{self.name}' holds {len(entries)} files, not one",
                             hint="download() fetches them all; get_entry(path).download() fetches one")
        return ArtifactEntry(self, entries[0]).download(root)

    def new_draft(self) -> Artifact:
        """A draft with this version's name, type, description, metadata and files, to change
        (``add_file``, ``add_dir``, ``remove``, ...) and log as a new version. Nothing is listed
        or downloaded: logging it reads and writes only the tree nodes on the changed paths
        and reuses every other subtree as stored (the draft must be logged to this store)."""
        from arty.artifacts.draft import Base

        draft = Artifact(self.base_name, type=self.type, description=self.description, metadata=self.metadata)
        trees, root = self._registry.trees, self.digest
        draft.base = Base(self._registry.store.url, self.project, self.base_name, self.number, root,
                          lambda path: trees.kind(root, path))
        return draft

    def delete(self, delete_aliases: bool = False) -> None:
        """Delete this version (``art rm``): hidden from listings, its blobs freed by ``art gc``
        unless another version uses them. A version that aliases point at is refused unless
        ``delete_aliases``, which removes those aliases first (like W&B)."""
        reg = self._registry.in_project(self.project)
        held = sorted(a for a, n in reg.aliases(self.base_name).items() if n == self.number)
        if held and not delete_aliases:
            raise ConflictError(f"artifact '{self.name}' has aliases: {', '.join(held)}",
                                hint="delete(delete_aliases=True) removes them too")
        for alias in held:
            reg.delete_alias(self.base_name, alias)
        reg.delete(self.base_name, self.number)

    def link(self, target_path: str, aliases: Iterable[str] | None = None) -> "ArtifactVersion":
        """Link this version into a registry's collection (``[REGISTRY/]COLLECTION``, default
        registry ``registry``) and point ``aliases`` there; returns the collection version.
        No bytes are copied; linking it again returns the same collection version
        (:func:`arty.artifacts.links.link`)."""
        from arty.artifacts.links import link

        return link(self, target_path, aliases or ()).version

    def used_by(self) -> list[Any]:
        """Only on versions read through the query API (lineage lives in the index)."""
        raise UsageError(f"used_by() needs the index: use arty.Api().artifact('{self.qualified_name}').used_by()",
                         hint="arty.Api().lineage(...) shows the whole graph")

    def logged_by(self) -> Any:
        """Only on versions read through the query API (lineage lives in the index)."""
        raise UsageError(f"logged_by() needs the index: use arty.Api().artifact('{self.qualified_name}').logged_by()",
                         hint="the version record's created_by is the id of the run that logged it")

    def is_draft(self) -> bool:
        """False: a logged version (W&B's ``artifact.is_draft()``)."""
        return False

    #: W&B artifact calls Arty does not have: what to use instead (see __getattr__).
    _WANDB_MISSING = {
        "checkout": "download it: artifact.download(root)",
        "manifest": "artifact.files() lists the entries, artifact.digest identifies the content",
        "id": "artifact.digest identifies the content, artifact.qualified_name the version",
        "state": "a version in the store is committed; there are no pending versions",
        "add_file": "start a draft from it: artifact.new_draft().add_file(...)",
        "add_dir": "start a draft from it: artifact.new_draft().add_dir(...)",
        "add_reference": "start a draft from it: artifact.new_draft().add_reference(...)",
        "add": "start a draft from it: artifact.new_draft().add(...)",
        "remove": "start a draft from it: artifact.new_draft().remove(...)",
        "new_file": "start a draft from it: artifact.new_draft().new_file(...)",
    }

    def __getattr__(self, name: str) -> Any:
        raise missing_attribute("ArtifactVersion", "artifact", name, ArtifactVersion._WANDB_MISSING)

    def wait(self, timeout: float | None = None) -> "ArtifactVersion":
        """Returns self: a version is complete once logged (W&B waits for an upload here)."""
        return self

    def verify(self, root: str | os.PathLike[str] | None = None) -> None:
        """Check this version: with ``root``, a downloaded copy; without, the store's objects.

        Raises :class:`arty.errors.IntegrityError` naming every problem.
        """
        from arty.artifacts.verify import verify_download, verify_version

        if root is None:
            problems = verify_version(self._registry.store, self._registry.trees, self.digest)
        else:
            problems = verify_download(self._registry.store, self.files(), os.fspath(root))
        if problems:
            from arty.errors import IntegrityError

            raise IntegrityError(f"artifact '{self.name}' failed verification: "
                                 + "; ".join(p.message for p in problems),
                                 hint="'art verify' re-hashes every object in the store")


class ArtifactEntry:
    """One file of a logged version, as :meth:`ArtifactVersion.get_entry` returns it.

    Every field of its :class:`Entry` (``path``, ``size``, ``digest``, ``uri``,
    ``is_ref``, ``ref``) reads through; ``download(root)`` fetches it.
    """

    def __init__(self, version: ArtifactVersion, entry: Entry) -> None:
        self.version = version
        self.entry = entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self.entry, name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ArtifactEntry):
            return self.entry == other.entry
        return self.entry == other

    def __hash__(self) -> int:
        return hash(self.entry)

    def __repr__(self) -> str:
        return f"<ArtifactEntry {self.version.name}/{self.entry.path}>"

    @property
    def name(self) -> str:
        return self.entry.path

    def ref_url(self) -> str | None:
        """The URI of a file added by reference, else None."""
        return self.entry.uri

    def download(self, root: str | os.PathLike[str] | None = None, skip_cache: bool | None = None,
                 *, allow_local_refs: bool = False) -> str:
        """Fetch this file, verified, to ``root/<path>`` (default: the version's download
        folder); returns the local path."""
        from arty.artifacts.download import download

        target = os.fspath(root) if root is not None else self.version.default_root()
        reg = self.version._registry
        download(reg.store, [self.entry], target, stat_cache=reg.stat_cache, allow_local_refs=allow_local_refs)
        return os.path.join(target, *self.entry.path.split("/"))


class ArtifactCollection:
    """Every version of one artifact of a project (W&B's ``ArtifactCollection``)."""

    def __init__(self, registry: Registry, name: str) -> None:
        self._registry = registry
        self.name = name

    def __repr__(self) -> str:
        return f"<ArtifactCollection {self.project}/{self.name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArtifactCollection) and (self.project, self.name) == (other.project, other.name)

    def __hash__(self) -> int:
        return hash((self.project, self.name))

    @property
    def project(self) -> str:
        return self._registry.project

    @property
    def entity(self) -> None:
        return None

    def versions(self) -> list[ArtifactVersion]:
        """Its versions, oldest first (deleted ones left out)."""
        out = []
        for n in self._registry.versions(self.name):
            try:
                out.append(self._registry.version(self.name, n))
            except BadRecord as exc:
                records.warn_skipped(exc)
        return out

    def artifacts(self) -> list[ArtifactVersion]:
        """:meth:`versions` (W&B's name)."""
        return self.versions()

    @property
    def type(self) -> str | None:
        """The type of its latest version (None when it has none)."""
        latest = self._registry.latest(self.name)
        return None if latest is None else latest.type

    @property
    def aliases(self) -> list[str]:
        """Every alias of its versions, sorted."""
        return sorted(self._registry.aliases(self.name))

    @property
    def description(self) -> str | None:
        latest = self._registry.latest(self.name)
        return None if latest is None else latest.description
