"""Events: what happened in a store, derived from the records it already holds.

An event is a JSON object with a stable ``id``, a ``type`` and the facts of the record it
comes from. Events are never stored: they are derived again, identically, from the
journal and the records (docs/automations.md, "Events"):

=================  ==============================================  ===========================
type               from                                            id derived from
=================  ==============================================  ===========================
``version.created``  a ``version_created`` journal entry and the     the version record's path
                     version record it names
``alias.moved``      an ``alias_moved`` entry and the alias record   the alias record's path
                     (``by``, ``at``; ``protected`` from
                     ``auth/protected/...``)
``run.finished``     a ``run_finished`` entry and ``final.json`` /   the finish record's path
``run.failed``       ``finishes/<n>`` (its ``state``)
``run.crashed``      the index: a run without a finish whose         the run's folder and its
                     process is gone or silent                       session (``resumes/`` count)
``alert``            a ``run_updated`` entry naming an ``events/``   the event record's path
                     record of kind ``alert`` (``arty.alert``)
=================  ==============================================  ===========================

So a duplicate delivery of one event carries the same id, and two processes deriving
events from the same store agree on every id.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

from arty.artifacts import approvals
from arty.errors import ArtyError, UsageError
from arty.index.records import iso
from arty.store import Store, layout
from arty.store.records import ALIAS, VERSION

#: Every event type, in the order the docs list them.
TYPES = ("version.created", "alias.moved", "run.finished", "run.failed", "run.crashed", "alert")
#: Short names ``--on`` accepts, and the types each stands for.
NAMES: dict[str, tuple[str, ...]] = {
    "version": ("version.created",), "version.created": ("version.created",),
    "alias": ("alias.moved",), "alias.moved": ("alias.moved",),
    "run": ("run.finished", "run.failed", "run.crashed"),
    "run.finished": ("run.finished",), "run.failed": ("run.failed",), "run.crashed": ("run.crashed",),
    "alert": ("alert",), "*": TYPES,
}
ALERT_LEVELS = ("INFO", "WARN", "ERROR")
#: The journal kinds events come from, and the event types each can give.
JOURNAL_KINDS: dict[str, tuple[str, ...]] = {
    "version_created": ("version.created",), "alias_moved": ("alias.moved",),
    "run_finished": ("run.finished", "run.failed"), "run_updated": ("alert",),
}


def event_id(*parts: str) -> str:
    """``ev_`` and 32 hex digits of SHA-256 over ``parts``: the same record, the same id."""
    return "ev_" + hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class Trigger:
    """What an automation (or ``art watch``) listens to: ``EVENT[:FILTER]`` (see :func:`parse_on`)."""

    name: str
    filter: str | None
    types: tuple[str, ...]

    @property
    def spec(self) -> str:
        return self.name if self.filter is None else f"{self.name}:{self.filter}"

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether ``event`` is of one of the types and passes the filter."""
        if event.get("type") not in self.types:
            return False
        if self.filter is None:
            return True
        f = self.filter
        kind = event["type"]
        if kind == "version.created":
            return fnmatch.fnmatchcase(str(event.get("artifact")), f)
        if kind == "alias.moved":
            artifact, sep, alias = f.rpartition(":")
            if sep and not fnmatch.fnmatchcase(str(event.get("artifact")), artifact):
                return False
            return fnmatch.fnmatchcase(str(event.get("alias")), alias)
        if kind == "alert":
            if f.upper() in ALERT_LEVELS:
                return str(event.get("level")).upper() == f.upper()
            return fnmatch.fnmatchcase(str(event.get("title")), f)
        return any(fnmatch.fnmatchcase(str(event.get(k)), f) for k in ("run", "name"))


def parse_on(spec: str) -> Trigger:
    """``EVENT[:FILTER]``: ``version[:ARTIFACT]``, ``alias[:[ARTIFACT:]ALIAS]``,
    ``run[.finished|.failed|.crashed][:RUN]``, ``alert[:LEVEL|TITLE]`` or ``*``; filters are
    globs (``*``, ``?``). :class:`UsageError` for anything else."""
    name, sep, filt = str(spec).strip().partition(":")
    if name not in NAMES:
        raise UsageError(f"unknown event '{name}' in '{spec}'",
                         hint="use version, alias, run, run.finished, run.failed, run.crashed, alert or *, "
                              "optionally with :FILTER (e.g. alias:prod)")
    if sep and not filt:
        raise UsageError(f"empty filter in '{spec}'", hint="leave out the ':' or name what to match, e.g. alias:prod")
    if name == "*" and sep:
        raise UsageError(f"'*' takes no filter ('{spec}')", hint="use an event name with the filter, e.g. alias:prod")
    return Trigger(name, filt if sep else None, NAMES[name])


# -- deriving events --------------------------------------------------------------------------

def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "/" not in value


