"""Runs (``arty.init``): config, history, summary, modes and what is captured around them.

Every check reads what reached the store directly (``run.json``, ``events/``,
``history/`` segments decoded with :func:`arty.store.segments.rows_of`, ...),
through the small readers below, not through any query layer.
Process-level failures (kills, outages, concurrency) are in test_runs_reliability.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from types import SimpleNamespace

import pytest

import arty
from arty.errors import ArtyError, NotFound, UsageError
from arty.store import init_store, open_store, segments
from arty.store.backends import TMP_PREFIX, LocalBackend
from arty.tracking import run as run_mod
from arty.tracking import values
from arty.tracking.local import sync_all

from conftest import run_art

PROJECT = "p"
#: Capture off: most tests are about what the script logs, not what is captured around it.
QUIET = dict(console=False, system_metrics=False, code=False)


# -- reading a run straight from the store ------------------------------------------------------

def run_base(project: str, run_id: str) -> str:
    return f"projects/{project}/runs/{run_id}"


def store_files(store, prefix: str) -> set[str]:
    """Every file under ``prefix`` in the store, relative to it (temp files excluded)."""
    b = store.backend
    out = set()
    if isinstance(b, LocalBackend):
        root = b.local_path(prefix)
        for here, _dirs, names in os.walk(root):
            for n in names:
                if not n.startswith(TMP_PREFIX):
                    out.add(os.path.relpath(os.path.join(here, n), root).replace(os.sep, "/"))
        return out
    full = f"{b.root}/{prefix}"
    try:
        found = b.fs.find(full)
    except FileNotFoundError:
        return out
    for p in found:
        p = "/" + p.lstrip("/") if full.startswith("/") else p.lstrip("/")
        if p.startswith(full + "/"):
            out.add(p[len(full) + 1:])
    return out


def read_run(store, project: str, run_id: str) -> SimpleNamespace:
    """Everything one run has in the store, decoded."""
    base = run_base(project, run_id)
    names = store_files(store, base)

    def raw(rel: str) -> bytes:
        return store.backend.read(f"{base}/{rel}")

    def records(sub: str) -> list[str]:
        return sorted(n for n in names if n.startswith(sub + "/"))

    def rows(sub: str) -> list[dict]:
        return [row for n in records(sub) for row in segments.rows_of(raw(n))]

    return SimpleNamespace(
        names=names,
        run=json.loads(raw("run.json")) if "run.json" in names else None,
        final=json.loads(raw("final.json")) if "final.json" in names else None,
        events=[json.loads(raw(n)) for n in records("events")],
        history=rows("history"),
        history_segments=len(records("history")),
        system=rows("system"),
        console=[line for n in records("console") for line in segments.decode(raw(n))["lines"]],
        files={n[len("files/"):]: raw(n) for n in records("files")},
        inputs=[json.loads(raw(n)) for n in records("inputs")],
        outputs=[json.loads(raw(n)) for n in records("outputs")],
        raw=raw,
    )


def store_snapshot(store, prefix: str = "projects") -> dict[str, bytes]:
    return {n: store.backend.read(f"{prefix}/{n}") for n in store_files(store, prefix)}


def events_of(rec: SimpleNamespace, kind: str) -> list[dict]:
    return [e for e in rec.events if e["kind"] == kind]


def wait_for(condition, timeout: float = 30.0, what: str = "condition"):
    """Poll ``condition()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = condition()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)  # polling interval, not a wait for a race to settle


