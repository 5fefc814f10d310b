"""Read commands on a store, or with caches, that the user can only read.

The stat cache and the index are machine-local caches (``<store>/cache/`` beside a
local store, ``$ARTY_CACHE_DIR`` for a remote one). When they cannot be written,
every read command still works: the stat cache is read as it is or kept in memory,
the index goes on from an in-memory copy, the blob cache is read and bypassed.

Permissions are the kernel's, not a mock: the folders are made read-only
(``chmod -R a-w``) and the commands run in a child process that obeys them. Tests
usually run as root here, and root ignores permission bits through its
CAP_DAC_OVERRIDE capability; so under root the child runs through ``setpriv`` with
that capability (and CAP_DAC_READ_SEARCH, CAP_FOWNER) dropped from its bounding
set, which makes it an ordinary owner who gets EACCES on a write to a read-only
folder. (A read-only bind mount would give EROFS instead, but needs mount
privileges that CI runners do not have; the fallbacks treat both the same.)
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

import arty
from arty.store import init_store

from conftest import make_tree, run_art, tree_of

pytestmark = pytest.mark.slow

#: Runs CLI commands in one process (each a fresh invocation) and reports each outcome as JSON.
DRIVER = textwrap.dedent("""
    import json, os, sys, traceback
    from click.testing import CliRunner
    from arty.cli import cli
    store, must_be_read_only, commands = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    try:                                      # the folder must really refuse writes to this process
        open(os.path.join(must_be_read_only, "probe"), "w").close()
        sys.exit(f"{must_be_read_only} is writable: the test would prove nothing")
    except PermissionError:
        pass
    out = []
    for args in commands:
        r = CliRunner().invoke(cli, ["--store", store, *args])
        exc = r.exception if r.exception is not None and not isinstance(r.exception, SystemExit) else None
        out.append({"args": args, "code": r.exit_code, "output": r.output,
                    "traceback": "".join(traceback.format_exception(exc)) if exc else None})
    print(json.dumps(out))
""")


def unprivileged() -> list[str]:
    """A command prefix under which the child obeys file permissions, even as root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be enforced")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all"]


@pytest.fixture
def read_only(request):
    """``read_only(path)``: make a folder tree read-only until the test ends."""
    made: list[str] = []

    def read_only(path) -> None:
        for here, dirs, files in os.walk(path):
            for name in files + dirs:
                p = os.path.join(here, name)
                os.chmod(p, os.stat(p).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        os.chmod(path, os.stat(path).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        made.append(str(path))

    yield read_only
    for path in made:  # writable again, so that the test's folder can be removed
        for here, dirs, files in os.walk(path):
            os.chmod(here, os.stat(here).st_mode | stat.S_IWUSR)
            for name in files:
                p = os.path.join(here, name)
                os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)


def run_read_commands(tmp_path, store: str, read_only_dir, commands: list[list[str]],
                      env: dict[str, str] | None = None) -> dict[str, dict]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.run([*unprivileged(), sys.executable, str(script), store, str(read_only_dir),
                           json.dumps(commands)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **(env or {})))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {" ".join(r["args"]): r for r in json.loads(proc.stdout)}
    for name, r in results.items():
        assert r["traceback"] is None, f"art {name} crashed:\n{r['traceback']}"
        assert r["code"] == 0, f"art {name} failed ({r['code']}):\n{r['output']}"
    return results


def make_history(store_url: str, tmp_path, big: bool = False) -> str:
    """A version of 'ds' and a run that used it; returns the run id. ``big`` files (over 1 MiB)
    go through the blob cache of a remote store when downloaded."""
    files = {"a.txt": "alpha\n", "sub/b.bin": os.urandom(3000)}
    if big:
        files.update({"big/1.bin": os.urandom(1_200_000), "big/2.bin": os.urandom(1_300_000)})
    make_tree(tmp_path / "data", files)
    run_art("--store", store_url, "add", str(tmp_path / "data"), "--name", "ds", "--type", "dataset", check=True)
    run = arty.init(store=store_url, project="default", console=False, system_metrics=False, code=False)
    run.use_artifact("ds:latest")
    for i in range(5):
        run.log({"loss": 1.0 / (i + 1)})
    run.finish()
    return run.id


def read_commands(run_id: str) -> list[list[str]]:
    return [["get", "ds", "-o", "out1"], ["checkout", "ds", "out1"], ["get", "ds:v0", "-o", "out2"],
            ["ls"], ["ls", "ds"], ["show", "ds"], ["runs"], ["runs", "--json"], ["run", "show", run_id],
            ["run", "logs", run_id], ["verify"], ["lineage", "ds"], ["du", "ds"], ["gc", "--dry-run"]]


def check_outputs(results: dict[str, dict], tmp_path, run_id: str) -> None:
    expected = tree_of(tmp_path / "data")
    assert tree_of(tmp_path / "out1") == expected
    assert tree_of(tmp_path / "out2") == expected
    assert "ds" in results["ls"]["output"]
    assert run_id in results["runs"]["output"]
    assert results["verify"]["output"].startswith("ok: 1 version verified")
    assert "default/ds:v0  dataset" in results[f"run show {run_id}"]["output"]   # the input edge
    assert "produced by run" in results["lineage ds"]["output"]
    assert "default/ds" in results["du ds"]["output"]  # the usage cache kept in memory


@pytest.mark.parametrize("used_before", [True, False], ids=["caches-exist", "no-cache-folder"])
def test_every_read_command_works_on_a_read_only_local_store(tmp_path, read_only, used_before):
    store = init_store(str(tmp_path / "store"))[0]
    run_id = make_history(store.url, tmp_path)
    cache = os.path.join(store.url, "cache")
    if used_before:  # the index and the stat cache exist (written by earlier commands) and are read-only
        run_art("--store", store.url, "runs", check=True)
        run_art("--store", store.url, "get", "ds", "-o", str(tmp_path / "warm"), check=True)
        assert {"index.sqlite", "stat-cache.sqlite"} <= set(os.listdir(cache))
    else:            # neither can even be created (nor can the cache folder)
        shutil.rmtree(cache)
    read_only(store.url)
    before = tree_of(store.url)
    results = run_read_commands(tmp_path, store.url, store.url, read_commands(run_id))
    check_outputs(results, tmp_path, run_id)
    assert tree_of(store.url) == before


def test_every_read_command_works_with_a_read_only_cache_of_a_remote_store(s3, tmp_path, read_only, monkeypatch):
    url = f"s3://{s3.make_bucket()}/store"
    init_store(url)
    run_id = make_history(url, tmp_path, big=True)
    cache = tmp_path / "user-cache"  # ARTY_CACHE_DIR (tests/conftest.py): index, stat cache, blob cache
    run_art("--store", url, "runs", env=s3.env(), check=True)
    run_art("--store", url, "get", "ds", "-o", str(tmp_path / "warm"), env=s3.env(), check=True)
    # One blob in the cache, the other one not: the first is read from it, the second fetched around it.
    objects = cache / "objects"
    cached = sorted(p for p in objects.rglob("*") if p.is_file())
    assert len(cached) == 2
    cached[0].unlink()
    read_only(cache)
    before = tree_of(cache)
    results = run_read_commands(tmp_path, url, cache, read_commands(run_id), env=s3.env())
    check_outputs(results, tmp_path, run_id)
    assert tree_of(cache) == before
