"""W&B's smaller top-level calls, in Arty's terms: ``Settings``, ``termlog``/``termwarn``/
``termerror``, ``AlertLevel``, and the file selection of ``run.save`` and ``run.log_code``.

Arty has no account and no service process, so ``login``/``setup`` have nothing to
do (see :mod:`arty`); what a call cannot do the Arty way raises :class:`UsageError`
naming that way, never an ``AttributeError``.
"""

from __future__ import annotations

import enum
import glob as _glob
import os
import sys
from typing import Any, Callable

from arty.errors import UsageError
from arty.tracking import env

__all__ = ["AlertLevel", "Settings", "SAVE_POLICIES", "termlog", "termwarn", "termerror", "save_targets",
           "code_files", "unsupported", "UNSUPPORTED", "as_settings"]

#: ``run.save(policy=...)``: ``"now"`` copies at once, ``"end"`` at finish, ``"live"`` both.
SAVE_POLICIES = ("live", "now", "end")


class AlertLevel(str, enum.Enum):
    """The level of ``arty.alert`` (W&B's ``wandb.AlertLevel``)."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


class Settings:
    """W&B's ``wandb.Settings``: keyword settings for :func:`arty.init` (``settings=``).

    The ones Arty acts on: ``mode``, ``project``, ``run_id``, ``run_name``, ``run_notes``,
    ``run_tags``, ``run_group``, ``run_job_type``, ``root_dir``, ``save_code``, ``console``
    (``"off"`` turns capture off), ``silent``, ``disable_git``, ``disable_code``,
    ``x_disable_stats`` / ``_disable_stats`` (no system metrics). Any other name is kept
    as an attribute and ignored: it tunes W&B's service or servers.
    """

    def __init__(self, **settings: Any) -> None:
        self.__dict__.update(settings)

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)

    def update(self, settings: "dict[str, Any] | Settings | None" = None, **kwargs: Any) -> None:
        if isinstance(settings, Settings):
            settings = dict(settings.__dict__)
        self.__dict__.update(settings or {})
        self.__dict__.update(kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in sorted(self.__dict__.items()))})"


def as_settings(settings: "Settings | dict[str, Any] | None") -> Settings:
    if settings is None:
        return Settings()
    if isinstance(settings, Settings):
        return settings
    if isinstance(settings, dict):
        return Settings(**settings)
    raise UsageError(f"settings must be an arty.Settings or a dict, not {type(settings).__name__}")


def _term(prefix: str, message: str, newline: bool) -> None:
    if env.flag("SILENT", False):
        return
    sys.stderr.write(f"{prefix}{message}" + ("\n" if newline else ""))
    sys.stderr.flush()


def termlog(string: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Print ``arty: <string>`` on stderr (nothing under ``ARTY_SILENT``/``WANDB_SILENT``)."""
    _term("arty: " if prefix else "", str(string), newline)


def termwarn(string: str, newline: bool = True, repeat: bool = True) -> None:
    """Print ``arty: WARNING <string>`` on stderr."""
    _term("arty: WARNING ", str(string), newline)


def termerror(string: str, newline: bool = True, repeat: bool = True) -> None:
    """Print ``arty: ERROR <string>`` on stderr."""
    _term("arty: ERROR ", str(string), newline)


def save_targets(glob_str: str, base_path: str | None) -> list[tuple[str, str]]:
    """``(source file, name under the run's files/)`` for ``run.save(glob_str, base_path)``.

    As W&B: names are relative to ``base_path``, by default the folder of ``glob_str``
    (so ``save("out/*.ckpt")`` keeps ``a.ckpt``; ``save("out/*.ckpt", base_path=".")``
    keeps ``out/a.ckpt``). A ``base_path`` that is not above the files is a
    :class:`UsageError`.
    """
    if not isinstance(glob_str, (str, os.PathLike)) or not os.fspath(glob_str):
        raise UsageError("run.save needs a file name or glob", hint="run.save('model.pt') or run.save('out/*.ckpt')")
    pattern = os.path.abspath(os.fspath(glob_str))
    if base_path is None:
        base = os.path.dirname(os.fspath(glob_str)) or "."
        if _glob.has_magic(base):
            raise UsageError(f"cannot tell the base folder of '{glob_str}'",
                             hint="pass base_path=, the folder the saved names are relative to")
    else:
        base = os.fspath(base_path)
    base = os.path.abspath(base)
    out = []
    for path in sorted(_glob.glob(pattern, recursive=True)):
        if not os.path.isfile(path):
            continue
        rel = os.path.relpath(path, base)
        if rel.startswith(os.pardir):
            raise UsageError(f"file '{path}' is not under base_path '{base}'",
                             hint="base_path must be a folder above the saved files")
        out.append((path, rel.replace(os.sep, "/")))
    return out


def _default_exclude(path: str, root: str) -> bool:
    parts = os.path.relpath(path, root).split(os.sep)
    return any(p in ("arty-runs", ".arty", "wandb", "artifacts", "__pycache__", "node_modules", ".git")
               or p.startswith(".venv") or p in ("venv", "env") for p in parts[:-1])


def code_files(root: str, include_fn: Callable[..., bool] | None,
               exclude_fn: Callable[..., bool] | None) -> list[tuple[str, str]]:
    """``(path, name)`` of the files ``run.log_code(root, include_fn=, exclude_fn=)`` keeps:
    by default every ``.py`` file, without virtual environments, caches, run folders and
    stores. ``include_fn``/``exclude_fn`` take ``(path, root)`` or ``(path)`` as W&B's do."""
    root = os.path.abspath(root)

    def call(fn: Callable[..., bool], path: str) -> bool:
        try:
            return bool(fn(path, root))
        except TypeError:
            return bool(fn(path))

    out = []
    for here, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            path = os.path.join(here, n)
            keep = call(include_fn, path) if include_fn else n.endswith(".py")
            drop = call(exclude_fn, path) if exclude_fn else _default_exclude(path, root)
            if keep and not drop:
                out.append((path, os.path.relpath(path, root).replace(os.sep, "/")))
    return out


#: W&B names Arty does not have yet, with what to use instead.
UNSUPPORTED = {
    "Bokeh": "a Bokeh figure needs its scripts, which the UI does not run: export it as PNG "
             "(bokeh.io.export_png(fig, filename='f.png')) and log arty.Image('f.png'), "
             "or redraw it as an arty.Plotly figure or an arty.plot chart",
    "plot_table": "use an arty.plot chart (line, scatter, bar, ...) or log the data as an arty.Table",
    "visualize": "use an arty.plot chart (line, scatter, bar, ...) or log the data as an arty.Table",
    "controller": "agents choose the trials themselves: arty.sweep(config) then arty.agent(sweep_id, function) "
                  "or 'art agent SWEEP_ID' (see docs/sweeps.md)",
    "tensorboard": "log the metrics with arty.log",
    "Object": "log an arty.Table or arty.Image",
}


def unsupported(name: str) -> UsageError:
    """The error for W&B's ``wandb.<name>`` that Arty does not have (yet)."""
    return UsageError(f"arty.{name} is not supported yet", hint=UNSUPPORTED[name])

