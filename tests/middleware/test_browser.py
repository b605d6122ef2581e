"""The whole middleware stack in a real browser (Debian's chromium) against a real uvicorn.

/docs and /redoc must still render with the security headers on (their own CSP wins), and
the default CSP must run a nonce-carrying inline script while blocking one without it.
Skipped when /usr/bin/chromium or Playwright is absent, unless KEEL_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from keel import App, Request
from keel.middleware import (
    CORSMiddleware,
    GZipMiddleware,
    Middleware,
    RequestIDMiddleware,
    SecurityHeadersMiddleware,
    TrustedHostMiddleware,
)
from keel.middleware.security_headers import csp_nonce
from keel.responses import HTMLResponse
from keel.server import uvicorn_options
from tests.live import CHROMIUM, chromium, guarded_page, running, url_of
from tests.services import import_or_require, require

if not CHROMIUM.exists():
    require("/usr/bin/chromium is missing: apt-get install chromium", module_level=True)

sync_api = import_or_require("playwright.sync_api", "pip install playwright (or keel[dev])")


def make_app() -> App:
    app = App(
        title="Secured API",
        middleware=[
            Middleware(RequestIDMiddleware),
            Middleware(SecurityHeadersMiddleware),
            Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1"]),
            Middleware(CORSMiddleware, allow_origins=["https://app.example.com"]),
            Middleware(GZipMiddleware),
        ],
    )

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/page")
    async def page(request: Request) -> HTMLResponse:
        nonce = csp_nonce(request)
        return HTMLResponse(
            "<!doctype html><html><head><title>start</title>"
            f"<style nonce='{nonce}'>#x {{ color: rgb(1, 2, 3); }}</style></head>"
            "<body><p id='x'>text</p>"
            f"<script nonce='{nonce}'>document.title = 'nonce ran';</script>"
            "<script>window.unsafeRan = true;</script>"
            "</body></html>"
        )

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running(
        make_app(), name="uvicorn-secured", server_header=False, **uvicorn_options()
    ) as srv:
        yield url_of(srv)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(sync_api) as browser:
        yield browser


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A page that may only reach the test server; console errors are collected."""
    with guarded_page(browser, server) as page:
        yield page


def test_swagger_ui_renders_and_calls_the_api(page: Any, server: str) -> None:
    response = page.goto(f"{server}/docs")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "server" not in response.headers
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.locator(".information-container .title").get_by_text("Secured API").wait_for()
    block = page.locator("#operations-default-read_item")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.locator("input[placeholder='item_id']").fill("7")
    block.get_by_role("button", name="Execute").click()
    live = block.locator(".live-responses-table")
    sync_api.expect(live.locator(".response .response-col_status").first).to_have_text("200")
    errors = [e for e in page.errors if "logo-mini.svg" not in e]
    assert errors == [], errors


def test_redoc_renders(page: Any, server: str) -> None:
    page.goto(f"{server}/redoc")
    page.get_by_role("heading", name="Secured API").first.wait_for()
    errors = [e for e in page.errors if "logo-mini.svg" not in e]
    assert errors == [], errors


def test_default_csp_runs_nonce_scripts_and_blocks_others(page: Any, server: str) -> None:
    response = page.goto(f"{server}/page")
    headers = response.headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "'nonce-" in headers["content-security-policy"]
    sync_api.expect(page).to_have_title("nonce ran")
    assert page.evaluate("window.unsafeRan === undefined")
    color = page.evaluate("getComputedStyle(document.getElementById('x')).color")
    assert color == "rgb(1, 2, 3)"
    assert any("Content Security Policy" in e for e in page.errors), page.errors
