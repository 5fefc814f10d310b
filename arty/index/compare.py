"""Comparing two runs or two experiments: params (config), metrics (summary) and inputs.

A *side* of a comparison is a run or an experiment, resolved from what a user types
(:func:`resolve`): an experiment's name, id or id prefix; a run's id, ``project/id`` or a
name only one run has; or a git commit (anything ``git rev-parse`` knows in the working
folder, or a hash prefix recorded on an experiment), meaning the newest experiment run at
that commit. Each side is flattened to dotted keys:

* a run: ``params`` its config, ``metrics`` its summary, ``inputs`` artifact -> ``name:vN``;
* an experiment: ``params`` its params (``train.lr``), ``metrics`` each step's summary under
  the step's name (``evaluate.accuracy``), ``inputs`` each step's inputs (``train.dataset``).

Keys starting with ``_`` (bookkeeping such as ``_runtime``) are left out of metrics.
:func:`diff` says what differs the way ``dvc params diff`` / ``dvc metrics diff`` do: a key
is *changed* when its values differ or it is on one side only (``None`` there); numeric
metrics get ``diff`` = new - old.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from arty.errors import NotFound, UsageError
from arty.index import experiments as exp_index
from arty.index.records import load_json_column

if TYPE_CHECKING:
    from arty.index.index import Index

SECTIONS = ("params", "metrics", "inputs")


def flatten_dotted(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A run's nested config or summary as one level with dotted keys (``model.arch``), for
    display and tables. Media values (dicts with ``_type``), empty dicts and lists stay whole."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and "_type" not in v:
            out.update(flatten_dotted(v, key + "."))
        else:
            out[key] = v
    return out


def metric_values(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary flattened, without bookkeeping keys (``_runtime``...) and empty groups."""
    return {k: v for k, v in flatten_dotted(summary).items()
            if not k.split(".")[-1].startswith("_") and v != {}}


@dataclass
class Side:
    """One side of a comparison, flattened (see the module docstring)."""

    kind: str  # "run" | "experiment"
    id: str
    label: str  # what tables show: the experiment's name, or the run's name and id
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    commit: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "label": self.label, "commit": self.commit}


def _inputs(index: "Index", project: str, run_id: str, prefix: str = "") -> dict[str, str]:
    out = {}
    for e in index.inputs(project, run_id):
        name = e["artifact"] if e["artifact_project"] == project else f"{e['artifact_project']}/{e['artifact']}"
        out[f"{prefix}{name}"] = f"{name}:v{e['version']}"
    return out


def run_side(index: "Index", row: dict[str, Any]) -> Side:
    config = load_json_column(row.get("config"), row.get("config_raw"), {})
    summary = load_json_column(row.get("summary"), row.get("summary_raw"), {})
    git = json.loads(row["git"]) if row.get("git") else None
    return Side("run", row["id"], f"{row['name']} ({row['id']})" if row.get("name") != row["id"] else row["id"],
                flatten_dotted(config), metric_values(summary), _inputs(index, row["project"], row["id"]),
                git.get("commit") if isinstance(git, dict) else None)


def experiment_side(index: "Index", project: str, exp: dict[str, Any]) -> Side:
    metrics: dict[str, Any] = {}
    inputs: dict[str, str] = {}
    for step in sorted(exp["runs"]):
        metrics.update(metric_values({step: exp["metrics"].get(step) or {}}))
        inputs.update(_inputs(index, project, exp["runs"][step], f"{step}."))
    return Side("experiment", exp["id"], exp["name"], flatten_dotted(exp["params"]), metrics, inputs,
                exp.get("commit"))


def resolve(index: "Index", project: str, ref: str,
            git_commit: Callable[[str], str | None] | None = None) -> Side:
    """The run or experiment ``ref`` names (see the module docstring); :class:`NotFound` or, when
    ``ref`` names several, :class:`UsageError`. ``git_commit`` turns a git revision into a full
    commit hash (``git rev-parse`` in the working folder), or None."""
    exps = exp_index.find(index, project, ref)
    if len(exps) > 1:
        raise UsageError(f"'{ref}' names {len(exps)} experiments",
                         hint="use more of the id: " + ", ".join(e["id"] for e in exps[:5]))
    if exps:
        return experiment_side(index, project, exps[0])
    run_project, slash, run_id = ref.rpartition("/")
    row = index.run_row(run_project if slash else project, run_id)
    if row is None and not slash:
        named = index.runs_named(project, ref)
        if len(named) > 1:
            raise UsageError(f"'{ref}' names {len(named)} runs", hint="use a run id: "
                             + ", ".join(r["id"] for r in named[:5]))
        row = named[0] if named else None
    if row is not None:
        return run_side(index, row)
    commit = (git_commit(ref) if git_commit else None) or ref
    at = exp_index.at_commit(index, project, commit)
    if at:
        side = experiment_side(index, project, at[0])
        side.label = f"{side.label} ({ref})" if ref != side.label else side.label
        return side
    raise NotFound(f"no experiment, run or git commit '{ref}' in project '{project}'",
                   hint="'art exp show' lists experiments; 'art runs' lists runs; a commit counts once "
                        "an 'art repro' ran at it")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    """Equal values of one kind (``1`` and ``1.0`` are the same number; ``True`` is not ``1``)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool) and _is_number(a) == _is_number(b)


def diff(old: dict[str, Any], new: dict[str, Any], *, show_all: bool = False,
         numeric: bool = False) -> dict[str, dict[str, Any]]:
    """``{key: {"old", "new"}}`` for the keys whose values differ (every key with ``show_all``),
    by key; a key on one side only has ``None`` on the other. With ``numeric`` each entry also
    has ``"diff"``: new - old when both are numbers, else None."""
    out: dict[str, dict[str, Any]] = {}
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if not show_all and k in old and k in new and _same(a, b):
            continue
        entry: dict[str, Any] = {"old": a, "new": b}
        if numeric:
            entry["diff"] = b - a if _is_number(a) and _is_number(b) else None
        out[k] = entry
    return out


def compare(a: Side, b: Side, show_all: bool = False) -> dict[str, dict[str, dict[str, Any]]]:
    """What differs from ``a`` to ``b``, per section: ``params``, ``metrics`` (with ``diff``), ``inputs``."""
    return {"params": diff(a.params, b.params, show_all=show_all),
            "metrics": diff(a.metrics, b.metrics, show_all=show_all, numeric=True),
            "inputs": diff(a.inputs, b.inputs, show_all=show_all)}
