"""PyTorch Lightning: a logger for hyperparameters, metrics and checkpoints.

::

    from arty.integrations.lightning import ArtyLogger

    logger = ArtyLogger(project="mnist", log_model=True)
    trainer = lightning.Trainer(logger=logger, max_epochs=3)
    trainer.fit(model, train_loader, val_loader)

Works with the ``lightning`` package (``lightning.pytorch``). Each
``log_metrics`` call is one history row with ``trainer/global_step`` beside the
metrics (the step metric every key is plotted against); ``save_hyperparameters``
goes into the run's config; checkpoints written by ``ModelCheckpoint`` become
versions of a ``"model"`` artifact (the file ``model.ckpt``), the best one with
the alias ``"best"``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Mapping

from arty.artifacts import ArtifactVersion
from arty.errors import UsageError
from arty.integrations import import_framework, log_model_files, model_name
from arty.tracking.run import Run, current, init

import_framework("lightning", "lightning", "arty.integrations.lightning")
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment  # noqa: E402
from lightning.pytorch.utilities import rank_zero_only  # noqa: E402

__all__ = ["ArtyLogger"]

STEP_KEY = "trainer/global_step"
CHECKPOINT_FILE = "model.ckpt"
_PLAIN = (int, float, str, bool, type(None))


def _hparam(value: Any) -> Any:
    """A config value: plain values, dicts and lists of them as they are; callables by
    name; anything else by ``repr``."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, argparse.Namespace):
        value = vars(value)
    if isinstance(value, Mapping):
        return {str(k): _hparam(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hparam(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # numpy and torch scalars
        return item()
    if callable(value):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or repr(value)
    return repr(value)


class ArtyLogger(Logger):
    """A Lightning logger that writes to an Arty run.

    ``run``: log to this run. Without it the logger uses the current run if
    there is one, else starts one on first use with ``arty.init(project=project,
    name=name, **init_kwargs)``. The run is not finished by the logger (so that
    ``trainer.test`` after ``fit`` logs to it too): it ends with ``arty.finish()``,
    ``run.finish()`` or at process exit.

    ``log_model``: False (default) logs no checkpoint; True logs the checkpoints
    of each ``ModelCheckpoint`` when training ends successfully; ``"all"``
    logs each checkpoint as soon as it is saved. Versions go to the artifact
    ``checkpoint_name`` (default ``model-<run id>``); the best checkpoint gets
    the alias ``"best"``; metadata records the score, the monitored metric, the
    step and the original file name.
    """

    def __init__(self, project: str | None = None, name: str | None = None, *, run: Run | None = None,
                 log_model: bool | str = False, checkpoint_name: str | None = None, **init_kwargs: Any) -> None:
        super().__init__()
        if log_model not in (False, True, "all") or (isinstance(log_model, int) and not isinstance(log_model, bool)):
            raise UsageError(f"invalid log_model {log_model!r}", hint="use False, True or 'all'")
        self._project = project
        self._name = name
        self._run = run
        self._log_model = log_model
        self._checkpoint_name = checkpoint_name
        self._init_kwargs = init_kwargs
        self._checkpoint_callbacks: dict[int, ModelCheckpoint] = {}
        self._logged_mtime: dict[str, float] = {}
        self._defined = False
        self.logged: list[ArtifactVersion] = []

    # -- the run -------------------------------------------------------------------------------

    @property
    @rank_zero_experiment
    def experiment(self) -> Run:
        """The Arty run (started on first use if none was given and none is active)."""
        if self._run is None:
            active = current()
            if active is not None and not active._finished:
                self._run = active
            else:
                self._run = init(project=self._project, name=self._name, **self._init_kwargs)
        if not self._defined:
            self._defined = True
            self._run.define_metric(STEP_KEY)
            self._run.define_metric("*", step_metric=STEP_KEY)
        return self._run

    @property
    def name(self) -> str | None:
        """The run's project (Lightning's experiment name)."""
        return self.experiment.project

    @property
    def version(self) -> str | None:
        """The run id (Lightning's version)."""
        return self.experiment.id

    # -- what Lightning calls ---------------------------------------------------------------

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | argparse.Namespace, *args: Any, **kwargs: Any) -> None:
        """Put ``params`` (``save_hyperparameters``) into the run's config."""
        if isinstance(params, argparse.Namespace):
            params = vars(params)
        self.experiment.config.update({str(k): _hparam(v) for k, v in dict(params or {}).items()})

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """One history row: ``metrics`` plus ``trainer/global_step`` when ``step`` is given."""
        row = dict(metrics)
        if step is not None:
            row[STEP_KEY] = int(step)
        self.experiment.log(row)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        if self._log_model == "all":
            self._log_checkpoints(checkpoint_callback)
        elif self._log_model is True:
            self._checkpoint_callbacks[id(checkpoint_callback)] = checkpoint_callback

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """At the end of ``fit``/``test``: with ``log_model=True``, log the checkpoints
        (only when training succeeded)."""
        if status != "success" or self._run is None:
            return
        for callback in self._checkpoint_callbacks.values():
            self._log_checkpoints(callback)

    # -- checkpoints ---------------------------------------------------------------------------

    def _log_checkpoints(self, callback: ModelCheckpoint) -> None:
        """Log each checkpoint file of ``callback`` not logged yet (or rewritten since), oldest first."""
        found: dict[str, Any] = {}
        if getattr(callback, "last_model_path", ""):
            found[callback.last_model_path] = getattr(callback, "current_score", None)
        for path, score in getattr(callback, "best_k_models", {}).items():
            found[path] = score
        if getattr(callback, "best_model_path", ""):
            found[callback.best_model_path] = getattr(callback, "best_model_score", None)
        todo = []
        for path, score in found.items():
            try:
                mtime = os.stat(path).st_mtime_ns
            except OSError:  # removed since (save_top_k) or never written
                continue
            if self._logged_mtime.get(path) != mtime:
                todo.append((mtime, path, score))
        run = self.experiment
        for mtime, path, score in sorted(todo):
            meta: dict[str, Any] = {"framework": "lightning", "original_filename": os.path.basename(path),
                                    "monitor": callback.monitor, "mode": getattr(callback, "mode", None)}
            value = _hparam(score)
            if isinstance(value, float) and value == value and abs(value) != float("inf"):
                meta["score"] = value
            aliases = ["best"] if path == callback.best_model_path else []
            version = log_model_files(run, path, model_name(run, self._checkpoint_name), aliases=aliases,
                                      metadata=meta, file_name=CHECKPOINT_FILE)
            self._logged_mtime[path] = mtime
            if version is not None:
                self.logged.append(version)

