"""The registry page in real headless Chromium (tests/ui_helpers.py): collections with the
source of each linked version, who moved which alias when, a pending move of a protected alias
that its proposer cannot approve and another admin approves with the page's button, and the
lineage of a linked version through its source to the run that made it."""

from __future__ import annotations

import pytest

import ui_helpers as ui

pytest.importorskip("fastapi", reason="the UI tests need the server extra (pip install -e '.[test]')")
pytest.importorskip("uvicorn", reason="the UI tests need the server extra (pip install -e '.[test]')")
pytest.importorskip("playwright.sync_api", reason="the UI tests need playwright (pip install -e '.[test]')")
if not ui.have_chromium():
    pytest.skip(f"the UI tests need Debian's Chromium at {ui.CHROMIUM} (apt-get install -y chromium)",
                allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

WAIT = 15_000


@pytest.fixture
def registry_site(tmp_path, monkeypatch):
    """A team store: a run in 'vision' logged det:v0 and det:v1, linked into registry/detector
    (prod -> v0, staging -> v1); prod is protected with one approval and alice proposed moving
    it to v1. Yields ``(server url, {user: key}, train run id, store)``."""
    import arty
    from arty.artifacts import approvals
    from arty.server.accounts import Accounts
    from arty.store import init_store

    store, _ = init_store(str(tmp_path / "store"))
    monkeypatch.setenv("ARTY_STORE", store.url)
    (tmp_path / "model.pt").write_text("w0")
    run = arty.init(project="vision", name="train", **ui.QUIET)
    v0 = run.log_model(str(tmp_path / "model.pt"), name="det")
    (tmp_path / "model.pt").write_text("w1")
    v1 = run.log_model(str(tmp_path / "model.pt"), name="det")
    run.link_artifact(v0, "registry/detector", aliases=["prod"])
    run.link_artifact(v1, "registry/detector", aliases=["staging"])
    run.finish()
    accounts = Accounts(store, ttl=0)
    keys = {name: accounts.add_user(name, admin=True)[1] for name in ("alice", "dave")}
    accounts.protect("registry", "detector", "prod", approvals=1)
    approvals.propose(store, "registry", "detector", "prod", 1, "alice")
    server = ui.ServerThread(store, auth_ttl=0.2).start()
    yield server.url, keys, run.id, store
    server.stop()


def _login(page, url: str, key: str) -> None:
    page.goto(url + "/registry")
    page.wait_for_selector("body[data-page=login]")
    page.fill("#login-key", key)
    page.click("#login-submit")
    page.wait_for_selector("body[data-page=registries]")


def test_registry_page_history_approval_and_lineage(browser, registry_site):
    url, keys, run_id, store = registry_site
    from arty.artifacts import Registry

    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(WAIT)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        # alice: the list, the registry, her own pending move, which she cannot approve
        _login(page, url, keys["alice"])
        expect(page.locator("#registries tr[data-registry=registry]")).to_contain_text("detector")
        page.click("#registries a")
        page.wait_for_selector("body[data-page=registry]")
        col = page.locator("section.collection[data-collection=detector]")
        expect(col.locator("tr[data-version=v0] a.source")).to_have_text("vision/det:v0")
        expect(col.locator("tr[data-version=v1] a.source")).to_have_text("vision/det:v1")
        expect(col.locator("table.history tr[data-alias=prod]")).to_have_count(1)
        pending = col.locator("table.pending tbody tr")
        expect(pending).to_have_count(1)
        expect(pending).to_contain_text("alice")
        pending.locator("button.approve").click()
        expect(col.locator(".form-status .error")).to_contain_text("'alice' proposed it")
        assert Registry(store, "registry").aliases("detector")["prod"] == 0
        page.click("#logout")
        page.wait_for_selector("body[data-page=login]")

        # dave approves: prod moves, the history names both
        _login(page, url, keys["dave"])
        page.goto(url + "/registry/registry")
        page.wait_for_selector("body[data-page=registry]")
        col = page.locator("section.collection[data-collection=detector]")
        col.locator("table.pending button.approve").click()
        expect(col.locator("table.pending")).to_have_count(0)
        expect(col.locator("table.history tr[data-alias=prod]").last).to_contain_text(
            "proposed by alice, approved by dave")
        assert Registry(store, "registry").aliases("detector")["prod"] == 1
        last = Registry(store, "registry").alias_history("detector", "prod")[-1]
        assert (last["by"], last["proposed_by"], last["approved_by"]) == ("dave", "alice", "dave")

        # the lineage of a linked version: its source and the run that made it
        col.locator("tr[data-version=v1] a.lineage-link").click()
        page.wait_for_selector("body[data-page=version]")
        expect(page.locator("#linked-from")).to_have_text("vision/det:v1")
        expect(page.locator("#lineage g[data-node='artifact:vision/det:v1']")).to_have_count(1)
        expect(page.locator(f"#lineage g[data-node='run:vision/{run_id}']")).to_have_count(1)
        assert not errors, errors
    finally:
        ctx.close()
