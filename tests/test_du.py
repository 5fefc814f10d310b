"""Storage usage (``art du``, arty.artifacts.usage): logical, unique and shared bytes per project,
artifact and version, checked against a brute-force count of every version's blobs; what gc frees
after a delete; the node cache; the server endpoint and the artifact page."""

from __future__ import annotations

import json
import os
import random

import pytest

from arty.artifacts import Artifact, Registry
from arty.artifacts.gc import run_media_digests
from arty.artifacts.manifest import TreeReader
from arty.artifacts.retention import set_policy
from arty.artifacts.usage import CACHE_NAME, UsageCache, freed_by, store_usage
from arty.artifacts.verify import iter_versions
from arty.hashing import StatCache
from arty.store import init_store
from conftest import make_tree, run_art
from test_gc import gc_pass
from test_retention import link_into_registry


def blob_sizes(store, project: str, name: str, n: int) -> dict:
    """``{digest: size}`` of every stored blob (tree node or file) one version references."""
    v = Registry(store, project).version(name, n)
    trees = TreeReader(store)
    out = {}
    for node in trees.node_digests(v.digest):
        out[node] = len(store.read_blob(node))
    for e in trees.walk(v.digest):
        if e.digest is not None and not e.is_ref:
            out[e.digest] = e.size
    return out


def brute_force(store) -> dict:
    """Unique and shared bytes per version, artifact and project, by listing every version's blobs."""
    per_version = {key: blob_sizes(store, *key) for key in iter_versions(store)}
    media = run_media_digests(store)
    sizes = {d: s for blobs in per_version.values() for d, s in blobs.items()}
    out: dict = {}
    for level, key_of in (("version", lambda k: k), ("artifact", lambda k: k[:2]), ("project", lambda k: k[0])):
        owners: dict = {}
        for k, blobs in per_version.items():
            for d in blobs:
                owners.setdefault(d, set()).add(key_of(k))
        for d in media:
            if d in owners:
                owners[d].add("runs")
        res: dict = {}
        for d, own in owners.items():
            for k in own - {"runs"}:
                u, s = res.get(k, (0, 0))
                res[k] = (u + sizes[d], s) if len(own) == 1 else (u, s + sizes[d])
        out[level] = res
    return out


def random_store(tmp_path, seed: int):
    """Two projects, three artifacts, versions that share files with earlier ones, with each other
    across artifacts and projects, and unchanged folders (shared subtrees)."""
    rng = random.Random(seed)
    store, _ = init_store(str(tmp_path / "store"))
    pool = [f"content {i} " * rng.randint(1, 40) for i in range(30)]
    for project, name in (("p1", "a"), ("p1", "b"), ("p2", "c")):
        reg = Registry(store, project, StatCache(":memory:"))
        files: dict = {}
        for i in range(rng.randint(2, 5)):
            for _ in range(rng.randint(1, 4)):  # a few changes per version
                path = f"{rng.choice(['x', 'y', 'y/z', 'w'])}/f{rng.randint(0, 6)}.txt"
                # the same path and text in another artifact or project is the same blob; within a
                # version, no two paths hold the same text (see the module doc of arty.artifacts.usage)
                files[path] = f"{path}: {rng.choice(pool)}"
            src = tmp_path / f"src-{project}-{name}-{i}"
            reg.log(Artifact(name).add_dir(make_tree(src, files)))
    return store


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_unique_and_shared_bytes_match_a_brute_force_count(tmp_path, seed):
    store = random_store(tmp_path, seed)
    Registry(store, "p1").delete("a", 0)  # a deleted version owns nothing
    usage = store_usage(store)
    expect = brute_force(store)
    for key, u in usage.versions.items():
        assert u.unique == expect["version"].get(key, (0, 0))[0], key
        rec = Registry(store, key[0]).version(key[1], key[2])
        assert u.logical == rec.size and u.files == rec.file_count
        # shared: what it references that others do too (every folder here holds distinct content)
        assert u.unique + u.shared == sum(blob_sizes(store, *key).values()), key
    assert ("p1", "a", 0) not in usage.versions
    for key, u in usage.artifacts.items():
        assert (u.unique, u.shared) == expect["artifact"].get(key, (0, 0)), key
    for key, u in usage.projects.items():
        assert (u.unique, u.shared) == expect["project"].get(key, (0, 0)), key
    assert usage.total.unique == sum(s for d, s in {d: s for k in iter_versions(store)
                                                    for d, s in blob_sizes(store, *k).items()}.items())


def test_gc_after_a_delete_frees_exactly_the_unique_bytes(tmp_path, loose_blobs):
    store = random_store(tmp_path, 4)
    usage = store_usage(store)
    key = ("p1", "b", 1)
    assert freed_by(store, [key]) == usage.versions[key].unique
    Registry(store, "p1").delete("b", 1)
    plan, _ = gc_pass(store, now=None, grace=0)
    assert plan.bytes == usage.versions[key].unique
    # the whole artifact: its unique bytes
    everything = [("p1", "b", n) for n in Registry(store, "p1").versions("b")]
    assert freed_by(store, everything) == store_usage(store).artifacts[("p1", "b")].unique


def test_packed_blobs_count_by_their_own_size(tmp_path):
    store = random_store(tmp_path, 5)  # packs on (the default): small blobs go into packs
    assert store.packs.packs(), "expected packed blobs"
    usage = store_usage(store)
    expect = brute_force(store)
    assert {k: (u.unique, u.shared) for k, u in usage.artifacts.items()} == expect["artifact"]


