"""Pipelines: ``art run -- CMD`` and ``art repro`` over ``arty.yaml``, with the real CLI in
subprocesses, real commands, a real local store (and the S3 test server for the CI recipe).

The repro tests run the example pipeline of ``examples/pipeline`` (prepare -> train ->
evaluate), copied into the test's folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
import yaml

import arty
from arty.api import Api
from arty.errors import NotFound, UsageError
from arty.pipeline import load_pipeline
from conftest import run_art

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "pipeline")
PY = sys.executable


@pytest.fixture
def store_env(tmp_path):
    url = str(tmp_path / "store")
    arty.init_store(url)
    return {"ARTY_STORE": url}


@pytest.fixture
def example(tmp_path):
    """A copy of the example pipeline whose commands use this Python."""
    dest = tmp_path / "pipeline"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("build", ".arty"))
    spec = (dest / "arty.yaml").read_text().replace("cmd: python ", f"cmd: {PY} ")
    (dest / "arty.yaml").write_text(spec)
    return dest


def repro(cwd, env, *args: str):
    return run_art("repro", "--json", *args, cwd=cwd, env=env)


def actions(proc) -> dict[str, str]:
    assert proc.stdout, proc.stderr
    return {s["step"]: s["action"] for s in json.loads(proc.stdout)["steps"]}


def write_spec(folder, steps: dict) -> None:
    (folder / "arty.yaml").write_text(yaml.safe_dump({"steps": steps}, sort_keys=False))


# -- the example pipeline ------------------------------------------------------------------

def test_second_repro_skips_every_step_and_a_changed_input_reruns_exactly_downstream(example, store_env):
    first = repro(example, store_env)
    assert first.returncode == 0, first.stderr
    assert actions(first) == {"prepare": "run", "train": "run", "evaluate": "run"}
    model_json = (example / "build" / "model.json").read_bytes()

    second = repro(example, store_env)
    assert second.returncode == 0, second.stderr
    assert actions(second) == {"prepare": "skip", "train": "skip", "evaluate": "skip"}

    # Only the evaluation script changes: only 'evaluate' runs again.
    ev = example / "evaluate.py"
    ev.write_text(ev.read_text() + "\n# a comment\n")
    third = repro(example, store_env)
    assert actions(third) == {"prepare": "skip", "train": "skip", "evaluate": "run"}
    why = {s["step"]: s["reason"] for s in json.loads(third.stdout)["steps"]}
    assert "dependency evaluate.py changed" in why["evaluate"]

    # One raw input file changes: everything downstream of it runs, and makes new versions.
    with open(example / "data" / "raw" / "batch-2.csv", "a") as f:
        f.write("2.5,2.5,1\n")
    fourth = repro(example, store_env)
    assert fourth.returncode == 0, fourth.stderr
    assert actions(fourth) == {"prepare": "run", "train": "run", "evaluate": "run"}
    outs = {s["step"]: s["outputs"] for s in json.loads(fourth.stdout)["steps"]}
    assert outs == {"prepare": {"dataset": "dataset:v1"}, "train": {"model": "model:v1"},
                    "evaluate": {"report": "report:v1"}}
    assert (example / "build" / "model.json").read_bytes() != model_json


def test_a_param_change_reruns_the_step_and_its_dependents_only(example, store_env):
    assert repro(example, store_env).returncode == 0
    spec = example / "arty.yaml"
    spec.write_text(spec.read_text().replace("lr: 0.5", "lr: 0.25"))
    plan = run_art("repro", "--dry-run", cwd=example, env=store_env)
    assert plan.returncode == 0, plan.stderr
    lines = {line.split()[0]: line for line in plan.stdout.splitlines()[1:]}
    assert lines["prepare"].split()[1] == "skip"
    assert lines["train"].split()[1] == "run" and "param lr changed (0.5 -> 0.25)" in lines["train"]
    assert lines["evaluate"].split()[1] == "run" and "upstream step 'train'" in lines["evaluate"]
    assert actions(repro(example, store_env)) == {"prepare": "skip", "train": "run", "evaluate": "run"}


def test_reverting_an_input_skips_and_restores_the_earlier_outputs(example, store_env):
    assert repro(example, store_env).returncode == 0
    v0_model = (example / "build" / "model.json").read_bytes()
    raw = example / "data" / "raw" / "batch-1.csv"
    original = raw.read_bytes()
    raw.write_bytes(original + b"-3.0,-3.0,0\n")
    assert actions(repro(example, store_env)) == {"prepare": "run", "train": "run", "evaluate": "run"}
    assert (example / "build" / "model.json").read_bytes() != v0_model
    raw.write_bytes(original)
    back = repro(example, store_env)
    assert actions(back) == {"prepare": "skip", "train": "skip", "evaluate": "skip"}
    assert (example / "build" / "model.json").read_bytes() == v0_model
    assert json.loads(back.stdout)["steps"][1]["outputs"] == {"model": "model:v0"}


def test_dry_run_writes_nothing(example, store_env):
    store = store_env["ARTY_STORE"]
    before = sorted(os.path.relpath(os.path.join(d, f), store) for d, _, fs in os.walk(store) for f in fs
                    if "cache" not in d)
    plan = repro(example, store_env, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert actions(plan) == {"prepare": "run", "train": "run", "evaluate": "run"}
    after = sorted(os.path.relpath(os.path.join(d, f), store) for d, _, fs in os.walk(store) for f in fs
                   if "cache" not in d)
    assert after == before
    assert not (example / "build").exists()


def test_force_runs_every_step_and_targets_run_their_upstream_only(example, store_env):
    assert actions(repro(example, store_env, "train")) == {"prepare": "run", "train": "run"}
    assert actions(repro(example, store_env, "--force", "prepare")) == {"prepare": "run"}
    assert actions(repro(example, store_env)) == {"prepare": "skip", "train": "skip", "evaluate": "run"}


def test_repro_records_lineage_from_raw_data_to_the_report(example, store_env):
    assert repro(example, store_env).returncode == 0
    with Api(store_env["ARTY_STORE"]) as api:
        report = api.artifact("report:latest")
        evaluate = report.logged_by()
        assert evaluate.name == "evaluate" and evaluate.job_type == "step"
        assert evaluate.summary["accuracy"] > 0.5
        assert evaluate.command[0] == PY and "--model" in evaluate.command
        assert sorted(a.base_name for a in evaluate.used_artifacts()) == ["dataset", "model"]
        impacted = {n for n in api.lineage("raw:v0", direction="downstream").graph.nodes}
        assert {"artifact:default/report:v0", "artifact:default/model:v0"} <= impacted


def test_deleted_cached_output_makes_the_step_run_again(example, store_env):
    assert repro(example, store_env).returncode == 0
    assert run_art("rm", "model:v0", cwd=example, env=store_env).returncode == 0
    out = repro(example, store_env)
    steps = {s["step"]: s for s in json.loads(out.stdout)["steps"]}
    assert steps["train"]["action"] == "run" and "model:v0" in steps["train"]["reason"]
    assert steps["prepare"]["action"] == "skip"


# -- failures ------------------------------------------------------------------------------

def test_a_failing_step_stops_its_dependents_and_sets_the_exit_code(tmp_path, store_env):
    write_spec(tmp_path, {
        "a": {"cmd": [PY, "-c", "import sys; open('a-ran', 'w'); sys.exit(3)"], "outputs": {"x": "out/x"}},
        "b": {"cmd": [PY, "-c", "open('b-ran', 'w')"], "uses": ["x"]},
        "c": {"cmd": [PY, "-c", "import os; os.makedirs('out', exist_ok=True); open('out/c', 'w').write('c')"],
              "outputs": {"y": "out/c"}},
    })
    out = repro(tmp_path, store_env)
    assert out.returncode == 3
    steps = {s["step"]: s for s in json.loads(out.stdout)["steps"]}
    assert steps["a"]["exit_code"] == 3
    assert steps["b"]["action"] == "not run" and "'a' failed" in steps["b"]["reason"]
    assert steps["c"]["action"] == "run" and steps["c"]["exit_code"] == 0
    assert (tmp_path / "a-ran").exists() and not (tmp_path / "b-ran").exists()
    # The failed run is recorded, and a rerun tries 'a' again (a failure is never cached).
    with Api(store_env["ARTY_STORE"]) as api:
        failed = [r for r in api.runs() if r.name == "a"]
        assert [r.state for r in failed] == ["failed"] and failed[0].exit_code == 3
    again = repro(tmp_path, store_env)
    assert actions(again)["a"] == "run" and actions(again)["c"] == "skip"


@pytest.mark.parametrize("steps, message", [
    ({"a": {"cmd": "true", "uses": ["y"], "outputs": {"x": "o/x"}},
      "b": {"cmd": "true", "uses": ["x"], "outputs": {"y": "o/y"}}}, "steps form a cycle: a -> b -> a"),
    ({"a": {"cmd": "true", "needs": ["prep"]}}, "step 'a' needs step 'prep', which does not exist"),
    ({"a": {"cmd": "true", "outputs": {"x": "o/x"}}, "b": {"cmd": "true", "outputs": {"x": "o/y"}}},
     "output 'x' is produced by two steps"),
    ({"a": {"cmd": "echo {params.lr}"}}, "'{params.lr}' in its command names no such param"),
    ({"a": {"command": "true"}}, "unknown key(s): command"),
    ({"a": {"uses": ["x"]}}, "step 'a' has no 'cmd'"),
])
def test_bad_pipeline_files_fail_before_anything_runs(tmp_path, store_env, steps, message):
    steps = {name: {**s, "cmd": [PY, "-c", "open('ran', 'w')"] if s.get("cmd") == "true" else s.get("cmd")}
             if "cmd" in s else s for name, s in steps.items()}
    write_spec(tmp_path, steps)
    out = run_art("repro", cwd=tmp_path, env=store_env)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert not (tmp_path / "ran").exists()


def test_unknown_step_and_missing_inputs_fail_before_anything_runs(tmp_path, store_env):
    write_spec(tmp_path, {
        "first": {"cmd": [PY, "-c", "open('ran', 'w')"]},
        "second": {"cmd": [PY, "-c", "open('ran', 'w')"], "uses": ["data:prod"], "needs": ["first"]},
    })
    out = run_art("repro", "nosuch", cwd=tmp_path, env=store_env)
    assert out.returncode == 3 and "no step 'nosuch'" in out.stderr and "first, second" in out.stderr
    out = run_art("repro", cwd=tmp_path, env=store_env)
    assert out.returncode == 3 and "step 'second': input 'data:prod' not found" in out.stderr
    assert not (tmp_path / "ran").exists()
    out = run_art("repro", "-f", "missing.yaml", cwd=tmp_path, env=store_env)
    assert out.returncode == 3 and "pipeline file" in out.stderr


def test_load_pipeline_orders_steps_and_resolves_paths(example):
    p = load_pipeline(str(example / "arty.yaml"))
    assert p.order() == ["prepare", "train", "evaluate"]
    assert p.order(["train"]) == ["prepare", "train"]
    assert p.steps["train"].outputs[0].path == str(example / "build" / "model.json")
    assert p.steps["train"].outputs[0].type == "model"
    with pytest.raises(NotFound):
        p.order(["nope"])
    with pytest.raises(UsageError, match="not valid YAML"):
        (example / "bad.yaml").write_text("steps: [")
        load_pipeline(str(example / "bad.yaml"))


# -- art run -------------------------------------------------------------------------------

SCRIPT = """
import json, os, sys
src = sys.argv[1]
with open(os.path.join(src, 'numbers.txt')) as f:
    total = sum(int(x) for x in f.read().split())
