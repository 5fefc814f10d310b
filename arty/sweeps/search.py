"""The search, by Optuna: its samplers choose the params of a new trial, its pruner stops a bad one.

Optuna's study lives in memory only, rebuilt from the trial records each time an agent asks
(:func:`build_study`): a finished trial becomes a complete trial with its metric and its
metric history (intermediate values), a pruned one a pruned trial, a failed or crashed one
(or one without the metric) a failed trial. So the store stays the only state. ``grid``
does not need Optuna: trial N runs grid point N (:meth:`SweepSpec.grid`).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from arty.errors import MissingExtra
from arty.sweeps.records import CRASHED, FAILED, FINISHED, PRUNED, Trial
from arty.sweeps.spec import Param, SweepSpec

if TYPE_CHECKING:
    import optuna


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingExtra("sweeps with method 'random' or 'bayes' need optuna",
                           hint="pip install 'arty[sweeps]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _encode(value: Any) -> Any:
    """A categorical value as Optuna holds it (None, bool, int, float or str): lists and
    mappings as their JSON text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value, sort_keys=True)


def distributions(spec: SweepSpec) -> dict[str, Any]:
    """Optuna's distribution of each searched parameter (fixed values are not searched)."""
    optuna = _optuna()
    d = optuna.distributions
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.fixed:
            continue
        if p.distribution == "categorical":
            out[p.name] = d.CategoricalDistribution([_encode(v) for v in p.values])
        elif p.distribution == "int_uniform":
            out[p.name] = d.IntDistribution(int(p.min), int(p.max))
        elif p.distribution in ("uniform", "q_uniform"):
            out[p.name] = d.FloatDistribution(p.min, p.max)
        elif p.distribution in ("log_uniform", "q_log_uniform"):  # bounds are logarithms
            out[p.name] = d.FloatDistribution(math.exp(p.min), math.exp(p.max), log=True)
        elif p.distribution in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"):
            out[p.name] = d.FloatDistribution(p.min, p.max, log=True)
        elif p.distribution == "inv_log_uniform":  # X = exp(-U), U uniform in [min, max]
            out[p.name] = d.FloatDistribution(math.exp(-p.max), math.exp(-p.min), log=True)
    return out


def value_of(p: Param, sampled: Any) -> Any:
    """The value a trial gets for ``p`` from Optuna's sample (quantized for the q_ distributions)."""
    if p.fixed:
        return p.values[0]
    if p.distribution == "categorical":
        for v in p.values:
            if _encode(v) == sampled:
                return v
        return sampled
    if p.q is not None:
        q = p.q
        v = round(sampled / q) * q
        return int(v) if float(q).is_integer() and float(v).is_integer() else v
    return sampled


def params_of(spec: SweepSpec, sampled: dict[str, Any]) -> dict[str, Any]:
    """Every parameter's value for a trial: the searched ones from ``sampled``, the fixed ones as given."""
    return {p.name: value_of(p, sampled.get(p.name)) for p in spec.params}


def _sampler(spec: SweepSpec) -> Any:
    optuna = _optuna()
    if spec.method == "bayes":
        return optuna.samplers.TPESampler()
    return optuna.samplers.RandomSampler()


def pruner(spec: SweepSpec) -> Any:
    """Optuna's HyperbandPruner for ``early_terminate: {type: hyperband}`` (min_iter, max_iter,
    eta as min_resource, max_resource, reduction_factor), else None."""
    et = spec.early_terminate
    if not et:
        return None
    optuna = _optuna()
    return optuna.pruners.HyperbandPruner(min_resource=int(et["min_iter"]),
                                          max_resource=et["max_iter"] if et["max_iter"] else "auto",
                                          reduction_factor=int(et["eta"]))


