"""W&B compatibility of run settings: ``log()`` with no data, the ``WANDB_*`` environment
variables, and resuming a run (finished ones too) the way W&B documents it.

Scripts are written the way a W&B user writes them (``import wandb`` replaced by
``import arty``), run as subprocesses, and checked through ``arty.Api()``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import arty
from arty.store import init_store

PROJECT = "wb"
#: Every setting variable a test may set; cleared so the outer environment cannot leak in.
SETTINGS = ("PROJECT", "ENTITY", "NAME", "NOTES", "TAGS", "RUN_ID", "RESUME", "RUN_GROUP", "JOB_TYPE",
            "MODE", "DIR", "SILENT", "CONSOLE", "DISABLE_GIT", "DISABLE_CODE")


@pytest.fixture
def store(tmp_path, monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(f"WANDB_{name}", raising=False)
        monkeypatch.delenv(f"ARTY_{name}", raising=False)
    s, _ = init_store(str(tmp_path / "store"))
    monkeypatch.setenv("ARTY_STORE", s.url)
    monkeypatch.setenv("ARTY_SYSTEM_METRICS", "0")
    return s


def run_script(tmp_path, source: str, env: dict[str, str] | None = None, check: bool = True,
               name: str = "train.py") -> subprocess.CompletedProcess:
    """Run ``source`` as a script (``python train.py``) with ``env`` added to the environment."""
    script = tmp_path / name
    script.write_text(textwrap.dedent(source))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def only_run(store) -> arty.api.ApiRun:
    runs = arty.Api(store.url).runs(PROJECT)
    assert len(runs) == 1, [r.id for r in runs]
    return runs[0]


# -- log() with no data ------------------------------------------------------------------------------

def test_log_with_no_data_commits_the_pending_row(store, tmp_path):
    run_script(tmp_path, """
        import arty
        run = arty.init(project="wb")
        for epoch in range(3):
            arty.log({"loss": 1.0 / (epoch + 1)}, commit=False)
            arty.log({"acc": epoch / 10}, commit=False)
            arty.log()                                  # W&B: commit the row of this step
        run.log({"extra": 1}, commit=False)
        run.log()
        run.log()                                       # nothing pending: no empty row
        arty.finish()
    """)
    run = only_run(store)
    rows = run.history()
    assert [r["_step"] for r in rows] == [0, 1, 2, 3]
    assert [r.get("loss") for r in rows[:3]] == [1.0, 0.5, 1.0 / 3]
    assert [r.get("acc") for r in rows[:3]] == [0.0, 0.1, 0.2]
    assert rows[3]["extra"] == 1
    assert run.state == "finished"


# -- WANDB_* run settings ----------------------------------------------------------------------------

PLAIN = """
    import arty
    run = arty.init()
    run.log({"loss": 0.5})
    print("ID", run.id, run.dir)
    run.finish()
