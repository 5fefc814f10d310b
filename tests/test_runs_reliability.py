"""Runs under failure: a SIGKILLed training process, resume, a store that goes away mid-run,
several processes at once, and ``art sync`` run again and again.

Every wait here is on a condition with a deadline (a segment appearing in the store, a
process exiting), never a fixed sleep.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

import arty
from arty.errors import NotFound, UsageError
from arty.store import init_store, open_store, segments

from conftest import run_art
from test_runs import (  # noqa: F401 - _no_run_left_behind is an autouse fixture
    PROJECT,
    QUIET,
    _no_run_left_behind,
    events_of,
    read_run,
    run_base,
    store_files,
    store_snapshot,
    wait_for,
)

pytestmark = pytest.mark.slow

FLUSH = 0.2


@pytest.fixture
def store(local_store):
    return local_store


TRAIN_FOREVER = """
import sys, time
import arty
run = arty.init(project="p", store=sys.argv[1], id=sys.argv[2], config={"lr": 0.1}, flush_interval=FLUSH,
                console=False, system_metrics=False, code=False)
run.define_metric("loss", summary="min")
i = 0
while True:                                      # until SIGKILL
    run.log({"i": i, "loss": 1.0 / (i + 1)})
    i += 1
    if i % 10 == 0:
        time.sleep(0.001)                        # a training step takes time: segments follow the interval
