"""A run's summary and the metric definitions that shape it.

The summary keeps, for each logged key, the last value, unless
``define_metric(name, summary=...)`` says ``min``, ``max``, ``mean``, ``first``,
``last`` or ``none``; names may be globs (``"val/*"``). A value set with
``summary[key] = v`` (or ``summary.update``) wins over what logging computed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Iterator, MutableMapping

from arty.errors import UsageError
from arty.tracking.values import clean, flatten, is_number

RULES = ("min", "max", "mean", "first", "last", "none")


@dataclass
class MetricDefinition:
    """What ``define_metric`` recorded for a name or glob."""

    name: str
    step_metric: str | None = None
    summary: str | None = None
    goal: str | None = None
    hidden: bool = False

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, False)}


class Summary(MutableMapping[str, Any]):
    """Dict-like summary: logged values shaped by the rules, overridden by explicit sets."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self._auto: dict[str, Any] = {}
        self._explicit: dict[str, Any] = {}
        self._means: dict[str, tuple[float, int]] = {}
        self._rules: dict[str, str] = {}  # key -> rule, cached from the definitions
        self.definitions: dict[str, MetricDefinition] = {}
        self._on_change = on_change

    # -- definitions --------------------------------------------------------

    def define(self, name: str, step_metric: str | None = None, summary: str | None = None,
               goal: str | None = None, hidden: bool = False) -> MetricDefinition:
        if not isinstance(name, str) or not name:
            raise UsageError(f"invalid metric name '{name}'", hint="e.g. 'loss' or 'val/*'")
        if summary is not None and "," in summary:
            raise UsageError(f"one summary per metric, not '{summary}' for metric '{name}'",
                             hint="define another key for the second aggregate, or read the history")
        if summary == "best":  # W&B: the best value, by goal
            if goal is None:
                raise UsageError(f"summary 'best' for metric '{name}' needs a goal",
                                 hint="pass goal='minimize' or goal='maximize'")
            summary = "min" if goal == "minimize" else "max" if goal == "maximize" else summary
        elif summary == "copy":  # W&B (deprecated): the last value
            summary = "last"
        if summary is not None and summary not in RULES:
            raise UsageError(f"invalid summary '{summary}' for metric '{name}'", hint="use one of: " + ", ".join(RULES))
        if goal is not None and goal not in ("minimize", "maximize"):
            raise UsageError(f"invalid goal '{goal}' for metric '{name}'", hint="use 'minimize' or 'maximize'")
        d = MetricDefinition(name, step_metric, summary, goal, hidden)
        self.definitions[name] = d
        self._rules.clear()
        return d

    def rule(self, key: str) -> str:
        r = self._rules.get(key)
        if r is None:
            r = "last"
            exact = self.definitions.get(key)
            if exact is not None and exact.summary:
                r = exact.summary
            else:
                for pattern, d in self.definitions.items():
                    if d.summary and any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(key, pattern):
                        r = d.summary
                        break
            self._rules[key] = r
        return r

    # -- fed by run.log -----------------------------------------------------

    def observe(self, row: dict[str, Any]) -> None:
        """Fold one logged row into the automatic summary (the hot path)."""
        auto = self._auto
        rules = self._rules
        for k, v in row.items():
            r = rules.get(k) or self.rule(k)
            if r == "last":
                auto[k] = v
            elif r == "none":
                continue
            elif r == "first":
                if k not in auto:
                    auto[k] = v
            elif is_number(v):
                if r == "min":
                    if k not in auto or v < auto[k]:
                        auto[k] = v
                elif r == "max":
                    if k not in auto or v > auto[k]:
                        auto[k] = v
                else:  # mean
                    s, n = self._means.get(k, (0.0, 0))
                    s, n = s + v, n + 1
                    self._means[k] = (s, n)
                    auto[k] = s / n

    # -- mapping -------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self._auto.items() if not k.startswith("_")}
        out.update(self._explicit)
        return out

    def __getitem__(self, key: str) -> Any:
        if key in self._explicit:
            return self._explicit[key]
        if key in self._auto and not key.startswith("_"):
            return self._auto[key]
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        ok, v = clean(key, value)
        if not ok:
            return
        if isinstance(value, dict):
            for k, fv in flatten(value, key + "/").items():
                self[k] = fv
            return
        self._explicit[key] = v
        if self._on_change:
            self._on_change()

    def __delitem__(self, key: str) -> None:
        found = False
        if key in self._explicit:
            del self._explicit[key]
            found = True
        if key in self._auto:
            del self._auto[key]
            found = True
        if not found:
            raise KeyError(key)
        if self._on_change:
            self._on_change()

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def update(self, other: Any = (), **kwargs: Any) -> None:  # type: ignore[override]
        data = dict(other, **kwargs)
        for k, v in flatten(data).items():
            self[k] = v

    def load(self, snapshot: dict[str, Any]) -> None:
        """Start from a stored snapshot (on resume): rows logged afterwards update it under
        the same rules (an explicit value would freeze every key at its pre-resume value)."""
        self._auto.update(snapshot)

    def __getattr__(self, name: str) -> Any:
        """``run.summary.best_f1``, as W&B allows (keys only; a missing key is an AttributeError)."""
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"summary has no key '{name}'") from None

    def __repr__(self) -> str:
        return f"Summary({self.as_dict()!r})"
