"""``arty.init`` and the ``Run``: config, history, summary, and what is captured around them.

A W&B script moves over by changing the import::

    run = arty.init(project="detect-pedestrians", config={"lr": 0.01}, tags=["baseline"])
    run.define_metric("acc", summary="max")
    for step in range(1000):
        run.log({"loss": ..., "acc": ...})
    run.summary["best_f1"] = 0.91
    run.finish()            # or `with arty.init(...) as run:`, or automatically at exit

``run.log`` never waits on disk or network; see :mod:`arty.tracking.writer`.
"""

from __future__ import annotations

import atexit
import getpass
import json
import os
import secrets
import socket
import sys
import threading
import time
import traceback
import warnings
from typing import TYPE_CHECKING, Any, Iterable

from arty.errors import ArtyError, MissingExtra, NotFound, StoreError, UsageError, missing_attribute
from arty.settings import find_store_url, resolve_project, resolve_store
from arty.store import Store, layout, now_iso, open_backend
from arty.store import segments
from arty.store.backends import env_seconds
from arty.tracking import env
from arty.tracking.config import Config, load_config
from arty.tracking.local import LAST, RunFolder, local_runs_root
from arty.tracking.media import is_media
from arty.tracking.summary import Summary
from arty.tracking.values import clean, flatten
from arty.tracking.writer import EARLY_LINES, MAX_BUFFERED_ROWS, MAX_BUFFERED_VALUES, Writer

if TYPE_CHECKING:  # the artifacts code is loaded when a run first uses or logs one, not by arty.init
    from arty.artifacts import Artifact, ArtifactVersion, Registry

MODES = ("online", "offline", "disabled")
#: Left in the run's folder (``dir``, else the working directory) by ``resume="auto"``.
RESUME_FILE = ".arty-resume.json"
#: W&B's other names for modes.
_MODE_ALIASES = {"dryrun": "offline", "run": "online"}
#: ``finish()`` returns within this many seconds (``ARTY_FINISH_TIMEOUT``) whatever the store does.
DEFAULT_FINISH_TIMEOUT = 30.0
_EARLY_ROWS = MAX_BUFFERED_ROWS // 2
_EARLY_VALUES = MAX_BUFFERED_VALUES // 2
_FAST = (int, float, str, bool)
_ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"
_current: "Run | None" = None
_current_lock = threading.Lock()


def finish_timeout() -> float:
    """Seconds ``finish()`` may take at most: ``ARTY_FINISH_TIMEOUT``, default 30."""
    return env_seconds("ARTY_FINISH_TIMEOUT", DEFAULT_FINISH_TIMEOUT)


def _left(deadline: float, cap: float | None = None) -> float:
    """Seconds until ``deadline`` (a :func:`time.monotonic` value), at most ``cap``, never negative."""
    left = max(0.0, deadline - time.monotonic())
    return left if cap is None else min(cap, left)


