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
from typing import TYPE_CHECKING, Any, Iterable

from arty.errors import (
    ArtyError,
    BadRecord,
    ConflictError,
    IntegrityError,
    InvalidName,
    InvalidPath,
    MissingExtra,
    NotFound,
    PendingApproval,
    PermissionDenied,
    ReferenceChanged,
    StoreError,
    StoreFull,
    StorePermissionDenied,
    StoreUnreachable,
    UnsupportedStore,
    UsageError,
)

if TYPE_CHECKING:
    from arty.artifacts import Artifact, ArtifactVersion, Registry
    from arty.store import Store
    from arty.tracking import Run
    from arty.tracking.surface import Settings

#: Public names loaded on first use (PEP 562), so that ``import arty`` costs almost nothing:
#: ``{name: module that defines it}``. A training script pays for the tracking code when it
#: calls ``arty.init``, and for the artifacts code when it first uses an artifact.
_LAZY = {
    **dict.fromkeys(("Artifact", "ArtifactVersion", "Diff", "Entry", "LogResult", "Registry"), "arty.artifacts"),
    "Digest": "arty.hashing",
    **dict.fromkeys(("Store", "init_store", "open_store"), "arty.store"),
    **dict.fromkeys(("DOT_DIR", "find_store_url", "resolve_project", "resolve_store"), "arty.settings"),
    **dict.fromkeys(("Config", "Run", "Summary", "init"), "arty.tracking"),
    **dict.fromkeys(("Histogram", "Image", "Table"), "arty.tracking.media"),
    **dict.fromkeys(("Audio", "Html", "Molecule", "Object3D", "Plotly", "Video"), "arty.tracking.media_files"),
    **dict.fromkeys(("AlertLevel", "Settings", "termerror", "termlog", "termwarn"), "arty.tracking.surface"),
    "Api": "arty.api",  # the index (SQLite) is not needed to track a run
    **dict.fromkeys(("sweep", "agent"), "arty.sweeps"),  # W&B's wandb.sweep / wandb.agent
}

__version__ = "0.1.0"

__all__ = [
    "Artifact", "ArtifactVersion", "ArtyError", "BadRecord", "ConflictError", "Diff", "Digest", "Entry",
    "IntegrityError", "InvalidName", "InvalidPath", "LogResult", "MissingExtra", "NotFound", "PendingApproval",
    "PermissionDenied", "ReferenceChanged",
    "Registry", "Store",
    "StoreError", "StoreFull", "StorePermissionDenied", "StoreUnreachable", "UnsupportedStore", "UsageError",
    "__version__", "init_store", "log_artifact", "open_store", "registry", "use_artifact",
    "Config", "Run", "Summary", "define_metric", "finish", "init", "log", "Api",
    "Histogram", "Image", "Table", "Audio", "Video", "Html", "Object3D", "Molecule", "Plotly",
    "watch", "unwatch",
    # the rest of W&B's top-level calls
    "AlertLevel", "Settings", "alert", "link_model", "log_model", "login", "mark_preempting", "restore", "save",
    "setup", "teardown", "termerror", "termlog", "termwarn", "use_model",
    "sweep", "agent",
]
# Also, while a run is active: arty.run, arty.config, arty.summary (module attributes, see __getattr__).

_registries: dict[tuple[str, str | None], Registry] = {}
_lock = threading.Lock()


def registry(store: str | Store | None = None, project: str | None = None, *, create: bool = True) -> Registry:
    """The artifacts of ``project`` in ``store`` (both resolved like the CLI does).

    With ``create`` a missing local store is created (``./.arty`` by default);
    without, a missing store is a :class:`NotFound` error.
    """
    from arty.artifacts import Registry
    from arty.settings import DOT_DIR, find_store_url, resolve_project, resolve_store
    from arty.store import Store

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
    """``Artifact.save()``: :func:`log_artifact` (through the current run, if any). The draft
    module finds it here (``arty._save_draft``) when it is first needed."""
    return log_artifact(artifact, project=project)


def _current_run() -> Run | None:
    """The active run, or None. The first call loads the tracking code and rebinds this name
    to :func:`arty.tracking.run.current`, so later calls cost one function call."""
    global _current_run
    from arty.tracking.run import current

    _current_run = current
    return current()


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


def log(data: dict | None = None, step: int | None = None, commit: bool | None = None,
        sync: bool | None = None) -> None:
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


