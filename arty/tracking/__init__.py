"""The tracking layer: runs with config, history, summary, system metrics, console and code."""

from arty.tracking.config import Config
from arty.tracking.run import DisabledRun, Run, current, init
from arty.tracking.summary import Summary

__all__ = ["Config", "DisabledRun", "Run", "Summary", "current", "init"]
