"""safe_redirect and is_safe_url: a table of open-redirect attacks and legitimate targets."""

from __future__ import annotations

import pytest

from keel import App, Request, safe_redirect
from keel.responses import is_safe_url
from keel.settings import Settings
from keel.testing import TestClient

HOSTS = ["testserver", ".example.com"]

UNSAFE = [
    # scheme-relative and slash tricks
    "//evil.com",
    "///evil.com",
    "////evil.com",
    "//evil.com/path",
    "//",
    # backslashes, which browsers read as slashes
    "/\\evil.com",
    "\\\\evil.com",
    "\\/evil.com",
    "/\\/evil.com",
    "https:\\\\evil.com",
    "http://testserver\\@evil.com",
    # a scheme without an authority
    "https:evil.com",
    "http:evil.com",
    "http:/evil.com",
    "http:///evil.com",
    "https:///evil.com",
    # user info
    "http://user@evil.com",
    "http://testserver@evil.com",
    "http://user:pw@testserver/",
    "http://evil.com@testserver/",
    # foreign hosts
    "https://evil.com",
    "https://evil.com/next",
    "http://testserver.evil.com/",
    "https://example.com.evil.com/",
    "https://notexample.com/",
    "//evil.com:80/",
    # other schemes
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "  javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "ftp://testserver/",
    "file:///etc/passwd",
    "mailto:a@example.com",
    # control characters and invisible tricks
    "/\t/evil.com",
    "/\n/evil.com",
    "\x00//evil.com",
    "\x08//evil.com",
    " //evil.com",
    "\r\n//evil.com",
    "/next\r\nSet-Cookie: a=1",
    "\u200b//evil.com",
    "\ufeff//evil.com",
    "/\u2028/evil.com",
    "java\tscript:alert(1)",
    # malformed hosts
    "http://[::1/",
    "http://evil.com:99999/",
    "http://ex\u00e4mple.com/",
    "http://testserver:abc/",
    "",
    None,
    "/" + "a" * 9000,
]

SAFE = [
    "/",
    "/next",
    "/next?page=2&sort=-date",
    "/path#fragment",
    "/a/b/../c",
    "next",
    "?q=1",
    "#top",
    "/%2F/evil.com",
    "/path/with:colon",
    "/caf\u00e9",
    "http://testserver/",
    "https://testserver/account",
    "https://TESTSERVER:8443/x",
    "//testserver/x",
    "https://example.com/x",
    "https://shop.example.com/cart",
    "https://example.com./x",
]


@pytest.mark.parametrize("url", UNSAFE)
def test_unsafe_targets(url: str | None) -> None:
    assert not is_safe_url(url, HOSTS)


@pytest.mark.parametrize("url", SAFE)
def test_safe_targets(url: str) -> None:
    assert is_safe_url(url, HOSTS)


@pytest.mark.parametrize("url", ["http://testserver/", "//testserver/x", "http://example.com"])
def test_require_https_refuses_plain_http(url: str) -> None:
    assert is_safe_url(url, HOSTS)
    assert not is_safe_url(url, HOSTS, require_https=True)
    assert is_safe_url("/local", HOSTS, require_https=True)


def test_a_star_allows_no_foreign_host() -> None:
    assert not is_safe_url("https://evil.com/", ["*"])
    assert is_safe_url("/ok", ["*"])


def make_app(settings: Settings | None = None) -> App:
    app = App(settings=settings)

    @app.get("/login")
    async def login(request: Request, next: str | None = None) -> object:
        return safe_redirect(request, next, default="/home")

    @app.get("/back")
    async def back(request: Request, to: str = "") -> object:
        return safe_redirect(request, to, status=302)

    return app


@pytest.mark.parametrize("url", [u for u in UNSAFE if u is not None and len(u) < 100])
def test_safe_redirect_falls_back_to_the_default(url: str) -> None:
    client = TestClient(make_app())
    r = client.get("/login", params={"next": url}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/home"


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("/dashboard?tab=1", "/dashboard?tab=1"),
        ("http://testserver/x", "http://testserver/x"),
        ("/caf\u00e9", "/caf%C3%A9"),
    ],
)
def test_safe_redirect_follows_safe_targets(url: str, location: str) -> None:
    client = TestClient(make_app())
    r = client.get("/login", params={"next": url}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == location


def test_without_a_target_the_default() -> None:
    client = TestClient(make_app())
    assert client.get("/login", follow_redirects=False).headers["location"] == "/home"
    r = client.get("/back", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, "/")


def test_allowed_hosts_setting_names_the_sites_hosts() -> None:
    settings = Settings(allowed_hosts=["testserver", ".example.com"])
    client = TestClient(make_app(settings))
    for url, location in [
        ("https://shop.example.com/x", "https://shop.example.com/x"),
        ("https://evil.com/x", "/home"),
    ]:
        r = client.get("/login", params={"next": url}, follow_redirects=False)
        assert r.headers["location"] == location


def test_unset_allowed_hosts_means_the_requests_own_host() -> None:
    client = TestClient(make_app())
    r = client.get("/login", params={"next": "https://example.com/x"}, follow_redirects=False)
    assert r.headers["location"] == "/home"
    r = client.get(
        "/login",
        params={"next": "http://testserver/ok"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "http://testserver/ok"


def test_https_requests_refuse_a_downgrade() -> None:
    client = TestClient(make_app(), base_url="https://testserver")
    r = client.get("/login", params={"next": "http://testserver/x"}, follow_redirects=False)
    assert r.headers["location"] == "/home"
    r = client.get("/login", params={"next": "https://testserver/x"}, follow_redirects=False)
    assert r.headers["location"] == "https://testserver/x"
