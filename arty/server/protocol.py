"""The rules of the store protocol (``/api/store/v1``): which store paths it serves, what role
each operation on a path needs, and what a record must be. Pure functions, no HTTP.

Top-level folders the protocol serves, and the scope their permissions are asked on
(:func:`arty.server.access.require`):

* ``projects/<p>/...``: project ``p`` (read to read; write to create; admin to delete, and to
  create the ``deleted/`` records of ``art rm``; write to replace or delete a sweep's heartbeat);
* ``objects/``, ``journal/``, ``leases/``: the store as a whole (read; write to add; deleting
  objects and journal entries is gc's and needs admin, deleting a lease needs write);
* ``store.json``: read, or admin to create it (``art init``);
* ``quarantine/``: read, admin to add or remove (``art verify --repair``);
* anything else (``auth/``, where users and keys live): never, 404.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from arty.artifacts.names import is_name
from arty.errors import InvalidPath, NotFound, UsageError
from arty.hashing import HEX_LENGTHS
from arty.store import layout, text
from arty.store.backends import TMP_PREFIX
from arty.store.packs import PACKS

#: The longest store path accepted (characters), and the longest part (bytes, as file systems allow).
MAX_PATH = 1024
MAX_PART = 255
#: The largest record (a JSON object) a client may create: version, run, alias, journal records.
MAX_RECORD = 1024 * 1024
#: The largest opaque file a client may create under a run (metric segments, console, saved files).
MAX_FILE = 1024 * 1024 * 1024
#: Top-level names a listing of the store's root may show.
SERVED_ROOTS = (layout.STORE_JSON, layout.OBJECTS, layout.JOURNAL, layout.LEASES, layout.PROJECTS,
                layout.QUARANTINE, PACKS)


@dataclass(frozen=True)
class Scope:
    """What a store path belongs to: ``kind`` (``root``, ``config``, ``objects``, ``journal``,
    ``leases``, ``quarantine``, ``projects``, ``project``) and the project, for ``project``."""

    kind: str
    project: str | None = None
    path: str = ""

    @property
    def parts(self) -> list[str]:
        return self.path.split("/") if self.path else []


def check_path(path: str, *, allow_root: bool = False) -> str:
    """``path`` if it is a clean relative store path: no ``..`` or ``.``, no empty parts, not
    absolute, no backslash or control characters, no temp-file name, not over-long; else
    :class:`InvalidPath` (400)."""
    if path == "" and allow_root:
        return path
    bad = (not path or len(path) > MAX_PATH or path.startswith("/") or "\\" in path
           or any(ord(c) < 32 or ord(c) == 127 for c in path))
    parts = path.split("/")
    if not bad:
        bad = any(p in ("", ".", "..") or p.startswith(TMP_PREFIX) for p in parts)
    if not bad:
        bad = any(len(p.encode("utf-8", "surrogatepass")) > MAX_PART for p in parts)
    if bad:
        raise InvalidPath(f"invalid store path {path[:200]!r}",
                          hint="a relative '/'-separated path without '..', '.', empty parts, backslashes or "
                               f"control characters, at most {MAX_PATH} characters")
    return path


def scope_of(path: str) -> Scope:
    """The :class:`Scope` of a checked store path; :class:`NotFound` for a path the protocol
    does not serve (``auth/``, anything unknown), :class:`InvalidPath` for an invalid project."""
    if path == "":
        return Scope("root", None, path)
    head, _, rest = path.partition("/")
    if head == layout.STORE_JSON and not rest:
        return Scope("config", None, path)
    if head in (layout.OBJECTS, layout.JOURNAL, layout.LEASES, layout.QUARANTINE, PACKS):
        return Scope(head, None, path)
    if head == layout.PROJECTS:
        if not rest:
            return Scope("projects", None, path)
        project = rest.split("/", 1)[0]
        if not is_name(project):
            raise InvalidPath(f"invalid project name {project[:100]!r} in store path",
                              hint="project names are letters, digits, '.', '_' and '-'")
        return Scope("project", project, path)
    raise NotFound(f"store path '{path[:200]}' is not served by this server",
                   hint="the store protocol serves store.json, objects/, packs/ (read only), journal/, "
                        "leases/, quarantine/ and projects/")


def read_role(scope: Scope) -> str:
    """The role reading, listing or checking a path needs (always ``read``)."""
    return "read"


def create_role(scope: Scope) -> str:
    """The role creating a record at a path needs; :class:`UsageError` where nothing is created."""
    if scope.kind == "project":
        parts = scope.parts
        # projects/<p>/artifacts/<name>/deleted/<N>.json: a version deleted ('art rm')
        if len(parts) >= 6 and parts[2] == "artifacts" and parts[4] == "deleted":
            return "admin"
        # projects/<p>/artifacts/<name>/moves/...: pending alias moves and their decisions are
        # written by the server for the person it identified (arty.server.routes_registry)
        if len(parts) >= 5 and parts[2] == "artifacts" and parts[4] == "moves":
            raise UsageError(f"cannot create '{scope.path[:200]}' through the store protocol",
                             hint="alias moves are approved or rejected through the server: "
                                  "'art alias approve|reject', or the registry page")
        return "write"
    if scope.kind in ("journal",):
        return "write"
    if scope.kind in ("config", "quarantine"):
        return "admin"
    raise UsageError(f"cannot create '{scope.path[:200]}' through the store protocol",
                     hint="blobs are uploaded to objects/ (PUT /blob), leases written with PUT /write")


def alias_moved(scope: Scope) -> tuple[str, str] | None:
    """``(artifact, alias)`` when ``scope`` is an alias record
    (``projects/<p>/artifacts/<name>/aliases/<alias>/<seq>.json``: a move or a removal), else None."""
    parts = scope.parts
    if scope.kind == "project" and len(parts) == 7 and parts[2] == "artifacts" and parts[4] == "aliases":
        return parts[3], parts[5]
    return None


#: ``projects/<p>/sweeps/<id>/trials/<N>-beat-<a>-<r>.json``: a sweep agent's heartbeat, a lease
#: of its project (written, replaced and removed by whoever may write to the project).
_HEARTBEAT = re.compile(r"^\d{8}-beat-\d+-\d+\.json$")


def is_heartbeat(scope: Scope) -> bool:
    """Whether ``scope`` is a sweep trial's heartbeat record (see docs/store-format.md, "Sweeps")."""
    parts = scope.parts
    return (scope.kind == "project" and len(parts) == 6 and parts[2] == "sweeps" and parts[4] == "trials"
            and bool(_HEARTBEAT.match(parts[5])))


