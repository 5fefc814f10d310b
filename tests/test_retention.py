"""Retention policies, TTLs on versions, and ``art gc`` applying them (docs/retention.md)."""

from __future__ import annotations

import datetime
import json
import time

import pytest

from arty.artifacts import Artifact, Registry
from arty.artifacts.links import REGISTRY_RECORD
from arty.artifacts.retention import (apply_retention, parse_duration, plan_retention, policy_history, policy_of,
                                      set_policy, set_ttl, unset_policy)
from arty.errors import ConflictError, NotFound, UsageError
from arty.hashing import StatCache
from arty.store import init_store, layout, now_iso
from conftest import make_tree, run_art

DAY = 86400


def log_versions(reg: Registry, tmp_path, n: int, name: str = "data") -> list:
    """``n`` versions of ``name``, each with one file of its own and one shared by all."""
    out = []
    for i in range(n):
        src = make_tree(tmp_path / f"{name}{i}", {"shared.txt": "same in every version", f"own{i}.txt": f"v{i}" * 50})
        out.append(reg.log(Artifact(name).add_dir(src)).version)
    return out


def selected(plan) -> list[tuple[str, int]]:
    return sorted((s.name, s.number) for s in plan.delete)


def link_into_registry(store, project: str, name: str, number: int, registry: str = "registry") -> None:
    """A registry that links ``project/name:v<number>`` (the records docs/store-format.md describes)."""
    store.create_record(f"{layout.project(registry)}/{REGISTRY_RECORD}", {"kind": "registry", "by": "t", "at": now_iso()})
    src = Registry(store, project).version(name, number)
    rec = {k: src.record[k] for k in ("digest", "type", "size", "files", "created_at")}
    store.create_record(f"{layout.versions(registry, 'model')}/{layout.seq_name(0)}",
                        rec | {"project": registry, "name": "model", "version": 0, "description": None, "metadata": {},
                               "by": "t", "link": {"project": project, "name": name, "version": number}})


def test_keep_last_deletes_exactly_the_older_versions_and_spares_aliased_and_linked(registry, tmp_path):
    store = registry.store
    log_versions(registry, tmp_path, 6)
    registry.set_alias("data", 1, "prod")
    link_into_registry(store, "default", "data", 2)
    set_policy(store, "default", "data", keep_last=2, keep_days=None)
    plan = plan_retention(store)
    assert selected(plan) == [("data", 0), ("data", 3)]
    assert sorted((s.number, s.held_by) for s in plan.protected) == [(1, ("alias 'prod'",)), (2, ("a registry link",))]
    done = apply_retention(store, plan)
    assert [s.number for s in done] == [0, 3]
    assert registry.versions("data") == [1, 2, 4, 5]
    assert plan_retention(store).delete == []  # a rerun selects nothing
    assert apply_retention(store, plan) == []  # and the old plan deletes nothing more


def test_keep_days_keeps_the_young_and_the_latest(registry, tmp_path):
    store = registry.store
    log_versions(registry, tmp_path, 3)
    set_policy(store, "default", None, keep_last=None, keep_days=2)  # project-wide
    assert plan_retention(store, now=time.time() + DAY).delete == []  # all younger than 2 days
    later = plan_retention(store, now=time.time() + 3 * DAY)
    assert selected(later) == [("data", 0), ("data", 1)]  # v2 is latest: always kept
    # an artifact's own policy replaces its project's
    set_policy(store, "default", "data", keep_last=2, keep_days=None)
    assert selected(plan_retention(store, now=time.time() + 3 * DAY)) == [("data", 0)]
    # keep-last and keep-days together: kept by either rule
    set_policy(store, "default", "data", keep_last=1, keep_days=2)
    assert plan_retention(store, now=time.time() + DAY).delete == []
    assert selected(plan_retention(store, now=time.time() + 3 * DAY)) == [("data", 0), ("data", 1)]


def test_ttl_deletes_the_version_once_passed_whatever_the_policy(registry, tmp_path):
    store = registry.store
    v0, v1, v2 = log_versions(registry, tmp_path, 3)
    v1.ttl = datetime.timedelta(days=2)
    v1.save()
    set_ttl(store, registry.version("data", 2), 5 * DAY)
    assert registry.version("data", 1).ttl == 2 * DAY
    set_policy(store, "default", "data", keep_last=5, keep_days=None)  # would keep all three
    assert plan_retention(store, now=time.time() + DAY).delete == []
    plan = plan_retention(store, now=time.time() + 3 * DAY)
    assert selected(plan) == [("data", 1)] and plan.delete[0].reason == "ttl 2d expired"
    assert selected(plan_retention(store, now=time.time() + 6 * DAY)) == [("data", 1), ("data", 2)]
    # None and "inherit": no TTL of its own
    v1 = registry.version("data", 1)
    v1.ttl = "inherit"
    v1.save()
    assert registry.version("data", 1).ttl is None
    assert selected(plan_retention(store, now=time.time() + 3 * DAY)) == []


