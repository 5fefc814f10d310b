"""Keras 3: a callback that logs epoch (and optionally batch) metrics and the model.

::

    from arty.integrations.keras import ArtyCallback

    run = arty.init(project="mnist", config={"lr": 1e-3})
    model.fit(x, y, validation_split=0.1, epochs=5,
              callbacks=[ArtyCallback(log_model="best", monitor="val_loss")])

Any backend works (the tests use ``KERAS_BACKEND=torch``). History keys are
``epoch/<metric>`` with ``epoch/epoch`` as their step metric, and, with
``log_freq=N``, ``batch/<metric>`` every N training batches with ``batch/step``.
Models are saved in the native ``.keras`` format as ``model.keras`` in a
``"model"`` artifact.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, Iterable

from arty.artifacts import ArtifactVersion
from arty.errors import UsageError
from arty.integrations import ScratchDir, import_framework, log_model_files, model_name, resolve_run
from arty.tracking.run import Run

keras = import_framework("keras", "keras", "arty.integrations.keras")

__all__ = ["ArtyCallback", "improved", "resolve_mode"]

MODEL_FILE = "model.keras"
LOG_MODEL = (False, True, "end", "best", "epoch")
_MAXIMIZED = ("acc", "auc", "f1", "precision", "recall", "iou")


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def resolve_mode(monitor: str, mode: str) -> str:
    """``"min"`` or ``"max"`` for ``mode``; ``"auto"`` is max for accuracy-like names.

    An unknown ``mode`` raises :class:`arty.UsageError`.
    """
    if mode not in ("auto", "min", "max"):
        raise UsageError(f"invalid mode '{mode}'", hint="use 'auto', 'min' or 'max'")
    if mode == "auto":
        return "max" if any(m in monitor for m in _MAXIMIZED) else "min"
    return mode


def improved(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` beats ``best`` (None: nothing yet) under ``mode`` ``"min"``/``"max"``."""
    return best is None or (value < best if mode == "min" else value > best)