def new_run_id() -> str:
    """8 random lowercase base-36 characters, like W&B's run ids."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(8))


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not run_id or len(run_id) > 64 or not all(
            c.isalnum() or c in "-_" for c in run_id) or not run_id.isascii():
        raise UsageError(f"invalid run id '{run_id}'", hint="use up to 64 letters, digits, '-' or '_'")
    return run_id


def current() -> "Run | None":
    """The run ``arty.log`` / ``arty.config`` / ``arty.summary`` act on."""
    return _current


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Run:
    """One tracked run. Create it with :func:`init`."""

    _row_media = False  # the pending row holds media values (see arty.tracking.media)
    _traceback: list[str] | None = None  # of the exception that ended the run, for its console
    _resume_file: str | None = None  # resume="auto": names this run until it finishes with exit code 0

    def __init__(self, *, store: Store | None, store_url: str, project: str, run_id: str, name: str | None,
                 config: dict[str, Any], notes: str | None, tags: list[str], group: str | None,
                 job_type: str | None, mode: str, folder: RunFolder, resume_state: dict[str, Any] | None,
                 flush_interval: float, capture: dict[str, Any]) -> None:
        self.id = run_id
        self.project = project
        self.mode = mode
        self.store = store
        self.store_url = store_url
        self.folder = folder
        self.dir = folder.root
        self.group = group
        self.job_type = job_type
        self._name = name or run_id
        self._notes = notes
        self._tags = list(tags)
        self._finished = False
        self._exit_code: int | None = None
        self._error: str | None = None
        self._start_mono = time.monotonic()
        self._start_wall = time.time()
        self._config_dirty = False
        self._summary_dirty = False
        self._meta_events: list[dict[str, Any]] = []
        self.config = Config(config, on_change=self._mark_config)
        self.summary = Summary(on_change=self._mark_summary)
        self._step = 0
        self._pending: dict[str, Any] | None = None
        self._rows = 0
        seqs: dict[str, int] = {}
        #: For a finished run resumed: the number of its ``resumes/`` record (and of the ``finishes/``
        #: record that closes this session); None otherwise.
        self._reopen: int | None = resume_state.get("reopen") if resume_state else None
        #: The record that finishes this session: ``final.json``, else ``finishes/<n>``.
        self._closing: str = resume_state.get("closing", LAST) if resume_state else LAST
        self._runtime_before = resume_state.get("runtime", 0.0) if resume_state else 0.0
        if resume_state:
            self._step = resume_state.get("next_step", 0)
            seqs = resume_state.get("seqs", {})
            for m in resume_state.get("metrics", []):  # define_metric rules carry on
                try:
                    self.summary.define(**{k: v for k, v in m.items()
                                           if k in ("name", "step_metric", "summary", "goal", "hidden")})
                except ArtyError:
                    pass
            self.summary.load(resume_state.get("summary", {}))
            self._rows = resume_state.get("rows", 0)
        self._writer = Writer(folder, store, project, run_id, flush_interval=flush_interval,
                              online=(mode == "online"), seqs=seqs)
        self._writer.on_flush = self._snapshot_events
        self._capture = capture
        self._console = None
        self._monitor = None
        self._code_thread: threading.Thread | None = None
        self._exit_request: int | None = None  # set when the script calls sys.exit(n)
        #: True when this session continues an existing run (W&B's ``run.resumed``).
        self.resumed = resume_state is not None
        self._saved_at_end: list[tuple[str, str]] = []  # run.save(policy="live"/"end"): copied at finish
        self._alerts: dict[str, float] = {}  # alert title -> when it was last recorded
        self._preempting = False

    # -- identity -----------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)
        self._meta_events.append({"kind": "name", "name": self._name})

    @property
    def notes(self) -> str | None:
        return self._notes

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._notes = value
        self._meta_events.append({"kind": "notes", "notes": value})

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._tags)

    @tags.setter
    def tags(self, value: Iterable[str]) -> None:
        self._tags = [str(t) for t in value]
        self._meta_events.append({"kind": "tags", "tags": list(self._tags)})

    @property
    def path(self) -> str:
        """``project/run_id``, as ``arty.Api().run`` takes it."""
        return f"{self.project}/{self.id}"

    @property
    def step(self) -> int:
        """The step the next committed row gets."""
        return self._step

    @property
    def state(self) -> str:
        if not self._finished:
            return "running"
        return "finished" if not self._exit_code else "failed"

    def __repr__(self) -> str:
        return f"<Run {self.path} {self.state}>"

    # -- start ---------------------------------------------------------------

    def _start(self, run_record: dict[str, Any] | None, resumed: bool) -> None:
        if run_record is not None:
            self.folder.write_json("run.json", run_record)
        if resumed:
            if self._reopen is not None:  # before anything else of this session: the run is open again
                self.folder.write_json(f"{layout.RUN_RESUMES}/{layout.seq_name(self._reopen)}", {
                    "seq": self._reopen, "at": now_iso(), "host": socket.gethostname(), "pid": os.getpid()})
            self._meta_events.append({"kind": "resume", "host": socket.gethostname(), "pid": os.getpid()})
            self._config_dirty = self._summary_dirty = True
        self._writer.start()
        self._writer.wake()
        cap = self._capture
        if cap.get("code") or cap.get("save_code"):
            self._code_thread = threading.Thread(target=self._capture_code, name="arty-code", daemon=True)
            self._code_thread.start()
        if cap.get("console"):
            try:
                from arty.tracking.console import ConsoleCapture

                self._console = ConsoleCapture(self._on_console)
                self._console.start()
            except Exception as exc:  # noqa: BLE001 - capture is optional, training is not
                warnings.warn(f"arty: console capture is off: {exc}", RuntimeWarning, stacklevel=3)
                self._console = None
        interval = cap.get("system_metrics")
        if interval:
            try:
                from arty.tracking.system import SystemMonitor

                self._monitor = SystemMonitor(self._on_system, interval=float(interval))  # starts itself
            except Exception as exc:  # noqa: BLE001
                warnings.warn(f"arty: system metrics are off: {exc}", RuntimeWarning, stacklevel=3)
                self._monitor = None

    def _capture_code(self) -> None:
        try:
            from arty.tracking import code

            if self._capture.get("code"):
                self.folder.write("files/requirements.txt", code.requirements().encode())
                diff = code.git_diff(os.getcwd()) if self._capture.get("diff", True) else None
                if diff:
                    self.folder.write("files/diff.patch", diff.encode())
            if self._capture.get("save_code"):
                src = code.entry_script_source()
                if src is not None:
                    self.folder.write(f"files/code/{os.path.basename(src[0])}", src[1])
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"arty: code state not saved: {exc}", RuntimeWarning, stacklevel=1)

    def _on_console(self, ts: float, stream: str, line: str) -> None:
        console = self._writer.console
        console.append([ts, stream, line])
        if len(console) >= EARLY_LINES:
            self._writer.wake()

    def _on_system(self, ts: float, sample: dict[str, Any]) -> None:
        sample = dict(sample)
        sample["_timestamp"] = ts
        sample["_runtime"] = ts - self._start_wall
        self._writer.system.append(sample)

    # -- config and summary events ------------------------------------------

    def _mark_config(self) -> None:
        self._config_dirty = True

    def _mark_summary(self) -> None:
        self._summary_dirty = True

    def _snapshot_events(self) -> None:
        """Called by the writer at each flush: record what changed since the last one."""
        w = self._writer
        while self._meta_events:
            w.events.append(self._meta_events.pop(0))
        if self._config_dirty:
            self._config_dirty = False
            w.events.append({"kind": "config", "config": self.config.as_dict()})
        if self._summary_dirty:
            self._summary_dirty = False
            w.events.append({"kind": "summary", "summary": self.summary.as_dict()})

    # -- logging ---------------------------------------------------------------

    def define_metric(self, name: str, step_metric: str | None = None, step_sync: bool | None = None,
                      hidden: bool | None = None, summary: str | None = None, goal: str | None = None,
                      overwrite: bool | None = None) -> None:
        """How ``name`` (or a glob like ``"val/*"``) is summarised and plotted (W&B's arguments,
        in W&B's order). ``summary``: ``min``, ``max``, ``mean``, ``first``, ``last``, ``none``,
        ``best`` (with ``goal``) or ``copy`` (``last``). ``step_sync`` (Arty's history rows keep
        the step metric's last value anyway) and ``overwrite`` (a new definition always replaces
        the old one) are accepted."""
        hidden = bool(hidden)
        d = self.summary.define(name, step_metric, summary, goal, hidden)
        self._meta_events.append({"kind": "metric", "metric": d.to_json()})

    def log(self, data: dict[str, Any] | None = None, step: int | None = None, commit: bool | None = None,
            sync: bool | None = None) -> None:
        """Append metrics to the history. Never raises into the training loop.

        ``sync`` (deprecated in W&B) is accepted: logging never waits for the store.

        ``step`` None uses the run's counter; a larger ``step`` commits the pending
        row first; a smaller one is ignored with a warning. ``commit=False``
        merges ``data`` into the row of the current step without ending it.
        ``log()`` with no data commits the pending row (if any), as in W&B;
        with nothing pending it writes nothing.
        """
        if self._finished:
            warnings.warn("arty: log() after finish() is ignored", RuntimeWarning, stacklevel=2)
            return
        if data is None:
            if step is None:  # log(): end the pending row; an empty history row is not written
                if self._pending is not None and commit is not False:
                    self._commit()
                return
            data = {}
        if type(data) is not dict:
            if not isinstance(data, dict):
                warnings.warn(f"arty: log() takes a dict, not {type(data).__name__}; ignored",
                              RuntimeWarning, stacklevel=2)
                return
        media = False
        for k, v in data.items():
            if type(k) is not str or type(v) not in _FAST or k[:1] == "_":
                row, media = self._clean(data)
                break
        else:
            row = data.copy()
        if step is not None:
            try:
                step = int(step)
            except (TypeError, ValueError):
                warnings.warn(f"arty: invalid step {step!r}; row logged at step {self._step}",
                              RuntimeWarning, stacklevel=2)
                step = None
        if step is not None and step != self._step:
            if step < self._step:
                warnings.warn(f"arty: step {step} is before the current step {self._step}; row ignored",
                              RuntimeWarning, stacklevel=2)
                return
            if self._pending is not None:
                self._commit()
            self._step = step
        if self._pending is None:
            self._pending = row
        else:
            self._pending.update(row)
        if media:  # set after a larger step committed the row before (whose flag that was)
            self._row_media = True
        if commit or (commit is None and step is None):
            self._commit()

    def _clean(self, data: dict[Any, Any]) -> tuple[dict[str, Any], bool]:
        """The row to log from ``data`` (flattened, checked), and whether it holds media values
        (images, tables: encoded in the background, kept out of the summary)."""
        row = {}
        media = False
        for k, v in flatten(data).items():
            if k.startswith("_"):
                warnings.warn(f"arty: keys starting with '_' are reserved; '{k}' ignored", RuntimeWarning,
                              stacklevel=4)
                continue
            ok, cv = clean(k, v, media=True)
            if ok:
                row[k] = cv
                if is_media(cv):  # images and tables are encoded in the background
                    self._writer.media.submit(cv)
                    media = True
        return row, media

    def _commit(self) -> None:
        row = self._pending
        self._pending = None
        if row is None:
            return
        now = time.time()
        if self._row_media:  # images, tables and histograms stay out of the summary
            self._row_media = False
            self.summary.observe({k: v for k, v in row.items() if not is_media(v)})
        else:
            self.summary.observe(row)
        self._summary_dirty = True
        row["_step"] = self._step
        row["_timestamp"] = now
        row["_runtime"] = now - self._start_wall
        w = self._writer
        w.history.append(row)
        w.values_in += len(row)
        self._rows += 1
        self._step += 1
        if len(w.history) >= _EARLY_ROWS or w.values_in - w.values_out >= _EARLY_VALUES:
            w.wake()  # write a segment before the interval ends
            if w.full():
                w.wait_for_room()  # the writer is behind: backpressure bounds what a kill can lose

    # -- artifacts -------------------------------------------------------------

    def _registry(self, project: str | None = None) -> Registry:
        if self.store is None:
            raise StoreError(f"store '{self.store_url}' is not reachable", hint="artifacts need the store",
                             url=self.store_url)
        from arty.artifacts import Registry

        return Registry(self.store, project or self.project)

    def use_artifact(self, ref: str | ArtifactVersion, type: str | None = None, aliases: Iterable[str] | None = None,
                     use_as: str | None = None) -> ArtifactVersion:
        """Resolve an artifact version and record that this run used it (a lineage edge).

        ``use_as`` (deprecated in W&B) is accepted; ``aliases`` is a :class:`UsageError`:
        aliases move when a version is logged or with ``art alias``."""
        if aliases:
            raise UsageError("use_artifact(aliases=) is not supported: using a version does not move aliases",
                             hint="run.log_artifact(art, aliases=[...]) or 'art alias name:v3 prod'")
        from arty.artifacts import ArtifactRef, ArtifactVersion

        version = ref if isinstance(ref, ArtifactVersion) else self._registry().resolve(ArtifactRef.parse(ref))
        if type is not None and version.type != type:
            raise UsageError(f"artifact '{version.qualified_name}' has type '{version.type}', not '{type}'")
        self.folder.write_json(f"inputs/{version.project}/{version.base_name}/{version.number}.json", {
            "project": version.project, "artifact": version.base_name, "version": version.number,
            "digest": str(version.digest), "at": now_iso()})
        self._writer.wake()
        return version

    def log_artifact(self, artifact: Artifact | str, name: str | None = None, type: str | None = None,
                     aliases: Iterable[str] | None = (), tags: Iterable[str] | None = None) -> ArtifactVersion:
        """Log a draft (or a path) as an artifact version produced by this run; ``tags`` are
        set on the version (an edit record, see :attr:`ArtifactVersion.tags`)."""
        aliases = aliases or ()
        if isinstance(artifact, (str, os.PathLike)):
            from arty.artifacts import Artifact

            path = os.fspath(artifact)
            draft = Artifact(name or os.path.basename(os.path.abspath(path)), type=type or "dataset")
            draft.add_dir(path) if os.path.isdir(path) else draft.add_file(path)
            artifact = draft
        result = self._registry().log(artifact, aliases=aliases, created_by=self.id)
        v = result.version
        self.folder.write_json(f"outputs/{v.project}/{v.base_name}/{v.number}.json", {
            "project": v.project, "artifact": v.base_name, "version": v.number, "digest": str(v.digest),
            "created": result.created, "at": now_iso()})
        self._writer.wake()
        if tags:
            v.tags = [str(t) for t in tags]
            v.save(created_by=self.id)
        return v

    def _edges(self, kind: str) -> list[ArtifactVersion]:
        """The versions named by this run's ``inputs/`` or ``outputs/`` records."""
        out = []
        for here, _dirs, names in sorted(os.walk(self.folder.path(kind))):
            for n in sorted(names):
                if n.endswith(".json"):
                    rec = json.loads(self.folder.read(os.path.relpath(os.path.join(here, n), self.dir)))
                    out.append(self._registry(rec["project"]).version(rec["artifact"], rec["version"]))
        return out

    def used_artifacts(self) -> list[ArtifactVersion]:
        """Versions this run used (``use_artifact``)."""
        return self._edges("inputs")

    def logged_artifacts(self) -> list[ArtifactVersion]:
        """Versions this run logged (``log_artifact``)."""
        return self._edges("outputs")

    def save(self, glob_str: str | None = None, base_path: str | None = None, policy: str = "live", *,
             name: str | None = None) -> list[str]:
        """Keep files with the run (under ``files/``), as W&B's ``run.save``.

        ``glob_str`` names a file or a glob (``"out/*.ckpt"``, ``"**"`` with ``recursive``
        semantics); the saved names are relative to ``base_path`` (default: the glob's
        folder). ``policy``: ``"now"`` copies the files at once, ``"end"`` at ``finish()``,
        ``"live"`` (default) at once and again at ``finish()`` (so later changes are kept;
        W&B uploads on every change). ``name`` saves one file under another name.
        Returns the saved names. A glob that matches no file is a :class:`NotFound`.
        """
        from arty.tracking import surface

        if policy not in surface.SAVE_POLICIES:
            raise UsageError(f"invalid save policy '{policy}'", hint="use 'live', 'now' or 'end'")
        if glob_str is None:
            raise UsageError("run.save needs a file name or glob", hint="run.save('model.pt')")
        if name is not None:
            targets = [(os.path.abspath(os.fspath(glob_str)), str(name))]
            if not os.path.isfile(targets[0][0]):
                raise NotFound(f"no file '{glob_str}' to save", hint="check the path")
        else:
            targets = surface.save_targets(glob_str, base_path)
            if not targets:
                raise NotFound(f"no file matches '{glob_str}'", hint="check the path or the glob")
        if policy in ("live", "end"):
            self._saved_at_end.extend(targets)
        if policy in ("live", "now"):
            self._copy_files(targets)
        return [rel for _, rel in targets]

    def _copy_files(self, targets: list[tuple[str, str]]) -> None:
        for path, rel in targets:
            with open(path, "rb") as f:
                self.folder.write(f"files/{rel}", f.read())
        self._writer.wake()

    def alert(self, title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
        """Record an alert as an event of the run (``events/``) and print it on stderr.

        ``level``: ``arty.AlertLevel.INFO`` (default), ``WARN`` or ``ERROR`` (or those names).
        ``wait_duration`` (seconds, or a ``timedelta``): another alert with the same title
        within that time is dropped, as W&B does. No e-mail or Slack: an automation
        ``--on alert`` delivers it to a webhook or a command (docs/automations.md).
        """
        from arty.tracking.surface import AlertLevel

        try:
            lvl = AlertLevel(getattr(level, "value", level) or "INFO")
        except ValueError:
            raise UsageError(f"invalid alert level '{level}'", hint="use arty.AlertLevel.INFO, WARN or ERROR") from None
        wait = wait_duration.total_seconds() if hasattr(wait_duration, "total_seconds") else wait_duration
        now = time.monotonic()
        last = self._alerts.get(str(title))
        if last is not None and wait and now - last < float(wait):
            return
        self._alerts[str(title)] = now
        self._meta_events.append({"kind": "alert", "title": str(title), "text": str(text), "level": lvl.value,
                                  "wait_duration": wait})
        self._writer.wake()
        if not self._capture.get("silent"):
            print(f"arty: alert [{lvl.value}] {title}: {text}", file=sys.stderr)

    def mark_preempting(self) -> None:
        """Say the run is about to be preempted: recorded as an event, and the run's final
        record says ``preempting``; resume it with ``arty.init(id=..., resume="allow")``."""
        self._preempting = True
        self._meta_events.append({"kind": "preempting"})
        self._writer.wake()

    def log_code(self, root: str | None = ".", name: str | None = None, include_fn: Any = None,
                 exclude_fn: Any = None) -> ArtifactVersion | None:
        """Log the source under ``root`` (by default its ``.py`` files) as an artifact of type
        ``"code"`` named ``name`` (default ``source-<run id>``); returns the version, or None
        when no file is selected (W&B too)."""
        from arty.tracking.surface import code_files

        files = code_files(root or ".", include_fn, exclude_fn)
        if not files:
            warnings.warn(f"arty: log_code found no files under '{root}'", RuntimeWarning, stacklevel=2)
            return None
        from arty.artifacts import Artifact

        art = Artifact(name or f"source-{self.id}", type="code")
        for path, rel in files:
            art.add_file(path, name=rel)
        return self.log_artifact(art)

    def log_model(self, path: str, name: str | None = None, aliases: Iterable[str] | None = None) -> ArtifactVersion:
        """Log a model file or folder as an artifact of type ``"model"`` produced by this run;
        ``name`` defaults to ``run-<run id>-<file name>`` (W&B's). Returns the version."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise NotFound(f"no file or folder '{path}' to log as a model", hint="check the path")
        name = name or f"run-{self.id}-{os.path.basename(os.path.abspath(path))}"
        return self.log_artifact(path, name=name, type="model", aliases=aliases or ())

    def use_model(self, name: str) -> str:
        """Use a model artifact (``"name:alias"``) and download it; returns the local path
        (the file itself when the version holds one file). Not a model: :class:`UsageError`."""
        version = self.use_artifact(name)
        if "model" not in version.type.lower():
            raise UsageError(f"artifact '{version.qualified_name}' has type '{version.type}', not a model",
                             hint="use_model takes model artifacts; use run.use_artifact(...).download()")
        root = version.download()
        names = os.listdir(root)
        return os.path.join(root, names[0]) if len(names) == 1 and os.path.isfile(os.path.join(root, names[0])) \
            else root

    def link_model(self, path: Any, registered_model_name: str, name: str | None = None,
                   aliases: Iterable[str] | None = None) -> ArtifactVersion:
        """Log the model at ``path`` (:meth:`log_model`; a logged version or a reference such as
        ``"clf:v3"`` is taken as is) and link it into ``registered_model_name`` of the default
        registry (``"registry/<name>"``; ``"REGISTRY/NAME"`` for another), pointing ``aliases``
        there, as W&B's ``run.link_model``. Returns the collection version."""
        if isinstance(path, (str, os.PathLike)) and os.path.exists(os.fspath(path)):
            version: Any = self.log_model(os.fspath(path), name=name)
        else:
            version = path
        return self.link_artifact(version, registered_model_name, aliases)

    def link_artifact(self, artifact: Any, target_path: str, aliases: Iterable[str] | None = None
                      ) -> ArtifactVersion:
        """Link a logged version (an :class:`ArtifactVersion`, a logged draft, or a reference
        such as ``"model:v3"``; a draft not logged yet is logged by this run first) into a
        registry's collection ``target_path`` (``[REGISTRY/]COLLECTION``, default registry
        ``registry``) and point ``aliases`` there, as W&B's ``run.link_artifact``. No bytes are
        copied; the link records this run. Returns the collection version."""
        from arty.artifacts import Artifact, ArtifactRef, ArtifactVersion
        from arty.artifacts.links import link

        if isinstance(artifact, Artifact):
            if artifact.logged is None:
                artifact.logged = self.log_artifact(artifact)
            version = artifact.logged
        elif isinstance(artifact, str):
            version = self._registry().resolve(ArtifactRef.parse(artifact))
        elif hasattr(artifact, "version_object"):  # Api().artifact(...)
            version = artifact.version_object
        else:
            version = artifact
        if not isinstance(version, ArtifactVersion):
            raise UsageError(f"cannot link {type(artifact).__name__} {str(artifact)[:80]!r}",
                             hint="pass a logged version, a draft, or a reference such as 'model:v3'")
        return link(version, target_path, aliases or (), run=self.id).version

    #: W&B run attributes Arty does not have: what to use instead (see __getattr__).
    _WANDB_MISSING = {
        "restore": "use arty.restore(name, run_path=run.path)",
        "status": "run.state is 'running', 'finished' or 'failed'",
        "to_html": "the run's page is on 'art server', under /p/<project>/runs/<id>",
        "plot_table": "log the data as an arty.Table",
        "config_static": "read run.config",
        "upsert_artifact": "log a new version with run.log_artifact",
        "finish_artifact": "log a new version with run.log_artifact",
    }

    def __getattr__(self, name: str) -> Any:
        raise missing_attribute(type(self).__name__, "run", name, Run._WANDB_MISSING)

    # W&B's run attributes Arty has no counterpart for: entities, hosted run pages, sweeps.
    entity = None
    url = None
    sweep_id = None

    def get_url(self) -> None:
        """None: no hosted run page (``art server`` shows the run under ``/p/<project>/runs/<id>``)."""
        return None

    def get_project_url(self) -> None:
        return None

    def get_sweep_url(self) -> None:
        return None

    def project_name(self) -> str:
        """The project (W&B's deprecated spelling of ``run.project``)."""
        return self.project

    @property
    def settings(self) -> Any:
        """The run's settings, as an :class:`arty.Settings` (mode, project, run_id, root_dir, ...)."""
        from arty.tracking.surface import Settings

        return Settings(mode=self.mode, project=self.project, run_id=self.id, run_name=self.name,
                        run_group=self.group, run_job_type=self.job_type, root_dir=self.dir)

    @property
    def start_time(self) -> float:
        """When this session of the run started (a Unix time)."""
        return self._start_wall

    @property
    def offline(self) -> bool:
        return self.mode == "offline"

    @property
    def disabled(self) -> bool:
        return self.mode == "disabled"

    def watch(self, model: Any, log: str = "gradients", log_freq: int = 100, *, num_bins: int = 64,
              prefix: str = "") -> Any:
        """Log histograms of a torch model's gradients (``log="gradients"``), parameters
        (``"parameters"``) or both (``"all"``) every ``log_freq`` steps, through hooks.

        Watching a model again replaces the earlier watch. See
        :mod:`arty.tracking.watch` for the rules and errors.
        """
        from arty.tracking.watch import watch  # torch is imported only by those who watch

        return watch(model, log=log, log_freq=log_freq, run=self, num_bins=num_bins, prefix=prefix)

    def unwatch(self, model: Any = None) -> int:
        """Remove the hooks of :meth:`watch` from ``model``, or from every model this run
        watches; returns how many models were unwatched."""
        if "arty.tracking.watch" not in sys.modules:
            return 0  # nothing can be watched without it
        from arty.tracking.watch import unwatch

        return unwatch(model, run=self)

    # -- finish ----------------------------------------------------------------

    def finish(self, exit_code: int | None = None, quiet: bool = False, error: str | None = None) -> None:
        """Flush everything, write ``final.json`` and upload. Safe to call twice.

        ``error`` (a one-line message) is recorded as the run's error, e.g. why a command failed.
        Returns within ``ARTY_FINISH_TIMEOUT`` seconds (default 30) whatever the store does
        (plus the local disk writes of the last segments): what is not uploaded by then stays
        in the run's local folder, and a message says to run ``art sync``.
        """
        global _current
        if self._finished:
            return
        deadline = time.monotonic() + finish_timeout()
        if error:
            self._error = error
        if exit_code is None:
            exit_code = 1 if self._error else 0
        if "arty.tracking.watch" in sys.modules:  # take run.watch()'s hooks off the models
            self.unwatch()
        if self._pending is not None:
            self._commit()
        if self._monitor is not None:
            self._monitor.stop(timeout=_left(deadline, 5.0))
        if self._console is not None:
            self._console.stop(timeout=_left(deadline, 5.0))
            if self._traceback:  # after the output that came before it, as the terminal shows it
                now = time.time()
                for line in "".join(self._traceback).rstrip("\n").split("\n"):
                    self._writer.console.append([now, "stderr", line])
        if self._code_thread is not None:
            self._code_thread.join(timeout=_left(deadline))
        if self._saved_at_end:  # run.save(policy="live"/"end"): the files as they are now
            try:
                self._copy_files([(p, rel) for p, rel in self._saved_at_end if os.path.isfile(p)])
            except OSError as exc:
                warnings.warn(f"arty: saved files not copied at finish: {exc}", RuntimeWarning, stacklevel=2)
        self._finished = True
        self._exit_code = exit_code
        final = {
            "state": "finished" if exit_code == 0 else "failed",
            "exit_code": exit_code,
            "error": self._error,
            "summary": self.summary.as_dict(),
            "finished_at": now_iso(),
            "runtime": self._runtime_before + time.monotonic() - self._start_mono,
            "steps": self._rows,
            "last_step": self._step - 1 if self._rows else None,
        }
        if self._preempting:
            final["preempting"] = True
        self._summary_dirty = False
        uploaded = self._writer.close(final, deadline=deadline, final_name=self._closing)
        if self.mode == "online" and not uploaded and not quiet and not self._capture.get("silent"):
            print(f"arty: run {self.path} is saved in {self.dir} but not yet in the store "
                  f"({self._writer.store_error or 'upload pending'}); run 'art sync' to upload it",
                  file=sys.stderr)
        if self._resume_file and exit_code == 0:
            try:
                os.remove(self._resume_file)
            except OSError:
                pass
        with _current_lock:
            if _current is self:
                _current = None
        atexit.unregister(self._atexit)

    def _atexit(self) -> None:
        try:
            self.finish(exit_code=self._exit_request)
        except Exception:  # noqa: BLE001 - at exit there is no one to raise to
            traceback.print_exc()

    def _record_exception(self, exc_type: type, exc: BaseException, tb: Any) -> None:
        if self._finished:
            return
        if issubclass(exc_type, SystemExit):
            code = exit_status(exc.code)  # type: ignore[attr-defined]
            if code != 0:
                self._error = f"SystemExit: {exc.code}"  # type: ignore[attr-defined]
            self.finish(exit_code=code)
            return
        self._error = "".join(traceback.format_exception_only(exc_type, exc)).strip()
        self._traceback = traceback.format_exception(exc_type, exc, tb)
        code = 130 if issubclass(exc_type, KeyboardInterrupt) else 1
        self.finish(exit_code=code)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self._record_exception(exc_type, exc, tb)
        else:
            self.finish()


class DisabledRun(Run):
    """``mode="disabled"``: the same API, nothing recorded anywhere."""

    def __init__(self, config: dict[str, Any], project: str, name: str | None) -> None:  # noqa: D107
        self.id = "disabled"
        self.project = project
        self.mode = "disabled"
        self.store = None
        self.dir = ""
        self._name = name or "disabled"
        self._notes = None
        self._tags = []
        self.group = self.job_type = None
        self._finished = False
        self._exit_code = None
        self.config = Config(config)
        self.summary = Summary()
        self._step = 0
        self._meta_events: list[dict[str, Any]] = []  # name/notes/tags setters append here; never written
        self.resumed = False
        self._start_wall = time.time()

    def log(self, data: dict[str, Any] | None = None, step: int | None = None,
            commit: bool | None = None, sync: bool | None = None) -> None:
        return None

    def define_metric(self, *args: Any, **kwargs: Any) -> None:
        return None

    def use_artifact(self, ref: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return None

    def log_artifact(self, artifact: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return None

    def use_model(self, name: str) -> None:  # type: ignore[override]
        return None

    def save(self, glob_str: str | None = None, base_path: str | None = None, policy: str = "live", *,
             name: str | None = None) -> list[str]:
        return []

    def alert(self, title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
        return None

    def mark_preempting(self) -> None:
        return None

    def log_code(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None

    def log_model(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None

    def link_model(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None

    def link_artifact(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None

    def used_artifacts(self) -> list[ArtifactVersion]:
        return []

    def logged_artifacts(self) -> list[ArtifactVersion]:
        return []

    def watch(self, model: Any, log: str = "gradients", log_freq: int = 100, *, num_bins: int = 64,
              prefix: str = "") -> None:
        return None

    def unwatch(self, model: Any = None) -> int:
        return 0

    def finish(self, exit_code: int | None = None, quiet: bool = False, error: str | None = None) -> None:
        self._finished = True
        self._exit_code = exit_code or 0


def _read_resume_state(store: Store | None, folder: RunFolder, project: str, run_id: str) -> dict[str, Any] | None:
    """What a resumed run continues from: next step, next segment numbers, last summary.

    The local folder (same machine) is preferred: it also holds what was never uploaded.
    """
    def last_step_of(data: bytes) -> int | None:
        steps = [s for s in segments.decode_columns(data, ["_step"])[1].get("_step", []) if s is not None]
        return max(steps) if steps else None

    seqs: dict[str, int] = {}
    if folder.exists("run.json"):
        names = folder.files()
        run_record = json.loads(folder.read("run.json"))

        def read(rel: str) -> bytes:
            return folder.read(rel)
    elif store is not None:
        base = layout.run(project, run_id)
        try:
            run_record = store.read_record(f"{base}/run.json")
        except FileNotFoundError:
            return None
        names = []
        for sub in ("history", "system", "console", "events", layout.RUN_RESUMES, layout.RUN_FINISHES):
            names += [f"{sub}/{n}" for n in store.list(f"{base}/{sub}")]
        names += [LAST] if store.exists(f"{base}/{LAST}") else []

        def read(rel: str) -> bytes:
            return store.backend.read(f"{base}/{rel}")
    else:
        return None
    finish, closing_now = _latest_finish(names)
    by_stream: dict[str, list[str]] = {}
    for n in names:
        head, _, rest = n.partition("/")
        if head in ("history", "system", "console", "events") and rest.split(".")[0].isdigit():
            by_stream.setdefault(head, []).append(n)
    for stream, files in by_stream.items():
        seqs[stream] = max(int(f.split("/")[1].split(".")[0]) for f in files) + 1
    next_step, rows = 0, 0
    for n in sorted(by_stream.get("history", [])):
        rows += segments.decode_columns(read(n), [])[0]
    if by_stream.get("history"):
        last = last_step_of(read(sorted(by_stream["history"])[-1]))
        next_step = 0 if last is None else last + 1
    summary: dict[str, Any] = {}
    metrics: list[dict[str, Any]] = []
    config = run_record.get("config", {})
    for n in sorted(by_stream.get("events", [])):
        ev = json.loads(read(n))
        if ev.get("kind") == "summary":
            summary = ev["summary"]
        elif ev.get("kind") == "config":
            config = ev["config"]
        elif ev.get("kind") == "metric" and isinstance(ev.get("metric"), dict):
            metrics.append(ev["metric"])
    state = {"next_step": next_step, "seqs": seqs, "summary": summary, "config": config, "rows": rows,
             "metrics": metrics, "record": run_record, "closing": closing_now}
    if finish is not None:  # finished: this session reopens it, and closes it again at its end
        reopen, closing = finish
        state["closing"] = f"{layout.RUN_FINISHES}/{layout.seq_name(reopen)}"
        rec = json.loads(read(closing))
        if isinstance(rec, dict):
            if isinstance(rec.get("summary"), dict):
                summary.update(rec["summary"])  # the final summary, newer than the last snapshot
            runtime = rec.get("runtime")
            if isinstance(runtime, (int, float)) and not isinstance(runtime, bool):
                state["runtime"] = float(runtime)
        state["reopen"] = reopen
    return state


def _latest_finish(names: list[str]) -> tuple[tuple[int, str] | None, str]:
    """From a run's record ``names``: for a finished run, the number its next ``resumes/``
    record takes and the record that finished it last (else None: running, crashed, or
    resumed after its last finish); and the record that finishes the run's open session
    (``final.json``, or ``finishes/<n>`` of its latest ``resumes/<n>``)."""
    resumes = [layout.parse_seq(n.split("/", 1)[1]) for n in names if n.startswith(layout.RUN_RESUMES + "/")]
    resumes = sorted(n for n in resumes if n is not None)
    closing = f"{layout.RUN_FINISHES}/{layout.seq_name(resumes[-1])}" if resumes else LAST
    if closing not in names:
        return None, closing
    return (resumes[-1] + 1 if resumes else 0, closing), closing


def init(project: str | None = None, name: str | None = None, config: Any = None, notes: str | None = None,
         tags: Iterable[str] | None = None, group: str | None = None, job_type: str | None = None,
         dir: str | None = None, resume: str | bool | None = None, id: str | None = None,
         mode: str | None = None, *, store: str | None = None, save_code: bool = False,
         system_metrics: bool | float = True, console: bool = True, code: bool = True,
         flush_interval: float = 5.0, reinit: bool | str | None = True, command: Iterable[str] | None = None,
         entity: str | None = None, settings: Any = None, config_exclude_keys: Iterable[str] | None = None,
         config_include_keys: Iterable[str] | None = None, allow_val_change: bool | None = None,
         anonymous: str | None = None, force: bool | None = None, sync_tensorboard: bool | None = None,
         tensorboard: bool | None = None, monitor_gym: bool | None = None, fork_from: str | None = None,
         resume_from: str | None = None, experiment: dict[str, str] | None = None) -> Run:
    """Start (or resume) a run and make it the current one.

    ``resume``: ``"allow"`` (resume ``id`` if it exists, finished or not, else start
    it), ``"must"`` (it must exist), ``"never"`` (it must not), ``"auto"``/True
    (``"allow"``; without ``id``, the run last started so in this folder that did not
    finish with exit code 0, see :data:`RESUME_FILE`), or None/False (a new id unless
    ``id`` is given, which then must be new). ``mode``: ``"online"`` (default, or
    ``ARTY_MODE``), ``"offline"`` (local only until ``art sync``), ``"disabled"``
    (every call a no-op). ``system_metrics`` (True = every 10 s, a number = that
    interval, False = off), ``console``, ``code`` (git state, diff, requirements)
    and ``save_code`` (the entry script) choose what is captured (``command``, the
    command line recorded, defaults to ``sys.argv``); the
    environment variables ``ARTY_SYSTEM_METRICS``, ``ARTY_CONSOLE`` and
    ``ARTY_CODE`` set to 0 turn them off too.

    Arguments left unset come from the environment, ``ARTY_<NAME>`` else W&B's
    ``WANDB_<NAME>`` (see :mod:`arty.tracking.env`): ``PROJECT``, ``NAME``, ``NOTES``,
    ``TAGS`` (comma-separated), ``RUN_ID``, ``RESUME``, ``RUN_GROUP``, ``JOB_TYPE``,
    ``MODE``, ``DIR``, ``SILENT``, ``CONSOLE``, ``DISABLE_GIT``, ``DISABLE_CODE``.
    ``entity`` (and ``ENTITY``) is accepted for W&B scripts and ignored: a store has
    no entities.

    W&B's other arguments: ``settings`` (an :class:`arty.Settings` or a dict; see it for the
    fields Arty acts on), ``config_include_keys`` / ``config_exclude_keys`` (keep only / drop
    those config keys), ``allow_val_change``, ``anonymous`` and ``force`` (accepted; there is
    no account). ``reinit``: True, ``"finish_previous"``, ``"default"`` or None finish the
    active run first; False or ``"return_previous"`` return it; ``"create_new"`` is a
    :class:`UsageError` (one run at a time per process). ``sync_tensorboard``/``tensorboard``, ``monitor_gym``, ``fork_from`` and
    ``resume_from`` are not supported: a :class:`UsageError` names the Arty way.

    ``experiment`` (``{"id", "name"}``, set by ``art repro``; else from ``ARTY_EXPERIMENT_ID`` and
    ``ARTY_EXPERIMENT_NAME``, which a pipeline step's command sees) is recorded in ``run.json``.
    """
    global _current
    _refuse_unsupported(sync_tensorboard or tensorboard, monitor_gym, fork_from, resume_from)
    from arty.tracking.surface import as_settings

    opts = as_settings(settings)
    mode = mode or opts.get("mode")
    project = project or opts.get("project")
    id = id or opts.get("run_id")
    name = name or opts.get("run_name")
    notes = notes if notes is not None else opts.get("run_notes")
    tags = tags if tags is not None else opts.get("run_tags")
    group = group or opts.get("run_group")
    job_type = job_type or opts.get("run_job_type")
    dir = dir or opts.get("root_dir")
    save_code = save_code or bool(opts.get("save_code"))
    console = console and opts.get("console") != "off"
    if opts.get("x_disable_stats") or opts.get("_disable_stats"):
        system_metrics = False
    project = project or env.setting("PROJECT")
    name = name or env.setting("NAME")
    notes = notes if notes is not None else env.setting("NOTES")
    tags = tags if tags is not None else env.tags()
    group = group or env.setting("RUN_GROUP")
    job_type = job_type or env.setting("JOB_TYPE")
    dir = dir or env.setting("DIR")
    id = id or env.setting("RUN_ID")
    if resume is None:
        resume = env.setting("RESUME")
        resume = {"true": True, "false": None}.get(resume.lower(), resume) if resume else None
    mode = mode or env.setting("MODE") or "online"
    mode = _MODE_ALIASES.get(mode, mode)
    if mode not in MODES:
        raise UsageError(f"invalid mode '{mode}'", hint="use one of: " + ", ".join(MODES))
    config_dict = load_config(config)
    if config_include_keys and config_exclude_keys:
        raise UsageError("config_include_keys and config_exclude_keys cannot both be given", hint="pass one of them")
    if config_include_keys:
        config_dict = {k: v for k, v in config_dict.items() if k in set(config_include_keys)}
    elif config_exclude_keys:
        config_dict = {k: v for k, v in config_dict.items() if k not in set(config_exclude_keys)}
    trial = env.sweep_trial()  # a sweep agent's trial: its params win over the defaults given
    if trial is not None:
        config_dict.update(trial[1])
    if mode == "disabled":
        run = DisabledRun(config_dict, project or "default", name)
        with _current_lock:
            _current = run
        return run
    auto = resume is True or resume == "auto"
    if auto:
        resume = "allow"
    if resume not in (None, False, "allow", "must", "never"):
        raise UsageError(f"invalid resume '{resume}'", hint="use 'allow', 'must', 'never' or 'auto'")
    if resume == "must" and not id:
        raise UsageError("resume='must' needs the id of the run to resume", hint="arty.init(id=..., resume='must')")
    with _current_lock:
        previous = _current
    if reinit == "create_new":
        raise UsageError("reinit='create_new' is not supported: one run at a time per process",
                         hint="finish the run first (reinit='finish_previous', the default), or start the "
                              "other run in a subprocess")
    if reinit not in (True, False, None, "default", "finish_previous", "return_previous"):
        raise UsageError(f"invalid reinit '{reinit}'", hint="use 'finish_previous' or 'return_previous'")
    if previous is not None and not previous._finished:
        if reinit in (False, "return_previous"):
            return previous
        previous.finish()
    # The store: unreachable is not fatal for tracking (records stay local until 'art sync').
    store_obj: Store | None
    store_url: str
    wanted = store or find_store_url()
    try:
        store_obj = resolve_store(wanted, create=True)
        store_url = store_obj.url
    except StoreError as exc:
        if wanted and not isinstance(exc, MissingExtra):  # the run's records stay local until 'art sync'
            if mode == "online":
                warnings.warn(f"arty: store '{wanted}' is not reachable ({exc.message}); tracking locally until "
                              "'art sync'", RuntimeWarning, stacklevel=2)
            store_obj = Store(open_backend(wanted), {"format": layout.FORMAT})
            store_url = store_obj.url
            store_obj_reachable = False
        else:
            raise
    else:
        store_obj_reachable = True
    project = resolve_project(store_obj, project)
    from arty.artifacts.names import check_name

    check_name(project, "project")
    resume_file = os.path.join(os.path.abspath(dir or os.getcwd()), RESUME_FILE)
    if auto and not id:
        id = _auto_resume_id(resume_file, store_url, project)
    run_id = check_run_id(id) if id else new_run_id()
    root = os.path.join(os.path.abspath(dir), "arty-runs") if dir else local_runs_root(store_obj)
    folder = RunFolder(os.path.join(root, project, run_id))
    state = _read_resume_state(store_obj if store_obj_reachable else None, folder, project, run_id) if id else None
    if state is not None and resume in (None, False, "never"):
        raise UsageError(f"run '{project}/{run_id}' already exists",
                         hint="pass resume='allow' to continue it, or use another id")
    if state is None and resume == "must":
        raise NotFound(f"run '{project}/{run_id}' not found, cannot resume it",
                       hint="check the id and the project, or use resume='allow'")
    folder.set_meta(store=store_url, project=project, run=run_id, mode=mode)
    capture = {
        "system_metrics": (10.0 if system_metrics is True else system_metrics)
        if _env_flag("ARTY_SYSTEM_METRICS", True) else False,
        "console": console and env.flag("CONSOLE", True),
        "code": code and _env_flag("ARTY_CODE", True),
        "git": not env.flag("DISABLE_GIT", False),
        "diff": not env.flag("DISABLE_GIT", False) and not env.flag("DISABLE_CODE", False),
        "save_code": save_code and not env.flag("DISABLE_CODE", False),
        "silent": env.flag("SILENT", False) or bool(opts.get("silent")),
    }
    if opts.get("disable_git"):
        capture["git"] = capture["diff"] = False
    if opts.get("disable_code"):
        capture["diff"] = capture["save_code"] = False
    tag_list = [str(t) for t in (tags or [])]
    if state is not None:
        rec = state["record"]
        merged = dict(state["config"])
        merged.update(config_dict)
        run = Run(store=store_obj if store_obj_reachable else None, store_url=store_url, project=project,
                  run_id=run_id, name=name or rec.get("name"), config=merged, notes=notes or rec.get("notes"),
                  tags=tag_list or rec.get("tags", []), group=group or rec.get("group"),
                  job_type=job_type or rec.get("job_type"), mode=mode, folder=folder, resume_state=state,
                  flush_interval=flush_interval, capture=capture)
        run._start(None, resumed=True)
    else:
        from arty.tracking import code as code_mod

        record = run_record(run_id, project, name=name or run_id, notes=notes, tags=tag_list, group=group,
                            job_type=job_type, config=config_dict, mode=mode,
                            git=bool(capture["code"] and capture["git"]),
                            program=code_mod.environment().get("entry_script"), command=command,
                            experiment=experiment or _experiment_from_env())
        if trial is not None:
            record["sweep"] = trial[0]
        run = Run(store=store_obj if store_obj_reachable else None, store_url=store_url, project=project,
                  run_id=run_id, name=name, config=config_dict, notes=notes, tags=tag_list, group=group,
                  job_type=job_type, mode=mode, folder=folder, resume_state=None,
                  flush_interval=flush_interval, capture=capture)
        run._start(record, resumed=False)
    if trial is not None:
        run.sweep_id = trial[0]["id"]
    if auto:  # the next resume="auto" in this folder continues this run unless it finishes well
        run._resume_file = resume_file
        try:
            with open(resume_file, "w", encoding="utf-8") as f:
                json.dump({"store": store_url, "project": project, "id": run_id}, f)
        except OSError as exc:
            warnings.warn(f"arty: cannot write '{resume_file}' ({exc}); resume='auto' will not find this run",
                          RuntimeWarning, stacklevel=2)
    with _current_lock:
        _current = run
    atexit.register(run._atexit)
    _install_excepthook()
    return run


def _refuse_unsupported(tensorboard: Any, monitor_gym: Any, fork_from: Any, resume_from: Any) -> None:
    """``init`` arguments of W&B that Arty cannot honour: a clear error, never silence."""
    if tensorboard:
        raise UsageError("sync_tensorboard is not supported: Arty does not read TensorBoard event files",
                         hint="log the same values with run.log({...}) where the SummaryWriter writes them")
    if monitor_gym:
        raise UsageError("monitor_gym is not supported: Arty does not record gym videos",
                         hint="log frames as arty.Image with run.log")
    if fork_from or resume_from:
        raise UsageError("fork_from and resume_from are not supported: a run cannot be forked or rewound yet",
                         hint="continue a run with arty.init(id=..., resume='allow'), or start a new one "
                              "with group= to keep them together")


def _auto_resume_id(path: str, store_url: str, project: str) -> str | None:
    """The run ``resume="auto"`` continues: the one named by ``path`` (left by a run of this
    store and project, started with ``resume="auto"`` in this folder, that did not finish well)."""
    try:
        with open(path, encoding="utf-8") as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("store") != store_url or rec.get("project") != project:
        return None
    rid = rec.get("id")
    return rid if isinstance(rid, str) and rid else None


_hook_installed = False


def _install_excepthook() -> None:
    """Mark the current run failed (with the exception) when the script dies of one."""
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True
    previous = sys.excepthook

    def hook(exc_type: type, exc: BaseException, tb: Any) -> None:
        run = _current
        if run is not None:
            try:
                run._record_exception(exc_type, exc, tb)
            except Exception:  # noqa: BLE001
                pass
        previous(exc_type, exc, tb)

    sys.excepthook = hook
    original_exit = sys.exit

    def exit_hook(status: Any = None) -> None:
        """``sys.exit(n)`` ends the current run with exit code ``n`` (``atexit`` cannot see it)."""
        run = _current
        if run is not None:
            run._exit_request = exit_status(status)
        original_exit(status)

    sys.exit = exit_hook


def exit_status(code: Any) -> int:
    """The process exit status ``sys.exit(code)`` gives: None is 0, an int itself, anything else 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def _experiment_from_env() -> dict[str, str] | None:
    """``ARTY_EXPERIMENT_ID`` / ``ARTY_EXPERIMENT_NAME``: the experiment of the step this process runs in."""
    exp_id = (os.environ.get("ARTY_EXPERIMENT_ID") or "").strip()
    if not exp_id:
        return None
    return {"id": exp_id, "name": (os.environ.get("ARTY_EXPERIMENT_NAME") or "").strip() or exp_id}


def require_run() -> Run:
    run = _current
    if run is None:
        raise ArtyError("no active run", hint="call arty.init() first")
    return run


def run_record(run_id: str, project: str, *, name: str, notes: str | None = None, tags: Iterable[str] = (),
               group: str | None = None, job_type: str | None = None, config: dict[str, Any] | None = None,
               mode: str = "online", git: bool = True, program: str | None = None,
               started_at: str | None = None, command: Iterable[str] | None = None,
               experiment: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``run.json`` record of a run starting in this process (``command`` defaults to ``sys.argv``);
    ``experiment`` (``{"id", "name"}``) only when the run belongs to one."""
    from arty.tracking import code as code_mod

    extra = {"experiment": {"id": str(experiment["id"]), "name": str(experiment.get("name") or experiment["id"])}} \
        if experiment and experiment.get("id") else {}
    return extra | {
        "id": run_id, "project": project, "name": name, "notes": notes, "tags": list(tags), "group": group,
        "job_type": job_type, "config": Config(config or {}).as_dict(), "started_at": started_at or now_iso(),
        "host": socket.gethostname(), "pid": os.getpid(), "user": _user(), "python": sys.version.split()[0],
        "command": list(sys.argv if command is None else command), "program": program, "cwd": os.getcwd(),
        "git": code_mod.git_info(os.getcwd()) if git else None, "mode": mode,
    }


def record_finished_run(store: Store, project: str, run_id: str, *, name: str, job_type: str,
                        config: dict[str, Any], outputs: Iterable[ArtifactVersion] = (),
                        inputs: Iterable[ArtifactVersion] = (), started_at: str | None = None,
                        runtime: float = 0.0, summary: dict[str, Any] | None = None) -> RunFolder:
    """Write a complete, finished run in one go (for commands like ``art add`` whose
    versions need a producer in the lineage) and upload it; a failed upload is left
    for ``art sync``."""
    folder = RunFolder(os.path.join(local_runs_root(store), project, check_run_id(run_id)))
    folder.set_meta(store=store.url, project=project, run=run_id, mode="online")
    folder.write_json("run.json", run_record(run_id, project, name=name, job_type=job_type, config=config,
                                             started_at=started_at))
    for kind, versions in (("inputs", inputs), ("outputs", outputs)):
        for v in versions:
            folder.write_json(f"{kind}/{v.project}/{v.base_name}/{v.number}.json", {
                "project": v.project, "artifact": v.base_name, "version": v.number, "digest": str(v.digest),
                "at": now_iso()})
    folder.write_json("final.json", {"state": "finished", "exit_code": 0, "error": None, "summary": summary or {},
                                     "finished_at": now_iso(), "runtime": runtime, "steps": 0, "last_step": None})
    try:
        folder.sync(store, project, run_id)
    except StoreError as exc:
        warnings.warn(f"arty: run {project}/{run_id} kept in {folder.root} ({exc.message}); run 'art sync'",
                      RuntimeWarning, stacklevel=2)
    return folder