""".replace("FLUSH", str(FLUSH))


def history_rows(store, run_id: str) -> list[dict]:
    base = run_base(PROJECT, run_id)
    names = sorted(n for n in store_files(store, f"{base}/history"))
    return [r for n in names for r in segments.rows_of(store.backend.read(f"{base}/history/{n}"))]


def local_rows(folder_root: str) -> list[dict]:
    hist = os.path.join(folder_root, "history")
    names = sorted(n for n in os.listdir(hist) if n.endswith(".json.gz")) if os.path.isdir(hist) else []
    out = []
    for n in names:
        with open(os.path.join(hist, n), "rb") as f:
            out += segments.rows_of(f.read())
    return out


def kill_a_training_run(tmp_path, store, run_id: str) -> dict:
    """Start TRAIN_FOREVER, SIGKILL it once the store holds 2 history segments; what was seen then."""
    script = tmp_path / "train_forever.py"
    script.write_text(TRAIN_FOREVER)
    proc = subprocess.Popen([sys.executable, str(script), store.url, run_id], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = run_base(PROJECT, run_id)
    try:
        def two_segments():
            if proc.poll() is not None:
                raise AssertionError(f"training exited early: {proc.stderr.read().decode()}")
            return len(store_files(store, f"{base}/history")) >= 2

        wait_for(two_segments, timeout=30, what="2 history segments in the store")
        rows_seen = len(history_rows(store, run_id))
    finally:
        proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return {"rows_seen": rows_seen, "killed_at": killed_at}


def test_a_sigkilled_run_keeps_its_history_up_to_the_last_flush(store, tmp_path):
    killed = kill_a_training_run(tmp_path, store, "killed-1")
    rec = read_run(store, PROJECT, "killed-1")
    assert rec.run is not None and rec.run["id"] == "killed-1"
    assert rec.final is None                                 # never finished: shown as crashed
    api_run = arty.Api(store=store.url).run(f"{PROJECT}/killed-1")
    assert api_run.state == "crashed"
    assert [r.id for r in arty.Api(store=store.url).runs(PROJECT, filters={"state": "crashed"})] == ["killed-1"]
    rows = rec.history
    assert len(rows) >= killed["rows_seen"] > 0
    assert [r["_step"] for r in rows] == list(range(len(rows)))      # no gap, no duplicate
    assert [r["i"] for r in rows] == list(range(len(rows)))
    # What was lost is at most about one flush interval of logging (plus the time one flush takes).
    lost_window = killed["killed_at"] - rows[-1]["_timestamp"]
    assert lost_window < FLUSH + 2.0, f"the store's history stops {lost_window:.2f} s before the kill"
    # The summary so far is recorded too (a crashed run still shows its best loss).
    snapshots = events_of(rec, "summary")
    assert snapshots and snapshots[-1]["summary"]["loss"] <= 1.0


@pytest.mark.parametrize("where", ["same machine", "store only"])
def test_resume_of_a_killed_run_continues_its_history_at_the_right_step(store, tmp_path, where):
    kill_a_training_run(tmp_path, store, "killed-2")
    folder = os.path.join(store.cache_dir(), "runs", PROJECT, "killed-2")
    assert os.path.isdir(folder)
    with pytest.raises(UsageError, match="already exists"):
        arty.init(store=store.url, project=PROJECT, id="killed-2", resume="never", **QUIET)
    with pytest.raises(UsageError, match="already exists"):
        arty.init(store=store.url, project=PROJECT, id="killed-2", **QUIET)

    stored = history_rows(store, "killed-2")
    if where == "store only":                  # another machine: nothing local, the store says where to go on
        shutil.rmtree(folder)
        expected_next = stored[-1]["_step"] + 1
    else:                                      # the local folder also has what the kill kept from the store
        expected_next = local_rows(folder)[-1]["_step"] + 1
        assert expected_next >= stored[-1]["_step"] + 1

    run = arty.init(store=store.url, project=PROJECT, id="killed-2", resume="must" if where == "store only"
                    else "allow", **QUIET)
    assert run.step == expected_next
    assert run.config.lr == 0.1
    run.define_metric("loss", summary="min")               # the same script, run again, defines it again
    for k in range(20):
        run.log({"i": expected_next + k, "loss": 5.0, "resumed": True})
    assert run.summary["i"] == expected_next + 19            # the summary goes on from the resumed rows
    assert run.summary["loss"] < 5.0                         # the minimum from before the kill still holds
    run.finish()

    rec = read_run(store, PROJECT, "killed-2")
    rows = rec.history
    steps = [r["_step"] for r in rows]
    assert steps == list(range(len(rows))), "steps are contiguous and none is duplicated"
    assert [r["i"] for r in rows] == steps
    resumed = [r["_step"] for r in rows if r.get("resumed")]
    assert resumed == list(range(expected_next, expected_next + 20))
    assert rec.final["state"] == "finished" and rec.final["steps"] == len(rows)
    assert rec.final["last_step"] == expected_next + 19
    assert rec.final["summary"]["i"] == expected_next + 19
    assert events_of(rec, "resume")
    again = arty.init(store=store.url, project=PROJECT, id="killed-2", resume="allow", **QUIET)
    assert again.step == expected_next + 20                  # a finished run resumes too, as in W&B
    again.finish()
    assert len(read_run(store, PROJECT, "killed-2").history) == len(rows)


def test_resume_must_never_and_allow(store):
    with pytest.raises(NotFound, match="not found"):
        arty.init(store=store.url, project=PROJECT, id="nobody", resume="must", **QUIET)
    with pytest.raises(UsageError, match="needs the id"):
        arty.init(store=store.url, project=PROJECT, resume="must", **QUIET)
    with pytest.raises(UsageError, match="invalid resume"):
        arty.init(store=store.url, project=PROJECT, id="x", resume="sometimes", **QUIET)
    assert store_files(store, "projects") == set()
    run = arty.init(store=store.url, project=PROJECT, id="fresh", resume="allow", **QUIET)   # new: started
    assert run.step == 0
    run.log({"a": 1})
    run.finish()
    assert read_run(store, PROJECT, "fresh").final["steps"] == 1


# -- the store fails mid-run -------------------------------------------------------------------------

class RestartableS3:
    """moto's S3 server in this process, restartable on the same port.

    The shared session server (tests/servers.py) runs in a child process whose state dies
    with it, and it cannot come back on the same port. Here the server runs in a thread of
    the test process: moto keeps buckets and objects in this process's memory, not in the
    server, so stopping the server and starting a new one on the same port is an outage
    and a recovery of one store whose contents survive, as with a real S3 endpoint.
    """

    def __init__(self) -> None:
        import servers

        servers._serialize_moto_writes()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = 0
        self.server = None
        self.endpoint = ""

    def start(self) -> "RestartableS3":
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        host, self.port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{self.port}"
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def env(self) -> dict[str, str]:
        import servers

        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": servers.S3_KEY,
                "AWS_SECRET_ACCESS_KEY": servers.S3_SECRET}


@pytest.fixture
def restartable_s3(monkeypatch):
    pytest.importorskip("moto.server", reason="needs moto[server]")
    s3fs = pytest.importorskip("s3fs")
    import servers

    server = RestartableS3().start()
    for var in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(var, raising=False)
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    bucket = servers.unique_bucket()
    s3fs.S3FileSystem(key=servers.S3_KEY, secret=servers.S3_SECRET, skip_instance_cache=True,
                      client_kwargs={"endpoint_url": server.endpoint}).mkdir(bucket)
    server.bucket = bucket
    yield server
    server.stop()


def test_the_store_fails_mid_run_training_goes_on_and_art_sync_completes_it(restartable_s3, capsys):
    server = restartable_s3
    url = f"s3://{server.bucket}/store"
    store = init_store(url)[0]
    run = arty.init(store=url, project=PROJECT, flush_interval=FLUSH, **QUIET)
    base = run_base(PROJECT, run.id)
    step = 0
    for _ in range(100):
        run.log({"i": step})
        step += 1
    wait_for(lambda: store_files(store, f"{base}/history"), what="a history segment in the store")

    server.stop()                                            # the outage
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.monotonic()
        for _ in range(100):
            run.log({"i": step})
            step += 1
        assert time.monotonic() - started < 1.0, "run.log waited on the store"
        wait_for(lambda: run._writer.store_error is not None, what="the writer to notice the outage")
        for _ in range(100):
            run.log({"i": step})
            step += 1
        run.finish()                                         # does not raise
    assert run.state == "finished"
    assert any("cannot reach the store" in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert "art sync" in capsys.readouterr().err
    assert os.path.exists(os.path.join(run.dir, "final.json"))                 # all of it is kept locally
    assert len(local_rows(run.dir)) == 300
    assert run.folder.pending()

    server.start()                                           # same port, same contents
    assert not store.exists(f"{base}/final.json")            # the store still shows the run unfinished
    proc = run_art("--store", url, "sync", env=server.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{PROJECT}/{run.id}: uploaded" in proc.stdout

    rec = read_run(store, PROJECT, run.id)
    assert rec.names == set(run.folder.files())
    assert [r["i"] for r in rec.history] == list(range(300))           # nothing lost, nothing duplicated
    assert [r["_step"] for r in rec.history] == list(range(300))
    assert rec.final["state"] == "finished" and rec.final["steps"] == 300
    before = store_snapshot(store)

    again = run_art("--store", url, "sync", env=server.env())
    assert again.returncode == 0 and again.stdout.strip() == "nothing to sync"
    assert store_snapshot(store) == before


# -- several processes at once ------------------------------------------------------------------------

TRAIN_AND_PUBLISH = """
import sys
import arty
run = arty.init(project="p", store=sys.argv[1], config={"worker": int(sys.argv[2])}, flush_interval=0.2,
                console=False, system_metrics=False, code=False)
