"""Reading a run's records from the store into one flat row (what the index keeps).

The records are the truth (see docs/store-format.md); this module derives a
run's *current* values from them:

* config, notes, tags and name: the latest event of that kind, else ``run.json``;
* summary: ``final.json``'s, else the latest ``summary`` event's, else ``{}``;
* host and pid: the latest ``resume`` event's, else ``run.json``'s;
* state: the latest finish's (``final.json``, or ``finishes/<n>`` once a finished run was
  resumed, see :func:`_apply_finish`); else ``crashed`` when the run's process was on this
  machine and is gone, or when nothing was heard from it for
  :data:`CRASH_AFTER_S`; else ``running`` (see :func:`derive_state`).

Loading is incremental: given the row loaded before, only events and segments
with higher sequence numbers are read.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import socket
import time
from typing import Any, Callable, Iterable

from arty.artifacts import edits as _version_edits
from arty.artifacts import links as _links
from arty.errors import BadRecord, IntegrityError
from arty.index import segments
from arty.store import Store, layout
from arty.store.records import ALIAS, VERSION, Fields

#: A run that is not finished and was silent this long is shown as crashed.
CRASH_AFTER_S = 600.0
#: Event kinds that set a current value, and the field of the event that holds it.
_VALUE_EVENTS = {"config": "config", "notes": "notes", "tags": "tags", "name": "name", "summary": "summary"}
_HOSTNAME = socket.gethostname()


def run_dir(project: str, run_id: str) -> str:
    return f"{layout.PROJECTS}/{project}/runs/{run_id}"


def parse_time(value: Any) -> float | None:
    """Unix seconds of an ISO 8601 time (``…Z`` or with an offset); numbers pass through."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.timestamp()


def iso(ts: float | None) -> str | None:
    """``…Z`` ISO 8601 with milliseconds for unix seconds."""
    if ts is None:
        return None
    t = _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- JSON columns ---------------------------------------------------------------------------------

_NONFINITE = "\u0000arty-nonfinite\u0000"


def _has_nonfinite(obj: Any) -> bool:
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(_has_nonfinite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_has_nonfinite(v) for v in obj)
    return False


def _replace_nonfinite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else f"{_NONFINITE}{'+' if obj > 0 else '-'}"
    if isinstance(obj, dict):
        return {k: _replace_nonfinite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_replace_nonfinite(v) for v in obj]
    return obj


