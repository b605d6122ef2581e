"""Rendered pages in a real browser (Debian's chromium) against a real uvicorn.

A template's nonce'd inline script runs under SecurityHeadersMiddleware's CSP and an inline
script without the nonce is blocked; JSON embedded with ``tojson`` cannot break out of its
``<script>``; a stylesheet linked with ``static()`` loads; a missing page shows the HTML
error page. Skipped when /usr/bin/chromium or Playwright is absent, unless
KEEL_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from keel import App, Request
from keel.error_formats import HTMLErrorPages
from keel.middleware import Middleware, SecurityHeadersMiddleware
from keel.responses import HTMLResponse
from keel.templates import Templates
from tests.live import CHROMIUM, chromium, guarded_page, running, url_of
from tests.services import import_or_require, require

if not CHROMIUM.exists():
    require("/usr/bin/chromium is missing: apt-get install chromium", module_level=True)

sync_api = import_or_require("playwright.sync_api", "pip install playwright (or keel[dev])")

PAGE = """<!doctype html>
<html><head><title>start</title>
<link rel="stylesheet" href="{{ static('site.css') }}"></head>
<body><p id="x">{{ name }}</p>
<script nonce="{{ csp_nonce() }}">
  const data = {{ data|tojson }};
  document.title = "nonce ran: " + data.message.length;
</script>
<script>window.unsafeRan = true;</script>
</body></html>
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("site")
    (root / "templates").mkdir()
    (root / "templates" / "page.html").write_text(PAGE)
    (root / "static").mkdir()
    (root / "static" / "site.css").write_text("#x { color: rgb(1, 2, 3); }")
    templates = Templates(root / "templates")
    app = App(
        middleware=[Middleware(SecurityHeadersMiddleware)],
        error_format=HTMLErrorPages(templates=templates),
    )
    app.static("/static", root / "static")

    @app.get("/page")
    async def page(request: Request) -> HTMLResponse:
        hostile = "</script><script>window.injected = true;</script>"
        return templates.render(
            request, "page.html", {"name": hostile, "data": {"message": hostile}}
        )

    with running(app, name="uvicorn-templates") as srv:
        yield url_of(srv)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(sync_api) as browser:
        yield browser


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    with guarded_page(browser, server) as page:
        yield page


def test_a_rendered_page_runs_its_nonce_script_only(page: Any, server: str) -> None:
    response = page.goto(f"{server}/page")
    assert "'nonce-" in response.headers["content-security-policy"]
    hostile = "</script><script>window.injected = true;</script>"
    sync_api.expect(page).to_have_title(f"nonce ran: {len(hostile)}")
    assert page.evaluate("window.unsafeRan === undefined")
    assert page.evaluate("window.injected === undefined")
    assert page.locator("#x").text_content() == hostile  # shown as text, not run
    color = page.evaluate("getComputedStyle(document.getElementById('x')).color")
    assert color == "rgb(1, 2, 3)"  # the stylesheet static() linked
    assert any("Content Security Policy" in e for e in page.errors), page.errors


def test_a_missing_page_shows_the_html_error_page(page: Any, server: str) -> None:
    response = page.goto(f"{server}/nowhere/<b>hi</b>")
    assert response.status == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert page.locator("h1").text_content() == "404 Not Found"
    assert page.locator("b").count() == 0
    assert page.errors == [] or all("404" in e for e in page.errors), page.errors
