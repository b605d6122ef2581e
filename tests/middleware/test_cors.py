"""CORS: simple and preflight requests, regex suffix attacks, null origin, credentials rules."""

from __future__ import annotations

from typing import Any

import pytest

from keel import App
from keel.middleware import CORSMiddleware, Middleware
from keel.responses import JSONResponse
from keel.testing import TestClient
from tests.problems import problem

GOOD = "https://app.example.com"
PREFLIGHT = {"access-control-request-method": "PUT"}


def make_app(**options: Any) -> App:
    app = App(middleware=[Middleware(CORSMiddleware, **options)])

    @app.get("/items")
    async def items() -> dict[str, str]:
        return {"ok": "yes"}

    @app.put("/items")
    async def put_items() -> dict[str, str]:
        return {"put": "yes"}

    return app


@pytest.fixture(scope="module")
def client() -> Any:
    app = make_app(
        allow_origins=[GOOD],
        allow_origin_regex=r"https://[a-z0-9-]+\.preview\.example\.com",
        allow_methods=["GET", "PUT"],
        allow_headers=["X-Token"],
        expose_headers=["X-Total-Count"],
        max_age=300,
    )
    with TestClient(app) as c:
        yield c


def test_simple_request_from_allowed_origin(client: TestClient) -> None:
    r = client.get("/items", headers={"origin": GOOD})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == GOOD
    assert r.headers["access-control-expose-headers"] == "X-Total-Count"
    assert "access-control-allow-credentials" not in r.headers
    assert r.headers["vary"] == "Origin"


def test_simple_request_from_disallowed_origin_passes_without_cors(client: TestClient) -> None:
    r = client.get("/items", headers={"origin": "https://evil.io"})
    assert r.status_code == 200
    assert r.json() == {"ok": "yes"}
    assert not [h for h in r.headers if h.startswith("access-control-")]
    assert r.headers["vary"] == "Origin"


def test_no_origin_still_varies(client: TestClient) -> None:
    r = client.get("/items")
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    assert r.headers["vary"] == "Origin"


def test_preflight_allowed(client: TestClient) -> None:
    r = client.options(
        "/items", headers={"origin": GOOD, **PREFLIGHT, "access-control-request-headers": "x-token"}
    )
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["access-control-allow-origin"] == GOOD
    assert set(r.headers["access-control-allow-methods"].split(", ")) == {"GET", "PUT"}
    assert r.headers["access-control-allow-headers"] == "x-token"
    assert r.headers["access-control-max-age"] == "300"
    assert "Origin" in r.headers["vary"]


def test_preflight_safelisted_headers_are_always_allowed(client: TestClient) -> None:
    r = client.options(
        "/items",
        headers={"origin": GOOD, **PREFLIGHT, "access-control-request-headers": "Content-Type"},
    )
    assert r.status_code == 204


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"origin": "https://evil.io", **PREFLIGHT}, "origin"),
        ({"origin": GOOD, "access-control-request-method": "DELETE"}, "method"),
        ({"origin": GOOD, **PREFLIGHT, "access-control-request-headers": "x-evil"}, "header"),
        ({"origin": "null", **PREFLIGHT}, "origin"),
        ({"origin": "https://app.example.com.evil.io", **PREFLIGHT}, "origin"),
        ({"origin": "https://x.preview.example.com.evil.io", **PREFLIGHT}, "origin"),
        ({"origin": "http://app.example.com", **PREFLIGHT}, "origin"),  # wrong scheme
    ],
)
def test_disallowed_preflights_are_400_problems(
    client: TestClient, headers: dict[str, str], words: str
) -> None:
    r = client.options("/items", headers=headers)
    body = problem(r, 400)
    assert words in body["detail"]
    assert "access-control-allow-origin" not in r.headers
    assert "Origin" in r.headers["vary"]


def test_regex_must_match_the_whole_origin(client: TestClient) -> None:
    ok = client.get("/items", headers={"origin": "https://pr-42.preview.example.com"})
    assert ok.headers["access-control-allow-origin"] == "https://pr-42.preview.example.com"
    for attack in (
        "https://pr-42.preview.example.com.evil.io",
        "https://evil.io/https://pr-42.preview.example.com",
        "http://pr-42.preview.example.com",
        "https://pr-42.preview.example.com:8443",
    ):
        r = client.get("/items", headers={"origin": attack})
        assert "access-control-allow-origin" not in r.headers, attack


