"""What a pipeline step is: parsed from ``arty.yaml`` or from ``art run``'s options.

A pipeline file::

    steps:
      prepare:
        cmd: python prepare.py {inputs.raw} {outputs.dataset}
        uses:
          - {name: raw, path: data/raw}      # a local folder, logged as raw:vN before the step
        deps: [prepare.py]                    # local files hashed into the cache key only
        outputs:
          dataset: {path: build/dataset, type: dataset}
        params: {split: 0.8}
      train:
        cmd: [python, train.py, --lr, "{params.lr}"]
        uses: [dataset]                       # another step's output: train runs after prepare
        outputs: {model: build/model.json:model}
        params: {lr: 0.01}
        metrics: build/train-metrics.json     # flat JSON/YAML, copied into the run's summary
        plots:                                # series and tables recorded in the run (see plots.py)
          - build/loss.csv
          - build/cm.json: {template: confusion, x: actual, y: predicted}

A step's ``params`` may instead list keys of the shared params (``params.yaml`` beside the file,
and a top-level ``params:`` mapping), like DVC's ``dvc.yaml``; see :mod:`arty.pipeline.params`.

Contract of :func:`load_pipeline`: every problem (unknown keys, a missing ``cmd``, an output
produced by two steps, an unknown step in ``needs``, a cycle) is a :class:`UsageError` naming
the step, raised before anything runs; so is a bad params file or ``--set``. Paths are relative to the file's folder, which is also
where commands run.
"""

from __future__ import annotations

import os
import graphlib
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from arty.artifacts.names import ArtifactRef, check_name
from arty.errors import NotFound, UsageError
from arty.pipeline import params as params_mod
from arty.pipeline.plots import Plot, parse_plots

PIPELINE_FILE = "arty.yaml"
#: ``{inputs.NAME}``, ``{outputs.NAME}``, ``{params.KEY}`` in a command's arguments.
PLACEHOLDER = re.compile(r"\{(inputs|outputs|params)\.([A-Za-z0-9_.\-/]+)\}")
STEP_KEYS = {"cmd", "uses", "outputs", "params", "deps", "needs", "metrics", "plots", "desc"}
DEFAULT_TYPE = "dataset"


@dataclass(frozen=True)
class Use:
    """An input: an artifact (``name`` at ``selector``, of another ``project`` when given), or a
    local ``path`` logged as ``name``. The command sees it as ``{inputs.NAME}`` either way."""

    name: str
    selector: str | None = None
    path: str | None = None
    type: str = DEFAULT_TYPE
    project: str | None = None

    @property
    def ref(self) -> str:
        ref = f"{self.name}:{self.selector}" if self.selector else self.name
        return f"{self.project}/{ref}" if self.project else ref


@dataclass(frozen=True)
class Output:
    """A path the command writes, logged as a version of artifact ``name`` when it succeeds."""

    name: str
    path: str
    type: str = DEFAULT_TYPE


@dataclass
class Step:
    """One command with its inputs, outputs and parameters. Paths are absolute."""

    name: str
    cmd: list[str]
    wdir: str
    uses: list[Use] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    deps: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    metrics: str | None = None
    plots: list[Plot] = field(default_factory=list)

    def check_placeholders(self) -> None:
        """Every ``{inputs.X}``, ``{outputs.X}``, ``{params.X}`` names something the step has."""
        known = {"inputs": {u.name for u in self.uses}, "outputs": {o.name for o in self.outputs},
                 "params": set(self.params)}
        for arg in self.cmd:
            for kind, key in PLACEHOLDER.findall(arg):
                if key not in known[kind]:
                    have = ", ".join(sorted(known[kind])) or "none"
                    raise UsageError(f"step '{self.name}': '{{{kind}.{key}}}' in its command names no such "
                                     f"{kind[:-1]}", hint=f"its {kind}: {have}")


