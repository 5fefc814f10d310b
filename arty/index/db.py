"""The index's SQLite connection: plain :mod:`sqlite3` with rows as dicts.

The index needs four things of a database handle: run a statement, run a query that gives
rows as dicts, list the tables, and register a Python function. ``sqlite_utils.Database``
does these too, but importing it imports pandas and numpy when they are installed (0.45 s
here, 1–2.5 s on a busy machine): that would count in every ``art runs``, ``art exp show``
and ``Api().runs()`` of a user with pandas installed, which is nearly every user. So the
index opens its connections through this class and writes its schema as SQL
(:mod:`arty.index.schema`).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, Iterator, Sequence


class Database:
    """One SQLite connection (``conn``), in autocommit mode unless a statement begins a
    transaction. Not thread-safe beyond what the connection itself allows."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement; returns its cursor (rows as tuples)."""
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Iterator[dict[str, Any]]:
        """The rows of a query, each as ``{column: value}``."""
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description or ()]
        for row in cur:
            yield dict(zip(names, row))

    def table_names(self) -> list[str]:
        """The names of the tables, in creation order."""
        return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]

    def register_function(self, fn: Callable[..., Any], deterministic: bool = False) -> None:
        """Make ``fn`` callable from SQL under its own name, with its number of arguments."""
        arity = fn.__code__.co_argcount
        self.conn.create_function(fn.__name__, arity, fn, deterministic=deterministic)