def test_the_node_cache_serves_a_second_pass_and_is_rebuildable(tmp_path):
    store = random_store(tmp_path, 6)
    cold = store_usage(store)
    assert cold.nodes_read == cold.nodes > 0
    warm = store_usage(store)
    assert warm.nodes_read == 0 and warm.to_json() | {"nodes_read": 0} == cold.to_json() | {"nodes_read": 0}
    Registry(store, "p1").delete("a", 0)  # a new state: computed again, from the cached nodes
    changed = store_usage(store)
    assert changed.nodes_read == 0 and ("p1", "a", 0) not in changed.versions
    assert changed.to_json()["artifacts"] == store_usage(store, UsageCache(":memory:")).to_json()["artifacts"]
    path = os.path.join(store.cache_dir(), CACHE_NAME)
    with open(path, "wb") as f:
        f.write(b"not a database")  # a damaged cache is only a cache
    again = store_usage(store)
    assert again.nodes_read == again.nodes and again.versions == changed.versions


def test_registries_hold_no_bytes_of_their_own(tmp_path):
    store = random_store(tmp_path, 7)
    before = store_usage(store)
    link_into_registry(store, "p1", "a", 1)
    after = store_usage(store)
    assert "registry" not in after.projects and after.versions == before.versions


def test_art_du_cli(tmp_path):
    env = {"ARTY_STORE": str(tmp_path / "store")}
    store, _ = init_store(str(tmp_path / "store"))
    reg = Registry(store, "default", StatCache(":memory:"))
    for i in range(3):
        src = make_tree(tmp_path / f"d{i}", {"big.bin": "B" * 5000, "small.csv": f"row {i}\n" * (i + 1)})
        reg.log(Artifact("data", type="dataset").add_dir(src))
    reg.log(Artifact("model", type="model").add_dir(make_tree(tmp_path / "m", {"w.bin": "B" * 5000})))  # same bytes
    whole = json.loads(run_art("du", "--json", env=env, check=True).stdout)
    arts = {a["artifact"]: a for a in whole["artifacts"]}
    assert arts["data"]["logical"] == 3 * 5000 + sum(len(f"row {i}\n") * (i + 1) for i in range(3))
    assert arts["data"]["shared"] >= 5000 and arts["model"]["shared"] >= 5000  # big.bin is in both
    assert whole["projects"][0]["shared"] == 0  # within the project nothing is shared with another
    one = json.loads(run_art("du", "data", "--json", env=env, check=True).stdout)
    assert [v["version"] for v in one["versions"]] == ["v0", "v1", "v2"]
    v1 = json.loads(run_art("du", "data:v1", "--json", env=env, check=True).stdout)
    assert v1 == {"project": "default", "artifact": "data", "version": "v1"} | {
        k: one["versions"][1][k] for k in ("logical", "unique", "shared", "versions", "files")}
    text = run_art("du", "default/", env=env, check=True).stdout
    assert "default/data" in text and "default/model" in text and "UNIQUE" in text
    missing = run_art("du", "nope", env=env)
    assert missing.returncode != 0 and "artifact 'nope' not found" in missing.stderr


# -- the server endpoint and the artifact page ------------------------------------------------------


@pytest.fixture
def usage_site(tmp_path):
    pytest.importorskip("fastapi")
    import ui_helpers as ui

    store, _ = init_store(str(tmp_path / "store"))
    reg = Registry(store, "vision", StatCache(":memory:"))
    for i in range(3):
        src = make_tree(tmp_path / f"s{i}", {"big.bin": "B" * 5000, "part.csv": f"{i}," * (100 + i)})
        reg.log(Artifact("data").add_dir(src))
    set_policy(store, "vision", "data", keep_last=2, keep_days=None)
    server = ui.ServerThread(str(tmp_path / "store")).start()
    yield server.url, store
    server.stop()


def test_usage_endpoint_matches_art_du(usage_site):
    import requests

    url, store = usage_site
    reg = Registry(store, "vision")
    reg.set_alias("data", 0, "usage")  # an alias named like the endpoint shadows nothing
    body = requests.get(f"{url}/api/projects/vision/usage/data", timeout=30).json()
    usage = store_usage(store)
    assert body["artifact"] == usage.artifacts[("vision", "data")].to_json()
    assert [v["version"] for v in body["versions"]] == ["v2", "v1", "v0"]
    assert body["versions"][0] == {"version": "v2"} | usage.versions[("vision", "data", 2)].to_json()
    assert body["policy"]["keep_last"] == 2 and body["policy"]["scope"] == "artifact"
    assert requests.get(f"{url}/api/projects/vision/artifacts/data/usage", timeout=30).json()["version"] == "v0"
    assert requests.get(f"{url}/api/projects/vision/usage/nope", timeout=30).status_code == 404
    proj = requests.get(f"{url}/api/projects/vision/usage", timeout=30).json()
    assert proj["project"] == usage.projects["vision"].to_json()
    assert proj["artifacts"] == [{"artifact": "data"} | usage.artifacts[("vision", "data")].to_json()]


def test_artifact_page_shows_storage(browser, usage_site):
    import ui_helpers as ui
    from playwright.sync_api import expect

    if not ui.have_chromium():
        pytest.skip("needs Chromium")
    url, store = usage_site
    usage = store_usage(store)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{url}/p/vision/artifacts/data")
        page.wait_for_selector("body[data-page=artifact]")
        rows = page.locator("#usage-table tbody tr")
        expect(rows).to_have_count(4, timeout=15_000)
        expect(rows.first.locator("td").first).to_have_text("all versions")
        unique = page.locator("#usage-table tr[data-usage='v0'] td.unique")
        expected = usage.versions[("vision", "data", 0)].unique
        assert expected > 0
        expect(unique).to_have_text(page.evaluate(
            "(n) => import('/static/dom.js').then((m) => m.fmtBytes(n))", expected))
        expect(page.locator("#retention")).to_contain_text("keep the last 2")
    finally:
        page.close()
    assert not errors, errors