def is_version_record(scope: Scope) -> bool:
    """Whether ``scope`` is a version record (``projects/<p>/artifacts/<name>/versions/<seq>.json``)."""
    parts = scope.parts
    return scope.kind == "project" and len(parts) == 6 and parts[2] == "artifacts" and parts[4] == "versions"


def delete_role(scope: Scope) -> str:
    """The role deleting a path needs: write for a lease (or a sweep's heartbeat), admin elsewhere."""
    if (scope.kind == "leases" and len(scope.parts) == 2) or is_heartbeat(scope):
        return "write"
    if scope.kind in ("project", "objects", "packs", "journal", "quarantine"):
        return "admin"
    raise UsageError(f"cannot delete '{scope.path[:200]}' through the store protocol",
                     hint="only records, blobs and leases can be deleted")


def blob_hex(path: str, algorithm: str) -> str:
    """The digest's hex named by a blob path ``objects/<2 hex>/<rest>`` of a store hashing with
    ``algorithm``; :class:`InvalidPath` otherwise."""
    parts = path.split("/")
    length = HEX_LENGTHS.get(algorithm, 0)
    if len(parts) == 3 and parts[0] == layout.OBJECTS and len(parts[1]) == 2:
        hexpart = parts[1] + parts[2]
        if len(hexpart) == length and all(c in "0123456789abcdef" for c in hexpart):
            return hexpart
    raise InvalidPath(f"invalid blob path {path[:200]!r}",
                      hint=f"objects/<2 hex>/<rest>: the {algorithm} digest of the bytes, {length} lowercase hex")


def is_record(scope: Scope) -> bool:
    """Whether a created path holds a record (a JSON object, checked and stamped) rather than
    opaque bytes: ``.json`` files, except a run's saved files (``runs/<id>/files/``) and the
    bad records ``art verify --repair`` moves to ``quarantine/``."""
    if scope.kind == "quarantine" or not scope.path.endswith(".json"):
        return False
    parts = scope.parts
    return not (scope.kind == "project" and len(parts) > 5 and parts[2] == "runs" and parts[4] == "files")


def may_be_opaque(scope: Scope) -> bool:
    """Whether a non-record may be created there: a run's segments and saved files, quarantine."""
    parts = scope.parts
    return scope.kind == "quarantine" or (scope.kind == "project" and len(parts) > 5 and parts[2] == "runs")


def check_record(path: str, data: bytes) -> dict[str, Any]:
    """The record ``data`` holds: valid UTF-8 JSON, an object, at most :data:`MAX_RECORD`
    bytes; else :class:`UsageError` naming ``path``. NaN and infinities are accepted, as run
    records may hold them."""
    if len(data) > MAX_RECORD:
        raise UsageError(f"record '{path[:200]}' is too large ({len(data)} bytes, limit {MAX_RECORD})",
                         hint="large content belongs in blobs")
    try:
        rec = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"record '{path[:200]}' is not valid JSON: {str(exc)[:200]}",
                         hint="records are UTF-8 JSON objects") from None
    if not isinstance(rec, dict):
        raise UsageError(f"record '{path[:200]}' is not an object", hint="records are UTF-8 JSON objects")
    return rec


def stamped(scope: Scope, data: bytes, rec: dict[str, Any], name: str | None) -> bytes:
    """The bytes to store for a record created by user ``name`` at ``scope``: a record under
    ``projects/`` gets ``"by": name`` (so that nobody can claim to be someone else); ``data``
    unchanged when ``name`` is None (an open server) or already there. Deterministic, so that
    a create retried with the same bytes compares equal to what the first attempt stored."""
    if name is None or scope.kind != "project" or rec.get("by") == name:
        return data
    return text.dumps({**rec, "by": name}, f"record '{scope.path}'", allow_nan=True)
