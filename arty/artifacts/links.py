"""Registries and the versions linked into them (docs/store-format.md, "Registries").

A **registry** is a project marked by the record ``projects/<registry>/registry.json``
(``{"kind": "registry", "by", "at"}``, created if absent). Its artifacts are *collections*:
each of their versions is a **link** to a version of another project, a version record whose
``manifest`` is the source's (no bytes are copied) and which carries
``"link": {"project", "name", "version"}`` naming the source. A collection has its own
aliases and alias history like any artifact.

Retention never deletes a version that a registry links: :func:`linked_versions` is the one
place that answers which ones do. ``art rm`` of a linked source deletes that version record only:
the collection's version holds the same manifest, so gc keeps its files and the link still reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from arty.artifacts.names import check_alias, check_name, is_name
from arty.errors import BadRecord, ConflictError, NotFound, StoreError, UsageError
from arty.store import layout, now_iso
from arty.store.store import Store

if TYPE_CHECKING:
    from arty.artifacts.versions import ArtifactVersion, Registry

#: The name of the record that makes a project a registry.
REGISTRY_RECORD = "registry.json"
#: The registry ``art link`` uses when none is named.
DEFAULT_REGISTRY = "registry"


def registry_record(project: str) -> str:
    """``projects/<project>/registry.json``."""
    return f"{layout.project(project)}/{REGISTRY_RECORD}"


def is_registry(store: Store, project: str) -> bool:
    """Whether ``project`` is a registry (its registry record exists)."""
    return store.exists(registry_record(project))


def registries(store: Store) -> list[str]:
    """The names of every registry in the store, sorted."""
    return [p for p in store.list(layout.PROJECTS) if is_registry(store, p)]


def linked_versions(store: Store) -> set[tuple[str, str, int]]:
    """``(project, artifact, version)`` of every version some registry links.

    Reads the version records of every registry's collections; a bad record is skipped with a
    warning (the reader's rule), so it cannot hide the other links.
    """
    out: set[tuple[str, str, int]] = set()
    for reg in registries(store):
        for name in store.list(layout.artifacts(reg)):
            for _, rec in store.log_records(layout.versions(reg, name)):
                link = rec.get("link")
                if (isinstance(link, dict) and isinstance(link.get("project"), str)
                        and isinstance(link.get("name"), str) and isinstance(link.get("version"), int)):
                    out.add((link["project"], link["name"], link["version"]))
    return out


# -- linking ---------------------------------------------------------------------------------------
#
# What writes and lists links needs the version classes, which import far more than the readers
# above; they are imported where used, so that gc and retention load only what they need.

#: W&B's prefix of a registry's project (``wandb-registry-model/detector``), accepted and dropped.
WANDB_REGISTRY_PREFIX = "wandb-registry-"


def by_source(registry: str, collection: str, project: str, name: str, number: int) -> str:
    """``artifacts/<collection>/by-source/<project>/<name>/<N>.json``: created if absent when a
    version is linked, naming the collection version that links it (linking again finds it)."""
    return f"{layout.artifact(registry, collection)}/by-source/{project}/{name}/{number}.json"


def parse_target(target: str) -> tuple[str, str]:
    """``(registry, collection)`` of a link target: ``COLLECTION`` (the default registry),
    ``REGISTRY/COLLECTION``, W&B's ``wandb-registry-REGISTRY/COLLECTION`` and
    ``ENTITY/REGISTRY/COLLECTION`` (the entity dropped). :class:`UsageError` otherwise."""
    if not isinstance(target, str) or not target or ":" in target:
        raise UsageError(f"invalid link target {str(target)[:100]!r}",
                         hint="[REGISTRY/]COLLECTION, e.g. 'registry/pedestrian-detector' (no version: "
                              "linking makes the collection's next version)")
    parts = target.split("/")
    if len(parts) == 3:
        parts = parts[1:]
    if len(parts) == 1:
        registry, collection = DEFAULT_REGISTRY, parts[0]
    elif len(parts) == 2:
        registry, collection = parts
    else:
        raise UsageError(f"invalid link target '{target}'", hint="[REGISTRY/]COLLECTION")
    if registry.startswith(WANDB_REGISTRY_PREFIX) and len(registry) > len(WANDB_REGISTRY_PREFIX):
        registry = registry[len(WANDB_REGISTRY_PREFIX):]
    return check_name(registry, "registry"), check_name(collection, "collection")


def link_of(record: dict[str, Any]) -> tuple[str, str, int] | None:
    """``(project, name, version)`` a version record links to, or None (not a link, or a
    ``link`` field that is not one)."""
    link = record.get("link")
    if (isinstance(link, dict) and is_name(link.get("project")) and is_name(link.get("name"))
            and type(link.get("version")) is int and link["version"] >= 0):
        return link["project"], link["name"], link["version"]
    return None


def ensure_registry(store: Store, name: str, by: str | None = None) -> bool:
    """Make project ``name`` a registry (its record created if absent); True if this call did.

    A project that already holds artifacts of its own and is not a registry is refused
    (:class:`ConflictError`): its versions are not links, and it would hide them among them."""
    from arty.store.leases import who

    check_name(name, "registry")
    if is_registry(store, name):
        return False
    if store.list(layout.artifacts(name)):
        raise ConflictError(f"project '{name}' is not a registry: it holds artifacts of its own",
                            hint="link into a registry ('registry/NAME', or a new name), not a project")
    return store.create_record(registry_record(name), {"kind": "registry", "by": by or who(), "at": now_iso()})


def source_of(version: "ArtifactVersion") -> "ArtifactVersion":
    """The version ``version`` links to (itself when it is not a link). NotFound when that
    version was deleted or is gone."""
    got = link_of(version.record)
    if got is None:
        return version
    project, name, number = got
    return version._registry.in_project(project).version(name, number)


@dataclass
class Linked:
    """What :func:`link` did: the collection version and whether this call made it."""

    version: "ArtifactVersion"
    created: bool


def link(source: "ArtifactVersion", target: str, aliases: Iterable[str] = (), by: str | None = None,
         run: str | None = None) -> Linked:
    """Link ``source`` into ``target`` (``[REGISTRY/]COLLECTION``) and point ``aliases`` at it.

    The collection's next version is a record holding the source's manifest digest, type,
    size, file count, description and metadata, with ``"link": {"project", "name", "version"}``,
    who linked it (``by``, default ``user@host``), when (``created_at``) and the run that did
    (``run``): no blob is written. Linking a version that is already linked into the collection
    returns that collection version (``created`` False) and only moves the aliases (two links of
    the same version at once: the one whose ``by-source`` record is created first is kept, the
    other's version deleted); a link is
    followed to its source first (linking ``registry/x:v0`` elsewhere links what it links).
    A collection holds one type: a version of another type is refused.
    """
    from arty.artifacts.versions import ArtifactVersion, Registry
    from arty.store.leases import WRITE, Lease, who

    source = source_of(source)
    registry, collection = parse_target(target)
    aliases = [check_alias(a) for a in dict.fromkeys(aliases or ())]
    store = source._registry.store
    store.backend.ensure_writable()
    if registry == source.project:
        raise UsageError(f"cannot link '{source.qualified_name}' into its own project",
                         hint="link it into a registry: 'registry/COLLECTION'")
    by = by or who()
    ensure_registry(store, registry, by)
    reg = Registry(store, registry, source._registry._stat_cache)
    claim = by_source(registry, collection, source.project, source.base_name, source.number)
    version = _linked_version(reg, collection, claim, source)
    created = False
    if version is None:
        latest = reg.latest(collection)
        if latest is not None and latest.type != source.type:
            raise UsageError(f"collection '{registry}/{collection}' holds versions of type '{latest.type}', "
                             f"not '{source.type}'", hint="link it into another collection")
        current = source.to_json()
        rec = {"project": registry, "name": collection, "type": source.type, "digest": str(source.digest),
               "size": source.size, "files": source.file_count, "description": current.get("description"),
               "metadata": current.get("metadata") or {}, "created_at": now_iso(), "created_by": None,
               "by": by, "run": run,
               "link": {"project": source.project, "name": source.base_name, "version": source.number}}
        # The tree is the source's: a lease naming it keeps a gc pass off its blobs (the source
        # may be deleted meanwhile) until the new record names them.
        lease = Lease.take(store, WRITE, f"link {source.qualified_name}", roots=[source.digest])
        try:
            lease.settle()  # gc passes already running may not have seen the lease
            if lease.lapsed() or source.number in source._registry.in_project(source.project).deleted(
                    source.base_name):
                raise ConflictError(f"'{source.qualified_name}' was deleted while it was linked",
                                    hint="link a version that exists")
            number, written = store.log_append(layout.versions(registry, collection), lambda n: rec | {"version": n})
        finally:
            lease.release()
        version, created = ArtifactVersion(reg, written), True
        if not store.create_record(claim, {"version": number}):
            # a concurrent link of the same source claimed it first: keep its version, delete ours
            winner = _linked_version(reg, collection, claim, source)
            if winner is not None:
                try:
                    reg.delete(collection, number, by=by)
                    version, created = winner, False
                except StoreError:  # not allowed to delete (a server's write role): a second link stays
                    pass
        if created:
            store.journal("version_created", project=registry, artifact=collection, version=number,
                          digest=str(source.digest), link=rec["link"])
    for a in aliases:
        reg.set_alias(collection, version.number, a, created_by=run, by=by)
    return Linked(version, created)


def _linked_version(reg: "Registry", collection: str, claim: str, source: "ArtifactVersion"
                    ) -> "ArtifactVersion | None":
    """The version of ``collection`` that links ``source`` (by its ``by-source`` record, checked
    against the version it names), or None."""
    rec = reg.store.try_record(claim)
    if rec is None or type(rec.get("version")) is not int:
        return None
    try:
        version = reg.version(collection, rec["version"])
    except (NotFound, BadRecord):  # deleted, or a bad record: link again
        return None
    want = (source.project, source.base_name, source.number)
    return version if link_of(version.record) == want else None


@dataclass
class Collection:
    """One collection of a registry as ``art registry show`` lists it."""

    registry: str
    name: str
    versions: list["ArtifactVersion"]
    aliases: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"registry": self.registry, "name": self.name,
                "type": self.versions[-1].type if self.versions else None,
                "aliases": {a: f"v{n}" for a, n in sorted(self.aliases.items())},
                "versions": [version_json(v) for v in self.versions]}


def version_json(v: "ArtifactVersion") -> dict[str, Any]:
    """A collection version as listings show it: number, source, who linked it and when, aliases."""
    got = link_of(v.record)
    return {"version": v.version, "source": None if got is None else f"{got[0]}/{got[1]}:v{got[2]}",
            "source_project": None if got is None else got[0], "source_name": None if got is None else got[1],
            "source_version": None if got is None else f"v{got[2]}", "digest": str(v.digest), "type": v.type,
            "size": v.size, "files": v.file_count, "by": v.record.get("by"), "at": v.created_at,
            "run": v.record.get("run"), "aliases": [a for a in v._live_aliases() if a != "latest"]}


def collections(store: Store, registry: str) -> list[Collection]:
    """Every collection of ``registry`` with its versions and aliases (bad records skipped with
    a warning). NotFound when ``registry`` is not a registry."""
    from arty.artifacts.versions import ArtifactCollection, Registry

    check_name(registry, "registry")
    if not is_registry(store, registry):
        found = registries(store)
        raise NotFound(f"registry '{registry}' not found (registries: {', '.join(found) or 'none yet'})",
                       hint="'art link NAME:VERSION REGISTRY/COLLECTION' makes one")
    reg = Registry(store, registry)
    out = []
    for name in reg.names():
        out.append(Collection(registry, name, ArtifactCollection(reg, name).versions(), reg.aliases(name)))
    return out
