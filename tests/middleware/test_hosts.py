"""Allowed hosts: poisoned and legitimate Host values, as Django's host validation tests."""

from __future__ import annotations

from typing import Any

import pytest

from keel import App, HTTPError, Request
from keel.middleware import Middleware, TrustedHostMiddleware
from keel.middleware.hosts import is_allowed_host, split_host
from keel.responses import JSONResponse
from keel.testing import TestClient
from tests.problems import problem

ALLOWED = [
    "example.com",
    "12.34.56.78",
    "[2001:19f0:feee::dead:beef:cafe]",
    "xn--4ca9at.com",  # punycode for öäü.com
    ".multitenant.com",
    "INSENSITIVE.com",
    "[::ffff:169.254.169.254]",
    "testserver",
]

LEGITIMATE = [
    "example.com",
    "example.com:80",
    "example.com:8000",
    "12.34.56.78",
    "12.34.56.78:443",
    "[2001:19f0:feee::dead:beef:cafe]",
    "[2001:19f0:feee::dead:beef:cafe]:8080",
    "xn--4ca9at.com",
    "anything.multitenant.com",
    "deep.sub.multitenant.com",
    "multitenant.com",
    "insensitive.com",
    "InSeNsItIvE.CoM",
    "example.com.",  # one trailing dot: the fully qualified name
    "example.com.:80",
    "[::ffff:169.254.169.254]",
    "EXAMPLE.COM:443",
]

POISONED = [
    "example.com@evil.tld",
    "example.com:dr.frankenstein@evil.tld",
    "example.com:dr.frankenstein@evil.tld:80",
    "user@example.com",
    "example.com:80/badpath",
    "example.com/badpath",
    "example.com: recovermypassword.com",
    "example.com evil.tld",
    "example.com,evil.tld",
    "example.com..",  # double trailing dot
    ".example.com",
    "example..com",
    "",
    " ",
    "example.com ",
    "example.com:",
    "example.com:0",
    "example.com:65536",
    "example.com:99999999",
    "example.com:8o",
    "evil.tld",
    "multitenant.com.evil.tld",
    "evilmultitenant.com",
    "[2001:19f0:feee::dead:beef:cafe",
    "[2001:19f0:feee::dead:beef:cafe]x",
    "[not:an:address]",
    "[::1]",  # well-formed but not allowed here
    "öäü.com",  # raw Unicode: send punycode
    "example.com\tevil.tld",
    "-example.com",
]


def make_app(allowed: list[str] = ALLOWED, **options: Any) -> App:
    app = App(middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed, **options)])

    @app.get("/")
    async def index(request: Request) -> dict[str, Any]:
        return {"host": request.headers.get("host"), "url": str(request.url)}

    return app


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(make_app()) as c:
        yield c


@pytest.mark.parametrize("host", LEGITIMATE)
def test_legitimate_hosts_are_served(client: TestClient, host: str) -> None:
    r = client.get("/", headers={"host": host})
    assert r.status_code == 200, (host, r.text)
    assert r.json()["host"] == host


@pytest.mark.parametrize("host", POISONED)
def test_poisoned_hosts_are_400_problems(client: TestClient, host: str) -> None:
    r = client.get("/", headers=[(b"host", host.encode("utf-8"))])
    body = problem(r, 400)
    assert "Host" in body["detail"]


def test_unknown_and_malformed_hosts_are_told_apart(client: TestClient) -> None:
    assert (
        "not one of this site's allowed hosts"
        in problem(client.get("/", headers={"host": "evil.tld"}), 400)["detail"]
    )
    assert (
        "not a valid host name"
        in problem(client.get("/", headers={"host": "a@evil.tld"}), 400)["detail"]
    )


def test_missing_host_is_400() -> None:
    app = make_app()
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "headers": [],
            "http_version": "1.0",
            "scheme": "http",
            "client": ("1.2.3.4", 1),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        await app(scope, receive, send)

    import asyncio

    asyncio.run(run())
    from tests.problems import raw_problem

    assert "no Host header" in raw_problem(sent, 400)["detail"]


def test_two_host_headers_are_400(client: TestClient) -> None:
    r = client.get("/", headers=[("host", "example.com"), ("host", "evil.tld")])
    assert "more than one Host" in problem(r, 400)["detail"]


def test_star_allows_any_well_formed_host_only() -> None:
    with TestClient(make_app(["*"])) as c:
        assert c.get("/", headers={"host": "whatever.example"}).status_code == 200
        problem(c.get("/", headers={"host": "a@b"}), 400)
        problem(c.get("/", headers={"host": "a.com/x"}), 400)


