"""Rough edges a new user meets in the ``art`` CLI (issue: data in the working tree, last section)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from arty.cli import cli
from conftest import make_tree, run_art


def art(*args: str, env: dict[str, str] | None = None):
    """Run ``art ARGS`` in-process; returns click's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    r = art(*args, env=env)
    assert r.exit_code == 0, f"art {' '.join(args)} -> {r.exit_code}\n{r.stdout}\n{r.stderr}"
    return r.stdout


# -- --store and --project after the command's name ------------------------------------------------


def test_store_and_project_are_accepted_after_the_command(tmp_path):
    data = make_tree(tmp_path / "x", {"a.txt": "a"})
    store = str(tmp_path / "s")
    ok("init", store)
    out = json.loads(ok("add", data, "--type", "dataset", "--project", "p", "--store", store, "--json"))
    assert (out["project"], out["store"]) == ("p", store)
    listed = json.loads(ok("ls", "--store", store, "--project", "p", "--json"))
    assert [r["name"] for r in listed] == ["x"]
    # subcommands of a group take them too
    runs = json.loads(ok("runs", "--store", store, "--project", "p", "--all", "--json"))
    shown = json.loads(ok("run", "show", runs[0]["id"], "--project", "p", "--store", store, "--json"))
    assert shown["outputs"][0]["artifact"] == "x:v0"
    # nothing was created in the default place
    assert not (tmp_path / ".arty" / "store.json").exists()


def test_commands_with_their_own_store_option_keep_it(tmp_path):
    from arty.cli import server

    own = [p for p in server.server_cmd.params if isinstance(p, click.Option) and "--store" in p.opts]
    assert len(own) == 1 and not own[0].hidden
    grant = server.server_cmd.commands["grant"]
    assert [p.hidden for p in grant.params if "--store" in getattr(p, "opts", [])] == [False]


# -- art run show ID finds the run in the one project that has it -----------------------------------


def _runs_in(tmp_path, projects: list[str], run_id: str) -> str:
    """A store with a finished run ``run_id`` in each of ``projects``; returns its URL."""
    from arty.store import init_store
    from arty.tracking.run import record_finished_run

    store, _ = init_store(str(tmp_path / "s"))
    for p in projects:
        record_finished_run(store, p, run_id, name=f"job-{p}", job_type="train", config={"p": p})
    return store.url


def test_run_show_finds_a_run_of_another_project(tmp_path):
    store = _runs_in(tmp_path, ["vision"], "k3j2h1g0")
    shown = json.loads(ok("--store", store, "run", "show", "k3j2h1g0", "--json"))
    assert (shown["project"], shown["id"], shown["name"]) == ("vision", "k3j2h1g0", "job-vision")
    assert art("--store", store, "run", "logs", "k3j2h1g0").exit_code == 0
    graph = json.loads(ok("--store", store, "lineage", "k3j2h1g0", "--json"))
    assert graph["graph"]["root"] == "run:vision/k3j2h1g0"
    # an explicit project is not searched beyond
    r = art("--store", store, "run", "show", "default/k3j2h1g0")
    assert r.exit_code == 3 and "not found" in r.stderr


def test_run_show_names_the_projects_when_the_id_is_in_several(tmp_path):
    store = _runs_in(tmp_path, ["audio", "vision"], "k3j2h1g0")
    r = art("--store", store, "run", "show", "k3j2h1g0")
    assert r.exit_code == 2
    assert "error: run 'k3j2h1g0' is in 2 projects: audio, vision" in r.stderr
    assert "hint: name one: 'audio/k3j2h1g0'" in r.stderr
    assert json.loads(ok("--store", store, "run", "show", "vision/k3j2h1g0", "--json"))["project"] == "vision"


# -- buckets that do not exist, missing credentials, missing extras ----------------------------------


def test_init_and_ls_on_a_missing_bucket_say_so(s3, tmp_path):
    url = "s3://no-such-bucket/arty"
    for args in (["init", url], ["--store", url, "ls"], ["--store", url, "runs"]):
        proc = run_art(*args, env=s3.env())
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.splitlines() == [
            f"error: bucket 'no-such-bucket' of store '{url}' does not exist",
            "hint: create it first ('aws s3 mb s3://no-such-bucket'), or check its name"], proc.stderr
    assert not (tmp_path / ".arty").exists()
    # a bucket that exists without a store still points at 'art init'
    bucket = s3.make_bucket()
    proc = run_art("--store", f"s3://{bucket}/arty", "ls", env=s3.env())
    assert proc.returncode == 3 and f"hint: create one with 'art init s3://{bucket}/arty'" in proc.stderr


