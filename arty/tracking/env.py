"""Run settings from the environment: ``ARTY_<NAME>`` first, else W&B's ``WANDB_<NAME>``.

So a job written for W&B (``WANDB_RUN_ID=x WANDB_RESUME=allow python train.py``)
behaves the same with ``import arty``. Arguments given to ``arty.init`` win over
both. The names read are :data:`SETTINGS`; docs/runs.md lists what each means.
"""

from __future__ import annotations

import os

__all__ = ["SETTINGS", "setting", "flag", "tags"]

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
