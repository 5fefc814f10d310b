"""Fuzzing the server's JSON API from its own OpenAPI spec (schemathesis): no input gives a 500.

Each generated request is sent twice: as generated (path parameters are mostly names
that do not exist), and with the path parameters pointing at a real project, run,
artifact and version, so that fuzzed queries and bodies reach the code behind the lookups.
A bounded number of examples per operation keeps the whole file under a minute.
"""

from __future__ import annotations

import json
import os
import contextlib
import time
from typing import Any, Iterator

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


def _fuzz_all(real, app, headers=None, only=None, examples: int = EXAMPLES) -> int:
    """Fuzz every operation of ``app`` (those whose path starts with one of ``only``), sending
    ``headers`` with each request; returns how many operations were fuzzed."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    if only:
        operations = [op for op in operations if op.path.startswith(only)]
    for operation in operations:

        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
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


# -- the store protocol (/api/store/v1) with hostile paths, bodies and queries ----------------------

STORE_API = "/api/store/v1"
#: Statuses a refusal of the store protocol may have: bad input, no or unknown key, a key without
#: the role, not served or absent, exists, too large, and the framework's own validation.
REFUSALS = {400, 401, 403, 404, 409, 413, 422}
#: Paths no request may ever read, list or change, whatever the key.
HOSTILE_PATHS = (
    "", "/", "//", ".", "..", "../store.json", "../../etc/passwd", "/etc/passwd", "/store.json",
    "projects/proj/../../auth/users/alice.json", "projects/proj/./runs", "projects//proj", "projects/proj/",
    "projects\\proj\\runs", "projects/proj/runs\\..\\..\\auth", "C:\\Windows\\win.ini", "objects/../auth/keys",
    "projects/proj/runs/x\x00.json", "projects/proj/\n.json", "projects/proj/runs/\x7f", "projects/proj/\r/x.json",
    "projects/proj/runs/.tmp-upload", "objects/.tmp-x", "projects/" + "a" * 300 + "/x.json",
    "projects/proj/" + "d/" * 600 + "x.json", "projects/proj/runs/" + "é" * 200 + ".json",
    "auth", "auth/", "auth/users/alice.json", "auth/keys", "./auth/users", "cache/index.sqlite", "x.json",
    "projects/..", "projects/a b/x.json", "projects/pröj/x.json", "projects/-/x.json", "projects/\u202e/x.json",
    "objects/zz/" + "0" * 30, "objects/AB/" + "C" * 30, "%2e%2e/auth",
)


@pytest.fixture
def team_store(real):
    """``real`` with users: carol reads ``proj``, bob writes it, alice is a server admin; and the
    keys the fuzz sends (none, and one that is nobody's)."""
    from arty.server.accounts import Accounts

    accounts = Accounts(real["store"], ttl=0)
    keys = {"admin": accounts.add_user("alice", admin=True)[1], "write": accounts.add_user("bob")[1],
            "read": accounts.add_user("carol")[1]}
    accounts.grant("bob", P, "write")
    accounts.grant("carol", P, "read")
    keys.update({"none": None, "wrong": "arty_0_" + "f" * 40})
    return {**real, "keys": keys}


class _Prober:
    """Sends requests to the store protocol in process and checks every answer: never a 5xx or a
    traceback, every refusal a JSON error of an expected status, and a refused change leaves
    the backing store exactly as it was."""

    def __init__(self, store) -> None:
        from fastapi.testclient import TestClient

        self.root = store.backend.local_path("")
        app = create_app(store, allowed_hosts=["testserver"], auth_ttl=0)
        self.client = TestClient(app, raise_server_exceptions=False).__enter__()
        self.sent = 0
        self.last = self.tree()  # the store as the last accepted change left it
        self.each = True  # compare the store after each refused change

    def tree(self) -> dict[str, tuple[int, int]]:
        """Every file of the store but the server's own index (which catching up changes)."""
        out = {}
        for here, _dirs, files in os.walk(self.root):
            for name in files:
                full = os.path.join(here, name)
                rel = os.path.relpath(full, self.root).replace(os.sep, "/")
                if not rel.startswith("cache/"):
                    st = os.stat(full)
                    out[rel] = (st.st_size, st.st_mtime_ns)
        return out

    def __call__(self, key: str | None, method: str, endpoint: str, params=None, content: bytes | None = None,
                 json_body=None) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        change = method in ("PUT", "POST", "DELETE") and endpoint != "missing"
        url = f"{STORE_API}/{endpoint}".rstrip("/")
        if isinstance(params, str):  # a raw query, sent as it is (invalid UTF-8, odd escapes)
            url += "?" + params
        resp = self.client.request(method, url, params=None if isinstance(params, str) else params, content=content,
                                   json=json_body, headers=headers)
        self.sent += 1
        what = f"{method} {endpoint} {str(params)[:200]!r} {(content or b'')[:80]!r} key={key and key[:8]}"
        assert resp.status_code < 500, f"{what}: {resp.status_code} {resp.text[:500]}"
        assert "Traceback" not in resp.text and 'File "' not in resp.text, f"{what}: {resp.text[:500]}"
        if resp.status_code >= 400:
            assert resp.status_code in REFUSALS, f"{what}: {resp.status_code} {resp.text[:300]}"
            body = resp.json()
            assert set(body) == {"error", "hint"} and isinstance(body["error"], str), f"{what}: {resp.text[:300]}"
            if change and self.each:
                after = self.tree()
                assert after == self.last, f"{what}: refused ({resp.status_code}) but the store changed: " \
                                           f"{sorted(set(after) ^ set(self.last))[:5]}"
        elif change:
            assert self.each, f"{what}: accepted ({resp.status_code}) where every change must be refused"
            self.last = self.tree()
        return resp

    @contextlib.contextmanager
    def all_refused(self) -> Iterator[None]:
        """Within: every change must be refused, and the store is compared once, at the end
        (a walk of the store per request would dominate the test's time)."""
        self.each = False
        try:
            yield
        finally:
            self.each = True
        after = self.tree()
        assert after == self.last, f"refused changes changed the store: {sorted(set(after) ^ set(self.last))[:5]}"


def _blob(data: bytes) -> str:
    from arty.hashing import hash_bytes
    from arty.store import layout

    return layout.blob(hash_bytes(data, "xxh128"))


def _frames(*frames: tuple[bytes, str, bytes]) -> bytes:
    return b"".join(header + b" " + path.encode("utf-8", "surrogatepass") + b"\n" + data
                    for header, path, data in frames)


@pytest.mark.slow
def test_the_store_protocol_refuses_hostile_input_with_every_key(team_store):
    from conftest import run_art

    store, keys = team_store["store"], team_store["keys"]
    rid = team_store["params"]["run_id"]
    probe = _Prober(store)
    auth_before = {p: v for p, v in probe.tree().items() if p.startswith("auth/")}
    tree_before = probe.tree()
    top_before = set(os.listdir(probe.root))
    good = b"good bytes"
    real_paths = (f"projects/{P}/runs/{rid}/run.json", f"projects/{P}/runs/{rid}/history", f"projects/{P}",
                  "projects", "objects", "journal", "store.json", f"projects/{P}/runs/{rid}",
                  f"projects/{P}/runs/{rid}/run.json/x.json", "store.json/x", "objects/" + "a" * 32)
    writable = f"projects/{P}/runs/{rid}/files/fuzz.txt"

    for name, key in keys.items():
        # hostile paths on every endpoint that takes one; nothing may be served, listed or changed
        with probe.all_refused():
            for path in HOSTILE_PATHS:
                for method, endpoint in (("GET", "read"), ("GET", "stat"), ("GET", "list"), ("GET", "walk"),
                                         ("PUT", "create"), ("PUT", "write"), ("DELETE", "file"), ("PUT", "blob")):
                    resp = probe(key, method, endpoint, {"path": path}, b"{}")
                    if resp.status_code < 400:  # a valid path naming nothing ('objects/zz/000...'): nothing there
                        assert method == "GET" and endpoint != "read" and name in ("read", "write", "admin"), \
                            (name, method, endpoint, path, resp.status_code)
                        if path:
                            assert resp.json() in ({"exists": False, "size": None, "mtime": None}, {"names": []},
                                                   {"files": []}), (name, endpoint, path, resp.text[:300])
                probe(key, "POST", "missing", json_body={"paths": [path]})
                probe(key, "POST", "blobs", content=_frames((b"%d" % len(good), path, good)))
        # real paths: reads need a key with read; no change without the role; a delete never by admin here
        for path in real_paths:
            for method, endpoint in (("GET", "read"), ("GET", "stat"), ("GET", "list"), ("GET", "walk"),
                                     ("PUT", "create"), ("PUT", "write")) + ((("DELETE", "file"),) if name != "admin"
                                                                              else ()):
                status = probe(key, method, endpoint, {"path": path}, b'{"x": 1}').status_code
                if name in ("none", "wrong"):  # 401, or 400/404 for what no key may do (asked before the key)
                    assert status in ((401, 404) if method == "GET" else (400, 401, 404)), \
                        (name, method, endpoint, path, status)
                if method != "GET" and name in ("none", "wrong", "read"):
                    assert status >= 400, (name, method, endpoint, path, status)
        # listings never show what the protocol does not serve
        for path in ("", "projects"):
            resp = probe.client.get(f"{STORE_API}/walk", params={"path": path},
                                    headers={"Authorization": f"Bearer {key}"} if key else {})
            if resp.status_code == 200:
                assert not [f for f in resp.json()["files"] if f.startswith(("auth", "cache", "projects/auth"))]
        # bad bodies: records that are not JSON objects, too large, too deep; blobs whose bytes do
        # not match; batches with truncated, negative, huge or malformed frames
        # (the large bodies without a key, refused before they are read, and with a write key)
        big = name in ("none", "write")
        large = (b"{" * 100_000, b"[" * 100_000, json.dumps({"x": "a" * (1024 * 1024)}).encode()) if big else ()
        for body in (b"", b"not json", b"[1, 2]", b'"s"', b"null", b'{"a": "\xff"}', b"\xef\xbb\xbf{}",
                     b'{"a": 1}' + b"\x00", b'{"a": NaN, "b": Infinity}' + b" " * 10, b"{}" * 1000, *large):
            probe(key, "PUT", "create", {"path": f"projects/{P}/runs/fuzz-{name}/run.json"}, body)
            probe(key, "PUT", "write", {"path": "leases/fuzz"}, body)
        if big:
            probe(key, "PUT", "create", {"path": writable}, b"x" * (2 * 1024 * 1024))
        for path in (_blob(b"other"), "objects/00/" + "0" * 30, "objects/ab/cd", "objects/" + "a" * 32):
            probe(key, "PUT", "blob", {"path": path}, good)
        g = (b"%d" % len(good), _blob(good), good)
        for batch in (_frames(g, (b"%d" % len(good), _blob(b"other"), good)),  # one wrong digest refuses all
                      _frames(g)[:-3], _frames(g, g)[:-1],  # the body ends inside a frame
                      _frames(g) + b"10 " + _blob(good).encode(),  # ... or inside a header
                      _frames((b"-5", _blob(good), good)), _frames((b"+10", _blob(good), good)),
                      _frames((b"99999999999999999999999", _blob(good), good)), _frames((b"1e3", _blob(good), good)),
                      _frames((b"", _blob(good), good)), b"x" * 5000, b"\n\n\n", b"10\n" + good,
                      _frames((b"10", "projects/proj/runs/x/run.json", good)), _frames(g) + b"0 \n",
                      b"\xff\xfe 10 objects/\n" + good, _frames(g) * 3 + b"\x00"):
            probe(key, "POST", "blobs", content=batch)
        for body in (b"not json", b"[]", b'{"paths": "x"}', b'{"paths": [1]}', b'{"paths": null}',
                     *((json.dumps({"paths": ["objects"] * 10_001}).encode(), b"{" * 10_000) if big else ())):
            probe(key, "POST", "missing", content=body)
        # bad query values: no path, a repeated one, over-long 'after', odd names
        probe(key, "GET", "read")
        probe(key, "PUT", "create", content=b"{}")
        probe(key, "GET", "read", [("path", "store.json"), ("path", "auth/users/alice.json")])
        probe(key, "GET", "list", {"path": "journal", "after": "z" * 1000})
        probe(key, "GET", "list", {"path": "journal", "after": "\x00\n"})
        probe(key, "GET", "list", {"path": "projects", "after": "../auth"})
        probe(key, "GET", "stat", {"path": "store.json", "other": "\x00" * 10})
        probe(key, "POST", "flush", {"path": "../../x"})
        probe(key, "GET", "", {"path": "auth"})
        # raw queries: invalid UTF-8 (decoded with replacement characters: a valid, odd name), escapes
        for raw in ("path=projects/proj/%ff%fe.json", "path=%2e%2e/auth/keys", "path=auth%2fusers", "path=%00",
                    "path=projects/proj%5c..%5cauth", "path=%ed%a0%80", "path", "path=&path=", "path=%",
                    "path=" + "%41" * 5000):
            for method, endpoint in (("GET", "read"), ("GET", "stat"), ("GET", "list"), ("PUT", "create"),
                                     ("DELETE", "file"), ("PUT", "blob")):
                probe(key, method, endpoint, raw, b"{}")

    # nothing under auth/ changed, nothing appeared outside the served folders, no temp files,
    # and the backing store verifies
    after = probe.tree()
    assert {p: v for p, v in after.items() if p.startswith("auth/")} == auth_before
    assert set(os.listdir(probe.root)) - top_before <= set()
    assert not [p for p in after if ".tmp-" in p]
    from arty.server.protocol import SERVED_ROOTS

    assert not [p for p in set(after) - set(tree_before) if p.split("/")[0] not in SERVED_ROOTS]
    proc = run_art("--store", str(probe.root), "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert probe.sent > 2000


@pytest.mark.slow
def test_the_store_protocol_operations_fuzzed_from_the_spec_with_every_key(team_store):
    rid = team_store["params"]["run_id"]
    team_store["params"]["path"] = f"projects/{P}/runs/{rid}/run.json"
    app = create_app(team_store["store"], allowed_hosts=["testserver"], auth_ttl=0)
    for key in team_store["keys"].values():
        assert _fuzz_all(team_store, app, None if key is None else {"Authorization": f"Bearer {key}"},
                         (STORE_API,), examples=12) >= 10
    root = team_store["store"].backend.local_path("")
    from conftest import run_art

    proc = run_art("--store", str(root), "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_folder_or_a_path_below_a_file_is_not_a_store_failure(team_store):
    """Reading, checking, deleting or creating where a folder is, or below a file, is 404 or 409
    (it used to be 503, which clients take for an unreachable store and retry)."""
    rid = team_store["params"]["run_id"]
    probe = _Prober(team_store["store"])
    admin, writer = team_store["keys"]["admin"], team_store["keys"]["write"]
    folder, below = f"projects/{P}/runs/{rid}/history", f"projects/{P}/runs/{rid}/run.json/x.json"
    assert probe(writer, "GET", "read", {"path": folder}).status_code == 404
    assert probe(writer, "GET", "read", {"path": below}).status_code == 404
    assert probe(writer, "GET", "stat", {"path": below}).json() == {"exists": False, "size": None, "mtime": None}
    assert probe(writer, "POST", "missing", json_body={"paths": [below]}).json() == {"missing": [below]}
    assert probe(writer, "PUT", "create", {"path": below}, b'{"a": 1}').status_code == 409
    assert probe(admin, "DELETE", "file", {"path": below}).status_code == 404
    assert probe(admin, "DELETE", "file", {"path": folder}).status_code == 404
