"""Checks on what is read from a store's records before Arty acts on it.

Records are input like any other: anyone who can write to a bucket, or a broken
tool, can put anything in them. A version record names the folder a download
goes to, the version a listing shows and the tree a download reads, so every
version record passes :func:`check_version_record` on its way in: it must be
the record of the folder it is stored in (same project, same name, its
``version`` equal to its sequence number), with names that follow the rules
for names typed by users, a digest that parses, and whole, non-negative sizes.
A record that fails is an :class:`~arty.errors.BadRecord` naming its path
(docs/store-format.md, "What readers check").
"""

from __future__ import annotations

import json
from typing import Any

from arty.artifacts.names import is_name
from arty.errors import ArtyError, BadRecord
from arty.hashing import Digest
from arty.store import Store, layout

_HINT = "the record was altered, or written by a broken tool; 'art verify' lists every bad record"


def is_whole(value: Any) -> bool:
    """A non-negative ``int`` (``bool`` is not a number here)."""
    return type(value) is int and value >= 0


def show(value: Any) -> str:
    """A value from a record as a message shows it: ``'text'``, ``7``, ``null``, shortened."""
    if isinstance(value, str):
        text = f"'{value}'"
    else:
        try:
            text = json.dumps(value, allow_nan=True)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def version_record_problems(rec: Any, project: str, name: str, number: int) -> list[str]:
    """What is wrong with ``rec`` as the record ``versions/<number>.json`` of ``project/name``."""
    if not isinstance(rec, dict):
        return [f"it is a JSON {type(rec).__name__}, not an object"]
    out = []
    if not is_name(project) or not is_name(name):
        out.append(f"its folder '{project}/{name}' is not a valid project/artifact name")
    if rec.get("project") != project:
        out.append(f"its project {show(rec.get('project'))} is not the project '{project}' it is stored in")
    if rec.get("name") != name:
        out.append(f"its name {show(rec.get('name'))} is not the artifact's name '{name}'")
    if type(rec.get("version")) is not int or rec["version"] != number:
        out.append(f"its version {show(rec.get('version'))} is not its sequence number {number}")
    digest = rec.get("digest")
    try:
        if not isinstance(digest, str):
            raise TypeError(digest)
        Digest.parse(digest)
    except (ArtyError, TypeError):
        out.append(f"its digest {show(digest)} does not parse")
    if not is_whole(rec.get("size")):
        out.append(f"its size {show(rec.get('size'))} is not a whole number of bytes")
    if not is_whole(rec.get("files")):
        out.append(f"its file count {show(rec.get('files'))} is not a whole number")
    if not isinstance(rec.get("type"), str):
        out.append(f"its type {show(rec.get('type'))} is not text")
    for key, kind in (("created_at", str), ("created_by", str), ("description", str), ("metadata", dict)):
        if rec.get(key) is not None and not isinstance(rec[key], kind):
            out.append(f"its {key} {show(rec[key])} is not {'text' if kind is str else 'an object'}")
    link = rec.get("link")
    if link is not None and not (isinstance(link, dict) and is_name(link.get("project"))
                                 and is_name(link.get("name")) and is_whole(link.get("version"))):
        out.append(f"its link {show(link)} does not name a version (project, name, version)")
    return out


def check_version_record(store: Store, rec: Any, project: str, name: str, number: int) -> dict[str, Any]:
    """Return ``rec`` if it is a valid record for version ``number`` of ``project/name``,
    else raise :class:`BadRecord` naming the record and every problem."""
    problems = version_record_problems(rec, project, name, number)
    if problems:
        path = f"{layout.versions(project, name)}/{layout.seq_name(number)}"
        raise BadRecord(f"version record '{path}' in store '{store.url}' is invalid: {'; '.join(problems)}",
                            hint=_HINT, path=path)
    return rec


def check_alias_target(store: Store, rec: Any, path: str) -> int | None:
    """The version an alias record points at (None: deleted), or :class:`BadRecord`."""
    if not isinstance(rec, dict):
        problem = f"it is a JSON {type(rec).__name__}, not an object"
    else:
        target = rec.get("version")
        if target is None or is_whole(target):
            return target
        problem = f"its version {show(target)} is not a version number"
    raise BadRecord(f"alias record '{path}' in store '{store.url}' is invalid: {problem}", hint=_HINT, path=path)
