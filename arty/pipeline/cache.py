"""The run cache: which earlier step run had the same command, params and inputs.

A step's *fingerprint* is the canonical JSON of what decides its outputs: the command as
written (placeholders not yet filled), params, the content digest of every input and local
dependency, and where its outputs go. Paths are relative to the pipeline's folder, so a
checkout elsewhere (a CI machine) finds the same fingerprints. The key is the SHA-256 of it.

Records (see docs/store-format.md), written only after a step succeeded and its outputs
were logged:

* ``steps/cache/<key>.json``: create-if-absent, so the first successful run with a key wins;
  ``{"step", "run", "outputs": {NAME: {"version", "digest"}}, "fingerprint", "at"}``.
* ``steps/log/<step>/<seq>.json``: every successful run of a step, in order, with the same
  fields plus ``"key"`` and the input versions. Only used to explain *why* a step runs.

A cache hit is usable only while every output version it names exists and is not deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Callable

from arty.artifacts import Artifact, ArtifactVersion, Registry
from arty.artifacts import staging
from arty.artifacts.manifest import build
from arty.errors import NotFound
from arty.hashing import Digest
from arty.pipeline.spec import Step
from arty.store import layout
from arty.store.store import now_iso


@dataclass
class Fingerprint:
    """What decides a step's outputs, and its key."""

    data: dict[str, Any]
    labels: dict[str, str]  # input name -> "raw:v3" (for messages)

    @property
    def key(self) -> str:
        text = json.dumps(self.data, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CacheHit:
    """An earlier successful run whose outputs can stand in for running the step again."""

    run: str
    outputs: dict[str, ArtifactVersion]


def rel(step: Step, path: str) -> str:
    """``path`` relative to the step's folder, with forward slashes."""
    return os.path.relpath(path, step.wdir).replace(os.sep, "/")


def local_digest(registry: Registry, path: str, name: str = "local") -> Digest:
    """The digest ``path`` (file or folder) would have as an artifact; nothing is written."""
    draft = Artifact(name)
    if os.path.isdir(path):
        draft.add_dir(path)
    elif os.path.isfile(path):
        draft.add_file(path)
    else:
        raise NotFound(f"path '{path}' does not exist")
    staged = staging.scan(draft, registry.store, registry.stat_cache, hash_only=True)
    return build(staged.entries, registry.store).digest


def fingerprint(step: Step, inputs: dict[str, tuple[str, str]], deps: dict[str, str]) -> Fingerprint:
    """``inputs``: name -> (digest, label); ``deps``: absolute path -> digest."""
    data = {
        "cmd": step.cmd,
        "params": step.params,
        "inputs": {name: digest for name, (digest, _) in sorted(inputs.items())},
        "deps": {rel(step, p): d for p, d in sorted(deps.items())},
        "outputs": {o.name: [rel(step, o.path), o.type] for o in step.outputs},
        "metrics": rel(step, step.metrics) if step.metrics else None,
    }
    if step.plots:  # absent without plots: older keys hold
        data["plots"] = [p.to_json(step.wdir) for p in step.plots]
    projects = {u.name: u.project for u in step.uses if u.project}
    if projects:  # inputs of other projects: keyed by their project too (absent otherwise: older keys hold)
        data["input_projects"] = dict(sorted(projects.items()))
    return Fingerprint(data, {name: label for name, (_, label) in inputs.items()})


def find(registry: Registry, key: str) -> tuple[CacheHit | None, str | None]:
    """The cached run for ``key``: ``(hit, None)``, or ``(None, why it cannot be used)``."""
    rec = registry.store.try_record(layout.step_cache(registry.project, key))  # a bad one: warned, a miss
    if rec is None:
        return None, None
    outputs: dict[str, ArtifactVersion] = {}
    for name, out in rec.get("outputs", {}).items():
        try:
            outputs[name] = registry.version(name, int(out["version"]))
        except NotFound as exc:  # deleted (art rm), or not in this store
            return None, f"output {name}:v{out['version']} of its earlier run {rec['run']} cannot be reused: " \
                         f"{exc.message}"
    return CacheHit(rec["run"], outputs), None


def last(registry: Registry, step: str) -> dict[str, Any] | None:
    """The latest successful run of ``step`` (its log record), if any."""
    latest = registry.store.log_latest(layout.step_log(registry.project, step))
    return latest[1] if latest else None


def record(registry: Registry, step: Step, fp: Fingerprint, run_id: str, outputs: dict[str, ArtifactVersion]) -> None:
    """Remember a successful run: the cache record (first one wins), then the step's log."""
    outs = {n: {"version": v.number, "digest": str(v.digest)} for n, v in outputs.items()}
    key = fp.key
    base = {"step": step.name, "run": run_id, "outputs": outs, "fingerprint": fp.data, "at": now_iso()}
    registry.store.create_record(layout.step_cache(registry.project, key), base)
    registry.store.log_append(layout.step_log(registry.project, step.name),
                              lambda n: base | {"key": key, "inputs": fp.labels, "seq": n})


def _changes(what: str, old: dict[str, Any], new: dict[str, Any],
             shown: tuple[Callable[[str], str], Callable[[str], str]] | None = None) -> list[str]:
    """``"<what> K added|removed|changed"`` per key; ``shown`` (old, new) renders a key's values."""
    out = []
    for k in sorted(set(old) | set(new)):
        if k not in old:
            out.append(f"{what} {k} added" + (f" ({shown[1](k)})" if shown else ""))
        elif k not in new:
            out.append(f"{what} {k} removed")
        elif old[k] != new[k]:
            out.append(f"{what} {k} changed" + (f" ({shown[0](k)} -> {shown[1](k)})" if shown else ""))
    return out


def explain(previous: dict[str, Any] | None, fp: Fingerprint) -> str:
    """Why a step with fingerprint ``fp`` runs, compared with its latest successful run."""
    if previous is None:
        return "no earlier successful run"
    old = previous.get("fingerprint", {})
    new = fp.data
    why: list[str] = []
    if old.get("cmd") != new["cmd"]:
        why.append("command changed")
    op, np_ = old.get("params", {}), new["params"]
    why += _changes("param", op, np_, (lambda k: repr(op[k]), lambda k: repr(np_[k])))
    oi, ni, labels = old.get("inputs", {}), new["inputs"], previous.get("inputs", {})
    why += _changes("input", oi, ni, (lambda k: labels.get(k, oi[k][:19]), lambda k: fp.labels.get(k, ni[k][:19])))
    why += _changes("dependency", old.get("deps", {}), new["deps"])
    if old.get("outputs") != new["outputs"] or old.get("metrics") != new["metrics"] \
            or old.get("plots") != new.get("plots"):
        why.append("outputs changed")
    return "; ".join(why) or "no earlier run with these inputs"
