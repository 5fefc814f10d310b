"""A run that dies of an exception keeps its traceback in its console, after the output
that came before it (as W&B's console log does), and the terminal shows it once."""

from __future__ import annotations

import pytest

import arty

from test_runs import run_script

SCRIPT = """
import sys
import arty
run = arty.init(project="p", store=sys.argv[1], console=True, system_metrics=False, code=False)
print(run.id, flush=True)
print("epoch 1 done", flush=True)
def train():
    raise ValueError("loss diverged at step 7")
if sys.argv[2] == "with":
    with run:
        train()
else:
    train()
"""


@pytest.mark.parametrize("how", ["uncaught", "with"])
def test_the_traceback_of_a_failing_run_is_in_its_console(local_store, tmp_path, how):
    proc = run_script(tmp_path, SCRIPT, local_store.url, how)
    assert proc.returncode == 1
    assert proc.stderr.count("Traceback (most recent call last)") == 1      # the terminal shows it once
    run_id = proc.stdout.split()[0]
    run = arty.Api(store=local_store.url).run(f"p/{run_id}")
    assert run.state == "failed"
    lines = [(stream, text) for _t, stream, text in run.console()]
    texts = [text for _s, text in lines]
    assert ("stdout", "epoch 1 done") in lines
    start = texts.index("Traceback (most recent call last):")
    assert start > texts.index("epoch 1 done")
    assert texts[-1] == "ValueError: loss diverged at step 7"
    assert any('in train' in t for t in texts[start:])
    assert {s for s, _t in lines[start:]} == {"stderr"}
    assert texts.count("Traceback (most recent call last):") == 1
