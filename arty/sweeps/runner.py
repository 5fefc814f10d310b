"""The sweep agent: claim a trial, run it, record how it ended, repeat.

An agent needs only the store. Each pass it reads the sweep's trial records and

1. marks *stale* attempts (no end, heartbeat expired more than ``grace`` seconds ago: their
   agent died) ``crashed``, and claims a retry of a crashed trial while the sweep's
   ``retries`` allow;
2. else claims a new trial: grid point N for the lowest unclaimed N, or, for random and
   bayes, trial number max + 1 with params sampled by Optuna from the trials so far;
3. else, while other agents' trials run, waits (to take over one that crashes); else stops.

A trial runs either the sweep's ``program``/``command`` as a subprocess (``art agent``), with
the params as ``--key=value`` arguments and in the environment that ``arty.init`` reads
(``ARTY_SWEEP_PARAMS``), or a function in this process (``arty.agent``). Its run is a normal
run of the sweep's project whose ``run.json`` names the sweep. A trial that fails is recorded
``failed`` and the agent goes on.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from arty.errors import ArtyError, UsageError
from arty.store.store import Store
from arty.sweeps import records as rec
from arty.sweeps import results, search
from arty.sweeps.records import CRASHED, FAILED, FINISHED, PRUNED, RUNNING, STALE
from arty.sweeps.spec import DEFAULT_COMMAND, SweepSpec, parse
from arty.tracking.env import SWEEP_ID, SWEEP_PARAMS, SWEEP_TRIAL

#: Environment variables a trial's process (or function) sees; ``arty.init`` reads them.
ENV_SWEEP_ID, ENV_TRIAL, ENV_PARAMS = SWEEP_ID, SWEEP_TRIAL, SWEEP_PARAMS
#: Seconds a pruned trial's process has to exit after SIGTERM before it is killed.
TERMINATE_GRACE = 10.0


class Sweep:
    """A sweep as stored: its record, its checked configuration and its settings."""

    def __init__(self, store: Store, project: str, sweep_id: str) -> None:
        if "/" in sweep_id:  # W&B's entity/project/id and project/id
            parts = sweep_id.split("/")
            project, sweep_id = parts[-2], parts[-1]
        self.store, self.project, self.id = store, project, sweep_id
        self.record = rec.read_sweep(store, project, sweep_id)
        self.spec: SweepSpec = parse(self.record["config"])
        settings = self.record.get("settings") or {}
        self.retries = int(settings.get("retries", rec.DEFAULT_RETRIES))
        self.ttl = float(settings.get("lease_ttl", rec.DEFAULT_TTL))
        self.grace = float(settings.get("grace", rec.DEFAULT_GRACE))

    def trials(self) -> dict[int, rec.Trial]:
        return rec.read_trials(self.store, self.project, self.id)


def create(store: Store, project: str, config: dict[str, Any], *, retries: int = rec.DEFAULT_RETRIES,
           lease_ttl: float = rec.DEFAULT_TTL, grace: float = rec.DEFAULT_GRACE) -> str:
    """Check ``config`` and write a new sweep; returns its id. Nothing is written when the
    configuration is bad (a :class:`UsageError` says what is wrong)."""
    spec = parse(config)
    if spec.method != "grid":
        search.distributions(spec)  # optuna is there, and takes the bounds
    if retries < 0 or lease_ttl <= 0 or grace < 0:
        raise UsageError("retries and grace must be >= 0 and lease_ttl > 0")
    if spec.method == "grid" and len(spec.grid()) > 1_000_000:
        raise UsageError(f"grid of {len(spec.grid())} points is too large", hint="use method 'random' with run_cap")
    return rec.create_sweep(store, project, dict(config),
                            {"retries": int(retries), "lease_ttl": float(lease_ttl), "grace": float(grace)})


@dataclass
class Claimed:
    """A trial attempt this agent holds."""

    number: int
    attempt: int
    params: dict[str, Any]
    run_id: str


@dataclass
class Outcome:
    """How a trial ended, as its end record says."""

    state: str
    value: float | None = None
    error: str | None = None


class Agent:
    """Runs trials of one sweep until it has run ``count`` (None: until the sweep is done)."""

    def __init__(self, sweep: Sweep, *, say: Callable[[str], None] | None = None, poll: float | None = None) -> None:
        self.sweep = sweep
        self.say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.poll = poll if poll is not None else max(0.2, min(5.0, sweep.ttl / 3))
        self.prune_requested = threading.Event()
        self.ran: list[tuple[Claimed, Outcome]] = []

    # -- claiming -------------------------------------------------------------------------

    def _mark_stale(self, trials: dict[int, rec.Trial], now: float) -> bool:
        s = self.sweep
        marked = False
        for t in trials.values():
            if t.state(now, s.grace) != STALE:
                continue
            last = t.last
            if rec.end(s.store, s.project, s.id, t.number, last.attempt, CRASHED, run_id=last.claim.get("run_id"),
                       error=f"the agent '{last.claim.get('by')}' stopped renewing its lease (killed or cut off)"):
                retry = "it will be retried" if len(t.attempts) <= s.retries else "no retries left"
                if last.beat_path:  # the dead agent's heartbeat: it would never be removed
                    rec._delete_quietly(s.store, last.beat_path)
                self.say(f"sweep {s.id}: trial {t.number} (attempt {last.attempt}) crashed: its agent "
                         f"'{last.claim.get('by')}' stopped renewing its lease; {retry}")
            marked = True
        return marked

    def _claim(self, number: int, attempt: int, params: dict[str, Any], sampled: dict[str, Any]) -> Claimed | None:
        s = self.sweep
        run_id = f"{s.id}-{number}-{attempt}"
        got = rec.claim(s.store, s.project, s.id, number, attempt, params, s.ttl,
                        {"sampled": sampled, "run_id": run_id, "pid": os.getpid()})
        return Claimed(number, attempt, params, run_id) if got is not None else None

    def next_trial(self) -> Claimed | None | bool:
        """Claim an attempt: a retry of a crashed trial, else a new trial. None when nothing is
        left to claim and no trial runs; True when nothing is left but trials run elsewhere."""
        s = self.sweep
        spec = s.spec
        for _ in range(100):
            now = time.time()
            trials = s.trials()
            if self._mark_stale(trials, now):
                trials = s.trials()
            for t in trials.values():  # retries first
                if t.state(now, s.grace) == CRASHED and len(t.attempts) <= s.retries:
                    got = self._claim(t.number, len(t.attempts), t.params,
                                      t.attempts[0].claim.get("sampled") or {})
                    if got is not None:
                        return got
            total = spec.total
            if spec.method == "grid":
                grid = spec.grid()
                free = [n for n in range(total or 0) if n not in trials]
                lost = False
                while free:  # in order; after a lost race, at random, so that agents seldom race again
                    n = free.pop(random.randrange(len(free)) if lost else 0)
                    got = self._claim(n, 0, grid[n], {k: search._encode(v) for k, v in grid[n].items()
                                                      if not _fixed(spec, k)})
                    if got is not None:
                        return got
                    lost = True
                if lost:
                    continue  # others took them all meanwhile: look again
            else:
                n = max(trials) + 1 if trials else 0
                if total is None or n < total:
                    sampled = search.suggest(spec, s.id, trials, now, s.grace)
                    got = self._claim(n, 0, search.params_of(spec, sampled), sampled)
                    if got is not None:
                        return got
                    continue  # another agent took number n: sample again with its trial known
            running = any(t.state(now, s.grace) in (RUNNING, STALE) for t in trials.values())
            return True if running else None
        return True

    # -- running ----------------------------------------------------------------------------

    def run(self, target: Callable[[Claimed], Outcome], count: int | None = None) -> list[tuple[Claimed, Outcome]]:
        """Claim and run trials with ``target`` until ``count`` ran or the sweep is done."""
        s = self.sweep
        while count is None or len(self.ran) < count:
            got = self.next_trial()
            if got is None:
                break
            if got is True:
                time.sleep(self.poll)  # others' trials run: one may crash and need a retry
                continue
            assert isinstance(got, Claimed)
            self.say(f"sweep {s.id}: trial {got.number}" + (f" (retry {got.attempt})" if got.attempt else "")
                     + f": {_fmt_params(got.params)}")
            outcome = self._run_one(got, target)
            self.ran.append((got, outcome))
        self._report_metric()
        return self.ran

    def _run_one(self, c: Claimed, target: Callable[[Claimed], Outcome]) -> Outcome:
        s = self.sweep
        beat = rec.Heartbeat(s.store, s.project, s.id, c.number, c.attempt, s.ttl)
        self.prune_requested.clear()
        try:
            try:
                outcome = target(c)
            except Exception as exc:  # noqa: BLE001 - one trial's failure never stops the agent
                outcome = Outcome(FAILED, error=f"{type(exc).__name__}: {exc}")
            metric = s.spec.metric
            fields: dict[str, Any] = {"run_id": c.run_id, "error": outcome.error}
            if metric:
                fin = results.final(s.store, s.project, c.run_id) or {}
                summary = fin.get("summary") if isinstance(fin.get("summary"), dict) else {}
                value = summary.get(metric)
                history = results.metric_history(s.store, s.project, c.run_id, metric)
                if not (isinstance(value, (int, float)) and not isinstance(value, bool)):
                    value = history[-1][1] if history else None
                fields.update(metric=metric, value=value, history=history)
                outcome.value = value
                if value is None and outcome.state == FINISHED:
                    keys = sorted(k for k in summary if not k.startswith("_"))
                    fields["missing_metric"] = True
                    self.say(f"warning: sweep {s.id}: trial {c.number} finished without logging metric '{metric}'"
                             f" (its summary has: {', '.join(keys[:10]) or 'nothing'})")
            if not rec.end(s.store, s.project, s.id, c.number, c.attempt, outcome.state, **fields):
                self.say(f"warning: sweep {s.id}: trial {c.number} (attempt {c.attempt}) was ended by another agent "
                         "while it ran (its lease lapsed); this result is not recorded")
            else:
                shown = "" if outcome.value is None else f" {metric}={outcome.value:g}"
                self.say(f"sweep {s.id}: trial {c.number} {outcome.state}{shown}"
                         + (f": {outcome.error}" if outcome.error and outcome.state != FINISHED else ""))
        finally:
            beat.stop()
        return outcome

    def _report_metric(self) -> None:
        s = self.sweep
        if not s.spec.metric:
            return
        ends = [t.last.end for t in s.trials().values() if t.last.end and t.last.end.get("state") == FINISHED]
        if ends and all(e.get("value") is None for e in ends):
            self.say(f"warning: sweep {s.id}: no trial logged metric '{s.spec.metric}' ({len(ends)} finished)")

    # -- pruning -----------------------------------------------------------------------------

    def check_prune(self, c: Claimed, seen: dict[str, list]) -> bool:
        """Whether the pruner stops trial ``c`` now, from its metric history in the store."""
        s = self.sweep
        if not s.spec.early_terminate or not s.spec.metric:
            return False
        history = {int(st): v for st, v in results.metric_history(s.store, s.project, c.run_id, s.spec.metric, seen)}
        return search.should_prune(s.spec, s.id, s.trials(), c.number, history, time.time(), s.grace)


def _fixed(spec: SweepSpec, name: str) -> bool:
    return any(p.name == name and p.fixed for p in spec.params)


def _fmt_params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in params.items())


def trial_env(sweep: Sweep, c: Claimed) -> dict[str, str]:
    """What a trial's process needs to find its store, project, run id and params."""
    return {"ARTY_STORE": sweep.store.url, "ARTY_PROJECT": sweep.project, "ARTY_RUN_ID": c.run_id,
            ENV_SWEEP_ID: sweep.id, ENV_TRIAL: f"{c.number}-{c.attempt}",
            ENV_PARAMS: json.dumps(c.params)}


