"""``art repro``: run a pipeline's steps in dependency order, skipping what is unchanged.

Contract of :class:`Repro`:

* Before any step runs, every input is checked: artifacts named by ``uses`` that no step
  produces must resolve, local ``path`` inputs and ``deps`` must exist. A problem is an error
  naming the step and the input, and nothing runs.
* Steps go in topological order (ties in file order). For each: local ``path`` inputs are
  logged as versions (an unchanged folder gives the version it already has), the fingerprint
  is computed (:mod:`arty.pipeline.cache`), and

  - with ``force`` the step runs;
  - when an earlier successful run had the same fingerprint and its outputs still exist, the
    step is skipped: its outputs are those versions, restored to their paths when the files
    there differ (so the next steps and the user see them);
  - otherwise it runs (:func:`arty.pipeline.execute.run_step`) and, on success, is recorded
    in the run cache.

* A failed step stops every step downstream of it; the others go on. :attr:`ReproResult.exit_code`
  is 0 when every step succeeded or was skipped, else the exit code of the first failed step.
* With an ``experiment`` (``{"id", "name"}``), every step run records it, and once the steps
  are decided (also after a failure or Ctrl-C) the experiment's record is written
  (:func:`arty.pipeline.experiment.finish`).
* ``dry_run`` prints the plan and writes nothing (local inputs are hashed, not logged); a step
  downstream of one that would run is shown as running too, because its inputs are not known yet.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from arty.artifacts import Artifact, ArtifactVersion, Registry
from arty.errors import NotFound
from arty.pipeline import cache
from arty.pipeline.execute import StepResult, download_input, remove_path, run_step
from arty.pipeline.spec import Pipeline, Step

Echo = Callable[[str], None]


@dataclass
class Decision:
    """What happens to one step, and why."""

    step: str
    action: str  # "run", "skip", "not run" (upstream failed)
    reason: str
    run: str | None = None  # the run that made the outputs (skipped) or that ran now
    outputs: dict[str, str] = field(default_factory=dict)  # name -> "name:vN"
    exit_code: int | None = None
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "action": self.action, "reason": self.reason, "run": self.run,
                "outputs": self.outputs, "exit_code": self.exit_code, "seconds": self.seconds}


@dataclass
class ReproResult:
    decisions: list[Decision]
    experiment: dict[str, str] | None = None  # {"id", "name"} (None on a dry run)

    @property
    def failed(self) -> list[Decision]:
        return [d for d in self.decisions if d.exit_code not in (None, 0)]

    @property
    def exit_code(self) -> int:
        failed = self.failed
        return failed[0].exit_code or 1 if failed else 0


class Repro:
    """One ``art repro`` over ``pipeline`` in the project of ``registry``."""

    def __init__(self, registry: Registry, pipeline: Pipeline, *, force: bool = False,
                 echo: Echo | None = None, quiet_stdout: bool = False,
                 experiment: dict[str, str] | None = None) -> None:
        self.registry = registry
        #: ``{"id", "name"}`` of the experiment this repro is (see :mod:`arty.pipeline.experiment`);
        #: its record is written when the steps are done (not on a dry run)
        self.experiment = experiment
        self.pipeline = pipeline
        self.force = force
        self.echo = echo or (lambda _line: None)
        self.quiet_stdout = quiet_stdout  # commands' standard output goes to standard error
        #: name -> (version, path where its files are) for outputs of steps done in this repro
        self.known: dict[str, tuple[ArtifactVersion, str]] = {}
        self._dep_digests: dict[str, str] = {}

    # -- checks before anything runs -------------------------------------------------------
    def precheck(self, order: list[str]) -> None:
        for name in order:
            step = self.pipeline.steps[name]
            for u in step.uses:
                if u.path is not None:
                    if not os.path.exists(u.path):
                        raise NotFound(f"step '{name}': input '{u.name}' path '{u.path}' does not exist",
                                       hint="create it, or fix 'path' in the pipeline file")
                elif u.project is not None or not self._from_step(step, u.name, u.selector):
                    try:
                        self.registry.resolve(u.ref)
                    except NotFound as exc:
                        raise NotFound(f"step '{name}': input '{u.ref}' not found: {exc.message}",
                                       hint=exc.hint) from None
            for d in step.deps:
                if not os.path.exists(d):
                    raise NotFound(f"step '{name}': dependency '{d}' does not exist",
                                   hint="create it, or fix 'deps' in the pipeline file")

    def _from_step(self, step: Step, name: str, selector: str | None) -> str | None:
        producer = self.pipeline.producers.get(name)
        if producer is None or selector not in (None, "latest") or producer == step.name:
            return None
        for u in step.uses:
            if u.name == name and u.path is not None:
                return None
        return producer

    # -- fingerprints ------------------------------------------------------------------------
    def _dep_digest(self, path: str) -> str:
        if path not in self._dep_digests:
            self._dep_digests[path] = str(cache.local_digest(self.registry, path))
        return self._dep_digests[path]

    def _inputs(self, step: Step, dry_run: bool) -> tuple[dict[str, tuple[str, str]],
                                                          dict[str, tuple[ArtifactVersion, str]] | None]:
        """``(name -> (digest, label))`` and, unless dry-run, ``name -> (version, path for the command)``."""
        digests: dict[str, tuple[str, str]] = {}
        resolved: dict[str, tuple[ArtifactVersion, str]] = {}
        for u in step.uses:
            if u.path is not None:
                if dry_run:
                    d = cache.local_digest(self.registry, u.path, u.name)
                    existing = self.registry.find_by_digest(u.name, d)
                    digests[u.name] = (str(d), f"{u.name}:{existing.version}" if existing
                                       else f"{u.name} (new content)")
                    continue
                draft = Artifact(u.name, type=u.type)
                draft.add_dir(u.path) if os.path.isdir(u.path) else draft.add_file(u.path)
                version = self.registry.log(draft).version
                resolved[u.name] = (version, u.path)
            elif u.project is None and self._from_step(step, u.name, u.selector):
                version, path = self.known[u.name]
                resolved[u.name] = (version, path)
            else:
                version = self.registry.resolve(u.ref)
                resolved[u.name] = (version, "")  # downloaded only if the step runs
            label = f"{version.base_name}:{version.version}"
            digests[u.name] = (str(version.digest),
                               label if version.project == self.registry.project else f"{version.project}/{label}")
        return digests, (None if dry_run else resolved)

    def fingerprint(self, step: Step, dry_run: bool) -> tuple[cache.Fingerprint,
                                                              dict[str, tuple[ArtifactVersion, str]] | None]:
        digests, resolved = self._inputs(step, dry_run)
        deps = {d: self._dep_digest(d) for d in step.deps}
        return cache.fingerprint(step, digests, deps), resolved

    # -- skipping ----------------------------------------------------------------------------
    def restore(self, step: Step, hit: cache.CacheHit) -> list[str]:
        """Put the cached outputs at their paths where the files there differ; returns what was restored."""
        restored = []
        for o in step.outputs:
            version = hit.outputs[o.name]
            if os.path.lexists(o.path):
                try:
                    if cache.local_digest(self.registry, o.path, o.name) == version.digest:
                        continue
                except NotFound:
                    pass
            remove_path(o.path)
            files = version.files()
            single = len(files) == 1 and files[0].path == os.path.basename(o.path)
            if single:
                os.makedirs(os.path.dirname(o.path), exist_ok=True)
                version.download(os.path.dirname(o.path))
            else:
                version.download(o.path)
            restored.append(f"{o.name}:{version.version}")
        return restored

    def _download_inputs(self, step: Step, resolved: dict[str, tuple[ArtifactVersion, str]]) -> None:
        for name, (version, path) in list(resolved.items()):
            if path:
                continue
            self.echo(f"{step.name}: downloading {version.base_name}:{version.version}")
            resolved[name] = (version, download_input(self.registry, version))

    # -- the whole run -----------------------------------------------------------------------
    def run(self, targets: list[str] | None = None, dry_run: bool = False) -> ReproResult:
        order = self.pipeline.order(targets)
        self.precheck(order)
        decisions: list[Decision] = []
        if dry_run or self.experiment is None:
            return self._run(order, decisions, dry_run)
        from arty.pipeline import experiment as exp_mod
        from arty.store.store import now_iso

        started = now_iso()
        git = exp_mod.git_state(os.path.dirname(self.pipeline.path))
        exit_code = 130
        try:
            result = self._run(order, decisions, dry_run)
            result.experiment = self.experiment
            exit_code = result.exit_code
            return result
        finally:
            steps = {d.step: {"action": d.action, "run": d.run, "exit_code": d.exit_code, "outputs": d.outputs}
                     for d in decisions}
            exp_mod.finish(self.registry, self.experiment, started_at=started, pipeline_file=self.pipeline.path,
                           params=self.pipeline.params, sets=self.pipeline.sets, steps=steps,
                           exit_code=exit_code, git=git)

    def _run(self, order: list[str], decisions: list[Decision], dry_run: bool) -> ReproResult:
        blocked: dict[str, str] = {}   # step -> the failed upstream step
        pending: set[str] = set()      # dry-run: steps that would run
        for name in order:
            step = self.pipeline.steps[name]
            if name in blocked:
                d = Decision(name, "not run", f"upstream step '{blocked[name]}' failed")
                self.echo(f"{name}: not run ({d.reason})")
                decisions.append(d)
                continue
            upstream_pending = [u for u in self.pipeline.upstream(name) if u in pending]
            if dry_run and upstream_pending:
                reason = "--force" if self.force else f"upstream step '{upstream_pending[0]}' runs first"
                decisions.append(Decision(name, "run", reason))
                pending.add(name)
                continue
            fp, resolved = self.fingerprint(step, dry_run)
            key = fp.key
            hit, unusable = (None, None) if self.force else cache.find(self.registry, key)
            if hit is not None:
                outs = {n: f"{v.base_name}:{v.version}" for n, v in hit.outputs.items()}
                reason = f"unchanged: same command, params and inputs as run {hit.run}"
                if not dry_run:
                    restored = self.restore(step, hit)
                    if restored:
                        reason += f" (restored {', '.join(restored)})"
                for o in step.outputs:
                    self.known[o.name] = (hit.outputs[o.name], o.path)
                d = Decision(name, "skip", reason, run=hit.run, outputs=outs)
                self.echo(f"{name}: skipped, {reason}")
                decisions.append(d)
                continue
            reason = "--force" if self.force else (unusable or cache.explain(cache.last(self.registry, name), fp))
            if dry_run:
                decisions.append(Decision(name, "run", reason))
                pending.add(name)
                continue
            assert resolved is not None
            self.echo(f"{name}: running ({reason})")
            self._download_inputs(step, resolved)
            started = time.monotonic()
            result: StepResult = run_step(self.registry, step, resolved, pipeline_file=self.pipeline.path,
                                          stdout_to_stderr=self.quiet_stdout, experiment=self.experiment)
            d = Decision(name, "run", reason, run=result.run_id, exit_code=result.exit_code,
                         seconds=round(time.monotonic() - started, 3),
                         outputs={n: f"{v.base_name}:{v.version}" for n, v in result.outputs.items()})
            decisions.append(d)
            if result.ok:
                cache.record(self.registry, step, fp, result.run_id or "", result.outputs)
                for o in step.outputs:
                    self.known[o.name] = (result.outputs[o.name], o.path)
                made = ", ".join(d.outputs.values()) or "no outputs"
                self.echo(f"{name}: done in {d.seconds:.1f}s, run {result.run_id} -> {made}")
            else:
                self.echo(f"{name}: FAILED ({result.error}), run {result.run_id}")
                for down in self.pipeline.downstream(name):
                    blocked.setdefault(down, name)
        return ReproResult(decisions)
