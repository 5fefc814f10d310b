"""Alias moves that wait for a second person's approval (docs/store-format.md, "Pending moves").

A protected alias (``art server protect PROJECT NAME:ALIAS --approvals 1``) is not moved by
its first admin: the move is *proposed*, a record created if absent::

    projects/<p>/artifacts/<name>/moves/<move id>/move.json      {"id", "project", "artifact", "alias",
                                                                 "version", "from", "by", "at"}
    projects/<p>/artifacts/<name>/moves/<move id>/decision.json  {"decision", "by", "at"}

and applied when someone else approves it: the decision record (created if absent, so two
approvals racing make one decision) and then the alias record, which names both people
(``"by"``: the approver, ``"proposed_by"``, ``"approved_by"``, ``"move"``). A move is rejected
by someone else, or cancelled by the person who proposed it (``decision`` ``"rejected"`` or
``"cancelled"``); the alias stays where it was. Approving one's own move is refused
(:class:`arty.errors.PermissionDenied`).

Who may propose, approve or reject is the server's business (project admins,
:mod:`arty.server.routes_registry`); these functions only take the names they are given.
"""

from __future__ import annotations

import re
from typing import Any

from arty.artifacts.names import check_alias, check_name
from arty.artifacts.versions import Registry
from arty.errors import ConflictError, NotFound, PermissionDenied, UsageError
from arty.store import Store, layout, now_iso
from arty.store.store import journal_id

MOVES = "moves"
#: Seconds after an approval whose alias record is missing before another approval applies it.
REPAIR_AFTER = 60.0
DECISIONS = ("approved", "rejected", "cancelled")
_MOVE_ID = re.compile(r"^[0-9a-z]{26}$")
#: Which aliases are protected: a log per alias, ``{"protected", "approvals", "by", "at"}``
#: (written by ``art server protect``; docs/store-format.md, ``auth/``).
PROTECTED = "auth/protected"


def protection(store: Store, project: str, artifact: str, alias: str) -> tuple[bool, int]:
    """``(protected, approvals needed)`` of an alias, from the newest record of its
    ``auth/protected`` log (no record, or ``protected`` not true: ``(False, 0)``)."""
    got = store.log_latest(f"{PROTECTED}/{project}/{artifact}/{alias}")
    if got is None or got[1].get("protected") is not True:
        return False, 0
    n = got[1].get("approvals")
    return True, n if type(n) is int and n > 0 else 0


def moves_folder(project: str, name: str) -> str:
    """``projects/<p>/artifacts/<name>/moves``."""
    return f"{layout.artifact(project, name)}/{MOVES}"


def move_record(project: str, name: str, move_id: str) -> str:
    return f"{moves_folder(project, name)}/{move_id}/move.json"


def decision_record(project: str, name: str, move_id: str) -> str:
    return f"{moves_folder(project, name)}/{move_id}/decision.json"


def check_move_id(move_id: str) -> str:
    if not isinstance(move_id, str) or not _MOVE_ID.match(move_id):
        raise UsageError(f"invalid move id {str(move_id)[:40]!r}", hint="26 letters and digits, as 'art alias pending' "
                                                                      "shows")
    return move_id


def propose(store: Store, project: str, name: str, alias: str, version: int, by: str) -> dict[str, Any]:
    """Record a pending move of ``alias`` of ``project/name`` to ``version`` proposed by ``by``;
    returns the move (with ``"state": "pending"``). The version must exist."""
    check_alias(alias)
    reg = Registry(store, project)
    reg.version(name, version)  # must exist and not be deleted
    for _ in range(5):
        move_id = journal_id().lower()
        rec = {"id": move_id, "project": project, "artifact": name, "alias": alias, "version": version,
               "from": reg.alias_target(name, alias), "by": by, "at": now_iso()}
        if store.create_record(move_record(project, name, move_id), rec):
            store.journal("alias_move_proposed", project=project, artifact=name, alias=alias, version=version,
                          move=move_id)
            return rec | {"state": "pending"}
    raise ConflictError("could not pick a new move id", hint="retry")  # pragma: no cover


def _state(store: Store, project: str, name: str, move_id: str) -> dict[str, Any] | None:
    """The move with its decision (``state``: pending or the decision), or None when it is absent or bad."""
    rec = store.try_record(move_record(project, name, move_id))
    if rec is None or rec.get("id") != move_id or not isinstance(rec.get("alias"), str) \
            or type(rec.get("version")) is not int:
        return None
    rec = {k: v for k, v in rec.items() if k != "nonce"}
    decision = store.try_record(decision_record(project, name, move_id))
    if decision is None or decision.get("decision") not in DECISIONS:
        return rec | {"state": "pending"}
    return rec | {"state": decision["decision"], "decided_by": decision.get("by"), "decided_at": decision.get("at")}


