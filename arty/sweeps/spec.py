"""A sweep's configuration, in W&B's shape, checked before anything runs.

::

    program: train.py
    method: grid | random | bayes
    metric: {name: val_loss, goal: minimize | maximize}
    parameters:
      lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
      batch: {values: [16, 32, 64]}
      epochs: {value: 5}
    early_terminate: {type: hyperband, min_iter: 1, max_iter: 27, eta: 3}
    command: [${env}, ${interpreter}, ${program}, ${args}]
    run_cap: 20

:func:`parse` returns a :class:`SweepSpec` or raises :class:`UsageError` naming the key at
fault. What Arty does not support (distributions without bounds, ``probabilities``,
nested ``parameters``, ``target``) is refused by name, never ignored. docs/sweeps.md lists it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from arty.errors import UsageError

METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")
#: Distributions Arty samples, with the bounds each needs.
DISTRIBUTIONS = {
    "constant": ("value",),
    "categorical": ("values",),
    "int_uniform": ("min", "max"),
    "uniform": ("min", "max"),
    "q_uniform": ("min", "max"),
    "log_uniform": ("min", "max"),
    "log_uniform_values": ("min", "max"),
    "q_log_uniform": ("min", "max"),
    "q_log_uniform_values": ("min", "max"),
    "inv_log_uniform": ("min", "max"),
    "inv_log_uniform_values": ("min", "max"),
}
#: W&B's distributions Arty does not sample yet (unbounded: the search libraries need bounds).
UNSUPPORTED_DISTRIBUTIONS = ("normal", "q_normal", "log_normal", "q_log_normal", "beta")
TOP_KEYS = ("program", "method", "metric", "parameters", "early_terminate", "command", "run_cap", "name",
            "description", "project", "entity")
PARAM_KEYS = ("value", "values", "distribution", "min", "max", "q")
EARLY_TERMINATE_KEYS = ("type", "min_iter", "max_iter", "eta", "s", "strict")
DEFAULT_COMMAND = ("${env}", "${interpreter}", "${program}", "${args}")


@dataclass(frozen=True)
class Param:
    """One parameter: a fixed ``value``, a list of ``values``, or a distribution with bounds."""

    name: str
    distribution: str
    values: tuple[Any, ...] = ()
    min: float = 0.0
    max: float = 0.0
    q: float | None = None

    @property
    def fixed(self) -> bool:
        return self.distribution == "constant"


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep configuration (``raw`` is the configuration as given)."""

    method: str
    params: tuple[Param, ...]
    metric: str | None = None
    goal: str = "minimize"
    program: str | None = None
    command: tuple[str, ...] | None = None
    run_cap: int | None = None
    early_terminate: dict[str, Any] | None = None
    name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def grid(self) -> list[dict[str, Any]]:
        """Every grid point, in order: the product of each parameter's values, the first
        parameter varying slowest. Trial N of a grid sweep runs point N."""
        names = [p.name for p in self.params]
        choices = [p.values for p in self.params]
        return [dict(zip(names, combo)) for combo in itertools.product(*choices)]

    @property
    def total(self) -> int | None:
        """How many trials the sweep has at most: the grid's size (or ``run_cap`` if smaller),
        else ``run_cap`` (None: no limit)."""
        if self.method == "grid":
            n = math.prod(len(p.values) for p in self.params)
            return min(n, self.run_cap) if self.run_cap is not None else n
        return self.run_cap


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _param(name: str, spec: Any) -> Param:
    where = f"parameter '{name}'"
    if not isinstance(spec, Mapping):
        raise UsageError(f"{where} must be a mapping, not {type(spec).__name__}",
                         hint="give 'values: [...]', 'value: x', or 'distribution' with 'min' and 'max'")
    if "parameters" in spec:
        raise UsageError(f"{where}: nested 'parameters' are not supported", hint="use flat names like 'opt_lr'")
    if "probabilities" in spec:
        raise UsageError(f"{where}: 'probabilities' are not supported", hint="repeat a value in 'values' to weight it")
    for k in ("a", "b", "mu", "sigma"):
        if k in spec and spec.get("distribution") not in UNSUPPORTED_DISTRIBUTIONS:
            raise UsageError(f"{where}: key '{k}' belongs to a distribution Arty does not support",
                             hint="use one of: " + ", ".join(DISTRIBUTIONS))
    unknown = [k for k in spec if k not in PARAM_KEYS and k not in ("a", "b", "mu", "sigma")]
    if unknown:
        raise UsageError(f"{where} has unknown key '{unknown[0]}'", hint="use: " + ", ".join(PARAM_KEYS))
    dist = spec.get("distribution")
    if dist is None:  # W&B's defaults
        if "values" in spec:
            dist = "categorical"
        elif "value" in spec:
            dist = "constant"
        elif "min" in spec and "max" in spec:
            both_int = all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("min", "max"))
            dist = "int_uniform" if both_int else "uniform"
        else:
            raise UsageError(f"{where} has no search space",
                             hint="give 'values: [...]', 'value: x', or 'min' and 'max'")
    if not isinstance(dist, str) or dist not in DISTRIBUTIONS:
        if dist in UNSUPPORTED_DISTRIBUTIONS:
            raise UsageError(f"{where}: distribution '{dist}' is not supported (it has no bounds to search)",
                             hint="use one of: " + ", ".join(DISTRIBUTIONS))
        raise UsageError(f"{where} has unknown distribution '{dist}'", hint="use one of: " + ", ".join(DISTRIBUTIONS))
    for k in DISTRIBUTIONS[dist]:
        if k not in spec:
            raise UsageError(f"{where}: distribution '{dist}' needs '{k}'")
    if dist == "constant":
        return Param(name, dist, (spec["value"],))
    if dist == "categorical":
        values = spec["values"]
        if not isinstance(values, list):
            raise UsageError(f"{where}: 'values' must be a list, not {type(values).__name__}")
        if not values:
            raise UsageError(f"{where} has an empty search space ('values' is empty)", hint="list at least one value")
        return Param(name, dist, tuple(values))
    lo, hi = spec["min"], spec["max"]
    if not (_num(lo) and _num(hi)):
        raise UsageError(f"{where}: 'min' and 'max' must be finite numbers (got {lo!r}, {hi!r})")
    if lo > hi:
        raise UsageError(f"{where}: 'min' ({lo}) is greater than 'max' ({hi})", hint="swap them")
    if dist == "int_uniform" and not (isinstance(lo, int) and isinstance(hi, int)):
        raise UsageError(f"{where}: distribution 'int_uniform' needs integer 'min' and 'max'")
    if dist.endswith("_values") and lo <= 0:
        raise UsageError(f"{where}: distribution '{dist}' needs 'min' > 0 (got {lo})",
                         hint="the bounds are values whose logarithm is taken")
    q = spec.get("q")
    if dist.startswith("q_"):
        q = 1 if q is None else q
        if not _num(q) or q <= 0:
            raise UsageError(f"{where}: 'q' must be a number > 0 (got {q!r})")
    elif q is not None:
        raise UsageError(f"{where}: 'q' applies only to the q_ distributions, not '{dist}'")
    return Param(name, dist, (), float(lo) if dist != "int_uniform" else lo, float(hi) if dist != "int_uniform" else hi,
                 None if q is None else float(q))