print(run.id, flush=True)
for i in range(2000):
    run.log({"i": i, "worker": int(sys.argv[2])})
with open(f"model-{sys.argv[2]}.pt", "w") as f:
    f.write(f"weights of worker {sys.argv[2]}")
model = arty.Artifact("model", type="model")
model.add_file(f"model-{sys.argv[2]}.pt", name="model.pt")
run.log_artifact(model)
run.finish()
"""


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_several_processes_run_against_one_store_at_once(kind, tmp_path, request, env_for):
    if kind == "local":
        url = str(tmp_path / "store")
    else:
        url = f"s3://{request.getfixturevalue('s3').make_bucket()}/store"
    init_store(url)
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(TRAIN_AND_PUBLISH))
    env = dict(os.environ)
    env.update(env_for(url))
    procs = [subprocess.Popen([sys.executable, str(script), url, str(w)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    ids = [out.split()[0] for out, _err in outs]
    assert len(set(ids)) == 4

    store = open_store(url)
    registry = arty.registry(store, PROJECT)
    versions = set()
    for worker, run_id in enumerate(ids):
        rec = read_run(store, PROJECT, run_id)
        assert rec.final["state"] == "finished" and rec.final["steps"] == 2000
        assert [r["i"] for r in rec.history] == list(range(2000))
        assert {r["worker"] for r in rec.history} == {worker}
        assert rec.run["config"] == {"worker": worker}
        [out] = rec.outputs
        versions.add(out["version"])
        assert registry.version("model", out["version"]).created_by == run_id
    assert versions == {0, 1, 2, 3}


# -- art sync, again and again -------------------------------------------------------------------------

def test_art_sync_is_idempotent_even_when_its_own_bookkeeping_is_lost(store):
    run = arty.init(store=store.url, project=PROJECT, flush_interval=FLUSH, **QUIET)
    for i in range(500):
        run.log({"i": i})
    run.summary["done"] = True
    run.finish()
    before = store_snapshot(store)
    assert run_art("--store", store.url, "sync").stdout.strip() == "nothing to sync"

    # As if a process died between uploading records and noting them: everything looks pending.
    os.unlink(os.path.join(run.dir, ".synced"))
    proc = run_art("--store", store.url, "sync")
    assert proc.returncode == 0, proc.stderr
    assert f"{PROJECT}/{run.id}: uploaded {len(run.folder.files())} records" in proc.stdout
    assert store_snapshot(store) == before                   # identical records: nothing duplicated
    assert run_art("--store", store.url, "sync").stdout.strip() == "nothing to sync"

    # A local record that differs from the store's is a conflict, not an overwrite.
    os.unlink(os.path.join(run.dir, ".synced"))
    with open(os.path.join(run.dir, "final.json"), "w") as f:
        json.dump({"state": "tampered"}, f)
    proc = run_art("--store", store.url, "sync")
    assert proc.returncode != 0
    assert "conflicts with the store" in proc.stdout + proc.stderr
    assert store_snapshot(store) == before