def run_script(tmp_path, source: str, *args: str, env: dict | None = None, name: str = "train.py",
               timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``source`` as a script file in a fresh interpreter (cwd: tmp_path)."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(path), *args], cwd=tmp_path, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _no_run_left_behind(monkeypatch):
    """No run outlives its test; per-process warning de-duplication starts afresh."""
    monkeypatch.setattr(values, "_warned", set())
    for var in ("ARTY_MODE", "ARTY_SYSTEM_METRICS", "ARTY_CONSOLE", "ARTY_CODE"):
        monkeypatch.delenv(var, raising=False)
    yield
    run = run_mod._current
    if run is not None and not run._finished:
        run.finish(quiet=True)
    run_mod._current = None


@pytest.fixture
def store(local_store):
    return local_store


def start(store, **kwargs) -> arty.Run:
    opts = dict(QUIET)
    opts.update(kwargs)
    opts.setdefault("project", PROJECT)
    return arty.init(store=store.url, **opts)


# -- the W&B script ----------------------------------------------------------------------------

WANDB_SCRIPT = '''
import arty
config = dict(learning_rate=0.01, momentum=0.2, architecture="CNN",
              dataset_id="peds-0192", infra="AWS")
run = arty.init(project="detect-pedestrians", notes="tweak baseline",
                tags=["baseline", "paper1"], config=config)
data_dir = run.use_artifact("peds:latest").download()
run.define_metric("acc", summary="max")
for step in range(1000):
    run.log({"loss": 1.0 / (step + 1), "acc": (step * 37 % 1000) / 1000})            # also arty.log(...)
run.summary["best_f1"] = 0.91
model = arty.Artifact("ped-detector", type="model")
model.add_file("model.pt")
run.log_artifact(model, aliases=["best"])
run.finish()                # or `with arty.init(...) as run:`, or automatically at exit
'''


def test_the_wandb_script_runs_unchanged_apart_from_the_import(store_url, tmp_path, monkeypatch):
    init_store(store_url)
    monkeypatch.setenv("ARTY_STORE", store_url)
    (tmp_path / "peds").mkdir()
    (tmp_path / "peds" / "img0.txt").write_text("pedestrian")
    peds = arty.Artifact("peds", type="dataset").add_dir(str(tmp_path / "peds"))
    assert str(arty.log_artifact(peds, project="detect-pedestrians")) == "peds:v0"
    (tmp_path / "model.pt").write_bytes(b"weights")

    namespace: dict = {}
    exec(compile(WANDB_SCRIPT, "train.py", "exec"), namespace)
    run = namespace["run"]
    assert run.state == "finished"
    assert os.path.exists(os.path.join(namespace["data_dir"], "img0.txt"))

    store = open_store(store_url)
    rec = read_run(store, "detect-pedestrians", run.id)
    assert rec.run["config"] == {"learning_rate": 0.01, "momentum": 0.2, "architecture": "CNN",
                                 "dataset_id": "peds-0192", "infra": "AWS"}
    assert rec.run["notes"] == "tweak baseline"
    assert rec.run["tags"] == ["baseline", "paper1"]
    assert rec.run["project"] == "detect-pedestrians" and rec.run["id"] == run.id
    assert [r["_step"] for r in rec.history] == list(range(1000))
    assert [r["loss"] for r in rec.history] == [1.0 / (s + 1) for s in range(1000)]
    assert rec.final["state"] == "finished" and rec.final["exit_code"] == 0
    assert rec.final["steps"] == 1000
    assert rec.final["summary"]["acc"] == 0.999                # define_metric(summary="max")
    assert rec.final["summary"]["loss"] == 1.0 / 1000          # the default: last value
    assert rec.final["summary"]["best_f1"] == 0.91
    assert events_of(rec, "metric")[0]["metric"] == {"name": "acc", "summary": "max"}

    model = arty.registry(store_url, "detect-pedestrians").resolve("ped-detector:best")
    assert model.created_by == run.id
    assert [(o["artifact"], o["version"]) for o in rec.outputs] == [("ped-detector", 0)]
    assert [(i["project"], i["artifact"], i["version"]) for i in rec.inputs] == \
        [("detect-pedestrians", "peds", 0)]
    assert "inputs/detect-pedestrians/peds/0.json" in rec.names
    assert [str(v) for v in run.used_artifacts()] == ["peds:v0"]
    assert [str(v) for v in run.logged_artifacts()] == ["ped-detector:v0"]


# -- finishing: with, exceptions, process exit ----------------------------------------------------

def test_with_block_finishes_the_run(store):
    with start(store) as run:
        run.log({"a": 1})
        assert run.state == "running"
    assert run.state == "finished"
    rec = read_run(store, PROJECT, run.id)
    assert rec.final["state"] == "finished" and rec.final["exit_code"] == 0 and rec.final["error"] is None
    assert rec.history[0]["a"] == 1


def test_an_exception_in_a_with_block_fails_the_run_and_propagates(store):
    with pytest.raises(ValueError, match="loss diverged"):
        with start(store) as run:
            run.log({"loss": 1.0})
            raise ValueError("loss diverged at step 1")
    assert run.state == "failed"
    rec = read_run(store, PROJECT, run.id)
    assert rec.final["state"] == "failed"
    assert rec.final["exit_code"] == 1
    assert "ValueError: loss diverged at step 1" in rec.final["error"]
    assert len(rec.history) == 1                              # what was logged is kept


def test_finish_is_idempotent_and_log_after_finish_is_ignored(store):
    run = start(store)
    run.log({"a": 1})
    run.finish()
    with pytest.warns(RuntimeWarning, match="after finish"):
        run.log({"a": 2})
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    assert [r["a"] for r in rec.history] == [1]
    assert arty.run is None


SCRIPT_DIES = """
import sys
import arty
run = arty.init(project="p", store=sys.argv[1], console=False, system_metrics=False, code=False)
print(run.id, flush=True)
for i in range(5):
    run.log({"i": i})
raise RuntimeError("out of memory at step 5")
"""


def test_a_script_that_dies_of_an_uncaught_exception_is_failed(store, tmp_path):
    proc = run_script(tmp_path, SCRIPT_DIES, store.url)
    assert proc.returncode == 1
    assert "RuntimeError: out of memory at step 5" in proc.stderr      # the traceback still shows
    run_id = proc.stdout.split()[0]
    rec = read_run(store, PROJECT, run_id)
    assert rec.final["state"] == "failed" and rec.final["exit_code"] == 1
    assert "RuntimeError: out of memory at step 5" in rec.final["error"]
    assert [r["i"] for r in rec.history] == list(range(5))
    assert rec.console == []                                            # console=False


SCRIPT_AT_EXIT = """
import os, sys
import arty
run = arty.init(project="p", store=sys.argv[1], save_code=True, code=True, console=True,
                system_metrics=False)
print("run id", run.id)
print("hello from print")
sys.stdout.flush()
os.write(1, b"hello from fd 1\\n")
print("warning on stderr", file=sys.stderr)
for i in range(100):
    arty.log({"i": i})
# no finish(): the run is finished when the interpreter exits
"""


def test_a_run_is_finished_at_process_exit_with_console_and_code_captured(store, tmp_path):
    proc = run_script(tmp_path, SCRIPT_AT_EXIT, store.url)
    assert proc.returncode == 0, proc.stderr
    assert "hello from fd 1" in proc.stdout                    # the terminal still shows everything
    run_id = proc.stdout.split("run id ")[1].split()[0]
    rec = read_run(store, PROJECT, run_id)
    assert rec.final["state"] == "finished" and rec.final["exit_code"] == 0
    assert [r["i"] for r in rec.history] == list(range(100))
    lines = [(stream, text) for _ts, stream, text in rec.console]
    assert ("stdout", "hello from print") in lines
    assert ("stdout", "hello from fd 1") in lines
    assert ("stderr", "warning on stderr") in lines
    assert all(isinstance(ts, float) for ts, _s, _t in rec.console)
    assert rec.files["code/train.py"] == (tmp_path / "train.py").read_bytes()     # save_code=True
    assert b"arty==" in rec.files["requirements.txt"].lower()
    assert rec.run["program"] == str(tmp_path / "train.py")


# -- identity, notes, tags ---------------------------------------------------------------------

def test_name_group_job_type_notes_and_tags(store):
    run = start(store, name="baseline-1", group="sweep-7", job_type="train", notes="first", tags=["a", "b"])
    assert (run.name, run.group, run.job_type, run.notes, run.tags) == \
        ("baseline-1", "sweep-7", "train", "first", ("a", "b"))
    assert run.path == f"{PROJECT}/{run.id}" and run.project == PROJECT
    run.name = "baseline-2"
    run.notes = "changed my mind"
    run.tags = ["c"]
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    assert (rec.run["name"], rec.run["group"], rec.run["job_type"], rec.run["notes"], rec.run["tags"]) == \
        ("baseline-1", "sweep-7", "train", "first", ["a", "b"])
    assert [e["name"] for e in events_of(rec, "name")] == ["baseline-2"]
    assert [e["notes"] for e in events_of(rec, "notes")] == ["changed my mind"]
    assert [e["tags"] for e in events_of(rec, "tags")] == [["c"]]
    assert [e["seq"] for e in rec.events] == list(range(len(rec.events)))


def test_an_explicit_id_and_dir(store, tmp_path):
    run = start(store, id="my-run_1", dir=str(tmp_path / "work"))
    run.log({"a": 1})
    run.finish()
    assert run.id == "my-run_1"
    assert run.dir.startswith(str(tmp_path / "work"))
    assert os.path.exists(os.path.join(run.dir, "final.json"))
    assert read_run(store, PROJECT, "my-run_1").final["state"] == "finished"
    with pytest.raises(UsageError, match="invalid run id"):
        start(store, id="bad/id")


# -- config ------------------------------------------------------------------------------------

def test_config_by_attribute_key_and_update(store):
    run = start(store, config={"lr": 0.1, "layers": 3, "opt": {"name": "sgd", "momentum": 0.9}})
    assert run.config.lr == 0.1 and run.config["layers"] == 3
    assert run.config.opt == {"name": "sgd", "momentum": 0.9}          # nested dicts stay nested
    run.config.batch_size = 64
    run.config["dropout"] = 0.5
    run.config.update({"lr": 0.2, "warmup": 10})
    run.config.update(epochs=5)
    assert run.config.lr == 0.2 and run.config.batch_size == 64 and len(run.config) == 7
    with pytest.raises(AttributeError):
        run.config.missing  # noqa: B018
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    assert rec.run["config"] == {"lr": 0.1, "layers": 3, "opt": {"name": "sgd", "momentum": 0.9}}
    last = events_of(rec, "config")[-1]["config"]
    assert last == {"lr": 0.2, "layers": 3, "opt": {"name": "sgd", "momentum": 0.9}, "batch_size": 64,
                    "dropout": 0.5, "warmup": 10, "epochs": 5}


def test_config_from_an_argparse_namespace_and_an_object(store):
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(["--lr", "0.5"])
    run = start(store, config=args)
    assert dict(run.config) == {"lr": 0.5, "epochs": 3}
    run.config.update(argparse.Namespace(seed=7))
    assert run.config.seed == 7
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    assert rec.run["config"] == {"lr": 0.5, "epochs": 3}
    assert events_of(rec, "config")[-1]["config"] == {"lr": 0.5, "epochs": 3, "seed": 7}


def test_config_from_a_yaml_file(store, tmp_path):
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "config-defaults.yaml"
    path.write_text(yaml.safe_dump({"lr": {"value": 0.3, "desc": "learning rate"}, "epochs": 4,
                                    "model": {"depth": 18}}))
    run = start(store, config=str(path))
    assert dict(run.config) == {"lr": 0.3, "epochs": 4, "model": {"depth": 18}}
    run.finish()
    assert read_run(store, PROJECT, run.id).run["config"] == {"lr": 0.3, "epochs": 4, "model": {"depth": 18}}
    with pytest.raises(NotFound, match="missing.yaml"):
        start(store, config=str(tmp_path / "missing.yaml"))
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(UsageError, match="mapping"):
        start(store, config=str(tmp_path / "list.yaml"))


def test_config_from_yaml_without_pyyaml_is_a_clear_usage_error(store, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)      # as if PyYAML were not installed
    (tmp_path / "c.yaml").write_text("lr: 1\n")
    with pytest.raises(UsageError, match="PyYAML is not installed") as err:
        start(store, config=str(tmp_path / "c.yaml"))
    assert "pip install pyyaml" in err.value.hint
    assert not os.path.exists(os.path.join(store.backend.root, "projects"))   # no run was started


# -- module-level forms ------------------------------------------------------------------------

def test_module_level_log_config_summary_and_run(store):
    assert arty.run is None
    with pytest.raises(ArtyError, match="no active run"):
        arty.log({"a": 1})
    with pytest.raises(ArtyError, match="no active run"):
        arty.config  # noqa: B018
    run = start(store, config={"lr": 0.1})
    assert arty.run is run
    assert arty.config.lr == 0.1
    arty.config.update({"seed": 3})
    arty.define_metric("loss", summary="min")
    for loss in (3.0, 1.0, 2.0):
        arty.log({"loss": loss})
    arty.summary["note"] = "ok"
    assert arty.summary["loss"] == 1.0
    arty.finish()
    assert arty.run is None and run.state == "finished"
    rec = read_run(store, PROJECT, run.id)
    assert [r["loss"] for r in rec.history] == [3.0, 1.0, 2.0]
    assert rec.final["summary"] == {"loss": 1.0, "note": "ok"}
    assert events_of(rec, "config")[-1]["config"] == {"lr": 0.1, "seed": 3}


def test_a_new_init_finishes_the_previous_run(store):
    first = start(store)
    first.log({"a": 1})
    second = start(store)
    assert first.state == "finished" and arty.run is second
    second.finish()
    assert read_run(store, PROJECT, first.id).final["state"] == "finished"


# -- log: steps, commit, flattening, values ------------------------------------------------------

def test_log_step_and_commit(store):
    run = start(store)
    run.log({"a": 0})                        # step 0
    run.log({"a": 1}, commit=False)          # step 1, still open
    run.log({"b": 1})                        # merged into step 1, committed
    run.log({"a": 5}, step=5)                # jumps to step 5 (kept open: step given, commit not)
    run.log({"b": 5}, step=5)                # same step: merged
    assert run.step == 5
    run.log({"a": 6}, step=6)                # commits step 5
    with pytest.warns(RuntimeWarning, match="step 3 is before the current step 6"):
        run.log({"a": 3}, step=3)            # ignored
    run.log({"c": 6}, commit=True)           # merged into 6 and committed
    run.log({"a": 7})                        # step 7
    run.log({"a": 8}, step=8, commit=True)
    run.log({"a": 9}, commit=False)          # committed by finish
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    got = [{k: v for k, v in r.items() if not k.startswith("_")} | {"_step": r["_step"]} for r in rec.history]
    assert got == [
        {"a": 0, "_step": 0},
        {"a": 1, "b": 1, "_step": 1},
        {"a": 5, "b": 5, "_step": 5},
        {"a": 6, "c": 6, "_step": 6},
        {"a": 7, "_step": 7},
        {"a": 8, "_step": 8},
        {"a": 9, "_step": 9},
    ]
    assert rec.final["steps"] == 7 and rec.final["last_step"] == 9
    ts = [r["_timestamp"] for r in rec.history]
    assert ts == sorted(ts) and all(r["_runtime"] >= 0 for r in rec.history)


def test_log_flattens_nested_dicts(store):
    run = start(store)
    run.log({"train": {"loss": 0.5, "acc": 0.9}, "val": {"loss": 0.7, "inner": {"x": 1}}, "lr": 0.1})
    run.finish()
    row = read_run(store, PROJECT, run.id).history[0]
    assert {k: v for k, v in row.items() if not k.startswith("_")} == \
        {"train/loss": 0.5, "train/acc": 0.9, "val/loss": 0.7, "val/inner/x": 1, "lr": 0.1}


def test_log_keys_that_become_one_key_warn_naming_both(store):
    # W&B keeps {"a/b": ...} and a nested {"a": {"b": ...}} apart; flattened with "/", they are
    # one key here, so one value is kept (the later) and the warning says which was dropped.
    run = start(store)
    with pytest.warns(RuntimeWarning) as caught:
        run.log({"a/b": 1, "a": {"b": 2}, "c": 3})
    run.finish()
    messages = [str(w.message) for w in caught]
    assert messages == ["arty: ['a/b'] and ['a']['b'] both become key 'a/b'; the value of ['a']['b'] is kept "
                        "and that of ['a/b'] dropped"]
    rec = read_run(store, PROJECT, run.id)
    assert {k: v for k, v in rec.history[0].items() if not k.startswith("_")} == {"a/b": 2, "c": 3}
    assert rec.final["summary"]["a/b"] == 2


def test_the_non_string_key_warning_says_the_value_is_logged(store):
    run = start(store)
    with pytest.warns(RuntimeWarning) as caught:
        run.log({1: 0.5, "ok": 1.0})
    run.finish()
    assert [str(w.message) for w in caught] == ["arty: non-string key 1 stored as '1'"]
    row = read_run(store, PROJECT, run.id).history[0]
    assert row["1"] == 0.5 and row["ok"] == 1.0


def test_a_dict_that_contains_itself_is_left_out_of_the_row(store):
    run = start(store)
    loop: dict = {"x": 1.0}
    loop["again"] = loop
    deep = leaf = {}
    for _ in range(3000):  # deeper than Python's recursion limit
        leaf["d"] = leaf = {}
    leaf["v"] = 7
    with pytest.warns(RuntimeWarning, match="a dict that contains itself for key 'loop/again'; value not logged"):
        run.log({"loop": loop, "deep": deep, "ok": 2.0})
    run.finish()
    row = read_run(store, PROJECT, run.id).history[0]
    assert row["loop/x"] == 1.0 and row["ok"] == 2.0 and "loop/again" not in row
    assert row["deep/" + "d/" * 3000 + "v"] == 7


def test_log_accepts_numpy_scalars(store):
    np = pytest.importorskip("numpy")
    run = start(store)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # no warning for any of these
        run.log({"f32": np.float32(0.5), "f64": np.float64(0.25), "i64": np.int64(2 ** 40),
                 "u8": np.uint8(7), "b": np.bool_(True), "zero_d": np.array(1.5), "one": np.array([3.0])})
    run.finish()
    row = read_run(store, PROJECT, run.id).history[0]
    assert row["f32"] == 0.5 and type(row["f32"]) is float
    assert row["f64"] == 0.25 and row["i64"] == 2 ** 40 and type(row["i64"]) is int
    assert row["u8"] == 7 and row["b"] is True and row["zero_d"] == 1.5 and row["one"] == 3.0


def test_nan_inf_huge_ints_strings_stored_faithfully(store):
    run = start(store)
    logged = [
        {"f": float("nan"), "big": 2 ** 70, "s": "cat", "mixed": 1, "flag": True},
        {"f": float("inf"), "big": -(2 ** 70), "s": "", "mixed": 2.5, "flag": False},
        {"f": float("-inf"), "big": 2 ** 63, "s": "caf\u00e9 \u2713", "mixed": float("nan"), "flag": True},
        {"f": -0.0, "big": 1, "s": "multi\nline", "mixed": "text", "flag": False},
        {"f": 1e-310, "big": 0, "s": "\"quoted\"", "mixed": float("inf"), "flag": True},
    ]
    for row in logged:
        run.log(row)
    run.log({"only_nan": float("nan")})
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    got = rec.history
    assert len(got) == 6
    assert math.isnan(got[0]["f"]) and got[1]["f"] == math.inf and got[2]["f"] == -math.inf
    assert got[3]["f"] == 0.0 and math.copysign(1, got[3]["f"]) == -1 and got[4]["f"] == 1e-310
    assert [r["big"] for r in got[:5]] == [2 ** 70, -(2 ** 70), 2 ** 63, 1, 0]
    assert all(type(r["big"]) is int for r in got[:5])
    assert [r["s"] for r in got[:5]] == [r["s"] for r in logged]
    assert got[0]["mixed"] == 1 and got[1]["mixed"] == 2.5 and math.isnan(got[2]["mixed"])
    assert got[3]["mixed"] == "text" and got[4]["mixed"] == math.inf
    assert [r["flag"] for r in got[:5]] == [True, False, True, False, True]
    assert all(type(r["flag"]) is bool for r in got[:5])
    assert math.isnan(got[5]["only_nan"])
    assert rec.final["summary"]["big"] == 0 and math.isnan(rec.final["summary"]["only_nan"])


def test_values_that_cannot_be_stored_warn_and_never_raise(store):
    run = start(store)
    with pytest.warns(RuntimeWarning) as caught:
        run.log({"ok": 1.0, "bad_obj": object()})                     # row kept without it
        run.log({1: 0.5, (2, 3): "x", "ok": 2.0})                      # non-string keys: stored as str
        run.log({"_reserved": 1, "ok": 3.0})                           # reserved key: dropped
        run.log(["not", "a", "dict"])                                 # ignored
        run.log({"ok": 4.0}, step="soon")                             # invalid step: logged at the counter
        run.log({"ok": 5.0, "bad_list": [1, object()]})
        run.summary["bad_summary"] = object()
        run.config["weird"] = object()                                # config keeps its repr
    messages = [str(w.message) for w in caught]
    assert any("bad_obj" in m and "object" in m for m in messages), messages
    assert any("non-string key 1" in m for m in messages), messages
    assert any("'_reserved'" in m for m in messages), messages
    assert any("takes a dict" in m for m in messages), messages
    assert any("invalid step" in m for m in messages), messages
    assert any("bad_list" in m for m in messages), messages
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rec.history]
    assert rows == [{"ok": 1.0}, {"1": 0.5, "(2, 3)": "x", "ok": 2.0}, {"ok": 3.0}, {"ok": 4.0}, {"ok": 5.0}]
    assert [r["_step"] for r in rec.history] == [0, 1, 2, 3, 4]
    assert "bad_summary" not in rec.final["summary"]
    assert events_of(rec, "config")[-1]["config"]["weird"].startswith("<object object")


