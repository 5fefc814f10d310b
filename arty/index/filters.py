"""W&B-style run filters and sort orders, compiled to SQL over the ``runs`` table.

A filter is a dict; its entries must all hold (``$and``)::

    {"config.learning_rate": {"$gt": 0.001},      # nested config keys with dots: "config.optimizer.lr"
     "tags": "baseline",                           # the run has this tag
     "state": "finished",
     "summary.acc": {"$gte": 0.9},
     "name": {"$regex": "^base"},
     "$or": [{"group": "a"}, {"group": "b"}]}

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex``; a bare value
means ``$eq``. Logic: ``$and``, ``$or``, ``$nor`` (lists of filters).

Semantics, chosen to match what a W&B (MongoDB-style) user expects:

* comparisons only match values of the same JSON type: ``{"$gt": 0.001}``
  never matches a string, ``{"$eq": True}`` never matches 1;
* ``$ne`` and ``$nin`` also match runs where the key is missing;
* ``$exists: true`` matches a key present with any value, ``null`` included;
  ``{"$eq": None}`` matches a missing key or a ``null``;
* ``$regex`` searches (``re.search``) string values with Python's syntax;
* for ``tags``, every operator applies to the tags one by one: ``"tags": "x"``
  and ``{"$in": [...]}`` match a run having such a tag, ``$ne``/``$nin`` a
  run having none, a list ``["a", "b"]`` a run having all of them, and
  ``$exists`` a run with any tag at all;
* a key with dots is looked up nested first (``summary.val.acc`` ->
  ``{"val": {"acc": ...}}``), then as one flat key (``{"val.acc": ...}``).

Sort orders: a key as above, ``-`` in front for descending, several separated
by commas. Runs missing the key sort last either way.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from arty.errors import UsageError
from arty.store.layout import ADD_JOB_TYPE

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex")
LOGIC = ("$and", "$or", "$nor")
_CMP = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

#: Filter keys of the run's own fields -> (column, "text" | "number").
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("id", "text"), "name": ("name", "text"), "display_name": ("name", "text"),
    "project": ("project", "text"), "state": ("state", "text"),
    "created_at": ("created_at", "text"), "createdAt": ("created_at", "text"),
    "finished_at": ("finished_at", "text"),
    "runtime": ("runtime", "number"), "notes": ("notes", "text"),
    "group": ("run_group", "text"), "job_type": ("job_type", "text"), "jobType": ("job_type", "text"),
    "host": ("host", "text"), "user": ("user", "text"), "exit_code": ("exit_code", "number"),
    "steps": ("steps", "number"), "error": ("error", "text"),
    "experiment": ("experiment", "text"), "commit": ("git_commit", "text"),
}
#: Prefixes of keys looked up inside a JSON column (``params``/``metrics``: what DVC users call them).
JSON_PREFIXES = {"config": "config", "summary": "summary", "summary_metrics": "summary",
                 "params": "config", "metrics": "summary"}
#: Columns that always have a value (a run has them from run.json), sorted without a NULL guard.
_NEVER_NULL = {"id", "name", "project", "state", "created_at"}
FIELDS_HELP = ("id, name, state, tags, created_at, finished_at, runtime, notes, group, job_type, host, user, "
               "exit_code, steps, error, experiment, commit, config.KEY (params.KEY), summary.KEY (metrics.KEY)")


@dataclass(frozen=True)
class Field:
    """Where a filter key's value lives: a plain column, a place in a JSON column, or the tags."""

    value: str  # SQL expression of the value
    type: str | None  # SQL expression of its JSON type (json_type), None for a plain column
    kind: str  # "text" | "number" | "json" | "tags"


def _quote_sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_path(parts: list[str]) -> str:
    for p in parts:
        if '"' in p or not p:
            raise UsageError(f"invalid key part '{p}'", hint="keys may not be empty or contain '\"'")
    return "$" + "".join(f'."{p}"' for p in parts)


