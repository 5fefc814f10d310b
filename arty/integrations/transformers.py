"""Hugging Face Transformers: a ``TrainerCallback`` for training arguments, metrics and models.

::

    from arty.integrations.transformers import ArtyCallback

    trainer = Trainer(model=model, args=TrainingArguments(..., report_to="none"),
                      train_dataset=train, eval_dataset=val,
                      callbacks=[ArtyCallback(project="sentiment", log_model="end")])
    trainer.train()

What the Trainer logs goes into history rows as ``train/<name>``, ``eval/<name>`` and
``test/<name>`` (the ``eval_``/``test_`` prefixes become folders, as W&B's callback
does), each row with ``train/global_step``, the step metric they are plotted against.
The end-of-training figures (``train_runtime``, ``train_loss``, ``total_flos``...)
go to the summary. Models are logged with ``save_pretrained`` as a ``"model"`` artifact.
"""

from __future__ import annotations

import os
from typing import Any

from arty.artifacts import ArtifactVersion
from arty.errors import UsageError
from arty.integrations import ScratchDir, import_framework, log_model_files, model_name
from arty.tracking.run import Run, current, init

import_framework("transformers", "transformers", "arty.integrations.transformers")
from transformers import TrainerCallback  # noqa: E402

__all__ = ["ArtyCallback"]

STEP_KEY = "train/global_step"
LOG_MODEL = (False, True, "end", "checkpoint")
#: Figures the Trainer logs once, at the end: summary values rather than history.
SUMMARY_ONLY = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")
_PLAIN = (int, float, str, bool, type(None))


def _plain(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def rewrite_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """``eval_loss`` -> ``eval/loss``, ``test_acc`` -> ``test/acc``, ``loss`` -> ``train/loss``."""
    out = {}
    for k, v in logs.items():
        if k.startswith("eval_"):
            out["eval/" + k[5:]] = v
        elif k.startswith("test_"):
            out["test/" + k[5:]] = v
        else:
            out["train/" + k] = v
    return out


class ArtyCallback(TrainerCallback):
    """Log a ``transformers.Trainer`` run to Arty.

    ``run``: the run to log to; without it the current run, else one started when
    training begins with ``arty.init(project=project, name=args.run_name, **init_kwargs)``.
    The callback does not finish the run (``trainer.evaluate()`` after ``train()``
    logs to it too).

    At train begin the config gets ``trainer_args`` (``TrainingArguments.to_dict()``),
    ``model_config`` (the model's ``config.to_dict()``) and ``model_num_parameters``,
    unless it already has these keys.

    ``log_model``: False (default); ``"end"`` (or True) logs the final model (and
    the tokenizer or processor, when the Trainer has one) with ``save_pretrained``
    when training ends, with the alias ``"best"`` when ``load_best_model_at_end``
    made it the best one; ``"checkpoint"`` logs each checkpoint folder the Trainer
    saves. Versions go to ``model_name`` (default ``model-<run id>``).
    """

    def __init__(self, run: Run | None = None, *, log_model: bool | str = False, model_name: str | None = None,
                 project: str | None = None, **init_kwargs: Any) -> None:
        if log_model not in LOG_MODEL or (isinstance(log_model, int) and not isinstance(log_model, bool)):
            raise UsageError(f"invalid log_model {log_model!r}", hint="use False, 'end' or 'checkpoint'")
        self._run = run
        self.log_model = "end" if log_model is True else log_model
        self.model_name = model_name
        self._project = project
        self._init_kwargs = init_kwargs
        self.logged: list[ArtifactVersion] = []

    def _resolve(self, args: Any) -> Run:
        if self._run is None:
            active = current()
            if active is not None and not active._finished:
                self._run = active
            else:
                name = args.run_name if args.run_name and args.run_name != args.output_dir else None
                self._run = init(project=self._project, name=name, **self._init_kwargs)
        return self._run

    @property
    def run(self) -> Run | None:
        """The run logged to (None before training starts, when none was given)."""
        return self._run

    # -- Trainer events ----------------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        run = self._resolve(args)
        run.define_metric(STEP_KEY)
        for prefix in ("train/*", "eval/*", "test/*"):
            run.define_metric(prefix, step_metric=STEP_KEY)
        settings: dict[str, Any] = {"trainer_args": _plain(args.to_dict())}
        config = getattr(model, "config", None)
        if config is not None and callable(getattr(config, "to_dict", None)):
            settings["model_config"] = _plain(config.to_dict())
        if model is not None and callable(getattr(model, "num_parameters", None)):
            settings["model_num_parameters"] = int(model.num_parameters())
        run.config.setdefaults(settings)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        run = self._resolve(args)
        row = {}
        for k, v in logs.items():
            if k in SUMMARY_ONLY:
                run.summary[f"train/{k}"] = v
            else:
                row[k] = v
        if row:
            run.log({**rewrite_logs(row), STEP_KEY: state.global_step})

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.log_model != "checkpoint" or not state.is_world_process_zero:
            return
        path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not os.path.isdir(path):
            return
        self._log(path, {"global_step": state.global_step, "epoch": state.epoch}, aliases=[])

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None,
                     **kwargs: Any) -> None:
        if self.log_model != "end" or not state.is_world_process_zero or model is None:
            return
        best = bool(args.load_best_model_at_end and state.best_model_checkpoint)
        meta: dict[str, Any] = {"global_step": state.global_step, "epoch": state.epoch, "final_model": True}
        if best:
            meta["best_metric"] = state.best_metric
            meta["metric_for_best_model"] = args.metric_for_best_model
        with ScratchDir() as tmp:
            model.save_pretrained(tmp)
            if processing_class is not None and callable(getattr(processing_class, "save_pretrained", None)):
                processing_class.save_pretrained(tmp)
            self._log(tmp, meta, aliases=["best"] if best else [])

    def _log(self, path: str, meta: dict[str, Any], aliases: list[str]) -> None:
        import transformers

        run = self._run
        if run is None:
            return
        meta = {"framework": "transformers", "transformers_version": transformers.__version__,
                **{k: v for k, v in meta.items() if v is not None}}
        version = log_model_files(run, path, model_name(run, self.model_name), aliases=aliases, metadata=meta)
        if version is not None:
            self.logged.append(version)