# -- summary and define_metric ---------------------------------------------------------------------

def test_define_metric_summary_rules_globs_and_step_metric(store):
    run = start(store)
    run.define_metric("epoch", hidden=True)
    run.define_metric("loss", summary="min", goal="minimize")
    run.define_metric("acc", summary="max", step_metric="epoch")
    run.define_metric("lr", summary="first")
    run.define_metric("t", summary="mean")
    run.define_metric("noise", summary="none")
    run.define_metric("last", summary="last")
    run.define_metric("val/*", summary="min", step_metric="epoch")
    values_ = [
        {"loss": 3.0, "acc": 0.1, "lr": 0.1, "t": 1, "noise": 9, "last": 1, "val": {"loss": 5.0, "acc": 0.2}},
        {"loss": 1.0, "acc": 0.7, "lr": 0.05, "t": 2, "noise": 8, "last": 2, "val": {"loss": 2.0, "acc": 0.9}},
        {"loss": 2.0, "acc": 0.4, "lr": 0.01, "t": 6, "noise": 7, "last": 3, "val": {"loss": 4.0, "acc": 0.1}},
    ]
    for epoch, v in enumerate(values_):
        run.log(dict(v, epoch=epoch))
    assert run.summary["loss"] == 1.0
    assert "noise" not in run.summary
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    assert rec.final["summary"] == {"loss": 1.0, "acc": 0.7, "lr": 0.1, "t": 3.0, "last": 3, "epoch": 2,
                                    "val/loss": 2.0, "val/acc": 0.1}
    metrics = {e["metric"]["name"]: e["metric"] for e in events_of(rec, "metric")}
    assert metrics["acc"] == {"name": "acc", "summary": "max", "step_metric": "epoch"}
    assert metrics["val/*"] == {"name": "val/*", "summary": "min", "step_metric": "epoch"}
    assert metrics["loss"] == {"name": "loss", "summary": "min", "goal": "minimize"}
    assert metrics["epoch"] == {"name": "epoch", "hidden": True}
    assert [r["epoch"] for r in rec.history] == [0, 1, 2]
    with pytest.raises(UsageError, match="invalid summary"):
        arty.init(store=store.url, project=PROJECT, **QUIET).define_metric("x", summary="median")


