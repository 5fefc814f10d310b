"""What a record must be for its readers: a JSON object with the fields they need.

:meth:`arty.store.Store.read_record` refuses a record that is not valid JSON
or not an object, and, given one of the field specs below, one that lacks a
field or holds it with the wrong JSON type; it raises :class:`BadRecord`
naming the record's path. Readers of many records (listings, the index,
lineage) skip such a record with :func:`warn_skipped` and go on with the rest;
``art verify`` reports it and ``art verify --repair`` moves it aside.

Only types are checked here. What the values mean (names, sizes, sequence
numbers) is checked by the layers that use them.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Union

from arty.errors import BadRecord

#: Field name -> the JSON type(s) it must have (``type(None)`` for null).
Fields = Mapping[str, Union[type, tuple[type, ...]]]

#: ``versions/<N>.json``: what :class:`arty.artifacts.ArtifactVersion` reads without a default.
VERSION: Fields = {"project": str, "name": str, "version": int, "digest": str, "type": str, "size": int,
                   "files": int, "created_at": str}
#: ``aliases/<alias>/<N>.json``: the version it points at, or null (deleted).
ALIAS: Fields = {"version": (int, type(None))}
#: ``by-digest/<algorithm>-<hex>.json``: the first version with that content.
BY_DIGEST: Fields = {"version": int}

#: The hint every bad-record error and warning carries.
REPAIR_HINT = "'art verify' lists bad records; 'art verify --repair' moves them aside"

_JSON_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list",
               dict: "an object", type(None): "null"}


def json_type(value: Any) -> str:
    """``"an object"``, ``"a list"``, ... : the JSON type of a parsed value, for messages."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _has_type(value: Any, wanted: type | tuple[type, ...]) -> bool:
    kinds = wanted if isinstance(wanted, tuple) else (wanted,)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


def check_fields(record: dict[str, Any], fields: Fields, path: str, url: str) -> dict[str, Any]:
    """``record`` if it has every field of ``fields`` with its type; else :class:`BadRecord`."""
    for name, wanted in fields.items():
        if name not in record:
            raise BadRecord(f"record '{path}' in store '{url}' has no field '{name}'", REPAIR_HINT, path=path)
        if not _has_type(record[name], wanted):
            kinds = wanted if isinstance(wanted, tuple) else (wanted,)
            expected = " or ".join(_JSON_NAMES.get(k, k.__name__) for k in kinds)
            raise BadRecord(f"record '{path}' in store '{url}' has field '{name}' of the wrong type "
                            f"({json_type(record[name])}, not {expected})", REPAIR_HINT, path=path)
    return record


def warn_skipped(exc: BadRecord, stacklevel: int = 3) -> None:
    """Warn that a reader skipped a bad record (the warning names its path)."""
    warnings.warn(f"arty: skipped a bad record: {exc.message}; {REPAIR_HINT}", RuntimeWarning,
                  stacklevel=stacklevel)
