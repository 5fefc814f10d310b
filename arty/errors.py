"""The Arty exception tree.

Every error Arty raises on purpose derives from :class:`ArtyError`. Messages
follow git's shape: lowercase, the problem first, the subject quoted, then a
hint. The CLI turns them into ``error: <message>`` and the class's
``exit_code``::

    ArtyError
    ├── UsageError                 bad argument or option value
    │   ├── InvalidName            an artifact, project or alias name that breaks the rules
    │   └── InvalidPath            a manifest path with '..', an absolute path, empty parts
    ├── NotFound                   an artifact, version, alias or run that does not exist
    ├── StoreError                 the store cannot be used
    │   ├── StoreUnreachable       network or server failure talking to the store
    │   ├── StorePermissionDenied  the backend refused access
    │   ├── StoreFull              no space left on the store's device
    │   ├── UnsupportedStore       a newer store format, or a backend with no atomic create
    │   └── MissingExtra           the fsspec implementation for a URL is not installed
    ├── IntegrityError             bytes that do not match their digest
    │   ├── ReferenceChanged       a referenced object changed since it was recorded
    │   └── BadRecord              a record that is not a JSON object with the fields its readers
    │                              need, or that contradicts where it is stored
    ├── ConflictError              a create-if-absent lost its race too many times, or the
    │   │                          store's state prevents the change (a move decided already)
    │   └── PendingApproval        a protected alias's move was recorded, waiting for an approval
    └── PermissionDenied           the person acting may not do this (approve their own move)
"""

from __future__ import annotations


class ArtyError(Exception):
    """Root of every error Arty raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\nhint: {hint}")


class UsageError(ArtyError):
    """An argument or option has a value Arty cannot use."""

    exit_code = 2


class InvalidName(UsageError):
    """An artifact, project or alias name breaks the naming rules."""


class InvalidPath(UsageError):
    """A path inside a manifest is absolute, has '..' or empty parts."""


class NotFound(ArtyError):
    """An artifact, version, alias or object does not exist."""

    exit_code = 3


class StoreError(ArtyError):
    """The store cannot be opened, read or written."""

    exit_code = 4

    def __init__(self, message: str, hint: str | None = None, url: str | None = None) -> None:
        self.url = url
        super().__init__(message, hint)


class StoreUnreachable(StoreError):
    """The store's server or network did not answer."""


class StorePermissionDenied(StoreError):
    """The backend refused the operation for lack of permission."""


class StoreFull(StoreError):
    """The device or bucket behind the store has no space left."""


class UnsupportedStore(StoreError):
    """The store's format is unknown, or its backend cannot create atomically."""


class MissingExtra(StoreError):
    """The fsspec implementation a URL needs is not installed."""


class IntegrityError(ArtyError):
    """Bytes read do not match the digest that names them."""

    exit_code = 5


class ReferenceChanged(IntegrityError):
    """An object added by reference changed since it was recorded."""


class BadRecord(IntegrityError):
    """A record that is not valid JSON, not an object, lacks a field its readers need, or
    contradicts where it is stored (a version record whose name, project or number is not
    its folder's).

    ``path`` is the record's path in the store. Readers of many records skip
    such a record with a warning; ``art verify --repair`` moves it aside.
    """

    def __init__(self, message: str, hint: str | None = None, path: str = "") -> None:
        self.path = path
        super().__init__(message, hint)


class ConflictError(ArtyError):
    """A create-if-absent lost its race more times than allowed."""

    exit_code = 6


class PendingApproval(ConflictError):
    """A move of a protected alias was recorded as pending: another admin must approve it."""

    def __init__(self, message: str, hint: str | None = None, move_id: str | None = None) -> None:
        self.move_id = move_id
        super().__init__(message, hint)


class PermissionDenied(ArtyError):
    """The person acting may not do this (approve their own pending alias move, say)."""

    exit_code = 7


def missing_attribute(owner: str, label: str, name: str, hints: dict[str, str]) -> Exception:
    """The error for ``obj.name`` that ``obj`` (shown as ``owner``) does not have: a
    :class:`UsageError` naming the Arty way when ``hints`` has one for a W&B name
    (``label.name is not supported``), else the plain :class:`AttributeError`."""
    hint = hints.get(name)
    if hint is None:
        return AttributeError(f"'{owner}' object has no attribute '{name}'")
    return UsageError(f"{label}.{name} is not supported", hint=hint)
