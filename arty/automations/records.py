"""Automations and their deliveries, as records in the store (docs/store-format.md, "automations/").

::

    automations/<project>/<id>/<8-digit seq>.json     log: 0 is the automation, a later record
                                                      {"removed": true, "by", "at"} removes it
    automations/<project>/<id>/secret.json            {"secret"}: the webhook's signing secret
    automations/<project>/<id>/deliveries/<t>-<event id>/
        event.json                                    the event, claimed: created if absent by the
                                                      deliverer that will deliver it
        attempts/<8-digit seq>.json                   log: one record per attempt (status, error, ...)
        outcome.json                                  {"state": "delivered"|"given_up", ...}

``<t>`` is the event's time (10 characters, as journal names), so deliveries list in time order
and a deliverer that starts again lists only the recent ones. ``automations/`` is outside
``projects/``: the store protocol does not serve it, so the secret never leaves the server
through it; the server's API shows automations without their secrets to project admins.
"""

from __future__ import annotations

import re
import secrets as _secrets
import uuid
from typing import Any

from arty.artifacts.names import check_name
from arty.automations.events import parse_on
from arty.automations.webhook import check_url
from arty.errors import NotFound, UsageError
from arty.index.records import parse_time
from arty.store import Store
from arty.store.store import journal_id, now_iso

ROOT = "automations"
#: Seconds after which a webhook that keeps failing is given up (an hour).
GIVE_UP_AFTER = 3600.0
#: Seconds before the first retry; each later retry waits twice as long, up to MAX_RETRY_AFTER.
RETRY_AFTER = 10.0
MAX_RETRY_AFTER = 600.0
ACTIONS = ("webhook", "command")
_ID = re.compile(r"^au_[0-9a-f]{16}$")


def folder(project: str, automation_id: str | None = None) -> str:
    base = f"{ROOT}/{project}"
    return base if automation_id is None else f"{base}/{automation_id}"


def deliveries_folder(project: str, automation_id: str) -> str:
    return f"{folder(project, automation_id)}/deliveries"


def delivery_name(event: dict[str, Any]) -> str:
    """``<10 characters of the event's time>-<event id>``: one per (automation, event)."""
    at = parse_time(event.get("at"))
    ms = int(at * 1000) if at is not None and at > 0 else 0
    return f"{journal_id(ms)[:10]}-{event['id']}"


def new_secret() -> str:
    return "whsec_" + _secrets.token_urlsafe(32)


def add(store: Store, project: str, on: str, *, webhook: str | None = None, command: list[str] | None = None,
        secret: str | None = None, by: str | None = None, give_up_after: float = GIVE_UP_AFTER,
        retry_after: float = RETRY_AFTER, description: str | None = None) -> tuple[dict[str, Any], str | None]:
    """Create an automation of ``project``; returns ``(automation, secret)``.

    A webhook gets ``secret`` (else a new one, returned this once and never again); a
    command needs no secret (``secret`` is None then). The URL is checked: http(s) only.
    """
    check_name(project, "project")
    trigger = parse_on(on)
    if (webhook is None) == (not command):
        raise UsageError("an automation needs one action: a webhook URL or a command",
                         hint="art automation add --on alias:prod --webhook https://ci.example.com/hook")
    if not (give_up_after > 0 and retry_after > 0):
        raise UsageError("--give-up-after and --retry-after must be positive seconds", hint="e.g. --give-up-after 3600")
    if webhook is not None:
        action: dict[str, Any] = {"kind": "webhook", "url": check_url(webhook)}
        secret = secret or new_secret()
        if len(secret) < 16:
            raise UsageError("the webhook secret is too short (under 16 characters)",
                             hint="leave out --secret-from-env for a generated one")
    else:
        action = {"kind": "command", "command": [str(c) for c in command or []]}
        secret = None
    automation_id = "au_" + uuid.uuid4().hex[:16]
    base = folder(project, automation_id)
    if secret is not None:
        store.create_record(f"{base}/secret.json", {"secret": secret})  # before the automation: never one without
    record = {"id": automation_id, "project": project, "on": trigger.spec, "action": action,
              "give_up_after": float(give_up_after), "retry_after": float(retry_after),
              "description": description, "by": by or _who(), "created_at": now_iso()}
    _, rec = store.log_append(base, lambda seq: {**record, "seq": seq})
    return public(rec), secret


def _who() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def public(rec: dict[str, Any]) -> dict[str, Any]:
    """What may be shown of an automation record: never a secret, never the nonce."""
    return {k: v for k, v in rec.items() if k not in ("nonce", "secret", "seq")}


