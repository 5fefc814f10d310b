"""Each example in examples/integrations/ runs as a user would run it, and leaves its run and model in the store."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

import arty

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples", "integrations")

#: example -> (the package it needs, what its last line starts with)
CASES = {
    "sklearn_example.py": ("sklearn", "run integrations/"),
    "torch_watch.py": ("torch", "run integrations/"),
    "lightning_example.py": ("lightning", "run integrations/"),
    "keras_example.py": ("keras", "run integrations/"),
    "transformers_example.py": ("transformers", "run integrations/"),
}


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(CASES))
def test_example_runs(example, tmp_path):
    module, start = CASES[example]
    if importlib.util.find_spec(module) is None:  # found, not imported: keras picks its backend at import
        pytest.skip(f"{example} needs {module} (pip install -e '.[test]')")
    store = str(tmp_path / "store")
    env = dict(os.environ, ARTY_STORE=store, ARTY_SYSTEM_METRICS="0", ARTY_CODE="0", KERAS_BACKEND="torch")
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, example)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(start), proc.stdout
    run_path = last.split()[1].rstrip(":")
    api = arty.Api(store)
    run = api.run(run_path)
    assert run.state == "finished"
    if example != "torch_watch.py":
        model = arty.use_artifact(f"model-{run.id}:latest", store=store, project="integrations")
        assert model.type == "model"
    else:
        rows = [r for r in run.scan_history() if "gradients/4.weight" in r]
        assert [r["_step"] for r in rows] == [9, 19, 29]
        assert all("parameters/0.weight" in r for r in rows)
