"""Pipelines: commands run as tracked steps (``art run``) and ``arty.yaml`` reproduced with a
run cache (``art repro``). See docs/pipelines.md.

Layer: above tracking and artifacts (it starts runs and logs versions); below the CLI.
"""

from __future__ import annotations

from arty.pipeline.execute import StepResult, run_step
from arty.pipeline.repro import Decision, Repro, ReproResult
from arty.pipeline.spec import Output, Pipeline, Step, Use, build_pipeline, load_pipeline

__all__ = ["Decision", "Output", "Pipeline", "Repro", "ReproResult", "Step", "StepResult", "Use",
           "build_pipeline", "load_pipeline", "run_step"]