def is_protected(store: Store, project: str, artifact: str, alias: str) -> bool:
    """Whether the server protects ``alias`` of ``project/artifact`` (its ``auth/protected`` log);
    False where ``auth/`` cannot be read (a store reached through a server)."""
    try:
        return approvals.protection(store, project, artifact, alias)[0]
    except ArtyError:  # a server store does not serve auth/: unknown reads as not protected
        return False


def _read(store: Store, path: str, fields: Any = None) -> dict[str, Any] | None:
    return store.try_record(path, fields)


def from_journal(store: Store, entry: dict[str, Any], wanted: Iterable[str] = TYPES) -> dict[str, Any] | None:
    """The event a journal entry stands for (its record read and checked), or None: an entry of
    another kind, one whose record is missing or bad, or of a type not in ``wanted``."""
    kind = entry.get("kind")
    wanted = set(wanted)
    if not wanted & set(JOURNAL_KINDS.get(str(kind), ())):
        return None
    project = entry.get("project")
    if not _text(project):
        return None
    if kind == "version_created":
        artifact, number = entry.get("artifact"), entry.get("version")
        if not _text(artifact) or not isinstance(number, int) or isinstance(number, bool):
            return None
        path = f"{layout.versions(project, artifact)}/{layout.seq_name(number)}"
        rec = _read(store, path, VERSION)
        if rec is None or rec.get("version") != number:
            return None
        event = {"type": "version.created", "project": project, "artifact": artifact, "version": number,
                 "ref": f"{project}/{artifact}:v{number}", "digest": rec.get("digest"),
                 "artifact_type": rec.get("type"), "size": rec.get("size"), "files": rec.get("files"),
                 "by": rec.get("by"), "at": rec.get("created_at"), "created_by": rec.get("created_by")}
        if isinstance(rec.get("link"), dict):
            event["link"] = rec["link"]
        return {"id": event_id("version", path), **event}
    if kind == "alias_moved":
        artifact, alias, seq = entry.get("artifact"), entry.get("alias"), entry.get("seq")
        if not (_text(artifact) and _text(alias)) or not isinstance(seq, int) or isinstance(seq, bool):
            return None
        path = f"{layout.alias(project, artifact, alias)}/{layout.seq_name(seq)}"
        rec = _read(store, path, ALIAS)
        if rec is None:
            return None
        version = rec.get("version")
        return {"id": event_id("alias", path), "type": "alias.moved", "project": project, "artifact": artifact,
                "alias": alias, "version": version, "seq": seq,
                "ref": f"{project}/{artifact}:v{version}" if isinstance(version, int) else None,
                "by": rec.get("by"), "at": rec.get("at"),
                "protected": is_protected(store, project, artifact, alias)}
    run, rel = entry.get("run"), entry.get("path")
    if not _text(run) or not isinstance(rel, str) or ".." in rel.split("/"):
        return None
    path = f"{layout.run(project, run)}/{rel}"
    if kind == "run_finished" and layout.closes_run(rel):
        rec = _read(store, path)
        if rec is None:
            return None
        state = rec.get("state") or "finished"
        kind_out = "run.failed" if state == "failed" else "run.finished"
        if kind_out not in wanted:
            return None
        first = _read(store, f"{layout.run(project, run)}/{layout.RUN_FIRST}") or {}
        return {"id": event_id("run-end", path), "type": kind_out, "project": project, "run": run,
                "name": first.get("name"), "state": state, "exit_code": rec.get("exit_code"),
                "error": rec.get("error"), "summary": rec.get("summary"), "at": rec.get("finished_at")}
    if kind == "run_updated" and rel.startswith("events/"):
        rec = _read(store, path)
        if rec is None or rec.get("kind") != "alert":
            return None
        return {"id": event_id("alert", path), "type": "alert", "project": project, "run": run,
                "title": rec.get("title"), "text": rec.get("text"), "level": rec.get("level"),
                "at": rec.get("at")}
    return None


def crashed_runs(store: Store, index: Any, projects: Iterable[str]) -> list[dict[str, Any]]:
    """``run.crashed`` events of the runs of ``projects`` the index now shows crashed.

    A crash writes nothing (the process is gone), so it is found by the index's rule
    (:func:`arty.index.records.derive_state`). The id names the run's folder and its session
    (how many ``resumes/`` records it has), so a run resumed and crashed again is a new event.
    """
    out = []
    for project in projects:
        index.sync(project)
        for row in index.runs(project, {"state": "crashed"}):
            run = row["id"]
            full = index.run_row(project, run) or row
            session = len(store.log_seqs(f"{layout.run(project, run)}/{layout.RUN_RESUMES}"))
            folder = layout.run(project, run)
            last = full.get("last_activity")
            out.append({"id": event_id("run-crash", folder, str(session)), "type": "run.crashed",
                        "project": project, "run": run, "name": row.get("name"), "state": "crashed",
                        "session": session, "at": iso(last) if isinstance(last, (int, float)) else row.get("created_at")})
    return out
