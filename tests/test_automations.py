"""Automations (docs/automations.md): events derived from the store's records with stable ids,
automation records, signed webhooks and the limits on their targets, at-least-once delivery by
a real ``art server`` killed with SIGKILL, ``art automation deliver`` and ``art watch``.

Receivers are small HTTP servers the tests start on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import arty
from arty.artifacts import Artifact, Registry
from arty.automations import records, webhook
from arty.automations.deliver import Deliverer
from arty.automations.events import parse_on
from arty.automations.follow import Follower, events_of
from arty.errors import UsageError
from arty.hashing import StatCache
from arty.index.records import parse_time
from arty.store import init_store, open_store
from conftest import make_tree, run_art
from runrecords import finish, this_host, write_run

def art(*args: str):
    """The ``art`` CLI in this process."""
    from click.testing import CliRunner

    from arty.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


ALL = ("version.created", "alias.moved", "run.finished", "run.failed", "run.crashed", "alert")


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST; ``behave(handler)`` answers it
    (default: 200 ``ok``)."""

    def __init__(self, behave=None) -> None:
        self.requests: list[dict] = []
        self.got = threading.Event()
        self.behave = behave
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                outer.got.set()
                if outer.behave is not None:
                    outer.behave(self)
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def ids(self) -> list[str]:
        return [r["headers"]["X-Arty-Event-Id"] for r in self.requests]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _model(store, tmp_path, project="default", content="weights") -> Registry:
    reg = Registry(store, project, StatCache(":memory:"))
    reg.log(Artifact("model", type="model").add_dir(make_tree(tmp_path / f"m-{content}", {"w.bin": content})))
    return reg


