"""Fuzzing the server's JSON API from its own OpenAPI spec (schemathesis): no input gives a 500.

Each generated request is sent twice: as generated (path parameters are mostly names
that do not exist), and with the path parameters pointing at a real project, run,
artifact and version, so that fuzzed queries and bodies reach the code behind the lookups.
A bounded number of examples per operation keeps the whole file under a minute.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi", reason="the server tests need the server extra (pip install -e '.[test]')")
schemathesis = pytest.importorskip("schemathesis", reason="the fuzz tests need schemathesis (pip install -e '.[test]')")

from hypothesis import HealthCheck, given, settings  # noqa: E402

import runrecords as rr  # noqa: E402
from arty.artifacts import Artifact, Registry  # noqa: E402
from arty.hashing import StatCache  # noqa: E402
from arty.server import create_app  # noqa: E402
from conftest import make_tree  # noqa: E402

P = "proj"
EXAMPLES = 25


@pytest.fixture
def real(local_store, tmp_path):
    """A store with one run (history, console, a file) and an artifact with two versions."""
    store = local_store
    reg = Registry(store, P, StatCache(":memory:"))
    reg.log(Artifact("data", type="dataset").add_dir(make_tree(tmp_path / "a", {"x.txt": "1", "d/y.txt": "2"})),
            aliases=["prod"])
    reg.log(Artifact("data", type="dataset").add_dir(make_tree(tmp_path / "b", {"x.txt": "3"})))
    rid = rr.write_run(store, P, name="r", config={"lr": 0.1}, tags=["t"], notes="n")
    rr.add_history(store, P, rid, [{"loss": 1.0 / (i + 1), "acc": i} for i in range(300)])
    rr.add_console(store, P, rid, [(time.time(), "stdout", f"line {i}") for i in range(20)])
    rr.add_file(store, P, rid, "requirements.txt", "numpy\n")
    rr.finish(store, P, rid, summary={"loss": 0.1})
    return {"store": store, "params": {"project": P, "run_id": rid, "name": "data", "version": "v0",
                                       "alias": "prod", "key": "loss", "path": "x.txt"}}


def _check(response, case) -> None:
    assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query!r} " \
                                       f"{case.body!r}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "hint"} and isinstance(body["error"], str), response.text[:500]


def _fuzz_all(real, app, headers=None, only=None) -> int:
    """Fuzz every operation of ``app`` (those whose path starts with one of ``only``), sending
    ``headers`` with each request; returns how many operations were fuzzed."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    if only:
        operations = [op for op in operations if op.path.startswith(only)]
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def fuzz(case) -> None:
            _check(case.call(headers=headers), case)
            if case.path_parameters:
                known = {k: real["params"][k] for k in case.path_parameters if k in real["params"]}
                if known:
                    case.path_parameters = {**case.path_parameters, **known}
                    _check(case.call(headers=headers), case)

        fuzz()
    return len(operations)


def test_no_input_gives_a_server_error(real):
    # Each operation's strategy is driven by hypothesis directly (not through schemathesis'
    # pytest plugin, whose collection hooks differ between pytest releases).
    # schemathesis calls the app as "testserver" (the in-process client's name)
    app = create_app(real["store"], allowed_hosts=["testserver"])
    assert _fuzz_all(real, app) >= 15


#: The account endpoints, fuzzed again on a store with users, with and without keys.
ACCOUNT_PATHS = ("/api/users", "/api/keys", "/api/session", "/api/whoami", "/api/projects/{project}/members",
                 "/api/projects/{project}/artifacts/{name}/aliases/{alias}/protection")


@pytest.mark.slow
def test_no_input_gives_a_server_error_on_a_store_with_users(real):
    from arty.server.accounts import Accounts

    accounts = Accounts(real["store"], ttl=0)
    admin = accounts.add_user("alice", admin=True)[1]
    writer = accounts.add_user("bob")[1]
    accounts.grant("bob", P, "write")
    real["params"].update({"user": "bob", "key_id": writer.split("_")[1]})
    app = create_app(real["store"], allowed_hosts=["testserver"], auth_ttl=0)
    # every endpoint without a key and with a writer's; the account endpoints with a wrong key
    # and a server admin's too
    for key, only in ((None, None), (writer, None), ("arty_0_x", ACCOUNT_PATHS), (admin, ACCOUNT_PATHS)):
        assert _fuzz_all(real, app, None if key is None else {"Authorization": f"Bearer {key}"}, only) >= 8
