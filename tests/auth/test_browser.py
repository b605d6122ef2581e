"""Swagger UI's Authorize button logs in through keel.auth's password flow (real browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from keel.auth import create_user
from keel.db import Database, database_of
from tests.live import CHROMIUM, chromium, guarded_page, running, url_of
from tests.services import import_or_require, require

from .conftest import PASSWORD, make_app

if not CHROMIUM.exists():
    require("/usr/bin/chromium is missing: apt-get install chromium", module_level=True)

sync_api = import_or_require("playwright.sync_api", "pip install playwright (or keel[dev])")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('browser') / 'auth.db'}"
    app = make_app(url)

    async def prepare(database: Database) -> None:
        async with database:
            await database.create_all()
            async with database.session() as session:
                await create_user(session, email="swagger@example.com", password=PASSWORD)

    asyncio.run(prepare(database_of(app)))
    with running(app, name="uvicorn-auth", lifespan="on") as srv:
        yield url_of(srv)


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    with chromium(sync_api) as browser, guarded_page(browser, server) as page:
        yield page
        assert page.errors == [], f"JavaScript errors: {page.errors}"


def test_authorize_with_the_password_flow_then_call_me(page: Any, server: str) -> None:
    page.goto(f"{server}/docs")
    page.locator("button.authorize").first.click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("#oauth_username").fill("swagger@example.com")
    dialog.locator("#oauth_password").fill(PASSWORD)
    dialog.locator("button.modal-btn.authorize").click()
    sync_api.expect(dialog.locator("button.modal-btn", has_text="Logout")).to_be_visible()
    dialog.get_by_role("button", name="Close").first.click()
    block = page.locator("#operations-auth-me")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    live = block.locator(".live-responses-table")
    sync_api.expect(live.locator(".response .response-col_status").first).to_have_text("200")
    sync_api.expect(live.locator(".response-col_description pre").first).to_contain_text(
        "swagger@example.com"
    )
