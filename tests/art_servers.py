"""``art server`` processes for the tests of the store protocol: the real command, on 127.0.0.1,
on a free port, over a backing store (a local folder or a bucket on the S3 test server).

``ArtServer(backing_url, env).start()`` runs ``python -m arty server --store URL --port P`` as a
child process (it gets SIGTERM if the tests' process dies); ``kill()`` sends SIGKILL,
``start()`` again serves on the same port; ``url`` is what clients put in ``ARTY_STORE``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

from servers import _die_with_parent, _free_port


class ArtServer:
    def __init__(self, backing_url: str, env: dict[str, str] | None = None, port: int | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.backing_url = backing_url
        self.env = dict(os.environ)
        self.env.update(env or {})
        for var in ("ARTY_STORE", "ARTY_API_KEY"):
            self.env.pop(var, None)
        self.port = port or _free_port()
        self.args = args
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = None

    def start(self, timeout: float = 60.0) -> "ArtServer":
        import requests

        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arty", "server", "--store", self.backing_url, "--port", str(self.port),
             *self.args],
            env=self.env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"art server exited with {self.proc.returncode}: {self.log()}")
            try:
                # any answer of the app (401 on a server with users) means it is serving
                if requests.get(f"{self.url}/api/store/v1", timeout=5).status_code in (200, 401):
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)  # waiting for the process to listen, not for a result
        raise RuntimeError(f"art server did not answer within {timeout} s: {self.log()}")

    def log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "ArtServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