def field(key: str) -> Field:
    """The :class:`Field` a filter or sort key names."""
    if not isinstance(key, str) or not key:
        raise UsageError(f"invalid filter key {key!r}", hint=f"fields: {FIELDS_HELP}")
    if key == "tags":
        return Field("t.value", "t.type", "tags")
    if key in COLUMNS:
        col, kind = COLUMNS[key]
        return Field(col, None, kind)
    prefix, dot, rest = key.partition(".")
    if dot and prefix in JSON_PREFIXES and rest:
        col = JSON_PREFIXES[prefix]
        parts = rest.split(".")
        nested = _quote_sql(_json_path(parts))
        if len(parts) == 1:
            return Field(f"json_extract({col}, {nested})", f"json_type({col}, {nested})", "json")
        flat = _quote_sql(_json_path([rest]))
        return Field(
            f"(CASE WHEN json_type({col}, {nested}) IS NOT NULL THEN json_extract({col}, {nested}) "
            f"ELSE json_extract({col}, {flat}) END)",
            f"coalesce(json_type({col}, {nested}), json_type({col}, {flat}))", "json")
    raise UsageError(f"unknown run field '{key}'", hint=f"fields: {FIELDS_HELP}")


def _normalise(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _json_types(value: Any) -> str:
    if isinstance(value, bool):
        return "('true', 'false')"
    if isinstance(value, (int, float)):
        return "('integer', 'real')"
    if isinstance(value, str):
        return "('text')"
    if isinstance(value, (list, dict)):
        return "('array', 'object')"
    raise UsageError(f"cannot compare with a value of type {type(value).__name__}: {value!r}",
                     hint="use a number, string, bool, None, list or dict")


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return value


class _Compiler:
    def __init__(self) -> None:
        self.params: list[Any] = []

    def p(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    # -- one operator on one field ------------------------------------------------------------

    def eq(self, f: Field, v: Any) -> str:
        v = _normalise(v)
        if v is None:
            if f.type is not None:
                return f"({f.type} IS NULL OR {f.type} = 'null')"
            return f"{f.value} IS NULL"
        if f.type is None:
            if isinstance(v, (list, dict)):
                return "0"
            return f"{f.value} = {self.p(_param(v))}"
        value = f"json({f.value})" if isinstance(v, (list, dict)) else f.value
        rhs = f"json({self.p(_param(v))})" if isinstance(v, (list, dict)) else self.p(_param(v))
        return f"({f.type} IN {_json_types(v)} AND {value} = {rhs})"

    def cmp(self, f: Field, op: str, v: Any) -> str:
        v = _normalise(v)
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise UsageError(f"'{op}' needs a number or a string, not {v!r}")
        if f.type is None:
            return f"{f.value} {_CMP[op]} {self.p(v)}"
        return f"({f.type} IN {_json_types(v)} AND {f.value} {_CMP[op]} {self.p(v)})"

    def isin(self, f: Field, op: str, v: Any) -> str:
        if not isinstance(v, (list, tuple, set, frozenset)):
            raise UsageError(f"'{op}' needs a list, not {v!r}")
        items = list(v)
        if not items:
            return "0"
        return "(" + " OR ".join(self.eq(f, x) for x in items) + ")"

    def regex(self, f: Field, v: Any) -> str:
        if not isinstance(v, str):
            raise UsageError(f"'$regex' needs a string pattern, not {v!r}")
        try:
            re.compile(v)
        except re.error as exc:
            raise UsageError(f"invalid regular expression '{v}': {exc}") from None
        if f.type is None:
            return f"({f.value} IS NOT NULL AND regexp({self.p(v)}, {f.value}))"
        return f"({f.type} = 'text' AND regexp({self.p(v)}, {f.value}))"

    def exists(self, f: Field, v: Any) -> str:
        present = f"{f.type} IS NOT NULL" if f.type is not None else f"{f.value} IS NOT NULL"
        return present if v else f"NOT ({present})"

    def positive(self, f: Field, op: str, v: Any) -> str:
        """The condition for the operators that say what a value is (not $ne, $nin, $exists)."""
        if op == "$eq":
            return self.eq(f, v)
        if op in _CMP:
            return self.cmp(f, op, v)
        if op == "$in":
            return self.isin(f, op, v)
        if op == "$regex":
            return self.regex(f, v)
        raise AssertionError(op)  # pragma: no cover

    def op(self, f: Field, op: str, v: Any) -> str:
        if op not in OPERATORS:
            raise UsageError(f"unknown filter operator '{op}'", hint="operators: " + " ".join(OPERATORS + LOGIC))
        if f.kind == "tags":
            return self.tags_op(op, v)
        if op == "$exists":
            return self.exists(f, v)
        if op == "$ne":
            return f"NOT coalesce({self.eq(f, v)}, 0)"
        if op == "$nin":
            return f"NOT coalesce({self.isin(f, op, v)}, 0)"
        return self.positive(f, op, v)

    def tags_op(self, op: str, v: Any) -> str:
        elem = Field("t.value", "t.type", "json")
        if op == "$exists":
            return "json_array_length(runs.tags) > 0" if v else "json_array_length(runs.tags) = 0"
        if op in ("$ne", "$nin"):
            inner = self.eq(elem, v) if op == "$ne" else self.isin(elem, op, v)
            return f"NOT EXISTS (SELECT 1 FROM json_each(runs.tags) AS t WHERE {inner})"
        if op == "$eq" and isinstance(v, (list, tuple)):
            if not v:
                return "json_array_length(runs.tags) = 0"
            return "(" + " AND ".join(self.tags_op("$eq", x) for x in v) + ")"
        return f"EXISTS (SELECT 1 FROM json_each(runs.tags) AS t WHERE {self.positive(elem, op, v)})"

    # -- a key's condition, and whole filters ----------------------------------------------------

    def key(self, key: str, cond: Any) -> str:
        f = field(key)
        if isinstance(cond, dict) and cond and any(isinstance(k, str) and k.startswith("$") for k in cond):
            if not all(isinstance(k, str) and k.startswith("$") for k in cond):
                raise UsageError(f"filter on '{key}' mixes operators and plain keys: {cond!r}",
                                 hint='write {"$eq": {...}} to compare with an object')
            return "(" + " AND ".join(self.op(f, op, v) for op, v in cond.items()) + ")"
        return self.op(f, "$eq", cond)

    def filter(self, flt: Any) -> str:
        if not isinstance(flt, dict):
            raise UsageError(f"a filter must be a dict, not {type(flt).__name__}: {flt!r}",
                             hint='e.g. {"config.lr": {"$gt": 0.001}, "tags": "baseline"}')
        parts = []
        for k, v in flt.items():
            if k in LOGIC:
                if not isinstance(v, (list, tuple)) or not v:
                    raise UsageError(f"'{k}' needs a non-empty list of filters, not {v!r}")
                subs = [self.filter(x) for x in v]
                if k == "$and":
                    parts.append("(" + " AND ".join(subs) + ")")
                elif k == "$or":
                    parts.append("(" + " OR ".join(subs) + ")")
                else:
                    parts.append("NOT (" + " OR ".join(f"coalesce({s}, 0)" for s in subs) + ")")
            elif isinstance(k, str) and k.startswith("$"):
                raise UsageError(f"unknown filter operator '{k}' at the top of a filter",
                                 hint="operators: " + " ".join(OPERATORS + LOGIC))
            else:
                parts.append(self.key(k, v))
        return "(" + " AND ".join(parts) + ")" if parts else "1"


def compile_filter(flt: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """``(SQL condition over the runs table, parameters)`` for a filter (None: every run)."""
    if flt is None:
        return "1", []
    c = _Compiler()
    return c.filter(flt), c.params


def compile_order(order: str | list[str] | tuple[str, ...] | None) -> str:
    """An ``ORDER BY`` clause (without the words) for ``"-summary.acc"``, ``"name,-created_at"`` or a list."""
    keys = [k.strip() for k in (order.split(",") if isinstance(order, str) else list(order or ())) if k.strip()]
    clauses = []
    last_desc = True
    for key in keys:
        desc = key.startswith("-")
        name = key.lstrip("+-")
        f = field(name)
        if f.kind == "tags":
            raise UsageError("cannot sort by tags", hint=f"sort by one of: {FIELDS_HELP}")
        direction = "DESC" if desc else "ASC"
        if f.value in _NEVER_NULL:
            clauses.append(f"{f.value} {direction}")
        else:
            clauses.append(f"({f.value}) IS NULL, {f.value} {direction}")
        last_desc = desc
    # Ties: newest first, then by id in the same direction (so the default order walks an index).
    if not keys or clauses[-1].split()[0] != "created_at":
        clauses.append("created_at DESC")
        last_desc = True
    clauses.append(f"id {'DESC' if last_desc else 'ASC'}")
    return ", ".join(clauses)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regexp(pattern: str | None, value: Any) -> int | None:
    """SQLite function ``regexp(pattern, value)``: 1 when ``re.search`` finds it."""
    if pattern is None or value is None:
        return None
    return 1 if _compiled(pattern).search(str(value)) else 0


def without_add_runs(flt: dict[str, Any] | None) -> dict[str, Any]:
    """``flt`` and "not a run that ``art add`` recorded" (see
    :data:`arty.store.layout.ADD_JOB_TYPE`): what run listings show by default."""
    hide = {"job_type": {"$ne": ADD_JOB_TYPE}}
    return hide if not flt else {"$and": [flt, hide]}
