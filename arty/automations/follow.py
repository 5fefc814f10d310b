"""Following a store: the events of journal entries not seen yet, from a cursor.

The journal (docs/store-format.md, "Journal") is listed after the cursor less
:data:`WINDOW_MS` (entries of writers whose clocks lag land behind the newest name), and
entries already handled are skipped; the cursor is the newest name handled. Journal entries
are hints: every event is derived from the record an entry names (:mod:`.events`).
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable

from arty.automations import events as _events
from arty.index.records import parse_time
from arty.store import Store, layout
from arty.store.store import journal_id, journal_ms

#: Entries this far (ms) behind the cursor are listed again (clock skew between writers).
WINDOW_MS = 5 * 60 * 1000


def cursor_at(seconds: float) -> str:
    """A cursor standing at Unix time ``seconds``: names after it are from that time on."""
    return journal_id(max(0, int(seconds * 1000)))[:10]


class Follower:
    """Yields the journal entries of a store once each (per process), in name order."""

    def __init__(self, store: Store, cursor: str = "") -> None:
        self.store = store
        self.cursor = cursor
        self._seen: set[str] = set()

    @classmethod
    def from_now(cls, store: Store) -> "Follower":
        """A follower that skips everything journaled so far (``art watch``: only what comes next)."""
        f = cls(store, cursor_at(time.time()))
        names = f._listing()
        f._seen.update(names)
        if names:
            f.cursor = max(f.cursor, names[-1])
        return f

    def _low(self) -> str:
        ms = journal_ms(self.cursor)
        return "" if ms is None else journal_id(max(0, ms - WINDOW_MS))[:10]

    def _listing(self) -> list[str]:
        low = self._low()
        return sorted(n for n in self.store.backend.list_after(layout.JOURNAL, low)
                      if n.endswith(".json") and n > low)

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        """``(name, entry)`` of every entry not handled yet; call :meth:`done` once handled."""
        out = []
        for name in self._listing():
            if name in self._seen:
                continue
            try:
                entry = json.loads(self.store.backend.read(f"{layout.JOURNAL}/{name}"))
            except (FileNotFoundError, ValueError, RecursionError):
                entry = None  # a bad entry is skipped silently: entries are hints
            out.append((name, entry if isinstance(entry, dict) else {}))
        return out

    def done(self, names: Iterable[str]) -> None:
        """Mark ``names`` handled and move the cursor to the newest; forget names out of the window."""
        names = list(names)
        self._seen.update(names)
        if names:
            self.cursor = max([self.cursor, *names])
        low = self._low()
        self._seen = {n for n in self._seen if n > low}


def events_of(store: Store, entries: list[tuple[str, dict[str, Any]]], wanted: Iterable[str]
              ) -> list[dict[str, Any]]:
    """The events of journal ``entries`` (of the types in ``wanted``), in journal order,
    each once (two entries naming one record give one event)."""
    wanted = tuple(wanted)
    out, ids = [], set()
    for _, entry in entries:
        event = _events.from_journal(store, entry, wanted)
        if event is not None and event["id"] not in ids:
            ids.add(event["id"])
            out.append(event)
    return out


def event_time(event: dict[str, Any]) -> float | None:
    return parse_time(event.get("at"))
