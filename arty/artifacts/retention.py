"""Retention: policies that say which versions to keep, TTLs on versions, and the plan that
``art gc`` applies (docs/retention.md; records in docs/store-format.md, "Retention policies").

A **policy** belongs to a project or to one artifact and is a log of records, so every change
keeps who made it and when::

    projects/<project>/retention/<seq>.json
    projects/<project>/artifacts/<name>/retention/<seq>.json

    {"seq": 2, "at": "...", "by": "ana@laptop", "keep_last": 5, "keep_days": 30.0}
    {"seq": 3, "at": "...", "by": "ana@laptop", "unset": true}

The highest record is the current policy (``unset``: none). An artifact's own policy replaces its
project's. A version is kept when any rule keeps it: it is one of the ``keep_last`` highest
versions, or younger than ``keep_days``; the highest version (``latest``) is always kept.

A version's **TTL** (``version.ttl``, an edit: :mod:`arty.artifacts.edits`) is seconds after
``created_at``; once passed, the version goes whatever the policy says. ``None`` (or
``"inherit"``) means no TTL of its own: the policy decides.

Never selected, by a policy or a TTL: a version an alias points at, and a version a registry
links (:func:`arty.artifacts.links.linked_versions`). Setting a TTL on such a version is refused,
as is a TTL that has already passed. :func:`plan_retention` removes nothing (``--dry-run``);
:func:`apply_retention` deletes what a plan lists with ``deleted/<N>.json`` records as ``art rm``
does (``"reason"`` says which rule), checking the aliases of each version again first.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any

from arty.artifacts.edits import edit_version, edited_versions, version_edits, apply_edits
from arty.artifacts.links import is_registry, linked_versions
from arty.artifacts.names import check_name
from arty.artifacts.versions import ArtifactVersion, Registry
from arty.errors import BadRecord, ConflictError, UsageError
from arty.store import Store, layout, now_iso, records
from arty.store.leases import who
from arty.store.records import Fields

#: The folder name of a policy log, under a project or an artifact.
POLICY_DIR = "retention"
#: What a policy record must hold (readers skip, with a warning, one that does not).
POLICY: Fields = {"seq": int, "at": str, "by": str}
#: ``ttl`` values that mean "no TTL of its own" (W&B's ``ArtifactTTL.INHERIT``).
INHERIT = "inherit"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def policy_folder(project: str, name: str | None = None) -> str:
    """The policy log of ``project`` (``name`` None) or of artifact ``project/name``."""
    base = layout.artifact(project, name) if name is not None else layout.project(project)
    return f"{base}/{POLICY_DIR}"


def parse_duration(text: str, default_unit: str = "d") -> int:
    """Seconds from ``"30d"``, ``"12h"``, ``"90m"``, ``"3600s"``, ``"2w"`` (a bare number is in
    ``default_unit``); :class:`UsageError` for anything else."""
    m = _DURATION.match(text)
    if not m:
        raise UsageError(f"invalid duration '{text}'", hint="a number and a unit: 30d, 12h, 90m, 3600s, 2w")
    return int(float(m.group(1)) * _UNITS[m.group(2) or default_unit])


def human_duration(seconds: float) -> str:
    """``2592000`` -> ``"30d"``; the largest unit that divides it."""
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


# -- policies --------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """A retention policy: keep the ``keep_last`` highest versions and those younger than
    ``keep_days`` (either may be None). ``scope`` is ``"project"`` or ``"artifact"``."""

    keep_last: int | None
    keep_days: float | None
    scope: str = "artifact"
    at: str | None = None
    by: str | None = None
    seq: int | None = None

    def describe(self) -> str:
        rules = ([f"keep-last {self.keep_last}"] if self.keep_last is not None else []) + \
                ([f"keep-days {self.keep_days:g}"] if self.keep_days is not None else [])
        return ", ".join(rules)

    def to_json(self) -> dict[str, Any]:
        return {"keep_last": self.keep_last, "keep_days": self.keep_days, "scope": self.scope,
                "at": self.at, "by": self.by, "seq": self.seq}


def check_policy(keep_last: int | None, keep_days: float | None) -> None:
    """:class:`UsageError` unless at least one rule is given and each is sensible."""
    if keep_last is None and keep_days is None:
        raise UsageError("a retention policy needs --keep-last N or --keep-days D (or both)",
                         hint="'art retention unset' removes a policy")
    if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1):
        raise UsageError(f"invalid keep-last {keep_last!r}: must be 1 or more",
                         hint="the highest version is always kept; 'art rm' deletes single versions")
    if keep_days is not None and (isinstance(keep_days, bool) or not isinstance(keep_days, (int, float))
                                  or not keep_days > 0 or keep_days != keep_days or keep_days == float("inf")):
        raise UsageError(f"invalid keep-days {keep_days!r}: must be a number of days above 0")


def set_policy(store: Store, project: str, name: str | None, keep_last: int | None, keep_days: float | None,
               by: str | None = None) -> Policy:
    """Record a policy for ``project`` (``name`` None) or artifact ``project/name``; returns it."""
    check_name(project, "project")
    if name is not None:
        check_name(name)
    check_policy(keep_last, keep_days)
    rec = {"at": now_iso(), "by": by or who(), "keep_last": keep_last,
           "keep_days": float(keep_days) if keep_days is not None else None}
    seq, stored = store.log_append(policy_folder(project, name), lambda s: rec | {"seq": s})
    store.journal("retention_set", project=project, **({"artifact": name} if name else {}), seq=seq)
    return _policy(stored, "artifact" if name else "project")


def unset_policy(store: Store, project: str, name: str | None, by: str | None = None) -> bool:
    """Record that ``project`` (or artifact ``project/name``) has no policy of its own; False (and
    nothing written) when it had none."""
    if policy_of(store, project, name) is None:
        return False
    rec = {"at": now_iso(), "by": by or who(), "unset": True}
    seq, _ = store.log_append(policy_folder(project, name), lambda s: rec | {"seq": s})
    store.journal("retention_set", project=project, **({"artifact": name} if name else {}), seq=seq)
    return True


def _policy(rec: dict[str, Any], scope: str) -> Policy | None:
    if rec.get("unset") is True:
        return None
    keep_last, keep_days = rec.get("keep_last"), rec.get("keep_days")
    if isinstance(keep_days, int) and not isinstance(keep_days, bool):
        keep_days = float(keep_days)
    check_policy(keep_last, keep_days)
    return Policy(keep_last, keep_days, scope, rec.get("at"), rec.get("by"), rec.get("seq"))


def policy_history(store: Store, project: str, name: str | None = None) -> list[dict[str, Any]]:
    """Every good record of a policy log, oldest first (bad ones skipped with a warning)."""
    return [rec for _, rec in store.log_records(policy_folder(project, name), POLICY)]


def policy_of(store: Store, project: str, name: str | None = None) -> Policy | None:
    """The current policy of the project (``name`` None) or the artifact's own; None when unset.
    A bad highest record is skipped with a warning (the one below it counts)."""
    for rec in reversed(policy_history(store, project, name)):
        try:
            return _policy(rec, "artifact" if name else "project")
        except UsageError as exc:
            records.warn_skipped(BadRecord(f"retention record {rec.get('seq')} of "
                                           f"'{policy_folder(project, name)}' is bad: {exc.message}"))
    return None


def effective_policy(store: Store, project: str, name: str) -> Policy | None:
    """The policy that applies to artifact ``project/name``: its own, else its project's."""
    return policy_of(store, project, name) or policy_of(store, project)