@dataclass
class Pipeline:
    """The steps of a pipeline file, in file order, and what each step depends on.

    (The graph is small and only needs ordering and reachability: the standard library's
    ``graphlib`` does it without the import cost of a graph package on every ``art repro``.)
    """

    path: str
    steps: dict[str, Step]
    upstream_of: dict[str, list[str]]  # step -> the steps it depends on directly
    producers: dict[str, str]  # output artifact name -> step name
    #: every param once: shared ones by dotted path, a step's own ones as ``STEP.KEY`` (nested)
    params: dict[str, Any] = field(default_factory=dict)
    #: the ``--set`` values applied (key -> value)
    sets: dict[str, Any] = field(default_factory=dict)

    def order(self, targets: list[str] | None = None) -> list[str]:
        """Steps to run for ``targets`` (all when empty), each after its upstream steps, ties in file order."""
        for t in targets or []:
            if t not in self.steps:
                raise NotFound(f"no step '{t}' in '{self.path}'", hint="its steps: " + ", ".join(self.steps))
        wanted = set(self.steps)
        if targets:
            wanted = set(targets)
            for t in targets:
                wanted |= self.ancestors(t)
        position = {name: i for i, name in enumerate(self.steps)}
        sorter = graphlib.TopologicalSorter({s: self.upstream_of[s] for s in self.steps})
        sorter.prepare()
        out: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            out.extend(ready)
            sorter.done(*ready)
        return [s for s in out if s in wanted]

    def upstream(self, step: str) -> list[str]:
        """The steps whose outputs ``step`` uses or that it ``needs``."""
        return list(self.upstream_of[step])

    def ancestors(self, step: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.upstream_of[step])
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo.extend(self.upstream_of[s])
        return seen

    def downstream(self, step: str) -> set[str]:
        """Every step that depends on ``step``, directly or not."""
        return {s for s in self.steps if step in self.ancestors(s)}


def split_command(cmd: Any, where: str) -> list[str]:
    """A command as a string (split like a shell would, no shell runs it) or a list of arguments."""
    if isinstance(cmd, str):
        try:
            argv = shlex.split(cmd)
        except ValueError as exc:
            raise UsageError(f"{where}: cannot split command '{cmd}': {exc}") from None
    elif isinstance(cmd, list) and all(isinstance(a, (str, int, float)) for a in cmd):
        argv = [str(a) for a in cmd]
    else:
        raise UsageError(f"{where}: 'cmd' must be a string or a list of strings")
    if not argv:
        raise UsageError(f"{where}: 'cmd' is empty")
    return argv


def parse_use(text: str, where: str = "--use") -> Use:
    """``NAME``, ``NAME:ALIAS``, ``NAME:vN``, each optionally ``PROJECT/``-prefixed for another
    project's artifact of the same store."""
    ref = ArtifactRef.parse(str(text).strip())
    return Use(ref.name, ref.selector, project=ref.project)


