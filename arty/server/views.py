"""Saved workspace views: the project page's state (filters, grouping, panels, colours
hidden) under a name, in the store.

Each save appends a record to the log ``projects/<project>/views/<name>/<seq>.json``
(``{"name", "state", "by", "at"}``); the highest record is the view, and the earlier ones are
its history. Nothing is overwritten.
"""

from __future__ import annotations

import json
from typing import Any

from arty.artifacts.names import check_name
from arty.errors import NotFound, UsageError
from arty.store import Store, layout
from arty.store.leases import who as _who
from arty.store.store import now_iso

#: The largest view state accepted, as JSON bytes.
MAX_STATE = 64 * 1024


def save_view(store: Store, project: str, name: str, state: dict[str, Any], by: str | None = None) -> dict[str, Any]:
    """Append ``state`` as the newest record of view ``name``; returns the record with its ``seq``."""
    check_name(name, "view")
    if not isinstance(state, dict):
        raise UsageError("a view's state must be a JSON object", hint='e.g. {"cols": 3}')
    size = len(json.dumps(state))
    if size > MAX_STATE:
        raise UsageError(f"view '{name}' is too large ({size} bytes)", hint=f"keep it under {MAX_STATE} bytes")
    seq, rec = store.log_append(layout.view(project, name),
                                lambda _seq: {"name": name, "state": state, "by": by or _who(), "at": now_iso()})
    return {**rec, "seq": seq}


def load_view(store: Store, project: str, name: str) -> dict[str, Any]:
    """The newest record of view ``name`` with its ``seq``; :class:`NotFound` if never saved."""
    check_name(name, "view")
    found = store.log_latest(layout.view(project, name))
    if found is None:
        raise NotFound(f"view '{name}' not found in project '{project}'", hint="save the workspace under that name first")
    seq, rec = found
    return {**rec, "seq": seq}


def list_views(store: Store, project: str) -> list[dict[str, Any]]:
    """``[{"name", "saves"}]`` of every saved view of ``project``, by name."""
    out = []
    for name in store.list(layout.views(project)):
        name = name.rstrip("/")
        seqs = store.log_seqs(layout.view(project, name))
        if seqs:
            out.append({"name": name, "saves": len(seqs)})
    return out