os.makedirs(os.environ['ARTY_OUTPUT_RESULT'], exist_ok=True)
with open(os.path.join(sys.argv[2], 'total.txt'), 'w') as f:
    f.write(str(total * int(os.environ['ARTY_PARAM_SCALE'])))
with open('metrics.json', 'w') as f:
    json.dump({'total': total, 'nested': {'ok': True}}, f)
print('summed', total)
"""


def test_art_run_downloads_inputs_fills_placeholders_and_logs_outputs(tmp_path, store_env):
    data = tmp_path / "numbers"
    data.mkdir()
    (data / "numbers.txt").write_text("1 2 3 4")
    assert run_art("add", str(data), "--name", "numbers", "--type", "dataset", "--alias", "prod",
                   env=store_env).returncode == 0
    (tmp_path / "sum.py").write_text(SCRIPT)
    out = run_art("run", "--name", "summer", "--use", "numbers:prod", "--output", "result=res:report",
                  "--param", "scale=10", "--metrics", "metrics.json",
                  "--", PY, "sum.py", "{inputs.numbers}", "{outputs.result}", cwd=tmp_path, env=store_env)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "res" / "total.txt").read_text() == "100"
    with Api(store_env["ARTY_STORE"]) as api:
        result = api.artifact("result:latest")
        assert result.type == "report" and result.read_bytes("total.txt") == b"100"
        run = result.logged_by()
        assert run.name == "summer" and run.config == {"scale": 10}
        assert run.summary["total"] == 10 and run.summary["nested/ok"] is True
        assert [a.name for a in run.used_artifacts()] == ["numbers:v0"]
        assert "summed 10" in "".join(text for _, _, text in run.console())


def test_art_run_exit_code_is_the_commands_and_failures_log_no_outputs(tmp_path, store_env):
    out = run_art("run", "--output", "o=out", "--", PY, "-c", "import os; os.mkdir('out'); raise SystemExit(7)",
                  cwd=tmp_path, env=store_env)
    assert out.returncode == 7
    assert "exited with code 7" in out.stderr
    with Api(store_env["ARTY_STORE"]) as api:
        [run] = api.runs()
        assert run.state == "failed" and run.exit_code == 7 and run.logged_artifacts() == []
    killed = run_art("run", "--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
                     cwd=tmp_path, env=store_env)
    assert killed.returncode == 128 + 9
    missing = run_art("run", "--", "no-such-program-xyz", cwd=tmp_path, env=store_env)
    assert missing.returncode == 127 and "'no-such-program-xyz' not found" in missing.stderr
    unwritten = run_art("run", "--output", "o=never", "--", PY, "-c", "pass", cwd=tmp_path, env=store_env)
    assert unwritten.returncode == 1 and "output 'o' was not written" in unwritten.stderr


def test_art_run_missing_input_fails_before_the_command_starts(tmp_path, store_env):
    out = run_art("run", "--use", "nothing:prod", "--", PY, "-c", "open('ran', 'w')", cwd=tmp_path, env=store_env)
    assert out.returncode == 3 and "artifact 'nothing' not found" in out.stderr
    assert not (tmp_path / "ran").exists()
    with Api(store_env["ARTY_STORE"]) as api:
        assert api.runs() == []


@pytest.mark.parametrize("args, message", [
    (["--output", "o=.", "--", "true"], "is its working folder or a folder above it"),
    (["--output", "bad", "--", "true"], "invalid --output 'bad'"),
    (["--param", "novalue", "--", "true"], "invalid --param 'novalue'"),
    (["--", "echo", "{inputs.data}"], "'{inputs.data}' in its command names no such input"),
    (["python", "x.py"], "put it after '--'"),
])
def test_art_run_refuses_bad_options_before_running(tmp_path, store_env, args, message):
    (tmp_path / "keep.txt").write_text("precious")
    out = run_art("run", *args, cwd=tmp_path, env=store_env)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_art_run_show_and_logs_still_work(tmp_path, store_env):
    out = run_art("run", "--name", "hello", "--", PY, "-c", "print('hi there')", cwd=tmp_path, env=store_env)
    assert out.returncode == 0, out.stderr
    assert "hi there" in out.stdout  # the command's output reaches the terminal
    assert "hi there" in run_art("run", "logs", "hello", cwd=tmp_path, env=store_env).stdout
    shown = run_art("run", "show", "hello", "--json", cwd=tmp_path, env=store_env)
    assert json.loads(shown.stdout)["exit_code"] == 0


# -- the CI recipe of docs/ci.md, against the S3 test server --------------------------------

def test_ci_workflow_commands_run_against_a_bucket_store(example, s3, tmp_path):
    """Runs the 'run:' lines of examples/ci/github-actions.yml that call art, as CI would."""
    workflow = yaml.safe_load(open(os.path.join(EXAMPLE, "..", "ci", "github-actions.yml")))
    job = next(iter(workflow["jobs"].values()))
    commands = [s["run"] for s in job["steps"] if "art " in s.get("run", "")]
    assert any("art repro" in c for c in commands) and any("--format mermaid" in c for c in commands)
    bucket = s3.make_bucket()
    summary = tmp_path / "summary.md"
    env = dict(s3.env(), ARTY_STORE=f"s3://{bucket}/arty", GITHUB_STEP_SUMMARY=str(summary))
    env.update({k: str(v) for k, v in (job.get("env") or {}).items() if k not in ("ARTY_STORE",)
                and not str(v).startswith("${{")})
    workdir = job.get("defaults", {}).get("run", {}).get("working-directory", ".")
    assert workdir == "examples/pipeline"
    import subprocess

    def run_all() -> None:
        for cmd in commands:
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", cmd.replace("python ", f"{PY} ")],
                                  cwd=example, env={**os.environ, **env, "PATH": os.path.dirname(PY) + os.pathsep
                                                    + os.environ["PATH"]},
                                  capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"

    run_all()
    text = summary.read_text()
    assert "```mermaid" in text and "flowchart" in text and "report:v0" in text
    # The second CI run on the same bucket skips every step.
    summary.write_text("")
    out = run_art("repro", "--json", cwd=example, env=env)
    assert actions(out) == {"prepare": "skip", "train": "skip", "evaluate": "skip"}


@pytest.mark.slow
def test_two_checkouts_reproducing_at_once_share_one_store(example, store_env, tmp_path):
    """Two machines (two copies of the pipeline) run 'art repro' against one store at the same time."""
    import subprocess

    other = tmp_path / "other"
    shutil.copytree(example, other)
    env = {**os.environ, **store_env}
    procs = [subprocess.Popen([PY, "-m", "arty", "repro", "--json"], cwd=folder, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for folder in (example, other)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert run_art("verify", env=store_env).returncode == 0
    # Whichever finished each step first, the outputs are the same content: both folders skip now.
    for folder in (example, other):
        assert actions(repro(folder, store_env)) == {"prepare": "skip", "train": "skip", "evaluate": "skip"}
    assert (example / "build" / "model.json").read_bytes() == (other / "build" / "model.json").read_bytes()


@pytest.mark.slow
def test_ctrl_c_stops_the_step_and_the_rest_of_the_pipeline(tmp_path, store_env):
    import signal
    import subprocess
    import time

    write_spec(tmp_path, {
        "slow": {"cmd": [PY, "-c", "import time; open('started', 'w').close(); time.sleep(120)"]},
        "other": {"cmd": [PY, "-c", "open('other-ran', 'w')"]},
    })
    # A shell running jobs in the background (a CI runner, nohup) starts them with SIGINT ignored,
    # and an ignored signal stays ignored in children: give 'art' the default, as a terminal would.
    proc = subprocess.Popen([PY, "-m", "arty", "repro"], cwd=tmp_path, env={**os.environ, **store_env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():  # wait for the step's command to be running
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not (tmp_path / "other-ran").exists()
    with Api(store_env["ARTY_STORE"]) as api:
        [run] = api.runs()
        assert run.name == "slow" and run.state == "failed" and run.exit_code == 130


def test_pushing_the_outputs_carries_the_run_cache_to_another_store(example, store_env, tmp_path):
    """A laptop reproduces the pipeline, pushes its outputs to the team store: CI skips there."""
    assert repro(example, store_env).returncode == 0
    team = str(tmp_path / "team")
    arty.init_store(team)
    for name in ("dataset", "model"):
        assert run_art("push", name, "--to", team, env=store_env).returncode == 0
    # With report not pushed yet, only evaluate's record is missing there: evaluate runs, the others skip.
    ci = tmp_path / "ci-checkout"
    shutil.copytree(example, ci, ignore=shutil.ignore_patterns("build"))
    team_env = {"ARTY_STORE": team}
    assert actions(repro(ci, team_env, "--dry-run")) == {"prepare": "skip", "train": "skip", "evaluate": "run"}
    assert run_art("push", "report", "--to", team, env=store_env).returncode == 0
    out = repro(ci, team_env)
    assert actions(out) == {"prepare": "skip", "train": "skip", "evaluate": "skip"}
    assert (ci / "build" / "model.json").read_bytes() == (example / "build" / "model.json").read_bytes()
    assert run_art("verify", env=team_env).returncode == 0
