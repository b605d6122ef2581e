"""CSRF in a real browser (Debian's chromium) against two real uvicorn servers.

A page of the site posts its form (with the token) and succeeds; a page of another origin
(the same host on another port: same site, so the Lax session cookie is sent) posting to
the site is refused with 403, even with a valid token in its form. Skipped when
/usr/bin/chromium or Playwright is absent, unless KEEL_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from keel import App, Form, Request, Settings
from keel.csrf import CSRFProtection, csrf_token
from keel.middleware import Middleware, SessionMiddleware
from keel.responses import HTMLResponse
from keel.server import uvicorn_options
from tests.live import CHROMIUM, chromium, guarded_page, running, url_of
from tests.services import import_or_require, require

if not CHROMIUM.exists():
    require("/usr/bin/chromium is missing: apt-get install chromium", module_level=True)

sync_api = import_or_require("playwright.sync_api", "pip install playwright (or keel[dev])")

PROTECTION = "csrf_protection"


def site() -> App:
    app = App(middleware=[Middleware(SessionMiddleware, secret_key="browser-" + "k" * 40)])
    setattr(app, PROTECTION, CSRFProtection())

    @app.get("/form")
    async def form(request: Request) -> HTMLResponse:
        token = html.escape(csrf_token(request))
        return HTMLResponse(
            "<!doctype html><title>form</title>"
            "<form method='post' action='/submit'>"
            f"<input type='hidden' name='csrf_token' value='{token}'>"
            "<input name='title' value='hello'>"
            "<button id='send'>Send</button></form>"
        )

    @app.post("/submit")
    async def submit(title: Annotated[str, Form()]) -> HTMLResponse:
        return HTMLResponse(f"<!doctype html><title>saved</title><p id='r'>{html.escape(title)}")

    return app


def attacker(target: str, token: str) -> App:
    # The attacker's own page has no CSP: keel's default (form-action 'self') would stop
    # its form from posting to another site before our CSRF check could.
    app = App(settings=Settings(security_headers=False))

    @app.get("/")
    async def page() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>win a prize</title>"
            f"<form method='post' action='{target}/submit'>"
            f"<input type='hidden' name='csrf_token' value='{html.escape(token)}'>"
            "<input type='hidden' name='title' value='pwned'>"
            "<button id='send'>Claim</button></form>"
        )

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running(site(), name="uvicorn-csrf-site", **uvicorn_options()) as srv:
        yield url_of(srv)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(sync_api) as browser:
        yield browser


def test_the_sites_own_form_posts(browser: Any, server: str) -> None:
    with guarded_page(browser, server) as page:
        page.goto(f"{server}/form")
        with page.expect_response(f"{server}/submit") as posted:
            page.click("#send")
        assert posted.value.status == 200
        assert page.text_content("#r") == "hello"


def test_a_page_of_another_origin_is_refused(browser: Any, server: str) -> None:
    with guarded_page(browser, server) as page:
        page.goto(f"{server}/form")  # the victim has a session on the site
        token = page.get_attribute("input[name=csrf_token]", "value")
        assert token
        with running(attacker(server, token), name="uvicorn-csrf-attacker") as evil:
            evil_url = url_of(evil)
            page.context.route(f"{evil_url}/**", lambda route: route.continue_())
            page.goto(f"{evil_url}/")
            with page.expect_response(f"{server}/submit") as posted:
                page.click("#send")
            response = posted.value
            assert response.status == 403
            # a browser navigating gets the error as a page (API clients get problem JSON)
            assert response.headers["content-type"].startswith("text/html")
            text = response.text()
            assert "Origin" in text and evil_url in text
