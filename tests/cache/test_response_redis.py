"""The route response cache on Redis: shared between app instances, private answers never
shared, and a Redis killed mid-test leaves every request answered by its handler."""

from __future__ import annotations

import logging

import pytest

from keel import App, Request, Settings
from keel.cache import app_cache
from keel.testing import TestClient
from tests.cache.conftest import PrivateRedis


def make_app(url: str, prefix: str, calls: dict[str, int], secret: str | None = None) -> App:
    settings = Settings(cache_url=url, cache_prefix=prefix, cache_timeout=0.5, secret_key=secret)
    app = App(settings=settings)

    @app.get("/items/{item_id:int}", cache=60)
    async def item(item_id: int) -> dict[str, int]:
        calls["item"] = calls.get("item", 0) + 1
        return {"id": item_id, "calls": calls["item"]}

    @app.post("/login/{name}")
    async def login(name: str, request: Request) -> dict[str, str]:
        request.session["user"] = name
        return {"user": name}

    @app.get("/me", cache=60)
    async def me(request: Request) -> dict[str, str]:
        calls["me"] = calls.get("me", 0) + 1
        return {"user": request.session.get("user", "anonymous")}

    return app


def test_two_app_instances_share_entries(shared_redis_url: str, redis_prefix: str) -> None:
    first_calls: dict[str, int] = {}
    second_calls: dict[str, int] = {}
    first = make_app(shared_redis_url, redis_prefix, first_calls)
    second = make_app(shared_redis_url, redis_prefix, second_calls)
    with TestClient(first) as one, TestClient(second) as two:
        made = one.get("/items/7")
        kept = two.get("/items/7")
        assert made.json() == kept.json() == {"id": 7, "calls": 1}
        assert kept.headers["etag"] == made.headers["etag"]
        assert (
            two.get("/items/7", headers={"if-none-match": made.headers["etag"]}).status_code == 304
        )
    assert first_calls == {"item": 1} and second_calls == {}


def test_private_pages_are_never_shared_through_redis(
    shared_redis_url: str, redis_prefix: str
) -> None:
    calls: dict[str, int] = {}
    app = make_app(shared_redis_url, redis_prefix, calls, secret="k" * 40)  # signed entries
    with TestClient(app) as alice, TestClient(app) as bob, TestClient(app) as anonymous:
        alice.post("/login/alice")
        bob.post("/login/bob")
        for _ in range(2):
            assert alice.get("/me").json() == {"user": "alice"}
            assert bob.get("/me").json() == {"user": "bob"}
            assert anonymous.get("/me").json() == {"user": "anonymous"}
    assert calls["me"] == 4 + 1


def test_redis_killed_mid_test_requests_still_succeed(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    calls: dict[str, int] = {}
    app = make_app(private_redis.url, "t:", calls)
    with TestClient(app) as client:
        assert client.get("/items/1").json() == {"id": 1, "calls": 1}
        assert client.get("/items/1").json() == {"id": 1, "calls": 1}  # from Redis
        assert app_cache(app).is_redis
        private_redis.kill()
        with caplog.at_level(logging.WARNING, logger="keel.cache"):
            for expected in (2, 3, 4):
                answer = client.get("/items/1")
                assert answer.status_code == 200
                assert answer.json() == {"id": 1, "calls": expected}  # from the handler
            assert client.get("/me").json() == {"user": "anonymous"}
    lines = [r.getMessage() for r in caplog.records if r.name == "keel.cache"]
    assert len(lines) == 1
    assert "unreachable" in lines[0] and "misses" in lines[0]
