"""Write run records into a store exactly as the run writer lays them out, for the read-side tests.

``projects/<project>/runs/<run_id>/``: ``run.json``, ``events/<seq>.json`` (a
log), ``history|system|console/<seq>.json.gz`` (gzipped columnar JSON),
``files/...``, ``inputs/`` and ``outputs/<project>/<artifact>/<N>.json`` and ``final.json``,
each followed by its journal entry (``run_started``, ``run_updated``,
``segment``, ``run_finished``). Times may be given as ISO strings or unix
seconds, so that tests can write old runs without waiting.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import secrets
import socket
import sys
import time
from array import array
from typing import Any, Iterable

from arty.store import Store

ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


def iso(t: float | str | None = None) -> str:
    """ISO 8601 ``…Z`` with milliseconds; ``t`` is unix seconds, an ISO string (kept) or None (now)."""
    if isinstance(t, str):
        return t
    t = time.time() if t is None else t
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return "".join(secrets.choice(ID_CHARS) for _ in range(8))


def run_dir(project: str, run_id: str) -> str:
    return f"projects/{project}/runs/{run_id}"


def _json_bytes(obj: Any) -> bytes:
    """Python's json with NaN/Infinity tokens allowed, as the writer emits segments."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def write_run(store: Store, project: str = "default", run_id: str | None = None, *, name: str | None = None,
              config: dict | None = None, tags: Iterable[str] = (), notes: str | None = None,
              group: str | None = None, job_type: str | None = None, started_at: float | str | None = None,
              host: str = "worker-7", pid: int = 4242, git: dict | None = None, command: list | None = None,
              mode: str = "online", journal: bool = True, extra: dict | None = None,
              experiment: dict | None = None) -> str:
    """Create ``run.json`` for a new run (with the fields of ``extra`` too; of ``experiment``
    ``{"id", "name"}`` when given); returns its id."""
    run_id = run_id or new_id()
    rec = {
        "id": run_id, "project": project, "name": name or run_id, "notes": notes, "tags": list(tags),
        "group": group, "job_type": job_type, "config": config or {}, "started_at": iso(started_at),
        "host": host, "pid": pid, "python": sys.version.split()[0],
        "command": command if command is not None else ["train.py", "--epochs", "3"],
        "git": git, "mode": mode, **(extra or {}),
    }
    if experiment is not None:
        rec["experiment"] = experiment
    assert store.create_record(f"{run_dir(project, run_id)}/run.json", rec)
    if journal:
        store.journal("run_started", project=project, run=run_id, path="run.json")
    return run_id


def this_host() -> str:
    return socket.gethostname()


def add_event(store: Store, project: str, run_id: str, kind: str, at: float | str | None = None,
              journal: bool = True, **fields: Any) -> int:
    """Append an event (``config``, ``notes``, ``tags``, ``summary``, ``resume``, ``heartbeat``, ...)."""
    folder = f"{run_dir(project, run_id)}/events"
    seq, _ = store.log_append(folder, lambda s: {"seq": s, "at": iso(at), "kind": kind, **fields})
    if journal:
        store.journal("run_updated", project=project, run=run_id, path=f"events/{seq:08d}.json")
    return seq


def _seqs(store: Store, folder: str) -> list[int]:
    return sorted(int(n.split(".")[0]) for n in store.list(folder) if n.endswith(".json.gz"))


def pack(values: list[Any]) -> Any:
    """A column as the writer may pack it: floats as ``f8``, 64-bit ints as ``i8``, else a list."""
    if values and all(type(v) is float for v in values):
        arr = array("d", values)
    elif values and all(type(v) is int for v in values) and all(-2 ** 63 <= v < 2 ** 63 for v in values):
        arr = array("q", values)
    else:
        return values
    if sys.byteorder != "little":  # pragma: no cover
        arr.byteswap()
    return {"dtype": "f8" if arr.typecode == "d" else "i8", "data": base64.b64encode(arr.tobytes()).decode()}


