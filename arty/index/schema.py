"""The index's SQLite schema.

Migrations are by rebuild: the index is a cache of the store, so a file with
another :data:`SCHEMA_VERSION` (or one that cannot be read) is deleted and
built again from the records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arty.index.db import Database

#: Bump on any change to the tables below; older index files are then rebuilt.
SCHEMA_VERSION = 3

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
    "experiment": str,  # the id of the experiment (art repro) the run belongs to
    "git_commit": str,  # the git commit of its code, from run.json's "git"
}

#: One row per experiment (``experiments/<id>.json``); ``steps`` maps each step to the run whose
#: outputs and summary it has (the run that ran, or the earlier one a skipped step reused).
EXPERIMENT_COLUMNS: dict[str, type] = {
    "project": str, "id": str, "name": str, "state": str, "created_at": str, "finished_at": str,
    "exit_code": int, "pipeline": str, "params": str, "sets": str, "steps": str, "actions": str,
    "git_commit": str, "git": str,
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

TABLES = ("meta", "projects", "runs", "artifact_versions", "aliases", "inputs", "outputs", "journal_seen",
          "experiments")


#: SQLite column types of the Python types the column tables above use.
_SQL_TYPES = {str: "TEXT", int: "INTEGER", float: "FLOAT"}


def _table(db: "Database", name: str, columns: dict[str, type], pk: str | tuple[str, ...]) -> None:
    """``CREATE TABLE name`` with ``columns`` and primary key ``pk``."""
    cols = [f"[{c}] {_SQL_TYPES[t]}" + (" PRIMARY KEY" if pk == c else "") for c, t in columns.items()]
    if isinstance(pk, tuple):
        cols.append("PRIMARY KEY (" + ", ".join(f"[{c}]" for c in pk) + ")")
    db.execute(f"CREATE TABLE [{name}] (" + ", ".join(cols) + ")")


def _index(db: "Database", table: str, columns: list[str]) -> None:
    """``CREATE INDEX idx_<table>_<columns>`` on ``columns``."""
    db.execute(f"CREATE INDEX [idx_{table}_{'_'.join(columns)}] ON [{table}] (" + ", ".join(f"[{c}]" for c in columns) + ")")


def create(db: "Database") -> None:
    """Create every table and index (in an empty database)."""
    _table(db, "meta", {"key": str, "value": str}, "key")
    _table(db, "projects", {"name": str}, "name")
    _table(db, "runs", RUN_COLUMNS, ("project", "id"))
    _index(db, "runs", ["project", "created_at", "id"])
    _index(db, "runs", ["id"])
    db.execute("CREATE INDEX runs_unfinished ON runs(project) WHERE final = 0")
    _table(db, "artifact_versions", VERSION_COLUMNS, ("project", "name", "version"))
    _index(db, "artifact_versions", ["created_by"])
    _table(db, "aliases", ALIAS_COLUMNS, ("project", "name", "alias"))
    _table(db, "inputs", INPUT_COLUMNS, ("project", "run", "artifact_project", "artifact", "version"))
    _index(db, "inputs", ["artifact_project", "artifact", "version"])
    _table(db, "outputs", INPUT_COLUMNS, ("project", "run", "artifact_project", "artifact", "version"))
    _index(db, "outputs", ["artifact_project", "artifact", "version"])
    _table(db, "journal_seen", {"name": str}, "name")
    _index(db, "runs", ["project", "experiment"])
    _table(db, "experiments", EXPERIMENT_COLUMNS, ("project", "id"))
    _index(db, "experiments", ["project", "created_at"])
    _index(db, "experiments", ["project", "name"])
