"""What a SIGKILL can lose, and what ``art runs`` says about a killed run's local records.

A process logging as fast as it can is killed at a random moment. The rows it had
logged are counted exactly (the child writes its count to a shared memory map after
each ``log``); the rows saved are those in the store after ``art sync``. The loss
must stay within the documented bounds (docs/runs.md, arty/tracking/writer.py): the
last ``flush_interval`` seconds plus the time one segment takes to write, and at most
``2 * MAX_BUFFERED_ROWS`` rows. Before the writer had backpressure, a fast logger
outran it and a kill lost seconds of rows and most of the run (24-68 % here).
"""

from __future__ import annotations

import mmap
import os
import random
import signal
import struct
import subprocess
import sys
import time

import pytest

from arty.tracking.writer import MAX_BUFFERED_ROWS

from conftest import run_art
from test_runs import PROJECT, run_base, store_files, wait_for
from test_runs_reliability import history_rows

pytestmark = pytest.mark.slow

FLUSH = 0.5
#: Scheduling slack on a loaded machine, beyond the bound's own terms.
SLACK = 1.0
COUNTER = struct.Struct("<qd")  # rows logged, time.time() of the last one

LOG_FAST = """
import mmap, struct, sys, time
import arty
store, run_id, counter, flush = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
f = open(counter, "r+b")
mm = mmap.mmap(f.fileno(), 16)
pack = struct.Struct("<qd").pack_into
run = arty.init(project="p", store=store, id=run_id, flush_interval=flush,
                console=False, system_metrics=False, code=False)
log = run.log
i = 0
while True:                                      # as fast as Python goes, until SIGKILL
    log({"i": i, "loss": 1.0 / (i + 1), "acc": i * 1e-6})
    i += 1
    pack(mm, 0, i, time.time())
"""


def read_counter(path: str) -> tuple[int, float]:
    with open(path, "rb") as f:
        return COUNTER.unpack(f.read(COUNTER.size))


def kill_fast_logger(tmp_path, store_url: str, run_id: str, after: float) -> dict:
    """Start LOG_FAST, SIGKILL it ``after`` seconds into its logging; what it had logged."""
    script = tmp_path / "log_fast.py"
    script.write_text(LOG_FAST)
    counter = tmp_path / f"{run_id}.count"
    counter.write_bytes(b"\0" * COUNTER.size)
    proc = subprocess.Popen([sys.executable, str(script), store_url, run_id, str(counter), str(FLUSH)],
                            cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        def logging_started():
            if proc.poll() is not None:
                raise AssertionError(f"the logger exited: {proc.stderr.read().decode()}")
            return read_counter(str(counter))[0] > 0

        wait_for(logging_started, timeout=60, what="the logger to start")
        first = time.monotonic()
        while time.monotonic() - first < after:  # the random moment of the kill
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    logged, last_logged_at = read_counter(str(counter))
    return {"logged": logged, "last_logged_at": last_logged_at}


def test_a_sigkill_loses_no_more_than_the_stated_bounds(local_store, tmp_path):
    rng = random.Random(9)
    for k in range(3):
        run_id = f"fast-{k}"
        killed = kill_fast_logger(tmp_path, local_store.url, run_id, after=rng.uniform(0.5, 2.0))
        proc = run_art("--store", local_store.url, "sync")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        rows = history_rows(local_store, run_id)
        assert [r["i"] for r in rows] == list(range(len(rows)))             # a prefix: no gap, no duplicate
        lost_rows = killed["logged"] - len(rows)
        lost_seconds = killed["last_logged_at"] - rows[-1]["_timestamp"] if rows else float("inf")
        assert lost_rows <= 2 * MAX_BUFFERED_ROWS + 1, (
            f"kill {k}: lost {lost_rows} of {killed['logged']} rows ({lost_seconds:.2f} s)")
        assert lost_seconds <= FLUSH + SLACK, f"kill {k}: lost the last {lost_seconds:.2f} s ({lost_rows} rows)"


KILLED_WITH_A_LOCAL_RECORD = """
import os, signal, sys, time
import arty
run = arty.init(project="p", store=sys.argv[1], id="crashed", flush_interval=60,
                console=False, system_metrics=False, code=False)
while not os.path.exists(os.path.join(sys.argv[1], "projects/p/runs/crashed/run.json")):
    time.sleep(0.01)                             # the start record reaches the store at once
run.log({"loss": 0.5})
open("notes.txt", "w").write("written just before the crash")
run.save("notes.txt")                            # in the local folder; the next upload is a minute away
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_art_runs_marks_a_crashed_run_with_local_records_and_says_how_to_push_them(local_store, tmp_path):
    script = tmp_path / "crash.py"
    script.write_text(KILLED_WITH_A_LOCAL_RECORD)
    base = run_base(PROJECT, "crashed")
    proc = subprocess.run([sys.executable, str(script), local_store.url], cwd=tmp_path, capture_output=True,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert "run.json" in store_files(local_store, base)
    assert "files/notes.txt" not in store_files(local_store, base)

    shown = run_art("--store", local_store.url, "runs", "p", check=True)
    [line] = [ln for ln in shown.stdout.splitlines() if ln.startswith("crashed")]
    assert "crashed (unsynced)" in line
    assert "note: 1 run of this machine has records that are not in the store yet" in shown.stderr
    assert "'art sync'" in shown.stderr
    as_json = run_art("--store", local_store.url, "runs", "p", "--json", check=True)
    assert '"unsynced": 1' in as_json.stdout
    show = run_art("--store", local_store.url, "run", "show", "p/crashed", check=True)
    assert "unsynced:  1 record only on this machine; upload with 'art sync'" in show.stdout

    assert "uploaded 1 record" in run_art("--store", local_store.url, "sync", check=True).stdout
    assert "files/notes.txt" in store_files(local_store, base)
    shown = run_art("--store", local_store.url, "runs", "p", check=True)
    assert "unsynced" not in shown.stdout + shown.stderr
    assert [ln for ln in shown.stdout.splitlines() if ln.startswith("crashed")][0].split()[2] == "crashed"


def test_a_run_only_on_this_machine_is_counted_too(local_store, tmp_path):
    code = ("import arty; r = arty.init(store=%r, console=False, system_metrics=False, code=False);"
            "r.log({'a': 1}); r.finish()" % local_store.url)
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=dict(os.environ, ARTY_MODE="offline"),
                   check=True, capture_output=True, timeout=60)
    shown = run_art("--store", local_store.url, "runs", check=True)
    assert shown.stdout.strip() == "no runs in project 'default'"
    assert ("note: 1 run of this machine has records that are not in the store yet (crashed, offline or "
            "unreachable store, 1 of them not in the store at all); upload them with 'art sync'") in shown.stderr
