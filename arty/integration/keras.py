"""W&B's ``wandb.integration.keras`` names on the Arty Keras integration.

::

    from arty.integration.keras import WandbMetricsLogger, WandbModelCheckpoint

    arty.init(config={"bs": 12})
    model.fit(x, y, validation_data=(xv, yv), epochs=5,
              callbacks=[WandbMetricsLogger(), WandbModelCheckpoint("models.keras")])

:class:`MetricsLogger` (alias ``WandbMetricsLogger``) is
:class:`arty.integrations.keras.ArtyCallback` with W&B's arguments and keys:
``epoch/<metric>``, ``epoch/epoch`` and ``epoch/learning_rate`` per epoch; with
``log_freq`` ``"batch"`` or N, ``batch/<metric>``, ``batch/learning_rate`` and
``batch/batch_step`` every N batches.

:class:`ModelCheckpoint` (alias ``WandbModelCheckpoint``) is Keras'
``ModelCheckpoint``; each file it writes is also logged as a version of the
``"model"`` artifact ``run_<run id>_model`` with the alias ``epoch_<N>``
(``epoch_<N>_batch_<B>`` with an int ``save_freq``), plus ``"best"`` under
``save_best_only``. ``latest`` needs no alias: Arty derives it.

``WandbEvalCallback`` is not supported (a :class:`arty.UsageError` on use).
"""

from __future__ import annotations

import os
from typing import Any

from arty.errors import UsageError
from arty.integration import unsupported
from arty.integrations import log_model_files, resolve_run
from arty.integrations.keras import ArtyCallback, keras
from arty.tracking.run import Run

__all__ = ["MetricsLogger", "ModelCheckpoint", "WandbEvalCallback", "WandbMetricsLogger", "WandbModelCheckpoint"]


class MetricsLogger(ArtyCallback):
    """``WandbMetricsLogger(log_freq="epoch", initial_global_step=0)``.

    ``initial_global_step`` is accepted and not needed: the learning rate is
    read from the optimizer, whose step count Keras restores with it.
    ``backward_compatibility="v1"`` (W&B's plain names) is refused: use
    :class:`arty.keras.WandbCallback` for plain names.
    """

    BATCH_STEP = "batch/batch_step"

    def __init__(self, log_freq: str | int = "epoch", initial_global_step: int = 0,
                 backward_compatibility: str | None = None, *, run: Run | None = None) -> None:
        if type(initial_global_step) is not int or initial_global_step < 0:
            raise UsageError(f"invalid initial_global_step {initial_global_step!r}", hint="use an int >= 0")
        if backward_compatibility is not None:
            raise UsageError(f"backward_compatibility={backward_compatibility!r} is not supported",
                             hint="for plain metric names use arty.keras.WandbCallback")
        super().__init__(run, log_freq=log_freq)


class ModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ``ModelCheckpoint`` (same arguments) that logs each file it saves
    as a ``"model"`` artifact version of the run (``run`` keyword, default: the
    current run). Versions logged so far are in :attr:`logged`."""

    def __init__(self, filepath: str, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_freq: str | int = "epoch",
                 initial_value_threshold: float | None = None, *, run: Run | None = None, **kwargs: Any) -> None:
        if kwargs.get("options") is not None:
            raise UsageError("options= is not supported by Keras 3's ModelCheckpoint",
                             hint="leave it out; the file format follows the file name (.keras, .weights.h5)")
        kwargs.pop("options", None)
        super().__init__(os.fspath(filepath), monitor=monitor, verbose=verbose, save_best_only=save_best_only,
                         save_weights_only=save_weights_only, mode=mode, save_freq=save_freq,
                         initial_value_threshold=initial_value_threshold, **kwargs)
        self._run = run
        self.logged: list[Any] = []

    def _save_model(self, epoch: int, batch: int | None, logs: dict[str, Any] | None) -> None:
        path = self._get_file_path(epoch, batch, logs)
        before = _stamp(path)
        super()._save_model(epoch, batch, logs)
        if _stamp(path) in (None, before):  # not saved (not the best, or save_best_only's first miss)
            return
        alias = f"epoch_{epoch}" if batch is None else f"epoch_{epoch}_batch_{batch}"
        aliases = [alias] + (["best"] if self.save_best_only else [])
        run = resolve_run(self._run)
        version = log_model_files(run, path, f"run_{run.id}_model", aliases=aliases,
                                  metadata={"framework": "keras", "epoch": epoch, "monitor": self.monitor})
        if version is not None:
            self.logged.append(version)


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


WandbMetricsLogger = MetricsLogger
WandbModelCheckpoint = ModelCheckpoint
WandbEvalCallback = unsupported(
    "WandbEvalCallback", "log predictions yourself from a Keras callback: run.log({'eval': arty.Table(...)})")
