"""What every integration shares: no framework imported up front, a missing one says which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

import arty
from arty.errors import ArtyError
from arty.integrations import import_framework, model_name, resolve_run


def test_importing_arty_and_the_package_imports_no_framework():
    code = ("import sys, arty, arty.integrations\n"
            "print(sorted(m for m in ('torch', 'keras', 'sklearn', 'lightning', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_a_missing_framework_names_the_extra():
    with pytest.raises(ImportError, match="arty.integrations.fancy needs 'nosuchframework'") as info:
        import_framework("nosuchframework.sub", "fancy", "arty.integrations.fancy")
    assert "pip install 'arty[fancy]'" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_resolve_run_and_model_name(tmp_path):
    with pytest.raises(ArtyError, match="no active run") as info:
        resolve_run(None)
    assert "arty.init()" in info.value.hint
    run = arty.init(project="p", store=str(tmp_path / "store"), console=False, system_metrics=False, code=False)
    assert resolve_run(None) is run and resolve_run(run) is run
    assert model_name(run, None) == f"model-{run.id}" and model_name(run, "clf") == "clf"
    run.finish()
