"""PyTorch: ``run.watch(model)`` logs per-layer gradient and parameter histograms through hooks.

The hooks belong to the tracking layer (:mod:`arty.tracking.watch`, where the rules are
written); this module is where the other integrations are, for those who look for them here.
"""

from __future__ import annotations

from arty.tracking.watch import LOG_MODES, Watch, unwatch, watch, watched

__all__ = ["LOG_MODES", "Watch", "unwatch", "watch", "watched"]
