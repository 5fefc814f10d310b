"""Run settings from the environment: ``ARTY_<NAME>`` first, else W&B's ``WANDB_<NAME>``.

So a job written for W&B (``WANDB_RUN_ID=x WANDB_RESUME=allow python train.py``)
behaves the same with ``import arty``. Arguments given to ``arty.init`` win over
both. The names read are :data:`SETTINGS`; docs/runs.md lists what each means.
"""

from __future__ import annotations

import json
import os
from typing import Any

from arty.errors import UsageError

__all__ = ["SETTINGS", "SWEEP_ID", "SWEEP_PARAMS", "SWEEP_TRIAL", "flag", "setting", "sweep_trial", "tags"]

#: The run settings read from the environment (without the ``ARTY_`` / ``WANDB_`` prefix).
SETTINGS = ("PROJECT", "ENTITY", "NAME", "NOTES", "TAGS", "RUN_ID", "RESUME", "RUN_GROUP", "JOB_TYPE",
            "MODE", "DIR", "SILENT", "CONSOLE", "DISABLE_GIT", "DISABLE_CODE")
_FALSE = ("0", "false", "no", "off", "")


def setting(name: str) -> str | None:
    """``ARTY_<name>``, else ``WANDB_<name>``, else None (an empty value counts as unset)."""
    for prefix in ("ARTY_", "WANDB_"):
        value = os.environ.get(prefix + name)
        if value is not None and value.strip():
            return value.strip()
    return None


def flag(name: str, default: bool) -> bool:
    """A yes/no setting: ``0``, ``false``, ``no``, ``off`` and empty are no; any other value is yes."""
    for prefix in ("ARTY_", "WANDB_"):
        value = os.environ.get(prefix + name)
        if value is not None:
            return value.strip().lower() not in _FALSE
    return default


def tags(name: str = "TAGS") -> list[str] | None:
    """A comma-separated list setting (``WANDB_TAGS=a,b``), blanks dropped; None when unset."""
    value = setting(name)
    if value is None:
        return None
    return [t.strip() for t in value.split(",") if t.strip()]


#: Set by a sweep agent for the trial it runs (``arty.sweeps``): the sweep, ``<trial>-<attempt>``,
#: and the trial's params as a JSON object. ``arty.init`` puts the params in ``run.config``
#: (over the config it is given, as W&B's agent does) and names the sweep in ``run.json``.
SWEEP_ID, SWEEP_TRIAL, SWEEP_PARAMS = "ARTY_SWEEP_ID", "ARTY_SWEEP_TRIAL", "ARTY_SWEEP_PARAMS"


def sweep_trial() -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``({"id", "trial", "attempt"}, params)`` of the sweep trial this process runs, else None."""
    sweep_id = os.environ.get(SWEEP_ID, "").strip()
    if not sweep_id:
        return None
    try:
        params = json.loads(os.environ.get(SWEEP_PARAMS) or "{}")
    except ValueError as exc:
        raise UsageError(f"invalid {SWEEP_PARAMS}: {exc}", hint="a JSON object of the trial's params") from None
    if not isinstance(params, dict):
        raise UsageError(f"invalid {SWEEP_PARAMS}: not a JSON object", hint="a JSON object of the trial's params")
    trial, _, attempt = os.environ.get(SWEEP_TRIAL, "").partition("-")
    info: dict[str, Any] = {"id": sweep_id}
    if trial.isdigit():
        info["trial"] = int(trial)
    if attempt.isdigit():
        info["attempt"] = int(attempt)
    return info, params