def columns_of(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    return {k: [r.get(k) for r in rows] for k in keys}


def write_segment(store: Store, project: str, run_id: str, stream: str, columns: dict[str, list[Any]],
                  packed: bool = False, journal: bool = True) -> int:
    """Write the next ``history``/``system`` segment from columns; returns its seq."""
    n = len(next(iter(columns.values()))) if columns else 0
    assert all(len(c) == n for c in columns.values())
    cols = {k: pack(v) if packed else v for k, v in columns.items()}
    data = gzip.compress(_json_bytes({"format": 1, "rows": n, "columns": cols}), compresslevel=1)
    folder = f"{run_dir(project, run_id)}/{stream}"
    seqs = _seqs(store, folder)
    seq = seqs[-1] + 1 if seqs else 0
    store.backend.create(f"{folder}/{seq:08d}.json.gz", data)
    if journal:
        store.journal("segment", project=project, run=run_id, stream=stream, seq=f"{seq:08d}")
    return seq


def add_history(store: Store, project: str, run_id: str, rows: list[dict[str, Any]], start_step: int = 0,
                t0: float | None = None, packed: bool = False, journal: bool = True) -> int:
    """Write rows of metrics as one history segment, adding ``_step``, ``_timestamp``, ``_runtime``."""
    t0 = time.time() if t0 is None else t0
    full = [{"_step": start_step + i, "_timestamp": t0 + i * 0.5, "_runtime": i * 0.5, **r}
            for i, r in enumerate(rows)]
    return write_segment(store, project, run_id, "history", columns_of(full), packed=packed, journal=journal)


def add_system(store: Store, project: str, run_id: str, rows: list[dict[str, Any]], t0: float | None = None,
               journal: bool = True) -> int:
    t0 = time.time() if t0 is None else t0
    full = [{"_timestamp": t0 + i * 10.0, **r} for i, r in enumerate(rows)]
    return write_segment(store, project, run_id, "system", columns_of(full), journal=journal)


def add_console(store: Store, project: str, run_id: str, lines: list[tuple[float, str, str]],
                journal: bool = True) -> int:
    folder = f"{run_dir(project, run_id)}/console"
    seqs = _seqs(store, folder)
    seq = seqs[-1] + 1 if seqs else 0
    data = gzip.compress(_json_bytes({"format": 1, "lines": [list(x) for x in lines]}))
    store.backend.create(f"{folder}/{seq:08d}.json.gz", data)
    if journal:
        store.journal("segment", project=project, run=run_id, stream="console", seq=f"{seq:08d}")
    return seq


def add_file(store: Store, project: str, run_id: str, rel: str, data: bytes | str, journal: bool = True) -> None:
    store.backend.create(f"{run_dir(project, run_id)}/files/{rel}", data.encode() if isinstance(data, str) else data)
    if journal:
        store.journal("run_updated", project=project, run=run_id, path=f"files/{rel}")


def add_input(store: Store, project: str, run_id: str, version: Any, at: float | str | None = None,
              journal: bool = True) -> None:
    """Record that the run used an :class:`arty.ArtifactVersion`."""
    rel = f"inputs/{version.project}/{version.base_name}/{version.number}.json"
    store.create_record(f"{run_dir(project, run_id)}/{rel}", {
        "project": version.project, "artifact": version.base_name, "version": version.number,
        "digest": str(version.digest), "at": iso(at)})
    if journal:
        store.journal("run_updated", project=project, run=run_id, path=rel)


def add_output(store: Store, project: str, run_id: str, version: Any, created: bool = True,
               at: float | str | None = None, journal: bool = True) -> None:
    """Record that the run logged an :class:`arty.ArtifactVersion` (also one that already existed)."""
    rel = f"outputs/{version.project}/{version.base_name}/{version.number}.json"
    store.create_record(f"{run_dir(project, run_id)}/{rel}", {
        "project": version.project, "artifact": version.base_name, "version": version.number,
        "digest": str(version.digest), "created": created, "at": iso(at)})
    if journal:
        store.journal("run_updated", project=project, run=run_id, path=rel)


def finish(store: Store, project: str, run_id: str, state: str = "finished", exit_code: int = 0,
           summary: dict | None = None, runtime: float = 12.5, steps: int = 0, error: str | None = None,
           finished_at: float | str | None = None, journal: bool = True) -> None:
    """Write ``final.json`` (last, as the writer does)."""
    # Like the writer: Python's json, so a NaN or infinite summary value is kept as a token.
    store.backend.create(f"{run_dir(project, run_id)}/final.json", _json_bytes({
        "state": state, "exit_code": exit_code, "error": error, "summary": summary or {},
        "finished_at": iso(finished_at), "runtime": runtime, "steps": steps}))
    if journal:
        store.journal("run_finished", project=project, run=run_id, path="final.json")


def finished_run(store: Store, project: str = "default", *, config: dict | None = None,
                 summary: dict | None = None, tags: Iterable[str] = (), started_at: float | str | None = None,
                 journal: bool = True, **kw: Any) -> str:
    """A run with ``run.json`` and ``final.json`` only (a quick way to fill a project)."""
    run_id = write_run(store, project, config=config, tags=tags, started_at=started_at, journal=journal, **kw)
    finish(store, project, run_id, summary=summary, journal=journal)
    return run_id
