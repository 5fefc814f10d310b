"""Users, keys, roles and sessions of the server, over real HTTP (uvicorn in a thread, or the
real ``art server`` process): every refusal is a JSON 401/403 that writes nothing."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the server tests need the server extra (pip install -e '.[test]')")
pytest.importorskip("uvicorn", reason="the server tests need the server extra (pip install -e '.[test]')")
requests = pytest.importorskip("requests")

import runrecords as rr  # noqa: E402
import ui_helpers as ui  # noqa: E402
from arty.artifacts import Artifact, Registry  # noqa: E402
from arty.hashing import StatCache  # noqa: E402
from arty.server.accounts import Accounts  # noqa: E402
from conftest import make_tree, run_art  # noqa: E402

P, Q = "vision", "other"


def snapshot(store) -> dict[str, bytes]:
    """Every file of the store but blobs and the caches: what a refused request must not change."""
    root = store.backend.root if hasattr(store.backend, "root") else store.url
    out = {}
    for top in ("projects", "journal", "auth", "leases"):
        base = os.path.join(root, top)
        for folder, _, files in os.walk(base):
            for f in files:
                path = os.path.join(folder, f)
                with open(path, "rb") as fh:
                    out[os.path.relpath(path, root)] = fh.read()
    return out


@pytest.fixture
def team(local_store, tmp_path):
    """Two projects with a run each, an artifact with two versions (``prod`` protected), and
    users: alice (server admin), bob (write on vision), carol (read on vision), dave (write on
    other); returns their keys and what the tests need."""
    store = local_store
    reg = Registry(store, P, StatCache(":memory:"))
    reg.log(Artifact("model", type="model").add_dir(make_tree(tmp_path / "a", {"w.bin": "1"})), aliases=["prod"])
    reg.log(Artifact("model", type="model").add_dir(make_tree(tmp_path / "b", {"w.bin": "2"})), aliases=["staging"])
    run = rr.finished_run(store, P, config={"lr": 0.1})
    other = rr.finished_run(store, Q, config={"x": 1})
    accounts = Accounts(store, ttl=0)
    keys = {}
    for name, admin in (("alice", True), ("bob", False), ("carol", False), ("dave", False)):
        keys[name] = accounts.add_user(name, admin=admin)[1]
    accounts.grant("bob", P, "write")
    accounts.grant("carol", P, "read")
    accounts.grant("dave", Q, "write")
    accounts.protect(P, "model", "prod")
    return {"store": store, "keys": keys, "run": run, "other": other, "accounts": accounts}


@pytest.fixture
def server(team):
    srv = ui.ServerThread(team["store"], auth_ttl=0.5).start()
    yield srv
    srv.stop()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def error_of(resp, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "hint"} and body["error"]
    return body["error"]


def test_no_wrong_or_revoked_key_is_401_and_writes_nothing(team, server):
    url = f"{server.url}/api/projects/{P}/runs/{team['run']}"
    before = snapshot(team["store"])
    assert "requires a key" in error_of(requests.get(url, timeout=10), 401)
    assert "requires a key" in error_of(requests.patch(url, json={"notes": "x"}, timeout=10), 401)
    wrong = team["keys"]["bob"][:-4] + "AAAA"
    for bad in (wrong, "arty_0000000000000000_nope", "not a key", team["keys"]["bob"] + "x"):
        assert "invalid or revoked key" in error_of(requests.patch(url, json={"notes": "x"}, headers=bearer(bad),
                                                                   timeout=10), 401)
        error_of(requests.get(url, headers={"X-Arty-Token": bad}, timeout=10), 401)
    bob_id = team["accounts"].keys("bob")[0].key_id
    assert requests.get(url, headers=bearer(team["keys"]["bob"]), timeout=10).status_code == 200
    team["accounts"].revoke_key(bob_id)
    revoked_at = snapshot(team["store"])
    assert set(revoked_at) - set(before) == {f"auth/revoked/{bob_id}.json"}

    deadline = time.monotonic() + 0.5 + 2.0  # the server's cache lasts 0.5 s
    while requests.get(url, headers=bearer(team["keys"]["bob"]), timeout=10).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key still works after the cache's time"
        threading.Event().wait(0.05)
    error_of(requests.patch(url, json={"notes": "x"}, headers=bearer(team["keys"]["bob"]), timeout=10), 401)
    assert snapshot(team["store"]) == revoked_at  # nothing written by any refused request
    # a disabled user's keys stop working too
    team["accounts"].disable_user("carol")
    deadline = time.monotonic() + 2.5
    while requests.get(url, headers=bearer(team["keys"]["carol"]), timeout=10).status_code != 401:
        assert time.monotonic() < deadline
        threading.Event().wait(0.05)


def test_roles_are_checked_per_project_and_refusals_write_nothing(team, server):
    keys, store = team["keys"], team["store"]
    run_url = f"{server.url}/api/projects/{P}/runs/{team['run']}"
    art = f"{server.url}/api/projects/{P}/artifacts/model"
    before = snapshot(store)
    # a read-only key writing
    assert requests.get(run_url, headers=bearer(keys["carol"]), timeout=10).status_code == 200
    assert "no 'write' role on project 'vision'" in error_of(
        requests.patch(run_url, json={"notes": "x"}, headers=bearer(keys["carol"]), timeout=10), 403)
    error_of(requests.post(f"{art}/aliases", json={"alias": "staging", "version": "v0"},
                           headers=bearer(keys["carol"]), timeout=10), 403)
    # a write key on another project: neither reads nor writes here
    error_of(requests.get(run_url, headers=bearer(keys["dave"]), timeout=10), 403)
    error_of(requests.patch(run_url, json={"notes": "x"}, headers=bearer(keys["dave"]), timeout=10), 403)
    # a write key moving a protected alias, removing it, or deleting a version
    assert "no 'admin' role" in error_of(requests.post(f"{art}/aliases", json={"alias": "prod", "version": "v1"},
                                                       headers=bearer(keys["bob"]), timeout=10), 403)
    error_of(requests.delete(f"{art}/aliases/prod", headers=bearer(keys["bob"]), timeout=10), 403)
    error_of(requests.delete(f"{art}/v0", headers=bearer(keys["bob"]), timeout=10), 403)
    error_of(requests.put(f"{server.url}/api/projects/{P}/members/carol", json={"role": "admin"},
                          headers=bearer(keys["bob"]), timeout=10), 403)
    error_of(requests.post(f"{server.url}/api/users", json={"name": "eve"}, headers=bearer(keys["bob"]),
                           timeout=10), 403)
    assert snapshot(store) == before
    # what the roles do allow, stamped with the user
    ok = requests.patch(run_url, json={"notes": "by bob"}, headers=bearer(keys["bob"]), timeout=10)
    assert ok.status_code == 200 and ok.json()["notes"] == "by bob"
    edits = store.log_records(f"projects/{P}/runs/{team['run']}/edits")
    assert edits[-1][1]["by"] == "bob"
    moved = requests.post(f"{art}/aliases", json={"alias": "staging", "version": "v0"}, headers=bearer(keys["bob"]),
                          timeout=10)
    assert moved.status_code == 200 and moved.json()["aliases"]["staging"] == "v0"
    reg = Registry(store, P)
    assert reg.alias_history("model", "staging")[-1]["by"] == "bob"
    assert requests.post(f"{art}/aliases", json={"alias": "prod", "version": "v1"}, headers=bearer(keys["alice"]),
                         timeout=10).json()["aliases"]["prod"] == "v1"
    assert reg.alias_history("model", "prod")[-1]["by"] == "alice"
    gone = requests.delete(f"{art}/v0", headers=bearer(keys["alice"]), timeout=10)
    assert gone.status_code == 200 and reg.versions("model") == [1]
    assert store.read_record(f"projects/{P}/artifacts/model/deleted/0.json")["by"] == "alice"


def test_projects_lists_only_what_the_caller_may_read(team, server):
    def names(key):
        resp = requests.get(f"{server.url}/api/projects", headers=bearer(key), timeout=10)
        assert resp.status_code == 200, resp.text
        return {p["name"] for p in resp.json()}
    assert names(team["keys"]["dave"]) == {Q}
    assert names(team["keys"]["carol"]) == {P}
    assert names(team["keys"]["alice"]) == {P, Q}
    error_of(requests.get(f"{server.url}/api/projects", timeout=10), 401)
    # store-wide reads need a role somewhere; whoami says who and where
    me = requests.get(f"{server.url}/api/whoami", headers=bearer(team["keys"]["dave"]), timeout=10).json()
    assert me["name"] == "dave" and me["admin"] is False and me["roles"] == {Q: "write"}
    nobody = requests.get(f"{server.url}/api/whoami", timeout=10).json()
    assert nobody["name"] == "anonymous" and nobody["logged_in"] is False and nobody["roles"] == {}


def test_keys_are_listed_without_secrets_and_stored_as_hashes(team, server):
    keys, store = team["keys"], team["store"]
    made = requests.post(f"{server.url}/api/users/bob/keys", json={"label": "ci"}, headers=bearer(keys["alice"]),
                         timeout=10)
    assert made.status_code == 201
    new_key = made.json()["key"]
    assert re.fullmatch(r"arty_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", new_key)
    listed = requests.get(f"{server.url}/api/users/bob/keys", headers=bearer(keys["alice"]), timeout=10)
    cli = run_art("server", "keys", "list", "--store", store.url, "--json", check=True)
    text = listed.text + cli.stdout + run_art("server", "keys", "list", "--store", store.url, check=True).stdout
    assert {k["label"] for k in listed.json()} == {"first key", "ci"}
    everything = b"".join(snapshot(store).values()).decode()
    for key in (new_key, *keys.values()):
        secret = key.split("_", 2)[2]
        assert secret not in text and secret not in everything
        assert key.split("_")[1] in text  # the ids are listed
    # the new key works; revoking it through the API lists it as revoked
    assert requests.get(f"{server.url}/api/whoami", headers=bearer(new_key), timeout=10).json()["name"] == "bob"
    revoked = requests.delete(f"{server.url}/api/keys/{made.json()['id']}", headers=bearer(keys["alice"]), timeout=10)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True


def test_two_servers_on_one_store_share_users_and_revocations(team):
    a = ui.ServerThread(team["store"].url, auth_ttl=0.5).start()
    b = ui.ServerThread(team["store"].url, auth_ttl=0.5).start()
    try:
        admin = bearer(team["keys"]["alice"])
        made = requests.post(f"{a.url}/api/users", json={"name": "erin"}, headers=admin, timeout=10)
        assert made.status_code == 201, made.text
        erin = made.json()["key"]
        granted = requests.put(f"{a.url}/api/projects/{P}/members/erin", json={"role": "read"}, headers=admin,
                               timeout=10)
        assert granted.json() == {"bob": "write", "carol": "read", "erin": "read"}
        url = f"{b.url}/api/projects/{P}/runs"
        deadline = time.monotonic() + 2.5
        while requests.get(url, headers=bearer(erin), timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "server b does not see the user made on server a"
            threading.Event().wait(0.05)
        key_id = erin.split("_")[1]
        assert requests.delete(f"{a.url}/api/keys/{key_id}", headers=admin, timeout=10).status_code == 200
        revoked = time.monotonic()
        while requests.get(url, headers=bearer(erin), timeout=10).status_code != 401:
            assert time.monotonic() - revoked < 2.5, "server b still takes a key revoked on server a"
            threading.Event().wait(0.05)
    finally:
        a.stop()
        b.stop()


def test_session_cookie_and_csrf(team):
    srv = ui.ServerThread(team["store"], auth_ttl=0.2, trust_proxy=True).start()
    try:
        s = requests.Session()
        assert error_of(s.post(f"{srv.url}/api/session", json={"key": "arty_0000000000000000_x"}, timeout=10), 401)
        login = s.post(f"{srv.url}/api/session", json={"key": team["keys"]["bob"]}, timeout=10)
        assert login.status_code == 200 and login.json()["name"] == "bob"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/" in cookie
        assert "Secure" not in cookie
        behind_tls = requests.post(f"{srv.url}/api/session", json={"key": team["keys"]["bob"]},
                                   headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert "Secure" in behind_tls.headers["set-cookie"]
        assert team["keys"]["bob"].split("_", 2)[2] not in cookie
        csrf = login.json()["csrf"]
        assert csrf and s.get(f"{srv.url}/api/whoami", timeout=10).json()["csrf"] == csrf
        url = f"{srv.url}/api/projects/{P}/runs/{team['run']}"
        assert s.get(url, timeout=10).status_code == 200  # reads with the cookie alone
        before = snapshot(team["store"])
        assert "CSRF" in error_of(s.patch(url, json={"notes": "x"}, timeout=10), 403)
        assert "CSRF" in error_of(s.patch(url, json={"notes": "x"}, headers={"X-Arty-CSRF": "forged"}, timeout=10), 403)
        assert snapshot(team["store"]) == before
        ok = s.patch(url, json={"notes": "from the ui"}, headers={"X-Arty-CSRF": csrf}, timeout=10)
        assert ok.status_code == 200 and ok.json()["notes"] == "from the ui"
        # a forged cookie is refused; revoking the key ends the session
        forged = requests.get(url, cookies={"arty_session": s.cookies["arty_session"][:-3] + "AAA"}, timeout=10)
        error_of(forged, 401)
        team["accounts"].revoke_key(team["accounts"].keys("bob")[0].key_id)
        deadline = time.monotonic() + 2.0
        while s.get(url, timeout=10).status_code != 401:
            assert time.monotonic() < deadline, "a session outlives its revoked key"
            threading.Event().wait(0.05)
        out = s.delete(f"{srv.url}/api/session", timeout=10)
        assert out.status_code == 200 and "arty_session" not in s.cookies
    finally:
        srv.stop()


def test_the_legacy_token_is_a_server_admin(team):
    srv = ui.ServerThread(team["store"], token="s3cret-token").start()
    try:
        url = f"{srv.url}/api/projects/{P}/runs/{team['run']}"
        ok = requests.patch(url, json={"notes": "by token"}, headers=bearer("s3cret-token"), timeout=10)
        assert ok.status_code == 200
        assert team["store"].log_records(f"projects/{P}/runs/{team['run']}/edits")[-1][1]["by"] == "token"
        error_of(requests.get(url, timeout=10), 401)  # with users, reads need a key too
    finally:
        srv.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_art_server_public_read_and_no_key_in_its_output(team):
    keys = team["keys"]
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "arty", "server", "--store", team["store"].url, "--port", str(port),
                             "--public-read", P], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                resp = requests.get(f"{base}/api/projects", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "art server did not start"
                threading.Event().wait(0.1)
        assert resp.status_code == 200 and [p["name"] for p in resp.json()] == [P]
        assert requests.get(f"{base}/api/projects/{P}/runs", timeout=10).status_code == 200
        error_of(requests.get(f"{base}/api/projects/{Q}/runs", timeout=10), 401)
        error_of(requests.patch(f"{base}/api/projects/{P}/runs/{team['run']}", json={"notes": "x"}, timeout=10), 401)
        # every kind of credential, good and bad, in headers and in a login
        revoked = team["accounts"].create_key("bob", label="old")[0]
        team["accounts"].revoke_key(revoked.split("_")[1])
        for key in (keys["bob"], keys["alice"], revoked, keys["bob"][:-3] + "xyz"):
            requests.get(f"{base}/api/projects/{Q}/runs", headers=bearer(key), timeout=10)
            requests.patch(f"{base}/api/projects/{P}/runs/{team['run']}", json={"notes": "x"},
                           headers={"X-Arty-Token": key}, timeout=10)
            requests.post(f"{base}/api/session", json={"key": key}, timeout=10)
            requests.post(f"{base}/api/session", data=b'{"key": "' + key.encode() + b'"', timeout=10)  # bad JSON
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "keys required; public reads: vision" in err
    for key in (keys["bob"], keys["alice"], revoked):
        secret = key.split("_", 2)[2]
        assert secret not in out and secret not in err


def test_open_store_stays_open_and_bad_user_names_are_refused(local_store):
    rr.finished_run(local_store, P)
    srv = ui.ServerThread(local_store).start()
    try:
        assert requests.get(f"{srv.url}/api/projects/{P}/runs", headers=bearer("anything"), timeout=10
                            ).status_code == 200
        me = requests.get(f"{srv.url}/api/whoami", timeout=10).json()
        assert me["name"] == "anonymous" and me["open"] is True and me["roles"] == {P: "admin"}
        error_of(requests.post(f"{srv.url}/api/session", json={"key": "x"}, timeout=10), 400)
    finally:
        srv.stop()
    for bad in ("token", "anonymous", "Bob", "../x", "a" * 65, ""):
        proc = run_art("server", "users", "add", bad, "--store", local_store.url)
        assert proc.returncode == 2 and "error: invalid user name" in proc.stderr, proc.stderr
    assert not os.path.exists(os.path.join(local_store.url, "auth"))
