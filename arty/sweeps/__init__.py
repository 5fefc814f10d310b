"""Sweeps: W&B's ``wandb.sweep`` / ``wandb agent``, with the trial state in the store.

``sweep(config, project=)`` checks a configuration and writes the sweep (returns its id);
``agent(sweep_id, function, count)`` runs trials in this process; ``art agent SWEEP_ID`` runs
the sweep's program. Agents anywhere coordinate through the store's create-if-absent
records (:mod:`arty.sweeps.records`); Optuna does the search (:mod:`arty.sweeps.search`).
See docs/sweeps.md.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from arty.errors import UsageError
from arty.sweeps.runner import Agent, Sweep, create, function_runner, should_prune
from arty.sweeps.records import DEFAULT_GRACE, DEFAULT_RETRIES, DEFAULT_TTL

__all__ = ["Agent", "Sweep", "agent", "load_config", "should_prune", "sweep"]


def load_config(config: dict[str, Any] | str | os.PathLike) -> dict[str, Any]:
    """A sweep configuration: a mapping as it is, or a YAML/JSON file read."""
    if isinstance(config, dict):
        return config
    path = os.fspath(config)
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise UsageError(f"sweep configuration '{path}' not found") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"sweep configuration '{path}' is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"sweep configuration '{path}' is not a mapping")
    return data


def _store_and_project(store: Any, project: str | None) -> tuple[Any, str]:
    from arty.settings import find_store_url, resolve_project, resolve_store
    from arty.store import Store

    if not isinstance(store, Store):
        store = resolve_store(store or find_store_url(), create=True)
    return store, resolve_project(store, project)


def sweep(sweep: dict[str, Any] | str | os.PathLike, entity: str | None = None, project: str | None = None, *,
          store: Any = None, retries: int = DEFAULT_RETRIES, lease_ttl: float = DEFAULT_TTL,
          grace: float = DEFAULT_GRACE) -> str:
    """Create a sweep (W&B's ``wandb.sweep``) and return its id.

    ``sweep`` is the configuration (a mapping, or a YAML file's path); ``project`` defaults to
    the configuration's ``project``, else the current project. A trial whose agent dies (its
    heartbeat lapses for ``lease_ttl`` + ``grace`` seconds) is marked crashed and retried up
    to ``retries`` times. ``entity`` is accepted and ignored.
    """
    config = load_config(sweep)
    project = project or (config.get("project") if isinstance(config.get("project"), str) else None)
    st, proj = _store_and_project(store, project)
    return create(st, proj, config, retries=retries, lease_ttl=lease_ttl, grace=grace)


def agent(sweep_id: str, function: Callable[[], Any] | None = None, entity: str | None = None,
          project: str | None = None, count: int | None = None, *, store: Any = None) -> int:
    """Run trials of a sweep in this process (W&B's ``wandb.agent``): each calls ``function()``,
    in which ``arty.init()`` gets the trial's params in ``run.config``. Without ``function`` the
    sweep's program runs as a subprocess, as ``art agent`` does. Stops after ``count`` trials
    or when the sweep is done; returns the number of trials run."""
    from arty.sweeps.runner import program_runner

    st, proj = _store_and_project(store, project)
    a = Agent(Sweep(st, proj, sweep_id))
    a.run(function_runner(a, function) if function is not None else program_runner(a), count)
    return len(a.ran)