def test_a_ttl_in_the_past_or_on_a_held_version_is_refused(registry, tmp_path):
    store = registry.store
    v0, v1 = log_versions(registry, tmp_path, 2)
    with pytest.raises(UsageError, match="ttl 0s of 'default/data:v0' is in the past"):
        set_ttl(store, v0, 0)
    past = registry.version("data", 0)
    past.ttl = datetime.timedelta(seconds=0)
    with pytest.raises(UsageError, match="in the past"):
        past.save()
    registry.set_alias("data", 1, "prod")
    with pytest.raises(ConflictError, match="cannot set a ttl on 'default/data:v1': it is held by alias 'prod'"):
        set_ttl(store, registry.version("data", 1), DAY)
    link_into_registry(store, "default", "data", 0)
    with pytest.raises(ConflictError, match="held by a registry link"):
        set_ttl(store, registry.version("data", 0), DAY)
    assert registry.version("data", 0).ttl is None and registry.version("data", 1).ttl is None  # nothing written


def test_an_alias_moved_on_after_a_ttl_protects_the_version(registry, tmp_path):
    store = registry.store
    log_versions(registry, tmp_path, 2)
    set_ttl(store, registry.version("data", 0), DAY)
    registry.set_alias("data", 0, "prod")
    plan = plan_retention(store, now=time.time() + 2 * DAY)
    assert plan.delete == [] and [(s.number, s.held_by) for s in plan.protected] == [(0, ("alias 'prod'",))]


def test_apply_checks_aliases_again(registry, tmp_path):
    store = registry.store
    log_versions(registry, tmp_path, 3)
    set_policy(store, "default", "data", keep_last=1, keep_days=None)
    plan = plan_retention(store)
    registry.set_alias("data", 0, "prod")  # between the plan and its application
    assert [s.number for s in apply_retention(store, plan)] == [1]
    assert registry.versions("data") == [0, 2]


def test_policy_records_are_a_log_with_history_and_bad_input_is_refused(registry, tmp_path):
    store = registry.store
    log_versions(registry, tmp_path, 1)
    for bad in ({"keep_last": None, "keep_days": None}, {"keep_last": 0, "keep_days": None},
                {"keep_last": None, "keep_days": -1}, {"keep_last": True, "keep_days": None}):
        with pytest.raises(UsageError):
            set_policy(store, "default", "data", **bad)
    set_policy(store, "default", "data", keep_last=3, keep_days=None, by="ana@laptop")
    set_policy(store, "default", "data", keep_last=None, keep_days=7, by="bo@ci")
    assert policy_of(store, "default", "data").keep_days == 7.0
    assert unset_policy(store, "default", "data", by="ana@laptop")
    assert policy_of(store, "default", "data") is None and not unset_policy(store, "default", "data")
    hist = policy_history(store, "default", "data")
    assert [(r["seq"], r["by"], r.get("unset", False)) for r in hist] == [
        (0, "ana@laptop", False), (1, "bo@ci", False), (2, "ana@laptop", True)]
    assert all(r["at"] for r in hist)
    # a bad highest record is skipped with a warning: the one below counts
    store.create_record(f"{layout.project('default')}/retention/{layout.seq_name(0)}",
                        {"seq": 0, "at": now_iso(), "by": "x", "keep_last": 2, "keep_days": None})
    store.create_record(f"{layout.project('default')}/retention/{layout.seq_name(1)}",
                        {"seq": 1, "at": now_iso(), "by": "x", "keep_last": "many"})
    with pytest.warns(RuntimeWarning, match="retention record 1"):
        assert policy_of(store, "default").keep_last == 2


def test_parse_duration():
    assert [parse_duration(t) for t in ("30d", "12h", "90m", "3600s", "2w", "1.5d", "7")] == [
        30 * DAY, 12 * 3600, 5400, 3600, 14 * DAY, int(1.5 * DAY), 7 * DAY]
    for bad in ("", "d", "-1d", "3y", "1d2h"):
        with pytest.raises(UsageError, match="invalid duration"):
            parse_duration(bad)


