"""The index's SQLite schema.

Migrations are by rebuild: the index is a cache of the store, so a file with
another :data:`SCHEMA_VERSION` (or one that cannot be read) is deleted and
built again from the records.
"""

from __future__ import annotations

import sqlite_utils

#: Bump on any change to the tables below; older index files are then rebuilt.
SCHEMA_VERSION = 2

RUN_COLUMNS: dict[str, type] = {
    "project": str, "id": str, "name": str, "state": str,
    "created_at": str, "finished_at": str, "runtime": float,
    "notes": str, "run_group": str, "job_type": str, "host": str, "pid": int, "pid_since": float, "user": str,
    "tags": str,  # JSON list
    "config": str, "config_raw": str,  # JSON, queryable; faithful copy only when it differs (NaN, inf)
    "summary": str, "summary_raw": str,
    "exit_code": int, "error": str, "mode": str, "git": str, "command": str, "python": str,
    "steps": int, "last_step": int,
    "final": int,  # 1 once final.json was read: nothing but later edits can change the run
    "last_activity": float,  # unix time of the newest record seen (crash detection)
    "events_seq": int, "history_seq": int, "system_seq": int, "console_seq": int,  # highest seq read
    "refreshed_at": float,
}

VERSION_COLUMNS: dict[str, type] = {
    "project": str, "name": str, "version": int, "digest": str, "type": str, "size": int, "files": int,
    "created_by": str, "created_at": str, "description": str, "metadata": str, "by": str,
    # a version linked into a registry: the version it links (docs/registry.md)
    "link_project": str, "link_name": str, "link_version": int,
}

ALIAS_COLUMNS: dict[str, type] = {
    "project": str, "name": str, "alias": str, "version": int, "seq": int, "at": str, "by": str,
}

#: Lineage edges: ``inputs`` (a run used a version) and ``outputs`` (a run logged one) share these.
INPUT_COLUMNS: dict[str, type] = {
    "project": str, "run": str, "artifact_project": str, "artifact": str, "version": int, "digest": str, "at": str,
}

#: The run columns a query returns (the API's fields; bookkeeping left out).
API_COLUMNS = ("project", "id", "name", "state", "created_at", "finished_at", "runtime", "notes", "run_group",
               "job_type", "host", "user", "tags", "config", "config_raw", "summary", "summary_raw", "exit_code",
               "error", "mode", "git", "command", "python", "steps", "last_step")

TABLES = ("meta", "projects", "runs", "artifact_versions", "aliases", "inputs", "outputs", "journal_seen")


def create(db: sqlite_utils.Database) -> None:
    """Create every table and index (in an empty database)."""
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["projects"].create({"name": str}, pk="name")
    db["runs"].create(RUN_COLUMNS, pk=("project", "id"))
    db["runs"].create_index(["project", "created_at", "id"])
    db["runs"].create_index(["id"])
    db.execute("CREATE INDEX runs_unfinished ON runs(project) WHERE final = 0")
    db["artifact_versions"].create(VERSION_COLUMNS, pk=("project", "name", "version"))
    db["artifact_versions"].create_index(["created_by"])
    db["aliases"].create(ALIAS_COLUMNS, pk=("project", "name", "alias"))
    db["inputs"].create(INPUT_COLUMNS, pk=("project", "run", "artifact_project", "artifact", "version"))
    db["inputs"].create_index(["artifact_project", "artifact", "version"])
    db["outputs"].create(INPUT_COLUMNS, pk=("project", "run", "artifact_project", "artifact", "version"))
    db["outputs"].create_index(["artifact_project", "artifact", "version"])
    db["journal_seen"].create({"name": str}, pk="name")
