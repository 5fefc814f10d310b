"""The SQLite index: a cache of the store's run and artifact records, for fast queries.

It lives in the store's machine-local cache folder (``<store>/cache/index.sqlite``
beside a local store, the user cache for a remote one) and is always
rebuildable from the records alone (:meth:`Index.rebuild`). It stays current
by reading the store's change journal (:meth:`Index.catch_up`): every entry
after the last one seen, re-reading :data:`JOURNAL_WINDOW_MS` back to allow
for writers whose clocks lag, and skipping entries already applied. Journal
entries are hints: each names a run or an artifact, which is then re-read
from its records.

Runs that are not finished are refreshed on every query, because their state
can change with no journal entry at all: a process that dies leaves no record
(see :func:`arty.index.records.derive_state`).

An index file that cannot be read, or that has another schema version, is
deleted and rebuilt; if the file cannot even be created, the index lives in
memory for the session, and so does a copy of one that cannot be written (a
read-only cache or store). None of these is an error for the user.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator


from arty.errors import ArtyError, IntegrityError
from arty.index import experiments as exp_records
from arty.index import records, schema
from arty.index.db import Database
from arty.index.filters import compile_filter, compile_order, regexp
from arty.store import Store, layout
from arty.store.store import journal_id, journal_ms

INDEX_FILE = "index.sqlite"
#: Journal entries this far (ms) before the last one seen are read again (clock skew between writers).
JOURNAL_WINDOW_MS = 5 * 60 * 1000
#: Threads reading records from a remote store.
REMOTE_THREADS = 16


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """True for an error that deleting and rebuilding the file fixes (not for a busy lock)."""
    name = getattr(exc, "sqlite_errorname", "")
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(exc) or "busy" in str(exc):
        return False
    return not _is_read_only(exc)


def _is_read_only(exc: sqlite3.DatabaseError) -> bool:
    """True for a write refused because the file (or its folder) cannot be written."""
    return getattr(exc, "sqlite_errorname", "").startswith("SQLITE_READONLY") or "readonly database" in str(exc)


class Index:
    """The index of one store. Thread-safe; several processes may share the file."""

    def __init__(self, store: Store, path: str | None = None) -> None:
        self.store = store
        self.path = path or os.path.join(store.cache_dir(), INDEX_FILE)
        self._lock = threading.RLock()
        # Remote stores: runs are loaded on one pool, and their records read on another, so that a
        # task waiting for its reads never holds the thread those reads need.
        self._run_pool: ThreadPoolExecutor | None = None
        self._read_pool: ThreadPoolExecutor | None = None
        #: (window start, entries, newest name) of the journal's listing when this process last caught up
        #: fully: entries are never removed, so an equal listing means nothing new.
        self._journal_listing: tuple[str, int, str] | None = None
        self.db: Database = self._open()

    # -- opening, and recovering from a bad file --------------------------------------------------

    def _connect(self, path: str) -> Database:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        db = Database(conn)
        db.register_function(regexp, deterministic=True)
        conn.execute("PRAGMA synchronous = NORMAL")
        return db

    def _open(self) -> Database:
        """Open the file, creating or recreating it when absent, unreadable or of another version."""
        if self.path != ":memory:":
            try:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            except OSError:
                return self._memory()
        for _attempt in range(2):
            try:
                db = self._connect(self.path)
                if self._usable(db):
                    return db
                db.conn.close()
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise ArtyError(f"the index '{self.path}' is locked by another process: {exc}",
                                    hint="try again; 'art index rebuild' if it persists") from None
            if not self._delete_file():
                break
        return self._memory()

    def _memory(self) -> Database:
        self.path = ":memory:"
        db = self._connect(":memory:")
        self._usable(db)
        return db

    def _usable(self, db: Database) -> bool:
        """Whether ``db`` has this schema (an empty file gets it now)."""
        tables = set(db.table_names())
        if not tables:
            db.execute("BEGIN IMMEDIATE")
            try:
                if not db.table_names():
                    schema.create(db)
                    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(schema.SCHEMA_VERSION)])
                    db.execute("INSERT INTO meta VALUES ('store', ?)", [self._store_identity()])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return True
        if not set(schema.TABLES) <= tables:
            return False
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema_version") != str(schema.SCHEMA_VERSION):
            return False
        if meta.get("store") != self._store_identity():
            return False
        db.execute("SELECT count(*) FROM runs").fetchone()
        return True

    def _store_identity(self) -> str:
        return f"{self.store.url} {self.store.config.get('created_at', '')}"

    def _delete_file(self) -> bool:
        if self.path == ":memory:":
            return False
        ok = True
        for suffix in ("", "-journal", "-wal", "-shm"):
            try:
                os.unlink(self.path + suffix)
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
        return ok

    def _recover(self) -> None:
        """Replace a damaged file with a fresh one, rebuilt from the store."""
        with contextlib.suppress(Exception):
            self.db.conn.close()
        self._delete_file()
        self.db = self._open()
        self._rebuild()

    def _to_memory(self) -> None:
        """Go on with a copy of the file in memory: it can be read but not written (a read-only
        cache folder or store), and queries still need to catch up with the store."""
        memory = self._connect(":memory:")
        try:
            self.db.conn.backup(memory.conn)
        except sqlite3.Error:
            memory.conn.close()
            memory = None
        with contextlib.suppress(Exception):
            self.db.conn.close()
        if memory is None:
            self.db = self._memory()
            self._rebuild()
        else:
            self.path = ":memory:"
            self.db = memory

    def _guarded(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn``; if the file turns out to be damaged, recreate it, rebuild and run again;
        if it cannot be written, go on in memory from a copy of it."""
        with self._lock:
            try:
                return fn(*args, **kwargs)
            except sqlite3.DatabaseError as exc:
                if _is_read_only(exc) and self.path != ":memory:":
                    self._to_memory()
                    return fn(*args, **kwargs)
                if not _is_corruption(exc):
                    raise ArtyError(f"the index '{self.path}' is locked by another process: {exc}",
                                    hint="try again; 'art index rebuild' if it persists") from None
                self._recover()
                return fn(*args, **kwargs)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(Exception):
                self.db.conn.close()
            for pool in (self._run_pool, self._read_pool):
                if pool is not None:
                    pool.shutdown(wait=False)
            self._run_pool = self._read_pool = None

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- reading the store --------------------------------------------------------------------------

    def _reader(self) -> records.Reader:
        if self.store.is_local:
            return records.Reader(self.store)
        if self._read_pool is None:
            self._read_pool = ThreadPoolExecutor(REMOTE_THREADS, thread_name_prefix="arty-index-read")
        return records.Reader(self.store, self._read_pool.map)

    def _map(self, fn: Any, items: list[Any]) -> list[Any]:
        if not items:
            return []
        if self.store.is_local or len(items) == 1:
            # A few threads still help a local store: listing and reading release the GIL.
            if len(items) < 32:
                return [fn(x) for x in items]
            with ThreadPoolExecutor(4) as pool:
                return list(pool.map(fn, items))
        if self._run_pool is None:
            self._run_pool = ThreadPoolExecutor(REMOTE_THREADS, thread_name_prefix="arty-index-run")
        return list(self._run_pool.map(fn, items))

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    # -- rebuild ------------------------------------------------------------------------------------

    def rebuild(self) -> dict[str, int]:
        """Empty the index and read every run and artifact record of the store again.

        Returns counts: ``projects``, ``runs``, ``versions``, ``aliases``, ``inputs``, ``outputs``.
        """
        return self._guarded(self._rebuild)

    def _rebuild(self) -> dict[str, int]:
        journal = self._journal_names()  # listed first: anything journaled after this is caught up later
        reader = self._reader()
        projects = [p for p in self.store.list(layout.PROJECTS) if not p.startswith(".")]
        run_keys = [(p, r) for p in projects for r in self.store.list(layout.project(p) + "/runs")
                    if not r.startswith(".")]
        art_keys = [(p, a) for p in projects for a in self.store.list(layout.artifacts(p)) if not a.startswith(".")]

        def load(key: tuple[str, str]) -> tuple[dict[str, Any] | None, dict[str, list[dict[str, Any]]]]:
            row = _load_run(reader, key, None)
            return row, _edges(reader, key, row)

        def load_art(key: tuple[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return records.load_versions(reader, *key, known=self._deleted(*key)), records.load_aliases(reader, *key)

        runs = self._map(load, run_keys)
        arts = self._map(load_art, art_keys)
        exp_rows = [row for p in projects
                    for row in exp_records.load_experiments(reader, p, exp_records.list_experiments(reader, p))]
        run_rows = [r for r, _ in runs if r is not None]
        edge_rows = {kind: [e for _, edges in runs for e in edges[kind]] for kind in records.EDGES}
        version_rows = [v for vs, _ in arts for v in vs]
        alias_rows = [a for _, als in arts for a in als]
        with self._write() as conn:
            for table in ("projects", "runs", "artifact_versions", "aliases", *records.EDGES, "journal_seen",
                          "experiments"):
                conn.execute(f"DELETE FROM {table}")
            _insert(conn, "experiments", schema.EXPERIMENT_COLUMNS, exp_rows)
            conn.executemany("INSERT INTO projects VALUES (?)", [(p,) for p in projects])
            _insert(conn, "runs", schema.RUN_COLUMNS, run_rows)
            for kind in records.EDGES:
                _insert(conn, kind, schema.INPUT_COLUMNS, edge_rows[kind])
            _insert(conn, "artifact_versions", schema.VERSION_COLUMNS, version_rows)
            _insert(conn, "aliases", schema.ALIAS_COLUMNS, alias_rows)
            self._mark_journal(conn, journal, journal)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('built_at', ?)", [records.iso(time.time())])
        self._journal_listing = None
        return {"projects": len(projects), "runs": len(run_rows), "versions": len(version_rows),
                "aliases": len(alias_rows), "inputs": len(edge_rows["inputs"]), "outputs": len(edge_rows["outputs"])}

    def _journal_names(self) -> list[str]:
        return sorted(n for n in self.store.backend.list(layout.JOURNAL) if n.endswith(".json"))

    def _mark_journal(self, conn: sqlite3.Connection, names: list[str], applied: list[str]) -> None:
        """Record ``applied`` as seen, move the cursor to the newest of ``names``, forget what is out of reach."""
        cursor = self._meta("journal_cursor") or ""
        newest = max([cursor, *names[-1:]])
        low = self._window_start(newest)
        conn.executemany("INSERT OR IGNORE INTO journal_seen VALUES (?)", [(n,) for n in applied if n > low])
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('journal_cursor', ?)", [newest])
        conn.execute("DELETE FROM journal_seen WHERE name <= ?", [low])

    @staticmethod
    def _window_start(cursor: str) -> str:
        """Journal names above this may still be new (the window before the cursor)."""
        if not cursor:
            return ""
        ms = journal_ms(cursor)
        if ms is None:
            return ""
        return journal_id(max(0, ms - JOURNAL_WINDOW_MS))[:10]

    # -- catch-up -----------------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        with self._lock:
            return self._guarded(lambda: self._meta("built_at") is not None)

    def catch_up(self) -> dict[str, int]:
        """Apply the journal entries not seen yet (a first call builds the index).

        Returns counts: ``entries`` applied, ``runs`` and ``artifacts`` refreshed.
        """
        return self._guarded(self._catch_up)

    def _catch_up(self) -> dict[str, int]:
        if self._meta("built_at") is None:
            counts = self._rebuild()
            return {"entries": 0, "runs": counts["runs"], "artifacts": counts["versions"], "rebuilt": 1}
        low = self._window_start(self._meta("journal_cursor") or "")
        # Only the names after the window's start can be new: a backend that can start a listing
        # there (a server, S3) does not send the whole journal each time.
        raw = [n for n in self.store.backend.list_after(layout.JOURNAL, low) if n.endswith(".json")]
        listing = (low, len(raw), max(raw) if raw else "")
        if listing == self._journal_listing:
            return {"entries": 0, "runs": 0, "artifacts": 0}  # nothing was journaled since this process caught up
        names = sorted(raw)
        candidates = [n for n in names if n > low]
        seen = {r[0] for r in self.db.execute("SELECT name FROM journal_seen WHERE name > ?", [low])}
        new = [n for n in candidates if n not in seen]
        if not new:
            self._journal_listing = listing
            return {"entries": 0, "runs": 0, "artifacts": 0}
        reader = self._reader()
        entries = reader.records([f"{layout.JOURNAL}/{n}" for n in new], quiet=True)
        runs: set[tuple[str, str]] = set()
        arts: set[tuple[str, str]] = set()
        exps: set[tuple[str, str]] = set()
        edited: dict[tuple[str, str], set[int]] = {}
        for e in entries:
            if not e:
                continue
            project = e.get("project")
            if not isinstance(project, str) or not project or "/" in project:
                continue
            if isinstance(e.get("run"), str) and e["run"] and "/" not in e["run"]:
                runs.add((project, e["run"]))
            if isinstance(e.get("experiment"), str) and e["experiment"] and "/" not in e["experiment"]:
                exps.add((project, e["experiment"]))
            if isinstance(e.get("artifact"), str) and e["artifact"] and "/" not in e["artifact"]:
                arts.add((project, e["artifact"]))
                if e.get("kind") == "version_edited" and isinstance(e.get("version"), int):
                    edited.setdefault((project, e["artifact"]), set()).add(e["version"])
        self._refresh(sorted(runs), sorted(arts), names, new, edited, sorted(exps))
        self._journal_listing = listing
        return {"entries": len(new), "runs": len(runs), "artifacts": len(arts)}

    def _refresh(self, runs: list[tuple[str, str]], arts: list[tuple[str, str]],
                 journal: list[str] | None = None, applied: list[str] | None = None,
                 edited: dict[tuple[str, str], set[int]] | None = None,
                 exps: list[tuple[str, str]] = ()) -> list[dict[str, Any]]:  # type: ignore[assignment]
        """Re-read runs, artifacts and experiments from their records and store them; returns the
        run rows. Versions already indexed are not read again, except those in ``edited``."""
        reader = self._reader()
        exp_rows = [row for p, e in exps for row in exp_records.load_experiments(reader, p, [e])]
        prev = {(r["project"], r["id"]): r for r in self._rows_for(runs)}
        known: dict[tuple[str, str], set[int]] = {}
        for p, a in arts:
            known[(p, a)] = {r[0] for r in self.db.execute(
                "SELECT version FROM artifact_versions WHERE project = ? AND name = ?", [p, a])}
            known[(p, a)] -= (edited or {}).get((p, a), set())

        def load(key: tuple[str, str]
                 ) -> tuple[tuple[str, str], dict[str, Any] | None, dict[str, list[dict[str, Any]]]]:
            row = _load_run(reader, key, prev.get(key))
            return key, row, _edges(reader, key, row)

        def load_art(key: tuple[str, str]) -> tuple[tuple[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
            gone = deleted[key] = self._deleted(*key)
            versions = records.load_versions(reader, *key, known=known[key] | gone)
            return key, versions, records.load_aliases(reader, *key)

        deleted: dict[tuple[str, str], set[int]] = {}

        loaded = self._map(load, runs)
        loaded_arts = self._map(load_art, arts)
        out = []
        with self._write() as conn:
            projects = {k[0] for k, row, _ in loaded if row is not None}
            projects |= {k[0] for k, versions, _ in loaded_arts if versions}
            projects |= {r["project"] for r in exp_rows}
            _insert(conn, "experiments", schema.EXPERIMENT_COLUMNS, exp_rows)
            conn.executemany("INSERT OR IGNORE INTO projects VALUES (?)", [(p,) for p in projects])
            for (p, r), row, edges in loaded:
                for kind in records.EDGES:
                    conn.execute(f"DELETE FROM {kind} WHERE project = ? AND run = ?", [p, r])
                if row is None:
                    conn.execute("DELETE FROM runs WHERE project = ? AND id = ?", [p, r])
                    continue
                _insert(conn, "runs", schema.RUN_COLUMNS, [row])
                for kind in records.EDGES:
                    _insert(conn, kind, schema.INPUT_COLUMNS, edges[kind])
                out.append(row)
            for (p, a), versions, aliases in loaded_arts:
                _insert(conn, "artifact_versions", schema.VERSION_COLUMNS, versions)
                conn.executemany("DELETE FROM artifact_versions WHERE project = ? AND name = ? AND version = ?",
                                 [(p, a, n) for n in sorted(deleted.get((p, a), ()))])
                conn.execute("DELETE FROM aliases WHERE project = ? AND name = ?", [p, a])
                _insert(conn, "aliases", schema.ALIAS_COLUMNS, aliases)
            if journal is not None:
                self._mark_journal(conn, journal, applied or [])
        return out

    def _deleted(self, project: str, name: str) -> set[int]:
        """Versions of an artifact deleted with ``art rm`` (``deleted/<N>.json`` records)."""
        seqs = (layout.parse_seq(n) for n in self.store.list(layout.deleted(project, name)))
        return {n for n in seqs if n is not None}

    def _rows_for(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        out = []
        for p, r in keys:
            out.extend(self.db.query("SELECT * FROM runs WHERE project = ? AND id = ?", [p, r]))
        return out

    def refresh_run(self, project: str, run_id: str) -> dict[str, Any] | None:
        """Re-read one run from the store (also one the journal never named); its row, or None."""
        def go() -> dict[str, Any] | None:
            rows = self._refresh([(project, run_id)], [])
            return rows[0] if rows else None
        return self._guarded(go)

    def refresh_unfinished(self, project: str | None = None) -> int:
        """Re-read the runs still going and re-derive the state of every unfinished run.

        A run seen running is read again (new segments, events, ``final.json``);
        one already shown crashed is only re-derived (a resume or a late upload
        journals and is caught up). Returns the number of runs re-read.
        """
        return self._guarded(self._refresh_unfinished, project)

    def _refresh_unfinished(self, project: str | None) -> int:
        where, params = ("final = 0", []) if project is None else ("final = 0 AND project = ?", [project])
        rows = list(self.db.query(f"SELECT * FROM runs WHERE {where}", params))
        if not rows:
            return 0
        now = time.time()
        going = [(r["project"], r["id"]) for r in rows if records.derive_state(r, now) == "running"]
        if going:
            self._refresh(going, [])
        changed = []
        for r in self.db.query(f"SELECT project, id, state, host, pid, pid_since, last_activity, final "
                               f"FROM runs WHERE {where}", params):
            state = records.derive_state(r, now)
            if state != r["state"]:
                changed.append((state, r["project"], r["id"]))
        if changed:
            with self._write() as conn:
                conn.executemany("UPDATE runs SET state = ? WHERE project = ? AND id = ?", changed)
        return len(going)

    # -- queries ------------------------------------------------------------------------------------

    def sync(self, project: str | None = None) -> None:
        """Make the index current for a query: catch up, then refresh unfinished runs."""
        def go() -> None:
            self._catch_up()
            self._refresh_unfinished(project)
        self._guarded(go)

    def runs(self, project: str | None, filters: dict[str, Any] | None = None, order: Any = "-created_at",
             limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Rows of the runs of ``project`` (every project when None) matching ``filters``, in ``order``.

        Does not catch up first; see :meth:`sync`.
        """
        cond, params = compile_filter(filters)
        order_sql = compile_order(order)
        sql = f"SELECT {', '.join(schema.API_COLUMNS)} FROM runs WHERE {cond}"
        if project is not None:
            sql += " AND project = ?"
            params = [*params, project]
        sql += f" ORDER BY {order_sql}"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params = [*params, -1 if limit is None else int(limit), int(offset)]
        return self._guarded(lambda: list(self.db.query(sql, params)))

    def count_runs(self, project: str | None, filters: dict[str, Any] | None = None) -> int:
        """How many runs of ``project`` (every project when None) match ``filters``."""
        cond, params = compile_filter(filters)
        sql = f"SELECT count(*) FROM runs WHERE {cond}"
        if project is not None:
            sql += " AND project = ?"
            params = [*params, project]
        return self._guarded(lambda: self.db.execute(sql, params).fetchone()[0])

    def json_paths(self, project: str, column: str, final: bool | None = None,
                   skip_job_type: str | None = None) -> list[str]:
        """The leaf paths (``$.a.b``, as SQLite's ``json_tree`` writes them) in the ``config`` or
        ``summary`` of the runs of ``project``: values that are not objects, outside any list.
        ``final`` True or False keeps only the finished (or only the unfinished) runs;
        ``skip_job_type`` leaves out the runs of that job type."""
        if column not in ("config", "summary"):
            raise ValueError(column)
        where = "" if final is None else f" AND runs.final {'!=' if final else '='} 0"
        params: list[Any] = [project]
        if skip_job_type is not None:
            where += " AND coalesce(runs.job_type, '') != ?"
            params.append(skip_job_type)
        sql = (f"SELECT DISTINCT t.fullkey FROM runs, json_tree(runs.{column}) AS t "
               f"WHERE runs.project = ?{where} AND t.type != 'object' AND typeof(t.key) = 'text' "
               "AND instr(t.path, '[') = 0 ORDER BY 1")
        return self._guarded(lambda: [r[0] for r in self.db.execute(sql, params)])

    def varying_paths(self, project: str, column: str, filters: dict[str, Any] | None = None) -> list[str]:
        """The leaf paths (as :meth:`json_paths` gives them) of ``column`` whose values differ
        between the runs of ``project`` matching ``filters``: at least two distinct values among
        the runs that have the key (a key some runs lack is not counted as varying for that)."""
        if column not in ("config", "summary"):
            raise ValueError(column)
        cond, params = compile_filter(filters)
        sql = (f"SELECT t.fullkey FROM (SELECT {column} AS doc FROM runs WHERE ({cond}) AND project = ?) AS r, "
               "json_tree(r.doc) AS t WHERE t.type NOT IN ('object', 'array') AND typeof(t.key) = 'text' "
               "AND instr(t.path, '[') = 0 GROUP BY t.fullkey "
               "HAVING count(DISTINCT t.type || ':' || coalesce(quote(t.atom), '')) > 1 ORDER BY 1")
        return self._guarded(lambda: [r[0] for r in self.db.execute(sql, [*params, project])])

    def finished_signature(self, project: str) -> tuple[int, float | None]:
        """``(count, newest refresh time)`` of the finished runs of ``project``: it changes
        whenever one of them is added, re-read or removed."""
        sql = "SELECT count(*), max(refreshed_at) FROM runs WHERE project = ? AND final != 0"
        return self._guarded(lambda: tuple(self.db.execute(sql, [project]).fetchone()))

    def run_row(self, project: str, run_id: str) -> dict[str, Any] | None:
        rows = self._guarded(lambda: self._rows_for([(project, run_id)]))
        return rows[0] if rows else None

    def run_ids(self, project: str) -> list[str]:
        return self._guarded(lambda: [r[0] for r in self.db.execute(
            "SELECT id FROM runs WHERE project = ? ORDER BY created_at DESC", [project])])

    def projects_with_run(self, run_id: str) -> list[str]:
        """The projects that have a run with id ``run_id``, by name."""
        return self._guarded(lambda: [r[0] for r in self.db.execute(
            "SELECT project FROM runs WHERE id = ? ORDER BY project", [run_id])])

    def runs_named(self, project: str, name: str) -> list[dict[str, Any]]:
        return self._guarded(lambda: list(self.db.query(
            "SELECT * FROM runs WHERE project = ? AND name = ? ORDER BY created_at DESC", [project, name])))

    def projects(self) -> list[str]:
        return self._guarded(lambda: [r[0] for r in self.db.execute("SELECT name FROM projects ORDER BY name")])

    def project_stats(self) -> list[dict[str, Any]]:
        """Per project: ``name``, ``runs``, ``artifacts`` (names with a version) and
        ``last_activity`` (unix time of its newest run record, or None), by name."""
        sql = ("SELECT p.name AS name, "
               "(SELECT count(*) FROM runs r WHERE r.project = p.name) AS runs, "
               "(SELECT count(DISTINCT v.name) FROM artifact_versions v WHERE v.project = p.name) AS artifacts, "
               "(SELECT max(r.last_activity) FROM runs r WHERE r.project = p.name) AS last_activity, "
               "(SELECT max(v.created_at) FROM artifact_versions v WHERE v.project = p.name) AS last_version "
               "FROM projects p ORDER BY p.name")
        return self._guarded(lambda: list(self.db.query(sql)))

    def outputs(self, project: str, run_id: str) -> list[dict[str, Any]]:
        """Artifact versions the run logged: its ``outputs/`` records, and versions whose
        ``created_by`` is the run (in its project); each once, in ``(project, name, version)`` order."""
        sql = ("SELECT artifact_project AS project, artifact AS name, version FROM outputs "
               "WHERE project = ? AND run = ? "
               "UNION SELECT project, name, version FROM artifact_versions WHERE project = ? AND created_by = ? "
               "ORDER BY 1, 2, 3")
        return self._guarded(lambda: list(self.db.query(sql, [project, run_id, project, run_id])))

    def inputs(self, project: str, run_id: str) -> list[dict[str, Any]]:
        """The run's input edges (versions it used), in ``(project, name, version)`` order."""
        return self._guarded(lambda: list(self.db.query(
            "SELECT * FROM inputs WHERE project = ? AND run = ? ORDER BY artifact_project, artifact, version",
            [project, run_id])))

    def consumers(self, project: str, name: str, version: int) -> list[dict[str, Any]]:
        """Input edges pointing at one artifact version (the runs that used it)."""
        return self._guarded(lambda: list(self.db.query(
            "SELECT * FROM inputs WHERE artifact_project = ? AND artifact = ? AND version = ? ORDER BY project, run",
            [project, name, version])))

    def producers(self, project: str, name: str, version: int) -> list[dict[str, Any]]:
        """Runs that logged one artifact version: ``outputs/`` edges and its ``created_by``, as
        ``{"project", "run"}`` rows."""
        sql = ("SELECT project, run FROM outputs WHERE artifact_project = ? AND artifact = ? AND version = ? "
               "UNION SELECT project, created_by FROM artifact_versions "
               "WHERE project = ? AND name = ? AND version = ? AND created_by IS NOT NULL ORDER BY 1, 2")
        return self._guarded(lambda: list(self.db.query(sql, [project, name, version, project, name, version])))

    def versions(self, project: str | None = None) -> list[dict[str, Any]]:
        where, params = ("", []) if project is None else (" WHERE project = ?", [project])
        return self._guarded(lambda: list(self.db.query(
            f"SELECT * FROM artifact_versions{where} ORDER BY project, name, version", params)))

    def aliases(self, project: str | None = None) -> list[dict[str, Any]]:
        where, params = ("", []) if project is None else (" WHERE project = ?", [project])
        return self._guarded(lambda: list(self.db.query(
            f"SELECT * FROM aliases{where} ORDER BY project, name, alias", params)))

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every table's rows, in a stable order, for comparisons.

        Bookkeeping is left out: when each run was refreshed, the highest
        sequence numbers read, and for finished runs the time of the newest
        record seen (which depends on what was read while the run was going).
        """
        skip = {"refreshed_at", "events_seq", "history_seq", "system_seq", "console_seq"}

        def go() -> dict[str, list[dict[str, Any]]]:
            out = {}
            for table, pk in (("projects", "name"), ("runs", "project, id"),
                              ("artifact_versions", "project, name, version"), ("aliases", "project, name, alias"),
                              ("inputs", "project, run, artifact_project, artifact, version"),
                              ("outputs", "project, run, artifact_project, artifact, version")):
                out[table] = [{k: v for k, v in r.items()
                               if k not in skip and not (k == "last_activity" and r.get("final"))}
                              for r in self.db.query(f"SELECT * FROM {table} ORDER BY {pk}")]
            return out
        return self._guarded(go)


def _load_run(reader: records.Reader, key: tuple[str, str], prev: dict[str, Any] | None
              ) -> dict[str, Any] | None:
    """A run's row; a run whose ``run.json`` (or a segment) cannot be read is left out of the index,
    with a warning. A record of unexpected shape is bad data too, not a reason to fail the index."""
    try:
        return records.load_run(reader, key[0], key[1], prev)
    except IntegrityError as exc:
        problem = exc.message
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
        problem = f"a record has an unexpected shape ({type(exc).__name__}: {exc})"
    warnings.warn(f"arty: run '{key[0]}/{key[1]}' left out of the index: {problem}", RuntimeWarning, stacklevel=2)
    return None


def _edges(reader: records.Reader, key: tuple[str, str], row: dict[str, Any] | None
           ) -> dict[str, list[dict[str, Any]]]:
    if row is None:
        return {kind: [] for kind in records.EDGES}
    return {kind: records.load_edges(reader, key[0], key[1], kind) for kind in records.EDGES}


def _insert(conn: sqlite3.Connection, table: str, columns: dict[str, type], rows: list[dict[str, Any]]) -> None:
    """Insert (or replace) ``rows``; a row SQLite cannot hold (an integer beyond 64 bits, text that
    is not valid Unicode, a nested value) is left out with a warning naming it, not the others."""
    if not rows:
        return
    names = list(columns)
    sql = (f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) "
           f"VALUES ({', '.join('?' for _ in names)})")
    values = [tuple(r.get(n) for n in names) for r in rows]
    try:
        conn.executemany(sql, values)
        return
    except (OverflowError, UnicodeError, sqlite3.InterfaceError, sqlite3.ProgrammingError):
        pass
    good = []
    for r, row_values in zip(rows, values):
        bad = next((n for n, v in zip(names, row_values) if not _storable(v)), None)
        if bad is None:
            good.append(row_values)
        else:
            warnings.warn(f"arty: {_row_name(table, r)} left out of the index: its '{bad}' is a value SQLite "
                          "cannot hold", RuntimeWarning, stacklevel=2)
    conn.executemany(sql, good)  # INSERT OR REPLACE: rows the failed batch wrote are written again, unchanged


def _storable(value: Any) -> bool:
    """Whether SQLite can hold ``value`` as a column value."""
    if value is None or isinstance(value, (float, bytes)):
        return True
    if isinstance(value, int):
        return -(2 ** 63) <= value < 2 ** 63
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    return False


def _row_name(table: str, row: dict[str, Any]) -> str:
    """How a warning names an index row: ``run 'p/id'``, ``version 'p/name:v3'``, ..."""
    if table == "runs":
        return f"run '{row.get('project')}/{row.get('id')}'"
    if table == "artifact_versions":
        return f"version '{row.get('project')}/{row.get('name')}:v{row.get('version')}'"
    if table == "aliases":
        return f"alias '{row.get('alias')}' of '{row.get('project')}/{row.get('name')}'"
    if table in records.EDGES:
        return (f"{table[:-1]} edge of run '{row.get('project')}/{row.get('run')}' "
                f"('{row.get('artifact_project')}/{row.get('artifact')}:v{row.get('version')}')")
    return f"a row of '{table}'"
