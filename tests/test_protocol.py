"""The store protocol against real ``art server`` processes (tests/art_servers.py): clients that
know only ``ARTY_STORE=http://127.0.0.1:PORT``, bad and hostile uploads, several servers on one
backing store, a server killed mid-upload, a run whose server goes away. Nothing is mocked: the
servers are the real command, the clients real processes or the library, the backing stores a
local folder or the S3 test server.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from arty.errors import IntegrityError, StorePermissionDenied
from arty.hashing import hash_bytes
from arty.store import Store, init_store, open_backend, open_store
from arty.store import layout
from arty.store.http import HttpBackend
from art_servers import ArtServer
from conftest import make_tree, run_art, tree_of

API = "/api/store/v1"
TOKEN = "team-token-1234"


def _snapshot(root: str) -> dict[str, bytes]:
    return tree_of(root)


def _temps(root: str) -> list[str]:
    return [f for f in tree_of(root) if os.path.basename(f).startswith(".tmp-")]


@pytest.fixture
def backing(tmp_path):
    path = str(tmp_path / "backing")
    init_store(path)
    return path


@pytest.fixture
def served(backing):
    with ArtServer(backing) as server:
        yield server


@pytest.fixture
def locked(backing):
    """A server whose writes need the token (the token is the principal 'token', an admin)."""
    with ArtServer(backing, args=("--token", TOKEN)) as server:
        yield server


def _verify(url: str, env: dict[str, str] | None = None) -> None:
    proc = run_art("--store", url, "verify", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- bad and hostile input: refused, nothing half-written ---------------------------------------


def test_bad_uploads_and_paths_are_refused_and_nothing_is_written(served, backing):
    base = served.url + API
    before = _snapshot(backing)
    good, bad = b"the bytes we mean", b"other bytes entirely"
    d = hash_bytes(good, "xxh128")
    path = layout.blob(d)
    # a blob whose bytes do not match the digest in its path
    resp = requests.put(f"{base}/blob", params={"path": path}, data=bad, timeout=10)
    assert resp.status_code == 400 and "refused" in resp.json()["error"]
    assert resp.headers["X-Arty-Error"] == "integrity"
    # a batch with one bad blob among good ones: none is written
    frames = b""
    for i in range(5):
        data = f"good blob {i}".encode()
        frames += b"%d %s\n" % (len(data), layout.blob(hash_bytes(data, "xxh128")).encode()) + data
    frames += b"%d %s\n" % (len(bad), path.encode()) + bad
    resp = requests.post(f"{base}/blobs", data=frames, timeout=10)
    assert resp.status_code == 400
    # records: not JSON, not an object, not UTF-8, too large
    for body in (b"not json", b"[1, 2]", b'{"a": "\xff"}'):
        resp = requests.put(f"{base}/create", params={"path": "projects/p/runs/r/run.json"}, data=body, timeout=10)
        assert resp.status_code == 400, body
    big = json.dumps({"x": "a" * (1024 * 1024)}).encode()
    resp = requests.put(f"{base}/create", params={"path": "projects/p/runs/r/run.json"}, data=big, timeout=10)
    assert resp.status_code == 413
    # paths: traversal, absolute, backslash, empty parts, control characters, temp names, over-long
    for bad_path in ("projects/p/../q/x.json", "../store.json", "/etc/passwd", "projects\\p\\x.json",
                     "projects/p//x.json", "projects/p/x\x00.json", "projects/p/\n.json", "projects/p/.tmp-x",
                     "projects/" + "a" * 300 + "/x.json", "projects/p/" + "a/" * 600 + "x.json", "./store.json"):
        for method, endpoint in (("GET", "read"), ("PUT", "create"), ("DELETE", "file"), ("GET", "list")):
            resp = requests.request(method, f"{base}/{endpoint}", params={"path": bad_path}, data=b"{}", timeout=10)
            assert resp.status_code == 400, (bad_path, endpoint, resp.status_code, resp.text)
            assert "error" in resp.json()
    # paths the protocol never serves (users and keys live under auth/), and records outside projects
    for other in ("auth/users/alice.json", "x.json", "cache/index.sqlite"):
        for method, endpoint in (("GET", "read"), ("PUT", "create")):
            resp = requests.request(method, f"{base}/{endpoint}", params={"path": other}, data=b"{}", timeout=10)
            assert resp.status_code == 404 and "not served" in resp.json()["error"], other
    resp = requests.put(f"{base}/create", params={"path": path}, data=good, timeout=10)
    assert resp.status_code == 400  # a blob is uploaded, not created as a record
    resp = requests.put(f"{base}/write", params={"path": "projects/p/runs/r/run.json"}, data=b"{}", timeout=10)
    assert resp.status_code == 400  # records are never replaced
    assert requests.get(f"{base}/list", params={"path": ""}, timeout=10).json()["names"] == \
        ["leases", "objects", "store.json"]
    assert _snapshot(backing) == before
    _verify(backing)


def test_a_truncated_upload_writes_nothing(served, backing):
    before = _snapshot(backing)
    data = os.urandom(256 * 1024)
    path = layout.blob(hash_bytes(data, "xxh128"))
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(f"PUT {API}/blob?path={path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
                     f"Content-Length: {len(data)}\r\nContent-Type: application/octet-stream\r\n\r\n".encode())
        sock.sendall(data[:100_000])  # then the client goes away
    # the server notices the disconnect and removes what it received: wait for that, at most 10 s
    deadline = time.monotonic() + 10
    while _temps(backing) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _snapshot(backing) == before
    # the same upload, complete, is accepted
    resp = requests.put(f"{served.url}{API}/blob", params={"path": path}, data=data, timeout=10)
    assert resp.status_code == 200
    assert open_store(backing).read_blob(hash_bytes(data, "xxh128")) == data
    _verify(backing)


def test_the_client_maps_a_refused_blob_to_an_integrity_error(served, backing, tmp_path):
    store = open_store(served.url)
    d = hash_bytes(b"what the digest names", store.algorithm)
    with pytest.raises(IntegrityError, match="refused"):
        store.backend.write(layout.blob(d), b"something else")
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 5000)
    with pytest.raises(IntegrityError):
        store.backend.put_many([(str(src), layout.blob(d))])
    assert not open_store(backing).has_blob(d)


# -- who wrote it: the server stamps the user ---------------------------------------------------


def test_records_are_stamped_and_retried_creates_still_succeed(locked, backing):
    client = Store(HttpBackend(locked.url, key=TOKEN), open_store(backing).config)
    path = "projects/p/artifacts/a/aliases/prod/00000000.json"
    claimed = json.dumps({"alias": "prod", "by": "mallory", "version": 0}).encode()
    client.backend.create(path, claimed)
    stored = json.loads(open_backend(backing).read(path))
    assert stored["by"] == "token" and stored["version"] == 0  # not who the client claimed to be
    # the same create again (a retry whose first reply was lost): done, not a conflict
    client.backend.create(path, claimed)
    assert client.put_once(path, claimed) != "different"  # the server compares after stamping
    with pytest.raises(FileExistsError):
        client.backend.create(path, json.dumps({"alias": "prod", "by": "mallory", "version": 1}).encode())
    assert client.put_once(path, b'{"alias":"prod","version":1}') == "different"
    # create_record's nonce still recognises its own write; log_append stays contiguous
    seqs = [client.log_append("projects/p/notes", lambda n: {"n": n})[0] for _ in range(3)]
    assert seqs == [0, 1, 2]
    assert all(json.loads(open_backend(backing).read(f"projects/p/notes/{layout.seq_name(n)}"))
               ["by"] == "token" for n in seqs)
    # without the key: reads are open, writes refused with a hint to log in, nothing written
    anonymous = HttpBackend(locked.url, key="")
    assert anonymous.read(path) == open_backend(backing).read(path)
    with pytest.raises(StorePermissionDenied, match="token") as info:
        anonymous.create("projects/p/runs/r/run.json", b"{}")
    assert f"art login {locked.url}" in info.value.hint
    assert not open_backend(backing).exists("projects/p/runs/r/run.json")
    wrong = HttpBackend(locked.url, key="not-the-token")
    with pytest.raises(StorePermissionDenied, match="wrong token"):
        wrong.write(layout.blob(hash_bytes(b"x", "xxh128")), b"x")
    _verify(backing)


def test_an_open_server_keeps_the_clients_name(served, backing):
    HttpBackend(served.url).create("projects/p/x.json", b'{"by":"alice@laptop"}')
    assert json.loads(open_backend(backing).read("projects/p/x.json"))["by"] == "alice@laptop"


# -- everything through the server with only ARTY_STORE -------------------------------------------

SCRIPT = textwrap.dedent("""
    import sys, arty
    run = arty.init(project="vision", name="train", config={"lr": 0.1}, flush_interval=0.2)
    data = run.use_artifact("d:latest")
    for step in range(int(sys.argv[1])):
        run.log({"loss": 1.0 / (step + 1)})
        if step == int(sys.argv[1]) // 2:
            print("half", flush=True)
            sys.stdin.readline()
    with open("model.bin", "wb") as f:
        f.write(b"weights " + bytes(range(256)) * 10)
    run.log_artifact(arty.Artifact("model", type="model").add_file("model.bin"), aliases=["prod"])
    run.finish()
    print(run.id, flush=True)