def _until(cond, timeout: float = 20.0, step: float = 0.05):
    """Wait for ``cond()`` to be true (a result another process or thread produces)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(step)
    raise AssertionError("timed out waiting")


def _deliveries(store, automation):
    return records.deliveries(store, automation["project"], automation["id"])


# -- events -------------------------------------------------------------------------------------

def test_events_come_from_the_records_with_stable_ids(local_store, tmp_path, monkeypatch):
    from arty.server.accounts import Accounts

    store = local_store
    follower = Follower(store)
    reg = _model(store, tmp_path)
    Accounts(store, ttl=0).protect("default", "model", "prod")
    reg.set_alias("model", 0, "prod")
    reg.set_alias("model", 0, "staging")
    failed = write_run(store, name="bad")
    finish(store, "default", failed, state="failed", exit_code=1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    crashed = write_run(store, name="lost", host=this_host(), pid=dead.pid)
    monkeypatch.setenv("ARTY_STORE", store.url)
    run = arty.init(project="default", name="good")
    run.alert("loss is nan", "at step 7", level="ERROR")
    run.finish()

    events = events_of(store, follower.poll(), ALL)
    by_type = {}
    for e in events:
        by_type.setdefault(e["type"], []).append(e)
    assert [e["version"] for e in by_type["version.created"]] == [0]
    assert {e["alias"]: e["protected"] for e in by_type["alias.moved"]} == {"prod": True, "staging": False}
    assert by_type["alias.moved"][0]["by"] and by_type["alias.moved"][0]["at"]
    assert [(e["run"], e["exit_code"]) for e in by_type["run.failed"]] == [(failed, 1)]
    assert [e["name"] for e in by_type["run.finished"]] == ["good"]
    assert [(e["title"], e["text"], e["level"]) for e in by_type["alert"]] == [("loss is nan", "at step 7", "ERROR")]
    # the same records give the same ids, to any reader, at any time
    again = events_of(open_store(store.url), Follower(store).poll(), ALL)
    assert [e["id"] for e in again] == [e["id"] for e in events]
    assert len({e["id"] for e in events}) == len(events)

    from arty.automations.events import crashed_runs
    from arty.index import Index

    with Index(store, path=str(tmp_path / "i1.sqlite")) as i1, Index(store, path=str(tmp_path / "i2.sqlite")) as i2:
        first, second = crashed_runs(store, i1, ["default"]), crashed_runs(store, i2, ["default"])
    assert [e["run"] for e in first] == [crashed] and first[0]["type"] == "run.crashed"
    assert [e["id"] for e in first] == [e["id"] for e in second]


def test_triggers_parse_and_filter():
    moved = {"type": "alias.moved", "artifact": "model", "alias": "prod"}
    assert parse_on("alias:prod").matches(moved)
    assert parse_on("alias:model:prod").matches(moved)
    assert not parse_on("alias:data:prod").matches(moved)
    assert not parse_on("alias:staging").matches(moved)
    assert parse_on("*").matches(moved) and not parse_on("version").matches(moved)
    assert parse_on("alert:error").matches({"type": "alert", "level": "ERROR", "title": "x"})
    assert parse_on("run").matches({"type": "run.crashed", "run": "abc", "name": "n"})
    for bad in ("deploy", "alias:", "*:x"):
        with pytest.raises(UsageError):
            parse_on(bad)


# -- automation records, secrets ----------------------------------------------------------------------

@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/hook", "gopher://x", "http://", "localhost/hook"])
def test_add_refuses_a_webhook_that_is_not_http(local_store, url):
    proc = art("--store", local_store.url, "automation", "add", "--on", "alias:prod", "--webhook", url)
    assert proc.exit_code == 2, proc.output
    assert "error: webhook URL" in proc.stderr and "hint:" in proc.stderr
    assert records.list_automations(local_store) == []


def test_the_secret_is_shown_once_and_never_again(local_store, tmp_path):
    from fastapi.testclient import TestClient

    from arty.server import create_app

    proc = art("--store", local_store.url, "automation", "add", "--on", "version", "--webhook",
               "https://ci.example.com/hook")
    secret = proc.stdout.split("give it to the receiver now): ")[1].strip()
    assert secret.startswith("whsec_") and len(secret) > 30
    automation = records.list_automations(local_store)[0]
    assert records.secret_of(local_store, "default", automation["id"]) == secret  # kept, for signing
    shown = [art("--store", local_store.url, "automation", "ls").stdout,
             art("--store", local_store.url, "automation", "ls", "--json").stdout,
             art("--store", local_store.url, "automation", "log", automation["id"], "--json").stdout]
    with TestClient(create_app(local_store), base_url="http://127.0.0.1:8080") as c:
        shown.append(c.get("/api/projects/default/automations").text)
        shown.append(c.get(f"/api/projects/default/automations/{automation['id']}/deliveries").text)
        shown.append(c.get("/p/default/automations").text)
        for rel in ("pages/automations.js", "app.js"):
            shown.append(c.get(f"/static/{rel}").text)
        # the store protocol does not serve automations/ at all
        for path in ("automations", f"automations/default/{automation['id']}/secret.json"):
            r = c.get("/api/store/v1/read", params={"path": path})
            assert r.status_code == 404
            shown.append(r.text)
        added = c.post("/api/projects/default/automations", json={"on": "alias:prod", "webhook": "http://127.0.0.1:1/h"})
        assert added.status_code == 200 and added.json()["secret"].startswith("whsec_")
        second = added.json()["secret"]
        shown.append(c.get("/api/projects/default/automations").text)
    assert automation["id"] in shown[0] and automation["id"] in shown[3]
    for text in shown:
        assert secret not in text and second not in text


def test_api_needs_the_project_admin_role(local_store):
    from fastapi.testclient import TestClient

    from arty.server import create_app
    from arty.server.accounts import Accounts

    accounts = Accounts(local_store, ttl=0)
    _, admin_key = accounts.add_user("ana", admin=False)
    _, writer_key = accounts.add_user("bob", admin=False)
    accounts.grant("ana", "default", "admin")
    accounts.grant("bob", "default", "write")
    body = {"on": "alias:prod", "webhook": "https://ci.example.com/hook"}
    with TestClient(create_app(local_store), base_url="http://127.0.0.1:8080") as c:
        as_bob = {"Authorization": f"Bearer {writer_key}"}
        assert c.post("/api/projects/default/automations", json=body, headers=as_bob).status_code == 403
        assert c.get("/api/projects/default/automations", headers=as_bob).status_code == 403
        as_ana = {"Authorization": f"Bearer {admin_key}"}
        added = c.post("/api/projects/default/automations", json=body, headers=as_ana)
        assert added.status_code == 200
        automation = added.json()["automation"]
        assert automation["by"] == "ana"
        bad = c.post("/api/projects/default/automations", json={**body, "webhook": "file:///etc/passwd"}, headers=as_ana)
        assert bad.status_code == 400 and "not http(s)" in bad.json()["error"]
        assert c.delete(f"/api/projects/default/automations/{automation['id']}", headers=as_bob).status_code == 403
        assert c.delete(f"/api/projects/default/automations/{automation['id']}", headers=as_ana).status_code == 200
        assert c.get("/api/projects/default/automations", headers=as_ana).json() == []


# -- webhooks -------------------------------------------------------------------------------------------

def test_a_webhook_is_signed_and_the_receiver_can_verify_it(local_store, tmp_path, receiver):
    automation, secret = records.add(local_store, "default", "alias:prod", webhook=receiver.url)
    reg = _model(local_store, tmp_path)
    reg.set_alias("model", 0, "staging")  # not matched
    reg.set_alias("model", 0, "prod")
    counts = Deliverer(local_store, state_dir=str(tmp_path / "d")).run_once()
    assert counts["delivered"] == 1
    [req] = receiver.requests
    event = json.loads(req["body"])
    assert event["type"] == "alias.moved" and event["alias"] == "prod" and event["ref"] == "default/model:v0"
    assert req["headers"]["X-Arty-Event-Id"] == event["id"]
    assert webhook.verify(secret, req["body"], req["headers"]["X-Arty-Signature"])
    assert not webhook.verify(secret, req["body"] + b" ", req["headers"]["X-Arty-Signature"])
    assert not webhook.verify("another-secret-of-some-length", req["body"], req["headers"]["X-Arty-Signature"])
    [d] = _deliveries(local_store, automation)
    assert d["state"] == "delivered" and [a["status"] for a in d["attempts"]] == [200]


def test_a_slow_receiver_times_out(local_store, tmp_path, monkeypatch):
    release = threading.Event()

    def slow(handler):
        release.wait(10)

    r = Receiver(slow)
    try:
        monkeypatch.setenv("ARTY_WEBHOOK_TIMEOUT", "0.5")
        automation, _ = records.add(local_store, "default", "version", webhook=r.url, retry_after=60)
        _model(local_store, tmp_path)
        start = time.monotonic()
        Deliverer(local_store, state_dir=str(tmp_path / "d")).run_once()
        took = time.monotonic() - start
    finally:
        release.set()
        r.close()
    assert took < 3
    [d] = _deliveries(local_store, automation)
    assert d["state"] == "pending" and d["attempts"][0]["error"] == "timed out after 0.5 s"


def test_a_receiver_answering_10_mb_is_read_only_up_to_the_cap(local_store, tmp_path):
    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(10 * 1024 * 1024))
        handler.end_headers()
        try:
            for _ in range(160):
                handler.wfile.write(b"x" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the deliverer stopped reading: what this test wants

    r = Receiver(huge)
    try:
        automation, _ = records.add(local_store, "default", "version", webhook=r.url)
        _model(local_store, tmp_path)
        Deliverer(local_store, state_dir=str(tmp_path / "d")).run_once()
    finally:
        r.close()
    [d] = _deliveries(local_store, automation)
    [attempt] = d["attempts"]
    assert attempt["status"] == 200 and attempt["truncated"] is True
    assert attempt["response_bytes"] == webhook.MAX_RESPONSE
    assert d["state"] == "delivered"


def test_redirects_are_followed_to_the_same_host_only(local_store, tmp_path):
    other = Receiver()

    def to(location):
        def answer(handler):
            handler.send_response(307)
            handler.send_header("Location", location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        return answer

    away = Receiver(to(f"http://localhost:{other.port}/stolen"))
    here = Receiver(lambda h: (to("/final")(h) if h.path == "/hook" else Receiver_ok(h)))
    try:
        a_away, _ = records.add(local_store, "default", "version", webhook=away.url, retry_after=60)
        a_here, _ = records.add(local_store, "default", "version", webhook=here.url)
        _model(local_store, tmp_path)
        Deliverer(local_store, state_dir=str(tmp_path / "d")).run_once()
    finally:
        for r in (other, away, here):
            r.close()
    assert other.requests == []
    [d] = _deliveries(local_store, a_away)
    assert d["state"] == "pending" and "redirect to another host refused" in d["attempts"][0]["error"]
    assert [r["path"] for r in here.requests] == ["/hook", "/final"]
    assert _deliveries(local_store, a_here)[0]["state"] == "delivered"


def Receiver_ok(handler):  # noqa: N802 - a plain 200, as Receiver's default
    handler.send_response(200)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def test_a_receiver_that_is_down_is_retried_then_given_up(local_store, tmp_path):
    from fastapi.testclient import TestClient

    from arty.server import create_app

    down = Receiver()
    url = down.url
    down.close()  # nothing listens there any more
    automation, _ = records.add(local_store, "default", "version", webhook=url, retry_after=0.1, give_up_after=1.0)
    _model(local_store, tmp_path)
    deliverer = Deliverer(local_store, state_dir=str(tmp_path / "d"))

    def given_up():
        deliverer.run_once()
        return _deliveries(local_store, automation)[0]["state"] == "given_up"

    _until(given_up, timeout=10, step=0.05)
    [d] = _deliveries(local_store, automation)
    assert len(d["attempts"]) >= 3
    assert all(a["status"] is None and "cannot reach" in a["error"] for a in d["attempts"])
    ats = [parse_time(x["at"]) for x in d["attempts"]]
    gaps = [b - a for a, b in zip(ats, ats[1:])]
    assert all(g >= 0.09 for g in gaps) and gaps[-1] > gaps[0]  # backoff grows
    before = len(d["attempts"])
    deliverer.run_once()
    assert len(_deliveries(local_store, automation)[0]["attempts"]) == before  # given up: no more attempts
    # shown as given up in the CLI and the API (what the UI reads)
    log = art("--store", local_store.url, "automation", "log", automation["id"]).stdout
    assert "given up" in log
    with TestClient(create_app(local_store), base_url="http://127.0.0.1:8080") as c:
        got = c.get(f"/api/projects/default/automations/{automation['id']}/deliveries").json()
    assert got["deliveries"][0]["state"] == "given_up"


def test_two_deliverers_deliver_an_event_once(local_store, tmp_path, receiver):
    records.add(local_store, "default", "version", webhook=receiver.url)
    _model(local_store, tmp_path)
    first = Deliverer(local_store, state_dir=str(tmp_path / "a"))
    second = Deliverer(open_store(local_store.url), state_dir=str(tmp_path / "b"))
    assert first.run_once()["claimed"] == 1
    assert second.run_once()["claimed"] == 0
    first.run_once()
    second.run_once()
    assert len(receiver.requests) == 1


def test_events_before_the_automation_are_not_delivered(local_store, tmp_path, receiver):
    old = write_run(local_store, name="old")
    finish(local_store, "default", old, state="failed", finished_at=time.time() - 3600)
    records.add(local_store, "default", "run.failed", webhook=receiver.url)
    new = write_run(local_store, name="new")
    finish(local_store, "default", new, state="failed")
    Deliverer(local_store, state_dir=str(tmp_path / "d")).run_once()
    assert [json.loads(r["body"])["run"] for r in receiver.requests] == [new]


# -- at least once, through SIGKILL -----------------------------------------------------------------

@pytest.mark.slow
def test_a_server_killed_between_the_event_and_the_delivery_delivers_it_after_restart(tmp_path):
    from art_servers import ArtServer

    first_answered = threading.Event()

    def hold_the_first(handler):
        if len(r.requests) == 1:
            first_answered.wait(30)  # the server is killed while it waits for this answer
            return
        handler.send_response(204)
        handler.end_headers()

    r = Receiver(hold_the_first)
    backing = str(tmp_path / "backing")
    store, _ = init_store(backing)
    reg = _model(store, tmp_path)
    _model(store, tmp_path, content="v1")
    automation, secret = records.add(store, "default", "alias:prod", webhook=r.url)
    server = ArtServer(backing, env={"ARTY_AUTOMATION_INTERVAL": "0.1", "ARTY_WEBHOOK_TIMEOUT": "60"}).start()
    try:
        reg.set_alias("model", 0, "prod")
        assert r.got.wait(30), server.log()
        # claimed, posted, no answer yet: now the server dies without any clean-up
        [pending] = _deliveries(store, automation)
        assert pending["state"] == "pending" and pending["attempts"] == []
        server.kill()
        first_answered.set()
        reg.set_alias("model", 1, "prod")  # an event while no server runs
        server.start()
        _until(lambda: [d["state"] for d in _deliveries(open_store(backing), automation)] == ["delivered"] * 2, 30)
    finally:
        first_answered.set()
        server.stop()
        r.close()
    bodies = [json.loads(q["body"]) for q in r.requests]
    assert sorted(b["version"] for b in bodies) == [0, 0, 1]  # after the restart both go at once, in any order
    ids = {b["version"]: set() for b in bodies}
    for b, q in zip(bodies, r.requests):
        ids[b["version"]].add(q["headers"]["X-Arty-Event-Id"])
    assert len(ids[0]) == 1 and ids[0] != ids[1]  # the duplicate carries the same event id
    assert all(webhook.verify(secret, q["body"], q["headers"]["X-Arty-Signature"]) for q in r.requests)


# -- art watch ------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "http", "s3"])
def test_art_watch_runs_the_command_when_the_alias_moves(kind, tmp_path, request, env_for):
    from conftest import _fresh_store_url, backing_url
    from servers import _readline_within

    url = _fresh_store_url(kind, request, tmp_path)
    env = {**env_for(url), "ARTY_STORE": url}
    if kind != "http":
        init_store(url)
    _model(open_store(backing_url(url)), tmp_path)
    out = tmp_path / "event.json"
    script = f"import os; open({str(out)!r}, 'w').write(os.environ['ARTY_EVENT'])"
    watch = subprocess.Popen(
        [sys.executable, "-m", "arty", "watch", "--on", "alias:prod", "--once", "--interval", "0.1", "--",
         sys.executable, "-c", script],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watch.stdout = watch.stderr  # _readline_within reads .stdout
    try:
        assert "watching store" in _readline_within(watch, 60)
        run_art("alias", "model:v0", "staging", env=env, check=True)  # another event: not this one
        run_art("alias", "model:v0", "prod", env=env, check=True)
        assert watch.wait(timeout=60) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    event = json.loads(out.read_text())
    assert (event["type"], event["artifact"], event["alias"], event["version"]) == ("alias.moved", "model", "prod", 0)
    assert event["id"].startswith("ev_")


def test_the_promotion_flow_ends_in_a_webhook(local_store, tmp_path, receiver, monkeypatch):
    """docs/registry.md and docs/automations.md, "A promotion flow": train, link into the registry
    as staging, propose prod (protected, one approval), a second admin approves, a webhook."""
    from arty.artifacts import approvals
    from arty.server.accounts import Accounts

    store = local_store
    monkeypatch.setenv("ARTY_STORE", store.url)
    automation, secret = records.add(store, "registry", "alias:pedestrian-detector:prod", webhook=receiver.url)
    weights = make_tree(tmp_path / "out", {"model.pt": "trained weights"})
    with arty.init(project="vision", name="train") as run:
        model = run.log_artifact(arty.Artifact("model", type="model").add_dir(weights))
    model.link("registry/pedestrian-detector", ["staging"])
    Accounts(store, ttl=0).protect("registry", "pedestrian-detector", "prod", approvals=1)
    move = approvals.propose(store, "registry", "pedestrian-detector", "prod", 0, "ana")
    deliverer = Deliverer(store, state_dir=str(tmp_path / "d"))
    deliverer.run_once()
    assert receiver.requests == []  # staging moved; prod waits for the approval
    approvals.approve(store, "registry", "pedestrian-detector", "prod", move["id"], "ben")
    deliverer.run_once()
    [req] = receiver.requests
    assert webhook.verify(secret, req["body"], req["headers"]["X-Arty-Signature"])
    event = json.loads(req["body"])
    assert (event["type"], event["ref"], event["alias"], event["protected"], event["by"]) == \
        ("alias.moved", "registry/pedestrian-detector:v0", "prod", True, "ben")
    assert [d["state"] for d in _deliveries(store, automation)] == ["delivered"]
    # the registry's version is the training run's model: its lineage leads back to the run
    linked = Registry(store, "registry", StatCache(":memory:")).resolve("pedestrian-detector:prod")
    assert linked.source_qualified_name == "vision/model:v0"


# -- the web UI -------------------------------------------------------------------------------------------

def test_the_ui_lists_automations_and_their_delivery_log_without_secrets(tmp_path, receiver, browser):
    ui = pytest.importorskip("ui_helpers")
    if not ui.have_chromium():
        pytest.skip("the UI tests need Chromium")
    store, _ = init_store(str(tmp_path / "store"))
    down = Receiver()
    down_url = down.url
    down.close()
    given_up, secret1 = records.add(store, "default", "version", webhook=down_url, retry_after=0.05, give_up_after=0.3)
    delivered, secret2 = records.add(store, "default", "version", webhook=receiver.url)
    _model(store, tmp_path)
    deliverer = Deliverer(store, state_dir=str(tmp_path / "d"))
    _until(lambda: deliverer.run_once() is not None and
           _deliveries(store, given_up)[0]["state"] == "given_up", timeout=10)
    server = ui.ServerThread(store).start()
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        page.goto(f"{server.url}/p/default/automations")
        page.wait_for_selector("body[data-page=automations]", timeout=15_000, state="attached")
        up = page.locator(f"section[data-automation={given_up['id']}] tr[data-state=given_up]")
        assert "given up" in up.inner_text() and "cannot reach the receiver" in up.inner_text()
        ok = page.locator(f"section[data-automation={delivered['id']}] tr[data-state=delivered]")
        assert "200" in ok.inner_text()
        page.fill("#automation-on", "alias:prod")
        page.fill("#automation-url", receiver.url)
        page.click("#automation-form button[type=submit]")
        shown = page.locator("#automation-secret code").inner_text(timeout=15_000)
        assert shown.startswith("whsec_")
        page.reload()
        page.wait_for_selector("body[data-page=automations]", timeout=15_000, state="attached")
        assert page.locator("section.automation").count() == 3
        html = page.content()
    finally:
        page.close()
        server.stop()
    for secret in (secret1, secret2, shown):
        assert secret not in html
    assert not errors, errors


# -- the CLI over a server, and command actions ------------------------------------------------------------

def test_automation_commands_go_through_the_server_api(tmp_path):
    ui = pytest.importorskip("ui_helpers")
    from arty.server.accounts import Accounts

    store, _ = init_store(str(tmp_path / "store"))
    accounts = Accounts(store, ttl=0)
    _, admin_key = accounts.add_user("ana", admin=True)
    _, reader_key = accounts.add_user("bob")
    accounts.grant("bob", "default", "write")
    server = ui.ServerThread(store).start()
    try:
        from click.testing import CliRunner

        from arty.cli import cli

        def art_as(key, *args):
            return CliRunner().invoke(cli, ["--store", server.url, *args], env={"ARTY_API_KEY": key},
                                      catch_exceptions=False)

        refused = art_as(reader_key, "automation", "add", "--on", "alias:prod", "--webhook", "https://ci.example.com/h")
        assert refused.exit_code != 0 and "admin" in refused.stderr
        added = art_as(admin_key, "automation", "add", "--on", "alias:prod", "--webhook", "https://ci.example.com/h",
                       "--json")
        assert added.exit_code == 0, added.output
        out = json.loads(added.stdout)
        assert out["secret"].startswith("whsec_") and out["automation"]["by"] == "ana"
        listed = art_as(admin_key, "automation", "ls", "--json")
        assert [a["id"] for a in json.loads(listed.stdout)] == [out["automation"]["id"]]
        assert out["secret"] not in listed.stdout
        bad = art_as(admin_key, "automation", "add", "--on", "alias:prod", "--webhook", "ftp://example.com/h")
        assert bad.exit_code == 2 and "not http(s)" in bad.stderr
        deliver = art_as(admin_key, "automation", "deliver")
        assert deliver.exit_code == 2 and "the server delivers" in deliver.stderr
        assert art_as(admin_key, "automation", "rm", out["automation"]["id"]).exit_code == 0
        assert json.loads(art_as(admin_key, "automation", "ls", "--json").stdout) == []
    finally:
        server.stop()
    assert records.list_automations(store) == []
    assert records.secret_of(store, "default", out["automation"]["id"]) == out["secret"]


def test_art_automation_deliver_runs_a_command_with_the_event(local_store, tmp_path):
    out = tmp_path / "event.json"
    script = f"import os; open({str(out)!r}, 'w').write(os.environ['ARTY_EVENT'])"
    proc = art("--store", local_store.url, "automation", "add", "--on", "run.failed",
               "--command", f"{sys.executable} -c \"{script}\"")
    assert proc.exit_code == 0, proc.output
    assert "secret" not in proc.stdout
    run_id = write_run(local_store, name="nightly")
    finish(local_store, "default", run_id, state="failed", exit_code=3, error="boom")
    counts = art("--store", local_store.url, "automation", "deliver", "--json")
    assert json.loads(counts.stdout)["delivered"] == 1
    event = json.loads(out.read_text())
    assert (event["type"], event["run"], event["exit_code"], event["error"]) == ("run.failed", run_id, 3, "boom")
    again = art("--store", local_store.url, "automation", "deliver", "--json")  # delivered: not run again
    assert json.loads(again.stdout)["delivered"] == 0


def test_art_watch_without_once_goes_on_and_prints_each_event(local_store, tmp_path):
    from servers import _readline_within

    _model(local_store, tmp_path)
    env = {"ARTY_STORE": local_store.url}
    watch = subprocess.Popen([sys.executable, "-m", "arty", "watch", "--on", "alias", "--interval", "0.1"],
                             env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        err = watch.stdout
        watch.stdout = watch.stderr
        assert "watching store" in _readline_within(watch, 60)
        watch.stdout = err
        run_art("alias", "model:v0", "staging", env=env, check=True)
        first = json.loads(_readline_within(watch, 30))
        run_art("alias", "model:v0", "prod", env=env, check=True)
        second = json.loads(_readline_within(watch, 30))
        assert watch.poll() is None  # still watching
    finally:
        watch.terminate()
        watch.wait(timeout=30)
    assert [first["alias"], second["alias"]] == ["staging", "prod"]
