"""The query API: find runs and read what they recorded, shaped like ``wandb.Api``.

::

    import arty
    api = arty.Api()                                   # the store and project the CLI would use
    runs = api.runs("detect-pedestrians",
                    filters={"config.learning_rate": {"$gt": 0.001}, "tags": "baseline"},
                    order="-summary.acc")
    r = api.run("detect-pedestrians/3kq9x0ab")
    r.config, r.summary, r.state, r.tags, r.notes
    r.history(keys=["loss"])                          # list of dicts; a DataFrame with pandas=True
    r.scan_history(); r.system_metrics(); r.console(); r.files()
    r.media("examples"); r.media_keys()               # logged images, tables, histograms
    r.used_artifacts(); r.logged_artifacts()
    api.lineage("model:latest", direction="upstream").to_mermaid()
    api.lineage("data:v3", direction="downstream").impact(type="model")

Run lists come from the SQLite index (:mod:`arty.index`), which is caught up
with the store before each query; history, system metrics, console output
and files are read from the run's records on demand.
"""

from __future__ import annotations

import difflib
import itertools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, Iterable, Iterator, Sequence

from arty.artifacts import ArtifactCollection, ArtifactVersion, Registry
from arty.artifacts.names import ArtifactRef, check_name
from arty.errors import ConflictError, InvalidPath, NotFound, UsageError, missing_attribute
from arty.hashing import Digest
from arty.index import Index
from arty.index.compare import flatten_dotted
from arty.index import records as _records
from arty.index import segments as _segments
from arty.lineage import DIRECTIONS, Lineage, artifact_node, build_graph, run_node
from arty.settings import check_project, project_not_found, resolve_project, resolve_store
from arty.store import Store

__all__ = ["Api", "ApiArtifact", "ApiFile", "ApiProject", "ApiRun", "ArtifactType"]


#: The keys of W&B's ``Api(overrides)`` that Arty takes (``entity`` is accepted and ignored).
OVERRIDE_KEYS = ("store", "project", "entity")