""")


def test_commands_and_runs_work_through_the_server(served, backing, tmp_path):
    env = {"ARTY_STORE": served.url, "ARTY_PROJECT": "vision"}
    data = make_tree(tmp_path / "data", {"a.txt": "a" * 100, "sub/b.bin": os.urandom(3000)})
    run_art("add", data, "--type", "dataset", "--name", "d", env=env, check=True)
    run_art("get", "d:v0", "-o", str(tmp_path / "out"), env=env, check=True)
    assert tree_of(tmp_path / "out") == tree_of(data)
    (tmp_path / "train.py").write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(tmp_path / "train.py"), "20"], input="\n", env={**os.environ, **env},
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[-1]
    runs = json.loads(run_art("runs", "vision", "--json", env=env, check=True).stdout)
    mine = [r for r in runs if r["id"] == run_id]
    assert mine and mine[0]["state"] == "finished"
    lineage = run_art("lineage", "model:prod", env=env, check=True).stdout
    assert "d:v0" in lineage and run_id in lineage
    # the records on the backing store are complete: the index rebuilt from it agrees
    import arty

    api = arty.Api(store=backing)
    run = api.run(f"vision/{run_id}")
    assert run.state == "finished" and len(list(run.scan_history(keys=["loss"]))) == 20
    # push to another server, then everything verifies
    other_backing = str(tmp_path / "other")
    init_store(other_backing)
    with ArtServer(other_backing) as other:
        run_art("push", "model:v0", "--to", other.url, env=env, check=True)
        run_art("--store", other.url, "--project", "vision", "get", "model:v0", "-o", str(tmp_path / "m"),
                check=True)
    assert (tmp_path / "m" / "model.bin").read_bytes() == b"weights " + bytes(range(256)) * 10
    _verify(backing)
    _verify(other_backing)


# -- leases: gc on the server's store respects a client's lease -----------------------------------


def test_gc_on_the_backing_store_keeps_what_a_client_lease_names(served, backing):
    from arty.artifacts.gc import collect
    from arty.store.leases import WRITE, Lease

    client = open_store(served.url)
    d = client.put_bytes(b"not yet named by any record")
    old = time.time() - 10 * 86400
    os.utime(open_backend(backing).local_path(layout.blob(d)), (old, old))
    lease = Lease.take(client, WRITE, "test upload", blobs=[d])
    try:
        collect(open_store(backing), grace=0)
        assert open_store(backing).has_blob(d)
    finally:
        lease.release()
    assert open_backend(backing).list(layout.LEASES) == []
    collect(open_store(backing), grace=0)
    assert not open_store(backing).has_blob(d)


# -- several servers, several clients, one store --------------------------------------------------

WORKER = textwrap.dedent("""
    import os, sys, arty
    from arty.artifacts import Artifact
    i = int(sys.argv[1])
    for k in range(3):
        folder = f"w{i}-{k}"
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "f.txt"), "w") as f:
            f.write(f"worker {i} version {k}")
        v = arty.log_artifact(Artifact("shared", type="dataset").add_dir(folder), project="team", aliases=["best"])
    run = arty.init(project="team", name=f"w{i}", flush_interval=0.2)
    for step in range(30):
        run.log({"x": step})
    run.finish()
    print("ok", run.id, flush=True)
