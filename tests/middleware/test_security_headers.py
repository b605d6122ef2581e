"""Security headers: defaults on JSON and HTML, CSP nonce, HSTS over HTTPS only, no duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from keel import App, Request
from keel.middleware import Middleware, SecurityHeadersMiddleware
from keel.middleware.security_headers import csp_nonce
from keel.responses import HTMLResponse, PlainTextResponse, Response
from keel.testing import TestClient
from tests.problems import problem

DEFAULTS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "cross-origin-opener-policy": "same-origin",
}


def make_app(**options: Any) -> App:
    app = App(middleware=[Middleware(SecurityHeadersMiddleware, **options)])

    @app.get("/json")
    async def as_json() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/html")
    async def as_html(request: Request) -> HTMLResponse:
        nonce = csp_nonce(request)
        return HTMLResponse(f"<script nonce='{nonce}'>1</script>")

    @app.get("/own")
    async def own() -> HTMLResponse:
        return HTMLResponse(
            "<p>framed</p>",
            headers={
                "X-Frame-Options": "SAMEORIGIN",
                "Content-Security-Policy": "frame-ancestors 'self'",
                "Referrer-Policy": "no-referrer",
                "Strict-Transport-Security": "max-age=60",
            },
        )

    @app.get("/state")
    async def state(request: Request) -> dict[str, Any]:
        return {"nonce": csp_nonce(request), "again": csp_nonce(request.scope)}

    @app.get("/missing")
    async def missing() -> dict[str, str]:
        from keel import HTTPError

        raise HTTPError(404, "nothing here")

    return app


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(make_app()) as c:
        yield c


@pytest.mark.parametrize("path", ["/json", "/html", "/missing", "/no-such-route"])
def test_defaults_on_every_response(client: TestClient, path: str) -> None:
    r = client.get(path)
    for name, value in DEFAULTS.items():
        assert r.headers.get_list(name) == [value], name
    assert "server" not in r.headers
    assert "x-powered-by" not in r.headers
    assert "strict-transport-security" not in r.headers  # plain HTTP


def test_error_responses_stay_problems(client: TestClient) -> None:
    r = client.get("/missing")
    problem(r, 404)
    assert "content-security-policy" not in r.headers  # not HTML


def test_csp_on_html_only_with_a_fresh_nonce(client: TestClient) -> None:
    assert "content-security-policy" not in client.get("/json").headers
    first = client.get("/html")
    csp = first.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    nonce = first.text.split("nonce='")[1].split("'")[0]
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == f"'self' 'nonce-{nonce}'"
    assert directives["style-src"] == f"'self' 'nonce-{nonce}'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert directives["form-action"] == "'self'"
    assert directives["object-src"] == "'none'"
    second = client.get("/html")
    assert second.headers["content-security-policy"] != csp
    assert len(nonce) >= 22


def test_one_nonce_per_request_made_on_demand(client: TestClient) -> None:
    body = client.get("/state").json()
    assert body["nonce"] == body["again"]
    assert len(body["nonce"]) >= 22
    assert client.get("/state").json()["nonce"] != body["nonce"]


def test_app_set_headers_win_and_are_never_duplicated() -> None:
    with TestClient(make_app(), base_url="https://testserver") as c:
        r = c.get("/own")
        assert r.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        assert r.headers.get_list("content-security-policy") == ["frame-ancestors 'self'"]
        assert r.headers.get_list("referrer-policy") == ["no-referrer"]
        assert r.headers.get_list("strict-transport-security") == ["max-age=60"]
        assert r.headers.get_list("x-content-type-options") == ["nosniff"]


def test_hsts_only_over_https() -> None:
    with TestClient(make_app(), base_url="https://testserver") as c:
        hsts = c.get("/json").headers.get_list("strict-transport-security")
        assert hsts == ["max-age=31536000; includeSubDomains"]
    with TestClient(
        make_app(hsts_max_age=63072000, hsts_preload=True), base_url="https://testserver"
    ) as c:
        preload = c.get("/json").headers["strict-transport-security"]
        assert preload == "max-age=63072000; includeSubDomains; preload"
    with TestClient(make_app(hsts_max_age=None), base_url="https://testserver") as c:
        assert "strict-transport-security" not in c.get("/json").headers


def test_hsts_from_forwarded_proto_only_via_trusted_proxy() -> None:
    app = make_app(trusted_proxies=["10.0.0.0/8"])
    with TestClient(app, client=("10.0.0.5", 1234)) as c:
        r = c.get("/json", headers={"x-forwarded-proto": "https"})
        assert "strict-transport-security" in r.headers
    with TestClient(app, client=("198.51.100.7", 1234)) as c:
        r = c.get("/json", headers={"x-forwarded-proto": "https"})
        assert "strict-transport-security" not in r.headers


def test_each_header_can_be_disabled_or_changed() -> None:
    app = make_app(
        content_type_options=None,
        frame_options="SAMEORIGIN",
        referrer_policy=None,
        cross_origin_opener_policy=None,
        content_security_policy=None,
        extra={"Permissions-Policy": "camera=()"},
    )
    with TestClient(app) as c:
        r = c.get("/html")
        assert r.headers["x-frame-options"] == "SAMEORIGIN"
        assert r.headers["permissions-policy"] == "camera=()"
        for gone in (
            "x-content-type-options",
            "referrer-policy",
            "cross-origin-opener-policy",
            "content-security-policy",
        ):
            assert gone not in r.headers


def test_custom_policy_string_and_no_nonce() -> None:
    app = make_app(content_security_policy="default-src 'none'; img-src https:", csp_nonce=False)
    with TestClient(app) as c:
        assert c.get("/html").headers["content-security-policy"] == (
            "default-src 'none'; img-src https:"
        )
    app = make_app(content_security_policy="default-src 'self'")
    with TestClient(app) as c:
        csp = c.get("/html").headers["content-security-policy"]
        assert csp.startswith("default-src 'self'; script-src 'self' 'nonce-")
        assert "; style-src 'self' 'nonce-" in csp


def test_xhtml_and_charset_variants_get_the_csp() -> None:
    app = App(middleware=[Middleware(SecurityHeadersMiddleware)])

    @app.get("/x")
    async def xhtml() -> Response:
        return Response(b"<html/>", media_type="application/xhtml+xml; charset=utf-8")

    @app.get("/t")
    async def text() -> PlainTextResponse:
        return PlainTextResponse("<script>not html</script>")

    with TestClient(app) as c:
        assert "content-security-policy" in c.get("/x").headers
        assert "content-security-policy" not in c.get("/t").headers


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="CR, LF"):
        SecurityHeadersMiddleware(make_app(), frame_options="DENY\r\nSet-Cookie: a=b")
    with pytest.raises(ValueError, match="preload"):
        SecurityHeadersMiddleware(make_app(), hsts_max_age=60, hsts_preload=True)
    with pytest.raises(ValueError, match=">= 0"):
        SecurityHeadersMiddleware(make_app(), hsts_max_age=-1)
