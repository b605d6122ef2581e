"""Route rate limits (keel.ratelimit): budgets, 429 problems, headers, keys, Redis sharing."""

# no `from __future__ import annotations`: the handlers use the local limiter in Annotated

import asyncio
import time
from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from keel import App, Depends, Request, Settings
from keel.ratelimit import ByUser, ClientIP, RateLimit, by_user, rate_limit
from keel.testing import TestClient
from tests.problems import problem
from tests.services import REDIS_URL, redis_key_prefix

REDIS = REDIS_URL


def limited_app(limiter: RateLimit, settings: Settings | None = None) -> App:
    app = App(settings=settings)

    @app.get("/a", dependencies=[Depends(limiter)])
    async def a() -> dict[str, str]:
        return {"ok": "a"}

    @app.get("/b")
    async def b(_: Annotated[None, Depends(limiter)]) -> dict[str, str]:
        return {"ok": "b"}

    @app.get("/free")
    async def free() -> dict[str, str]:
        return {"ok": "free"}

    return app


def test_budget_then_429_problem_with_headers() -> None:
    client = TestClient(limited_app(rate_limit("3/minute")))
    for remaining in (2, 1, 0):
        r = client.get("/a")
        assert r.status_code == 200
        assert r.headers["ratelimit-limit"] == "3"
        assert r.headers["ratelimit-remaining"] == str(remaining)
        assert 0 < int(r.headers["ratelimit-reset"]) <= 60
    r = client.get("/a")
    body = problem(r, 429)
    assert "3 per window" in body["detail"]
    assert 55 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["ratelimit-remaining"] == "0"
    assert r.headers["ratelimit-limit"] == "3"
    # each route has its own budget by default; unlimited routes are untouched
    assert client.get("/b").status_code == 200
    assert "ratelimit-limit" not in client.get("/free").headers


def test_shared_scope_is_one_budget() -> None:
    client = TestClient(limited_app(rate_limit("2/minute", group="shared")))
    assert client.get("/a").status_code == 200
    assert client.get("/b").status_code == 200
    problem(client.get("/a"), 429)
    problem(client.get("/b"), 429)


def test_retry_after_is_correct_for_a_short_window() -> None:
    client = TestClient(limited_app(rate_limit("2/second")))
    assert client.get("/a").status_code == 200
    assert client.get("/a").status_code == 200
    r = client.get("/a")
    problem(r, 429)
    wait = int(r.headers["retry-after"])
    assert wait == 1
    time.sleep(wait)
    assert client.get("/a").status_code == 200


@pytest.mark.parametrize("strategy", ["moving-window", "sliding-window-counter"])
def test_both_strategies_limit(strategy: Any) -> None:
    client = TestClient(limited_app(RateLimit("2/minute", strategy=strategy)))
    assert [client.get("/a").status_code for _ in range(3)] == [200, 200, 429]
    assert int(client.get("/a").headers["retry-after"]) >= 1


def test_several_limits_all_hold() -> None:
    client = TestClient(limited_app(rate_limit("5/minute;2/second")))
    assert [client.get("/a").status_code for _ in range(3)] == [200, 200, 429]


def test_budgets_are_per_client_ip() -> None:
    app = limited_app(rate_limit("1/minute"))
    one = TestClient(app, client=("10.0.0.1", 1000))
    two = TestClient(app, client=("10.0.0.2", 1000))
    one.run(_noop())
    two._loop = one._loop  # same event loop: same memory storage
    assert one.get("/a").status_code == 200
    problem(one.get("/a"), 429)
    assert two.get("/a").status_code == 200


async def _noop() -> None:
    return None


def test_spoofed_forwarded_for_from_untrusted_peer_is_ignored() -> None:
    client = TestClient(limited_app(rate_limit("1/minute", trusted_proxies=["10.0.0.0/8"])))
    assert client.get("/a", headers={"x-forwarded-for": "1.1.1.1"}).status_code == 200
    # a new spoofed address does not buy a new budget: the peer is not a trusted proxy
    problem(client.get("/a", headers={"x-forwarded-for": "2.2.2.2"}), 429)


def _request(client: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (client, 1), "headers": headers})


def test_client_ip_takes_right_most_untrusted_forwarded_address() -> None:
    key = ClientIP(["10.0.0.0/8", "192.168.1.1"])
    assert key(_request("10.1.1.1", "6.6.6.6, 1.2.3.4, 192.168.1.1")) == "1.2.3.4"
    assert key(_request("10.1.1.1", "1.2.3.4")) == "1.2.3.4"
    assert key(_request("10.1.1.1", None)) == "10.1.1.1"
    assert key(_request("10.1.1.1", "10.2.2.2")) == "10.2.2.2"  # all trusted: left-most
    assert key(_request("10.1.1.1", "1.2.3.4, garbage")) == "10.1.1.1"
    assert key(_request("8.8.8.8", "1.2.3.4")) == "8.8.8.8"  # untrusted peer
    assert ClientIP()(_request("10.1.1.1", "1.2.3.4")) == "10.1.1.1"


