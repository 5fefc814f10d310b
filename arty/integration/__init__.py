"""W&B's integration import paths, with ``arty`` in place of ``wandb``.

A script that imports ``wandb.integration.<framework>`` runs after
``s/wandb/arty/``: each module here re-exports the Arty integration of
:mod:`arty.integrations` under its Arty name and under W&B's name (an alias
where the behaviour is the same, a thin adapter where W&B's arguments or
metric names differ). No logic lives here beyond that mapping.

=================================  ==============================================
``arty.integration.keras``         ``MetricsLogger`` / ``WandbMetricsLogger``,
                                   ``ModelCheckpoint`` / ``WandbModelCheckpoint``
``arty.integration.lightning``     ``WandbLogger`` (W&B's arguments on ``ArtyLogger``)
``arty.integration.sklearn``       ``plot_classifier``, ``plot_regressor``,
                                   ``plot_confusion_matrix``, ...
``arty.integration.xgboost``       needs ``xgboost``; not supported yet
``arty.integration.lightgbm``      needs ``lightgbm``; not supported yet
=================================  ==============================================

The legacy ``wandb.keras.WandbCallback`` is :class:`arty.keras.WandbCallback`.
W&B names that Arty does not support are still importable names whose use
raises :class:`arty.UsageError` naming the Arty way, never an AttributeError.
"""

from __future__ import annotations

from typing import Any, NoReturn

from arty.errors import UsageError

__all__ = ["unsupported"]


def unsupported(name: str, hint: str) -> Any:
    """A stand-in for a W&B name Arty does not provide: calling it (or subclassing
    and instantiating it) raises :class:`UsageError` with ``hint``."""

    class Unsupported:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            _refuse()

        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)

    def _refuse() -> NoReturn:
        raise UsageError(f"'{name}' is not supported by arty", hint=hint)

    Unsupported.__name__ = Unsupported.__qualname__ = name
    Unsupported.__doc__ = f"Not supported: using it raises UsageError ({hint})."
    return Unsupported