class ArtyCallback(keras.callbacks.Callback):
    """Log a Keras ``fit`` to an Arty run.

    ``run``: the run to log to (default: the current run when training starts).
    ``log_freq``: ``"epoch"`` (default) logs metrics at each epoch end; an int N
    also logs the training batch metrics every N batches (``"batch"`` is 1).
    ``log_model``: False (default); ``"end"`` (or True) logs the model when
    training ends; ``"epoch"`` at each epoch end; ``"best"`` at each epoch end
    where ``monitor`` improved (``mode`` ``"min"``, ``"max"`` or ``"auto"``:
    max for accuracy-like names), with the alias ``"best"``. Versions go to the
    artifact ``model_name`` (default ``model-<run id>``), with ``aliases`` added.
    Training settings (``epochs``, ``steps_per_epoch``, ``optimizer``,
    ``learning_rate``) go into the config unless the config already has them.

    Batch rows carry ``batch/learning_rate`` too, and the batch counter under
    :attr:`BATCH_STEP`.

    Bad settings raise :class:`arty.UsageError` here, before training; a
    ``monitor`` missing from an epoch's logs is warned about once and that
    epoch's model is not logged.
    """

    #: The history key of the batch counter (the step metric of ``batch/*``).
    BATCH_STEP = "batch/step"

    def __init__(self, run: Run | None = None, *, log_freq: str | int = "epoch", log_model: bool | str = False,
                 monitor: str = "val_loss", mode: str = "auto", model_name: str | None = None,
                 aliases: Iterable[str] = ()) -> None:
        super().__init__()
        if log_freq == "batch":
            log_freq = 1
        if log_freq != "epoch" and (type(log_freq) is not int or log_freq < 1):
            raise UsageError(f"invalid log_freq {log_freq!r}", hint="use 'epoch', 'batch' or a number of batches >= 1")
        if log_model not in LOG_MODEL or isinstance(log_model, int) and not isinstance(log_model, bool):
            raise UsageError(f"invalid log_model {log_model!r}", hint="use False, 'end', 'epoch' or 'best'")
        if not isinstance(monitor, str) or not monitor:
            raise UsageError(f"invalid monitor {monitor!r}", hint="name a metric, e.g. 'val_loss'")
        self._run = run
        self.batch_freq = None if log_freq == "epoch" else log_freq
        self.log_model = "end" if log_model is True else log_model
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.model_name = model_name
        self.aliases = list(aliases)
        self.best: float | None = None
        self._batches = 0
        self._warned_monitor = False
        self.logged: list[ArtifactVersion] = []

    @property
    def run(self) -> Run:
        """The run this callback logs to."""
        self._run = resolve_run(self._run)
        return self._run

    # -- Keras hooks ----------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        run = self.run
        run.define_metric("epoch/*", step_metric="epoch/epoch")
        if self.batch_freq:
            run.define_metric("batch/*", step_metric=self.BATCH_STEP)
        params = self.params or {}
        settings: dict[str, Any] = {"epochs": params.get("epochs"), "steps_per_epoch": params.get("steps")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            settings["optimizer"] = type(optimizer).__name__
            lr = self._learning_rate()
            if lr is not None:
                settings["learning_rate"] = lr
        run.config.setdefaults({k: v for k, v in settings.items() if v is not None})

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.batch_freq:
            return
        self._batches += 1
        if self._batches % self.batch_freq:
            return
        row: dict[str, Any] = {self.BATCH_STEP: self._batches}
        for k, v in (logs or {}).items():
            row[f"batch/{k}"] = v
        lr = self._learning_rate()
        if lr is not None and "learning_rate" not in (logs or {}):
            row["batch/learning_rate"] = lr
        self.run.log(row)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        row: dict[str, Any] = {"epoch/epoch": epoch}
        for k, v in logs.items():
            row[f"epoch/{k}"] = v
        lr = self._learning_rate()
        if lr is not None and "learning_rate" not in logs:
            row["epoch/learning_rate"] = lr
        self.run.log(row)
        if self.log_model == "epoch":
            self._save(epoch, logs, aliases=[])
        elif self.log_model == "best":
            value = _number(logs.get(self.monitor))
            if value is None or math.isnan(value):
                if not self._warned_monitor:
                    self._warned_monitor = True
                    warnings.warn(f"arty: monitor '{self.monitor}' is not in the epoch's logs "
                                  f"(have: {', '.join(sorted(logs)) or 'nothing'}); the model is not logged",
                                  RuntimeWarning, stacklevel=2)
                return
            if improved(value, self.best, self.mode):
                self.best = value
                self.run.summary[f"best/{self.monitor}"] = value
                self._save(epoch, logs, aliases=["best"])

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.log_model == "end":
            self._save(None, logs or {}, aliases=[])

    # -- helpers ---------------------------------------------------------------------------------

    def _learning_rate(self) -> float | None:
        optimizer = getattr(self.model, "optimizer", None)
        try:
            return float(optimizer.learning_rate)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - a schedule object or no optimizer: not logged
            return None

    def _save(self, epoch: int | None, logs: dict[str, Any], aliases: list[str]) -> None:
        run = self.run
        meta: dict[str, Any] = {"framework": "keras", "keras_version": keras.__version__,
                                "backend": keras.backend.backend()}
        if epoch is not None:
            meta["epoch"] = epoch
        for k, v in logs.items():
            n = _number(v)
            if n is not None and math.isfinite(n):
                meta[k] = n
        with ScratchDir() as tmp:
            path = os.path.join(tmp, MODEL_FILE)
            self.model.save(path)
            version = log_model_files(run, path, model_name(run, self.model_name),
                                      aliases=aliases + self.aliases, metadata=meta)
        if version is not None:
            self.logged.append(version)
