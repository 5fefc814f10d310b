"""Parameters of a pipeline: a params file, a ``params:`` section, per-step values, ``--set``.

Where params live (all optional):

* ``params.yaml`` next to the pipeline file, and a top-level ``params:`` mapping in the pipeline
  file itself. Both are read and merged; a key set in both is an error (which one wins would be
  a guess). Together they are the pipeline's *shared* params.
* A step's ``params:``: either a mapping of values of its own (``{lr: 0.5}``), or, like DVC's
  ``dvc.yaml``, a list of the shared keys it depends on (``[lr, train.epochs]``; a key naming a
  group gives the whole group), where an entry ``{FILE: [KEYS]}`` reads KEYS from another YAML,
  JSON or TOML file (``{FILE: null}``: all of it). A step depends on the keys it lists only, so a
  change to another key does not rerun it.

*The namespace* names every param once, as ``art repro --set`` and the experiments table name
them: a shared param by its dotted path (``train.lr``), a step's own param as ``STEP.KEY``
(``train.epochs``). :func:`namespace` builds it.

Contract of :func:`apply_sets`: every ``--set KEY=VALUE`` names an existing param (a shared one
first, then ``STEP.KEY``, then a bare ``KEY`` that steps have as their own, set in each of them)
and its new value has the old value's type (numbers are one type; a mapping stays a mapping);
otherwise a :class:`UsageError` before anything runs. Values are read as YAML (``5`` a number,
``true`` a bool, ``adam`` a string).
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import yaml

from arty.errors import UsageError

PARAMS_FILE = "params.yaml"
_MISSING = object()


def read_params_file(path: str, where: str) -> dict[str, Any]:
    """A YAML, JSON or TOML params file as a mapping (a clear error when it is not one)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise UsageError(f"{where}: params file '{path}' not found") from None
    try:
        if path.endswith(".toml"):
            import tomllib

            data: Any = tomllib.loads(raw.decode("utf-8"))
        else:
            data = yaml.safe_load(raw)  # JSON is YAML
    except (yaml.YAMLError, ValueError) as exc:
        raise UsageError(f"params file '{path}' cannot be read: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"params file '{path}' does not hold a mapping of names to values")
    return {str(k): v for k, v in data.items()}


def lookup(doc: dict[str, Any], key: str) -> Any:
    """The value at dotted ``key`` in nested ``doc`` (an exact key with dots first), else ``_MISSING``."""
    if key in doc:
        return doc[key]
    head, dot, rest = key.partition(".")
    while dot:
        if head in doc and isinstance(doc[head], dict):
            found = lookup(doc[head], rest)
            if found is not _MISSING:
                return found
        more_head, dot, rest = rest.partition(".")
        head = f"{head}.{more_head}"
    return _MISSING


def _assign(doc: dict[str, Any], key: str, value: Any) -> bool:
    """Set the existing dotted ``key`` of ``doc`` (as :func:`lookup` finds it); False when absent."""
    if key in doc:
        doc[key] = value
        return True
    head, dot, rest = key.partition(".")
    while dot:
        if head in doc and isinstance(doc[head], dict) and _assign(doc[head], rest, value):
            return True
        more_head, dot, rest = rest.partition(".")
        head = f"{head}.{more_head}"
    return False


def _merge(a: dict[str, Any], b: dict[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    out = copy.deepcopy(a)
    for k, v in b.items():
        if k in out and isinstance(out[k], dict) and isinstance(v, dict):
            out[k] = _merge(out[k], v, where, f"{prefix}{k}.")
        elif k in out:
            raise UsageError(f"{where}: param '{prefix}{k}' is set both in {PARAMS_FILE} and in the 'params:' "
                             "section", hint="keep one of them")
        else:
            out[k] = copy.deepcopy(v)
    return out


def shared_params(base: str, section: Any, where: str) -> dict[str, Any]:
    """``params.yaml`` in ``base`` (when there is one) merged with the pipeline file's ``params:``."""
    if section is not None and not isinstance(section, dict):
        raise UsageError(f"{where}: 'params' must be a mapping of names to values")
    path = os.path.join(base, PARAMS_FILE)
    from_file = read_params_file(path, where) if os.path.isfile(path) else {}
    return _merge(from_file, {str(k): v for k, v in (section or {}).items()}, where)


def step_params(step: str, raw: Any, shared: dict[str, Any], base: str, at: str) -> tuple[dict[str, Any], bool]:
    """``(params, own)``: a step's params (key -> value), and whether they are its own values
    (a mapping) rather than keys of shared params files (a list)."""
    if raw is None:
        return {}, True
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}, True
    if not isinstance(raw, list):
        raw = [raw]
    out: dict[str, Any] = {}

    def take(doc: dict[str, Any], key: str, source: str) -> None:
        value = lookup(doc, key)
        if value is _MISSING:
            known = ", ".join(sorted(flatten(doc))) or "none"
            raise UsageError(f"{at}: param '{key}' is not in {source}", hint=f"its params: {known}")
        out[key] = copy.deepcopy(value)

    for entry in raw:
        if isinstance(entry, (str, int, float)) and not isinstance(entry, bool):
            take(shared, str(entry), PARAMS_FILE + " or the 'params:' section")
        elif isinstance(entry, dict):
            for file, keys in entry.items():
                doc = read_params_file(os.path.normpath(os.path.join(base, str(file))), at)
                if keys is None:
                    for k, v in doc.items():
                        out[k] = v
                    continue
                if isinstance(keys, str):
                    keys = [keys]
                if not isinstance(keys, list):
                    raise UsageError(f"{at}: params of '{file}' must be a list of keys")
                for k in keys:
                    take(doc, str(k), f"'{file}'")
        else:
            raise UsageError(f"{at}: each entry of 'params' is a key or a mapping 'FILE: [KEYS]'")
    return out, False


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``). (The index has the
    same for runs, :func:`arty.index.compare.flatten_dotted`; importing the index here would load
    SQLite's wrapper, and with it pandas, on every ``art repro``.)"""
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def split_assignment(text: str, option: str, example: str) -> tuple[str, str, Any]:
    """``KEY=VALUE`` of a command-line option: ``(key, the raw value, the value read as YAML)``
    (``0.01``, ``5``, ``true``, ``adam``, ``[1, 2]``; text YAML cannot read stays text).
    UsageError naming ``option`` without a ``=`` or a key."""
    key, eq, raw = str(text).partition("=")
    if not eq or not key.strip():
        raise UsageError(f"invalid {option} '{text}'", hint=f"KEY=VALUE, e.g. {example}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), raw, value


def parse_set(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--set``; the value read as YAML (``0.01``, ``5``, ``true``, ``adam``, ``[1, 2]``)."""
    key, _, value = split_assignment(text, "--set", "--set train.lr=0.01")
    return key, value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "null"


def check_type(key: str, old: Any, new: Any) -> None:
    """A :class:`UsageError` when ``new`` is not of ``old``'s type (``null`` takes anything)."""
    if old is None or _kind(old) == _kind(new):
        return
    raise UsageError(f"--set {key}: {json.dumps(new, default=str)} is a {_kind(new)}, but param '{key}' is a "
                     f"{_kind(old)} ({json.dumps(old, default=str)})",
                     hint=f"give a {_kind(old)}, e.g. --set {key}={json.dumps(old, default=str)}")


def apply_sets(shared: dict[str, Any], own: dict[str, dict[str, Any]], sets: dict[str, Any],
               where: str) -> None:
    """Apply ``--set`` values in place to the shared params and to the steps' own params
    (``own``: step -> its own params). See the module docstring for how a key is found."""
    for key, value in sets.items():
        old = lookup(shared, key)
        if old is not _MISSING:
            check_type(key, old, value)
            _assign(shared, key, value)
            continue
        step, dot, rest = key.partition(".")
        if dot and step in own and rest in own[step]:
            check_type(key, own[step][rest], value)
            own[step][rest] = value
            continue
        having = [s for s, params in own.items() if key in params]
        if having:
            for s in having:
                check_type(key, own[s][key], value)
            for s in having:
                own[s][key] = value
            continue
        known = sorted(set(flatten(shared)) | {f"{s}.{k}" for s, params in own.items() for k in params})
        raise UsageError(f"--set {key}: no param '{key}' in {where}",
                         hint="its params: " + (", ".join(known) if known else
                                                f"none (add them to {PARAMS_FILE} or a step's 'params:')"))


def namespace(shared: dict[str, Any], own: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every param once: the shared ones as they are, each step's own ones under its name."""
    out = copy.deepcopy(shared)
    for step, params in own.items():
        if params:
            out[step] = copy.deepcopy(params)
    return out
