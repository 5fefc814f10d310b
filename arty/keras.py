"""The legacy ``wandb.keras.WandbCallback``, with ``arty`` in place of ``wandb``.

::

    from arty.keras import WandbCallback

    arty.init(config={"hyper": "parameter"})
    model.fit(x, y, validation_data=(xv, yv), callbacks=[WandbCallback()])

Metric names are as W&B's legacy callback logs them: one history row per epoch
with ``epoch`` and Keras' own names (``loss``, ``accuracy``, ``val_loss``...).
When ``monitor`` improves (``mode``), the summary gets ``best_<monitor>`` and
``best_epoch`` (prefix ``log_best_prefix``) and, with ``save_model`` (default),
the model is logged as a version of the ``"model"`` artifact ``model-<run id>``
(file ``model-best.keras``, or ``model-best.weights.h5`` with
``save_weights_only``) with the aliases ``best`` and ``epoch_<N>``.
``log_weights`` logs ``parameters/<layer>.weights`` and ``.bias`` histograms
each epoch; ``log_batch_frequency=N`` logs the batch logs every N batches.

Arguments Arty cannot honour raise :class:`arty.UsageError` naming the Arty way
when set: ``log_gradients`` / ``training_data``, ``log_evaluation`` and the
prediction-logging arguments, ``compute_flops``. ``save_graph`` is accepted and
draws nothing.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

from arty.errors import UsageError
from arty.integrations import ScratchDir, log_model_files, model_name, resolve_run
from arty.integrations.keras import _number, improved, keras, resolve_mode
from arty.tracking.media import Histogram
from arty.tracking.run import Run

__all__ = ["WandbCallback"]

#: W&B arguments Arty refuses when set to anything but their default, with the Arty way.
_REFUSED: dict[str, tuple[Any, str]] = {
    "log_gradients": (False, "for a torch-backend model use arty.watch(model, log='gradients')"),
    "training_data": (None, "it is only used for log_gradients, which is not supported"),
    "log_evaluation": (False, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "log_evaluation_frequency": (0, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "validation_data": (None, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "generator": (None, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "validation_steps": (None, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "labels": (None, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "predictions": (36, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "input_type": (None, "log images yourself: run.log({'examples': [arty.Image(x) ...]})"),
    "output_type": (None, "log images yourself: run.log({'examples': [arty.Image(x) ...]})"),
    "class_colors": (None, "log images yourself: run.log({'examples': [arty.Image(x) ...]})"),
    "validation_indexes": (None, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "validation_row_processor": (None, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "prediction_row_processor": (None, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "infer_missing_processors": (True, "log predictions yourself: run.log({'eval': arty.Table(...)})"),
    "compute_flops": (False, "compute them yourself and set run.summary['GFLOPs']"),
}


def _is_default(value: Any, default: Any) -> bool:
    """``value is default``, or a plain value equal to it (arrays are never default)."""
    return value is default or (isinstance(value, (bool, int, float, str)) and value == default)


class WandbCallback(keras.callbacks.Callback):
    """W&B's legacy Keras callback (see the module docstring for what is logged).

    ``run`` (keyword): the run to log to, default the current run.
    """

    def __init__(self, monitor: str = "val_loss", verbose: int = 0, mode: str = "auto",
                 save_weights_only: bool = False, log_weights: bool = False, log_gradients: bool = False,
                 save_model: bool = True, log_batch_frequency: int | None = None, log_best_prefix: str = "best_",
                 save_graph: bool = True, *, run: Run | None = None, **kwargs: Any) -> None:
        super().__init__()
        given = dict(kwargs, log_gradients=log_gradients)
        for key, value in given.items():
            if key not in _REFUSED:
                raise UsageError(f"unknown WandbCallback argument '{key}'",
                                 hint="see the arguments of arty.keras.WandbCallback")
            default, hint = _REFUSED[key]
            if not _is_default(value, default):
                raise UsageError(f"WandbCallback({key}=...) is not supported by arty", hint=hint)
        if not isinstance(monitor, str) or not monitor:
            raise UsageError(f"invalid monitor {monitor!r}", hint="name a metric, e.g. 'val_loss'")
        if log_batch_frequency is not None and (type(log_batch_frequency) is not int or log_batch_frequency < 1):
            raise UsageError(f"invalid log_batch_frequency {log_batch_frequency!r}",
                             hint="use None or a number of batches >= 1")
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.verbose = verbose
        self.save_weights_only = bool(save_weights_only)
        self.log_weights = bool(log_weights)
        self.save_model = bool(save_model)
        self.log_batch_frequency = log_batch_frequency
        self.log_best_prefix = log_best_prefix or ""
        self._run = run
        self.best: float | None = None
        self._warned_monitor = False
        self.logged: list[Any] = []

    @property
    def run(self) -> Run:
        """The run this callback logs to."""
        self._run = resolve_run(self._run)
        return self._run

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        previous = _number(self.run.summary.as_dict().get(f"{self.log_best_prefix}{self.monitor}"))
        if self.log_best_prefix and previous is not None:  # a resumed run keeps its best
            self.best = previous

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.log_batch_frequency and batch % self.log_batch_frequency == 0:
            self.run.log(dict(logs or {}))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        row: dict[str, Any] = self._weights() if self.log_weights else {}
        row["epoch"] = epoch
        row.update(logs)
        run = self.run
        run.log(row)
        value = _number(logs.get(self.monitor))
        if value is None or math.isnan(value):
            if not self._warned_monitor:
                self._warned_monitor = True
                warnings.warn(f"arty: monitor '{self.monitor}' is not in the epoch's logs "
                              f"(have: {', '.join(sorted(logs)) or 'nothing'}); no best model is kept",
                              RuntimeWarning, stacklevel=2)
            return
        if not improved(value, self.best, self.mode):
            return
        if self.verbose:
            print(f"Epoch {epoch:05d}: {self.monitor} improved from {self.best} to {value}")
        self.best = value
        if self.log_best_prefix:
            run.summary[f"{self.log_best_prefix}{self.monitor}"] = value
            run.summary[f"{self.log_best_prefix}epoch"] = epoch
        if self.save_model:
            self._save(run, epoch)

    def _weights(self) -> dict[str, Any]:
        """``parameters/<layer>.weights`` (and ``.bias``) histograms of every layer with weights."""
        out: dict[str, Any] = {}
        for layer in self.model.layers:
            weights = layer.get_weights()
            if weights:
                out[f"parameters/{layer.name}.weights"] = Histogram(weights[0])
            if len(weights) > 1:
                out[f"parameters/{layer.name}.bias"] = Histogram(weights[1])
        return out

    def _save(self, run: Run, epoch: int) -> None:
        file_name = "model-best.weights.h5" if self.save_weights_only else "model-best.keras"
        with ScratchDir() as tmp:
            path = os.path.join(tmp, file_name)
            if self.save_weights_only:
                self.model.save_weights(path)
            else:
                self.model.save(path)
            version = log_model_files(run, path, model_name(run, None), aliases=["best", f"epoch_{epoch}"],
                                      metadata={"framework": "keras", "epoch": epoch, self.monitor: self.best})
        if version is not None:
            self.logged.append(version)
