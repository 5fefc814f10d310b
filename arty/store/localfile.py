"""Small files on this machine (not in a store) replaced atomically: the lock file, the
credentials file. A reader sees the old file or the new one, never a part."""

from __future__ import annotations

import os
import tempfile


def replace_file(path: str, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically and durably: a temp file
    beside it, flushed to disk, then renamed over it. ``mode`` (e.g. ``0o600``) is set on the
    temp file before anything is written into it. On any failure the old file is kept and the
    temp file removed."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=folder)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
