"""A hung store: an S3 endpoint that accepts connections and never answers.

Every store request has connect and read timeouts (``ARTY_STORE_TIMEOUT``,
``ARTY_STORE_CONNECT_TIMEOUT``) and bounded retries, and ``finish()`` returns
within ``ARTY_FINISH_TIMEOUT`` whatever the store does, leaving the rest to
``art sync``. The endpoint is a real socket (tests/servers.py ``HungEndpoint``):
in front of the S3 test server it relays until told to hang.
"""

from __future__ import annotations

import threading
import time

import pytest

import arty
from arty.errors import StoreUnreachable, UsageError
from arty.store import init_store, open_store
from arty.store.backends import store_timeouts

from conftest import run_art
from servers import HungEndpoint
from test_runs import (  # noqa: F401 - _no_run_left_behind is an autouse fixture
    PROJECT,
    QUIET,
    _no_run_left_behind,
    read_run,
    run_base,
    store_files,
    wait_for,
)

#: Seconds each request waits for an answer in these tests, and the bound on finish().
READ_TIMEOUT = 1
FINISH_TIMEOUT = 3
#: What a bounded call may take beyond its bound on a loaded machine.
SLACK = 2.0


@pytest.fixture
def hung_env(monkeypatch):
    monkeypatch.setenv("ARTY_STORE_TIMEOUT", str(READ_TIMEOUT))
    monkeypatch.setenv("ARTY_FINISH_TIMEOUT", str(FINISH_TIMEOUT))
    for var in ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def call_within(fn, seconds: float):
    """Run ``fn`` in a thread; fail if it has not returned after ``seconds`` (it is left running)."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    started = time.monotonic()
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    elapsed = time.monotonic() - started
    assert not t.is_alive(), f"still waiting after {elapsed:.1f} s (bound {seconds} s)"
    if "error" in out:
        raise out["error"]
    return out.get("value"), elapsed


def test_timeouts_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("ARTY_STORE_TIMEOUT", raising=False)
    monkeypatch.delenv("ARTY_STORE_CONNECT_TIMEOUT", raising=False)
    assert store_timeouts() == (5.0, 10.0)
    monkeypatch.setenv("ARTY_STORE_TIMEOUT", "2.5")
    assert store_timeouts() == (2.5, 2.5)
    monkeypatch.setenv("ARTY_STORE_CONNECT_TIMEOUT", "1")
    assert store_timeouts() == (1.0, 2.5)
    for bad in ("0", "-1", "soon", "inf", "nan"):
        monkeypatch.setenv("ARTY_STORE_TIMEOUT", bad)
        with pytest.raises(UsageError, match="invalid ARTY_STORE_TIMEOUT"):
            store_timeouts()


def test_a_hung_endpoint_fails_a_store_call_within_its_timeouts(s3, hung_env):
    url = f"s3://{s3.make_bucket()}/store"
    with HungEndpoint() as hung:
        hung_env.setenv("AWS_ENDPOINT_URL", hung.endpoint)
        # 3 attempts of READ_TIMEOUT each, plus botocore's back-off (at most 1 + 2 s).
        with pytest.raises(StoreUnreachable, match="store unreachable: cannot read 'store.json'"):
            call_within(lambda: open_store(url), 3 * READ_TIMEOUT + 3 + SLACK)
        assert 1 <= hung.connections <= 3


def test_art_runs_against_a_hung_endpoint_fails_clearly_and_soon(s3, hung_env, tmp_path):
    url = f"s3://{s3.make_bucket()}/store"
    init_store(url)
    with HungEndpoint() as hung:
        env = dict(s3.env(), AWS_ENDPOINT_URL=hung.endpoint, ARTY_STORE_TIMEOUT=str(READ_TIMEOUT))
        started = time.monotonic()
        proc = run_art("--store", url, "runs", env=env)
        elapsed = time.monotonic() - started
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"error: store unreachable: cannot read 'store.json' in store '{url}'"), proc.stderr
    assert "hint: check the network and the endpoint" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert elapsed < 3 * READ_TIMEOUT + 3 + SLACK + 3, f"art runs took {elapsed:.1f} s"  # + interpreter start


def test_finish_returns_in_time_when_the_store_hangs_and_art_sync_completes_the_run(s3, hung_env, capsys):
    url = f"s3://{s3.make_bucket()}/store"
    store = init_store(url)[0]
    with HungEndpoint(upstream=s3.endpoint) as proxy:
        hung_env.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        run = arty.init(store=url, project=PROJECT, flush_interval=0.2, **QUIET)
        base = run_base(PROJECT, run.id)
        for i in range(100):
            run.log({"i": i})
        wait_for(lambda: store_files(store, f"{base}/history"), what="a history segment in the store")

        proxy.hang()                                   # from now on the endpoint answers nothing
        for i in range(100, 300):
            run.log({"i": i})
        run.summary["done"] = True
        _, elapsed = call_within(run.finish, FINISH_TIMEOUT + SLACK)
        assert run.state == "finished"
        assert "run 'art sync' to upload it" in capsys.readouterr().err
        assert run.folder.pending() and "final.json" in run.folder.pending()
        assert not store.exists(f"{base}/final.json")

    # The store is back (here: reached directly): art sync uploads what finish() left.
    hung_env.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    proc = run_art("--store", url, "sync", env=s3.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{PROJECT}/{run.id}: uploaded" in proc.stdout
    rec = read_run(open_store(url), PROJECT, run.id)
    assert [r["i"] for r in rec.history] == list(range(300))
    assert rec.final["state"] == "finished" and rec.final["summary"]["done"] is True
    assert run_art("--store", url, "sync", env=s3.env()).stdout.strip() == "nothing to sync"
