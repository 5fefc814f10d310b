"""Artifact, project and alias names, and references like ``proj/name:alias``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from arty.errors import InvalidName, InvalidPath

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VERSION = re.compile(r"v(\d+)")
_DRIVE = re.compile(r"[A-Za-z]:")  # a Windows drive, absolute or drive-relative: C:/x, C:x
#: Aliases Arty derives itself; they cannot be set by hand.
RESERVED_ALIASES = ("latest",)


_NAME_HINT = "use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, not ending in '.json'"


def is_name(text: object) -> bool:
    """Whether ``text`` follows the rule shared by project, artifact and alias names."""
    return isinstance(text, str) and bool(_NAME.fullmatch(text)) and not text.endswith(".json")


def check_name(name: str, what: str = "artifact") -> str:
    """Return ``name`` if it is a valid artifact/project name, else raise InvalidName."""
    if not is_name(name):
        raise InvalidName(f"invalid {what} name '{name}'", hint=_NAME_HINT)
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it may be set by hand, else raise InvalidName.

    Aliases follow the name rule, so that every alias that can be set can be
    resolved as ``name:alias``.
    """
    if not is_name(alias):
        raise InvalidName(f"invalid alias '{alias}'", hint=_NAME_HINT)
    if alias in RESERVED_ALIASES or _VERSION.fullmatch(alias):
        raise InvalidName(f"alias '{alias}' is reserved", hint="'latest' and 'v<N>' are derived from the versions")
    return alias


def parse_version(text: str) -> int | None:
    """``"v3"`` -> 3; anything else -> None."""
    m = _VERSION.fullmatch(text)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class ArtifactRef:
    """A parsed ``[project/]name[:version-or-alias]``; ``selector`` None means latest."""

    project: str | None
    name: str
    selector: str | None

    @classmethod
    def parse(cls, text: str) -> "ArtifactRef":
        """A reference to one version; a path after it (``name:v3/file.csv``) is refused here
        (:meth:`parse_with_path` takes one)."""
        if not isinstance(text, str) or not text:
            raise InvalidName(f"invalid artifact reference '{text}'", hint="expected [project/]name[:version|alias]")
        body, sep, selector = text.partition(":")
        if sep and not selector:
            raise InvalidName(f"invalid artifact reference '{text}'", hint="nothing after ':'")
        if "/" in selector:
            raise InvalidName(f"'{text}' names a path inside a version, not a version",
                              hint=f"give the version alone here: '{body}:{selector.partition('/')[0]}'")
        project, slash, name = body.rpartition("/")
        if slash:
            check_name(project, "project")
        check_name(name)
        if sep and parse_version(selector) is None and selector != "latest":
            try:
                check_name(selector, "alias")
            except InvalidName:
                raise InvalidName(f"invalid version or alias '{selector}' in '{text}'",
                                  hint="use v<N>, latest or an alias name") from None
        return cls(project or None, name, selector or None)

    @classmethod
    def parse_with_path(cls, text: str) -> tuple["ArtifactRef", str | None]:
        """``[project/]name:alias/path/in/version`` -> (the version's reference, the path).

        The path starts at the first ``/`` after the ``:`` (names never hold a ``/``, so a
        project-qualified ``proj/name:v3/a.csv`` splits the same way); a path needs the
        ``:version`` part. The path comes back validated (:func:`check_path`: no ``..``,
        no empty parts) without a trailing ``/``; None when there is none (``name:v3`` or
        ``name:v3/``).
        """
        if not isinstance(text, str):
            return cls.parse(text), None
        head, sep, rest = text.partition(":")
        selector, slash, path = rest.partition("/")
        ref = cls.parse(f"{head}{sep}{selector}" if sep else text)
        if not slash:
            return ref, None
        path = path[:-1] if path.endswith("/") else path
        if not path:
            return ref, None
        try:
            return ref, check_path(path)
        except InvalidPath as exc:
            raise InvalidPath(f"{exc.message} (in '{text}')", hint=exc.hint) from None

    def __str__(self) -> str:
        head = f"{self.project}/{self.name}" if self.project else self.name
        return f"{head}:{self.selector}" if self.selector else head


def check_path(path: str) -> str:
    """Validate and normalise a path inside a manifest.

    Paths are relative and ``/``-separated. Absolute paths, ``..`` or ``.``
    parts, empty parts, NUL and backslashes are rejected with InvalidPath (on
    write, and again on download, where a crafted manifest could try to escape).
    """
    if not isinstance(path, str) or not path:
        raise InvalidPath(f"invalid path '{path}' in artifact", hint="paths must be non-empty")
    if path.startswith("/") or _DRIVE.match(path):
        raise InvalidPath(f"absolute path '{path}' in artifact", hint="paths inside an artifact are relative")
    for part in path.split("/"):
        check_part(part, path)
    return path


def check_part(part: str, path: str | None = None) -> str:
    """Validate one component of a manifest path."""
    whole = path if path is not None else part
    if part == "":
        raise InvalidPath(f"empty part in path '{whole}' in artifact", hint="remove the doubled or trailing '/'")
    if part in (".", ".."):
        raise InvalidPath(f"path '{whole}' in artifact has a '{part}' part", hint="'.' and '..' are not allowed")
    if "\x00" in part or "\\" in part or "/" in part:
        raise InvalidPath(f"path '{whole}' in artifact has a forbidden character",
                          hint="NUL, '\\' and '/' are not allowed inside a name")
    return part
