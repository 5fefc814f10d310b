"""plotly.js for the UI's charts, from the installed ``plotly`` package (no CDN, works offline).

Two URLs serve the same file:

* ``/vendor/plotly-<version>.min.js`` (:meth:`PlotlyJs.url`), which the UI loads: named by
  the plotly.js version, so it is cached for a year as ``immutable`` (a new plotly makes a
  new URL, which ``index.html`` names; see :meth:`PlotlyJs.page`);
* ``/vendor/plotly.min.js``, for anything that links the file by its plain name, cached
  for a day.

Both are sent gzip-compressed (about 1.5 MB instead of 4.8 MB) to a browser whose
``Accept-Encoding`` allows it. The file is compressed once per process, in memory, by a
thread the server starts with (:meth:`PlotlyJs.warm`), so the first page rarely waits.
The plotly package ships only the full bundle (``package_data/plotly.min.js``), no partial
bundle such as plotly-basic.
"""

from __future__ import annotations

import gzip
import os
import re
import threading
from importlib import util as _importlib_util

from fastapi import Request
from fastapi.responses import FileResponse, Response

#: Cache-Control of the versioned URL: its bytes never change.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Cache-Control of the plain URL.
DAILY = "public, max-age=86400"
_VERSION = re.compile(rb"plotly\.js v([0-9A-Za-z.+-]{1,40})")
_META = '<meta name="arty-plotly" content="/vendor/plotly.min.js">'


def plotly_js_path() -> str | None:
    """Where the installed ``plotly`` package keeps ``plotly.min.js`` (None if not installed)."""
    spec = _importlib_util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, "package_data", "plotly.min.js")
        if os.path.isfile(path):
            return path
    return None


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip (``gzip;q=0`` refuses it)."""
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and _is_zero(q[2:]))
    return False


def _is_zero(text: str) -> bool:
    try:
        return float(text) == 0
    except ValueError:
        return False


class PlotlyJs:
    """The installed plotly.js: its version, its URLs and its (compressed) responses."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path if path is not None else plotly_js_path()
        self._lock = threading.Lock()
        self._gzipped: bytes | None = None
        self._version: str | None = None

    @property
    def version(self) -> str:
        """plotly.js's version from the file's banner (``plotly.js v3.0.1``), else its size."""
        if self._version is None:
            version = None
            if self.path is not None:
                with open(self.path, "rb") as f:
                    m = _VERSION.search(f.read(4096))
                version = m.group(1).decode() if m else f"s{os.path.getsize(self.path)}"
            self._version = version or "none"
        return self._version

    def url(self) -> str:
        """The versioned URL the UI loads plotly.js from."""
        return f"/vendor/plotly-{self.version}.min.js"

    def gzipped(self) -> bytes:
        """The file gzip-compressed (level 6), made once and kept."""
        with self._lock:
            if self._gzipped is None:
                assert self.path is not None
                with open(self.path, "rb") as f:
                    self._gzipped = gzip.compress(f.read(), 6, mtime=0)
            return self._gzipped

    def warm(self) -> None:
        """Compress in the background now, so no request waits for it."""
        if self.path is not None:
            threading.Thread(target=self.gzipped, name="arty-gzip-plotly", daemon=True).start()

    def response(self, request: Request, cache_control: str) -> Response:
        """The file for ``request``: gzip-compressed when the browser accepts it."""
        assert self.path is not None
        headers = {"Cache-Control": cache_control, "Vary": "Accept-Encoding"}
        if accepts_gzip(request.headers.get("accept-encoding", "")):
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped(), media_type="text/javascript", headers=headers)
        return FileResponse(self.path, media_type="text/javascript", headers=headers)

    def page(self, html: str) -> str:
        """``index.html`` naming this plotly.js's versioned URL (its ``arty-plotly`` meta tag)."""
        if self.path is None:
            return html
        return html.replace(_META, f'<meta name="arty-plotly" content="{self.url()}">')
