"""App-wide rate limiting (RateLimitMiddleware) against the real middleware stack."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from keel import App, HTTPError
from keel.middleware import Middleware, RateLimitMiddleware
from keel.testing import TestClient
from tests.problems import problem
from tests.services import REDIS_URL, redis_key_prefix

REDIS = REDIS_URL


def make_app(limit: str, **options: Any) -> App:
    app = App(middleware=[Middleware(RateLimitMiddleware, limit, **options)])

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/other")
    async def other() -> dict[str, str]:
        return {"other": "route"}

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.get("/boom")
    async def boom() -> None:
        raise HTTPError(418, "teapot")

    return app


def test_every_route_shares_one_budget_then_429_problem() -> None:
    client = TestClient(make_app("3/minute"))
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["ratelimit-limit"] == "3"
    assert r.headers["ratelimit-remaining"] == "2"
    assert client.get("/other").headers["ratelimit-remaining"] == "1"
    boom = client.get("/boom")  # error answers count and carry the headers too
    assert boom.status_code == 418
    assert boom.headers["ratelimit-remaining"] == "0"
    r = client.get("/")
    body = problem(r, 429)
    assert "Too many requests" in body["detail"]
    assert 55 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["ratelimit-remaining"] == "0"


def test_retry_after_then_success() -> None:
    client = TestClient(make_app("1/second"))
    assert client.get("/").status_code == 200
    r = client.get("/")
    problem(r, 429)
    assert r.headers["retry-after"] == "1"
    time.sleep(1)
    assert client.get("/").status_code == 200


def test_exempt_paths_are_not_counted() -> None:
    client = TestClient(make_app("1/minute", exempt=["/health"]))
    for _ in range(3):
        r = client.get("/health")
        assert r.status_code == 200
        assert "ratelimit-limit" not in r.headers
    assert client.get("/").status_code == 200
    problem(client.get("/"), 429)


def test_spoofed_forwarded_for_is_ignored_unless_peer_is_trusted() -> None:
    untrusted = TestClient(make_app("1/minute", trusted_proxies=["10.0.0.0/8"]))
    assert untrusted.get("/", headers={"x-forwarded-for": "1.1.1.1"}).status_code == 200
    problem(untrusted.get("/", headers={"x-forwarded-for": "2.2.2.2"}), 429)

    proxied = TestClient(
        make_app("1/minute", trusted_proxies=["10.0.0.0/8"]), client=("10.0.0.5", 4000)
    )
    assert proxied.get("/", headers={"x-forwarded-for": "1.1.1.1"}).status_code == 200
    problem(proxied.get("/", headers={"x-forwarded-for": "1.1.1.1"}), 429)
    assert proxied.get("/", headers={"x-forwarded-for": "2.2.2.2"}).status_code == 200


def test_custom_key() -> None:
    client = TestClient(make_app("1/minute", key=lambda r: r.headers.get("x-api-key", "")))
    assert client.get("/", headers={"x-api-key": "a"}).status_code == 200
    problem(client.get("/", headers={"x-api-key": "a"}), 429)
    assert client.get("/", headers={"x-api-key": "b"}).status_code == 200


def test_bad_configuration_fails_at_startup() -> None:
    with pytest.raises(ValueError, match="not valid"):
        TestClient(make_app("lots")).get("/")
    with pytest.raises(ValueError, match="strategy"):
        TestClient(make_app("1/minute", strategy="token-bucket")).get("/")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with redis_key_prefix() as prefix:
        yield prefix


def _limiter(app: App) -> Any:
    stack: Any = app._stack
    while not isinstance(stack, RateLimitMiddleware):
        stack = stack.app
    return stack.limiter


def test_two_instances_sharing_redis_share_the_budget(redis_prefix: str) -> None:
    options = {"storage": REDIS, "key_prefix": redis_prefix}
    first, second = make_app("2/minute", **options), make_app("2/minute", **options)
    with TestClient(first) as one, TestClient(second) as two:
        try:
            assert one.get("/").status_code == 200
            assert two.get("/other").headers["ratelimit-remaining"] == "0"
            r = one.get("/")
            problem(r, 429)
            assert 1 <= int(r.headers["retry-after"]) <= 60
            problem(two.get("/"), 429)
        finally:
            one.run(_limiter(first).aclose())
            two.run(_limiter(second).aclose())


def test_unreachable_storage_is_503_or_passes_with_fail_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = "redis://127.0.0.1:1/0"  # a closed port
    with caplog.at_level("WARNING", logger="keel.ratelimit"):
        r = TestClient(make_app("2/minute", storage=down)).get("/")
        body = problem(r, 503)
        assert "storage is unreachable" in body["detail"]
        assert r.headers["retry-after"] == "5"
        client = TestClient(make_app("1/minute", storage=down, fail_open=True))
        for _ in range(3):
            r = client.get("/")
            assert r.json() == {"hello": "world"}
            assert "ratelimit-limit" not in r.headers
    messages = [rec.getMessage() for rec in caplog.records if rec.name == "keel.ratelimit"]
    assert len(messages) == 2
    assert "answering 503" in messages[0]
    assert "fail_open" in messages[1]
