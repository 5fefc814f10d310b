"""The team setup of docs/server.md, end to end, as a team would run it: users, keys and roles
made with ``art server`` on the backing store, a real ``art server`` process, and clients that
know only the URL they logged in to (``art login``), with no access to the backing store.
Every refused change leaves the backing store as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from art_servers import ArtServer
from conftest import make_tree, run_art, tree_of

from arty.store import init_store, open_store

TRAIN = textwrap.dedent("""
    import arty
    run = arty.init(project="vision", name="train", config={"lr": 0.1})
    data = run.use_artifact("data:latest")
    for step in range(50):
        run.log({"loss": 1.0 / (step + 1), "acc": step / 50})
    with open("model.bin", "wb") as f:
        f.write(b"weights " + bytes(range(256)) * 10)
    run.log_artifact(arty.Artifact("model", type="model").add_file("model.bin"), aliases=["prod"])
    with open("model.bin", "ab") as f:
        f.write(b"fine-tuned")
    run.log_artifact(arty.Artifact("model", type="model").add_file("model.bin"))
    run.finish()
    print(run.id)
""")

PIPELINE = """
steps:
  make:
    cmd: python make.py {outputs.out}
    deps: [make.py]
    outputs:
      out: build/out.txt
"""


def _key(store: str, *args: str) -> str:
    out = run_art("server", *args, "--store", store, "--json", check=True).stdout
    return json.loads(out)["key"]


def _projects_tree(store: str) -> dict[str, bytes]:
    root = os.path.join(store, "projects")
    return tree_of(root) if os.path.isdir(root) else {}


def test_the_team_walkthrough(tmp_path):
    backing = str(tmp_path / "backing")
    init_store(backing)
    _key(backing, "users", "add", "alice", "--admin")
    bob = _key(backing, "users", "add", "bob")
    carol = _key(backing, "users", "add", "carol")
    run_art("server", "grant", "bob", "vision", "--role", "write", "--store", backing, check=True)
    run_art("server", "grant", "carol", "vision", "--role", "read", "--store", backing, check=True)
    other_backing = str(tmp_path / "other")
    init_store(other_backing)
    bob_other = _key(other_backing, "users", "add", "bob")
    run_art("server", "grant", "bob", "vision", "--role", "write", "--store", other_backing, check=True)

    work = tmp_path / "laptop"
    work.mkdir()
    creds = str(tmp_path / "bob-config" / "credentials.json")
    env = {"ARTY_CREDENTIALS": creds}  # no ARTY_STORE, no key in the environment
    with ArtServer(backing) as server, ArtServer(other_backing) as other:
        # art login: the key is checked, saved 0600, and the server becomes the default store
        proc = subprocess.run(
            [sys.executable, "-m", "arty", "login", server.url, "--key-stdin"], input=bob + "\n", cwd=work,
            env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "bob" in proc.stdout + proc.stderr
        assert os.stat(creds).st_mode & 0o777 == 0o600
        assert bob not in proc.stdout + proc.stderr
        subprocess.run([sys.executable, "-m", "arty", "login", other.url, "--key-stdin", "--no-default"],
                       input=bob_other + "\n", cwd=work, env={**os.environ, **env}, capture_output=True,
                       text=True, timeout=120, check=True)

        # the commands of the walk-through, through the server only
        data = make_tree(work / "data", {"a.txt": "a" * 100, "sub/b.bin": os.urandom(5000)})
        run_art("add", data, "--type", "dataset", "--project", "vision", env=env, cwd=work, check=True)
        (work / "train.py").write_text(TRAIN)
        proc = subprocess.run([sys.executable, "train.py"], env={**os.environ, **env}, cwd=work,
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr
        run_id = proc.stdout.split()[-1]
        (work / "arty.yaml").write_text(PIPELINE)
        (work / "make.py").write_text("import sys\nopen(sys.argv[1], 'w').write('42')\n")
        pipeline_env = {**env, "ARTY_PROJECT": "vision"}
        first = run_art("repro", env=pipeline_env, cwd=work, check=True)
        second = run_art("repro", env=pipeline_env, cwd=work, check=True)
        assert "1 ran, 0 skipped" in first.stderr and "0 ran, 1 skipped" in second.stderr, second.stderr
        run_art("get", "model:prod", "-o", str(work / "out"), "--project", "vision", env=env, cwd=work, check=True)
        assert (work / "out" / "model.bin").read_bytes() == b"weights " + bytes(range(256)) * 10
        runs = json.loads(run_art("runs", "vision", "--json", env=env, cwd=work, check=True).stdout)
        mine = [r for r in runs if r["id"] == run_id]
        assert mine and mine[0]["state"] == "finished"
        lineage = run_art("lineage", "model:prod", "--project", "vision", env=env, cwd=work, check=True).stdout
        assert "data:v0" in lineage and run_id in lineage
        run_art("--project", "vision", "push", "model:v0", "--to", other.url, env=env, cwd=work, check=True)
        run_art("--store", other.url, "--project", "vision", "get", "model:v0", "-o", str(work / "pushed"),
                env=env, cwd=work, check=True)
        assert tree_of(work / "pushed") == tree_of(work / "out")

        # the server stamped bob on what bob wrote: the run, the version, the alias move
        store = open_store(backing)
        assert store.read_record(f"projects/vision/runs/{run_id}/run.json")["by"] == "bob"
        assert store.read_record("projects/vision/artifacts/model/versions/00000000.json")["by"] == "bob"
        history = json.loads(run_art("--project", "vision", "alias", "model", "prod", "--history", "--json",
                                     env=env, cwd=work, check=True).stdout)
        assert [m["by"] for m in history] == ["bob"]
        import arty

        assert arty.Api(store=backing).run(f"vision/{run_id}").user == "bob"
        assert len(arty.Api(store=backing).run(f"vision/{run_id}").history()) == 50

        # refused, and nothing written: a read-only key adding, a write key on another project,
        # a write key moving a protected alias or deleting, an unknown key
        run_art("server", "protect", "vision", "model:prod", "--store", backing, check=True)
        before = _projects_tree(backing)
        blobs_before = set(tree_of(os.path.join(backing, "objects")))
        more = make_tree(work / "more", {"c.txt": "new data"})
        refused = [
            ({"ARTY_API_KEY": carol}, ("add", more, "--type", "dataset", "--project", "vision")),
            ({}, ("add", more, "--type", "dataset", "--project", "secret")),
            ({}, ("--project", "vision", "alias", "model:v1", "prod")),
            ({}, ("--project", "vision", "alias", "--delete", "model", "prod")),
            ({}, ("--project", "vision", "rm", "data:v0")),
            ({"ARTY_API_KEY": "arty_0123456789abcdef_" + "x" * 43}, ("runs", "vision")),
        ]
        for extra, args in refused:
            proc = run_art(*args, env={**env, **extra}, cwd=work)
            assert proc.returncode != 0, (args, proc.stdout)
            assert "permission denied" in proc.stderr or "401" in proc.stderr or "403" in proc.stderr, proc.stderr
            assert "Traceback" not in proc.stderr
        assert _projects_tree(backing) == before
        assert set(tree_of(os.path.join(backing, "objects"))) == blobs_before
    assert run_art("--store", backing, "verify", check=True).returncode == 0
    assert run_art("--store", other_backing, "verify", check=True).returncode == 0


LOGIN_SCRIPT = textwrap.dedent("""
    import sys, arty
    url, key = sys.argv[1], sys.argv[2]
    try:
        arty.login(key="arty_0123456789abcdef_" + "x" * 43, host=url, verify=True)
    except arty.StorePermissionDenied as exc:
        print("refused:", exc.message)
    assert arty.login(key=key, host=url, verify=True) is True
    run = arty.init(project="vision", name="from-login")
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)})
    run.finish()
    print(run.id)
""")


def test_arty_login_is_wandb_login_for_a_team_server(tmp_path):
    backing = str(tmp_path / "backing")
    init_store(backing)
    bob = _key(backing, "users", "add", "bob")
    run_art("server", "grant", "bob", "vision", "--role", "write", "--store", backing, check=True)
    creds = tmp_path / "config" / "credentials.json"
    (tmp_path / "train.py").write_text(LOGIN_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("ARTY_STORE", "ARTY_API_KEY")}
    env["ARTY_CREDENTIALS"] = str(creds)
    with ArtServer(backing) as server:
        proc = subprocess.run([sys.executable, "train.py", server.url, bob], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    refused, run_id = proc.stdout.splitlines()[0], proc.stdout.split()[-1]
    assert refused.startswith("refused:") and "x" * 43 not in refused
    saved = json.loads(creds.read_text())
    assert list(saved["keys"].values()) == [bob] and os.stat(creds).st_mode & 0o777 == 0o600
    store = open_store(backing)
    assert store.read_record(f"projects/vision/runs/{run_id}/run.json")["by"] == "bob"
    import arty

    assert len(arty.Api(store=backing).run(f"vision/{run_id}").history()) == 5
