"""W&B's Lightning logger shape on :class:`arty.integrations.lightning.ArtyLogger`.

::

    from arty.integration.lightning import WandbLogger

    wandb_logger = WandbLogger(project="mnist", log_model="all")
    trainer = Trainer(logger=wandb_logger)

:class:`WandbLogger` takes the arguments of Lightning's ``WandbLogger``
(``name``, ``save_dir``/``dir``, ``version``/``id``, ``offline``, ``project``,
``log_model``, ``experiment`` (a run), ``prefix``, ``checkpoint_name``, and
the rest for ``arty.init``), and logs as W&B does: metrics with
``trainer/global_step`` (``prefix`` joined with ``-``), hyperparameters into the
config, checkpoints as versions of the ``"model"`` artifact ``model-<run id>``
with the alias ``best`` on the best one. ``log_table``, ``log_text``,
``log_image`` and ``watch`` work as in W&B. ``anonymous`` is refused.
"""

from __future__ import annotations

from typing import Any, Mapping

from arty.errors import UsageError
from arty.integrations.lightning import STEP_KEY, ArtyLogger, rank_zero_only
from arty.tracking.media import Image, Table
from arty.tracking.run import Run

__all__ = ["ArtyLogger", "WandbLogger"]


class WandbLogger(ArtyLogger):
    """Lightning's ``WandbLogger`` arguments and methods, logging to an Arty run."""

    LOGGER_JOIN_CHAR = "-"

    def __init__(self, name: str | None = None, save_dir: str = ".", version: str | None = None,
                 offline: bool = False, dir: str | None = None, id: str | None = None,
                 anonymous: bool | None = None, project: str | None = None, log_model: bool | str = False,
                 experiment: Run | None = None, prefix: str = "", checkpoint_name: str | None = None,
                 **kwargs: Any) -> None:
        if anonymous:
            raise UsageError("anonymous runs are not supported by arty",
                             hint="runs belong to the store you log to; leave anonymous out")
        run_id = id or version
        if run_id is not None:
            kwargs["id"] = run_id
        if offline:
            kwargs.setdefault("mode", "offline")
        folder = dir or (save_dir if save_dir != "." else None)
        if folder is not None:
            kwargs["dir"] = folder
        super().__init__(project, name, run=experiment, log_model=log_model, checkpoint_name=checkpoint_name,
                         **kwargs)
        self._prefix = prefix

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """One history row; keys get ``<prefix>-`` when ``prefix`` is set."""
        if self._prefix:
            metrics = {f"{self._prefix}{self.LOGGER_JOIN_CHAR}{k}": v for k, v in metrics.items()}
        super().log_metrics(metrics, step)

    def _log(self, row: dict[str, Any], step: int | None) -> None:
        if step is not None:
            row[STEP_KEY] = int(step)
        self.experiment.log(row)

    @rank_zero_only
    def log_table(self, key: str, columns: list[str] | None = None, data: list[list[Any]] | None = None,
                  dataframe: Any = None, step: int | None = None) -> None:
        """Log a :class:`arty.Table` under ``key`` (from ``columns`` + ``data``, or ``dataframe``)."""
        table = Table(dataframe=dataframe) if dataframe is not None else Table(columns=columns, data=data)
        self._log({key: table}, step)

    @rank_zero_only
    def log_text(self, key: str, columns: list[str] | None = None, data: list[list[Any]] | None = None,
                 dataframe: Any = None, step: int | None = None) -> None:
        """Text rows as a table, as W&B logs them."""
        self.log_table(key, columns, data, dataframe, step)

    @rank_zero_only
    def log_image(self, key: str, images: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log ``images`` under ``key``; ``caption=[...]`` (one per image) is the only option."""
        if not isinstance(images, list):
            raise UsageError(f"expected a list of images for '{key}', got {type(images).__name__}",
                             hint="pass images=[...]")
        unknown = set(kwargs) - {"caption"}
        if unknown:
            raise UsageError(f"log_image option '{sorted(unknown)[0]}' is not supported by arty",
                             hint="pass caption=[...] only; masks and boxes: log arty.Image(...) with run.log")
        captions = kwargs.get("caption") or [None] * len(images)
        if len(captions) != len(images):
            raise UsageError(f"{len(captions)} captions for {len(images)} images", hint="pass one caption per image")
        self._log({key: [Image(img, caption=c) for img, c in zip(images, captions)]}, step)

    def watch(self, model: Any, log: str = "gradients", log_freq: int = 100, log_graph: bool = True) -> None:
        """``run.watch(model, log, log_freq)``; ``log_graph`` is accepted and draws nothing."""
        self.experiment.watch(model, log=log, log_freq=log_freq)