def test_summary_set_and_update_override_logged_values(store):
    run = start(store)
    run.define_metric("acc", summary="max")
    run.log({"acc": 0.5, "loss": 2.0})
    run.log({"acc": 0.9, "loss": 1.0})
    run.summary["acc"] = 0.8                          # wins over the max
    run.summary.update({"f1": 0.91, "test": {"acc": 0.77}})
    run.log({"acc": 0.95, "loss": 0.5})               # explicit value still wins; loss follows the log
    assert run.summary["acc"] == 0.8 and run.summary["loss"] == 0.5
    assert dict(run.summary) == {"acc": 0.8, "loss": 0.5, "f1": 0.91, "test/acc": 0.77}
    del run.summary["f1"]
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    assert rec.final["summary"] == {"acc": 0.8, "loss": 0.5, "test/acc": 0.77}


# -- modes -------------------------------------------------------------------------------------

def sync_store(url: str, env_for) -> subprocess.CompletedProcess | list:
    """``art sync`` for ``url`` (in this process for memory://, which a subprocess cannot reach)."""
    if url.startswith("memory://"):
        return sync_all(open_store(url))
    return run_art("--store", url, "sync", env=env_for(url))


def test_offline_writes_nothing_to_the_store_until_art_sync(store_url, env_for, tmp_path):
    init_store(store_url)
    store = open_store(store_url)
    run = arty.init(store=store_url, project=PROJECT, mode="offline", config={"lr": 1}, **QUIET)
    assert run.mode == "offline"
    for i in range(300):
        run.log({"i": i, "half": i / 2})
    run.summary["best"] = 7
    run.tags = ["offline"]
    run.finish()
    assert os.path.exists(os.path.join(run.dir, "final.json"))
    assert store_files(store, "projects") == set()
    assert store_files(store, "journal") == set()

    result = sync_store(store_url, env_for)
    if isinstance(result, list):
        assert [(p, r, e) for p, r, _n, e in result] == [(PROJECT, run.id, None)]
    else:
        assert result.returncode == 0, result.stderr
        assert f"{PROJECT}/{run.id}: uploaded" in result.stdout
    rec = read_run(store, PROJECT, run.id)
    assert rec.names == set(run.folder.files())
    assert [r["i"] for r in rec.history] == list(range(300))
    assert rec.final["state"] == "finished" and rec.final["summary"]["best"] == 7
    assert rec.run["mode"] == "offline" and rec.run["config"] == {"lr": 1}
    assert events_of(rec, "tags")[0]["tags"] == ["offline"]
    before = store_snapshot(store)

    again = sync_store(store_url, env_for)
    if isinstance(again, list):
        assert again == []
    else:
        assert again.returncode == 0 and again.stdout.strip() == "nothing to sync", again.stdout
    assert store_snapshot(store) == before