def _history(record: dict[str, Any] | None) -> dict[int, float]:
    out: dict[int, float] = {}
    for row in (record or {}).get("history") or ():
        try:
            step, value = int(row[0]), float(row[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(value):
            out[step] = value
    return out


def build_study(spec: SweepSpec, sweep_id: str, trials: dict[int, Trial], now: float, grace: float,
                running: dict[int, dict[int, float]] | None = None) -> "optuna.Study":
    """Optuna's in-memory study of the sweep's trials, in trial order. ``running`` gives the
    metric history of unfinished trials (they are added as running trials with it).

    With a pruner, each trial's history is replayed through it at the steps where a rung can
    be completed, as if the trial reported them live: the pruner keeps its rungs in the trials
    (system attributes) and would otherwise see no competitor."""
    optuna = _optuna()
    TS = optuna.trial.TrialState
    dists = distributions(spec)
    p = pruner(spec)
    study = optuna.create_study(study_name=sweep_id, direction=spec.goal, sampler=_sampler(spec), pruner=p)
    for n in sorted(trials):
        t = trials[n]
        sampled = t.attempts[0].claim.get("sampled") or {}
        if set(sampled) != set(dists):
            continue  # made by another configuration: not comparable
        end = t.last.end
        state = t.state(now, grace)
        values = _history(end) if end else (running or {}).get(n, {})
        value = end.get("value") if end else None
        if state == FINISHED and isinstance(value, (int, float)) and math.isfinite(value):
            kind, v = TS.COMPLETE, float(value)
        elif state == PRUNED:
            kind, v = TS.PRUNED, None
        elif state in (FAILED, CRASHED, FINISHED):
            kind, v = TS.FAIL, None
        else:
            kind, v = TS.RUNNING, None
        try:
            if p is None or not values:
                study.add_trial(optuna.trial.create_trial(params=sampled, distributions=dists, value=v, state=kind,
                                                          intermediate_values=values, user_attrs={"trial": n}))
            else:
                _replay(study, p, sampled, dists, values, kind, v, n, spec)
        except ValueError:
            continue  # a sample outside today's bounds
    return study


def _replay(study: Any, p: Any, sampled: dict[str, Any], dists: dict[str, Any], values: dict[int, float],
            kind: Any, value: float | None, number: int, spec: SweepSpec) -> None:
    """Add a trial as running, report its history to the pruner at each rung's first step, then
    give it its final state (a running trial stays running)."""
    optuna = _optuna()
    study.add_trial(optuna.trial.create_trial(params=sampled, distributions=dists, state=optuna.trial.TrialState.RUNNING,
                                              user_attrs={"trial": number}))
    storage, tid = study._storage, study.trials[-1]._trial_id
    et = spec.early_terminate or {}
    lo, eta = int(et.get("min_iter", 1)), int(et.get("eta", 3))
    marks, k = [], 0
    steps = sorted(values)
    while steps and lo * eta ** k <= steps[-1]:
        marks.append(lo * eta ** k)
        k += 1
    at = {next(s for s in steps if s >= m) for m in marks} | {steps[-1]}
    for step in steps:
        storage.set_trial_intermediate_value(tid, step, values[step])
        if step in at and p.prune(study, storage.get_trial(tid)) and kind == optuna.trial.TrialState.RUNNING:
            storage.set_trial_user_attr(tid, "prune", True)  # a running trial is stopped at its first "prune"
            break
    if kind != optuna.trial.TrialState.RUNNING:
        storage.set_trial_state_values(tid, kind, None if value is None else [value])


def suggest(spec: SweepSpec, sweep_id: str, trials: dict[int, Trial], now: float, grace: float) -> dict[str, Any]:
    """Optuna's sample for a new trial (``{param: value as Optuna holds it}``)."""
    study = build_study(spec, sweep_id, trials, now, grace)
    return dict(study.ask(distributions(spec)).params)


def should_prune(spec: SweepSpec, sweep_id: str, trials: dict[int, Trial], number: int,
                 history: dict[int, float], now: float, grace: float) -> bool:
    """Whether the pruner stops running trial ``number`` given its metric ``history`` (step -> value)."""
    p = pruner(spec)
    if p is None or not history:
        return False
    study = build_study(spec, sweep_id, trials, now, grace, running={number: history})
    return any(ft.user_attrs.get("trial") == number and ft.user_attrs.get("prune") for ft in study.trials)