def test_empty_allowed_hosts_refuses_everything() -> None:
    with TestClient(make_app([])) as c:
        problem(c.get("/"), 400)


def test_app_error_handlers_render_the_refusal() -> None:
    app = make_app(["example.com"])

    @app.exception_handler(HTTPError)
    async def custom(request: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"custom": exc.detail}, exc.status)

    with TestClient(app) as c:
        r = c.get("/", headers={"host": "evil.tld"})
        assert r.status_code == 400
        assert "evil.tld" in r.json()["custom"]


def test_forwarded_host_ignored_from_untrusted_peer() -> None:
    app = make_app(["example.com"], trusted_proxies=["10.0.0.0/8"])
    with TestClient(app, client=("203.0.113.9", 5000)) as c:
        r = c.get("/", headers={"host": "example.com", "x-forwarded-host": "evil.tld"})
        assert r.status_code == 200
        assert r.json()["host"] == "example.com"
        # and a bad Host is not rescued by a good X-Forwarded-Host
        problem(c.get("/", headers={"host": "evil.tld", "x-forwarded-host": "example.com"}), 400)


def test_forwarded_host_from_trusted_proxy_is_checked_and_used() -> None:
    app = make_app(["example.com"], trusted_proxies=["10.0.0.0/8", "::1"])
    with TestClient(app, client=("10.1.2.3", 5000)) as c:
        r = c.get("/", headers={"host": "internal:8000", "x-forwarded-host": "example.com"})
        assert r.status_code == 200
        assert r.json() == {"host": "example.com", "url": "http://example.com/"}
        body = problem(
            c.get("/", headers={"host": "example.com", "x-forwarded-host": "evil.tld"}), 400
        )
        assert "X-Forwarded-Host" in body["detail"]
        # appended chains: the value our proxy wrote (the last) counts
        r = c.get("/", headers={"host": "internal", "x-forwarded-host": "evil.tld, example.com"})
        assert r.status_code == 200
        problem(
            c.get("/", headers={"host": "internal", "x-forwarded-host": "example.com, evil.tld"}),
            400,
        )
    with TestClient(app, client=("::ffff:10.0.0.1", 5000)) as c:  # IPv4-mapped peer
        assert c.get("/", headers={"x-forwarded-host": "example.com"}).status_code == 200


def test_bad_configuration_is_refused() -> None:
    for bad in (["example.com:80"], ["http://example.com"], ["a@b"], ["exa mple.com"]):
        with pytest.raises(ValueError, match="allowed_hosts entry"):
            TrustedHostMiddleware(make_app(), allowed_hosts=bad)
    with pytest.raises(TypeError):
        TrustedHostMiddleware(make_app(), allowed_hosts="example.com")
    with pytest.raises(ValueError, match="trusted_proxies entry"):
        TrustedHostMiddleware(make_app(), allowed_hosts=["x.com"], trusted_proxies=["nope"])


def test_split_host() -> None:
    assert split_host("Example.COM.:8080") == ("example.com", 8080)
    assert split_host("[::1]:8000") == ("[::1]", 8000)
    assert split_host("[::1]") == ("[::1]", None)
    assert split_host("a" * 64 + ".com") is None  # label longer than 63
    assert split_host("a@b") is None
    assert is_allowed_host("a.b.example.com", [".example.com"])
    assert not is_allowed_host("badexample.com", [".example.com"])


def test_websocket_with_bad_host_is_closed() -> None:
    import asyncio

    app = make_app(["example.com"])
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        scope = {
            "type": "websocket",
            "path": "/ws",
            "raw_path": b"/ws",
            "query_string": b"",
            "headers": [(b"host", b"evil.tld")],
            "scheme": "ws",
            "client": ("1.2.3.4", 1),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: Any) -> None:
            sent.append(message)

        await app(scope, receive, send)

    asyncio.run(run())
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Invalid host"}]


def test_many_distinct_hosts_do_not_grow_memory(client: TestClient) -> None:
    mw = TrustedHostMiddleware(make_app(), allowed_hosts=[".example.com"])
    for i in range(2000):
        assert mw.check(f"h{i}.example.com") == (f"h{i}.example.com", None)
        assert mw.check(f"h{i}.evil.tld") is None
    assert len(mw._verdicts) <= 512


def test_problem_without_a_keel_app() -> None:
    """Wrapping any ASGI app (no keel App in the scope), the refusal is still a problem."""
    import asyncio

    from tests.problems import raw_problem

    async def plain(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("must not be reached")

    mw = TrustedHostMiddleware(plain, allowed_hosts=["example.com"])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"host", b"evil.tld")]}
    asyncio.run(mw(scope, receive, send))
    assert "evil.tld" in raw_problem(sent, 400)["detail"]