def test_arty_mode_environment_variable(store, monkeypatch):
    monkeypatch.setenv("ARTY_MODE", "offline")
    run = start(store)
    run.log({"a": 1})
    run.finish()
    assert run.mode == "offline"
    assert store_files(store, "projects") == set()
    run = start(store, mode="online")                      # an explicit mode wins
    run.finish()
    assert read_run(store, PROJECT, run.id).final["state"] == "finished"
    monkeypatch.setenv("ARTY_MODE", "sideways")
    with pytest.raises(UsageError, match="invalid mode 'sideways'"):
        start(store)


def tree(root) -> dict[str, bytes]:
    out = {}
    for here, _dirs, names in os.walk(root):
        for n in names:
            full = os.path.join(here, n)
            with open(full, "rb") as f:
                out[os.path.relpath(full, root)] = f.read()
    return out


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_disabled_mode_every_call_is_a_no_op(tmp_path, monkeypatch, how):
    (tmp_path / "model.pt").write_bytes(b"w")
    before = tree(tmp_path)
    kwargs = {"mode": "disabled"} if how == "argument" else {}
    if how == "environment":
        monkeypatch.setenv("ARTY_MODE", "disabled")
    with arty.init(project="p", store=str(tmp_path / "nowhere"), config={"lr": 0.1}, notes="n", tags=["t"],
                   save_code=True, **kwargs) as run:
        assert run.mode == "disabled"
        assert arty.run is run
        assert run.config.lr == 0.1
        run.config.update({"b": 2})
        run.config.c = 3
        run.define_metric("acc", summary="max")
        run.log({"acc": 1.0})
        arty.log({"acc": 2.0}, step=4)
        arty.summary["x"] = 1
        run.summary.update({"y": 2})
        run.name = "renamed"
        run.notes = "more"
        run.tags = ["u"]
        assert run.use_artifact("peds:latest") is None
        assert run.log_artifact(arty.Artifact("m", type="model").add_file("model.pt")) is None
        assert run.used_artifacts() == [] and run.logged_artifacts() == []
        run.save("model.pt")
    run.finish()
    assert run.state == "finished"
    assert tree(tmp_path) == before
    assert not os.path.exists(tmp_path / "nowhere")


