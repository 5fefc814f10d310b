"""Running one step: its command as a tracked run, its outputs logged as artifact versions.

Contract of :func:`run_step`:

* Before the command starts: every placeholder is known, output paths are safe to replace
  (never the step's folder, an ancestor of it, the pipeline file or a local store), and old
  outputs are removed so a stale file cannot slip into a new version.
* The command runs in the step's folder, without a shell, with the inputs' paths, outputs'
  paths and params filled into ``{inputs.NAME}``, ``{outputs.NAME}``, ``{params.KEY}`` and
  given as ``ARTY_INPUT_<NAME>``, ``ARTY_OUTPUT_<NAME>``, ``ARTY_PARAM_<KEY>`` (upper case,
  other characters as ``_``) and ``ARTY_PARAMS`` (JSON). ``ARTY_STORE`` and ``ARTY_PROJECT``
  point at the same store, ``ARTY_STEP_RUN_ID`` names the step's run.
* The run records the command line, params as config, console (the command's too), system
  metrics, the inputs as used versions and the exit code. When the command exits 0, each
  output path must exist and is logged as a version produced by the run; a ``metrics`` file
  (flat or nested JSON/YAML) goes into the run's summary; ``plots`` files go into its history or
  as chart tables (:mod:`arty.pipeline.plots`). A missing output, metrics or plots file, or a
  plots file that cannot be read, fails the step (exit code 1, the error names the file); the
  plots that could be read are still recorded, and no output is logged for a failed step.
* The result carries the command's exit code (``128 + N`` when killed by signal N, 127 when
  the program is not found). Ctrl-C is passed on to the command; once it has exited the run
  is recorded as failed with exit code 130 and :class:`KeyboardInterrupt` is raised again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from arty.artifacts import Artifact, ArtifactVersion, Registry
from arty.errors import UsageError
from arty.pipeline.plots import log_plots
from arty.pipeline.spec import PIPELINE_FILE, PLACEHOLDER, Step
from arty.store.backends import LocalBackend


@dataclass
class StepResult:
    """How a step ended."""

    step: str
    exit_code: int
    run_id: str | None = None
    outputs: dict[str, ArtifactVersion] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def env_name(prefix: str, key: str) -> str:
    """``ARTY_INPUT_`` + ``my-data`` -> ``ARTY_INPUT_MY_DATA``."""
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def fill(args: list[str], values: dict[str, dict[str, str]]) -> list[str]:
    """Replace every placeholder in ``args`` (``values``: kind -> key -> text)."""
    return [PLACEHOLDER.sub(lambda m: values[m.group(1)][m.group(2)], a) for a in args]


def param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def check_output_paths(step: Step, registry: Registry, pipeline_file: str | None) -> None:
    """Refuse outputs whose removal would lose something that is not an output."""
    protected = [os.path.abspath(step.wdir), os.path.abspath(os.getcwd())]
    backend = registry.store.backend
    store_root = os.path.abspath(backend.root) if isinstance(backend, LocalBackend) else None
    for o in step.outputs:
        p = os.path.abspath(o.path)
        if any(p == d or d.startswith(p.rstrip(os.sep) + os.sep) for d in protected):
            raise UsageError(f"step '{step.name}': output '{o.name}' path '{o.path}' is its working folder "
                             "or a folder above it", hint="write outputs to a folder of their own, e.g. build/")
        if pipeline_file and os.path.abspath(pipeline_file).startswith(p.rstrip(os.sep) + os.sep):
            raise UsageError(f"step '{step.name}': output '{o.name}' path '{o.path}' holds the pipeline file")
        if store_root and (p == store_root or store_root.startswith(p.rstrip(os.sep) + os.sep)
                           or p.startswith(store_root + os.sep)):
            raise UsageError(f"step '{step.name}': output '{o.name}' path '{o.path}' overlaps the store "
                             f"'{store_root}'")
        if os.path.basename(p) == PIPELINE_FILE:
            raise UsageError(f"step '{step.name}': output '{o.name}' path '{o.path}' is a pipeline file")


def remove_path(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def read_metrics(path: str) -> dict[str, Any]:
    """A metrics file's values, flattened with ``/``; a clear error when it is not a mapping."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)  # JSON is YAML
    if not isinstance(data, dict):
        raise UsageError(f"metrics file '{path}' does not hold a mapping of names to values")
    out: dict[str, Any] = {}

    def walk(d: dict[Any, Any], prefix: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}/")
            else:
                out[f"{prefix}{k}"] = v

    walk(data, "")
    return out