def define_metric(name: str, step_metric: str | None = None, step_sync: bool | None = None,
                  hidden: bool | None = None, summary: str | None = None, goal: str | None = None,
                  overwrite: bool | None = None) -> None:
    """``run.define_metric`` on the current run (W&B's arguments, in W&B's order)."""
    _require_run().define_metric(name, step_metric=step_metric, step_sync=step_sync, hidden=hidden,
                                 summary=summary, goal=goal, overwrite=overwrite)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run, if any (``quiet``: no message about uploads left for ``art sync``)."""
    run = _current_run()
    if run is not None:
        run.finish(exit_code, quiet=bool(quiet))


def save(glob_str: str | None = None, base_path: str | None = None, policy: str = "live") -> list[str]:
    """``run.save`` on the current run: keep files with it (see :meth:`Run.save`)."""
    return _require_run().save(glob_str, base_path, policy)


def restore(name: str, run_path: str | None = None, replace: bool = False, root: str | None = None) -> Any:
    """Fetch file ``name`` saved with a run and return it opened for reading, as W&B's.

    ``run_path`` (``"project/run_id"``, an entity before it is dropped) defaults to the
    current run; ``root`` to the current run's folder, else ``"."``. A file already under
    ``root`` is returned as it is unless ``replace``. A missing file is :class:`NotFound`.
    """
    run = _current_run()
    if run_path is None and run is None:
        raise UsageError("restore needs run_path outside a run", hint="arty.restore(name, run_path='project/run_id')")
    root = root or (run.dir if run is not None else ".")
    dest = os.path.join(root, *str(name).split("/"))
    if os.path.isfile(dest) and not replace:
        return open(dest)  # noqa: SIM115 - returned to the caller, like W&B
    from arty.api import Api

    if run_path is None and run is not None:
        local = run.folder.path(f"files/{name}")
        if os.path.isfile(local):
            os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
            with open(local, "rb") as src, open(dest, "wb") as out:
                out.write(src.read())
            return open(dest)  # noqa: SIM115
        run_path = run.path
    api = Api({"store": run.store_url}) if run is not None else Api()
    return api.run(run_path).file(name).download(root, replace=True)


def alert(title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
    """``run.alert`` on the current run: recorded as an event of the run and printed."""
    _require_run().alert(title, text, level=level, wait_duration=wait_duration)


def mark_preempting() -> None:
    """``run.mark_preempting`` on the current run."""
    _require_run().mark_preempting()


def log_model(path: str, name: str | None = None, aliases: Iterable[str] | None = None) -> ArtifactVersion:
    """``run.log_model`` on the current run: the file or folder as an artifact of type ``"model"``."""
    return _require_run().log_model(path, name=name, aliases=aliases)


def use_model(name: str) -> str:
    """``run.use_model`` on the current run: the model version downloaded; returns its path."""
    return _require_run().use_model(name)


def link_model(path: Any, registered_model_name: str, name: str | None = None,
               aliases: Iterable[str] | None = None) -> Any:
    """Log the model at ``path`` and link it into ``registered_model_name`` of the default
    registry (:meth:`Run.link_model`); returns the collection version."""
    return _require_run().link_model(path, registered_model_name, name=name, aliases=aliases)


def login(anonymous: str | None = None, key: str | None = None, relogin: bool | None = None,
          host: str | None = None, force: bool | None = None, timeout: int | None = None,
          verify: bool = False, **kwargs: Any) -> bool:
    """Log in to a team ``art server`` (W&B's ``wandb.login``); returns True.

    ``host`` is the server's URL (``http(s)://...``), else ``ARTY_STORE`` when it names a
    server. ``key`` (else ``ARTY_API_KEY``) is saved for that URL in the credentials file, as
    ``art login`` does; ``verify=True`` asks the server first and raises
    :class:`arty.StorePermissionDenied` for a key it refuses. With ``host``, this process's
    runs and commands use that server (``ARTY_STORE`` is set to it). With no server named,
    there is nothing to log in to (a local folder or a bucket needs no account) and nothing
    is sent anywhere.
    """
    import os

    from arty.store import credentials

    url = host or os.environ.get("ARTY_STORE") or ""
    if not url.startswith(("http://", "https://")):
        return True
    url = credentials.normalise_url(url)
    given = key or os.environ.get(credentials.ENV_KEY)
    if not given:
        if credentials.key_for(url) is None or relogin:
            raise UsageError(f"no API key for server '{url}'",
                             hint=f"arty.login(key=..., host='{url}'), ARTY_API_KEY, or 'art login {url}'")
    else:
        if verify:
            credentials.check_key(url, given)
        if key:
            credentials.remember(url, key, make_default=False)
    if host:
        os.environ["ARTY_STORE"] = url
    return True


def setup(settings: Settings | dict[str, Any] | None = None) -> Settings:
    """Arty starts no service process: returns the settings (an :class:`arty.Settings`)."""
    from arty.tracking.surface import as_settings

    return as_settings(settings)


def teardown(exit_code: int | None = None) -> None:
    """Finish the current run, if any (W&B: finish runs and stop its service)."""
    finish(exit_code)


def __getattr__(name: str):  # noqa: ANN202 - PEP 562: the lazy names, arty.run, arty.config, arty.summary
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # found once: later lookups do not come here
        return value
    if name == "run":
        return _current_run()
    if name in ("config", "summary"):
        return getattr(_require_run(), name)
    if name in ("integration", "keras", "sklearn", "plot"):  # W&B's wandb.plot.* after a plain import
        import importlib

        return importlib.import_module(f"arty.{name}")
    if name.startswith("__"):  # probes such as __wrapped__: no need to load the tracking code to say no
        raise AttributeError(f"module 'arty' has no attribute '{name}'")
    from arty.tracking.surface import UNSUPPORTED, unsupported

    if name in UNSUPPORTED:  # W&B names Arty does not have yet: say so, and what to use
        raise unsupported(name)
    raise AttributeError(f"module 'arty' has no attribute '{name}'")


def __dir__() -> list[str]:
    """The module's names, the lazy public ones included (``dir(arty)`` lists all of ``__all__``)."""
    return sorted(set(globals()) | set(_LAZY))