def test_regex_suffix_attack_on_a_naive_pattern() -> None:
    with TestClient(make_app(allow_origin_regex=r"https://.*\.example\.com")) as c:
        evil = c.get("/items", headers={"origin": "https://example.com.evil.io"})
        assert "access-control-allow-origin" not in evil.headers
        ok = c.get("/items", headers={"origin": "https://a.example.com"})
        assert ok.headers["access-control-allow-origin"] == "https://a.example.com"


def test_non_preflight_options_goes_to_the_app(client: TestClient) -> None:
    r = client.options("/items", headers={"origin": GOOD})
    assert r.status_code != 204 or "access-control-allow-methods" not in r.headers


def test_wildcard_without_credentials_answers_star() -> None:
    with TestClient(make_app(allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])) as c:
        r = c.get("/items", headers={"origin": "https://anyone.io"})
        assert r.headers["access-control-allow-origin"] == "*"
        assert "vary" not in r.headers  # the answer does not depend on the origin
        pre = c.options(
            "/items",
            headers={
                "origin": "null",
                "access-control-request-method": "PATCH",
                "access-control-request-headers": "x-anything",
            },
        )
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-origin"] == "*"
        assert pre.headers["access-control-allow-headers"] == "x-anything"


def test_null_origin_only_when_listed() -> None:
    with TestClient(make_app(allow_origins=["null"])) as c:
        r = c.get("/items", headers={"origin": "null"})
        assert r.headers["access-control-allow-origin"] == "null"


def test_credentials_reflect_the_origin_and_never_star() -> None:
    app = make_app(allow_origins=[GOOD], allow_credentials=True, allow_methods=["GET", "PUT"])
    with TestClient(app) as c:
        r = c.get("/items", headers={"origin": GOOD, "cookie": "session=1"})
        assert r.headers["access-control-allow-origin"] == GOOD
        assert r.headers["access-control-allow-credentials"] == "true"
        pre = c.options("/items", headers={"origin": GOOD, **PREFLIGHT})
        assert pre.headers["access-control-allow-origin"] == GOOD
        assert pre.headers["access-control-allow-credentials"] == "true"
        evil = c.get("/items", headers={"origin": "https://evil.io"})
        assert "access-control-allow-credentials" not in evil.headers


def test_credentials_with_regex_reflect_the_origin() -> None:
    app = make_app(allow_origin_regex=r"https://[a-z]+\.example\.com", allow_credentials=True)
    with TestClient(app) as c:
        r = c.get("/items", headers={"origin": "https://a.example.com"})
        assert r.headers["access-control-allow-origin"] == "https://a.example.com"


@pytest.mark.parametrize(
    "options",
    [
        {"allow_origins": ["*"]},
        {"allow_origins": [GOOD], "allow_methods": ["*"]},
        {"allow_origins": [GOOD], "allow_headers": ["*"]},
    ],
)
def test_credentials_with_star_is_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="allow_credentials"):
        CORSMiddleware(make_app(), allow_credentials=True, **options)


def test_bad_configuration_is_refused() -> None:
    for origin in ("https://example.com/", "example.com", "https://example.com/path"):
        with pytest.raises(ValueError, match="not an origin"):
            CORSMiddleware(make_app(), allow_origins=[origin])
    with pytest.raises(TypeError):
        CORSMiddleware(make_app(), allow_origins="https://example.com")
    with pytest.raises(ValueError):
        CORSMiddleware(make_app(), allow_methods=["GET POST"])


def test_existing_vary_is_extended_not_replaced() -> None:
    app = make_app(allow_origins=[GOOD])

    @app.get("/varied")
    async def varied() -> JSONResponse:
        return JSONResponse({}, headers={"vary": "Accept-Language"})

    with TestClient(app) as c:
        r = c.get("/varied", headers={"origin": GOOD})
        assert r.headers.get_list("vary") == ["Accept-Language, Origin"]
