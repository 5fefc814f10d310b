"""Registries and the versions linked into them (docs/store-format.md, "Registries").

A **registry** is a project marked by the record ``projects/<registry>/registry.json``
(``{"kind": "registry", "by", "at"}``, created if absent). Its artifacts are *collections*:
each of their versions is a **link** to a version of another project, a version record whose
``manifest`` is the source's (no bytes are copied) and which carries
``"link": {"project", "name", "version"}`` naming the source. A collection has its own
aliases and alias history like any artifact.

Retention, gc and ``art rm`` must never delete a version that a registry links:
:func:`linked_versions` is the one place that answers which ones do.
"""

from __future__ import annotations

from arty.store import layout
from arty.store.store import Store

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
