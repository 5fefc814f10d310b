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
