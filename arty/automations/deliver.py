"""The deliverer: follows the store and delivers each event to each automation it matches,
at least once (docs/automations.md, "Delivery").

One pass (:meth:`Deliverer.run_once`; ``art automation deliver``; ``art server`` runs one every
:data:`INTERVAL` seconds in a thread):

1. the journal entries after the cursor (:class:`.follow.Follower`) give events; ``run.crashed``
   events come from the index (a crash writes no record);
2. for each automation an event matches (and that existed when the event happened), the
   delivery record ``event.json`` is **created if absent** (:func:`.records.claim`): the one
   deliverer whose create succeeded delivers it; a second server finds it there and does not;
3. only then is the cursor saved (in the machine's cache folder); a deliverer killed before
   that re-reads the same entries, and the create-if-absent makes that harmless;
4. every pending delivery that is due is attempted: its attempts are a log, its end an
   ``outcome.json`` (``delivered``, or ``given_up`` once a retry would fall outside the
   automation's ``give_up_after``). Retries wait ``retry_after`` seconds, doubling, at most
   :data:`.records.MAX_RETRY_AFTER`. A deliverer killed between the claim and the attempt finds
   the claim pending when it starts again (it lists the recent deliveries) and delivers it then;
   a claim of another deliverer that is not attempted within :data:`TAKEOVER` seconds is taken over.

So an event is delivered at least once; a receiver may see it twice (a deliverer killed after
the POST and before the attempt record), always with the same ``X-Arty-Event-Id``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from arty.automations import records, webhook
from arty.automations.events import crashed_runs, parse_on
from arty.automations.follow import Follower, cursor_at, events_of
from arty.index.records import parse_time
from arty.store import Store
from arty.store.store import now_iso

#: Seconds between two passes of a server's deliverer (``ARTY_AUTOMATION_INTERVAL``).
INTERVAL = 2.0
#: Seconds a claim of another deliverer may wait for its first attempt before this one takes it over.
TAKEOVER = 60.0
#: Seconds between two full listings of the pending deliveries (claims of deliverers that died).
RESCAN = 60.0
#: Deliveries attempted at once in a pass.
PARALLEL = 8
#: Clocks of writers may lag the automation's creator by this much (seconds).
SKEW = 5.0


def _env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def _write_json(path: str, obj: Any) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{secrets.token_hex(8)}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def run_command(command: list[str], event: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run ``command`` with the event in its environment (``ARTY_EVENT``: the event as JSON;
    ``ARTY_EVENT_ID``, ``ARTY_EVENT_TYPE``); the attempt's record (``exit_code``, ``ok``, ``error``)."""
    env = {**os.environ, "ARTY_EVENT": json.dumps(event, sort_keys=True), "ARTY_EVENT_ID": str(event.get("id")),
           "ARTY_EVENT_TYPE": str(event.get("type"))}
    start = time.monotonic()
    out: dict[str, Any] = {"command": command, "exit_code": None, "ok": False, "error": None}
    try:
        rc = subprocess.run(command, env=env, timeout=timeout).returncode
        out.update(exit_code=rc, ok=rc == 0, error=None if rc == 0 else f"the command exited with {rc}")
    except FileNotFoundError:
        out["error"] = f"command '{command[0]}' not found"
    except subprocess.TimeoutExpired:
        out["error"] = f"the command ran over {timeout:g} s"
    except OSError as exc:
        out["error"] = f"cannot run the command: {exc.strerror or exc}"
    out["duration_ms"] = int((time.monotonic() - start) * 1000)
    return out


