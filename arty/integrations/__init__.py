"""Framework integrations: each module logs one framework's training into an Arty run.

==========================================  =================================================
``arty.integrations.torch``                 ``run.watch(model)``: gradient and parameter
                                            histograms through hooks (also ``arty.watch``)
``arty.integrations.lightning``             ``ArtyLogger``, a PyTorch Lightning logger
``arty.integrations.keras``                 ``ArtyCallback``, a Keras 3 callback
``arty.integrations.sklearn``               ``log_estimator`` and friends for scikit-learn
``arty.integrations.sklearn_plots``         evaluation charts (confusion matrix, ROC...) as tables
``arty.integrations.transformers``          ``ArtyCallback``, a Hugging Face ``TrainerCallback``
==========================================  =================================================

W&B's names for these (``WandbMetricsLogger``, ``WandbLogger``, ``plot_classifier``...) are in
:mod:`arty.integration`, and the legacy Keras ``WandbCallback`` in :mod:`arty.keras`.

Importing this package imports no framework; each module imports its own and, when
it is missing, raises :class:`ImportError` naming the extra to install
(``pip install 'arty[keras]'``). Each integration logs to the run it is given, else
to the current run (``arty.init``); model artifacts have type ``"model"``.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from types import ModuleType
from typing import Any, Iterable

from arty.artifacts import Artifact, ArtifactVersion
from arty.errors import ArtyError
from arty.tracking.run import Run, current

__all__ = ["import_framework", "log_model_files", "model_name", "resolve_run"]


def import_framework(module: str, extra: str | None, integration: str) -> ModuleType:
    """Import ``module`` or raise :class:`ImportError` saying which extra brings it
    (``extra`` None: the package itself, for frameworks Arty has no extra for)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        install = f"'arty[{extra}]'" if extra else package
        raise ImportError(f"{integration} needs '{package}', which is not installed\n"
                          f"hint: pip install {install}") from exc


def resolve_run(run: Run | None) -> Run:
    """``run`` itself, else the current run; without either an :class:`ArtyError`."""
    if run is not None:
        return run
    active = current()
    if active is None:
        raise ArtyError("no active run", hint="call arty.init() first, or pass run=")
    return active


def model_name(run: Run, name: str | None) -> str:
    """The artifact name for a run's model: ``name``, else ``model-<run id>`` (as W&B names it)."""
    return name or f"model-{run.id}"


def log_model_files(run: Run, path: str, name: str, *, aliases: Iterable[str] = (),
                    metadata: dict[str, Any] | None = None, description: str | None = None,
                    file_name: str | None = None) -> ArtifactVersion | None:
    """Log a file or folder as a ``"model"`` artifact version produced by ``run``.

    A file goes in at ``file_name`` (default: its base name); a folder's files at
    the root. Returns the version (the existing one when the content is the same),
    or None for a disabled run.
    """
    draft = Artifact(name, type="model", description=description, metadata=metadata)
    if os.path.isdir(path):
        draft.add_dir(path)
    else:
        draft.add_file(path, name=file_name)
    return run.log_artifact(draft, aliases=list(aliases))


class ScratchDir:
    """A temporary folder for a model file, removed on exit (``with ScratchDir() as d``)."""

    def __enter__(self) -> str:
        self.path = tempfile.mkdtemp(prefix="arty-model-")
        return self.path

    def __exit__(self, *exc: Any) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