def moves(store: Store, project: str, name: str | None = None, alias: str | None = None,
          pending_only: bool = True) -> list[dict[str, Any]]:
    """The moves of ``project`` (of artifact ``name``, of ``alias``), oldest first: only the
    pending ones unless ``pending_only`` is False. Bad records are left out."""
    check_name(project, "project")
    names = [name] if name is not None else store.list(layout.artifacts(project))
    out = []
    for n in names:
        for move_id in store.list(moves_folder(project, n)):
            if not _MOVE_ID.match(move_id):
                continue
            m = _state(store, project, n, move_id)
            if m is None or (alias is not None and m["alias"] != alias):
                continue
            if not pending_only or m["state"] == "pending":
                out.append(m)
    return sorted(out, key=lambda m: (m["id"]))


def find(store: Store, project: str, name: str, alias: str, move_id: str | None) -> dict[str, Any]:
    """The move ``move_id`` of ``alias`` (None: its one pending move). NotFound when there is
    none; :class:`UsageError` when ``move_id`` is None and several are pending."""
    if move_id is not None:
        check_move_id(move_id)
        m = _state(store, project, name, move_id)
        if m is None or m["alias"] != alias:
            raise NotFound(f"no move '{move_id}' of alias '{name}:{alias}' in project '{project}'",
                           hint=f"'art alias pending {project}/{name}:{alias}' lists its pending moves")
        return m
    pending = moves(store, project, name, alias)
    if not pending:
        raise NotFound(f"no pending move of alias '{name}:{alias}' in project '{project}'",
                       hint="'art alias pending' lists every pending move")
    if len(pending) > 1:
        raise UsageError(f"{len(pending)} moves of alias '{name}:{alias}' are pending: "
                         + ", ".join(f"{m['id']} (to v{m['version']} by {m['by']})" for m in pending),
                         hint=f"name one: 'art alias approve {project}/{name}:{alias} MOVE_ID'")
    return pending[0]


def _applied(reg: Registry, move: dict[str, Any]) -> bool:
    return any(r.get("move") == move["id"] for r in reg.alias_history(move["artifact"], move["alias"]))


def approve(store: Store, project: str, name: str, alias: str, move_id: str | None, by: str) -> dict[str, Any]:
    """Approve a pending move (``move_id``, or the alias's one pending move) as ``by`` and apply
    it: the alias record names the proposer and ``by``. Refused (:class:`PermissionDenied`)
    when ``by`` proposed it; :class:`ConflictError` when it was decided already (also by a
    concurrent approval: the decision record is created once). An approved move whose alias
    record is still missing :data:`REPAIR_AFTER` seconds after its decision (its approver
    crashed in between) is applied by the next approval of it. Returns the move."""
    move = find(store, project, name, alias, move_id)
    if move["by"] == by:
        raise PermissionDenied(f"cannot approve move '{move['id']}' of alias '{name}:{alias}': '{by}' proposed it",
                               hint="another admin approves it; 'art alias reject' cancels it")
    reg = Registry(store, project)
    decided = False
    if move["state"] == "pending":
        reg.version(name, move["version"])  # still there: an approval of a deleted version is refused
        decided = store.create_record(decision_record(project, name, move["id"]),
                                      {"decision": "approved", "by": by, "at": now_iso()})
        if not decided:
            move = _state(store, project, name, move["id"]) or move
    elif move["state"] == "approved" and not _applied(reg, move) and _age(move.get("decided_at")) > REPAIR_AFTER:
        decided = True  # the approver crashed before the alias record: apply it now, in its name
    if not decided:
        raise ConflictError(f"move '{move['id']}' of alias '{name}:{alias}' was {move['state']} by "
                            f"{move.get('decided_by')} already", hint=f"'art alias --history {project}/{name} "
                                                                      f"{alias}' shows the alias's moves")
    approver = by if move["state"] == "pending" else move.get("decided_by") or by
    reg.move_alias(name, alias, move["version"], by=approver,
                   extra={"proposed_by": move["by"], "approved_by": approver, "move": move["id"]})
    return move | {"state": "approved", "decided_by": approver}


def _age(at: Any) -> float:
    """Seconds since the ISO time ``at`` (infinite when it does not parse)."""
    import datetime as _dt

    try:
        then = _dt.datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (_dt.datetime.now(_dt.timezone.utc) - then).total_seconds()


def reject(store: Store, project: str, name: str, alias: str, move_id: str | None, by: str) -> dict[str, Any]:
    """Reject a pending move as ``by`` (``cancelled`` when ``by`` proposed it); the alias does
    not move. :class:`ConflictError` when it was decided already. Returns the move."""
    move = find(store, project, name, alias, move_id)
    decision = "cancelled" if move["by"] == by else "rejected"
    if move["state"] != "pending" or not store.create_record(
            decision_record(project, name, move["id"]), {"decision": decision, "by": by, "at": now_iso()}):
        now = _state(store, project, name, move["id"]) or move
        raise ConflictError(f"move '{move['id']}' of alias '{name}:{alias}' was {now['state']} by "
                            f"{now.get('decided_by')} already", hint="'art alias pending' lists the pending moves")
    store.journal("alias_move_decided", project=project, artifact=name, alias=alias, move=move["id"],
                  decision=decision)
    return move | {"state": decision, "decided_by": by}