# -- the program runner (art agent) ---------------------------------------------------------------

def _arg(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def command_line(spec: SweepSpec, params: dict[str, Any], json_file: str | None = None) -> list[str]:
    """The trial's command: the sweep's ``command`` (default ``${env} ${interpreter} ${program}
    ${args}``) with W&B's macros expanded."""
    if spec.command is None and not spec.program:
        raise UsageError("the sweep has no 'program' or 'command' to run",
                         hint="add 'program: train.py' to the sweep configuration, or run trials in Python "
                              "with arty.agent(sweep_id, function)")
    out: list[str] = []
    for part in spec.command or DEFAULT_COMMAND:
        if part == "${env}":
            continue  # W&B's /usr/bin/env: the environment is passed as it is
        elif part == "${interpreter}":
            out.append(sys.executable)
        elif part == "${program}":
            if not spec.program:
                raise UsageError("the sweep's command uses ${program} but it has no 'program'")
            out.append(spec.program)
        elif part == "${args}":
            out += [f"--{k}={_arg(v)}" for k, v in params.items()]
        elif part == "${args_no_hyphens}":
            out += [f"{k}={_arg(v)}" for k, v in params.items()]
        elif part == "${args_no_boolean_flags}":
            out += [f"--{k}" if v is True else f"--{k}={_arg(v)}" for k, v in params.items() if v is not False]
        elif part == "${args_json}":
            out.append(json.dumps(params))
        elif part == "${args_json_file}":
            out.append(json_file or "")
        else:
            out.append(part)
    return out


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """In the trial's process (Linux): get SIGTERM when the agent dies, so no trial outlives it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def program_runner(agent: Agent) -> Callable[[Claimed], Outcome]:
    """Run each trial as the sweep's program in a subprocess; prune it (SIGTERM) when the
    pruner says so."""
    sweep = agent.sweep

    def run(c: Claimed) -> Outcome:
        with tempfile.TemporaryDirectory(prefix="arty-trial-") as tmp:
            json_file = os.path.join(tmp, "params.json")
            with open(json_file, "w", encoding="utf-8") as f:
                json.dump(c.params, f)
            argv = command_line(sweep.spec, c.params, json_file)
            env = dict(os.environ) | trial_env(sweep, c)
            try:
                proc = subprocess.Popen(argv, env=env,
                                        preexec_fn=_die_with_parent if sys.platform == "linux" else None)
            except OSError as exc:
                return Outcome(FAILED, error=f"cannot start {argv[0]!r}: {exc}")
            seen: dict[str, list] = {}
            while True:
                try:
                    code = proc.wait(timeout=agent.poll)
                    break
                except subprocess.TimeoutExpired:
                    pass
                try:
                    if agent.check_prune(c, seen):
                        proc.terminate()
                        try:
                            proc.wait(timeout=TERMINATE_GRACE)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait()
                        return Outcome(PRUNED, error="stopped by hyperband")
                except ArtyError:
                    pass  # the store is unreachable: judge at the next poll
        if code == 0:
            return Outcome(FINISHED)
        return Outcome(FAILED, error=f"exit code {code}")

    return run


# -- the function runner (arty.agent) -------------------------------------------------------------

_current: Agent | None = None


def function_runner(agent: Agent, function: Callable[[], Any]) -> Callable[[Claimed], Outcome]:
    """Run each trial as ``function()`` in this process: ``arty.init()`` inside it gets the
    trial's params in ``run.config``; a run it leaves open is finished for it. A monitor thread
    asks the pruner; :func:`arty.sweeps.should_prune` tells the function."""
    sweep = agent.sweep

    def run(c: Claimed) -> Outcome:
        global _current
        from arty.tracking import run as tracking_run

        saved = {k: os.environ.get(k) for k in trial_env(sweep, c)}
        os.environ.update(trial_env(sweep, c))
        stop = threading.Event()
        monitor = None
        if sweep.spec.early_terminate:
            monitor = threading.Thread(target=_monitor, args=(agent, c, stop), name="arty-sweep-prune", daemon=True)
            monitor.start()
        _current = agent
        error: str | None = "interrupted"  # until the function returns (KeyboardInterrupt: a failed run)
        try:
            function()
            error = None
        except Exception as exc:  # noqa: BLE001 - recorded; the agent goes on
            error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            _current = None
            stop.set()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            active = tracking_run.current()
            if active is not None and active.id == c.run_id and not active._finished:
                active.finish(exit_code=1 if error else 0, quiet=True)
        if monitor is not None:
            monitor.join()
        if error:
            return Outcome(FAILED, error=error)
        return Outcome(PRUNED, error="stopped by hyperband") if agent.prune_requested.is_set() else Outcome(FINISHED)

    return run


def _monitor(agent: Agent, c: Claimed, stop: threading.Event) -> None:
    seen: dict[str, list] = {}
    while not stop.wait(agent.poll):
        try:
            if agent.check_prune(c, seen):
                agent.prune_requested.set()
                return
        except ArtyError:
            pass


def should_prune() -> bool:
    """Inside a function run by ``arty.agent``: True once the sweep's pruner (early_terminate)
    has decided to stop the current trial. The function should then return."""
    return _current is not None and _current.prune_requested.is_set()