class Api:
    """Read access to the runs of a store.

    ``store`` is a :class:`arty.Store`, a URL, or None for the store the CLI
    would use (``ARTY_STORE``, the nearest ``.arty`` folder); it must exist.
    ``project`` is the default project (``ARTY_PROJECT``, the store's
    default, else ``"default"``). ``index_path`` overrides where the index
    file lives (default: the store's cache folder).

    Like ``wandb.Api(overrides)``, the first argument may be a dict:
    ``{"project": ..., "entity": ..., "store": ...}``. Arty has no entities:
    ``entity`` is accepted and ignored. ``base_url`` (a W&B server) is
    refused: Arty reads a store. ``timeout`` and ``api_key`` are accepted and
    ignored (no server is asked, nothing is authenticated).
    """

    def __init__(self, store: Store | str | dict[str, Any] | None = None, project: str | None = None, *,
                 index_path: str | None = None, timeout: int | None = None, api_key: str | None = None) -> None:
        if isinstance(store, dict):
            store, project = _overrides(store, project)
        self.store = store if isinstance(store, Store) else resolve_store(store, create=False)
        self.default_project = check_name(resolve_project(self.store, project), "project")
        self._index_path = index_path
        self._index: Index | None = None

    #: W&B ``Api`` calls Arty does not have: what to use instead (see __getattr__).
    _WANDB_MISSING = {
        "sweep": "the query API does not read sweeps: 'art sweep show ID --json' lists a sweep's trials and runs",
        "sweeps": "the query API does not read sweeps: 'art sweeps --json' lists them",
        "reports": "no reports: 'art server' shows runs and artifacts",
        "create_report": "no reports: 'art server' shows runs and artifacts",
        "create_run": "runs are created by arty.init",
        "create_project": "a project exists once a run or an artifact is logged to it",
        "user": "no accounts: runs record the user that started them (ApiRun.user)",
        "users": "no accounts: runs record the user that started them (ApiRun.user)",
        "team": "no accounts or teams",
        "create_team": "no accounts or teams",
        "create_user": "no accounts or teams",
        "viewer": "no accounts",
        "default_entity": "no entities",
        "registries": "no registry yet: mark versions with aliases ('art alias name:v3 prod')",
        "flush": "make a new arty.Api() to read what was written since",
        "job": "no launch jobs",
        "queued_run": "no launch queues",
        "create_run_queue": "no launch queues",
    }

    def __getattr__(self, name: str) -> Any:
        raise missing_attribute("Api", "api", name, Api._WANDB_MISSING)

    def __repr__(self) -> str:
        return f"Api({self.store.url!r}, project={self.default_project!r})"

    @property
    def index(self) -> Index:
        """The SQLite index of the store (opened on first use)."""
        if self._index is None:
            self._index = Index(self.store, self._index_path)
        return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> "Api":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- queries ------------------------------------------------------------------------------

    def projects(self, entity: str | None = None, per_page: int | None = None) -> list["ApiProject"]:
        """The projects in the store, by name (each a ``str`` with ``.name``, ``.runs()``, ...).
        ``entity`` and ``per_page`` are accepted for compatibility with W&B and ignored."""
        self.index.catch_up()
        return [ApiProject(self, p) for p in self.index.projects()]

    def project(self, name: str, entity: str | None = None) -> "ApiProject":
        """One project: :class:`arty.NotFound` unless it has runs or artifacts."""
        check_name(name, "project")
        if name in self.projects() or Registry(self.store, name).names():
            return ApiProject(self, name)
        raise project_not_found(name, list(self.projects()))

    def runs(self, project: str | None = None, filters: dict[str, Any] | None = None,
             order: str | Sequence[str] | None = "-created_at", per_page: int | None = None,
             limit: int | None = None) -> list["ApiRun"]:
        """Runs of ``project`` (default: this Api's) matching ``filters``, sorted by ``order``.

        ``filters`` and ``order`` follow W&B's query language (see
        :mod:`arty.index.filters`): ``{"config.lr": {"$gt": 0.001}, "tags":
        "baseline", "$or": [...]}``, ``order="-summary.acc"``. ``limit`` caps
        how many runs are returned; ``per_page`` is accepted for compatibility
        with ``wandb.Api().runs`` and changes nothing: the whole list is
        returned at once.
        """
        if per_page is not None and (not isinstance(per_page, int) or per_page <= 0):
            raise UsageError(f"per_page must be a positive integer, not {per_page!r}")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise UsageError(f"limit must be a non-negative integer, not {limit!r}")
        explicit = project is not None
        project = check_name(project or self.default_project, "project")
        index = self.index
        index.sync(project)
        rows = index.runs(project, filters, order or "-created_at", limit=limit)
        if not rows and explicit:  # the Api's own default project may be empty (a new store)
            check_project(self.store, project)
        return [ApiRun(self, r) for r in rows]

    def run(self, path: str) -> "ApiRun":
        """One run: ``"project/run_id"``, or ``"run_id"`` in the default project.

        A run name is accepted too when exactly one run of the project has it. A
        ``"run_id"`` that the default project does not have is found in the one
        other project that has it (several: :class:`arty.UsageError` naming them).
        Unknown runs raise :class:`arty.NotFound` naming the closest ids.
        """
        row = self._find_run(path)
        if row is None:
            raise self._not_found(*self._parse_path(path))
        return ApiRun(self, row)

    def _find_run(self, path: str) -> dict[str, Any] | None:
        """The index row of the run ``path`` names (see :meth:`run`), or None."""
        project, run_id = self._parse_path(path)
        index = self.index
        index.catch_up()
        row = index.refresh_run(project, run_id)
        if row is not None:
            return row
        named = index.runs_named(project, run_id)
        if len(named) == 1:
            return index.refresh_run(project, named[0]["id"]) or named[0]
        if len(named) > 1:
            raise UsageError(f"{len(named)} runs of project '{project}' are named '{run_id}': "
                             + ", ".join(r["id"] for r in named[:10]), hint="give the run id instead")
        if "/" in path.strip("/"):
            return None  # the project was given: look nowhere else
        elsewhere = [p for p in index.projects_with_run(run_id) if p != project]
        if len(elsewhere) == 1:
            return index.refresh_run(elsewhere[0], run_id)
        if len(elsewhere) > 1:
            raise UsageError(f"run '{run_id}' is in {len(elsewhere)} projects: {', '.join(elsewhere)}",
                             hint=f"name one: '{elsewhere[0]}/{run_id}' (or --project {elsewhere[0]})")
        return None

    def _parse_path(self, path: str) -> tuple[str, str]:
        if not isinstance(path, str) or not path.strip("/"):
            raise UsageError(f"invalid run path {path!r}", hint="use 'project/run_id' or 'run_id'")
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[2] == "runs":  # a W&B URL path: entity/project/runs/run_id
            parts = [parts[1], parts[3]]
        if len(parts) == 1:
            project, run_id = self.default_project, parts[0]
        elif len(parts) == 2:
            project, run_id = parts
        elif len(parts) == 3:  # W&B's entity/project/run_id: Arty has no entities
            project, run_id = parts[1:]
        else:
            raise UsageError(f"invalid run path '{path}'", hint="use 'project/run_id' or 'run_id'")
        check_name(project, "project")
        if not run_id or run_id.startswith(".") or len(run_id) > 128:
            raise UsageError(f"invalid run id '{run_id}'")
        return project, run_id

    def _not_found(self, project: str, run_id: str) -> NotFound:
        ids = self.index.run_ids(project)
        if not ids:
            projects = self.index.projects()
            where = f"project '{project}' has no runs"
            others = [p for p in projects if p != project]
            if others:
                where += f"; projects: {', '.join(others)}"
            return NotFound(f"run '{project}/{run_id}' not found ({where})",
                            hint="'art runs' lists runs; --project or 'project/run_id' picks another project")
        close = difflib.get_close_matches(run_id, ids, n=5, cutoff=0.5)
        close += [i for i in ids if i.startswith(run_id[:3]) and i not in close][:5 - len(close)]
        listing = f"close: {', '.join(close)}" if close else f"{len(ids)} runs, none close"
        return NotFound(f"run '{project}/{run_id}' not found ({listing})",
                        hint=f"'art runs {project}' lists its runs")

    def artifact(self, ref: str, type: str | None = None) -> "ApiArtifact":
        """An artifact version (``name``, ``name:v3``, ``name:alias``, ``project/name:alias``,
        W&B's ``entity/project/name:alias``) with its lineage: ``logged_by()`` and ``used_by()``,
        like W&B's ``api.artifact(...)``. With ``type``, a version of another type is a
        :class:`UsageError`."""
        v = Registry(self.store, self.default_project).resolve(_drop_entity(ref))
        if type is not None and v.type != type:
            raise UsageError(f"artifact '{v.name}' has type '{v.type}', not '{type}'")
        return ApiArtifact(self, v)

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        """Whether ``name`` (as :meth:`artifact` takes it) resolves to a version (of ``type``)."""
        try:
            self.artifact(name, type)
        except (NotFound, UsageError):
            return False
        return True

    def _registry(self, name: str) -> tuple[Registry, str]:
        """The registry and bare artifact name of ``name``, ``project/name`` or ``entity/project/name``."""
        ref = ArtifactRef.parse(_drop_entity(name))
        if ref.selector is not None:
            raise UsageError(f"'{name}' names a version, not an artifact", hint=f"give '{ref.name}' without ':'")
        return Registry(self.store, self.default_project).in_project(ref.project), ref.name

    def artifact_collection(self, type_name: str, name: str) -> ArtifactCollection:
        """Every version of artifact ``name`` (``project/name`` for another project), which
        must have type ``type_name``: :class:`NotFound` otherwise."""
        reg, base = self._registry(name)
        collection = ArtifactCollection(reg, base)
        if collection.type is None:
            raise reg.not_found(base, None)
        if collection.type != type_name:
            raise NotFound(f"artifact '{base}' has type '{collection.type}', not '{type_name}'",
                           hint=f"api.artifact_collection('{collection.type}', '{name}')")
        return collection

    def artifact_collection_exists(self, name: str, type: str) -> bool:
        try:
            self.artifact_collection(type, name)
        except (NotFound, UsageError):
            return False
        return True

    def artifacts(self, type_name: str, name: str, per_page: int | None = None,
                  tags: Any = None) -> list["ApiArtifact"]:
        """The versions of artifact ``name`` of type ``type_name``, newest first (W&B's
        ``api.artifacts``). ``per_page`` is accepted and ignored: the whole list comes at once;
        ``tags`` is refused (Arty versions have no tags yet)."""
        if tags is not None:
            raise UsageError("artifact versions have no tags in Arty", hint="filter by alias instead")
        versions = self.artifact_collection(type_name, name).versions()
        return [ApiArtifact(self, v) for v in reversed(versions)]

    def artifact_versions(self, type_name: str, name: str, per_page: int | None = None) -> list["ApiArtifact"]:
        """:meth:`artifacts` (W&B's older name)."""
        return self.artifacts(type_name, name, per_page)

    def artifact_collections(self, project_name: str | None = None, type_name: str | None = None,
                             per_page: int | None = None) -> list[ArtifactCollection]:
        """The artifacts of a project (default: this Api's) whose latest version has type
        ``type_name`` (None: every type), by name."""
        reg = Registry(self.store, self.default_project).in_project(_drop_entity(project_name) if project_name else None)
        out = [ArtifactCollection(reg, n) for n in reg.names()]
        return [c for c in out if type_name is None or c.type == type_name]

    def artifact_types(self, project: str | None = None) -> list["ArtifactType"]:
        """The artifact types used in a project (default: this Api's), by name."""
        collections = self.artifact_collections(project)
        names = sorted({c.type for c in collections if c.type is not None})
        return [ArtifactType(self, t, collections[0].project if collections else self.default_project) for t in names]

    def artifact_type(self, type_name: str, project: str | None = None) -> "ArtifactType":
        """One artifact type of a project: :class:`NotFound` when no artifact has it."""
        types = self.artifact_types(project)
        for t in types:
            if t.name == type_name:
                return t
        raise NotFound(f"no artifact of type '{type_name}' in project '{project or self.default_project}' "
                       f"(types: {', '.join(t.name for t in types) if types else 'none yet'})",
                       hint="'art ls' lists artifacts and their types")

    def lineage(self, ref: str, direction: str = "both", depth: int | None = None) -> Lineage:
        """The lineage around one artifact version or run, as a :class:`arty.lineage.Lineage`.

        ``ref`` is an artifact version (``name``, ``name:v3``, ``name:latest``,
        ``name:alias``, ``project/name:alias``) or a run (``run_id``,
        ``project/run_id``, or a name only one run has); a ref without ``:`` is
        looked up as a run first, then as an artifact (its latest version).
        ``direction``: ``"upstream"`` (what it came from), ``"downstream"`` (what
        came from it) or ``"both"``; ``depth`` limits the edges walked (None: all).
        The result exports itself (``to_text``, ``to_json``, ``to_graphml``,
        ``to_dot``, ``to_mermaid``); ``.impact(type="model")`` lists the versions made
        from the root, directly or not. Which runs produced or used a version:
        ``api.lineage("data:v3", depth=1)``.
        """
        if direction not in DIRECTIONS:
            raise UsageError(f"invalid direction '{direction}'", hint="use one of: " + ", ".join(DIRECTIONS))
        node = self._lineage_node(ref)
        graph = build_graph(self.index)
        if node not in graph:  # logged after the catch-up: read again
            graph = build_graph(self.index)
        if node not in graph:
            raise NotFound(f"'{ref}' is not in the index yet", hint="'art index rebuild' reads every record again")
        return Lineage(graph, node, project=self.default_project).around(node, direction, depth)

    def _lineage_node(self, ref: str) -> str:
        if not isinstance(ref, str) or not ref.strip("/"):
            raise UsageError(f"invalid lineage reference {ref!r}",
                             hint="NAME[:VERSION] of an artifact, or a run id")
        registry = Registry(self.store, self.default_project)
        if ":" in ref:
            v = registry.resolve(ref)
            return artifact_node(v.project, v.base_name, v.number)
        parts = ref.strip("/").split("/")
        if len(parts) <= 2 and all(parts):
            row = self._find_run(ref)
            if row is not None:
                return run_node(row["project"], row["id"])
        try:
            v = registry.resolve(ref)
        except NotFound as exc:
            raise NotFound(exc.message, hint="give NAME[:VERSION] of an artifact ('art ls' lists them) "
                                             "or a run id ('art runs' lists them)") from None
        return artifact_node(v.project, v.base_name, v.number)

    def rebuild_index(self) -> dict[str, int]:
        """Rebuild the index from the store's records (``art index rebuild``); returns counts."""
        return self.index.rebuild()