def json_columns(obj: Any) -> tuple[str, str | None]:
    """``(queryable, faithful)`` JSON texts of a value for the index.

    SQLite's JSON functions reject NaN and infinities, which Python's json
    writes and a summary can hold (a diverged loss). The queryable text has NaN
    as ``null`` and infinities as ``±1e999`` (which SQLite reads as ±inf, so
    comparisons still work); the faithful text, kept only when it differs, is
    what the API returns.
    """
    if not _has_nonfinite(obj):
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False), None
    text = json.dumps(_replace_nonfinite(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    marker = json.dumps(_NONFINITE, ensure_ascii=True)[:-1]
    text = text.replace(marker + '+"', "1e999").replace(marker + '-"', "-1e999")
    return text, json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def load_json_column(text: str | None, raw: str | None, default: Any) -> Any:
    if raw is not None:
        return json.loads(raw)
    if text is None:
        return default
    return json.loads(text)


# -- process liveness -------------------------------------------------------------------------------

def pid_alive(pid: Any, since: float | None = None) -> bool:
    """Whether process ``pid`` of this machine still runs (and began before ``since``, when known).

    A process that started after ``since`` (plus a little slack for clock
    steps) has reused the pid of the one that recorded it.
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OSError):
            return True
        return True
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        created = proc.create_time()
    except psutil.NoSuchProcess:
        return False
    except (psutil.AccessDenied, OSError):
        return True
    return since is None or created <= since + 5.0


def derive_state(row: dict[str, Any], now: float | None = None) -> str:
    """The state of a run from its index row (see the module docstring)."""
    if row.get("final"):
        return row.get("state") or "finished"
    now = time.time() if now is None else now
    if row.get("host") == _HOSTNAME and not pid_alive(row.get("pid"), row.get("pid_since")):
        return "crashed"
    last = row.get("last_activity")
    if last is None or now - last > CRASH_AFTER_S:
        return "crashed"
    return "running"


# -- loading a run ----------------------------------------------------------------------------------

class Reader:
    """Reads records, in parallel on remote stores (``map_fn`` is a thread pool's map)."""

    def __init__(self, store: Store, map_fn: Callable[..., Iterable[Any]] | None = None) -> None:
        self.store = store
        self.map = map_fn or map

    def record(self, path: str) -> dict[str, Any] | None:
        """A record (None when absent); :class:`BadRecord` when it is not a JSON object."""
        try:
            return self.store.read_record(path)
        except FileNotFoundError:
            return None

    def _quiet(self, path: str) -> dict[str, Any] | None:
        try:
            return self.record(path)
        except BadRecord:
            return None

    def records(self, paths: list[str], fields: Fields | None = None, quiet: bool = False
                ) -> list[dict[str, Any] | None]:
        """Several records, in order; None for one that is absent, or bad (skipped with a warning
        naming it; silently with ``quiet``, for hints such as journal entries)."""
        fn: Callable[[str], dict[str, Any] | None] = \
            self._quiet if quiet else (lambda p: self.store.try_record(p, fields))
        if len(paths) <= 1 or self.map is map:
            return [fn(p) for p in paths]
        return list(self.map(fn, paths))

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return self.store.backend.read(path)
        except FileNotFoundError:
            return None


EMPTY_SEQ = -1


def load_run(reader: Reader, project: str, run_id: str, prev: dict[str, Any] | None = None
             ) -> dict[str, Any] | None:
    """The index row of a run from its records (None when it has no ``run.json``).

    ``prev`` is the row loaded before: only what was added since is read.
    """
    store = reader.store
    base = run_dir(project, run_id)
    if prev is None:
        rec = reader.record(f"{base}/run.json")
        if rec is None:
            return None
        row = _row_from_run_json(project, run_id, rec)
    else:
        row = dict(prev)
        if not store.exists(f"{base}/run.json"):
            return None

    _apply_finish(reader, base, row)
    _apply_events(reader, base, row)
    _apply_edits(reader, base, row)

    if not row["final"]:
        _apply_segments(reader, base, row)
        started = parse_time(row["created_at"])
        if row["last_activity"] is not None and started is not None:
            row["runtime"] = max(0.0, row["last_activity"] - started)
    row["state"] = derive_state(row)
    row["refreshed_at"] = time.time()
    return row


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _row_from_run_json(project: str, run_id: str, rec: dict[str, Any]) -> dict[str, Any]:
    config, config_raw = json_columns(rec.get("config") if isinstance(rec.get("config"), dict) else {})
    summary, summary_raw = json_columns({})
    tags = rec.get("tags") if isinstance(rec.get("tags"), list) else []
    started = parse_time(rec.get("started_at"))
    pid = rec.get("pid")
    return {
        "project": project, "id": run_id, "name": _text_or_none(rec.get("name")) or run_id,
        "state": "running", "created_at": rec.get("started_at"), "finished_at": None, "runtime": None,
        "notes": _text_or_none(rec.get("notes")), "run_group": _text_or_none(rec.get("group")),
        "job_type": _text_or_none(rec.get("job_type")), "host": _text_or_none(rec.get("host")),
        "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) else None, "pid_since": started,
        # "by" is the account a server stamped on the record (a team server); "user" the OS user
        # the client reported (any store): the account wins, as the one nobody can claim falsely.
        "user": _text_or_none(rec.get("by")) or _text_or_none(rec.get("user")),
        "tags": json.dumps([str(t) for t in tags], ensure_ascii=False), "config": config, "config_raw": config_raw,
        "summary": summary, "summary_raw": summary_raw, "exit_code": None, "error": None,
        "mode": _text_or_none(rec.get("mode")),
        "git": json.dumps(rec.get("git"), sort_keys=True) if rec.get("git") is not None else None,
        "command": json.dumps(rec.get("command")) if rec.get("command") is not None else None,
        "python": _text_or_none(rec.get("python")), "steps": None, "last_step": None, "final": 0,
        "last_activity": started, "events_seq": EMPTY_SEQ, "history_seq": EMPTY_SEQ, "system_seq": EMPTY_SEQ,
        "console_seq": EMPTY_SEQ, "refreshed_at": None,
        "experiment": _text_or_none(exp.get("id")) if isinstance(exp := rec.get("experiment"), dict) else None,
        "git_commit": _text_or_none(rec["git"].get("commit")) if isinstance(rec.get("git"), dict) else None,
    }


def _apply_finish(reader: Reader, base: str, row: dict[str, Any]) -> None:
    """Whether the run is finished, from the records that finish and reopen it.

    ``final.json`` is the first finish. A finished run resumed has ``resumes/<n>`` (it is open
    again) and, once that session ends, ``finishes/<n>``; the latest of them decides. The row's
    ``final`` says which finish it holds: 0 none, 1 ``final.json``, ``n + 2`` ``finishes/<n>``.
    """
    resumes = reader.store.log_seqs(f"{base}/{layout.RUN_RESUMES}")
    if not resumes:
        if not row["final"]:
            final = reader.records([f"{base}/{layout.RUN_FINAL}"])[0]
            if final is not None:
                _apply_final(row, final)
        return
    n = resumes[-1]
    if row["final"] == n + 2:
        return  # already holds the latest finish
    final = reader.records([f"{base}/{layout.RUN_FINISHES}/{layout.seq_name(n)}"])[0]
    if final is not None:
        _apply_final(row, final, n + 2)
        return
    if row["final"]:  # reopened since last read: running (or crashed) again, in the resuming process
        row.update(final=0, finished_at=None, exit_code=None, error=None)
        rec = reader.records([f"{base}/{layout.RUN_RESUMES}/{layout.seq_name(n)}"])[0]
        if rec is not None:
            at = parse_time(rec.get("at"))
            _apply_event(row, "resume", rec, at)
            if at is not None:
                row["last_activity"] = max(row["last_activity"] or 0.0, at)


def _apply_final(row: dict[str, Any], final: dict[str, Any], which: int = 1) -> None:
    row["final"] = which
    state = final.get("state")
    row["state"] = state if isinstance(state, str) and state else "finished"
    code = final.get("exit_code")
    row["exit_code"] = code if isinstance(code, int) and not isinstance(code, bool) else None
    row["error"] = _text_or_none(final.get("error"))
    if isinstance(final.get("summary"), dict):
        row["summary"], row["summary_raw"] = json_columns(final["summary"])
    row["finished_at"] = final.get("finished_at")
    runtime = final.get("runtime")
    row["runtime"] = float(runtime) if isinstance(runtime, (int, float)) and not isinstance(runtime, bool) else None
    steps = final.get("steps")
    row["steps"] = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
    last = final.get("last_step")
    if isinstance(last, int) and not isinstance(last, bool):
        row["last_step"] = last
    finished = parse_time(final.get("finished_at"))
    if finished is not None:
        row["last_activity"] = max(row["last_activity"] or 0.0, finished)


def _apply_events(reader: Reader, base: str, row: dict[str, Any]) -> None:
    """Apply the events after ``row['events_seq']``: newest first, stopping once every value is known."""
    store = reader.store
    folder = f"{base}/events"
    seqs = [s for s in store.log_seqs(folder) if s > row["events_seq"]]
    if not seqs:
        return
    wanted = set(_VALUE_EVENTS) - {"summary"}
    if not row["final"]:
        wanted |= {"summary", "resume"}
    newest_at: float | None = None
    heartbeat_seen = False
    batch = 1  # read one, then more at a time: usually the newest few hold everything
    i = len(seqs)
    while i > 0 and wanted:
        chunk = seqs[max(0, i - batch):i]
        i -= len(chunk)
        batch = min(batch * 4, 64)
        events = reader.records([f"{folder}/{layout.seq_name(s)}" for s in chunk])
        for ev in reversed(events):
            if ev is None:
                continue
            at = parse_time(ev.get("at"))
            if newest_at is None and at is not None:
                newest_at = at
            kind = ev.get("kind")
            if not isinstance(kind, str):
                continue
            if kind == "heartbeat" and not heartbeat_seen:
                heartbeat_seen = True
                _apply_event(row, kind, ev, at)
            if kind in wanted:
                wanted.discard(kind)
                _apply_event(row, kind, ev, at)
    row["events_seq"] = seqs[-1]
    if newest_at is not None:
        row["last_activity"] = max(row["last_activity"] or 0.0, newest_at)


def _apply_event(row: dict[str, Any], kind: str, ev: dict[str, Any], at: float | None) -> None:
    if kind == "config" and isinstance(ev.get("config"), dict):
        row["config"], row["config_raw"] = json_columns(ev["config"])
    elif kind == "summary" and isinstance(ev.get("summary"), dict):
        row["summary"], row["summary_raw"] = json_columns(ev["summary"])
    elif kind == "notes":
        row["notes"] = _text_or_none(ev.get("notes"))
    elif kind == "name" and ev.get("name"):
        row["name"] = str(ev["name"])
    elif kind == "tags" and isinstance(ev.get("tags"), list):
        row["tags"] = json.dumps([str(t) for t in ev["tags"]], ensure_ascii=False)
    elif kind == "resume":
        row["host"] = _text_or_none(ev.get("host"))
        pid = ev.get("pid")
        row["pid"] = pid if isinstance(pid, int) and not isinstance(pid, bool) else None
        row["pid_since"] = at
    elif kind == "heartbeat":
        step = ev.get("step")
        if isinstance(step, int) and not isinstance(step, bool):
            row["last_step"] = step


#: Run fields an ``edits/`` record may set (written by :mod:`arty.runs.edits`).
_EDIT_FIELDS = ("notes", "tags", "name")


def _apply_edits(reader: Reader, base: str, row: dict[str, Any]) -> None:
    """Apply the run's ``edits/`` log (changes made after the fact, e.g. in the web UI).

    A field takes the value of the latest edit that sets it, unless the run itself recorded
    that field in an event numbered above the edit's ``after_event``. Nothing is read when the
    run has no edits (the usual case).
    """
    store = reader.store
    seqs = store.log_seqs(f"{base}/edits")
    if not seqs:
        return
    latest: dict[str, tuple[Any, int]] = {}  # field -> (value, after_event; -1 for none)
    for s in reversed(seqs):
        rec = reader.records([f"{base}/edits/{layout.seq_name(s)}"])[0]
        if rec is None:
            continue
        after = rec.get("after_event")
        after = after if isinstance(after, int) and not isinstance(after, bool) else -1
        for field in _EDIT_FIELDS:
            if field in rec and field not in latest:
                latest[field] = (rec[field], after)
        if len(latest) == len(_EDIT_FIELDS):
            break
    if not latest:
        return
    low = min(after for _, after in latest.values())
    later = [s for s in store.log_seqs(f"{base}/events") if s > low]
    overridden = set()
    if later:
        events = reader.records([f"{base}/events/{layout.seq_name(s)}" for s in later])
        for s, ev in zip(later, events):
            kind = ev.get("kind") if ev else None
            if kind in latest and s > latest[kind][1]:
                overridden.add(kind)
    for field, (value, _) in latest.items():
        if field not in overridden:
            _apply_event(row, field, {field: value}, None)


def _apply_segments(reader: Reader, base: str, row: dict[str, Any]) -> None:
    """For a run still going: the time of the newest segment of each stream, when there is a new one."""
    for stream in segments.STREAMS:
        key = f"{stream}_seq"
        seqs = segments.segment_seqs(reader.store.list(f"{base}/{stream}"))
        if not seqs or seqs[-1] <= row[key]:
            continue
        where = f"{base}/{stream}/{segments.segment_name(seqs[-1])}"
        data = reader.read_bytes(where)
        if data is None:
            continue
        try:
            t = segments.last_time(data, stream, where)
        except IntegrityError:
            t = None
        row[key] = seqs[-1]
        if t is not None:
            row["last_activity"] = max(row["last_activity"] or 0.0, t)


# -- lineage edges ----------------------------------------------------------------------------------

EDGES = ("inputs", "outputs")


def load_edges(reader: Reader, project: str, run_id: str, kind: str = "inputs") -> list[dict[str, Any]]:
    """The run's lineage edges as index rows: ``inputs/`` (versions it used) or ``outputs/``
    (versions it logged), each ``<project>/<artifact>/<N>.json``."""
    store = reader.store
    base = f"{run_dir(project, run_id)}/{kind}"
    paths = []
    for proj in store.list(base):
        for art in store.list(f"{base}/{proj}"):
            for name in store.list(f"{base}/{proj}/{art}"):
                n = layout.parse_seq(name)
                if n is not None:
                    paths.append((proj, art, n, f"{base}/{proj}/{art}/{name}"))
    recs = reader.records([p[3] for p in paths])
    out = []
    for (proj, art, n, _), rec in zip(paths, recs):
        if rec is None:  # bad (warned of): the edge is left out
            continue
        out.append({"project": project, "run": run_id, "artifact_project": proj, "artifact": art, "version": n,
                    "digest": _text_or_none(rec.get("digest")), "at": _text_or_none(rec.get("at"))})
    return out


def load_inputs(reader: Reader, project: str, run_id: str) -> list[dict[str, Any]]:
    return load_edges(reader, project, run_id, "inputs")


# -- artifacts ------------------------------------------------------------------------------------

def version_row(rec: dict[str, Any], project: str, name: str, number: int) -> dict[str, Any]:
    meta = rec.get("metadata")
    link = _links.link_of(rec)
    return {
        "project": project, "name": name, "version": number, "digest": _text_or_none(rec.get("digest")),
        "type": _text_or_none(rec.get("type")), "size": rec.get("size"), "files": rec.get("files"),
        "created_by": _text_or_none(rec.get("created_by")), "created_at": _text_or_none(rec.get("created_at")),
        "description": _text_or_none(rec.get("description")),
        "metadata": json_columns(meta if isinstance(meta, dict) else {})[0], "by": _text_or_none(rec.get("by")),
        "link_project": link and link[0], "link_name": link and link[1], "link_version": link and link[2],
    }


def load_versions(reader: Reader, project: str, name: str, known: set[int] = frozenset()  # type: ignore[assignment]
                  ) -> list[dict[str, Any]]:
    """Rows of the versions of an artifact not in ``known``."""
    folder = layout.versions(project, name)
    seqs = [s for s in reader.store.log_seqs(folder) if s not in known]
    recs = reader.records([f"{folder}/{layout.seq_name(s)}" for s in seqs], VERSION)
    edited = _version_edits.edited_versions(reader.store, project, name) if seqs else set()
    out = []
    for s, r in zip(seqs, recs):
        if r is None:
            continue
        if s in edited:  # description or metadata changed after it was logged
            r = _version_edits.apply_edits(r, _version_edits.version_edits(reader.store, project, name, s))
        out.append(version_row(r, project, name, s))
    return out


def load_aliases(reader: Reader, project: str, name: str) -> list[dict[str, Any]]:
    """Rows of the current aliases of an artifact (deleted ones left out)."""
    out = []
    for alias in reader.store.list(layout.aliases(project, name)):
        got = reader.store.log_latest(layout.alias(project, name, alias), ALIAS)
        if got is None or got[1]["version"] is None:
            continue
        seq, rec = got
        out.append({"project": project, "name": name, "alias": alias, "version": rec["version"], "seq": seq,
                    "at": _text_or_none(rec.get("at")), "by": _text_or_none(rec.get("by"))})
    return out
