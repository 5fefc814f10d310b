"""Arty: version datasets and models as content-addressed artifacts.

Shaped like W&B's API::

    import arty
    art = arty.Artifact("mnist", type="dataset")
    art.add_dir("data/")
    v = arty.log_artifact(art, aliases=["prod"])   # -> mnist:v0
    a = arty.use_artifact("mnist:prod")
    root = a.download("out/")

The store is found like the CLI finds it (``ARTY_STORE``, an upward ``.arty``
folder, else a new ``./.arty``); pass ``store=`` and ``project=`` to choose.
"""

from __future__ import annotations

import os
import threading
from typing import Iterable

from arty.artifacts import Artifact, ArtifactVersion, Diff, Entry, LogResult, Registry
from arty.errors import (
    ArtyError,
    ConflictError,
    IntegrityError,
    InvalidName,
    InvalidPath,
    MissingExtra,
    NotFound,
    ReferenceChanged,
    StoreError,
    StoreFull,
    StorePermissionDenied,
    StoreUnreachable,
    UnsupportedStore,
    UsageError,
)
from arty.hashing import Digest
from arty.settings import DOT_DIR, find_store_url, resolve_project, resolve_store
from arty.store import Store, init_store, open_store

__version__ = "0.1.0"

__all__ = [
    "Artifact", "ArtifactVersion", "ArtyError", "ConflictError", "Diff", "Digest", "Entry", "IntegrityError",
    "InvalidName", "InvalidPath", "LogResult", "MissingExtra", "NotFound", "ReferenceChanged", "Registry", "Store",
    "StoreError", "StoreFull", "StorePermissionDenied", "StoreUnreachable", "UnsupportedStore", "UsageError",
    "__version__", "init_store", "log_artifact", "open_store", "registry", "use_artifact",
]

_registries: dict[tuple[str, str | None], Registry] = {}
_lock = threading.Lock()


def registry(store: str | Store | None = None, project: str | None = None, *, create: bool = True) -> Registry:
    """The artifacts of ``project`` in ``store`` (both resolved like the CLI does).

    With ``create`` a missing local store is created (``./.arty`` by default);
    without, a missing store is a :class:`NotFound` error.
    """
    if isinstance(store, Store):
        return Registry(store, resolve_project(store, project))
    url = store or find_store_url() or os.path.join(os.getcwd(), DOT_DIR)
    key = (url, project or os.environ.get("ARTY_PROJECT"))
    with _lock:
        reg = _registries.get(key)
        if reg is None:
            s = resolve_store(url, create=create)
            reg = Registry(s, resolve_project(s, project))
            _registries[key] = reg
        return reg


def log_artifact(artifact: Artifact, aliases: Iterable[str] = (), *, store: str | Store | None = None,
                 project: str | None = None) -> ArtifactVersion:
    """Log a draft: returns the new version, or the existing one with identical content
    (with ``aliases`` applied either way)."""
    return registry(store, project).log(artifact, aliases=aliases).version


def use_artifact(ref: str, *, store: str | Store | None = None, project: str | None = None) -> ArtifactVersion:
    """Resolve ``name``, ``name:v3``, ``name:latest``, ``name:alias`` or ``project/name:alias``."""
    return registry(store, project, create=False).resolve(ref)
