"""Edits to a logged version made afterwards: its description, metadata, tags and TTL.

W&B lets these change on a logged version (``artifact.metadata[...] = ...;
artifact.save()``); its files never change. Nothing in the store is
overwritten: each edit is a record in a log of its own per version,
``projects/<project>/artifacts/<name>/edits/<N>/<seq>.json``::

    {"seq": 0, "at": "2026-12-03T10:41:26.752Z", "by": "alice@host",
     "description": "cleaned", "metadata": {"rows": 10}, "tags": ["gold"], "ttl": 86400}

Only the fields edited are present. A field's current value is the one in the
latest edit that has it, else the version record's (``tags`` ``[]`` and ``ttl``
null when never set). Readers (:class:`arty.artifacts.ArtifactVersion`, the
index) apply the edits; each edit is journaled as ``version_edited``.
"""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

from arty.artifacts.names import check_name
from arty.errors import UsageError
from arty.store import Store, layout, now_iso
from arty.store.records import Fields

#: The fields an edit may set.
EDIT_FIELDS = ("description", "metadata", "tags", "ttl")
#: What an edit record must hold (readers skip, and ``art verify`` reports, one that does not).
EDIT: Fields = {"at": str, "by": str, "seq": int}
MAX_DESCRIPTION = 100_000
MAX_TAGS = 256
MAX_TAG = 256


def edits_root(project: str, name: str) -> str:
    """``edits/``: one folder per edited version, named by its number."""
    return f"{layout.artifact(project, name)}/edits"


def edits_folder(project: str, name: str, number: int) -> str:
    return f"{edits_root(project, name)}/{int(number)}"


def _control(text: str, allow_newlines: bool) -> bool:
    allowed = "\n\r\t" if allow_newlines else ""
    return any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in text)


def check_edit(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of an edit, checked and normalised (a ``timedelta`` TTL becomes seconds);
    :class:`UsageError` naming the first bad one. Nothing is written here."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in EDIT_FIELDS:
            raise UsageError(f"cannot edit '{key}' of a logged version", hint="editable: " + ", ".join(EDIT_FIELDS))
        if key == "description":
            if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION
                                      or _control(value, True)):
                raise UsageError("invalid description", hint=f"text of at most {MAX_DESCRIPTION} characters, or None")
        elif key == "metadata":
            if not isinstance(value, dict):
                raise UsageError(f"metadata must be a dict, not {type(value).__name__}")
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"invalid metadata: {exc}", hint="metadata must be JSON: strings, finite numbers, "
                                 "booleans, null, lists, objects") from None
            value = copy.deepcopy(value)
        elif key == "tags":
            if isinstance(value, str) or not isinstance(value, (list, tuple)) or len(value) > MAX_TAGS:
                raise UsageError("tags must be a list of strings", hint=f"at most {MAX_TAGS} of them")
            for t in value:
                if not isinstance(t, str) or not t or len(t) > MAX_TAG or _control(t, False):
                    raise UsageError(f"invalid tag {t!r}", hint=f"non-empty text of at most {MAX_TAG} characters")
            value = list(dict.fromkeys(value))
        elif key == "ttl":
            if isinstance(value, str) and value.lower() == "inherit":  # W&B's ArtifactTTL.INHERIT
                value = None
            if isinstance(value, datetime.timedelta):
                value = int(value.total_seconds())
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise UsageError(f"invalid ttl {value!r}", hint="a datetime.timedelta, whole seconds, None or 'inherit'")
        out[key] = value
    return out


def edit_version(store: Store, project: str, name: str, number: int, fields: dict[str, Any],
                 by: str) -> dict[str, Any]:
    """Append an edit record for version ``number`` of ``project/name`` and journal it; returns the
    record. The fields are checked first (:func:`check_edit`); an edit with none is a UsageError."""
    check_name(name)
    fields = check_edit(fields)
    if not fields:
        raise UsageError("nothing to edit", hint="change " + ", ".join(EDIT_FIELDS))
    rec = {"at": now_iso(), "by": by, **fields}
    seq, stored = store.log_append(edits_folder(project, name, number), lambda s: rec | {"seq": s})
    store.journal("version_edited", project=project, artifact=name, version=int(number), seq=seq)
    return stored


def edited_versions(store: Store, project: str, name: str) -> set[int]:
    """The numbers of the versions of ``project/name`` that have edits (one listing)."""
    out = set()
    for entry in store.list(edits_root(project, name)):
        if entry.isascii() and entry.isdigit():
            out.add(int(entry))
    return out


def version_edits(store: Store, project: str, name: str, number: int) -> list[dict[str, Any]]:
    """The good edit records of a version, oldest first (bad ones skipped with a warning)."""
    return [rec for _, rec in store.log_records(edits_folder(project, name, number), EDIT)]


def apply_edits(record: dict[str, Any], edits: list[dict[str, Any]]) -> dict[str, Any]:
    """The version record with ``edits`` applied (a copy): each field takes its latest edited value;
    ``tags`` and ``ttl`` are always present. A field of the wrong type in an edit is ignored."""
    out = dict(record)
    out.setdefault("tags", [])
    out.setdefault("ttl", None)
    for e in edits:
        for key in EDIT_FIELDS:
            if key in e:
                try:
                    out[key] = check_edit({key: e[key]})[key]
                except UsageError:
                    continue
    return out