""")


def _workers(urls: list[str], n: int, env: dict[str, str], cwd) -> list[str]:
    (cwd / "worker.py").write_text(WORKER)
    procs = []
    for i in range(n):
        procs.append(subprocess.Popen([sys.executable, str(cwd / "worker.py"), str(i)], cwd=cwd, text=True,
                                      env={**os.environ, **env, "ARTY_STORE": urls[i % len(urls)]},
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        out.append(stdout.split()[-1])
    return out


def _check_team(backing_url: str, run_ids: list[str], n: int) -> None:
    store = open_store(backing_url)
    folder = layout.versions("team", "shared")
    assert store.log_seqs(folder) == list(range(3 * n))  # unique and contiguous
    contents = set()
    for seq in range(3 * n):
        contents.add(store.read_record(f"{folder}/{layout.seq_name(seq)}")["digest"])
    assert len(contents) == 3 * n
    moves = store.log_seqs(layout.alias("team", "shared", "best"))
    assert moves == list(range(3 * n))
    import arty

    api = arty.Api(store=store)
    for run_id in run_ids:
        run = api.run(f"team/{run_id}")
        assert run.state == "finished" and len(list(run.scan_history(keys=["x"]))) == 30


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_two_servers_on_one_store_accept_writes_at_once(kind, request, tmp_path):
    env: dict[str, str] = {}
    if kind == "local":
        backing_url = str(tmp_path / "backing")
    else:
        s3 = request.getfixturevalue("s3")
        backing_url = f"s3://{s3.make_bucket()}/store"
        env = s3.env()
    init_store(backing_url)
    n = 4
    with ArtServer(backing_url, env) as one, ArtServer(backing_url, env) as two:
        run_ids = _workers([one.url, two.url], n, {}, tmp_path)
    _check_team(backing_url, run_ids, n)
    _verify(backing_url, env)


# -- a server killed in the middle of uploads, and one that goes away during a run -----------------

ADDER = textwrap.dedent("""
    import os, sys, arty
    from arty.artifacts import Artifact
    i = int(sys.argv[1])
    folder = f"data{i}"
    os.makedirs(folder, exist_ok=True)
    for k in range(40):
        with open(os.path.join(folder, f"f{k}.bin"), "wb") as f:
            f.write(os.urandom(32 * 1024))
    with open(os.path.join(folder, "big.bin"), "wb") as f:
        f.write(os.urandom(6 * 1024 * 1024))
    v = arty.log_artifact(Artifact(f"data{i}", type="dataset").add_dir(folder), project="p")
    print("ok", flush=True)