def test_missing_credentials_say_which_to_set(s3, tmp_path, monkeypatch):
    bucket = s3.make_bucket()
    url = f"s3://{bucket}/arty"
    assert run_art("init", url, env=s3.env()).returncode == 0
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    nothing = str(tmp_path / "none")
    env = {"AWS_ENDPOINT_URL": s3.endpoint, "AWS_SHARED_CREDENTIALS_FILE": nothing, "AWS_CONFIG_FILE": nothing,
           "AWS_EC2_METADATA_DISABLED": "true", "HOME": nothing}
    for args in (["--store", url, "ls"], ["init", f"s3://{bucket}/other"]):
        proc = run_art(*args, env=env)
        assert proc.returncode == 4, proc.stderr
        error, hint = proc.stderr.splitlines()
        assert error.startswith("error: no credentials: cannot ") and url.rsplit("/", 1)[0] in error
        assert hint.startswith("hint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"), proc.stderr


def test_a_reference_without_the_s3_extra_names_the_extra(tmp_path):
    from test_faults import run_faulty

    proc = run_faulty("--store", str(tmp_path / "s"), "add", "--ref", "s3://bucket/raw/", "--type", "dataset",
                      "--name", "raw", env={"ARTY_TEST_BLOCK_IMPORTS": "s3fs"})
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.splitlines() == ["error: cannot open reference 's3://bucket/raw/': the 's3' extra is not "
                                        "installed", 'hint: pip install "arty[s3]"']


# -- art server --port 0 and a port in use ----------------------------------------------------------


