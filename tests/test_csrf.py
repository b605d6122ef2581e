"""keel.csrf through the real stack: SessionMiddleware, the route check, problem answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from keel import App, Form, HTTPError, Request
from keel.csrf import CSRFProtection, csrf_exempt, csrf_token, rotate_csrf
from keel.middleware import Middleware, SessionMiddleware
from keel.settings import Settings
from keel.testing import TestClient
from tests.problems import problem

KEY = "csrf-test-key-" + "k" * 40
PROTECTION = "csrf_protection"


def protect(app: App, protection: CSRFProtection) -> App:
    """What the app will do from settings: ``app.csrf_protection = protection``."""
    setattr(app, PROTECTION, protection)
    return app


def make_app(**options: Any) -> App:
    app = App(middleware=[Middleware(SessionMiddleware, secret_key=KEY)])
    protect(app, CSRFProtection(**options))

    @app.get("/token")
    async def token(request: Request) -> dict[str, str]:
        return {"token": csrf_token(request)}

    @app.get("/tokens")
    async def tokens(request: Request) -> list[str]:
        return [csrf_token(request), csrf_token(request)]

    @app.post("/login")
    async def login(request: Request) -> dict[str, str]:
        request.session.cycle()
        rotate_csrf(request)
        return {"token": csrf_token(request)}

    @app.post("/submit")
    async def submit(request: Request) -> dict[str, bool]:
        return {"ok": True}

    @app.post("/form")
    async def form(title: Annotated[str, Form()]) -> dict[str, str]:
        return {"title": title}

    @app.post("/raw-form")
    async def raw_form(request: Request) -> dict[str, Any]:
        form = await request.form()
        return {k: v if isinstance(v, str) else v.filename for k, v in form.items()}

    @app.put("/items/{item_id}")
    async def put_item(item_id: int, body: dict[str, int]) -> dict[str, int]:
        return body

    @app.post("/webhook")
    @csrf_exempt
    async def webhook() -> dict[str, bool]:
        return {"exempt": True}

    @csrf_exempt
    @app.delete("/other")
    async def other() -> dict[str, bool]:
        return {"exempt": True}

    return app


@contextlib.contextmanager
def session_client(app: App, **options: Any) -> Iterator[tuple[TestClient, str]]:
    """A client with a session (cookie set) and a token for it."""
    with TestClient(app, **options) as client:
        yield client, client.get("/token").json()["token"]


@pytest.fixture
def app() -> App:
    return make_app()


def failed(response: Any, fragment: str) -> None:
    body = problem(response, 403)
    assert body["detail"].startswith("CSRF check failed: ")
    assert fragment in body["detail"], body["detail"]


def test_safe_methods_and_requests_without_the_cookie_are_not_checked(app: App) -> None:
    with TestClient(app) as client:
        assert client.post("/submit").json() == {"ok": True}  # no session cookie
        assert client.get("/token").status_code == 200
        assert client.head("/token").status_code == 200
        assert client.options("/token").status_code in (200, 204, 405)


def test_missing_wrong_malformed_and_foreign_tokens_are_403(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        session_client(app) as (client, token),
        session_client(app) as (other, other_token),
        caplog.at_level(logging.WARNING, logger="keel.security.csrf"),
    ):
        failed(client.post("/submit"), "has no CSRF token")
        failed(client.post("/submit", headers={"X-CSRF-Token": ""}), "has no CSRF token")
        failed(client.post("/submit", headers={"X-CSRF-Token": "abc"}), "malformed")
        failed(client.post("/submit", headers={"X-CSRF-Token": "*" * 86}), "malformed")
        wrong = ("A" if token[0] != "A" else "B") + token[1:]
        failed(client.post("/submit", headers={"X-CSRF-Token": wrong}), "does not match")
        failed(client.post("/submit", headers={"X-CSRF-Token": other_token}), "does not match")
        assert other.post("/submit", headers={"X-CSRF-Token": other_token}).status_code == 200
    assert "has no CSRF token" in caplog.text and "POST /submit" in caplog.text


def test_a_session_without_a_secret_is_told_to_reload(app: App) -> None:
    with session_client(app) as (client, token):
        client.post("/submit", headers={"X-CSRF-Token": token})
    fresh = TestClient(app)
    with fresh:
        fresh.cookies.set("session", "tampered.cookie.value")
        failed(fresh.post("/submit", headers={"X-CSRF-Token": token}), "reload the page")


def test_valid_token_in_header_and_in_form_fields(app: App) -> None:
    with session_client(app) as (client, token):
        assert client.post("/submit", headers={"X-CSRF-Token": token}).json() == {"ok": True}
        response = client.post("/form", data={"title": "hi", "csrf_token": token})
        assert response.json() == {"title": "hi"}  # the handler still reads the form
        response = client.put("/items/3", json={"n": 1}, headers={"X-CSRF-Token": token})
        assert response.json() == {"n": 1}
        failed(client.put("/items/3", json={"n": 1, "csrf_token": token}), "no CSRF token")


def test_multipart_form_with_token_and_file(app: App) -> None:
    with session_client(app) as (client, token):
        response = client.post(
            "/raw-form",
            data={"csrf_token": token, "title": "doc"},
            files={"upload": ("a.txt", b"hello", "text/plain")},
        )
        assert response.json() == {"csrf_token": token, "title": "doc", "upload": "a.txt"}
        response = client.post(
            "/raw-form", data={"title": "doc"}, files={"csrf_token": ("t.txt", token.encode())}
        )
        failed(response, "no CSRF token")  # a file is not a token


def test_masked_tokens_differ_per_call_and_all_validate(app: App) -> None:
    with session_client(app) as (client, token):
        first, second = client.get("/tokens").json()
        assert len({token, first, second}) == 3
        for each in (token, first, second):
            response = client.post("/submit", headers={"X-CSRF-Token": each})
            assert response.status_code == 200


def test_rotate_at_login_invalidates_earlier_tokens(app: App) -> None:
    with session_client(app) as (client, token):
        new = client.post("/login", headers={"X-CSRF-Token": token}).json()["token"]
        failed(client.post("/submit", headers={"X-CSRF-Token": token}), "does not match")
        assert client.post("/submit", headers={"X-CSRF-Token": new}).status_code == 200


def test_bearer_only_request_is_exempt_but_cookie_and_bearer_is_not(app: App) -> None:
    bearer = {"Authorization": "Bearer abc"}
    with TestClient(app) as api:
        assert api.post("/submit", headers=bearer).json() == {"ok": True}
    with session_client(app) as (client, token):
        failed(client.post("/submit", headers=bearer), "has no CSRF token")
        both = {**bearer, "X-CSRF-Token": token}
        assert client.post("/submit", headers=both).status_code == 200


def test_exempt_routes_either_decorator_order(app: App) -> None:
    with session_client(app) as (client, _):
        assert client.post("/webhook").json() == {"exempt": True}
        assert client.delete("/other").json() == {"exempt": True}


ORIGINS = {
    "foreign": ("https://evil.example", "is not this site"),
    "null": ("null", "'null'"),
    "wrong scheme": ("https://testserver", "is not this site"),
    "wrong port": ("http://testserver:8080", "is not this site"),
    "suffix": ("http://testserver.evil.io", "is not this site"),
    "garbage": ("not an origin", "is not this site"),
}


@pytest.mark.parametrize("case", ORIGINS)
def test_foreign_origins_are_403_even_with_a_valid_token(app: App, case: str) -> None:
    origin, fragment = ORIGINS[case]
    with session_client(app) as (client, token):
        response = client.post("/submit", headers={"Origin": origin, "X-CSRF-Token": token})
        failed(response, fragment)


def test_own_origin_passes(app: App) -> None:
    with session_client(app) as (client, token):
        for origin in ("http://testserver", "HTTP://TESTSERVER", "http://testserver:80"):
            response = client.post("/submit", headers={"Origin": origin, "X-CSRF-Token": token})
            assert response.status_code == 200, origin


def test_origin_checked_before_the_token(app: App) -> None:
    with session_client(app) as (client, _):
        failed(client.post("/submit", headers={"Origin": "http://evil.io"}), "Origin")


def test_https_needs_origin_or_a_same_site_referer(app: App) -> None:
    with session_client(app, base_url="https://testserver") as (client, token):
        headers = {"X-CSRF-Token": token}
        failed(client.post("/submit", headers=headers), "needs a Referer")
        bad = {**headers, "Referer": "https://evil.io/page"}
        failed(client.post("/submit", headers=bad), "Referer 'https://evil.io/page'")
        insecure = {**headers, "Referer": "http://testserver/page"}
        failed(client.post("/submit", headers=insecure), "not an HTTPS URL")
        failed(client.post("/submit", headers={**headers, "Referer": "::"}), "not an HTTPS")
        good = {**headers, "Referer": "https://testserver/page?x=1"}
        assert client.post("/submit", headers=good).status_code == 200
        origin = {**headers, "Origin": "https://testserver"}
        assert client.post("/submit", headers=origin).status_code == 200
        failed(client.post("/submit", headers={**headers, "Origin": "http://testserver"}), "is not")


def test_plain_http_without_origin_needs_no_referer(app: App) -> None:
    with session_client(app) as (client, token):
        assert client.post("/submit", headers={"X-CSRF-Token": token}).status_code == 200


def test_https_behind_a_trusted_proxy() -> None:
    app = make_app(trusted_proxies=["10.0.0.0/8"])
    with session_client(app, client=("10.0.0.5", 4000)) as (client, token):
        forwarded = {"X-Forwarded-Proto": "https", "X-CSRF-Token": token}
        headers = {**forwarded, "Origin": "https://testserver"}
        assert client.post("/submit", headers=headers).status_code == 200
        failed(client.post("/submit", headers=forwarded), "needs a Referer")
    untrusted = make_app()
    with session_client(untrusted, client=("10.0.0.5", 4000)) as (client, token):
        headers = {"X-Forwarded-Proto": "https", "Origin": "https://testserver"}
        failed(client.post("/submit", headers={**headers, "X-CSRF-Token": token}), "is not")


def test_trusted_origins_exact_and_wildcard() -> None:
    app = make_app(trusted_origins=["https://admin.example.com", "https://*.example.org"])
    with session_client(app) as (client, token):
        for origin in (
            "https://admin.example.com",
            "https://a.example.org",
            "https://b.c.example.org",
        ):
            headers = {"Origin": origin, "X-CSRF-Token": token}
            assert client.post("/submit", headers=headers).status_code == 200, origin
        for origin in (
            "http://admin.example.com",
            "https://example.org",
            "https://evilexample.org",
            "https://a.example.org.evil.io",
            "https://a.example.org:8443",
        ):
            headers = {"Origin": origin, "X-CSRF-Token": token}
            failed(client.post("/submit", headers=headers), "is not this site")
    with session_client(app, base_url="https://testserver") as (https, token):
        headers = {"Referer": "https://x.example.org/form", "X-CSRF-Token": token}
        assert https.post("/submit", headers=headers).status_code == 200


@pytest.mark.parametrize("entry", ["example.com", "https://", "https://a.com/path", "ftp://a.com"])
def test_bad_trusted_origins_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="trusted origin"):
        CSRFProtection(trusted_origins=[entry])


def test_custom_names_and_from_settings() -> None:
    settings = Settings(
        csrf_trusted_origins=["https://admin.example.com"],
        csrf_header_name="X-Token",
        csrf_field_name="token",
        session_cookie_name="sid",
        trusted_proxies=["10.0.0.1"],
    )
    protection = CSRFProtection.from_settings(settings)
    assert (protection.header_name, protection.field_name) == ("X-Token", "token")
    assert protection.session_cookie_name == "sid" and protection.proxies.networks
    assert len(protection.trusted) == 1
    app = App(middleware=[Middleware(SessionMiddleware, secret_key=KEY, cookie_name="sid")])
    protect(app, protection)

    @app.get("/token")
    async def token(request: Request) -> dict[str, str]:
        return {"token": csrf_token(request)}

    @app.post("/submit")
    async def submit() -> dict[str, bool]:
        return {"ok": True}

    with session_client(app) as (client, value):
        failed(client.post("/submit", headers={"X-CSRF-Token": value}), "X-Token header")
        assert client.post("/submit", headers={"X-Token": value}).status_code == 200
        assert client.post("/submit", data={"token": value}).status_code == 200


def test_protection_without_sessions_is_a_403_not_a_500() -> None:
    """Every App has sessions; a request that reaches the check without one (an ASGI stack
    put together by hand) is refused, not crashed on."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/submit",
        "headers": [(b"host", b"testserver"), (b"cookie", b"session=x")],
    }
    with pytest.raises(HTTPError) as refused:
        asyncio.run(CSRFProtection().check(Request(scope)))
    assert refused.value.status == 403
    assert "no session middleware" in str(refused.value.detail)


def test_csrf_token_needs_sessions() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    with pytest.raises(RuntimeError, match="SessionMiddleware"):
        csrf_token(request)


def test_a_bad_form_during_the_check_is_its_own_4xx() -> None:
    app = make_app()
    app.max_form_fields = 5
    with session_client(app) as (client, _):
        many = "&".join(f"f{i}=1" for i in range(50))
        response = client.post(
            "/submit",
            content=many,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert problem(response, 413)["limit"] == 5
        response = client.post(
            "/submit", content=b"x", headers={"Content-Type": "multipart/form-data"}
        )
        assert "boundary" in problem(response, 400)["detail"]