def download_input(registry: Registry, version: ArtifactVersion) -> str:
    """Materialise an input version (verified) in the store's cache folder; returns its folder.
    A folder already there is brought up to date, so unchanged files are not copied again."""
    target = os.path.join(registry.store.cache_dir(), "inputs", version.project, version.base_name, version.version)
    version.download(target)
    return target


def exit_code_of(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run_step(registry: Registry, step: Step, inputs: dict[str, tuple[ArtifactVersion, str]], *,
             job_type: str = "step", pipeline_file: str | None = None,
             on_start: Callable[[str], None] | None = None, stdout_to_stderr: bool = False,
             experiment: dict[str, str] | None = None) -> StepResult:
    """Run ``step`` with ``inputs`` (name -> (version used, path the command reads)). See module doc.

    ``stdout_to_stderr`` sends the command's standard output to standard error (for callers whose
    own standard output must stay machine-readable, like ``art repro --json``). ``experiment``
    (``{"id", "name"}``) is recorded on the run and given to the command as ``ARTY_EXPERIMENT_ID``
    and ``ARTY_EXPERIMENT_NAME``."""
    from arty.tracking import run as tracking

    step.check_placeholders()
    check_output_paths(step, registry, pipeline_file)
    values = {
        "inputs": {name: path for name, (_, path) in inputs.items()},
        "outputs": {o.name: o.path for o in step.outputs},
        "params": {k: param_text(v) for k, v in step.params.items()},
    }
    argv = fill(step.cmd, values)
    for o in step.outputs:
        remove_path(o.path)
        os.makedirs(os.path.dirname(o.path) or ".", exist_ok=True)
    run = tracking.init(project=registry.project, name=step.name, config=step.params, job_type=job_type,
                        store=registry.store.url, command=argv, reinit=True, experiment=experiment)
    if on_start is not None:
        on_start(run.id)
    env = dict(os.environ)
    env.update({env_name("ARTY_INPUT_", k): v for k, v in values["inputs"].items()})
    env.update({env_name("ARTY_OUTPUT_", k): v for k, v in values["outputs"].items()})
    env.update({env_name("ARTY_PARAM_", k): v for k, v in values["params"].items()})
    env.update({"ARTY_PARAMS": json.dumps(step.params, default=str), "ARTY_STORE": registry.store.url,
                "ARTY_PROJECT": registry.project, "ARTY_STEP_RUN_ID": run.id})
    if experiment:
        env.update({"ARTY_EXPERIMENT_ID": experiment["id"], "ARTY_EXPERIMENT_NAME": experiment["name"]})
    result = StepResult(step.name, 1, run.id)
    interrupted = False
    try:
        for version, _ in inputs.values():
            run.use_artifact(version)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            proc = subprocess.Popen(argv, cwd=step.wdir, env=env, stdout=2 if stdout_to_stderr else None)
        except FileNotFoundError:
            result.exit_code, result.error = 127, f"command '{argv[0]}' not found"
        except PermissionError:
            result.exit_code, result.error = 126, f"command '{argv[0]}' is not executable"
        else:
            try:
                result.exit_code = exit_code_of(proc.wait())
            except KeyboardInterrupt:
                interrupted = True
                proc.send_signal(signal.SIGINT)
                proc.wait()
                result.exit_code, result.error = 130, "interrupted"
            if result.exit_code != 0 and result.error is None:
                result.error = f"command exited with code {result.exit_code}"
        if result.exit_code == 0:
            for o in step.outputs:
                if not os.path.lexists(o.path):
                    result.exit_code = 1
                    result.error = f"output '{o.name}' was not written: path '{o.path}' does not exist"
                    break
        if result.exit_code == 0:
            if step.metrics:
                if not os.path.isfile(step.metrics):
                    result.exit_code = 1
                    result.error = f"metrics file '{step.metrics}' was not written"
                else:
                    run.summary.update(read_metrics(step.metrics))
            if step.plots:  # every readable plot is recorded, even when another one is bad
                bad = log_plots(run, step.plots)
                if bad and result.exit_code == 0:
                    result.exit_code = 1
                    result.error = "; ".join(e.message for e in bad)
        if result.exit_code == 0:
            for o in step.outputs:
                draft = Artifact(o.name, type=o.type)
                draft.add_dir(o.path) if os.path.isdir(o.path) else draft.add_file(o.path)
                result.outputs[o.name] = run.log_artifact(draft)
    except BaseException as exc:
        run.finish(exit_code=130 if isinstance(exc, KeyboardInterrupt) else 1, error=str(exc) or type(exc).__name__)
        raise
    run.finish(exit_code=result.exit_code, error=result.error)
    if interrupted:  # recorded as failed (130); now stop whatever called us (art repro stops here)
        raise KeyboardInterrupt
    return result