# -- what is captured, and turning it off --------------------------------------------------------

def test_system_metrics_are_recorded_at_the_interval_asked(store):
    run = start(store, system_metrics=0.05, flush_interval=0.1)
    run.log({"a": 1})
    wait_for(lambda: len(os.listdir(os.path.join(run.dir, "system"))) >= 2
             if os.path.isdir(os.path.join(run.dir, "system")) else False, what="two system segments")
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    assert len(rec.system) >= 2
    for sample in rec.system:
        assert "cpu.percent" in sample and "memory.percent" in sample and "proc.memory.rss_mb" in sample
        assert sample["_runtime"] >= 0 and sample["_timestamp"] > 0
    assert all(n.startswith("system/") and n.endswith(".json.gz") for n in rec.names if "system" in n)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_capture_switched_off(store, tmp_path, monkeypatch, how):
    if how == "environment":
        for var in ("ARTY_SYSTEM_METRICS", "ARTY_CONSOLE", "ARTY_CODE"):
            monkeypatch.setenv(var, "0")
        kwargs = dict(system_metrics=0.05, console=True, code=True)
    else:
        kwargs = dict(system_metrics=False, console=False, code=False)
    run = arty.init(store=store.url, project=PROJECT, flush_interval=0.1, **kwargs)
    os.write(1, b"not captured\n")
    for i in range(5):
        run.log({"i": i})
    wait_for(lambda: os.path.isdir(os.path.join(run.dir, "history")), what="a history segment")
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    assert len(rec.history) == 5
    assert not any(n.startswith(("system/", "console/", "files/")) for n in rec.names), rec.names
    assert rec.run["git"] is None


