"""One ``art repro`` is one experiment: an id, a name, the params it ran with, and its steps' runs.

Contract:

* :func:`start` reserves the name before any step runs: ``experiments/names/<name>.json`` is
  created only if absent, so two experiments of a project never share a name. A name given
  by the user that is taken is a :class:`UsageError`; a generated one (``adjective-noun``, like
  DVC's experiment names) is drawn again.
* :func:`finish` writes ``experiments/<id>.json`` once every step is decided (create-if-absent,
  never rewritten) and journals it, so an index catches up. The record holds the params (the
  namespace of :mod:`arty.pipeline.params`), the ``--set`` values, the git commit of the
  pipeline's folder and, per step, what happened and the run whose outputs (and summary) the
  step has: the run that ran now, or for a skipped step the earlier run it reused.
"""

from __future__ import annotations

import os
import re
import secrets
from typing import Any

from arty.artifacts import Registry
from arty.errors import UsageError
from arty.store import layout
from arty.store.store import now_iso

_ADJECTIVES = ("amber", "brisk", "calm", "dapper", "eager", "fuzzy", "gaudy", "hasty", "icy", "jolly", "keen",
               "lucid", "mellow", "nimble", "oaken", "plucky", "quiet", "rapid", "sandy", "tidy", "urban",
               "vivid", "witty", "young", "zesty", "bold", "crisp", "dusky", "fiery", "grassy", "hazy", "jumpy")
_NOUNS = ("acorn", "badge", "cairn", "delta", "ember", "fjord", "gecko", "heron", "igloo", "jetty", "kayak",
          "lemur", "maple", "nexus", "otter", "pixel", "quill", "raven", "sable", "tulip", "umbra", "vireo",
          "walnut", "yacht", "zebra", "bison", "comet", "dingo", "finch", "grove", "hatch", "mesa")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,99}")


def new_id() -> str:
    """12 random lowercase base-36 characters."""
    return "".join(secrets.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(12))


def generated_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}"


def check_name(name: str) -> str:
    if not NAME.fullmatch(name or ""):
        raise UsageError(f"invalid experiment name '{name}'",
                         hint="up to 100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def start(registry: Registry, name: str | None = None) -> dict[str, str]:
    """A new experiment ``{"id", "name"}`` with its name reserved (see the module docstring)."""
    exp_id = new_id()
    if name is not None:
        check_name(name)
        if not registry.store.create_record(layout.experiment_name(registry.project, name),
                                            {"experiment": exp_id, "at": now_iso()}):
            raise UsageError(f"experiment name '{name}' is taken in project '{registry.project}'",
                             hint="choose another --name, or leave it out for a generated one")
        return {"id": exp_id, "name": name}
    for attempt in range(20):
        candidate = generated_name() if attempt < 10 else f"{generated_name()}-{secrets.randbelow(10**4)}"
        if registry.store.create_record(layout.experiment_name(registry.project, candidate),
                                        {"experiment": exp_id, "at": now_iso()}):
            return {"id": exp_id, "name": candidate}
    return {"id": exp_id, "name": exp_id}  # pragma: no cover - every name drawn was taken


def git_state(folder: str) -> dict[str, Any] | None:
    """``{"commit", "branch", "is_dirty"}`` of the repository holding ``folder``, or None."""
    from arty.tracking.code import git_info

    info = git_info(folder)
    if info is None:
        return None
    return {"commit": info.get("commit"), "branch": info.get("branch"), "is_dirty": info.get("is_dirty")}


def finish(registry: Registry, experiment: dict[str, str], *, started_at: str, pipeline_file: str,
           params: dict[str, Any], sets: dict[str, Any], steps: dict[str, dict[str, Any]], exit_code: int,
           git: dict[str, Any] | None) -> dict[str, Any]:
    """Write the experiment's record (see the module docstring) and journal it; returns the record."""
    record = {
        "id": experiment["id"], "name": experiment["name"], "project": registry.project,
        "started_at": started_at, "finished_at": now_iso(), "pipeline": os.path.basename(pipeline_file),
        "params": params, "set": sets, "steps": steps, "exit_code": exit_code,
        "state": "finished" if exit_code == 0 else "failed", "git": git,
    }
    registry.store.create_record(layout.experiment(registry.project, experiment["id"]), record)
    registry.store.journal("experiment", project=registry.project, experiment=experiment["id"])
    return record