""")


@pytest.mark.slow
def test_server_killed_mid_upload_clients_retry_nothing_lost(backing, tmp_path):
    server = ArtServer(backing).start()
    (tmp_path / "adder.py").write_text(ADDER)
    env = {**os.environ, "ARTY_STORE": server.url, "ARTY_HTTP_RETRIES": "10", "ARTY_HTTP_BACKOFF": "0.2"}
    objects_before = sum(1 for _ in open_store(backing).iter_blobs())
    procs = [subprocess.Popen([sys.executable, str(tmp_path / "adder.py"), str(i)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    try:
        deadline = time.monotonic() + 60
        while sum(1 for _ in open_store(backing).iter_blobs()) <= objects_before and time.monotonic() < deadline:
            time.sleep(0.02)  # until the first blobs arrive: the kill lands mid-upload
        server.kill()
        server.start()  # the same port: the clients' retries reach it
        for p in procs:
            stdout, stderr = p.communicate(timeout=240)
            assert p.returncode == 0, stderr
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.stop()
    store = open_store(backing)
    for i in range(8):
        assert store.log_seqs(layout.versions("p", f"data{i}")) == [0]
    _verify(backing)


OUTAGE = textwrap.dedent("""
    import sys, time, arty
    run = arty.init(project="vision", name="outage", flush_interval=0.1)
    for step in range(400):
        run.log({"loss": 1.0 / (step + 1)})
        if step in (99, 299):
            time.sleep(0.3)  # a flush interval or more: this part is uploaded (or tried) now
            print("at", step, flush=True)
            sys.stdin.readline()
    run.finish()
    print(run.id, flush=True)
