"""A sweep's records in the store: the sweep, and each trial's claims, heartbeats and ends.

Agents on many machines share a sweep through these records alone (no server, no
database)::

    projects/<p>/sweeps/<id>/sweep.json                  create-if-absent: the configuration
    projects/<p>/sweeps/<id>/trials/<N>-claim-<a>.json   create-if-absent: attempt a of trial N
                                                         (params, run id, who)
    projects/<p>/sweeps/<id>/trials/<N>-beat-<a>-<r>.json  the claimer's heartbeat, renewal r
    projects/<p>/sweeps/<id>/trials/<N>-end-<a>.json     create-if-absent: how attempt a ended

Claiming is creating ``<N>-claim-<a>.json``: of two agents that try, one wins, so no two
agents run the same attempt. The winner renews a heartbeat (a new ``beat`` record every
``ttl / 3`` seconds, then the previous one is removed: beats are leases, the one kind of
sweep record that is deleted). An attempt with no end whose newest heartbeat expired more
than ``grace`` seconds ago is *stale*: its agent died. Any agent then writes its end
(``crashed``, create-if-absent so only one does) and, within the sweep's ``retries``,
claims attempt ``a + 1`` with the same params. This module imports only the store.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from arty.errors import ArtyError, BadRecord, NotFound
from arty.store import layout
from arty.store.leases import who
from arty.store.records import warn_skipped
from arty.store.store import Store, encode_json, now_iso

#: How an attempt ended.
FINISHED, FAILED, CRASHED, PRUNED = "finished", "failed", "crashed", "pruned"
END_STATES = (FINISHED, FAILED, CRASHED, PRUNED)
#: States of a trial that has no end yet.
RUNNING, STALE = "running", "stale"
DEFAULT_TTL = 60.0
DEFAULT_GRACE = 30.0
DEFAULT_RETRIES = 1
_NAME = re.compile(r"^(\d{8})-(claim|beat|end)-(\d+)(?:-(\d+))?\.json$")
_ID_CHARS = string.ascii_lowercase + string.digits
SWEEP_ID = re.compile(r"^[a-z0-9]{8}$")


def sweeps_folder(project: str) -> str:
    return f"{layout.project(project)}/sweeps"


def sweep_folder(project: str, sweep_id: str) -> str:
    return f"{sweeps_folder(project)}/{sweep_id}"


def trials_folder(project: str, sweep_id: str) -> str:
    return f"{sweep_folder(project, sweep_id)}/trials"


def claim_name(trial: int, attempt: int) -> str:
    return f"{trial:08d}-claim-{attempt}.json"


def end_name(trial: int, attempt: int) -> str:
    return f"{trial:08d}-end-{attempt}.json"


def beat_name(trial: int, attempt: int, renewal: int) -> str:
    return f"{trial:08d}-beat-{attempt}-{renewal}.json"


def new_sweep_id() -> str:
    """Eight lowercase letters and digits, like W&B's sweep ids."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(8))


def create_sweep(store: Store, project: str, config: dict[str, Any], settings: dict[str, Any]) -> str:
    """Write a new sweep's record (create-if-absent under a fresh id) and return its id."""
    for _ in range(10):
        sweep_id = new_sweep_id()
        rec = {"id": sweep_id, "project": project, "config": config, "settings": settings,
               "created_at": now_iso(), "by": who()}
        if store.create_record(f"{sweep_folder(project, sweep_id)}/sweep.json", rec):
            store.journal("sweep_created", project=project, sweep=sweep_id)
            return sweep_id
    raise ArtyError("could not find a free sweep id")  # pragma: no cover - 36^8 ids


def read_sweep(store: Store, project: str, sweep_id: str) -> dict[str, Any]:
    """The sweep's record; :class:`NotFound` (with the sweeps there are) when it does not exist."""
    if not SWEEP_ID.match(sweep_id or ""):
        raise NotFound(f"sweep '{sweep_id}' not found in project '{project}' (a sweep id is 8 letters and digits)",
                       hint="list the sweeps with 'art sweeps'")
    try:
        return store.read_record(f"{sweep_folder(project, sweep_id)}/sweep.json", {"config": dict})
    except FileNotFoundError:
        known = list_sweeps(store, project)
        raise NotFound(f"sweep '{sweep_id}' not found in project '{project}'"
                       + (f" (sweeps: {', '.join(known[:5])}{', ...' if len(known) > 5 else ''})" if known else ""),
                       hint="list the sweeps with 'art sweeps'; pass --project if it is in another project") from None


def list_sweeps(store: Store, project: str) -> list[str]:
    """The ids of the sweeps of ``project``."""
    return [n for n in store.list(sweeps_folder(project)) if SWEEP_ID.match(n)]


@dataclass
class Attempt:
    """One attempt of a trial: its claim, its newest heartbeat, its end (None while it runs).

    The heartbeat is read only when the claim's own expiry no longer shows the attempt alive
    (``beat_path`` names it; ``store`` reads it), so a fresh claim costs no read."""

    trial: int
    attempt: int
    claim: dict[str, Any]
    beat: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    beat_path: str | None = None
    store: Store | None = None

    def expires(self, after: float | None = None) -> float:
        """When this attempt's lease runs out (its newest heartbeat's, else its claim's). The
        heartbeat is read (once) when the claim's expiry is not later than ``after``."""
        claimed = float(self.claim.get("expires", 0.0))
        if self.beat is None and self.beat_path and self.store is not None and (after is None or claimed <= after):
            self.beat = _read_beat(self.store, self.beat_path)
        rec = self.beat or self.claim
        return max(claimed, float(rec.get("expires", 0.0)))

    def state(self, now: float, grace: float) -> str:
        if self.end is not None:
            return str(self.end.get("state"))
        return STALE if now > self.expires(after=now - grace) + grace else RUNNING