"""


def test_wandb_settings_from_the_environment(store, tmp_path):
    run_script(tmp_path, PLAIN, env={
        "WANDB_PROJECT": PROJECT, "WANDB_ENTITY": "my-team", "WANDB_NAME": "baseline",
        "WANDB_NOTES": "smaller lr", "WANDB_TAGS": "paper1, baseline,", "WANDB_RUN_ID": "job-17",
        "WANDB_RUN_GROUP": "exp-3", "WANDB_JOB_TYPE": "train", "WANDB_DISABLE_GIT": "true",
        "WANDB_CONSOLE": "off", "WANDB_SILENT": "true"})
    run = only_run(store)
    assert (run.id, run.name, run.notes, run.group, run.job_type) == ("job-17", "baseline", "smaller lr",
                                                                      "exp-3", "train")
    assert run.tags == ["paper1", "baseline"]
    assert run.git is None                                       # WANDB_DISABLE_GIT
    base = f"projects/{PROJECT}/runs/job-17"
    assert store.list(f"{base}/console") == []                   # WANDB_CONSOLE=off
    assert [r["loss"] for r in run.history()] == [0.5]


def test_arty_names_win_over_wandb_names_and_arguments_over_both(store, tmp_path):
    both = {"WANDB_PROJECT": "other", "ARTY_PROJECT": PROJECT, "WANDB_NAME": "w", "ARTY_NAME": "a",
            "WANDB_RUN_ID": "w-id", "ARTY_RUN_ID": "a-id", "WANDB_TAGS": "w", "WANDB_RUN_GROUP": "wg"}
    run_script(tmp_path, PLAIN, env=both)
    run = only_run(store)
    assert (run.id, run.name, run.tags, run.group) == ("a-id", "a", ["w"], "wg")
    run_script(tmp_path, """
        import arty
        run = arty.init(project="wb", name="explicit", id="arg-id", tags=[], group="g")
        run.finish()
    """, env=both)
    runs = {r.id: r for r in arty.Api(store.url).runs(PROJECT)}
    assert (runs["arg-id"].name, runs["arg-id"].tags, runs["arg-id"].group) == ("explicit", [], "g")


def test_wandb_resume_never_and_must_from_the_environment(store, tmp_path):
    env = {"WANDB_PROJECT": PROJECT, "WANDB_RUN_ID": "job-1"}
    run_script(tmp_path, PLAIN, env=env)
    again = run_script(tmp_path, PLAIN, env={**env, "WANDB_RESUME": "never"}, check=False)
    assert again.returncode != 0 and "run 'wb/job-1' already exists" in again.stderr
    missing = run_script(tmp_path, PLAIN, env={**env, "WANDB_RUN_ID": "nope", "WANDB_RESUME": "must"},
                         check=False)
    assert missing.returncode != 0 and "run 'wb/nope' not found" in missing.stderr
    assert [r.id for r in arty.Api(store.url).runs(PROJECT)] == ["job-1"]


@pytest.mark.parametrize("value", ["offline", "dryrun"])
def test_wandb_mode_offline_and_dir(store, tmp_path, value):
    proc = run_script(tmp_path, PLAIN, env={"WANDB_PROJECT": PROJECT, "WANDB_MODE": value,
                                            "WANDB_DIR": str(tmp_path / "runs-here")})
    run_id, folder = proc.stdout.split("ID ")[1].split()
    assert folder == str(tmp_path / "runs-here" / "arty-runs" / PROJECT / run_id)
    assert os.path.exists(os.path.join(folder, "final.json"))
    assert not store.exists(f"projects/{PROJECT}/runs/{run_id}/run.json")   # nothing left the machine


def test_wandb_mode_disabled(store, tmp_path):
    proc = run_script(tmp_path, PLAIN, env={"WANDB_PROJECT": PROJECT, "WANDB_MODE": "disabled"})
    assert "ID disabled" in proc.stdout
    assert store.list(f"projects/{PROJECT}/runs") == []


# -- resuming a finished run -------------------------------------------------------------------------

TRAIN = """
    import arty
    run = arty.init(project="wb", config={"lr": 0.1})
    start = run.step                                   # 0, then where the last session stopped
    for i in range(3):
        arty.log({"loss": 1.0 / (start + i + 1), "epoch": start + i})
    run.summary["sessions"] = run.summary.get("sessions", 0) + 1
