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
from typing import Any, Iterable

from arty.artifacts import Artifact, ArtifactVersion, Diff, Entry, LogResult, Registry
from arty.artifacts import draft as _draft
from arty.errors import (
    ArtyError,
    BadRecord,
    ConflictError,
    IntegrityError,
    InvalidName,
    InvalidPath,
    BadRecord,
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
from arty.tracking import Config, Run, Summary, init
from arty.tracking.media import Histogram, Image, Table
from arty.tracking.run import current as _current_run

__version__ = "0.1.0"

__all__ = [
    "Artifact", "ArtifactVersion", "ArtyError", "BadRecord", "ConflictError", "Diff", "Digest", "Entry",
    "IntegrityError", "InvalidName", "InvalidPath", "LogResult", "MissingExtra", "NotFound", "ReferenceChanged",
    "Registry", "Store",
    "StoreError", "StoreFull", "StorePermissionDenied", "StoreUnreachable", "UnsupportedStore", "UsageError",
    "__version__", "init_store", "log_artifact", "open_store", "registry", "use_artifact",
    "Config", "Run", "Summary", "define_metric", "finish", "init", "log", "Api",
    "Histogram", "Image", "Table",
    "watch", "unwatch",
]
# Also, while a run is active: arty.run, arty.config, arty.summary (module attributes, see __getattr__).

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
    (with ``aliases`` applied either way). Inside a run (``arty.init``) this is
    ``run.log_artifact`` and records the run as the version's producer."""
    run = _current_run()
    if run is not None and store is None and project is None:
        version = run.log_artifact(artifact, aliases=aliases)
    else:
        version = registry(store, project).log(artifact, aliases=aliases).version
    artifact.logged = version  # the draft then knows its version, like W&B's
    return version


def _save_draft(artifact: Artifact, project: str | None = None) -> ArtifactVersion:
    """``Artifact.save()``: :func:`log_artifact` (through the current run, if any)."""
    return log_artifact(artifact, project=project)


_draft.set_saver(_save_draft)


def use_artifact(ref: str, *, store: str | Store | None = None, project: str | None = None) -> ArtifactVersion:
    """Resolve ``name``, ``name:v3``, ``name:latest``, ``name:alias`` or ``project/name:alias``.
    Inside a run this is ``run.use_artifact`` and records the lineage edge."""
    run = _current_run()
    if run is not None and store is None and project is None:
        return run.use_artifact(ref)
    return registry(store, project, create=False).resolve(ref)


def _require_run() -> Run:
    run = _current_run()
    if run is None:
        raise ArtyError("no active run", hint="call arty.init() first")
    return run


def log(data: dict | None = None, step: int | None = None, commit: bool | None = None) -> None:
    """``run.log`` on the current run (no data: commit the pending row)."""
    _require_run().log(data, step=step, commit=commit)


def watch(model: Any, log: str = "gradients", log_freq: int = 100, *, num_bins: int = 64,
          prefix: str = "") -> Any:
    """``run.watch`` on the current run: gradient and/or parameter histograms of a torch model."""
    return _require_run().watch(model, log=log, log_freq=log_freq, num_bins=num_bins, prefix=prefix)


def unwatch(model: Any = None) -> int:
    """``run.unwatch`` on the current run (no run: nothing is watched, returns 0)."""
    run = _current_run()
    return 0 if run is None else run.unwatch(model)


def define_metric(name: str, step_metric: str | None = None, summary: str | None = None,
                  goal: str | None = None, hidden: bool = False) -> None:
    """``run.define_metric`` on the current run."""
    _require_run().define_metric(name, step_metric=step_metric, summary=summary, goal=goal, hidden=hidden)


def finish(exit_code: int | None = None) -> None:
    """Finish the current run, if any."""
    run = _current_run()
    if run is not None:
        run.finish(exit_code)


def __getattr__(name: str):  # noqa: ANN202 - PEP 562: arty.run, arty.config, arty.summary
    if name == "run":
        return _current_run()
    if name == "Api":  # imported on first use: the index (sqlite-utils) is not needed to track a run
        from arty.api import Api

        return Api
    if name in ("config", "summary"):
        return getattr(_require_run(), name)
    raise AttributeError(f"module 'arty' has no attribute '{name}'")