def _load(store: Store, project: str, automation_id: str) -> dict[str, Any] | None:
    recs = store.log_records(folder(project, automation_id))
    if not recs or any(r.get("removed") is True for _, r in recs):
        return None
    first = recs[0][1]
    if first.get("id") != automation_id or first.get("project") != project or not isinstance(first.get("action"), dict):
        return None
    try:
        parse_on(str(first.get("on")))
    except UsageError:
        return None
    return public(first)


def list_automations(store: Store, project: str | None = None) -> list[dict[str, Any]]:
    """The automations of ``project`` (every project when None) that are not removed, oldest first."""
    projects = [project] if project is not None else store.list(ROOT)
    out = []
    for p in projects:
        for automation_id in store.list(folder(p)):
            if _ID.match(automation_id):
                got = _load(store, p, automation_id)
                if got is not None:
                    out.append(got)
    return sorted(out, key=lambda a: (str(a.get("created_at")), a["id"]))


def get(store: Store, project: str, automation_id: str) -> dict[str, Any]:
    """One automation that is not removed; :class:`NotFound` otherwise."""
    got = _load(store, project, automation_id) if _ID.match(automation_id) else None
    if got is None:
        raise NotFound(f"automation '{automation_id}' not found in project '{project}'",
                       hint="'art automation ls' lists them")
    return got


def remove(store: Store, project: str, automation_id: str, by: str | None = None) -> dict[str, Any]:
    """Remove an automation (a ``removed`` record; nothing is deleted). Returns it."""
    got = get(store, project, automation_id)
    store.log_append(folder(project, automation_id),
                     lambda seq: {"removed": True, "by": by or _who(), "at": now_iso(), "seq": seq})
    return got


def secret_of(store: Store, project: str, automation_id: str) -> str | None:
    rec = store.try_record(f"{folder(project, automation_id)}/secret.json")
    value = rec.get("secret") if rec else None
    return value if isinstance(value, str) else None


# -- deliveries -----------------------------------------------------------------------------

def claim(store: Store, automation: dict[str, Any], event: dict[str, Any], deliverer: str) -> bool:
    """Create the delivery record of ``event`` for ``automation`` if absent; True if this call did
    (the caller delivers it), False if one exists (another deliverer has it, or had it)."""
    path = f"{deliveries_folder(automation['project'], automation['id'])}/{delivery_name(event)}/event.json"
    return store.create_record(path, {"event": event, "claimed_by": deliverer, "claimed_at": now_iso()})


def record_attempt(store: Store, base: str, attempt: dict[str, Any]) -> dict[str, Any]:
    _, rec = store.log_append(f"{base}/attempts", lambda seq: {**attempt, "seq": seq})
    return rec


def record_outcome(store: Store, base: str, state: str, attempts: int) -> None:
    store.create_record(f"{base}/outcome.json", {"state": state, "at": now_iso(), "attempts": attempts})


def delivery(store: Store, base: str) -> dict[str, Any] | None:
    """One delivery: ``{"event", "claimed_by", "claimed_at", "attempts": [...], "state"}`` where
    state is ``pending``, ``delivered`` or ``given_up``; None when its event record is missing or bad."""
    rec = store.try_record(f"{base}/event.json")
    if rec is None or not isinstance(rec.get("event"), dict):
        return None
    attempts = [{k: v for k, v in a.items() if k != "nonce"} for _, a in store.log_records(f"{base}/attempts")]
    outcome = store.try_record(f"{base}/outcome.json")
    state = outcome.get("state") if outcome and outcome.get("state") in ("delivered", "given_up") else "pending"
    return {"name": base.rsplit("/", 1)[-1], "event": rec["event"], "claimed_by": rec.get("claimed_by"),
            "claimed_at": rec.get("claimed_at"), "attempts": attempts, "state": state,
            "finished_at": outcome.get("at") if outcome else None}


def deliveries(store: Store, project: str, automation_id: str, since: float | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
    """The deliveries of an automation, newest first; only those of events after ``since``
    (Unix seconds) when given; at most ``limit``."""
    base = deliveries_folder(project, automation_id)
    names = store.list(base)
    if since is not None:
        low = journal_id(max(0, int(since * 1000)))[:10]
        names = [n for n in names if n[:10] >= low]
    names.sort(reverse=True)
    if limit is not None:
        names = names[:limit]
    out = []
    for n in names:
        got = delivery(store, f"{base}/{n}")
        if got is not None:
            out.append(got)
    return out