def _drop_entity(ref: str) -> str:
    """W&B's ``entity/project/name[:sel]`` as ``project/name[:sel]`` (Arty has no entities)."""
    if isinstance(ref, str):
        head, sep, tail = ref.partition(":")
        parts = head.split("/")
        if len(parts) == 3:
            return "/".join(parts[1:]) + sep + tail
    return ref


def _overrides(overrides: dict[str, Any], project: str | None) -> tuple[Any, str | None]:
    """``(store, project)`` from W&B-style ``Api(overrides)``."""
    if "base_url" in overrides:
        raise UsageError(f"Arty reads a store, not a server: 'base_url' ({overrides['base_url']!r}) has no meaning",
                         hint="Api({'store': URL}) or ARTY_STORE names the store")
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS) - {"run"})
    if unknown:
        raise UsageError(f"unknown Api override(s): {', '.join(unknown)}",
                         hint="known: " + ", ".join(OVERRIDE_KEYS))
    return overrides.get("store"), project or overrides.get("project")


class ApiProject(str):
    """A project of the store: its name (a ``str``), with W&B's ``Project`` attributes."""

    def __new__(cls, api: Api, name: str) -> "ApiProject":
        obj = super().__new__(cls, name)
        obj._api = api
        return obj

    @property
    def name(self) -> str:
        return str(self)

    @property
    def entity(self) -> None:
        return None

    def runs(self, **kwargs: Any) -> list["ApiRun"]:
        """``api.runs(this project, ...)``."""
        return self._api.runs(str(self), **kwargs)

    def artifacts_types(self) -> list["ArtifactType"]:
        """``api.artifact_types(this project)`` (W&B spells it ``artifacts_types``)."""
        return self._api.artifact_types(str(self))


