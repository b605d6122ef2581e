"""Protections every app has without asking: headers, host check, production start-up checks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from keel import App, Settings
from keel._types import Message
from keel.middleware import (
    CORSMiddleware,
    Middleware,
    SecurityHeadersMiddleware,
    TrustedHostMiddleware,
)
from keel.requests import Request
from keel.responses import HTMLResponse, JSONResponse
from keel.testing import TestClient
from tests.problems import problem
from tests.settings import TEST_SECRET_KEY, production

DEFAULT_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "cross-origin-opener-policy": "same-origin",
}


def make_app(**options: Any) -> App:
    app = App(**options)

    @app.get("/json")
    async def json_route() -> dict[str, int]:
        return {"a": 1}

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<h1>hi</h1>")

    @app.get("/framed")
    async def framed() -> HTMLResponse:
        return HTMLResponse(
            "<p>embed me</p>",
            headers={"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": "default-src *"},
        )

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app


@pytest.mark.parametrize("path", ["/json", "/page", "/nope"])
def test_security_headers_on_every_answer(path: str) -> None:
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        response = client.get(path)
    for name, value in DEFAULT_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert "server" not in response.headers
    assert "strict-transport-security" not in response.headers  # plain HTTP


def test_html_gets_a_strict_csp_with_a_nonce_json_none() -> None:
    with TestClient(make_app()) as client:
        page = client.get("/page")
        data = client.get("/json")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "'nonce-" in csp and "frame-ancestors 'none'" in csp
    assert "content-security-policy" not in data.headers


def test_https_answers_get_hsts() -> None:
    with TestClient(make_app(), base_url="https://testserver") as client:
        response = client.get("/json")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_a_route_setting_a_header_wins_without_duplicates() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/framed")
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers.get_list("content-security-policy") == ["default-src *"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_headers_follow_the_settings() -> None:
    settings = Settings(frame_options="SAMEORIGIN", referrer_policy=None, hsts_seconds=0)
    with TestClient(make_app(settings=settings), base_url="https://testserver") as client:
        response = client.get("/json")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert "referrer-policy" not in response.headers
    assert "strict-transport-security" not in response.headers
    with TestClient(make_app(settings=Settings(security_headers=False))) as client:
        assert "x-frame-options" not in client.get("/json").headers


def test_errors_and_500s_carry_the_headers_too() -> None:
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"


# -- hosts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8000", "[::1]:8000", "testserver"])
def test_development_hosts_are_served(host: str) -> None:
    with TestClient(make_app()) as client:
        assert client.get("/json", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.com",
        "user@localhost",
        "localhost/path",
        "localhost:8000/x",
        "localhost evil.com",
        "localhost..",
        "localhost:99999",
        "",
    ],
)
def test_other_hosts_are_refused_by_default(host: str) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/json", headers={"Host": host})
    body = problem(response, 400)
    assert "Host" in body["detail"]
    assert response.headers["x-content-type-options"] == "nosniff"  # headers wrap refusals


def test_allowed_hosts_setting() -> None:
    app = make_app(settings=Settings(allowed_hosts=["example.com", ".example.org"]))
    with TestClient(app, base_url="http://example.com") as client:
        assert client.get("/json").status_code == 200
        assert client.get("/json", headers={"Host": "a.b.example.org"}).status_code == 200
        assert client.get("/json", headers={"Host": "localhost"}).status_code == 400


def test_forwarded_host_is_believed_only_from_trusted_proxies() -> None:
    settings = Settings(allowed_hosts=["example.com"], trusted_proxies=["127.0.0.1"])

    app = App(settings=settings)

    @app.get("/where")
    async def where(request: Request) -> dict[str, str]:
        return {"host": request.headers["host"]}

    with TestClient(app, base_url="http://internal", client=("127.0.0.1", 5000)) as client:
        # the peer is 127.0.0.1, set as a trusted proxy here
        response = client.get("/where", headers={"X-Forwarded-Host": "example.com"})
        assert response.json() == {"host": "example.com"}
        assert client.get("/where", headers={"X-Forwarded-Host": "evil.com"}).status_code == 400
    untrusted = App(settings=Settings(allowed_hosts=["example.com"]))
    untrusted.get("/where")(where)
    with TestClient(untrusted, base_url="http://internal", client=("127.0.0.1", 5000)) as client:
        assert client.get("/where", headers={"X-Forwarded-Host": "example.com"}).status_code == 400


def test_the_apps_own_middleware_replaces_the_builtin_one() -> None:
    app = make_app(
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=["api.example.com"]),
            Middleware(SecurityHeadersMiddleware, frame_options="SAMEORIGIN"),
        ]
    )
    with TestClient(app, base_url="http://api.example.com") as client:
        response = client.get("/json")
        assert response.status_code == 200
        assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        assert client.get("/json", headers={"Host": "localhost"}).status_code == 400


def test_cors_by_setting() -> None:
    app = make_app(settings=Settings(cors_allow_origins=["https://app.example.com"]))
    with TestClient(app) as client:
        ok = client.get("/json", headers={"Origin": "https://app.example.com"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
        other = client.get("/json", headers={"Origin": "https://app.example.com.evil.io"})
        assert "access-control-allow-origin" not in other.headers
        preflight = client.options(
            "/json",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 204
        assert "POST" in preflight.headers["access-control-allow-methods"]
    assert not any(isinstance(m.cls, type) and m.cls is CORSMiddleware for m in app.user_middleware)


# -- development and production ----------------------------------------------------------------


def test_development_signs_with_a_per_process_key_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import keel._defaults

    keel._defaults._dev_secret = None
    with caplog.at_level(logging.WARNING, logger="keel"):
        first = App().secret_key
        second = App().secret_key
    assert first == second and len(first) >= 50
    warnings = [r for r in caplog.records if "secret key" in r.getMessage()]
    assert len(warnings) == 1
    assert App(settings=Settings(secret_key=TEST_SECRET_KEY)).secret_key == TEST_SECRET_KEY


@pytest.mark.parametrize(
    ("settings", "needles"),
    [
        (Settings(debug=False), ["KEEL_SECRET_KEY", "KEEL_ALLOWED_HOSTS"]),
        (
            Settings(debug=False, secret_key="short", allowed_hosts=["example.com"]),
            ["too weak", "at least 32"],
        ),
        (
            Settings(debug=False, secret_key="changeme" * 6, allowed_hosts=["example.com"]),
            ["too weak"],
        ),
        (Settings(debug=False, secret_key=TEST_SECRET_KEY), ["KEEL_ALLOWED_HOSTS"]),
    ],
)
def test_production_refuses_to_start_unsafe(settings: Settings, needles: list[str]) -> None:
    app = make_app(settings=settings)
    with pytest.raises(RuntimeError) as failure, TestClient(app):
        pass
    for needle in needles:
        assert needle in str(failure.value)


def test_debug_false_given_to_the_app_means_production() -> None:
    with pytest.raises(RuntimeError, match="KEEL_SECRET_KEY"), TestClient(make_app(debug=False)):
        pass


def test_production_starts_when_safe() -> None:
    with TestClient(make_app(settings=production())) as client:
        response = client.get("/json")
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"


def test_an_app_without_lifespan_refuses_requests_instead() -> None:
    app = make_app(settings=production(secret_key="weak"))
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/json", "headers": [], "query_string": b""}

    with pytest.raises(RuntimeError, match="too weak"):
        asyncio.run(app(scope, receive, send))
    assert sent == []


def test_private_docs_are_not_served_outside_debug() -> None:
    with TestClient(make_app(settings=Settings(docs_public=False))) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404
    with TestClient(make_app(settings=Settings(docs_public=False, debug=True))) as client:
        assert client.get("/openapi.json").status_code == 200


def test_docs_pages_keep_swaggers_oauth2_popup_working() -> None:
    with TestClient(make_app()) as client:
        docs = client.get("/docs")
        redirect = client.get("/docs/oauth2-redirect")
    assert docs.headers["cross-origin-opener-policy"] == "same-origin-allow-popups"
    assert docs.headers["x-frame-options"] == "SAMEORIGIN"
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    assert redirect.headers["cross-origin-opener-policy"] == "unsafe-none"
    assert docs.headers["x-content-type-options"] == "nosniff"


def test_debug_traceback_page_styles_with_the_nonce() -> None:
    app = make_app(debug=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"Accept": "text/html"})
    assert response.status_code == 500
    nonce = response.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in response.text


def test_json_response_subclass_unaffected() -> None:
    app = App()

    @app.get("/")
    async def index() -> JSONResponse:
        return JSONResponse({"ok": True}, headers={"Referrer-Policy": "no-referrer"})

    with TestClient(app) as client:
        response = client.get("/")
    assert response.headers.get_list("referrer-policy") == ["no-referrer"]


def test_browsers_get_an_html_error_page_api_clients_problem_json() -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    with TestClient(make_app()) as client:
        page = client.get("/nope<script>", headers={"Accept": browser})
        api = client.get("/nope")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text
    assert "'nonce-" in page.headers["content-security-policy"]
    problem(api, 404)
