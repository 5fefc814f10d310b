"""Sending stored bytes to a browser without letting them run as a page of the server.

Only a few content types are sent as themselves (plain text, JSON, PNG, JPEG, GIF, and for
blobs the audio and video types of :data:`BLOB_TYPES`);
everything else, HTML and SVG included, is ``application/octet-stream``. Every
download also carries ``X-Content-Type-Options: nosniff`` and a sandboxing
``Content-Security-Policy``, so a file a run saved cannot script the UI.
"""

from __future__ import annotations

import posixpath

from fastapi.responses import Response

_TEXT = {".txt", ".log", ".patch", ".diff", ".py", ".md", ".yaml", ".yml", ".cfg", ".toml", ".ini", ".csv",
         ".tsv", ".sh", ".rst"}
_TYPES = {".json": "application/json", ".jsonl": "text/plain; charset=utf-8", ".png": "image/png",
          ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
#: The content types ``?type=`` may ask for on a blob: images, audio and video the browser
#: plays as media (none of them can run script in the server's origin), JSON and plain text.
#: There is no text/html or SVG: an HTML page a run logged is fetched as text/plain and
#: shown by the UI in a sandboxed frame (``sandbox=""``, no script), never as a page here.
BLOB_TYPES = ("image/png", "image/jpeg", "image/gif", "audio/wav", "audio/mpeg", "audio/ogg", "audio/flac",
              "video/mp4", "video/webm", "video/ogg", "application/json", "text/plain")
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'",
                "Cache-Control": "private, max-age=0"}


def content_type(path: str) -> str:
    ext = posixpath.splitext(path.lower())[1]
    if ext in _TEXT:
        return "text/plain; charset=utf-8"
    return _TYPES.get(ext, "application/octet-stream")


def file_response(data: bytes, path: str) -> Response:
    """``data`` as a download named after ``path``'s last part."""
    name = posixpath.basename(path).replace('"', "").replace("\\", "")
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    headers = dict(SAFE_HEADERS)
    headers["Content-Disposition"] = f'inline; filename="{ascii_name}"'
    return Response(data, media_type=content_type(path), headers=headers)


def blob_response(data: bytes, media_type: str | None) -> Response:
    headers = dict(SAFE_HEADERS)
    headers["Cache-Control"] = "public, max-age=31536000, immutable"  # named by its digest
    ctype = media_type or "application/octet-stream"
    if ctype == "text/plain":
        ctype = "text/plain; charset=utf-8"
    return Response(data, media_type=ctype, headers=headers)
