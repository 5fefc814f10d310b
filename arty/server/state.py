"""What every route shares: the store, the query API over its index, and lookups that 404."""

from __future__ import annotations

import json
import threading
from typing import Any, Iterable

from fastapi import Request

from arty.api import Api, ApiRun
from arty.artifacts import Registry
from arty.artifacts.names import check_name
from arty.errors import InvalidPath, NotFound, UsageError
from arty.server.accounts import DEFAULT_TTL, Accounts
from arty.server.series import SeriesReader
from arty.store import Store


class ServerState:
    """One per app: the store, an :class:`arty.api.Api` (and its index), the series reader,
    and the accounts (:class:`arty.server.accounts.Accounts`) with the access settings."""

    def __init__(self, store: Store, token: str | None = None, index_path: str | None = None,
                 public_read: Iterable[str] = (), trust_proxy: bool = False, auth_ttl: float = DEFAULT_TTL) -> None:
        self.store = store
        self.token = token or None
        self.accounts = Accounts(store, ttl=auth_ttl)
        #: The projects whose reads need no key (``--public-read``).
        self.public_read = frozenset(check_name(p, "project") for p in public_read)
        #: Whether ``X-Forwarded-Proto`` (from a TLS proxy) says how the request came in.
        self.trust_proxy = trust_proxy
        self.api = Api(store, index_path=index_path)
        self.series = SeriesReader(store)
        #: project -> (signature of its finished runs, config paths, summary paths) of those runs
        self._finished_keys: dict[tuple[str, bool], tuple[Any, list[str], list[str]]] = {}
        self._keys_lock = threading.Lock()

    @property
    def index(self) -> Any:
        return self.api.index

    def close(self) -> None:
        self.api.close()

    def project(self, project: str, sync: bool = True) -> str:
        """``project``, checked: 400 for an invalid name, 404 for one the store does not have.

        The index catches up with the store's journal first; with ``sync``, the runs of the
        project still going are read again too (for the pages that show them).
        """
        check_name(project, "project")
        if sync:
            self.index.sync(project)  # caught up, and the runs still going re-read
        else:
            self.index.catch_up()
        known = self.index.projects()
        if project not in known:
            raise NotFound(f"project '{project}' not found (projects: {', '.join(known) if known else 'none yet'})",
                           hint="GET /api/projects lists them")
        return project

    def run(self, project: str, run_id: str, fresh: bool = False) -> ApiRun:
        """One run of ``project`` (by id, or a name only one run has); 404 when unknown.

        The index row is used as it is unless ``fresh`` (then the run's records are read again).
        """
        check_name(project, "project")
        check_text(run_id, "run id")
        if not fresh and "/" not in run_id:
            row = self.index.run_row(project, run_id)
            if row is not None:
                return ApiRun(self.api, row)
        return self.api.run(f"{project}/{run_id}")

    def run_keys(self, project: str, add_runs: bool = True) -> tuple[list[str], list[str]]:
        """``(config keys, summary keys)`` of every run of ``project`` (without ``add_runs``:
        but those ``art add`` recorded), dotted, sorted.

        The finished runs' keys are remembered until one of those runs changes; the
        unfinished runs' (a few, usually) are read each time.
        """
        from arty.store.layout import ADD_JOB_TYPE

        skip = None if add_runs else ADD_JOB_TYPE
        index = self.index
        signature = index.finished_signature(project)
        with self._keys_lock:
            cached = self._finished_keys.get((project, add_runs))
        if cached is None or cached[0] != signature:
            cached = (signature, index.json_paths(project, "config", final=True, skip_job_type=skip),
                      index.json_paths(project, "summary", final=True, skip_job_type=skip))
            with self._keys_lock:
                self._finished_keys[(project, add_runs)] = cached
        config = set(cached[1]) | set(index.json_paths(project, "config", final=False, skip_job_type=skip))
        summary = set(cached[2]) | set(index.json_paths(project, "summary", final=False, skip_job_type=skip))
        return leaf_keys(sorted(config)), leaf_keys(sorted(summary))

    def registry(self, project: str) -> Registry:
        return Registry(self.store, check_name(project, "project"))


#: The longest name one part of a store path can have (bytes, as most file systems allow).
MAX_PART = 255


def check_text(text: str, what: str) -> str:
    """``text`` (a run id, a lineage reference) if it has no control characters and no
    backslash; else :class:`UsageError`."""
    if not text or "\\" in text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UsageError(f"invalid {what} {text[:80]!r}", hint="no control characters or backslashes")
    return text


def check_file_path(path: str) -> str:
    """A file path inside a run or a version, checked: relative, no ``..``, ``.`` or empty parts,
    no backslash or control characters (:class:`InvalidPath`); a part too long for any file
    system cannot name a file (:class:`NotFound`)."""
    parts = path.split("/")
    if (not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts)
            or any(ord(c) < 32 or ord(c) == 127 for c in path)):
        raise InvalidPath(f"invalid file path {path[:200]!r}",
                          hint="a relative path without '..', empty parts, backslashes or control characters")
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_PART for p in parts):
        raise NotFound(f"no file '{path[:200]}'", hint="a part of the path is longer than any file name")
    return path


def state_of(request: Request) -> ServerState:
    return request.app.state.arty


def json_path_key(path: str) -> str | None:
    """``$.a."b.c"`` (SQLite's ``json_tree`` fullkey) as the dotted key ``a.b.c``; None if odd."""
    if not path.startswith("$"):
        return None
    parts, i = [], 1
    while i < len(path):
        if path[i] != ".":
            return None
        i += 1
        if i < len(path) and path[i] == '"':
            end = path.find('"', i + 1)
            if end < 0:
                return None
            parts.append(path[i + 1:end])
            i = end + 1
        else:
            end = path.find(".", i)
            end = len(path) if end < 0 else end
            parts.append(path[i:end])
            i = end
    return ".".join(parts) if parts else None


def leaf_keys(paths: list[str]) -> list[str]:
    """Dotted keys from ``json_tree`` leaf paths, a media value (``x._type``) as one key ``x``."""
    keys = [k for k in (json_path_key(p) for p in paths) if k]
    media = {k[: -len("._type")] for k in keys if k.endswith("._type")}
    if not media:
        return keys
    out = []
    for k in keys:
        owner = next((m for m in media if k == f"{m}._type" or k.startswith(m + ".")), None)
        if owner is None:
            out.append(k)
        elif owner not in out:
            out.append(owner)
    return out


def parse_json_param(text: str | None, what: str) -> Any:
    """The JSON value of a query parameter (None when absent); a :class:`UsageError` if not JSON."""
    if text is None or text == "":
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}", hint='e.g. {"config.lr": {"$gt": 0.001}}') from None


def runs_filter(filters: str | None, add_runs: bool) -> dict[str, Any] | None:
    """The runs filter of a request: ``filters`` (JSON text, an object) without the runs
    ``art add`` records unless ``add_runs``; :class:`UsageError` for anything but an object."""
    from arty.index.filters import without_add_runs

    parsed = parse_json_param(filters, "filters")
    if parsed is not None and not isinstance(parsed, dict):
        raise UsageError("filters must be a JSON object", hint='e.g. {"state": "finished"}')
    return parsed if add_runs else without_add_runs(parsed)