def policies(store: Store, project: str | None = None) -> list[tuple[str, str | None, Policy]]:
    """``(project, artifact or None, policy)`` for every policy set, in ``project`` or the store."""
    out: list[tuple[str, str | None, Policy]] = []
    for p in [project] if project else store.list(layout.PROJECTS):
        own = policy_of(store, p)
        if own is not None:
            out.append((p, None, own))
        for name in store.list(layout.artifacts(p)):
            pol = policy_of(store, p, name)
            if pol is not None:
                out.append((p, name, pol))
    return out


# -- TTL -------------------------------------------------------------------


def _parse_time(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def holders(store: Store, version: ArtifactVersion, linked: set[tuple[str, str, int]] | None = None) -> list[str]:
    """What protects ``version`` from retention: ``alias 'prod'``, ``a registry link`` (empty: nothing)."""
    reg = Registry(store, version.project)
    out = [f"alias '{a}'" for a, n in sorted(reg.aliases(version.base_name).items()) if n == version.number]
    links = linked if linked is not None else linked_versions(store)
    if (version.project, version.base_name, version.number) in links:
        out.append("a registry link")
    return out


def check_ttl(store: Store, version: ArtifactVersion, ttl: int | None, now: float | None = None) -> None:
    """Refuse a TTL (seconds after ``created_at``) that has already passed, or one on a version an
    alias or a registry link protects (it would never expire: remove those first). None is fine."""
    if ttl is None:
        return
    holding = holders(store, version)
    if holding:
        raise ConflictError(f"cannot set a ttl on '{version.qualified_name}': it is held by {', '.join(holding)}",
                            hint="versions with an alias or a registry link are never deleted; "
                                 "move the alias away first ('art alias --delete NAME ALIAS')")
    now_dt = _dt.datetime.fromtimestamp(_now(now), _dt.timezone.utc)
    expires = _parse_time(version.created_at) + _dt.timedelta(seconds=ttl)
    if expires <= now_dt:
        raise UsageError(f"ttl {human_duration(ttl)} of '{version.qualified_name}' is in the past: "
                         f"logged {version.created_at}, it would have expired {expires.isoformat()}",
                         hint="give a longer ttl, or delete the version now with 'art rm'")


def normalize_ttl(value: Any) -> Any:
    """``"inherit"`` (W&B's ``ArtifactTTL.INHERIT``) -> None; anything else unchanged."""
    if isinstance(value, str) and value.lower() == INHERIT:
        return None
    return value


def set_ttl(store: Store, version: ArtifactVersion, ttl: int | None, by: str | None = None,
            now: float | None = None) -> dict[str, Any]:
    """Give ``version`` a TTL in seconds (None: none of its own) after :func:`check_ttl`; an edit record."""
    check_ttl(store, version, ttl, now)
    return edit_version(store, version.project, version.base_name, version.number, {"ttl": ttl}, by or who())


# -- the plan --------------------------------------------------------------


@dataclass(frozen=True)
class Selected:
    """A version a plan deletes, or would delete but something protects (``held_by``)."""

    project: str
    name: str
    number: int
    reason: str
    digest: str
    size: int
    held_by: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.project}/{self.name}:v{self.number}"

    def to_json(self) -> dict[str, Any]:
        out = {"project": self.project, "artifact": self.name, "version": f"v{self.number}",
               "reason": self.reason, "digest": self.digest, "size": self.size}
        if self.held_by:
            out["held_by"] = list(self.held_by)
        return out