def parse(config: Any) -> SweepSpec:
    """Check a sweep configuration (a mapping, as read from YAML) and return it as a :class:`SweepSpec`."""
    if not isinstance(config, Mapping):
        raise UsageError(f"a sweep configuration must be a mapping, not {type(config).__name__}")
    unknown = [k for k in config if k not in TOP_KEYS]
    if unknown:
        raise UsageError(f"sweep configuration has unknown key '{unknown[0]}'", hint="use: " + ", ".join(TOP_KEYS))
    method = config.get("method")
    if method is None:
        raise UsageError("sweep configuration has no 'method'", hint="use one of: " + ", ".join(METHODS))
    if method not in METHODS:
        raise UsageError(f"unknown sweep method '{method}'", hint="use one of: " + ", ".join(METHODS))
    metric, goal = _metric(config.get("metric"), method)
    params_raw = config.get("parameters")
    if not isinstance(params_raw, Mapping) or not params_raw:
        raise UsageError("sweep configuration has no 'parameters'", hint="give at least one parameter")
    params = tuple(_param(str(n), s) for n, s in params_raw.items())
    if method == "grid":
        for p in params:
            if p.distribution not in ("constant", "categorical"):
                raise UsageError(f"method 'grid' needs 'values' or 'value' for every parameter "
                                 f"('{p.name}' has distribution '{p.distribution}')",
                                 hint="list the values to try, or use method 'random' or 'bayes'")
    run_cap = config.get("run_cap")
    if run_cap is not None and (not isinstance(run_cap, int) or isinstance(run_cap, bool) or run_cap < 1):
        raise UsageError(f"'run_cap' must be a positive integer (got {run_cap!r})")
    program = config.get("program")
    if program is not None and not isinstance(program, str):
        raise UsageError(f"'program' must be a string (got {program!r})")
    command = config.get("command")
    if command is not None:
        if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
            raise UsageError("'command' must be a non-empty list of strings", hint="e.g. [${interpreter}, ${program}, ${args}]")
        command = tuple(command)
    return SweepSpec(method=method, params=params, metric=metric, goal=goal, program=program, command=command,
                     run_cap=run_cap, early_terminate=_early(config.get("early_terminate"), metric),
                     name=config.get("name"), raw=dict(config))