def parse_output(text: str, where: str = "--output") -> Output:
    """``NAME=PATH[:TYPE]``."""
    name, eq, rest = str(text).partition("=")
    if not eq or not rest:
        raise UsageError(f"invalid {where} '{text}'", hint="NAME=PATH or NAME=PATH:TYPE, e.g. model=out/model.pt:model")
    path, typ = rest, DEFAULT_TYPE
    if ":" in rest:
        head, _, tail = rest.rpartition(":")
        if head and re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]*", tail):
            path, typ = head, tail
    check_name(name.strip(), "artifact")
    return Output(name.strip(), path, typ)


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``; the value is read as YAML (``3`` is a number, ``true`` a bool, ``a`` a string)."""
    key, raw, value = params_mod.split_assignment(text, "--param", "lr=0.01")
    if isinstance(value, (dict, list)) or value is None and raw.strip() not in ("null", "~"):
        value = raw
    return key.strip(), value


def _uses(raw: Any, where: str, base: str) -> list[Use]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raw = [raw]
    out = []
    for item in raw:
        if isinstance(item, str):
            out.append(parse_use(item, where))
        elif isinstance(item, dict):
            unknown = set(item) - {"name", "path", "type", "version"}
            if unknown:
                raise UsageError(f"{where}: unknown key(s) in 'uses': {', '.join(sorted(unknown))}",
                                 hint="an input has 'name' and either 'path' (a local path) or 'version'")
            if "name" not in item:
                raise UsageError(f"{where}: an input in 'uses' has no 'name'")
            use = parse_use(str(item["name"]), where)
            if item.get("path") is not None:
                if item.get("version") is not None:
                    raise UsageError(f"{where}: input '{use.name}' has both 'path' and 'version'")
                if use.project:
                    raise UsageError(f"{where}: input '{use.ref}' has a 'path'",
                                     hint="a local path is logged in the current project: drop the project part")
                use = Use(use.name, None, os.path.normpath(os.path.join(base, str(item["path"]))),
                          str(item.get("type") or DEFAULT_TYPE))
            elif item.get("version") is not None:
                use = Use(use.name, str(item["version"]), project=use.project)
            out.append(use)
        else:
            raise UsageError(f"{where}: each entry of 'uses' is 'NAME[:ALIAS]' or a mapping with 'name'")
    names = [u.name for u in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{where}: input '{dupes[0]}' is listed twice in 'uses'")
    return out


def _outputs(raw: Any, where: str, base: str) -> list[Output]:
    if raw is None:
        return []
    items: list[tuple[str, Any]]
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for entry in raw:
            if isinstance(entry, str):
                o = parse_output(entry, f"{where} output")
                items.append((o.name, {"path": o.path, "type": o.type}))
            elif isinstance(entry, dict) and "name" in entry:
                items.append((entry["name"], {k: v for k, v in entry.items() if k != "name"}))
            else:
                raise UsageError(f"{where}: each output is 'NAME=PATH[:TYPE]' or a mapping with 'name' and 'path'")
    else:
        raise UsageError(f"{where}: 'outputs' must be a mapping of NAME: PATH")
    out = []
    for name, spec in items:
        if isinstance(spec, str):
            o = parse_output(f"{name}={spec}", f"{where} output")
        elif isinstance(spec, dict) and "path" in spec:
            unknown = set(spec) - {"path", "type"}
            if unknown:
                raise UsageError(f"{where}: unknown key(s) in output '{name}': {', '.join(sorted(unknown))}")
            check_name(str(name), "artifact")
            o = Output(str(name), str(spec["path"]), str(spec.get("type") or DEFAULT_TYPE))
        else:
            raise UsageError(f"{where}: output '{name}' needs a path")
        out.append(Output(o.name, os.path.normpath(os.path.join(base, o.path)), o.type))
    return out


def step_from_mapping(name: str, raw: Any, base: str, where: str, params: dict[str, Any] | None = None) -> Step:
    """One step of a pipeline file (``base``: the file's folder); ``params``, when given, are its
    params as resolved from the pipeline's params files (see :mod:`arty.pipeline.params`)."""
    check_name(name, "step")
    at = f"{where}: step '{name}'"
    if not isinstance(raw, dict):
        raise UsageError(f"{at} must be a mapping with at least 'cmd'")
    unknown = set(raw) - STEP_KEYS
    if unknown:
        raise UsageError(f"{at} has unknown key(s): {', '.join(sorted(unknown))}",
                         hint="a step has: " + ", ".join(sorted(STEP_KEYS)))
    if "cmd" not in raw:
        raise UsageError(f"{at} has no 'cmd'")
    if params is None:
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            raise UsageError(f"{at}: 'params' must be a mapping")
    deps = raw.get("deps") or []
    needs = raw.get("needs") or []
    if isinstance(deps, str):
        deps = [deps]
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(deps, list) or not isinstance(needs, list):
        raise UsageError(f"{at}: 'deps' and 'needs' must be lists")
    metrics = raw.get("metrics")
    step = Step(
        name=name, cmd=split_command(raw["cmd"], at), wdir=base,
        uses=_uses(raw.get("uses"), at, base), outputs=_outputs(raw.get("outputs"), at, base),
        params={str(k): v for k, v in params.items()},
        deps=[os.path.normpath(os.path.join(base, str(d))) for d in deps], needs=[str(n) for n in needs],
        metrics=os.path.normpath(os.path.join(base, str(metrics))) if metrics else None,
        plots=parse_plots(raw.get("plots"), at, base),
    )
    step.check_placeholders()
    return step


def load_pipeline(path: str | None = None, sets: dict[str, Any] | None = None) -> Pipeline:
    """Read and check a pipeline file (default: ``./arty.yaml``), its params files, and the
    ``--set`` values ``sets`` (dotted key -> value, see :func:`arty.pipeline.params.apply_sets`)."""
    path = os.path.abspath(path or PIPELINE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise NotFound(f"pipeline file '{path}' not found",
                       hint="write an arty.yaml with 'steps:' (see docs/pipelines.md), or pass --file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"pipeline file '{path}' is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), dict) or not data["steps"]:
        raise UsageError(f"pipeline file '{path}' has no steps", hint="it needs a mapping 'steps: {NAME: {cmd: ...}}'")
    extra = set(data) - {"steps", "params"}
    if extra:
        raise UsageError(f"pipeline file '{path}' has unknown key(s): {', '.join(sorted(extra))}",
                         hint="it has 'steps' and, optionally, 'params'")
    base = os.path.dirname(path)
    where = os.path.basename(path)
    shared = params_mod.shared_params(base, data.get("params"), where)
    own: dict[str, dict[str, Any]] = {}
    for n, raw in data["steps"].items():
        got = raw.get("params") if isinstance(raw, dict) else None
        if got is None or isinstance(got, dict):
            own[str(n)] = {str(k): v for k, v in (got or {}).items()}
            if own[str(n)] and str(n) in shared:
                raise UsageError(f"{where}: step '{n}' has params of its own and the shared params have a "
                                 f"key '{n}' too", hint=f"list the step's params in {params_mod.PARAMS_FILE} "
                                                        "and name their keys in the step's 'params:'")
    params_mod.apply_sets(shared, own, dict(sets or {}), where)
    steps = {}
    for n, raw in data["steps"].items():
        name = str(n)
        if name in own:
            resolved = own[name]
        else:
            resolved, _ = params_mod.step_params(name, raw.get("params"), shared, base, f"{where}: step '{name}'")
        steps[name] = step_from_mapping(name, raw, base, where, resolved)
    pipeline = build_pipeline(path, steps)
    pipeline.params = params_mod.namespace(shared, own)
    pipeline.sets = dict(sets or {})
    return pipeline


def build_pipeline(path: str, steps: dict[str, Step]) -> Pipeline:
    """Link steps through the outputs they use and their ``needs``; refuse clashes, unknown steps, cycles."""
    where = os.path.basename(path)
    producers: dict[str, str] = {}
    out_paths: dict[str, str] = {}
    for step in steps.values():
        for o in step.outputs:
            if o.name in producers:
                raise UsageError(f"{where}: output '{o.name}' is produced by two steps, "
                                 f"'{producers[o.name]}' and '{step.name}'", hint="give one of them another name")
            if o.path in out_paths:
                raise UsageError(f"{where}: path '{o.path}' is an output of two steps, "
                                 f"'{out_paths[o.path]}' and '{step.name}'")
            producers[o.name] = step.name
            out_paths[o.path] = step.name
    upstream_of: dict[str, list[str]] = {name: [] for name in steps}

    def link(before: str, after: str) -> None:
        if before not in upstream_of[after]:
            upstream_of[after].append(before)

    for step in steps.values():
        for n in step.needs:
            if n not in steps:
                raise UsageError(f"{where}: step '{step.name}' needs step '{n}', which does not exist",
                                 hint="its steps: " + ", ".join(steps))
            link(n, step.name)
        for u in step.uses:
            producer = producers.get(u.name)
            if producer is not None and u.path is None and u.project is None and u.selector in (None, "latest"):
                if producer == step.name:
                    raise UsageError(f"{where}: step '{step.name}' uses its own output '{u.name}'")
                link(producer, step.name)
    try:
        graphlib.TopologicalSorter(upstream_of).prepare()
    except graphlib.CycleError as exc:
        # exc.args[1] is a path through the cycle, each node followed by one it depends on.
        names = list(reversed(exc.args[1]))
        raise UsageError(f"{where}: steps form a cycle: {' -> '.join(names)}",
                         hint="a step cannot depend, directly or not, on its own outputs") from None
    return Pipeline(path, steps, upstream_of, producers)
