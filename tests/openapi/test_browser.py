"""Swagger UI and ReDoc in a real browser (Debian's chromium) against a real uvicorn server.

Every request the pages make is checked: anything not for the test server is blocked and
fails the test, so the docs work with no network. Skipped when /usr/bin/chromium or
Playwright is absent, unless KEEL_REQUIRE_SERVICES=1 (CI), where that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import CHROMIUM, chromium, guarded_page, running, url_of
from tests.openapi import full_app
from tests.services import import_or_require, require

if not CHROMIUM.exists():
    require("/usr/bin/chromium is missing: apt-get install chromium", module_level=True)

sync_api = import_or_require("playwright.sync_api", "pip install playwright (or keel[dev])")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The full test app served by uvicorn on a free 127.0.0.1 port."""
    with running(full_app.app, name="uvicorn-docs", lifespan="on") as srv:
        yield url_of(srv)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(sync_api) as browser:
        yield browser


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A page whose requests may only reach the test server (others fail the test)."""
    with guarded_page(browser, server) as page:
        yield page
    # ReDoc's sidebar logo lives on the vendor's CDN; the page's CSP refuses it.
    errors = [e for e in page.errors if "logo-mini.svg" not in e]
    assert errors == [], f"JavaScript errors: {errors}"


def _try_it_out(page: Any, block_id: str) -> Any:
    block = page.locator(f"#{block_id}")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    return block.locator(".live-responses-table")


def test_swagger_ui_try_it_out(page: Any, server: str) -> None:
    page.goto(f"{server}/docs")
    page.locator(".information-container .title").get_by_text("Full test API").wait_for()
    live = _try_it_out(page, "operations-responses-list_items")
    status = live.locator(".response .response-col_status").first
    sync_api.expect(status).to_have_text("200")
    sync_api.expect(live.locator(".response-col_description pre").first).to_contain_text(
        '"label": "a (1.00)"'
    )


def test_swagger_ui_authorize_then_call_a_secured_operation(page: Any, server: str) -> None:
    page.goto(f"{server}/docs")
    page.locator("button.authorize").first.click()
    dialog = page.locator(".dialog-ux")
    bearer = dialog.locator(".auth-container").filter(has_text="HTTPBearer")
    bearer.locator("input").fill("secret-token")
    bearer.get_by_role("button", name="Apply credentials").click()
    sync_api.expect(bearer.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.get_by_role("button", name="Close").first.click()
    live = _try_it_out(page, "operations-security-with_bearer")
    sync_api.expect(live.locator(".response .response-col_status").first).to_have_text("200")
    sync_api.expect(live.locator(".response-col_description pre").first).to_contain_text(
        '"scheme": "Bearer"'
    )


def test_redoc_lists_the_operations(page: Any, server: str) -> None:
    scripts: list[str] = []
    page.on(
        "requestfinished", lambda r: scripts.append(r.url) if r.resource_type == "script" else None
    )
    page.goto(f"{server}/redoc")
    page.get_by_role("heading", name="Full test API").first.wait_for()
    menu = page.locator("[role=menuitem], .menu-content li")
    sync_api.expect(menu.filter(has_text="Read Params").first).to_be_visible()
    sync_api.expect(menu.filter(has_text="Create Item").first).to_be_visible()
    sync_api.expect(page.get_by_text("/params/{item_id}/{slug}").first).to_be_attached()
    # ReDoc's bundle is keel's own vendored copy, served by the app itself.
    assert any(u.startswith(f"{server}/redoc/assets/redoc.standalone.js?v=") for u in scripts)
