"""Start-up: ``import arty`` and ``art --version``/``--help`` load only what they use.

Each check runs a fresh interpreter (``sys.modules`` of this one is full of everything the
other tests loaded) and inspects what it loaded. The timings are in benchmarks/bench_startup.py;
these tests guard the design that makes them small.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest

import arty
from arty.cli import MODULES, cli, load_all

#: Third-party packages (and heavy standard modules) that a plain ``import arty`` must not load.
HEAVY = ("click", "requests", "urllib3", "sqlite_utils", "networkx", "fsspec", "xxhash", "numpy", "PIL",
         "psutil", "sqlite3", "concurrent", "socket", "json", "uuid", "tempfile", "shutil", "logging")


def python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          env=env)


def modules_after(code: str, *args: str) -> set[str]:
    """The names in ``sys.modules`` after ``code`` ran in a fresh interpreter (a SystemExit is fine)."""
    probe = ("import sys\ntry:\n" + "".join(f"    {line}\n" for line in code.splitlines())
             + "except SystemExit:\n    pass\nloaded = sorted(sys.modules)\nimport json\n"
             + "sys.stderr.write('\\nMODULES=' + json.dumps(loaded))\n")
    proc = python(probe, *args)
    assert "MODULES=" in proc.stderr, proc.stderr
    return set(json.loads(proc.stderr.rsplit("MODULES=", 1)[1]))


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_import_arty_loads_only_the_error_tree():
    loaded = modules_after("import arty")
    assert {m for m in loaded if m.startswith("arty")} == {"arty", "arty.errors"}
    heavy = top_level(loaded) & set(HEAVY)
    assert not heavy, f"import arty loaded {sorted(heavy)}"


def test_import_arty_starts_no_thread_and_opens_only_its_own_files():
    # An audit hook sees every open() and every socket and process made while arty is imported.
    code = """
import json, sys, threading
events = []
def hook(event, args):
    if event == "open":
        events.append(["open", str(args[0]), str(args[1])])
    elif event.startswith(("socket.", "subprocess.", "os.mkdir", "os.remove", "os.rename", "shutil.")):
        events.append([event, str(args)[:200]])
sys.addaudithook(hook)
import arty
print(json.dumps({"events": events, "threads": threading.active_count()}))
"""
    proc = python(code)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["threads"] == 1
    package = os.path.dirname(arty.__file__)
    others = [e for e in out["events"]
              if not (e[0] == "open" and e[2] in ("r", "rb") and (e[1].startswith(package) or e[1].endswith(".pyc")))]
    assert not others, f"import arty did more than read its own modules: {others}"


def test_public_names_resolve_lazily_and_dir_lists_them():
    code = """
import sys, arty
missing = [n for n in arty.__all__ if n not in dir(arty)]
assert not missing, missing
assert "arty.tracking" not in sys.modules
from arty import init, Artifact, Api, Digest, Settings
assert arty.init is init and arty.Artifact is Artifact
assert "arty.tracking" in sys.modules and "arty.artifacts" in sys.modules
print("ok")
"""
    proc = python(code)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_a_draft_saves_through_the_package_when_its_module_is_imported_directly(tmp_path):
    # arty no longer loads arty.artifacts.draft to register its saver: the draft finds it.
    code = f"""
from arty.artifacts import Artifact
draft = Artifact("notes", type="dataset")
with draft.new_file("a.txt") as f:
    f.write("hello")
print(draft.save())
"""
    env = dict(os.environ, ARTY_STORE=str(tmp_path / "store"))
    proc = python(code, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "notes:v0"


def test_art_version_and_help_import_no_command_module():
    for arg in ("--version", "--help"):
        loaded = modules_after(f"sys.argv = ['art', {arg!r}]\nfrom arty.cli import main\nmain()")
        command_modules = {f"arty.cli.{m}" for m in MODULES} & loaded
        assert not command_modules, f"art {arg} imported {sorted(command_modules)}"
        below = {m for m in loaded if m.startswith(("arty.artifacts", "arty.store", "arty.tracking", "arty.hashing"))}
        assert not below, f"art {arg} imported {sorted(below)}"


def test_a_command_loads_only_its_own_module(tmp_path):
    store = str(tmp_path / "store")
    loaded = modules_after(f"sys.argv = ['art', '--store', {store!r}, 'init']\nfrom arty.cli import main\nmain()")
    assert "arty.cli.artifacts" in loaded
    assert not {"arty.cli.server", "arty.cli.pipeline", "arty.cli.runs", "arty.server"} & loaded


def test_the_command_table_is_what_the_commands_say():
    from arty.cli import commands, docs

    with open(docs.TABLE, encoding="utf-8") as f:
        assert f.read() == docs.render_table(), "run 'python -m arty.cli.docs' to rewrite arty/cli/commands.py"
    group = load_all()
    assert set(commands.COMMANDS) == set(group.commands)


def test_help_from_the_table_is_the_help_from_the_commands():
    # The lazy listing (no command loaded) and click's own listing (all loaded) print the same text.
    code = """
import sys, click
from arty.cli import cli, load_all
def help_text():
    return cli.get_help(click.Context(cli, info_name="art", terminal_width=int(sys.argv[1])))
lazy = help_text()
assert not any(m.startswith("arty.cli.artifacts") for m in sys.modules)
load_all()
print(lazy == help_text())
print(lazy)
"""
    for width in ("80", "120", "50"):
        proc = python(code, width)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("True\n"), proc.stdout
        assert "  verify " in proc.stdout and "  ls " in proc.stdout


def test_every_command_is_listed_by_help():
    ctx = click.Context(cli, info_name="art")
    text = cli.get_help(ctx)
    for name, command in load_all().commands.items():
        if not command.hidden:
            assert f"\n  {name} " in text, name


def test_a_mistyped_command_is_matched_against_every_command(tmp_path):
    if not hasattr(click.exceptions, "NoSuchCommand"):
        pytest.skip("click < 8.4 suggests no command")
    proc = subprocess.run([sys.executable, "-m", "arty", "lss"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 2
    assert "No such command 'lss'. Did you mean 'ls'?" in proc.stderr


def test_the_index_loads_neither_pandas_nor_numpy():
    """Commands that read the index (``art runs``, ``art exp show``, ``Api().runs()``) must not pay
    for pandas and numpy, which are installed here as in most users' environments."""
    pytest.importorskip("pandas")
    loaded = modules_after("from arty.index import Index")
    assert "arty.index.index" in loaded
    assert not top_level(loaded) & {"pandas", "numpy", "sqlite_utils"}
