"""A machine-local cache of blobs fetched from a remote store.

Downloading from a bucket twice should not cost the network twice: a blob
fetched once is kept under ``<cache>/objects/<2 hex>/<rest>`` and later
materialised from there by reflink, else copy (hardlink on request). The cache is
untrusted like any input: a cached blob is re-hashed before it is used, and a
bad one is dropped and fetched again. Deleting the cache loses nothing.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import uuid

from arty.hashing import CHUNK, Digest, hash_file, new_hasher

#: ioctl number of Linux's FICLONE (reflink a whole file).
_FICLONE = 0x40049409


def reflink(src: str, dst: str) -> bool:
    """Clone ``src`` to a new file ``dst`` sharing its blocks; False where unsupported."""
    try:
        with open(src, "rb") as s, open(dst, "xb") as d:
            try:
                fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
                return True
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF,
                                     errno.ENOSYS, errno.EPERM):
                    raise
    except BaseException:
        _unlink(dst)
        raise
    _unlink(dst)
    return False


def materialise(src: str, dst: str, hardlink: bool | None = None) -> str:
    """Put a copy of ``src`` at new path ``dst``: reflink, else (if allowed) hardlink, else copy.

    Returns the method used. Hardlinks are off unless ``hardlink`` or the
    environment variable ``ARTY_HARDLINK=1`` allows them: a hardlinked file
    shares its bytes with the cache and with every other download of the same
    blob, so editing one in place changes the others (the cache itself notices,
    since it re-hashes before use, but other downloads would not).
    """
    if reflink(src, dst):
        return "reflink"
    if hardlink if hardlink is not None else os.environ.get("ARTY_HARDLINK") == "1":
        try:
            os.link(src, dst)
            return "hardlink"
        except OSError:
            pass
    shutil.copyfile(src, dst)
    return "copy"


class CacheUnwritable(Exception):
    """The blob cache cannot take a new blob (read-only or full): fetch around it."""


class BlobCache:
    """Verified local copies of remote blobs, in ``root/objects``.

    A cache that cannot be written (a read-only folder, a full disk) is still
    read; :meth:`put_stream` then raises :class:`CacheUnwritable` before it reads
    anything from its source, and keeps raising it for this process.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.writable = True

    def path(self, digest: Digest) -> str:
        return os.path.join(self.root, "objects", digest.hex[:2], digest.hex[2:])

    def get(self, digest: Digest) -> str | None:
        """The cached file for ``digest`` if present and intact (a bad one is removed)."""
        p = self.path(digest)
        if not os.path.exists(p):
            return None
        if hash_file(p, digest.algorithm) != digest:
            try:
                _unlink(p)
            except OSError:  # a read-only cache keeps its bad copy; it is never used
                pass
            return None
        return p

    def put_stream(self, digest: Digest, src, size_hint: int | None = None) -> str | None:  # noqa: ANN001
        """Copy an open stream into the cache while hashing; return the path, or
        None if the bytes do not match ``digest`` (nothing is kept then)."""
        p = self.path(digest)
        tmp = f"{p}.tmp-{uuid.uuid4().hex}"
        if not self.writable:
            raise CacheUnwritable(self.root)
        try:
            os.makedirs(os.path.dirname(p), exist_ok=True)
            out = open(tmp, "wb")
        except OSError as exc:
            self.writable = False
            raise CacheUnwritable(f"{self.root}: {exc}") from exc
        h = new_hasher(digest.algorithm)
        try:
            with out:
                while True:
                    chunk = src.read(CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
                    out.write(chunk)
            if Digest(digest.algorithm, h.hexdigest()) != digest:
                _unlink(tmp)
                return None
            os.replace(tmp, p)
            return p
        except BaseException:
            _unlink(tmp)
            raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
