"""Sharing across projects of one store: ``art run --use B/name:alias`` and ``uses:`` in
``arty.yaml`` take another project's artifact, the run cache keys on the project, lineage
crosses projects both ways, and a name that exists only in other projects says where."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

import arty
from arty.api import Api
from arty.errors import NotFound
from arty.pipeline.spec import parse_use
from conftest import make_tree, run_art

PY = sys.executable
COUNT = "import sys, os; n = len(open(os.path.join(sys.argv[1], 'rows.txt')).read().split()); " \
        "os.makedirs(sys.argv[2], exist_ok=True); open(os.path.join(sys.argv[2], 'n.txt'), 'w').write(str(n))"


@pytest.fixture
def shared(tmp_path):
    """A store whose project 'data' holds 'peds' (v0, aliased prod) and project 'ml' nothing yet."""
    url = str(tmp_path / "store")
    arty.init_store(url)
    env = {"ARTY_STORE": url}
    src = make_tree(tmp_path / "peds", {"rows.txt": "1 2 3"})
    out = run_art("--project", "data", "add", src, "--type", "dataset", "--alias", "prod", env=env)
    assert out.returncode == 0, out.stderr
    (tmp_path / "count.py").write_text(COUNT)
    return env


def test_parse_use_keeps_the_project():
    use = parse_use("data/peds:prod")
    assert (use.project, use.name, use.selector, use.ref) == ("data", "peds", "prod", "data/peds:prod")


def test_art_run_uses_another_projects_artifact_with_lineage_both_ways(tmp_path, shared):
    out = run_art("--project", "ml", "run", "--name", "count", "--use", "data/peds:prod",
                  "--output", "counts=out", "--", PY, "count.py", "{inputs.peds}", "{outputs.counts}",
                  cwd=tmp_path, env=shared)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out" / "n.txt").read_text() == "3"
    with Api(shared["ARTY_STORE"], "ml") as api:
        run = api.artifact("counts:latest").logged_by()
        assert [a.qualified_name for a in run.used_artifacts()] == ["data/peds:v0"]
        up = api.lineage("counts:v0", direction="upstream")
        assert "artifact:data/peds:v0" in up.nodes()
        down = api.lineage("data/peds:v0", direction="downstream")
        assert f"run:ml/{run.id}" in down.nodes() and "artifact:ml/counts:v0" in down.nodes()
    # The CLI, from each side.
    down = run_art("--project", "data", "lineage", "peds:v0", "--down", "--json", env=shared)
    assert down.returncode == 0, down.stderr
    assert "artifact:ml/counts:v0" in {n["id"] for n in json.loads(down.stdout)["nodes"]}
    up = run_art("--project", "ml", "lineage", "counts:v0", "--up", env=shared)
    assert up.returncode == 0 and "data/peds:v0" in up.stdout, up.stdout + up.stderr


def test_repro_uses_another_projects_artifact_and_caches_on_its_project(tmp_path, shared):
    (tmp_path / "arty.yaml").write_text(yaml.safe_dump({"steps": {"count": {
        "cmd": f"{PY} count.py {{inputs.peds}} {{outputs.counts}}",
        "uses": ["data/peds:prod"], "outputs": {"counts": "out"}}}}))
    first = run_art("--project", "ml", "repro", "--json", cwd=tmp_path, env=shared)
    assert first.returncode == 0, first.stderr
    assert [s["action"] for s in json.loads(first.stdout)["steps"]] == ["run"]
    again = run_art("--project", "ml", "repro", "--json", cwd=tmp_path, env=shared)
    assert [s["action"] for s in json.loads(again.stdout)["steps"]] == ["skip"]
    # The same content under a local 'peds' of project ml is another input: the step runs again.
    (tmp_path / "arty.yaml").write_text(yaml.safe_dump({"steps": {"count": {
        "cmd": f"{PY} count.py {{inputs.peds}} {{outputs.counts}}",
        "uses": [{"name": "peds", "path": "peds"}], "outputs": {"counts": "out"}}}}))
    local = run_art("--project", "ml", "repro", "--json", cwd=tmp_path, env=shared)
    assert local.returncode == 0, local.stderr
    assert [s["action"] for s in json.loads(local.stdout)["steps"]] == ["run"]
    with Api(shared["ARTY_STORE"], "ml") as api:
        runs = [r for r in api.runs("ml") if r.name == "count"]
        used = sorted(a.qualified_name for r in runs for a in r.used_artifacts())
        assert used == ["data/peds:v0", "ml/peds:v0"]


def test_use_artifact_names_the_projects_that_have_it(tmp_path, shared):
    src = make_tree(tmp_path / "peds2", {"rows.txt": "4"})
    assert run_art("--project", "other", "add", src, "--name", "peds", "--type", "dataset",
                   env=shared).returncode == 0
    with arty.init(project="ml", store=shared["ARTY_STORE"], mode="offline") as run:
        with pytest.raises(NotFound) as err:
            run.use_artifact("peds:latest")
    msg = str(err.value)
    assert "artifact 'peds' not found in project 'ml'" in msg
    assert "it exists in projects 'data', 'other'" in msg
    assert "'data/peds:latest'" in msg
    # A name no project has keeps the plain message.
    with arty.init(project="ml", store=shared["ARTY_STORE"], mode="offline") as run:
        with pytest.raises(NotFound) as err:
            run.use_artifact("nosuch:v1")
    assert "exists in project" not in str(err.value)