def test_gc_applies_policies_dry_run_writes_nothing_and_a_rerun_is_a_no_op(tmp_path):
    env = {"ARTY_STORE": str(tmp_path / "store")}
    for i in range(4):
        make_tree(tmp_path / "d", {"shared.csv": "s" * 1000, "part.csv": f"{i}" * (100 + i)})
        run_art("add", str(tmp_path / "d"), "--type", "dataset", "--name", "data",
                *(["--alias", "prod"] if i == 0 else []), env=env, check=True)
    run_art("retention", "set", "data", "--keep-last", "1", env=env, check=True)
    def store_files() -> list[tuple[str, int]]:  # the store's files, not its local cache (rebuildable)
        return sorted((p.relative_to(tmp_path / "store").as_posix(), p.stat().st_mtime_ns)
                      for p in (tmp_path / "store").rglob("*")
                      if p.is_file() and not p.relative_to(tmp_path / "store").as_posix().startswith("cache/"))
    before = store_files()
    dry = json.loads(run_art("gc", "--dry-run", "--json", env=env, check=True).stdout)
    assert store_files() == before  # not even a lease
    assert [s["version"] for s in dry["retention"]["delete"]] == ["v1", "v2"]
    assert [(s["version"], s["held_by"]) for s in dry["retention"]["protected"]] == [("v0", ["alias 'prod'"])]
    # what the two versions alone hold: their own part.csv blob and their two tree nodes each... measured
    # the same way gc will count what it removes
    freed = dry["retention"]["freed_bytes"]
    assert freed > 2 * 100
    text = run_art("gc", "--dry-run", env=env, check=True).stdout
    assert "would delete default/data:v1" in text and "would free" in text
    real = json.loads(run_art("gc", "--grace", "0", "--json", env=env, check=True).stdout)
    assert [s["version"] for s in real["retention"]["deleted"]] == ["v1", "v2"]
    assert real["bytes"] == freed  # the blobs removed are exactly those the dry run announced
    again = json.loads(run_art("gc", "--grace", "0", "--json", env=env, check=True).stdout)
    assert again["retention"]["deleted"] == [] and again["removed_blobs"] == 0
    got = run_art("get", "data:v1", "-o", str(tmp_path / "out"), env=env)
    assert got.returncode == NotFound.exit_code
    assert "artifact 'data:v1' was deleted (retention policy of the artifact: keep-last 1)" in got.stderr
    assert run_art("get", "data:prod", "-o", str(tmp_path / "p"), env=env).returncode == 0
    ls = json.loads(run_art("ls", "data", "--json", env=env, check=True).stdout)
    assert [r["version"] for r in ls] == ["v0", "v3"]


def test_cli_ttl_and_retention_commands(tmp_path):
    env = {"ARTY_STORE": str(tmp_path / "store")}
    make_tree(tmp_path / "d", {"a.csv": "1"})
    add = run_art("add", str(tmp_path / "d"), "--type", "dataset", "--name", "data", "--ttl", "30d", "--json",
                  env=env, check=True)
    assert json.loads(add.stdout)["ttl"] == 30 * DAY
    bad = run_art("add", str(tmp_path / "d"), "--type", "dataset", "--name", "x", "--ttl", "0d", env=env)
    assert bad.returncode == UsageError.exit_code and "invalid --ttl '0d'" in bad.stderr
    both = run_art("add", str(tmp_path / "d"), "--type", "dataset", "--name", "x", "--ttl", "1d", "--alias", "prod",
                   env=env)
    assert both.returncode == UsageError.exit_code and "--ttl cannot go with --alias" in both.stderr
    assert "x" not in json.loads(run_art("ls", "--json", env=env, check=True).stdout).__repr__()
    past = run_art("ttl", "data:v0", "0s", env=env)  # expired the moment it was logged, whenever that was
    assert past.returncode == UsageError.exit_code and "error: ttl 0s of 'default/data:v0' is in the past" in past.stderr
    run_art("ttl", "data:v0", "inherit", env=env, check=True)
    run_art("alias", "data:v0", "prod", env=env, check=True)
    held = run_art("ttl", "data:v0", "2w", env=env)
    assert held.returncode == ConflictError.exit_code and "held by alias 'prod'" in held.stderr
    assert run_art("retention", "set", "data", env=env).returncode == UsageError.exit_code
    run_art("retention", "set", "data", "--keep-last", "3", env=env, check=True)
    run_art("retention", "set", "default/", "--keep-days", "30", env=env, check=True)
    shown = json.loads(run_art("retention", "show", "--json", env=env, check=True).stdout)
    assert [(r["project"], r["artifact"], r["keep_last"], r["keep_days"]) for r in shown] == [
        ("default", None, None, 30.0), ("default", "data", 3, None)]
    one = json.loads(run_art("retention", "show", "data", "--json", env=env, check=True).stdout)
    assert one["policy"]["keep_last"] == 3
    run_art("retention", "unset", "data", env=env, check=True)
    one = json.loads(run_art("retention", "show", "data", "--json", env=env, check=True).stdout)
    assert one["policy"]["scope"] == "project" and one["policy"]["keep_days"] == 30.0
    hist = json.loads(run_art("retention", "show", "data", "--history", "--json", env=env, check=True).stdout)
    assert [r.get("unset", False) for r in hist] == [False, True]
    missing = run_art("retention", "set", "nope", "--keep-last", "1", env=env)
    assert missing.returncode == NotFound.exit_code
    assert run_art("retention", "set", "nope/", "--keep-last", "1", env=env).returncode == NotFound.exit_code