def _metric(metric: Any, method: str) -> tuple[str | None, str]:
    if metric is None:
        if method == "bayes":
            raise UsageError("method 'bayes' needs a 'metric' to optimize", hint="metric: {name: val_loss, goal: minimize}")
        return None, "minimize"
    if not isinstance(metric, Mapping):
        raise UsageError("'metric' must be a mapping", hint="metric: {name: val_loss, goal: minimize}")
    if "target" in metric:
        raise UsageError("'metric.target' is not supported", hint="stop the agents when the metric is good enough")
    unknown = [k for k in metric if k not in ("name", "goal")]
    if unknown:
        raise UsageError(f"'metric' has unknown key '{unknown[0]}'", hint="use: name, goal")
    name = metric.get("name")
    if not isinstance(name, str) or not name:
        raise UsageError("'metric' has no 'name'", hint="the summary key the trials log, e.g. val_loss")
    goal = metric.get("goal", "minimize")
    if goal not in GOALS:
        raise UsageError(f"unknown metric goal '{goal}'", hint="use minimize or maximize")
    return name, goal


def _early(early: Any, metric: str | None) -> dict[str, Any] | None:
    if early is None:
        return None
    if not isinstance(early, Mapping):
        raise UsageError("'early_terminate' must be a mapping", hint="early_terminate: {type: hyperband, min_iter: 3}")
    if early.get("type") != "hyperband":
        raise UsageError(f"unknown early_terminate type '{early.get('type')}'", hint="use hyperband")
    unknown = [k for k in early if k not in EARLY_TERMINATE_KEYS]
    if unknown:
        raise UsageError(f"'early_terminate' has unknown key '{unknown[0]}'", hint="use: " + ", ".join(EARLY_TERMINATE_KEYS))
    if metric is None:
        raise UsageError("'early_terminate' needs a 'metric' whose history it judges")
    out = {"type": "hyperband", "min_iter": early.get("min_iter", 1), "max_iter": early.get("max_iter"),
           "eta": early.get("eta", 3)}
    for k in ("min_iter", "max_iter"):
        v = out[k]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise UsageError(f"'early_terminate.{k}' must be a positive integer (got {v!r})")
    if out["max_iter"] is not None and out["max_iter"] < out["min_iter"]:
        raise UsageError(f"'early_terminate.min_iter' ({out['min_iter']}) is greater than 'max_iter' ({out['max_iter']})")
    eta = out["eta"]
    if not _num(eta) or eta < 2:
        raise UsageError(f"'early_terminate.eta' must be a number >= 2 (got {eta!r})")
    if "s" in early:
        out["s"] = early["s"]
    return out
