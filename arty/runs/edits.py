"""Edits to a run made after the fact (from the web UI or a script): notes, tags, name.

A run's own process numbers its ``events/`` log, so nothing else may write
there while it runs (its next upload would find the number taken). Edits go
to a log of their own, ``projects/<project>/runs/<run id>/edits/<seq>.json``,
appended with create-if-absent like every log::

    {"seq": 0, "at": "2026-11-27T17:35:26.752Z", "by": "alice", "after_event": 41,
     "notes": "new text", "tags": ["a", "b"], "name": "baseline"}

Only the fields edited are present. ``after_event`` is the highest ``events/``
seq in the store when the edit was made (null: none), so the reader can order
edits and events without trusting clocks: a field's current value is the
latest edit's, unless the run itself recorded that field in an event numbered
above the edit's ``after_event`` (see :mod:`arty.index.records`).
"""

from __future__ import annotations

import getpass
from typing import Any, Sequence

from arty.errors import NotFound, UsageError
from arty.store import Store, layout
from arty.store.store import now_iso

#: The fields an edit may set.
EDIT_FIELDS = ("notes", "tags", "name")
#: Limits on what an edit may hold (a note is text, not a file).
MAX_NOTES = 100_000
MAX_NAME = 256
MAX_TAGS = 256
MAX_TAG = 256


def edits_folder(project: str, run_id: str) -> str:
    return f"{layout.run(project, run_id)}/edits"


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error
        return "unknown"


def _bad_text(text: str, allow_newlines: bool) -> str | None:
    """Why ``text`` cannot be stored as a note, tag or name, or None when it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode (a lone surrogate)"
    allowed = "\n\r\t" if allow_newlines else ""
    if any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in text):
        return "it holds control characters"
    return None


def check_edit(notes: Any = None, tags: Any = None, name: Any = None) -> dict[str, Any]:
    """The fields of an edit, checked: ``notes`` text (newlines and tabs allowed), ``tags`` a
    list of non-blank strings, ``name`` a non-blank string; no control characters, valid
    Unicode, within the MAX_* lengths. Raises :class:`UsageError` naming the field."""
    out: dict[str, Any] = {}
    if notes is not None:
        if not isinstance(notes, str):
            raise UsageError(f"notes must be text, not {type(notes).__name__}")
        if len(notes) > MAX_NOTES:
            raise UsageError(f"notes are too long ({len(notes)} characters)", hint=f"at most {MAX_NOTES}")
        why = _bad_text(notes, allow_newlines=True)
        if why:
            raise UsageError(f"invalid notes: {why}")
        out["notes"] = notes
    if tags is not None:
        if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
            raise UsageError("tags must be a list of strings")
        if len(tags) > MAX_TAGS:
            raise UsageError(f"too many tags ({len(tags)})", hint=f"at most {MAX_TAGS}")
        for t in tags:
            why = _bad_text(t, allow_newlines=False)
            if not t.strip() or len(t) > MAX_TAG or why:
                raise UsageError(f"invalid tag {t[:40]!r}" + (f": {why}" if why else ""),
                                 hint=f"a tag is 1 to {MAX_TAG} characters, not only spaces")
        out["tags"] = list(dict.fromkeys(tags))
    if name is not None:
        why = _bad_text(name, allow_newlines=False) if isinstance(name, str) else None
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or why:
            raise UsageError(f"invalid run name {name!r:.60}" + (f": {why}" if why else ""),
                             hint=f"a name is 1 to {MAX_NAME} characters")
        out["name"] = name
    return out


def edit_run(store: Store, project: str, run_id: str, *, notes: str | None = None,
             tags: Sequence[str] | None = None, name: str | None = None, by: str | None = None
             ) -> dict[str, Any]:
    """Append an edit record to a run's ``edits/`` log and journal it; returns the record.

    Fields left None are not changed. The run must exist (its ``run.json``);
    otherwise :class:`NotFound`. An edit with no field is a :class:`UsageError`.
    """
    fields = check_edit(notes, tags, name)
    if not fields:
        raise UsageError("nothing to edit", hint="give notes, tags or name")
    base = layout.run(project, run_id)
    if not store.exists(f"{base}/run.json"):
        raise NotFound(f"run '{project}/{run_id}' not found", hint="'art runs' lists runs")
    events = store.log_seqs(f"{base}/events")
    rec = {"at": now_iso(), "by": by or _who(), "after_event": events[-1] if events else None, **fields}
    seq, stored = store.log_append(edits_folder(project, run_id), lambda s: rec | {"seq": s})
    store.journal("run_updated", project=project, run=run_id, path=f"edits/{layout.seq_name(seq)}")
    return stored