class ArtifactType:
    """An artifact type used in a project (W&B's ``ArtifactType``)."""

    def __init__(self, api: Api, name: str, project: str) -> None:
        self._api = api
        self.name = name
        self.project = project

    def __repr__(self) -> str:
        return f"<ArtifactType {self.project}/{self.name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArtifactType) and (self.project, self.name) == (other.project, other.name)

    def __hash__(self) -> int:
        return hash((self.project, self.name))

    def collections(self, per_page: int | None = None) -> list[ArtifactCollection]:
        """The artifacts of this type, by name."""
        return self._api.artifact_collections(self.project, self.name)

    def collection(self, name: str) -> ArtifactCollection:
        return self._api.artifact_collection(self.name, f"{self.project}/{name}")


class ApiArtifact:
    """An :class:`ArtifactVersion` seen through the index: who logged it and who used it.

    Every attribute of the version (``digest``, ``files()``, ``download()``, ...)
    is available on this object too.
    """

    def __init__(self, api: Api, version: ArtifactVersion) -> None:
        self._api = api
        self.version_object = version

    def __getattr__(self, name: str) -> Any:
        return getattr(self.version_object, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_api", "version_object"):
            object.__setattr__(self, name, value)
        else:  # description, metadata, tags, ttl, aliases: changed on the version, then save()
            setattr(self.version_object, name, value)

    def __repr__(self) -> str:
        return f"<ApiArtifact {self.version_object.qualified_name}>"

    def _runs(self, rows: list[dict[str, Any]], key: str) -> list["ApiRun"]:
        seen, out = set(), []
        for r in rows:
            path = f"{r['project']}/{r[key]}"
            if path not in seen:
                seen.add(path)
                try:
                    out.append(self._api.run(path))
                except NotFound:
                    continue  # an edge to a run whose records are not in the store (yet)
        return out

    def _sources(self) -> list[ArtifactVersion]:
        """This version, and the version it links to when it is a link in a registry."""
        v = self.version_object
        if not v.is_link:
            return [v]
        try:
            return [v, v.source_version]
        except NotFound:  # the source was deleted since: the link alone
            return [v]

    def logged_by(self) -> "ApiRun | None":
        """The run that created this version (its record's ``created_by``; for a link in a
        registry, the source version's), or None."""
        v = self._sources()[-1]
        if not v.created_by:
            return None
        try:
            return self._api.run(f"{v.project}/{v.created_by}")
        except NotFound:
            return None

    def link(self, target_path: str, aliases: Iterable[str] | None = None) -> "ApiArtifact":
        """Link this version into a registry's collection (``[REGISTRY/]COLLECTION``) with
        ``aliases``; returns the collection version (:meth:`ArtifactVersion.link`)."""
        return ApiArtifact(self._api, self.version_object.link(target_path, aliases))

    def loggers(self) -> list["ApiRun"]:
        """Every run that logged this version (the creator, and runs that logged identical content)."""
        self._api.index.sync(None)
        rows = [r for v in self._sources() for r in self._api.index.producers(v.project, v.base_name, v.number)]
        return self._runs(rows, "run")

    def used_by(self) -> list["ApiRun"]:
        """The runs that used this version (``use_artifact``); for a link in a registry, also
        those that used its source under its own name."""
        self._api.index.sync()
        rows = [r for v in self._sources() for r in self._api.index.consumers(v.project, v.base_name, v.number)]
        return self._runs(rows, "run")


def _json(text: str | None, default: Any) -> Any:
    return default if text is None else json.loads(text)


class ApiRun:
    """One run as the index and the store know it: a snapshot, read-only.

    Attributes come from the index: ``id``, ``name``, ``project``, ``state``
    (``running``, ``finished``, ``failed`` or ``crashed``), ``config``,
    ``summary``, ``tags``, ``notes``, ``group``, ``job_type``, ``created_at``,
    ``finished_at`` (ISO 8601), ``runtime`` (seconds), ``exit_code``,
    ``error``, ``host``, ``git``, ``command``. History, system metrics,
    console output and files are read from the store when asked for.
    """

    def __init__(self, api: Api, row: dict[str, Any]) -> None:
        self._api = api
        self._row = row
        self._config: dict[str, Any] | None = None
        self._summary: dict[str, Any] | None = None
        self._tags: list[str] | None = None
        self._edited: dict[str, Any] = {}  # name, notes, group, job_type set on this object
        self._snapshot: dict[str, str] = {}  # config and summary as first read, for update()

    #: W&B run calls of the query API Arty does not have: what to use instead (see __getattr__).
    _WANDB_MISSING = {
        "url": "no hosted page: 'art server' shows the run at /p/<project>/runs/<id>",
        "lastHistoryStep": "run.steps is the number of history rows; run.history() has their _step",
        "wait_until_finished": "poll arty.Api().run(path).state",
        "upload_file": "files are saved by the run itself: run.save(path) while it runs",
        "sweep": "a sweep trial's run.json names its sweep ('sweep': {'id', 'trial', 'attempt'}); "
                 "'art sweep show ID' lists its trials",
        "metadata": "run.host, run.user, run.python, run.git and run.command hold what W&B keeps there",
        "storage_id": "run.path identifies the run",
        "load": "make a new arty.Api() to read the run again",
        "to_html": "'art server' shows the run",
    }

    def __getattr__(self, name: str) -> Any:
        raise missing_attribute("ApiRun", "run", name, ApiRun._WANDB_MISSING)

    # -- fields --------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._row["id"]

    @property
    def project(self) -> str:
        return self._row["project"]

    @property
    def path(self) -> str:
        """``"project/run_id"``."""
        return f"{self.project}/{self.id}"

    @property
    def name(self) -> str:
        return self._edited.get("name", self._row["name"])

    @name.setter
    def name(self, value: str) -> None:
        self._edited["name"] = value

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def state(self) -> str:
        return self._row["state"]

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = _records.load_json_column(self._row["config"], self._row["config_raw"], {})
            self._snapshot["config"] = json.dumps(self._config, sort_keys=True, default=str)
        return self._config

    @property
    def summary(self) -> dict[str, Any]:
        if self._summary is None:
            self._summary = _records.load_json_column(self._row["summary"], self._row["summary_raw"], {})
            self._snapshot["summary"] = json.dumps(self._summary, sort_keys=True, default=str)
        return self._summary

    @property
    def tags(self) -> list[str]:
        """The run's tags; change the list (or assign one) and call :meth:`update` to store it."""
        if self._tags is None:
            self._tags = _json(self._row["tags"], [])
        return self._tags

    @tags.setter
    def tags(self, value: Sequence[str]) -> None:
        self._tags = list(value)

    @property
    def notes(self) -> str | None:
        return self._edited.get("notes", self._row["notes"])

    @notes.setter
    def notes(self, value: str) -> None:
        self._edited["notes"] = value

    @property
    def group(self) -> str | None:
        return self._edited.get("group", self._row["run_group"])

    @group.setter
    def group(self, value: str | None) -> None:
        self._edited["group"] = value

    @property
    def job_type(self) -> str | None:
        return self._edited.get("job_type", self._row["job_type"])

    @job_type.setter
    def job_type(self, value: str | None) -> None:
        self._edited["job_type"] = value

    @property
    def entity(self) -> None:
        """Always None: Arty has no entities."""
        return None

    # -- edits (W&B's run.update()) --------------------------------------------------------------

    def update(self) -> None:
        """Store the changes made on this object to ``name``, ``notes`` and ``tags``, as an edit
        record of the run (like an edit in the web UI: who and when are kept; nothing is
        overwritten). Changes to ``config``, ``summary``, ``group`` or ``job_type`` cannot be
        stored after the fact: :class:`UsageError` naming them, and nothing is written."""
        from arty.runs.edits import edit_run

        frozen = [k for k in ("group", "job_type") if k in self._edited]
        for key, value in (("config", self._config), ("summary", self._summary)):
            if value is not None and json.dumps(value, sort_keys=True, default=str) != self._snapshot.get(key):
                frozen.append(key)
        if frozen:
            raise UsageError(f"cannot change {', '.join(frozen)} of run '{self.path}' after the fact",
                             hint="only name, notes and tags can be edited; log a new run "
                                  "(arty.init(resume='allow', id=...)) to record more")
        fields: dict[str, Any] = {k: v for k, v in self._edited.items() if k in ("name", "notes")}
        if self._tags is not None and self._tags != _json(self._row["tags"], []):
            fields["tags"] = list(self._tags)
        fields = {k: v for k, v in fields.items() if k == "tags" or v != self._row[k]}
        if not fields:
            return
        edit_run(self._store, self.project, self.id, **fields)
        fresh = self._api.index
        fresh.catch_up()
        row = fresh.refresh_run(self.project, self.id)
        if row is not None:
            self._row = row
        self._edited = {k: v for k, v in self._edited.items() if k not in fields}
        self._tags = None

    def delete(self, delete_artifacts: bool = False) -> None:
        """Not supported: a store keeps every record of a run."""
        raise UsageError(f"cannot delete run '{self.path}': the store keeps every record of a run",
                         hint="hide it with a tag (run.tags.append('archived'); run.update()) and filter on "
                              "tags; 'art gc' frees the blobs of deleted artifact versions")

    @property
    def created_at(self) -> str | None:
        return self._row["created_at"]

    @property
    def finished_at(self) -> str | None:
        return self._row["finished_at"]

    @property
    def runtime(self) -> float | None:
        """Seconds: from ``final.json``, or up to the last record seen for a run not finished."""
        return self._row["runtime"]

    @property
    def exit_code(self) -> int | None:
        return self._row["exit_code"]

    @property
    def error(self) -> str | None:
        return self._row["error"]

    @property
    def steps(self) -> int | None:
        """History rows (from ``final.json``; None while running)."""
        return self._row["steps"]

    @property
    def host(self) -> str | None:
        return self._row["host"]

    @property
    def user(self) -> str | None:
        return self._row["user"]

    @property
    def git(self) -> dict[str, Any] | None:
        return _json(self._row["git"], None)

    @property
    def command(self) -> list[str] | None:
        return _json(self._row["command"], None)

    @property
    def python(self) -> str | None:
        return self._row["python"]

    @property
    def mode(self) -> str | None:
        return self._row["mode"]

    def __repr__(self) -> str:
        return f"<ApiRun {self.path} {self.name!r} ({self.state})>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiRun) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def to_json(self) -> dict[str, Any]:
        """Every field as JSON-ready values."""
        return {
            "id": self.id, "project": self.project, "name": self.name, "state": self.state,
            "created_at": self.created_at, "finished_at": self.finished_at, "runtime": self.runtime,
            "exit_code": self.exit_code, "error": self.error, "notes": self.notes, "tags": self.tags,
            "group": self.group, "job_type": self.job_type, "host": self.host, "user": self.user,
            "git": self.git, "command": self.command, "python": self.python, "mode": self.mode,
            "steps": self.steps, "config": self.config, "summary": self.summary,
        }

    # -- the store ---------------------------------------------------------------------------

    @property
    def _store(self) -> Store:
        return self._api.store

    @property
    def _dir(self) -> str:
        return _records.run_dir(self.project, self.id)

    def _segment_blobs(self, stream: str) -> Iterator[tuple[str, bytes]]:
        """``(path, bytes)`` of each segment of a stream, in order (fetched ahead on remote stores)."""
        folder = f"{self._dir}/{stream}"
        paths = [f"{folder}/{_segments.segment_name(s)}" for s in _segments.segment_seqs(self._store.list(folder))]
        read = self._store.backend.read
        if self._store.is_local or len(paths) <= 1:
            for p in paths:
                yield p, read(p)
            return
        with ThreadPoolExecutor(8) as pool:
            yield from zip(paths, pool.map(read, paths))

    def _frames(self, stream: str, keys: Sequence[str] | None, first: str
                ) -> Iterator[tuple[int, dict[str, list[Any]], list[str]]]:
        """``(rows, columns, names)`` per segment; ``names`` are the output keys, ``first`` first."""
        wanted = None if keys is None else [first, *(k for k in keys if k != first)]
        offset = 0
        for where, data in self._segment_blobs(stream):
            rows, cols = _segments.read_columns(data, wanted, where)
            if first == "_step" and "_step" not in cols:
                cols["_step"] = list(range(offset, offset + rows))
            offset += rows
            names = wanted if wanted is not None else _segments.order_keys(cols, first)
            yield rows, cols, names

    def scan_history(self, keys: Iterable[str] | None = None, min_step: int | None = None,
                     max_step: int | None = None) -> Iterator[dict[str, Any]]:
        """Every history row, segment by segment (memory stays flat).

        Each row has ``_step`` and the keys logged in it. With ``keys``, only
        rows where all of them were logged, each with ``_step`` and those keys.
        ``min_step``/``max_step`` bound ``_step`` (max exclusive).
        """
        keys = _keys(keys)
        for rows, cols, names in self._frames("history", keys, "_step"):
            out = _segments.build_rows(rows, cols, names, require_all=keys is not None)
            if min_step is not None or max_step is not None:
                lo = float("-inf") if min_step is None else min_step
                hi = float("inf") if max_step is None else max_step
                out = [r for r in out if lo <= r["_step"] < hi]
            yield from out

    def history(self, samples: int | None = None, keys: Iterable[str] | None = None, x_axis: str = "_step",
                pandas: bool = False, stream: str = "default") -> Any:
        """The metric history: a list of dicts, or a pandas DataFrame with ``pandas=True``.

        Rows as in :meth:`scan_history`. ``samples`` keeps at most that many
        rows, evenly spaced (first and last included); None keeps all. Only the
        columns asked for are decoded, so a few keys of a wide history read fast.
        ``x_axis`` (default ``_step``) is another key every row must have, put
        first (with ``keys``, it is read too). ``stream="system"`` returns
        :meth:`system_metrics` instead. The arguments are W&B's, in W&B's
        order; unlike W&B, the default is a list and every row (no sampling).
        """
        if isinstance(samples, (str, list, tuple)) and keys is None:  # history(["loss"]): keys first, as before
            samples, keys = None, samples
        if samples is not None and (not isinstance(samples, int) or isinstance(samples, bool) or samples < 1):
            raise UsageError(f"samples must be a positive integer, not {samples!r}")
        if stream == "system":
            return self.system_metrics(pandas=pandas, samples=samples)
        if stream != "default":
            raise UsageError(f"unknown stream '{stream}'", hint="use 'default' (metrics) or 'system'")
        keys = _keys(keys)
        if x_axis != "_step":
            if not isinstance(x_axis, str) or not x_axis:
                raise UsageError(f"invalid x_axis {x_axis!r}", hint="a history key, e.g. 'epoch'")
            rows = self.history(keys=None if keys is None else [x_axis, *keys])
            rows = [{x_axis: r[x_axis], **{k: v for k, v in r.items() if k != x_axis}}
                    for r in rows if r.get(x_axis) is not None]
            rows = _segments.sample(rows, samples)
            return _pandas().DataFrame(rows) if pandas else rows
        if pandas:
            return self._frame("history", keys, "_step", samples)
        out: list[dict[str, Any]] = []
        for rows, cols, names in self._frames("history", keys, "_step"):
            out.extend(_segments.build_rows(rows, cols, names, require_all=keys is not None))
        return _segments.sample(out, samples)

    def media(self, key: str) -> list[dict[str, Any]]:
        """The media logged under ``key``, in step order: ``[{"step": s, "value": v}]``.

        ``v`` is the stored dict (``_type`` ``image``, ``table``, ``histogram``, ``audio``,
        ``video``, ``html``, ``object3d``, ``molecule`` or ``plotly``; see docs/media.md), or a
        list of them when several were logged at once.
        Steps where ``key`` held something else are left out.
        """
        out = []
        for row in self.scan_history([key]):
            v = row[key]
            if _is_media_json(v):
                out.append({"step": row["_step"], "value": v})
        return out

    def media_keys(self) -> list[str]:
        """The history keys that hold media values, sorted."""
        found: set[str] = set()
        for _rows, cols, _names in self._frames("history", None, "_step"):
            for k, values in cols.items():
                if k not in found and not k.startswith("_") and any(_is_media_json(v) for v in values):
                    found.add(k)
        return sorted(found)

    def table(self, value: dict[str, Any]) -> Any:
        """A logged table (its history dict, as :meth:`media` returns it) as an :class:`arty.Table`."""
        from arty.artifacts.tables import load_table

        return load_table(self._store, value)

    def image_bytes(self, value: dict[str, Any]) -> bytes:
        """The PNG bytes of a logged image (its history dict), verified against its digest."""
        if not isinstance(value, dict) or value.get("_type") != "image" or "digest" not in value:
            raise UsageError("not an image value", hint="expected a history dict with _type 'image'")
        return self._store.read_blob(Digest.parse(value["digest"]))

    def media_bytes(self, value: dict[str, Any]) -> bytes:
        """The bytes of any stored media dict with a ``digest`` (an audio clip's WAV, a video,
        an HTML page, a point cloud's JSON, a plotly figure's JSON, or an image's mask:
        ``value["masks"]["predictions"]``), verified against its digest."""
        if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
            raise UsageError("not a stored media value", hint="expected a history dict with a 'digest'")
        return self._store.read_blob(Digest.parse(value["digest"]))

    def system_metrics(self, pandas: bool = False, samples: int | None = None) -> Any:
        """System metric samples (``_timestamp``, ``cpu.percent``, ``gpu.0.utilization``, ...)."""
        if pandas:
            return self._frame("system", None, "_timestamp", samples)
        out: list[dict[str, Any]] = []
        for rows, cols, names in self._frames("system", None, "_timestamp"):
            out.extend(_segments.build_rows(rows, cols, names, require_all=False))
        return _segments.sample(out, samples)

    def _frame(self, stream: str, keys: list[str] | None, first: str, samples: int | None) -> Any:
        pd = _pandas()
        data: dict[str, list[Any]] = {}
        total = 0
        for rows, cols, names in self._frames(stream, keys, first):
            for k in names:
                if k not in data:
                    data[k] = [None] * total
                data[k].extend(cols.get(k) or [None] * rows)
            total += rows
            for k in data:
                if len(data[k]) < total:
                    data[k].extend([None] * (total - len(data[k])))
        if keys is not None and total:
            keep = [all(v is not None for v in t) for t in zip(*(data[k] for k in keys))] if keys else [True] * total
            data = {k: list(itertools.compress(v, keep)) for k, v in data.items()}
        if samples is not None and data:
            n = len(next(iter(data.values())))
            idx = _segments.sample(list(range(n)), samples)
            data = {k: [v[i] for i in idx] for k, v in data.items()}
        columns = list(data) if data else [first, *(keys or [])]
        return pd.DataFrame(data, columns=columns)

    def console(self, stream: str | None = None) -> list[tuple[float, str, str]]:
        """Captured output lines ``(unix time, "stdout"|"stderr", text)``, in order."""
        if stream not in (None, "stdout", "stderr"):
            raise UsageError(f"unknown stream '{stream}'", hint="use 'stdout' or 'stderr'")
        out: list[tuple[float, str, str]] = []
        for where, data in self._segment_blobs("console"):
            out.extend(line for line in _segments.read_console(data, where) if stream is None or line[1] == stream)
        return out

    def files(self) -> list[str]:
        """Paths of the files saved with the run (``requirements.txt``, ``diff.patch``, ``code/...``)."""
        base = f"{self._dir}/files"
        out: list[str] = []

        def walk(rel: str) -> None:
            folder = f"{base}/{rel}" if rel else base
            for name in self._store.list(folder):
                sub = f"{rel}/{name}" if rel else name
                if _is_folder(self._store, f"{base}/{sub}", name):
                    walk(sub)
                else:
                    out.append(sub)

        walk("")
        return sorted(out)

    def read_file(self, name: str) -> bytes:
        """The bytes of one saved file."""
        rel = _safe_relpath(name)
        try:
            return self._store.backend.read(f"{self._dir}/files/{rel}")
        except FileNotFoundError:
            names = self.files()
            raise NotFound(f"no file '{name}' in run '{self.path}' "
                           f"(files: {', '.join(names[:20]) if names else 'none'})") from None

    def file(self, name: str) -> "ApiFile":
        """One saved file, as W&B's ``run.file(name)``: ``.download(root)`` writes it."""
        rel = _safe_relpath(name)
        try:
            size = self._store.backend.size(f"{self._dir}/files/{rel}")
        except FileNotFoundError:
            self.read_file(rel)  # raises NotFound listing the files
            raise
        return ApiFile(self, rel, size)

    def download_file(self, name: str, root: str | os.PathLike[str] = ".") -> str:
        """Write one saved file under ``root`` (keeping its relative path); returns the local path."""
        rel = _safe_relpath(name)
        data = self.read_file(rel)
        dest = os.path.join(os.fspath(root), *rel.split("/"))
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        tmp = f"{dest}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
        return dest

    def used_artifacts(self) -> list[ArtifactVersion]:
        """The artifact versions this run used (its ``inputs/`` records), by project, name, version."""
        return self._versions(_records.load_edges(_records.Reader(self._store), self.project, self.id, "inputs"))

    def logged_artifacts(self) -> list[ArtifactVersion]:
        """The artifact versions this run logged, by project, name, version: its ``outputs/``
        records, and the versions of its project whose ``created_by`` is this run."""
        index = self._api.index
        index.catch_up()
        edges = {(e["artifact_project"], e["artifact"], e["version"])
                 for e in _records.load_edges(_records.Reader(self._store), self.project, self.id, "outputs")}
        edges |= {(v["project"], v["name"], v["version"]) for v in index.outputs(self.project, self.id)}
        return self._versions([{"artifact_project": p, "artifact": a, "version": n} for p, a, n in sorted(edges)])

    def _versions(self, edges: list[dict[str, Any]]) -> list[ArtifactVersion]:
        regs: dict[str, Registry] = {}
        out = []
        for e in edges:
            reg = regs.setdefault(e["artifact_project"], Registry(self._store, e["artifact_project"]))
            out.append(reg.version(e["artifact"], e["version"]))
        return out


class ApiFile:
    """A file saved with a run (W&B's ``File``): ``name``, ``size``, ``download()``."""

    def __init__(self, run: ApiRun, name: str, size: int | None) -> None:
        self.run = run
        self.name = name
        self._size = size

    def __repr__(self) -> str:
        return f"<ApiFile {self.run.path}/{self.name}>"

    @property
    def size(self) -> int:
        if self._size is None:
            self._size = len(self.run.read_file(self.name))
        return self._size

    def download(self, root: str | os.PathLike[str] = ".", replace: bool = False, exist_ok: bool = False,
                 api: Any = None) -> IO[str]:
        """Write the file under ``root`` (keeping its relative path) and return it opened for
        reading, like W&B. A file already there is an :class:`arty.ConflictError` unless
        ``replace`` (overwrite it) or ``exist_ok`` (keep it and return it)."""
        dest = os.path.join(os.fspath(root), *self.name.split("/"))
        if os.path.exists(dest) and not replace:
            if not exist_ok:
                raise ConflictError(f"file '{dest}' already exists",
                                    hint="download(replace=True) overwrites it; exist_ok=True keeps it")
            return open(dest)  # noqa: SIM115 - returned to the caller, like W&B
        self.run.download_file(self.name, root)
        return open(dest)  # noqa: SIM115

    def delete(self) -> None:
        raise UsageError(f"cannot delete '{self.name}' of run '{self.run.path}': saved files are kept",
                         hint="the store never overwrites or removes a run's records")


#: The ``_type`` of the media dicts a history row can hold (docs/media.md).
MEDIA_TYPES = ("image", "table", "histogram", "audio", "video", "html", "object3d", "molecule", "plotly")


def _is_media_json(v: Any) -> bool:
    """A stored media dict (``{"_type": ...}``) or a non-empty list of them."""
    if isinstance(v, list) and v:
        v = v[0]
    return isinstance(v, dict) and v.get("_type") in MEDIA_TYPES


def _is_folder(store: Store, path: str, name: str) -> bool:
    """Whether ``path`` (named ``name``) is a folder of the store.

    Local stores ask the file system. Object stores only list: a file lists as itself
    (``[name]``), which a folder holding one entry of the same name also does; then the entry
    below tells them apart (a file has none).
    """
    local = store.backend.local_path(path)
    if local is not None:
        return os.path.isdir(local)
    children = store.list(path)
    if not children:
        return False
    if children == [name]:
        return bool(store.list(f"{path}/{name}"))
    return True


def _keys(keys: Iterable[str] | None) -> list[str] | None:
    if keys is None:
        return None
    if isinstance(keys, str):
        return [keys]
    out = list(dict.fromkeys(keys))
    for k in out:
        if not isinstance(k, str):
            raise UsageError(f"history keys must be strings, not {k!r}")
    return out


def _safe_relpath(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidPath(f"invalid file name {name!r}")
    rel = name.replace("\\", "/")
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or (len(parts[0]) >= 2 and parts[0][1] == ":"):
        raise InvalidPath(f"invalid file name '{name}'", hint="a relative path without '..' or empty parts")
    return rel


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise UsageError("pandas=True needs pandas, which is not installed",
                         hint="pip install pandas; or call without pandas=True for a list of dicts") from None
    return pandas
