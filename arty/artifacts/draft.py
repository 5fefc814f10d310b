"""``Artifact``: a draft of an artifact version, filled before it is logged.

Shaped like W&B's ``wandb.Artifact``::

    art = Artifact("mnist", type="dataset", description="...", metadata={"source": "..."})
    art.add_dir("data/")
    art.add_file("labels.csv", name="meta/labels.csv")
    art.add_reference("s3://bucket/raw/")
    with art.new_file("notes.txt") as f:
        f.write("...")
    art.add(arty.Table(columns=["id", "label"], data=rows), "preds")   # preds.table.parquet

Adding only records what to add; files are hashed when the draft is logged.
A later addition at the same path replaces an earlier one.

A draft made from a logged version (``version.new_draft()``) starts from that
version's tree (:class:`Base`) without listing or downloading its files:
``remove(path)`` drops a file or folder of it, additions go on top (replacing
what is at the same path), and logging it reads and writes only the tree nodes
on the changed paths (:func:`arty.artifacts.manifest.overlay`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import weakref
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator

from arty.artifacts.names import check_name, check_path
from arty.errors import InvalidPath, NotFound, UsageError

if TYPE_CHECKING:
    from arty.artifacts.manifest import Entry
    from arty.hashing import Digest
    from arty.artifacts.versions import ArtifactVersion

#: How ``Artifact.save()`` logs a draft: ``arty.log_artifact``, which knows about runs (this
#: layer does not). Unset, ``save()`` takes the package's ``arty._save_draft``: the package is
#: always loaded before this module (it is its parent), and it does not load this module itself,
#: so that ``import arty`` stays cheap. :func:`set_saver` chooses another.
_saver: "Callable[..., ArtifactVersion] | None" = None


def set_saver(saver: "Callable[..., ArtifactVersion]") -> None:
    """Register the function that ``Artifact.save()`` calls (``saver(draft, project=...)``)."""
    global _saver
    _saver = saver


@dataclass(frozen=True)
class Base:
    """The logged version a draft starts from: its store, where it is, its tree's root, and
    ``kind(path)`` (``"file"``, ``"dir"`` or None: what the version has at ``path``)."""

    store_url: str
    project: str
    name: str
    number: int
    digest: "Digest"
    kind: "Callable[[str], str | None]"

    @property
    def label(self) -> str:
        return f"base version '{self.name}:v{self.number}'"


@dataclass(frozen=True)
class Source:
    """One thing added to a draft: a local file, a local folder, or a reference URI."""

    kind: str  # "file" | "dir" | "ref" | "entry"
    location: str  # absolute local path, URI for references, store URL for entries
    name: str  # path inside the artifact ("" = root, for dirs and refs)
    checksum: bool = True
    entry: "Entry | None" = None  # kind "entry": a file of a logged version, taken as stored


class Artifact:
    """A draft artifact version. Log it with ``arty.log_artifact(draft)``."""

    #: W&B calls that need a logged version: on a draft they say so (not an AttributeError).
    _VERSION_ONLY = ("get", "get_entry", "get_path", "files", "file", "download", "checkout", "verify",
                     "manifest", "delete", "link", "used_by", "logged_by", "new_draft", "aliases", "digest")

    def __init__(self, name: str, type: str = "dataset", description: str | None = None,
                 metadata: dict[str, Any] | None = None, incremental: bool = False, use_as: str | None = None) -> None:
        if incremental:
            raise UsageError("incremental artifacts are not supported",
                             hint="start from the last version: arty.use_artifact('name:latest').new_draft(), "
                                  "add or remove files, then log it")
        self.name = check_name(name)
        if not isinstance(type, str) or not type:
            raise UsageError(f"invalid artifact type '{type}'", hint="e.g. 'dataset' or 'model'")
        self.type = type
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})
        try:  # checked now, not after the files were uploaded
            json.dumps(self.metadata, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"invalid metadata for artifact '{name}': {exc}",
                             hint="metadata must be JSON: strings, finite numbers, booleans, null, lists, objects") \
                from None
        self.sources: list[Source] = []
        #: The version this draft starts from (``new_draft``), and the paths of it removed.
        self.base: Base | None = None
        self.removed: list[str] = []
        self._tmpdir: str | None = None
        self.logged: "ArtifactVersion | None" = None  # set by save()
        #: Seconds (or a ``datetime.timedelta``) the version is kept after it is logged, W&B's
        #: ``artifact.ttl``; None or ``"inherit"``: no TTL of its own (docs/retention.md).
        self.ttl: Any = None

    def __repr__(self) -> str:
        return f"Artifact({self.name!r}, type={self.type!r}, {len(self.sources)} sources)"

    def __getattr__(self, name: str) -> Any:
        if name in Artifact._VERSION_ONLY:
            logged = self.__dict__.get("logged")
            if logged is not None:  # after save() the draft reads through to its version, like W&B's
                return getattr(logged, name)
            raise UsageError(f"'{name}' needs a logged version; artifact '{self.__dict__.get('name')}' "
                             "is a draft", hint=f"log it first: v = art.save() (or run.log_artifact(art)), "
                                                f"then v.{name}")
        raise AttributeError(f"'Artifact' object has no attribute '{name}'")

    def is_draft(self) -> bool:
        """True until the draft is logged (W&B's ``artifact.is_draft()``)."""
        return self.logged is None

    def finalize(self) -> None:
        """Nothing to do: a draft is fixed when it is logged (W&B's ``finalize``)."""
        return None

    def save(self, project: str | None = None, settings: Any = None) -> "ArtifactVersion":
        """Log this draft, like W&B's ``artifact.save()``: inside a run (``arty.init``) the run
        logs it; otherwise it goes straight to the store (``project``: default the store's).
        Returns the version (also kept as ``self.logged``). ``settings`` is accepted for
        compatibility with W&B and ignored."""
        saver = _saver or getattr(sys.modules.get("arty"), "_save_draft", None)
        if saver is None:  # only when the arty package is not the one this module belongs to
            raise UsageError("Artifact.save() needs the arty package", hint="import arty; or use Registry.log(draft)")
        self.logged = saver(self, project=project)
        return self.logged

    def wait(self, timeout: float | None = None) -> "Artifact":
        """Returns self once logged: logging is synchronous in Arty. Not logged yet: UsageError."""
        self._logged_version()
        return self

    def _logged_version(self) -> "ArtifactVersion":
        if self.logged is None:
            raise UsageError(f"artifact '{self.name}' is not logged yet",
                             hint="save() or arty.log_artifact() logs it; version names exist only after")
        return self.logged

    @property
    def version(self) -> str:
        """``"v3"`` once saved (:class:`UsageError` before)."""
        return self._logged_version().version

    @property
    def qualified_name(self) -> str:
        """``"project/name:v3"`` once saved (:class:`UsageError` before)."""
        return self._logged_version().qualified_name

    @property
    def source_name(self) -> str:
        """``"name:v3"`` once saved (:class:`UsageError` before)."""
        return self._logged_version().source_name

    def add_entries(self, entries: "Iterable[Entry]", store_url: str) -> "Artifact":
        """Add files of a logged version as they are stored (``new_draft``): nothing is read
        or copied; the draft must be logged to the store ``store_url`` that holds them."""
        for e in entries:
            self.sources.append(Source("entry", store_url, check_path(e.path), entry=e))
        return self

    def add_file(self, local_path: str | os.PathLike[str], name: str | None = None) -> "Artifact":
        """Add one local file, at ``name`` (default: its base name)."""
        path = os.path.abspath(os.fspath(local_path))
        if not os.path.isfile(path):
            raise NotFound(f"file '{local_path}' not found", hint="check the path; folders go through add_dir")
        self.sources.append(Source("file", path, check_path(name or os.path.basename(path))))
        return self

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None) -> "Artifact":
        """Add every file under a local folder, at the root or under ``name``.

        Symbolic links to files are followed; links to folders are skipped.
        """
        path = os.path.abspath(os.fspath(local_path))
        if not os.path.isdir(path):
            raise NotFound(f"folder '{local_path}' not found", hint="check the path; single files go through add_file")
        self.sources.append(Source("dir", path, check_path(name) if name else ""))
        return self

    def add_reference(self, uri: str, name: str | None = None, checksum: bool = True) -> "Artifact":
        """Record an object (or every object under a prefix) by URI, without copying it.

        The entry keeps what identifies the content there: size, ETag, version
        id or generation, and for local files a digest (when ``checksum``).
        Downloading it later checks that it has not changed.
        """
        if not isinstance(uri, str) or not uri:
            raise UsageError(f"invalid reference '{uri}'", hint="expected a URI such as s3://bucket/key or file:///path")
        if "://" not in uri:
            uri = "file://" + os.path.abspath(uri)
        self.sources.append(Source("ref", uri, check_path(name) if name else "", checksum))
        return self

    @contextlib.contextmanager
    def new_file(self, name: str, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
        """Open a new file that becomes part of the artifact at ``name``."""
        check_path(name)
        if "w" not in mode and "x" not in mode:
            raise UsageError(f"invalid mode '{mode}' for new_file", hint="use 'w' or 'wb'")
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="arty-new-file-")
            # Removed when the draft is garbage collected or at exit.
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
        local = os.path.join(self._tmpdir, str(len(self.sources)))
        with open(local, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
        self.sources.append(Source("file", local, name))

    def add(self, obj: Any, name: str) -> "Artifact":
        """Add a :class:`arty.Table` at ``name``, stored as ``<name>.table.parquet``
        (or ``.table.jsonl`` without pyarrow); ``version.get(name)`` reads it back.
        The table is encoded now: later changes to it are not in the artifact."""
        from arty.artifacts.tables import SUFFIXES, Table

        if not isinstance(obj, Table):
            raise UsageError(f"cannot add a {type(obj).__name__} to artifact '{self.name}'",
                             hint="add() takes an arty.Table; files go through add_file or add_dir")
        fmt, data = obj.encode()
        path = check_path(name if name.endswith(SUFFIXES[fmt]) else name + SUFFIXES[fmt])
        with self.new_file(path, "wb") as f:
            f.write(data)
        return self

    def remove(self, name: str) -> "Artifact":
        """Drop everything added at path ``name``; in a draft from a version, also the file or
        folder of that version at ``name`` (``"old/"`` or ``"old"`` for a folder). Additions,
        before or after, go on top of what remains. :class:`NotFound` when there is nothing
        at ``name``."""
        path = check_path(name.rstrip("/")) if isinstance(name, str) and name.rstrip("/") else check_path(name)
        before = len(self.sources)
        self.sources = [s for s in self.sources if s.name != path]
        found = len(self.sources) != before
        if self.base is not None and self.base.kind(path) is not None:
            if path not in self.removed:
                self.removed.append(path)
            found = True
        if not found:
            if self.base is not None:
                raise NotFound(f"cannot remove '{name}': no file or folder there in {self.base.label}",
                               hint=f"'art show {self.base.name}:v{self.base.number}' lists its files")
            raise InvalidPath(f"nothing was added at '{name}'",
                              hint="added paths: " + ", ".join(s.name or "." for s in self.sources))
        return self

    def cleanup(self) -> None:
        """Remove the temporary folder holding ``new_file`` contents now."""
        if self._tmpdir is not None:
            self._finalizer()
            self._tmpdir = None