class Deliverer:
    """Delivers the events of ``store`` to its automations (see the module docstring).

    ``actions``: the action kinds this deliverer carries out (a server: ``webhook`` only, it never
    runs commands; ``art automation deliver``: both). ``state_dir`` holds its cursor and its id
    (default: the store's cache folder). ``index``: the index to find crashed runs with (one is
    opened when an automation listens to ``run.crashed``).
    """

    def __init__(self, store: Store, *, actions: tuple[str, ...] = ("webhook",), index: Any = None,
                 state_dir: str | None = None, log: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.actions = actions
        self._index = index
        self.state_dir = state_dir or os.path.join(store.cache_dir(), "automations")
        self.log = log or (lambda message: None)
        self.id = self._identity()
        cursor = _read_json(os.path.join(self.state_dir, "cursor.json"))
        self.follower = Follower(store, cursor.get("cursor", "") if isinstance(cursor, dict) else "")
        #: delivery folder -> automation, of the deliveries known pending
        self._pending: dict[str, dict[str, Any]] = {}
        self._scanned = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _identity(self) -> str:
        """``host/<16 hex>``, kept in the state folder: the same after a restart on this machine,
        so a deliverer that was killed goes on with its own claims at once."""
        path = os.path.join(self.state_dir, "deliverer.json")
        got = _read_json(path)
        if isinstance(got, dict) and isinstance(got.get("id"), str):
            return got["id"]
        ident = f"{socket.gethostname()}/{secrets.token_hex(8)}"
        try:
            _write_json(path, {"id": ident})
        except OSError:
            pass
        return ident

    @property
    def index(self) -> Any:
        if self._index is None:
            from arty.index import Index

            self._index = Index(self.store)
        return self._index

    # -- one pass ----------------------------------------------------------------------------

    def automations(self) -> list[dict[str, Any]]:
        return [a for a in records.list_automations(self.store) if a["action"].get("kind") in self.actions]

    def run_once(self) -> dict[str, int]:
        """One pass: claim the new events' deliveries, then attempt every pending one that is due.
        Returns counts: ``events`` seen, ``claimed``, ``delivered``, ``failed`` attempts, ``given_up``."""
        counts = {"events": 0, "claimed": 0, "delivered": 0, "failed": 0, "given_up": 0}
        autos = self.automations()
        if not autos:
            return counts
        if not self.follower.cursor:
            # a deliverer without a cursor (a new machine): from the oldest automation on, but no
            # further back than the longest retry window (older events would be given up at once)
            oldest = min(parse_time(a.get("created_at")) or 0.0 for a in autos)
            window = max(float(a.get("give_up_after") or records.GIVE_UP_AFTER) for a in autos)
            self.follower.cursor = cursor_at(max(0.0, oldest - SKEW, time.time() - window))
        triggers = {a["id"]: parse_on(a["on"]) for a in autos}
        wanted = {t for tr in triggers.values() for t in tr.types}
        entries = self.follower.poll()
        events = events_of(self.store, entries, wanted)
        if "run.crashed" in wanted:
            projects = sorted({a["project"] for a in autos if "run.crashed" in triggers[a["id"]].types})
            events += crashed_runs(self.store, self.index, [p for p in projects if p in self.index.projects()])
        counts["events"] = len(events)
        for event in events:
            for a in autos:
                if a["project"] != event["project"] or not triggers[a["id"]].matches(event):
                    continue
                when, since = parse_time(event.get("at")), parse_time(a.get("created_at"))
                if when is not None and since is not None and when < since - SKEW:
                    continue  # happened before the automation existed
                base = f"{records.deliveries_folder(a['project'], a['id'])}/{records.delivery_name(event)}"
                if records.claim(self.store, a, event, self.id):
                    counts["claimed"] += 1
                    self._pending[base] = a
        self.follower.done(name for name, _ in entries)
        self._save_cursor()
        self._attempt_due(autos, counts)
        return counts

    def _save_cursor(self) -> None:
        try:
            _write_json(os.path.join(self.state_dir, "cursor.json"), {"cursor": self.follower.cursor})
        except OSError as exc:
            self.log(f"warning: cannot save the automations cursor: {exc}")

    def _rescan(self, autos: list[dict[str, Any]]) -> None:
        """Every pending delivery of the automations, from the deliveries recent enough to matter."""
        now = time.time()
        for a in autos:
            since = now - float(a.get("give_up_after") or records.GIVE_UP_AFTER) - 2 * TAKEOVER - 86400
            base = records.deliveries_folder(a["project"], a["id"])
            low = cursor_at(max(0.0, since))
            for name in self.store.list(base):
                if name[:10] >= low and not self.store.exists(f"{base}/{name}/outcome.json"):
                    self._pending[f"{base}/{name}"] = a
        self._scanned = time.monotonic()

    def _attempt_due(self, autos: list[dict[str, Any]], counts: dict[str, int]) -> None:
        live = {a["id"]: a for a in autos}
        if not self._scanned or time.monotonic() - self._scanned > RESCAN:
            self._rescan(autos)
        due = []
        for base, a in sorted(self._pending.items()):
            if a["id"] not in live:  # removed since
                self._pending.pop(base, None)
                continue
            d = records.delivery(self.store, base)
            if d is None or d["state"] != "pending":
                self._pending.pop(base, None)
                continue
            if self._due(a, d):
                due.append((a, base, d))
        if not due:
            return
        # at once, so that a slow or silent receiver does not hold up the others
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(due)), thread_name_prefix="arty-delivery") as pool:
            states = list(pool.map(lambda job: self._attempt(*job), due))
        for (_, base, _), state in zip(due, states):
            counts["delivered" if state == "delivered" else "failed"] += 1
            if state == "given_up":
                counts["given_up"] += 1
            if state != "pending":
                self._pending.pop(base, None)

    def _due(self, a: dict[str, Any], d: dict[str, Any]) -> bool:
        now = time.time()
        attempts = d["attempts"]
        if not attempts:
            if d.get("claimed_by") == self.id:
                return True
            claimed = parse_time(d.get("claimed_at")) or 0.0
            return now >= claimed + TAKEOVER
        last = attempts[-1]
        wait = backoff(float(a.get("retry_after") or records.RETRY_AFTER), len(attempts))
        if last.get("by") != self.id:
            wait += TAKEOVER
        return now >= (parse_time(last.get("at")) or 0.0) + wait

    def _attempt(self, a: dict[str, Any], base: str, d: dict[str, Any]) -> str:
        """One attempt of a delivery; its state after it (``pending``, ``delivered``, ``given_up``)."""
        n = len(d["attempts"]) + 1
        event = d["event"]
        action = a["action"]
        if action.get("kind") == "webhook":
            secret = records.secret_of(self.store, a["project"], a["id"]) or ""
            result = webhook.post(str(action.get("url")), event, secret, attempt=n)
        else:
            result = run_command([str(c) for c in action.get("command") or []], event)
        result.update(attempt=n, at=now_iso(), by=self.id)
        records.record_attempt(self.store, base, result)
        if result["ok"]:
            records.record_outcome(self.store, base, "delivered", n)
            self.log(f"delivered {event.get('type')} {event.get('id')} to automation {a['id']}")
            return "delivered"
        first = parse_time(d.get("claimed_at")) or time.time()
        following = time.time() + backoff(float(a.get("retry_after") or records.RETRY_AFTER), n)
        if following - first > float(a.get("give_up_after") or records.GIVE_UP_AFTER):
            records.record_outcome(self.store, base, "given_up", n)
            self.log(f"gave up delivering {event.get('id')} to automation {a['id']} after {n} attempts")
            return "given_up"
        return "pending"

    # -- in a thread (art server) ------------------------------------------------------------

    def start(self, interval: float | None = None) -> None:
        """Run a pass every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        every = interval or _env_seconds("ARTY_AUTOMATION_INTERVAL", INTERVAL)

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except Exception as exc:  # noqa: BLE001 - a failing pass is reported and tried again
                    self.log(f"warning: automations: {type(exc).__name__}: {exc}")
                self._stop.wait(every)

        self._thread = threading.Thread(target=loop, name="arty-automations", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def backoff(first: float, attempts: int) -> float:
    """Seconds to wait after attempt number ``attempts``: ``first``, doubling, at most
    :data:`records.MAX_RETRY_AFTER`."""
    return min(first * (2 ** max(0, attempts - 1)), records.MAX_RETRY_AFTER)
