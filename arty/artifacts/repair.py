"""Finding bad records (for ``art verify``) and moving them aside (``art verify --repair``).

A record is *bad* when it is not valid JSON, not an object, or lacks a field
its readers need (:mod:`arty.store.records`); a version record also when it
contradicts where it is stored (:mod:`arty.artifacts.validate`); a ``by-digest``
record when it does not name a version of this artifact that holds its digest.
Readers skip bad records with a warning; this module finds them all, and
repairs the store without overwriting anything:

* a bad **version record** stays where it is (so its number is never given
  to other content) and the version is marked deleted, as ``art rm`` does:
  ``deleted/<N>.json`` with ``"reason": "bad record"``;
* any other bad record is **moved aside** to ``quarantine/<batch>/<its path>``
  (its bytes kept; see :meth:`arty.store.Store.quarantine_record`); for a
  ``by-digest`` record, a correct one is then created when a version holds
  that digest. An alias whose highest record was moved falls back to the one
  below it; ``art alias`` appends a new move.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

from arty.artifacts.edits import EDIT, edited_versions, edits_folder
from arty.artifacts.validate import check_version_record
from arty.artifacts.versions import Registry, check_by_digest
from arty.errors import ArtyError, BadRecord, IntegrityError, UsageError
from arty.hashing import Digest
from arty.store import Store, layout, now_iso
from arty.store.records import ALIAS, BY_DIGEST, VERSION, Fields
from arty.store.leases import who
from arty.store.store import journal_id

#: The ``kind`` of a verify problem that is a bad record (its ``subject`` is the record's path).
KIND = "bad-record"
#: Records of a run folder, by their path inside it: files, segments and blobs are not records.
_RUN_RECORD_DIRS = ("events", "edits", "inputs", "outputs", "resumes", "finishes")


@dataclass(frozen=True)
class Found:
    """One bad record: its path in the store and what is wrong with it."""

    path: str
    message: str


@dataclass(frozen=True)
class Repaired:
    """What ``repair`` did with one bad record: ``action`` in words, ``moved_to`` when moved aside."""

    path: str
    action: str
    moved_to: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"path": self.path, "action": self.action, "moved_to": self.moved_to}


def _check(store: Store, path: str, fields: Fields | None) -> Found | None:
    try:
        rec = store.read_record(path, fields)
        if fields is VERSION:  # also what the record says about itself (arty.artifacts.validate)
            _, project, _, name, _, fname = path.split("/")
            check_version_record(store, rec, project, name, layout.parse_seq(fname))
    except FileNotFoundError:
        return None
    except BadRecord as exc:
        return Found(path, exc.message)
    return None


def _run_records(store: Store, project: str, run_id: str) -> list[str]:
    base = layout.run(project, run_id)
    out = []
    for rel in store.walk(base):
        top = rel.split("/", 1)[0]
        if rel in ("run.json", "final.json") or (top in _RUN_RECORD_DIRS and rel.endswith(".json")):
            out.append(f"{base}/{rel}")
    return out


def find_bad_records(store: Store, artifacts: Iterable[tuple[str, str]] | None = None) -> list[Found]:
    """Every bad record of the store, in path order: artifacts' versions, aliases, version edits
    and ``by-digest`` records, runs' records and pipeline step records. With ``artifacts``
    (``(project, name)`` pairs), only the records of those artifacts."""
    plain: list[tuple[str, Fields | None]] = []
    by_digest: list[tuple[str, str, str, set[int | None]]] = []  # (project, artifact, file name, deleted)
    projects = store.list(layout.PROJECTS) if artifacts is None else sorted({p for p, _ in artifacts})
    for project in projects:
        names = store.list(layout.artifacts(project)) if artifacts is None else \
            sorted(n for p, n in artifacts if p == project)
        for name in names:
            gone = {layout.parse_seq(n) for n in store.list(layout.deleted(project, name))}
            folder = layout.versions(project, name)
            plain += [(f"{folder}/{layout.seq_name(n)}", VERSION) for n in store.log_seqs(folder) if n not in gone]
            for alias in store.list(layout.aliases(project, name)):
                folder = layout.alias(project, name, alias)
                plain += [(f"{folder}/{layout.seq_name(n)}", ALIAS) for n in store.log_seqs(folder)]
            by_digest += [(project, name, f, gone) for f in store.list(f"{layout.artifact(project, name)}/by-digest")]
            for n in sorted(edited_versions(store, project, name)):
                folder = edits_folder(project, name, n)
                plain += [(f"{folder}/{layout.seq_name(s)}", EDIT) for s in store.log_seqs(folder)]
        if artifacts is not None:
            continue
        for run_id in store.list(layout.runs(project)):
            plain += [(p, None) for p in _run_records(store, project, run_id)]
        steps = f"{layout.project(project)}/steps"
        plain += [(f"{steps}/{rel}", None) for rel in store.walk(steps) if rel.endswith(".json")]
    if store.is_local:
        checked = [_check(store, *item) for item in plain]
    else:
        with ThreadPoolExecutor(8) as pool:
            checked = list(pool.map(lambda item: _check(store, *item), plain))
    found = [f for f in checked if f is not None]
    bad_paths = {f.path for f in found}
    found += [f for f in (_check_by_digest(store, *item, bad_paths) for item in by_digest) if f is not None]
    return sorted(found, key=lambda f: f.path)


def _check_by_digest(store: Store, project: str, name: str, fname: str, gone: set[int | None],
                     bad_paths: set[str]) -> Found | None:
    """A ``by-digest`` record: well formed, and naming a version that holds its digest (unless
    that version is deleted, or its own record is bad and so reported already)."""
    path = f"{layout.artifact(project, name)}/by-digest/{fname}"
    digest = _digest_named(fname)
    if digest is None:
        return Found(path, f"record '{path}' in store '{store.url}' is not named after a digest")
    try:
        rec = store.read_record(path, BY_DIGEST)
        if rec["version"] in gone or \
                f"{layout.versions(project, name)}/{layout.seq_name(rec['version'])}" in bad_paths:
            return None
        check_by_digest(Registry(store, project), name, digest, rec)
    except FileNotFoundError:
        return None
    except BadRecord as exc:
        return Found(path, exc.message)
    except UsageError:  # a project or artifact folder whose name is not valid: not a record problem
        return None
    return None


def repair(store: Store, paths: Iterable[str]) -> list[Repaired]:
    """Repair the bad records at ``paths`` (as :func:`find_bad_records` reports them); see the
    module docstring. Nothing is overwritten."""
    batch = journal_id()
    out = []
    for path in sorted(set(paths)):
        parts = path.split("/")
        try:
            if len(parts) == 6 and parts[2] == "artifacts" and parts[4] == "versions":
                out.append(_retire_version(store, parts[1], parts[3], path))
            elif len(parts) == 6 and parts[2] == "artifacts" and parts[4] == "by-digest":
                out.append(_replace_by_digest(store, parts[1], parts[3], path, batch))
            else:
                out.append(Repaired(path, "moved aside", store.quarantine_record(path, batch)))
        except FileNotFoundError:
            out.append(Repaired(path, "already gone"))
    return out


def _retire_version(store: Store, project: str, name: str, path: str) -> Repaired:
    number = layout.parse_seq(path.rsplit("/", 1)[1])
    if number is None:
        raise ArtyError(f"'{path}' is not a version record")
    store.create_record(f"{layout.deleted(project, name)}/{number}.json",
                        {"version": number, "at": now_iso(), "by": who(), "reason": "bad record"})
    store.journal("version_deleted", project=project, artifact=name, version=number)
    return Repaired(path, f"marked v{number} of '{project}/{name}' deleted (the record stays, so v{number} is "
                          "never reused)")


def _replace_by_digest(store: Store, project: str, name: str, path: str, batch: str) -> Repaired:
    moved = store.quarantine_record(path, batch)
    digest = _digest_named(path.rsplit("/", 1)[1])
    version = Registry(store, project).first_with_digest(name, digest) if digest is not None else None
    if version is None:
        return Repaired(path, "moved aside", moved)
    store.create_record(path, {"version": version.number})
    return Repaired(path, f"moved aside; a new record names {version.version}", moved)


def _digest_named(fname: str) -> Digest | None:
    """The digest a ``by-digest`` file name (``<algorithm>-<hex>.json``) stands for, or None."""
    if not fname.endswith(".json"):
        return None
    algorithm, _, hexpart = fname[:-len(".json")].partition("-")
    try:
        return Digest.parse(f"{algorithm}:{hexpart}")
    except IntegrityError:
        return None