def test_setting_a_policy_reports_what_it_deletes_and_the_aliased_versions_it_never_will(tmp_path):
    env = {"ARTY_STORE": str(tmp_path / "store")}
    store, _ = init_store(str(tmp_path / "store"))
    reg = Registry(store, "default", StatCache(":memory:"))
    log_versions(reg, tmp_path, 4)
    reg.set_alias("data", 0, "prod")
    out = json.loads(run_art("retention", "set", "data", "--keep-last", "1", "--json", env=env, check=True).stdout)
    assert [s["version"] for s in out["would_delete"]] == ["v1", "v2"]
    assert [(s["version"], s["held_by"]) for s in out["held"]] == [("v0", ["alias 'prod'"])]
    text = run_art("retention", "set", "data", "--keep-last", "2", env=env, check=True).stdout
    assert "the next 'art gc' deletes 1 version: data:v1" in text
    assert "never deleted although selected: data:v0, held by alias 'prod'" in text
    assert reg.versions("data") == [0, 1, 2, 3]  # setting a policy deletes nothing


def test_registries_are_left_alone(tmp_path):
    store, _ = init_store(str(tmp_path / "store"))
    reg = Registry(store, "default", StatCache(":memory:"))
    log_versions(reg, tmp_path, 2)
    link_into_registry(store, "default", "data", 0)
    set_policy(store, "registry", "model", keep_last=1, keep_days=None)
    set_policy(store, "registry", None, keep_last=1, keep_days=1)
    assert plan_retention(store, now=time.time() + 9 * DAY).delete == []


def test_a_drafts_ttl_is_recorded_when_logged_and_checked_before(registry, tmp_path):
    src = make_tree(tmp_path / "src", {"a.txt": "a"})
    draft = Artifact("scratch").add_dir(src)
    draft.ttl = datetime.timedelta(days=7)  # W&B: artifact.ttl = timedelta(...) before log_artifact
    v = registry.log(draft).version
    assert v.ttl == 7 * DAY and registry.version("scratch", 0).ttl == 7 * DAY
    assert selected(plan_retention(registry.store, now=time.time() + 8 * DAY)) == [("scratch", 0)]
    for ttl, aliases, error in ((datetime.timedelta(0), (), UsageError), (DAY, ("prod",), ConflictError),
                                ("soon", (), UsageError)):
        bad = Artifact("other").add_dir(make_tree(tmp_path / "o", {"b.txt": "b"}))
        bad.ttl = ttl
        with pytest.raises(error):
            registry.log(bad, aliases=aliases)
        assert registry.versions("other") == []  # refused before anything was logged


def test_push_copies_an_artifacts_policy_and_its_history(registry, tmp_path):
    from arty.artifacts.transfer import transfer

    store = registry.store
    log_versions(registry, tmp_path, 2)
    set_policy(store, "default", "data", keep_last=3, keep_days=None, by="ana@laptop")
    set_policy(store, "default", "data", keep_last=1, keep_days=None, by="bo@ci")
    other, _ = init_store(str(tmp_path / "other"))
    transfer(store, other, "default", "data")
    assert policy_of(other, "default", "data").keep_last == 1
    assert [r["by"] for r in policy_history(other, "default", "data")] == ["ana@laptop", "bo@ci"]
    assert selected(plan_retention(other)) == [("data", 0)]