@dataclass
class RetentionPlan:
    """What retention deletes (``delete``) and what it would but may not (``protected``)."""

    now: float
    delete: list[Selected] = field(default_factory=list)
    protected: list[Selected] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"delete": [s.to_json() for s in self.delete], "protected": [s.to_json() for s in self.protected]}


def _now(now: float | None) -> float:
    import time

    return time.time() if now is None else now


def plan_retention(store: Store, now: float | None = None, project: str | None = None) -> RetentionPlan:
    """Which versions the policies and TTLs select at time ``now`` (default: the current time).
    Writes nothing. Registries are left alone (their versions are links, no bytes)."""
    plan = RetentionPlan(_now(now))
    linked = linked_versions(store)
    for p in [project] if project else store.list(layout.PROJECTS):
        if is_registry(store, p):
            continue
        project_policy = policy_of(store, p)
        reg = Registry(store, p)
        for name in store.list(layout.artifacts(p)):
            _plan_artifact(store, reg, name, policy_of(store, p, name) or project_policy, linked, plan)
    return plan


def _plan_artifact(store: Store, reg: Registry, name: str, policy: Policy | None,
                   linked: set[tuple[str, str, int]], plan: RetentionPlan) -> None:
    live = reg.versions(name)
    if not live:
        return
    edited = edited_versions(store, reg.project, name)
    if policy is None and not edited:
        return  # no rule can select anything: not even the records are read
    aliased: dict[int, list[str]] = {}
    for alias, n in reg.aliases(name).items():
        aliased.setdefault(n, []).append(alias)
    folder = layout.versions(reg.project, name)
    kept_last = set(live[-policy.keep_last:]) if policy is not None and policy.keep_last else set()
    for n in live:
        reason = None
        rec = store.try_record(f"{folder}/{layout.seq_name(n)}", records.VERSION)
        if rec is None:
            continue  # a bad record: warned of; 'art verify --repair' retires it
        if n in edited:
            rec = apply_edits(rec, version_edits(store, reg.project, name, n))
        try:
            created = _parse_time(rec["created_at"]).timestamp()
        except ValueError:
            continue
        ttl = rec.get("ttl")
        age = plan.now - created
        if isinstance(ttl, int) and age >= ttl:
            reason = f"ttl {human_duration(ttl)} expired"
        elif policy is not None and n != live[-1] and n not in kept_last and (
                policy.keep_days is None or age >= policy.keep_days * 86400):
            reason = f"retention policy of the {policy.scope}: {policy.describe()}"
        if reason is None:
            continue
        held = tuple(f"alias '{a}'" for a in sorted(aliased.get(n, [])))
        if (reg.project, name, n) in linked:
            held += ("a registry link",)
        sel = Selected(reg.project, name, n, reason, str(rec.get("digest")), int(rec.get("size") or 0), held)
        (plan.protected if held else plan.delete).append(sel)


def apply_retention(store: Store, plan: RetentionPlan, by: str | None = None) -> list[Selected]:
    """Delete the versions ``plan`` lists (``deleted/<N>.json`` with the reason), each after
    checking again that no alias points at it and no registry links it now; returns those deleted.
    Rerunning a plan deletes nothing more (a deleted version is skipped)."""
    store.backend.ensure_writable()
    done: list[Selected] = []
    linked = linked_versions(store)
    for sel in plan.delete:
        reg = Registry(store, sel.project)
        if sel.number in reg.deleted(sel.name) or (sel.project, sel.name, sel.number) in linked:
            continue
        if any(n == sel.number for n in reg.aliases(sel.name).values()):
            continue  # an alias moved onto it since the plan
        if reg.delete(sel.name, sel.number, by=by, reason=sel.reason):
            done.append(sel)
    return done