def _read_beat(store: Store, path: str) -> dict[str, Any]:
    """A heartbeat record, read fresh (it is replaced as it is renewed, so never from the cache)."""
    import json

    try:
        rec = json.loads(store.backend.read(path))
    except FileNotFoundError:  # renewed meanwhile: alive a moment ago
        return {"expires": time.time() + DEFAULT_TTL}
    except ValueError as exc:
        warn_skipped(BadRecord(f"record '{path}' is not valid JSON: {exc}", path=path))
        return {}
    return rec if isinstance(rec, dict) else {}


@dataclass
class Trial:
    """A trial and its attempts (in order); the last attempt decides its state."""

    number: int
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.attempts[0].claim.get("params") or {})

    def state(self, now: float, grace: float) -> str:
        return self.last.state(now, grace)


def read_trials(store: Store, project: str, sweep_id: str) -> dict[int, Trial]:
    """Every trial of a sweep, from one listing of ``trials/`` (claims and ends are immutable,
    so the store's record cache serves them after the first read). A bad record is skipped
    with a warning."""
    folder = trials_folder(project, sweep_id)
    claims: dict[tuple[int, int], dict[str, Any]] = {}
    ends: dict[tuple[int, int], dict[str, Any]] = {}
    beats: dict[tuple[int, int], tuple[int, str]] = {}
    for name in store.list(folder):
        m = _NAME.match(name)
        if not m:
            continue
        key = (int(m.group(1)), int(m.group(3)))
        kind = m.group(2)
        if kind == "beat":
            renewal = int(m.group(4) or 0)
            if key not in beats or beats[key][0] < renewal:
                beats[key] = (renewal, name)
            continue
        rec = store.try_record(f"{folder}/{name}")
        if rec is not None:
            (claims if kind == "claim" else ends)[key] = rec
    trials: dict[int, Trial] = {}
    for (n, a), claim in sorted(claims.items()):
        beat_path = f"{folder}/{beats[(n, a)][1]}" if (n, a) in beats and (n, a) not in ends else None
        trials.setdefault(n, Trial(n)).attempts.append(Attempt(n, a, claim, None, ends.get((n, a)), beat_path, store))
    return trials


def claim(store: Store, project: str, sweep_id: str, trial: int, attempt: int, params: dict[str, Any],
          ttl: float, extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Create ``<trial>-claim-<attempt>.json``; the claim if this call won it, else None."""
    now = time.time()
    rec = {"trial": trial, "attempt": attempt, "params": params, "by": who(), "claimed_at": now_iso(),
           "expires": now + ttl, "ttl": ttl, **(extra or {})}
    path = f"{trials_folder(project, sweep_id)}/{claim_name(trial, attempt)}"
    if store.create_record(path, rec):
        return store.read_record(path)
    return None


def end(store: Store, project: str, sweep_id: str, trial: int, attempt: int, state: str,
        **fields: Any) -> bool:
    """Create ``<trial>-end-<attempt>.json`` with ``state``; False if another agent ended it first
    (it marked the attempt crashed while this one still ran, say)."""
    if state not in END_STATES:
        raise ValueError(f"unknown trial state {state!r}")
    rec = {"trial": trial, "attempt": attempt, "state": state, "by": who(), "ended_at": now_iso(), **fields}
    return store.create_record(f"{trials_folder(project, sweep_id)}/{end_name(trial, attempt)}", rec)


class Heartbeat:
    """The heartbeat of a claimed attempt: a ``beat`` record renewed every ``ttl / 3`` seconds by
    a background thread (a new record, then the previous one removed). :meth:`stop` removes it."""

    def __init__(self, store: Store, project: str, sweep_id: str, trial: int, attempt: int, ttl: float) -> None:
        self.store, self.ttl = store, float(ttl)
        self.folder = trials_folder(project, sweep_id)
        self.trial, self.attempt = trial, attempt
        self._n = -1
        self._path: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._beat()
        self._thread = threading.Thread(target=self._loop, name="arty-sweep-beat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._n += 1
            path = f"{self.folder}/{beat_name(self.trial, self.attempt, self._n)}"
            self.store.backend.write(path, encode_json({"expires": time.time() + self.ttl, "at": now_iso(),
                                                        "by": who()}))
            previous, self._path = self._path, path
        if previous is not None:
            _delete_quietly(self.store, previous)

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._beat()
            except (ArtyError, OSError):
                pass  # the store is unreachable: try again at the next beat

    def stop(self) -> None:
        """Stop renewing and remove the record (idempotent)."""
        with self._lock:
            self._stop.set()
            path, self._path = self._path, None
        if path is not None:
            _delete_quietly(self.store, path)


def _delete_quietly(store: Store, path: str) -> None:
    try:
        store.backend.delete(path)
    except (FileNotFoundError, ArtyError, OSError):
        pass  # gone already, or the store is unreachable: the record expires