def test_trusted_proxy_forwarded_clients_get_their_own_budgets() -> None:
    app = limited_app(rate_limit("1/minute", trusted_proxies=["127.0.0.1"]))
    client = TestClient(app, client=("127.0.0.1", 1))
    assert client.get("/a", headers={"x-forwarded-for": "1.1.1.1"}).status_code == 200
    problem(client.get("/a", headers={"x-forwarded-for": "1.1.1.1"}), 429)
    assert client.get("/a", headers={"x-forwarded-for": "2.2.2.2"}).status_code == 200


class User:
    def __init__(self, ident: int) -> None:
        self.id = ident


def test_by_user_keys_on_the_user_and_falls_back_to_ip() -> None:
    app = App()
    limiter = rate_limit("1/minute", key=by_user)

    @app.middleware("http")
    async def login(request: Request, call_next: Any) -> Any:
        user = request.headers.get("x-user")
        if user:
            request.state.user = User(int(user))
        return await call_next(request)

    @app.get("/", dependencies=[Depends(limiter)])
    async def home() -> str:
        return "hi"

    client = TestClient(app)
    assert client.get("/", headers={"x-user": "1"}).status_code == 200
    problem(client.get("/", headers={"x-user": "1"}), 429)
    assert client.get("/", headers={"x-user": "2"}).status_code == 200
    assert client.get("/").status_code == 200  # anonymous: by IP
    problem(client.get("/"), 429)


def test_by_user_with_a_getter() -> None:
    async def get_user(request: Request) -> Any:
        return User(7) if request.headers.get("x-user") else None

    key = ByUser(get_user)
    req = Request({"type": "http", "client": ("1.2.3.4", 1), "headers": [(b"x-user", b"7")]})
    assert asyncio.run(key(req)) == "user:7"
    anonymous = Request({"type": "http", "client": ("1.2.3.4", 1), "headers": []})
    assert asyncio.run(key(anonymous)) == "1.2.3.4"


def test_custom_key_function() -> None:
    app = limited_app(rate_limit("1/minute", key=lambda r: r.headers.get("x-api-key", "none")))
    client = TestClient(app)
    assert client.get("/a", headers={"x-api-key": "k1"}).status_code == 200
    problem(client.get("/a", headers={"x-api-key": "k1"}), 429)
    assert client.get("/a", headers={"x-api-key": "k2"}).status_code == 200


def test_limit_strings_are_checked_at_once() -> None:
    with pytest.raises(ValueError, match="not valid"):
        rate_limit("ten per fortnight")
    with pytest.raises(ValueError, match="strategy"):
        RateLimit("1/second", strategy="fixed-window")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="memory://"):
        rate_limit("1/second", storage="postgres://x")


def test_openapi_documents_the_429() -> None:
    app = limited_app(rate_limit("3/minute"))
    doc = TestClient(app).get("/openapi.json").json()
    responses = doc["paths"]["/a"]["get"]["responses"]
    assert "3/minute" in responses["429"]["description"]
    assert "Retry-After" in responses["429"]["headers"]
    assert "application/problem+json" in responses["429"]["content"]
    assert "429" in doc["paths"]["/b"]["get"]["responses"]
    assert "429" not in doc["paths"]["/free"]["get"]["responses"]


# -- Redis ------------------------------------------------------------------------------------


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with redis_key_prefix() as prefix:
        yield prefix


@pytest.mark.parametrize("strategy", ["moving-window", "sliding-window-counter"])
def test_two_app_instances_sharing_redis_share_the_budget(redis_prefix: str, strategy: Any) -> None:
    # two apps, each with its own limiter, as two processes would have
    first = RateLimit("3/minute", storage=REDIS, key_prefix=redis_prefix, strategy=strategy)
    second = RateLimit("3/minute", storage=REDIS, key_prefix=redis_prefix, strategy=strategy)
    with TestClient(limited_app(first)) as one, TestClient(limited_app(second)) as two:
        try:
            assert one.get("/a").status_code == 200
            assert two.get("/a").status_code == 200
            assert one.get("/a").headers["ratelimit-remaining"] == "0"
            r = two.get("/a")
            problem(r, 429)
            assert 1 <= int(r.headers["retry-after"]) <= 60
            problem(one.get("/a"), 429)
        finally:
            one.run(first.aclose())
            two.run(second.aclose())