def git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_code_state_in_a_git_repository_with_changes(store, tmp_path):
    work = tmp_path / "repo"
    work.mkdir()
    git("init", "-q", cwd=work)
    (work / "train.py").write_text("lr = 0.1\n")
    git("add", "train.py", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    (work / "train.py").write_text("lr = 0.2\n")
    os.chdir(work)
    run = start(store, code=True)
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    patch = rec.files["diff.patch"].decode()
    assert "-lr = 0.1" in patch and "+lr = 0.2" in patch
    assert "arty==" in rec.files["requirements.txt"].decode().lower()
    assert len(rec.run["git"]["commit"]) == 40

    git("commit", "-q", "-am", "second", cwd=work)                 # clean: no diff.patch
    run = start(store, code=True)
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    assert "diff.patch" not in rec.files and "requirements.txt" in rec.files


def test_save_keeps_a_file_with_the_run(store, tmp_path):
    (tmp_path / "notes.txt").write_text("remember")
    run = start(store)
    run.save(str(tmp_path / "notes.txt"))
    run.save(str(tmp_path / "notes.txt"), name="copy.txt")
    run.finish()
    files = read_run(store, PROJECT, run.id).files
    assert files == {"notes.txt": b"remember", "copy.txt": b"remember"}


def test_offline_needs_no_reachable_store_and_syncs_when_it_is_back(s3, tmp_path, monkeypatch, env_for):
    """Offline mode on a machine without network: the store URL only names where the run goes."""
    url = f"s3://{s3.make_bucket()}/store"
    init_store(url)
    dead = socket.socket()                      # bound, not listening: connections are refused at once
    dead.bind(("127.0.0.1", 0))
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{dead.getsockname()[1]}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        with warnings.catch_warnings():
            warnings.simplefilter("error")      # offline: nothing to warn about
            run = arty.init(store=url, project=PROJECT, mode="offline", **QUIET)
            for i in range(50):
                run.log({"i": i})
            run.finish()
    finally:
        dead.close()
    assert run.mode == "offline" and os.path.exists(os.path.join(run.dir, "final.json"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    store = open_store(url)
    assert store_files(store, "projects") == set()
    proc = run_art("--store", url, "sync", env=env_for(url))
    assert proc.returncode == 0, proc.stderr
    rec = read_run(store, PROJECT, run.id)
    assert [r["i"] for r in rec.history] == list(range(50)) and rec.final["state"] == "finished"


def test_resumed_run_keeps_its_define_metric_rules(tmp_path):
    """A run that stopped without finishing (its writer closed, no final.json) is resumed:
    the summary rule set with define_metric before goes on applying."""
    store = str(tmp_path / "store")
    init_store(store)
    run = arty.init(project="p", id="rules1", store=store, system_metrics=False, console=False, code=False)
    run.define_metric("acc", summary="max")
    run.log({"acc": 5.0})
    run.log({"acc": 2.0})
    run._commit()
    run._writer.close(None)  # as a killed process leaves it: records uploaded, no final.json
    run._finished = True  # and this process must not finish it at exit
    import atexit
    atexit.unregister(run._atexit)
    run_mod._current = None
    resumed = arty.init(project="p", id="rules1", resume="allow", store=store, system_metrics=False,
                        console=False, code=False)
    resumed.log({"acc": 3.0})
    assert resumed.summary["acc"] == 5.0
    resumed.log({"acc": 7.0})
    assert resumed.summary["acc"] == 7.0
    resumed.finish()


@pytest.mark.parametrize("how, status, state", [
    ("sys.exit(3)", 3, "failed"),
    ("sys.exit(0)", 0, "finished"),
    ("sys.exit('bad input')", 1, "failed"),
    ("with arty.init(project='proj', store=sys.argv[1], system_metrics=False, console=False) as r:\n"
     "    r.log({'x': 1})\n    sys.exit(4)", 4, "failed"),
])
def test_sys_exit_status_is_the_runs_exit_code(store, tmp_path, how, status, state):
    """A script that ends with sys.exit(n) records exit code n (atexit alone cannot see it)."""
    setup = ("run = arty.init(project='proj', store=sys.argv[1], system_metrics=False, console=False)\n"
             "run.log({'x': 1})\n") if not how.startswith("with") else ""
    source = f"import sys\nimport arty\n{setup}print('run id', arty.run.id if arty.run else '', flush=True)\n" \
        if setup else "import sys\nimport arty\n"
    proc = run_script(tmp_path, source + how + "\n", store.url)
    assert proc.returncode == status, proc.stderr
    runs = store.list("projects/proj/runs")
    assert len(runs) == 1
    rec = read_run(store, "proj", runs[0])
    assert (rec.final["state"], rec.final["exit_code"]) == (state, status)