"""


def test_a_finished_run_resumed_through_the_environment_continues(store, tmp_path):
    env = {"WANDB_RUN_ID": "job-7", "WANDB_RESUME": "allow"}
    run_script(tmp_path, TRAIN, env=env)
    api = arty.Api(store.url)
    first = only_run(store)
    assert (first.state, first.steps, first.summary["sessions"]) == ("finished", 3, 1)
    for session in (2, 3):                             # the same job, started again
        run_script(tmp_path, TRAIN, env=env)
        run = arty.Api(store.url).runs(PROJECT)        # a new reader, and the one that saw it before
        again = api.run(f"{PROJECT}/job-7")
        assert [r.id for r in run] == ["job-7"]
        for r in (run[0], again):
            assert r.state == "finished" and r.exit_code == 0
            assert r.steps == 3 * session
            assert r.summary["sessions"] == session                 # the summary goes on
            assert r.summary["loss"] == 1.0 / (3 * session)
        rows = again.history()
        assert [row["_step"] for row in rows] == list(range(3 * session))
        assert [row["epoch"] for row in rows] == list(range(3 * session))
    base = f"projects/{PROJECT}/runs/job-7"
    assert store.exists(f"{base}/final.json")                      # the first finish stays as it was
    assert store.list(f"{base}/resumes") == store.list(f"{base}/finishes") == ["00000000.json", "00000001.json"]
    # A rebuilt index derives the same from the records.
    fresh = arty.Api(store.url)
    fresh.rebuild_index()
    r = fresh.run(f"{PROJECT}/job-7")
    assert (r.state, r.steps, r.summary["sessions"]) == ("finished", 9, 3)


def test_resume_must_and_never_on_a_finished_run(store, tmp_path):
    run_script(tmp_path, TRAIN, env={"WANDB_RUN_ID": "job-8"})
    never = run_script(tmp_path, TRAIN, env={"WANDB_RUN_ID": "job-8", "WANDB_RESUME": "never"}, check=False)
    assert never.returncode != 0 and "run 'wb/job-8' already exists" in never.stderr
    run_script(tmp_path, TRAIN, env={"WANDB_RUN_ID": "job-8", "WANDB_RESUME": "must"})
    run_script(tmp_path, TRAIN, env={"WANDB_RUN_ID": "job-8", "WANDB_RESUME": "auto"})
    run = only_run(store)
    assert (run.state, run.steps, run.summary["sessions"]) == ("finished", 9, 3)


FOREVER = """
    import arty
    run = arty.init(project="wb", flush_interval=0.1)
    i = run.step
    while True:
        arty.log({"i": i})
        i += 1
"""


def test_a_resumed_finished_run_killed_is_crashed_not_finished(store, tmp_path):
    env = {"WANDB_RUN_ID": "job-9", "WANDB_RESUME": "allow"}
    run_script(tmp_path, TRAIN, env=env)
    assert only_run(store).state == "finished"
    script = tmp_path / "forever.py"
    script.write_text(textwrap.dedent(FOREVER))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    history = f"projects/{PROJECT}/runs/job-9/history"
    try:
        deadline = time.monotonic() + 60
        while len(store.list(history)) < 3:              # the first session's segment, and two more
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no new history segments from the resumed run"
            time.sleep(0.02)                             # polling interval
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    run = only_run(store)
    assert run.state == "crashed"                        # not the finish of the first session
    assert run.exit_code is None and run.finished_at is None
    rows = run.history()
    assert [r["_step"] for r in rows] == list(range(len(rows))) and len(rows) > 3
    assert [r["i"] for r in rows[3:]] == list(range(3, len(rows)))
    # Resumed once more (on the same machine, so with the rows that never left it), it finishes
    # again with everything, and without a gap.
    run_script(tmp_path, TRAIN, env=env)
    run = only_run(store)
    rows_after = run.history()
    assert run.state == "finished" and run.steps == len(rows_after) >= len(rows) + 3
    assert [r["_step"] for r in rows_after] == list(range(len(rows_after)))
    assert [r["epoch"] for r in rows_after[-3:]] == list(range(len(rows_after) - 3, len(rows_after)))


PREEMPTIBLE = """
    import sys
    import arty
    run = arty.init(project="wb", resume=True)          # W&B's pattern for preemptible jobs
    print("ID", run.id, run.step)
    arty.log({"epoch": run.step})
    if sys.argv[1:] == ["fail"]:
        raise RuntimeError("preempted")
"""


def test_resume_auto_without_an_id_continues_the_run_that_did_not_finish_here(store, tmp_path):
    def start(*args: str) -> tuple[str, int]:
        script = tmp_path / "job.py"
        script.write_text(textwrap.dedent(PREEMPTIBLE))
        proc = subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert (proc.returncode != 0) == (args == ("fail",)), proc.stderr
        run_id, step = proc.stdout.split("ID ")[1].split()
        return run_id, int(step)

    first, step = start("fail")
    assert step == 0 and arty.Api(store.url).run(f"{PROJECT}/{first}").state == "failed"
    assert start("fail") == (first, 1)                  # started again in the same folder: continues
    assert start() == (first, 2)                        # and finishes well
    assert arty.Api(store.url).run(f"{PROJECT}/{first}").state == "finished"
    assert not (tmp_path / ".arty-resume.json").exists()
    second, step = start()                              # so the next one is a new run
    assert second != first and step == 0
