"""The artifacts layer: manifest trees, drafts, versions, aliases, download, verify.

The names below are loaded on first use (PEP 562): importing a module of this package (a run
needs only :mod:`arty.artifacts.tables`, say) does not load the manifest and version code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arty.artifacts.draft import Artifact
    from arty.artifacts.manifest import Diff, Entry
    from arty.artifacts.names import ArtifactRef
    from arty.artifacts.versions import ArtifactCollection, ArtifactEntry, ArtifactVersion, LogResult, Registry

__all__ = ["Artifact", "ArtifactCollection", "ArtifactEntry", "ArtifactRef", "ArtifactVersion", "Diff", "Entry", "LogResult", "Registry"]

#: ``{name: module that defines it}`` for :data:`__all__`.
_LAZY = {
    "Artifact": "arty.artifacts.draft",
    **dict.fromkeys(("Diff", "Entry"), "arty.artifacts.manifest"),
    "ArtifactRef": "arty.artifacts.names",
    **dict.fromkeys(("ArtifactCollection", "ArtifactEntry", "ArtifactVersion", "LogResult", "Registry"),
                    "arty.artifacts.versions"),
}


def __getattr__(name: str):  # noqa: ANN202 - PEP 562
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arty.artifacts' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