def test_without_a_storage_the_redis_url_setting_is_shared(redis_prefix: str) -> None:
    """Scale by settings alone: KEEL_REDIS_URL puts every limiter without a storage on Redis."""
    settings = Settings(redis_url=REDIS)
    first = RateLimit("2/minute", key_prefix=redis_prefix)
    second = RateLimit("2/minute", key_prefix=redis_prefix)
    with (
        TestClient(limited_app(first, settings)) as one,
        TestClient(limited_app(second, settings)) as two,
    ):
        try:
            assert one.get("/a").status_code == 200
            assert two.get("/a").status_code == 200
            problem(one.get("/a"), 429)  # the second app's hit counted for the first
            assert first.storage_uri == REDIS
        finally:
            one.run(first.aclose())
            two.run(second.aclose())


def test_without_a_storage_or_redis_url_memory_is_used() -> None:
    limiter = RateLimit("1/minute")
    with TestClient(limited_app(limiter)) as client:
        assert client.get("/a").status_code == 200
        problem(client.get("/a"), 429)
    assert limiter.storage_uri == "memory://"


def test_redis_retry_after_is_correct(redis_prefix: str) -> None:
    limiter = RateLimit("2/second", storage=REDIS, key_prefix=redis_prefix)
    with TestClient(limited_app(limiter)) as client:
        try:
            assert [client.get("/a").status_code for _ in range(2)] == [200, 200]
            r = client.get("/a")
            problem(r, 429)
            assert r.headers["retry-after"] == "1"
            time.sleep(1)
            assert client.get("/a").status_code == 200
        finally:
            client.run(limiter.aclose())


# -- the decorator and marker forms -------------------------------------------------------------


def test_decorator_on_either_side_and_marker_forms() -> None:
    app = App()

    @app.get("/below")
    @rate_limit("1/minute")
    async def below() -> str:
        return "below"

    @rate_limit("1/minute")
    @app.get("/above")
    async def above() -> str:
        return "above"

    @app.get("/listed", dependencies=[rate_limit("1/minute")])
    async def listed() -> str:
        return "listed"

    @app.get("/annotated")
    async def annotated(_: Annotated[None, rate_limit("1/minute")]) -> str:
        return "annotated"

    client = TestClient(app)
    for path in ("/below", "/above", "/listed", "/annotated"):
        ok = client.get(path)
        assert ok.status_code == 200, path
        assert ok.headers["ratelimit-remaining"] == "0", path
        problem(client.get(path), 429)
    doc = client.get("/openapi.json").json()
    for path in ("/below", "/above", "/listed", "/annotated"):
        assert "429" in doc["paths"][path]["get"]["responses"], path


def test_decorator_needs_a_function() -> None:
    with pytest.raises(TypeError, match="cannot carry dependencies"):
        rate_limit("1/minute")(print)


# -- the storage is unreachable -------------------------------------------------------------

DOWN = "redis://127.0.0.1:1/0"  # a closed port: the connection is refused at once


def test_unreachable_storage_is_503_with_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(limited_app(rate_limit("3/minute", storage=DOWN)))
    with caplog.at_level("WARNING", logger="keel.ratelimit"):
        started = time.perf_counter()
        r = client.get("/a")
        assert time.perf_counter() - started < 3
    body = problem(r, 503)
    assert "storage is unreachable" in body["detail"]
    assert r.headers["retry-after"] == "5"
    assert "ratelimit-limit" not in r.headers
    warnings = [rec for rec in caplog.records if rec.name == "keel.ratelimit"]
    assert len(warnings) == 1
    assert warnings[0].levelname == "WARNING"
    assert "127.0.0.1:1" in warnings[0].getMessage()
    assert "answering 503" in warnings[0].getMessage()
    assert client.get("/free").json() == {"ok": "free"}  # unlimited routes are untouched


def test_fail_open_lets_requests_through_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(limited_app(rate_limit("1/minute", storage=DOWN, fail_open=True)))
    with caplog.at_level("WARNING", logger="keel.ratelimit"):
        for _ in range(3):  # over the budget, but nothing can count it
            r = client.get("/a")
            assert r.json() == {"ok": "a"}
            assert "ratelimit-remaining" not in r.headers
    warnings = [rec for rec in caplog.records if rec.name == "keel.ratelimit"]
    assert len(warnings) == 1  # one warning per 10 s, not one per request
    assert "fail_open" in warnings[0].getMessage()


def test_the_warning_hides_a_password_in_the_storage_uri(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = rate_limit("1/minute", storage="redis://:hunter2@127.0.0.1:1/0")
    with caplog.at_level("WARNING", logger="keel.ratelimit"):
        problem(TestClient(limited_app(limiter)).get("/a"), 503)
    message = caplog.records[-1].getMessage()
    assert "hunter2" not in message
    assert "redis://***@127.0.0.1:1/0" in message
