"""Where things live in a store (format 1). See docs/store-format.md."""

from __future__ import annotations

from arty.hashing import Digest

FORMAT = 1
#: The ``job_type`` of the runs ``art add`` records as the producers of the versions it makes
#: (run listings leave them out unless asked).
ADD_JOB_TYPE = "art-add"
STORE_JSON = "store.json"
OBJECTS = "objects"
JOURNAL = "journal"
LEASES = "leases"
PROJECTS = "projects"
#: Bad records moved aside by ``art verify --repair``: ``quarantine/<batch>/<original path>``.
QUARANTINE = "quarantine"
#: Width of the zero padding of a log's sequence numbers, so names sort.
SEQ_WIDTH = 8


def blob(digest: Digest) -> str:
    """``objects/<2 hex>/<rest>``."""
    return f"{OBJECTS}/{digest.hex[:2]}/{digest.hex[2:]}"


def lease(lease_id: str, kind: str, renewal: int) -> str:
    """``leases/<id>-<kind>-<renewal>.json``: a writer's or a gc pass's work in progress."""
    return f"{LEASES}/{lease_id}-{kind}-{renewal}.json"


def seq_name(seq: int) -> str:
    return f"{seq:0{SEQ_WIDTH}d}.json"


def parse_seq(name: str) -> int | None:
    """The sequence number of a log record's file name, or None for other names.

    Only ASCII digits count: ``str.isdigit`` (and ``int``) also accept other
    scripts' digits, which would make ``٣.json`` read as record 3 (``00000003.json``).
    """
    if not name.endswith(".json"):
        return None
    stem = name[:-5]
    return int(stem) if stem.isascii() and stem.isdigit() else None


def project(project: str) -> str:
    return f"{PROJECTS}/{project}"


def artifacts(project: str) -> str:
    return f"{PROJECTS}/{project}/artifacts"


def artifact(project: str, name: str) -> str:
    return f"{PROJECTS}/{project}/artifacts/{name}"


def versions(project: str, name: str) -> str:
    return f"{artifact(project, name)}/versions"


def deleted(project: str, name: str) -> str:
    """``deleted/<N>.json``: one record per deleted version (``art rm``)."""
    return f"{artifact(project, name)}/deleted"


def by_digest(project: str, name: str, digest: Digest) -> str:
    return f"{artifact(project, name)}/by-digest/{digest.algorithm}-{digest.hex}.json"


def aliases(project: str, name: str) -> str:
    return f"{artifact(project, name)}/aliases"


def alias(project: str, name: str, alias_name: str) -> str:
    return f"{aliases(project, name)}/{alias_name}"


def runs(project: str) -> str:
    return f"{PROJECTS}/{project}/runs"


def run(project: str, run_id: str) -> str:
    return f"{PROJECTS}/{project}/runs/{run_id}"


#: A run's first record, its first finish, and the logs of later resumes and finishes (a finished
#: run resumed: ``resumes/<n>`` reopens it, ``finishes/<n>`` closes it again).
RUN_FIRST, RUN_FINAL, RUN_RESUMES, RUN_FINISHES = "run.json", "final.json", "resumes", "finishes"


def closes_run(rel: str) -> bool:
    """Whether a run record (path relative to the run's folder) finishes the run."""
    return rel == RUN_FINAL or rel.startswith(RUN_FINISHES + "/")


def run_record_order(rel: str) -> tuple[int, str]:
    """Sort key for writing or copying a run's records: ``run.json`` first, then ``resumes/``
    (a reopened run is never seen finished with the new session's records), the rest, and
    the records that finish the run last (never seen finished but incomplete)."""
    if rel == RUN_FIRST:
        return (0, rel)
    if rel.startswith(RUN_RESUMES + "/"):
        return (1, rel)
    return (3 if closes_run(rel) else 2, rel)


def step_cache_folder(project: str) -> str:
    return f"{PROJECTS}/{project}/steps/cache"


def step_cache(project: str, key: str) -> str:
    """``steps/cache/<key>.json``: the outputs of the first successful step run with this key."""
    return f"{step_cache_folder(project)}/{key}.json"


def step_log(project: str, step: str) -> str:
    """``steps/log/<step>/``: one record per successful run of a pipeline step, in order."""
    return f"{PROJECTS}/{project}/steps/log/{step}"


def experiments(project: str) -> str:
    """``experiments/``: one record per ``art repro`` (an experiment), and ``names/``."""
    return f"{PROJECTS}/{project}/experiments"


def experiment(project: str, experiment_id: str) -> str:
    """``experiments/<id>.json``: what one ``art repro`` ran, with which params (create-if-absent)."""
    return f"{experiments(project)}/{experiment_id}.json"


def experiment_name(project: str, name: str) -> str:
    """``experiments/names/<name>.json``: create-if-absent, so two experiments never share a name."""
    return f"{experiments(project)}/names/{name}.json"


def views(project: str) -> str:
    """``views/``: the web UI's saved workspace views of a project."""
    return f"{PROJECTS}/{project}/views"


def view(project: str, name: str) -> str:
    """``views/<name>/``: one record per save of a named view (the highest is current)."""
    return f"{views(project)}/{name}"


def owner(path: str) -> dict[str, str]:
    """What a record path belongs to: ``{"project", "artifact"}``, ``{"project", "run"}``,
    ``{"project"}`` or ``{}``, as journal entries name it."""
    parts = path.split("/")
    if len(parts) < 2 or parts[0] != PROJECTS:
        return {}
    out = {"project": parts[1]}
    if len(parts) >= 4 and parts[2] == "artifacts":
        out["artifact"] = parts[3]
    elif len(parts) >= 4 and parts[2] == "runs":
        out["run"] = parts[3]
    return out
