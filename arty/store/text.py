"""Text in records is valid Unicode: lone surrogates become U+FFFD, with a warning.

Python represents an undecodable byte of a file name, of ``sys.argv`` or of an
environment variable as a *lone surrogate* (``"caf\\udce9"``, the
``surrogateescape`` error handler). Such a string cannot be encoded as UTF-8,
so neither a record nor SQLite nor an HTTP response can hold it. Arty decides
once, here: every record written replaces each lone surrogate with U+FFFD
(the replacement character) and warns, naming the record and the fields. A
record that already holds one (a ``\\udce9`` escape written by an older
version) is read the same way.

Canonical encodings that must be exact (tree nodes, whose bytes are their
digest) do not come here: they refuse such text.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

#: One code point of the surrogate range; in a decoded Python string any such code point is lone.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: A ``\\uD800``-``\\uDFFF`` escape in JSON text: the only way a JSON document can carry one.
_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
#: Fields named in one warning.
_NAMED = 5


def replace_lone_surrogates(obj: Any) -> tuple[Any, list[str]]:
    """``(obj with every lone surrogate in a string or key as U+FFFD, dotted paths of the fields changed)``.

    Dicts, lists and tuples are rebuilt only where something changed; other
    values pass through. Two keys that become equal keep both, the second as
    ``key~2`` (and so on).
    """
    fields: list[str] = []

    def fix(value: Any, where: str) -> Any:
        if isinstance(value, str):
            if _SURROGATE.search(value) is None:
                return value
            fields.append(where or "(value)")
            return _SURROGATE.sub("\ufffd", value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                key = k
                if isinstance(k, str) and _SURROGATE.search(k) is not None:
                    key = _SURROGATE.sub("\ufffd", k)
                    fields.append(_join(where, key))
                    n = 2
                    while key in value or key in out:
                        key = f"{_SURROGATE.sub(chr(0xFFFD), k)}~{n}"
                        n += 1
                out[key] = fix(v, _join(where, key))
            return out
        if isinstance(value, (list, tuple)):
            return [fix(v, where) for v in value]
        return value

    fixed = fix(obj, "")
    return (fixed, fields) if fields else (obj, [])


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def warn_replaced(what: str, fields: list[str], done: str = "stored", stacklevel: int = 3) -> None:
    """Warn that ``what`` (a record) had text that is not valid Unicode in ``fields``, ``done`` with U+FFFD."""
    unique = list(dict.fromkeys(fields))
    named = ", ".join(f"'{f}'" for f in unique[:_NAMED])
    more = f" and {len(unique) - _NAMED} more" if len(unique) > _NAMED else ""
    warnings.warn(f"arty: {what}: text in {named}{more} is not valid Unicode (a lone surrogate, such as an "
                  f"undecodable byte of a file name); {done} with U+FFFD in its place", RuntimeWarning,
                  stacklevel=stacklevel)


def dumps(obj: Any, what: str, *, sort_keys: bool = True, allow_nan: bool = False,
          default: Any = None) -> bytes:
    """``obj`` as compact UTF-8 JSON; text that is not valid Unicode is replaced (see the module docstring)."""
    kw: dict[str, Any] = {"sort_keys": sort_keys, "separators": (",", ":"), "ensure_ascii": False,
                          "allow_nan": allow_nan, "default": default}
    text = json.dumps(obj, **kw)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    fixed, fields = replace_lone_surrogates(obj)
    text = json.dumps(fixed, **kw)
    if _SURROGATE.search(text) is not None:  # from ``default`` (a repr), which the walk cannot see
        fields = fields or ["(a value)"]
        text = _SURROGATE.sub("\ufffd", text)
    warn_replaced(what, fields, "stored", stacklevel=3)
    return text.encode("utf-8")


def loaded(obj: Any, raw: bytes, what: str) -> Any:
    """``obj`` parsed from JSON ``raw``, with lone surrogates (escaped in ``raw``) replaced and warned of."""
    if _ESCAPE.search(raw) is None:
        return obj
    fixed, fields = replace_lone_surrogates(obj)
    if fields:
        warn_replaced(what, fields, "read", stacklevel=4)
    return fixed
