"""A run's config: attribute and key access, updates from dicts, argparse
Namespaces and YAML files. Changes after ``init`` are recorded as events."""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable, Iterator, MutableMapping

from arty.errors import NotFound, UsageError
from arty.tracking.values import clean


def load_config(source: Any) -> dict[str, Any]:
    """A dict from a dict, an argparse Namespace, a YAML file path, or None."""
    if source is None:
        return {}
    if isinstance(source, argparse.Namespace):
        return dict(vars(source))
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError as exc:
            raise UsageError(f"cannot read config file '{path}': PyYAML is not installed",
                             hint="pip install pyyaml") from exc
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except FileNotFoundError:
            raise NotFound(f"config file '{path}' not found") from None
        if not isinstance(data, dict):
            raise UsageError(f"config file '{path}' does not hold a mapping")
        # W&B's config-defaults.yaml style: {key: {value: v, desc: ...}}
        return {k: (v["value"] if isinstance(v, dict) and set(v) <= {"value", "desc"} and "value" in v else v)
                for k, v in data.items()}
    if isinstance(source, dict):
        return dict(source)
    if hasattr(source, "__dict__"):
        return {k: v for k, v in vars(source).items() if not k.startswith("_")}
    raise UsageError(f"cannot use a {type(source).__name__} as config", hint="pass a dict, a Namespace or a YAML path")


#: How deep a config value may nest dicts and lists. W&B-style configs nest a few levels;
#: far deeper values cannot be stored as JSON or shown, so they are refused.
MAX_CONFIG_DEPTH = 100


def nesting_depth(value: Any, limit: int) -> int:
    """How many dicts, lists and tuples ``value`` nests, counting no further than ``limit + 1``
    (no recursion, so any depth is measured safely)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            deepest = max(deepest, depth)
            if depth > limit:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _jsonable(key: str, value: Any) -> Any:
    if nesting_depth(value, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH:
        raise UsageError(f"config key '{key}' is nested more than {MAX_CONFIG_DEPTH} levels deep",
                         hint="flatten it, or store it as a file (an artifact) and put its name in the config")
    return _clean_nested(key, value)


def _clean_nested(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean_nested(f"{key}.{k}", v) for k, v in value.items()}
    ok, v = clean(key, value)
    return v if ok else repr(value)


class Config(MutableMapping[str, Any]):
    """``config.lr``, ``config["lr"]``, ``config.update({...})``; nested dicts kept nested."""

    def __init__(self, data: dict[str, Any] | None = None, on_change: Callable[[], None] | None = None) -> None:
        object.__setattr__(self, "_data", {})
        object.__setattr__(self, "_on_change", None)
        for k, v in (data or {}).items():
            self._data[str(k)] = _jsonable(str(k), v)
        object.__setattr__(self, "_on_change", on_change)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def update(self, other: Any = None, allow_val_change: bool = True, **kwargs: Any) -> None:  # type: ignore[override]
        data = load_config(other) if other is not None else {}
        data.update(kwargs)
        self._data.update({str(k): _jsonable(str(k), v) for k, v in data.items()})  # all or nothing
        if data and self._on_change:
            self._on_change()

    def setdefaults(self, data: dict[str, Any]) -> None:
        changed = False
        for k, v in data.items():
            if k not in self._data:
                self._data[k] = _jsonable(k, v)
                changed = True
        if changed and self._on_change:
            self._on_change()

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[str(key)] = _jsonable(str(key), value)
        if self._on_change:
            self._on_change()

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        if self._on_change:
            self._on_change()

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def persist(self) -> None:
        """W&B's ``config.persist()``: record the config now (changes are recorded anyway)."""
        if self._on_change:
            self._on_change()

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"config has no key '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __repr__(self) -> str:
        return f"Config({self._data!r})"
