"""@cached: results per arguments, key templates, invalidation, stampede lock, Redis down."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from keel.cache import Cache, CachedFunction, cached
from tests.cache.conftest import PrivateRedis


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_results_are_kept_per_arguments() -> None:
    store = Cache("mem://")
    calls: list[tuple[int, str]] = []

    @cached(ttl=60, cache=store)
    async def double(x: int, label: str = "") -> int:
        calls.append((x, label))
        return x * 2

    async def scenario() -> None:
        assert await double(2) == 4
        assert await double(2) == 4
        assert await double(3, label="a") == 6
        assert await double(3, label="a") == 6
        assert await double(3, label="b") == 6

    run(scenario())
    assert calls == [(2, ""), (3, "a"), (3, "b")]
    assert isinstance(double, CachedFunction)
    assert vars(double)["__name__"] == "double"  # functools.update_wrapper


def test_key_template_and_invalidate() -> None:
    store = Cache("mem://")
    calls = 0

    @cached(ttl=timedelta(minutes=5), key="user:{user_id}", cache=store)
    async def profile(user_id: int, verbose: bool = False) -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"id": user_id, "version": calls}

    async def scenario() -> None:
        assert profile.key(5) == "user:5"
        assert await profile(5) == {"id": 5, "version": 1}
        assert await profile(5, verbose=True) == {"id": 5, "version": 1}  # not in the key
        assert await profile.invalidate(5)
        assert await profile(5) == {"id": 5, "version": 2}
        assert await store.get("user:5") == {"id": 5, "version": 2}

    run(scenario())


def test_default_cache_is_the_process_wide_one() -> None:
    from keel import cache as cache_module

    @cached(ttl=60)
    async def answer() -> int:
        return 42

    assert answer.cache is cache_module.cache
    assert run(answer()) == 42


def test_concurrent_calls_run_the_function_once() -> None:
    store = Cache("mem://")
    calls = 0

    @cached(ttl=60, cache=store)
    async def slow(x: int) -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return x

    async def scenario() -> list[int]:
        return await asyncio.gather(*(slow(1) for _ in range(20)))

    assert run(scenario()) == [1] * 20
    assert calls == 1


def test_exceptions_are_not_cached() -> None:
    store = Cache("mem://")
    attempts = 0

    @cached(ttl=60, cache=store)
    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("first try fails")
        return "ok"

    async def scenario() -> None:
        with pytest.raises(ConnectionError):
            await flaky()
        assert await flaky() == "ok"
        assert await flaky() == "ok"

    run(scenario())
    assert attempts == 2


def test_misuse_is_refused_at_decoration() -> None:
    with pytest.raises(TypeError, match="async function"):

        @cached(ttl=60)  # type: ignore[arg-type]
        def plain() -> int:
            return 1

    with pytest.raises(ValueError, match="positive"):
        cached(ttl=0)
    with pytest.raises(TypeError, match="seconds or a timedelta"):
        cached(ttl="60")  # type: ignore[arg-type]


def test_redis_down_runs_the_function(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    store = Cache(private_redis.url, prefix="t:", timeout=0.5)
    calls = 0

    @cached(ttl=60, cache=store)
    async def load(x: int) -> int:
        nonlocal calls
        calls += 1
        return x + calls

    async def scenario() -> None:
        assert await load(1) == 2
        assert await load(1) == 2  # from Redis
        private_redis.kill()
        with caplog.at_level(logging.WARNING, logger="keel.cache"):
            assert await load(1) == 3
            assert await load(1) == 4
        await store.aclose()

    run(scenario())
    assert "unreachable" in caplog.text
