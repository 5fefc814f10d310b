"""``wandb.integration.lightgbm`` with ``arty`` in place of ``wandb``: not supported yet.

Importing it without ``lightgbm`` installed raises :class:`ImportError` naming the
package. With it installed, W&B's names ("wandb_callback", "log_summary") import and
raise :class:`arty.UsageError` on use, naming the Arty way: log the metrics of
each round with ``run.log`` from a lightgbm callback, and the model file with
``run.log_artifact``.
"""

from __future__ import annotations

from arty.integration import unsupported
from arty.integrations import import_framework

import_framework("lightgbm", None, "arty.integration.lightgbm")

_HINT = "log each round's metrics with run.log() in a lightgbm callback, the model with run.log_artifact()"
wandb_callback = unsupported("wandb_callback", _HINT)
log_summary = unsupported("log_summary", _HINT)

__all__ = ["log_summary", "wandb_callback"]