""")


def test_a_run_whose_server_goes_away_finishes_and_every_point_arrives(served, backing, tmp_path):
    env = {**os.environ, "ARTY_STORE": served.url, "ARTY_HTTP_RETRIES": "1", "ARTY_HTTP_BACKOFF": "0.1",
           "ARTY_FINISH_TIMEOUT": "60"}
    (tmp_path / "outage.py").write_text(OUTAGE)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "outage.py")], cwd=tmp_path, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "at 99"
        served.stop()  # the server goes away in the middle of the run
        proc.stdin.write("\n")
        proc.stdin.flush()
        started = time.monotonic()
        assert proc.stdout.readline().strip() == "at 299"  # 200 more steps logged while it was down
        assert time.monotonic() - started < 5  # logging did not wait for the server
        served.start()  # back, on the same port
        proc.stdin.write("\n")
        proc.stdin.flush()
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    run_id = stdout.split()[-1]
    import arty

    run = arty.Api(store=backing).run(f"vision/{run_id}")
    assert run.state == "finished"
    assert [r["loss"] for r in run.scan_history(keys=["loss"])] == [1.0 / (s + 1) for s in range(400)]
    _verify(backing)


# -- art login -------------------------------------------------------------------------------------


def test_login_saves_the_key_0600_and_makes_the_server_the_default_store(locked, backing, tmp_path):
    creds = tmp_path / "config" / "credentials.json"
    env = {"ARTY_CREDENTIALS": str(creds)}
    bad = subprocess.run([sys.executable, "-m", "arty", "login", locked.url, "--key-stdin"], input="wrong\n",
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 4 and "refused the key" in bad.stderr
    assert not creds.exists()
    ok = subprocess.run([sys.executable, "-m", "arty", "login", locked.url + "/", "--key-stdin"], input=TOKEN + "\n",
                        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert TOKEN not in ok.stderr + ok.stdout
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    saved = json.loads(creds.read_text())
    assert saved == {"default": locked.url, "keys": {locked.url: TOKEN}}
    # no ARTY_STORE, no .arty folder: commands use the server, with the saved key for writes
    data = make_tree(tmp_path / "data", {"x.txt": "x"})
    run_art("add", data, "--type", "dataset", "--name", "logged", env=env, cwd=tmp_path, check=True)
    assert open_store(backing).log_seqs(layout.versions("default", "logged")) == [0]
    run_art("logout", locked.url, env=env, check=True)
    assert json.loads(creds.read_text()) == {"default": None, "keys": {}}
    refused = run_art("--store", locked.url, "add", data, "--type", "dataset", "--name", "other", env=env)
    assert refused.returncode == 4 and f"art login {locked.url}" in refused.stderr


def test_an_unreachable_server_is_store_unreachable(monkeypatch):
    from arty.errors import StoreUnreachable
    from servers import _free_port

    monkeypatch.setenv("ARTY_HTTP_RETRIES", "1")
    backend = HttpBackend(f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(StoreUnreachable, match="store unreachable"):
        backend.read("store.json")


PIPELINE = """
steps:
  make:
    cmd: python make.py {outputs.out}
    deps: [make.py]
    outputs:
      out: build/out.txt
"""


def test_sync_and_repro_work_through_the_server(served, backing, tmp_path):
    env = {"ARTY_STORE": served.url, "ARTY_PROJECT": "vision"}
    # an offline run, uploaded later by 'art sync'
    script = ("import arty\nrun = arty.init(project='vision', mode='offline')\n"
              "[run.log({'x': i}) for i in range(10)]\nrun.finish()\nprint(run.id)\n")
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[-1]
    assert not open_backend(backing).exists(f"projects/vision/runs/{run_id}/run.json")
    run_art("sync", env=env, cwd=tmp_path, check=True)
    import arty

    assert arty.Api(store=backing).run(f"vision/{run_id}").state == "finished"
    # a pipeline: the second repro reuses the first run's output from the run cache
    (tmp_path / "arty.yaml").write_text(PIPELINE)
    (tmp_path / "make.py").write_text("import sys\nopen(sys.argv[1], 'w').write('42')\n")
    first = run_art("repro", env=env, cwd=tmp_path, check=True)
    second = run_art("repro", env=env, cwd=tmp_path, check=True)
    assert open_store(backing).log_seqs(layout.versions("vision", "out")) == [0]
    assert "1 ran, 0 skipped" in first.stderr, first.stderr
    assert "0 ran, 1 skipped" in second.stderr, second.stderr
    _verify(backing)


def test_read_answers_a_range_with_206_and_only_those_bytes(served, backing):
    store = open_store(backing)
    big = os.urandom(3 * 1024 * 1024 + 5)  # past the size answered in one body: streamed
    d = store.put_bytes(big)
    url = served.url + API + "/read"
    path = layout.blob(d)

    def get(header):
        return requests.get(url, params={"path": path}, headers={"Range": header}, timeout=10)

    r = get("bytes=10-19")
    assert r.status_code == 206 and r.content == big[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(big)}"
    r = get("bytes=1000-")  # to the end, streamed
    assert r.status_code == 206 and r.content == big[1000:]
    r = get("bytes=-7")  # the last 7 bytes
    assert r.status_code == 206 and r.content == big[-7:]
    r = get(f"bytes={len(big)}-")
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(big)}"
    for bad in ("bytes=1-2,5-6", "items=1-2", "bytes=-"):
        assert get(bad).status_code == 416, bad
    r = requests.get(url, params={"path": layout.blob(hash_bytes(b"absent", store.algorithm))},
                     headers={"Range": "bytes=0-1"}, timeout=10)
    assert r.status_code == 404
    assert requests.get(url, params={"path": path}, timeout=10).content == big  # no Range: the whole file
    # the client asks for ranges and gets only those bytes
    assert HttpBackend(served.url).read_range(path, 5, 15) == big[5:15]