def _serve(store: str, port: int) -> subprocess.Popen:
    from servers import _die_with_parent

    return subprocess.Popen([sys.executable, "-m", "arty", "server", "--store", store, "--port", str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_die_with_parent)


def test_server_prints_the_port_it_bound_and_refuses_a_port_in_use(local_store):
    import requests
    from servers import _readline_within

    pytest.importorskip("uvicorn")
    proc = _serve(local_store.url, 0)
    try:
        line = _readline_within(proc, 60)
        m = re.search(r" at http://127\.0\.0\.1:(\d+) ", line)
        assert m, line
        port = int(m.group(1))
        assert port != 0
        # it answers on that port from the moment the line is printed (the socket listens first)
        assert requests.get(f"http://127.0.0.1:{port}/api/store/v1", timeout=10).status_code == 200
        busy = subprocess.run([sys.executable, "-m", "arty", "server", "--store", local_store.url, "--port",
                               str(port)], capture_output=True, text=True, timeout=60)
        assert busy.returncode == 2, busy.stderr
        assert busy.stderr.splitlines() == [
            f"error: port {port} on 127.0.0.1 is already in use",
            "hint: stop the program that uses it, or pick another with --port (0: any free port)"]
        assert proc.poll() is None  # the first server is untouched
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- an unknown project is not an empty one ------------------------------------------------------------


def test_an_unknown_project_is_not_found_for_ls_and_runs(tmp_path):
    from arty.tracking.run import record_finished_run

    store = str(tmp_path / "s")
    ok("init", store)
    # a brand-new store: its default project lists nothing, successfully
    assert "no artifacts in project 'default'" in ok("--store", store, "ls")
    assert json.loads(ok("--store", store, "ls", "--json")) == []
    assert "no runs in project 'default'" in ok("--store", store, "runs")
    data = make_tree(tmp_path / "x", {"a.txt": "a"})
    ok("--store", store, "add", data, "--type", "dataset", "--project", "vision")
    from arty.store import open_store

    record_finished_run(open_store(store), "audio", "r1", name="only-a-run", job_type="train", config={})
    for args in (["--project", "nosuch", "ls"], ["ls", "--project", "nosuch", "--json"], ["runs", "nosuch"],
                 ["--project", "nosuch", "runs"]):
        r = art("--store", store, *args)
        assert r.exit_code == 3, (args, r.stdout, r.stderr)
        assert r.stderr.splitlines()[0] == "error: project 'nosuch' not found (projects: audio, vision)", r.stderr
        assert r.stderr.splitlines()[1].startswith("hint: --project NAME picks another")
    # a project with runs and no artifacts lists no artifacts, successfully; the default project too
    assert "no artifacts in project 'audio'" in ok("--store", store, "--project", "audio", "ls")
    assert "no artifacts in project 'default'" in ok("--store", store, "ls")


def test_the_store_default_project_lists_nothing_successfully(tmp_path):
    store = str(tmp_path / "s")
    ok("init", store, "--project", "vision")
    assert "no artifacts in project 'vision'" in ok("--store", store, "ls")
    assert "no runs in project 'vision'" in ok("--store", store, "runs")
    assert art("--store", store, "--project", "default", "ls").exit_code == 3


# -- the runs 'art add' records stay in the lineage, out of run listings ------------------------------


def _store_with_add_and_train(tmp_path) -> tuple[str, str, str]:
    """A store whose project 'p' has a version made by 'art add' and one training run;
    returns (store URL, the add run's id, the training run's id)."""
    import arty

    store = str(tmp_path / "s")
    ok("init", store)
    data = make_tree(tmp_path / "data", {"a.txt": "a"})
    add_run = json.loads(ok("--store", store, "add", data, "--type", "dataset", "--project", "p", "--json"))["created_by"]
    with arty.init(project="p", store=store, name="train", config={"lr": 0.1}) as run:
        run.use_artifact("data:v0")
        run.log({"acc": 0.9})
        train_id = run.id
    return store, add_run, train_id


def test_runs_of_art_add_are_hidden_from_art_runs_but_kept_in_the_lineage(tmp_path):
    store, add_run, train_id = _store_with_add_and_train(tmp_path)
    assert add_run
    listed = [r["id"] for r in json.loads(ok("--store", store, "runs", "p", "--json"))]
    assert listed == [train_id]
    assert add_run not in ok("--store", store, "runs", "p")
    every = [r["id"] for r in json.loads(ok("--store", store, "runs", "p", "--all", "--json"))]
    assert sorted(every) == sorted([add_run, train_id])
    # with a filter too, and the count of hidden runs when nothing else is left
    only = json.loads(ok("--store", store, "runs", "p", "--all", "--filter", "job_type=art-add", "--json"))
    assert [r["id"] for r in only] == [add_run]
    out = ok("--store", store, "runs", "p", "--filter", "name~^art add")
    assert "no runs in project 'p' match (1 run of 'art add' hidden: --all lists them)" in out
    # still a run, still the version's producer
    assert json.loads(ok("--store", store, "run", "show", f"p/{add_run}", "--json"))["job_type"] == "art-add"
    lineage = json.loads(ok("--store", store, "--project", "p", "lineage", "data:v0", "--json"))
    assert {n["id"] for n in lineage["nodes"]} >= {f"run:p/{add_run}", f"run:p/{train_id}"}


def test_runs_of_art_add_are_hidden_from_the_servers_runs_table(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from arty.server import create_app
    from arty.store import open_store

    store, add_run, train_id = _store_with_add_and_train(tmp_path)
    client = TestClient(create_app(open_store(store)), base_url="http://127.0.0.1")
    body = client.get("/api/projects/p/runs").json()
    assert ([r["id"] for r in body["runs"]], body["total"]) == ([train_id], 1)
    assert body["config_keys"] == ["lr"]  # not the add runs' paths, refs, type...
    body = client.get("/api/projects/p/runs", params={"add_runs": "true"}).json()
    assert (sorted(r["id"] for r in body["runs"]), body["total"]) == (sorted([add_run, train_id]), 2)
    assert "paths" in body["config_keys"]
    filtered = client.get("/api/projects/p/runs", params={"filters": json.dumps({"name": "train"})}).json()
    assert [r["id"] for r in filtered["runs"]] == [train_id]


# -- which commands create a store (as docs/concepts.md says) -------------------------------------------


def test_only_writing_commands_create_a_missing_local_store(tmp_path):
    typo = tmp_path / "stroe"
    for args in (["ls"], ["runs"], ["show", "x"], ["get", "x"], ["gc", "--dry-run"], ["verify"], ["lineage", "x"]):
        r = art("--store", str(typo), *args)
        assert r.exit_code == 3 and f"no store at '{typo}'" in r.stderr, (args, r.stderr)
        assert not typo.exists()
    data = make_tree(tmp_path / "d", {"a.txt": "a"})
    ok("add", data, "--type", "dataset", "--store", str(typo))
    assert (typo / "store.json").exists()


# -- the command index of docs/cli.md is generated from the commands -----------------------------------


def test_the_cli_reference_command_index_is_current():
    from arty.cli import docs

    proc = subprocess.run([sys.executable, "-m", "arty.cli.docs", "--check"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr + "\n(run 'python -m arty.cli.docs' to rewrite it)"
    with open(docs.DEFAULT_DOC, encoding="utf-8") as f:
        block = f.read().split(docs.BEGIN)[1].split(docs.END)[0]
    for name in ("init", "add", "rm", "gc", "run", "run show", "repro", "server", "server users add", "runs"):
        assert f"`art {name}`" in block, name


def test_the_generator_notices_and_rewrites_a_stale_index(tmp_path):
    from arty.cli import docs

    stale = tmp_path / "cli.md"
    with open(docs.DEFAULT_DOC, encoding="utf-8") as f:
        current = f.read()
    stale.write_text(re.sub(r"^\| \[`art gc`\].*\n", "", current, flags=re.M), encoding="utf-8")
    assert stale.read_text(encoding="utf-8") != current
    assert docs.main([str(stale), "--check"]) == 1
    assert docs.main([str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == current
