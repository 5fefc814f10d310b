"""``art watch``: run a command each time an event happens (for CI runners and deploy hosts).

The watcher follows the store's journal (:class:`.follow.Follower`, from the moment it starts:
what happened before is not replayed), derives each event from its record, and runs the command
for each event its trigger matches, with the event as JSON in ``ARTY_EVENT``. It works on every
store: a local folder, a bucket, an ``http(s)://`` server (the journal is read through the store
protocol). It needs no server and writes nothing into the store.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from arty.automations.events import Trigger, crashed_runs
from arty.automations.follow import Follower, events_of
from arty.store import Store


class Watcher:
    """Yields the events matching ``trigger`` (in ``project``, or any project when None) as they happen."""

    def __init__(self, store: Store, trigger: Trigger, project: str | None = None, index: Any = None) -> None:
        self.store = store
        self.trigger = trigger
        self.project = project
        self._index = index
        self.follower = Follower.from_now(store)
        self._crashed: set[str] = set()
        if "run.crashed" in trigger.types:
            self._crashed = {e["id"] for e in self._crashes()}  # crashed before the watch began: not news

    def _crashes(self) -> list[dict[str, Any]]:
        if self._index is None:
            from arty.index import Index

            self._index = Index(self.store)
        projects = [self.project] if self.project else self._index.projects()
        return crashed_runs(self.store, self._index, [p for p in projects if p in self._index.projects()])

    def poll(self) -> list[dict[str, Any]]:
        """The matching events that happened since the last poll, oldest first."""
        entries = self.follower.poll()
        found = events_of(self.store, entries, self.trigger.types)
        self.follower.done(name for name, _ in entries)
        if "run.crashed" in self.trigger.types:
            for e in self._crashes():
                if e["id"] not in self._crashed:
                    self._crashed.add(e["id"])
                    found.append(e)
        return [e for e in found if (self.project is None or e.get("project") == self.project)
                and self.trigger.matches(e)]

    def follow(self, handle: Callable[[dict[str, Any]], bool], interval: float = 2.0,
               stop: Callable[[], bool] | None = None) -> None:
        """Call ``handle(event)`` for each matching event until it returns False (or ``stop()``)."""
        while stop is None or not stop():
            for event in self.poll():
                if not handle(event):
                    return
            time.sleep(interval)
