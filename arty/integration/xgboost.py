"""``wandb.integration.xgboost`` with ``arty`` in place of ``wandb``: not supported yet.

Importing it without ``xgboost`` installed raises :class:`ImportError` naming the
package. With it installed, W&B's names ("WandbCallback") import and
raise :class:`arty.UsageError` on use, naming the Arty way: log the metrics of
each round with ``run.log`` from a xgboost callback, and the model file with
``run.log_artifact``.
"""

from __future__ import annotations

from arty.integration import unsupported
from arty.integrations import import_framework

import_framework("xgboost", None, "arty.integration.xgboost")

_HINT = "log each round's metrics with run.log() in a xgboost callback, the model with run.log_artifact()"
WandbCallback = unsupported("WandbCallback", _HINT)

__all__ = ["WandbCallback"]
