"""keel.cache.Cache: memory and Redis backends chosen by settings, TTLs, locks, Redis down."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from keel import Settings
from keel.cache import MISSING, Cache, cache_url
from tests.cache.conftest import PrivateRedis


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- choosing the backend by settings -------------------------------------------------------


def test_memory_is_the_default() -> None:
    assert cache_url(Settings()) == "mem://"
    assert Cache(settings=Settings()).url == "mem://"
    assert not Cache(settings=Settings()).is_redis


def test_redis_url_setting_selects_redis_and_cache_url_wins() -> None:
    redis = Settings(redis_url="redis://10.0.0.1:6379/0")
    assert Cache.from_settings(redis).url == "redis://10.0.0.1:6379/0"
    both = Settings(redis_url="redis://10.0.0.1:6379/0", cache_url="mem://")
    assert Cache.from_settings(both).url == "mem://"


def test_environment_is_read_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_CACHE_URL", "redis://127.0.0.1:1/3")
    monkeypatch.setenv("KEEL_CACHE_PREFIX", "site-a:")
    lazy = Cache()
    assert repr(lazy) == "Cache(<from settings, on first use>)"
    assert lazy.url == "redis://127.0.0.1:1/3"
    assert lazy.prefix == "site-a:"
    assert lazy.key("k") == "site-a:k"


def test_bad_configuration_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="use 'mem://' or 'redis://"):
        Cache("memcached://x")
    with pytest.raises(ValueError, match="timeout"):
        Cache("mem://", timeout=0)
    with pytest.raises(ValueError, match="max_entries"):
        Cache("mem://", max_entries=0)
    with pytest.raises(ValueError, match="positive"):
        run(Cache("mem://").set("k", 1, ttl=-1))
    with pytest.raises(TypeError, match="strings"):
        run(Cache("mem://").get(3))  # type: ignore[arg-type]


def test_password_never_shows_in_repr() -> None:
    assert "hunter2" not in repr(Cache("redis://:hunter2@127.0.0.1:6379/0"))


# -- the API on memory ------------------------------------------------------------------------


def test_memory_get_set_delete_clear() -> None:
    async def scenario() -> None:
        store = Cache("mem://", prefix="t:")
        assert await store.get("a") is None
        assert await store.get("a", MISSING) is MISSING
        assert await store.set("a", {"x": [1, 2]})
        assert await store.set("none", None)
        assert await store.get("a") == {"x": [1, 2]}
        assert await store.get("none", MISSING) is None  # a stored None is not a miss
        assert await store.delete("a")
        assert not await store.delete("a")
        await store.set("b", 1)
        await store.clear()
        assert await store.get("b", MISSING) is MISSING
        assert await store.ping()

    run(scenario())


def test_memory_ttl_expires() -> None:
    async def scenario() -> None:
        store = Cache("mem://")
        await store.set("short", 1, ttl=0.05)
        await store.set("long", 2, ttl=60)
        await asyncio.sleep(0.1)
        assert await store.get("short", MISSING) is MISSING
        assert await store.get("long") == 2

    run(scenario())


def test_memory_keeps_at_most_max_entries() -> None:
    async def scenario() -> None:
        store = Cache("mem://", max_entries=3)
        for i in range(5):
            await store.set(str(i), i)
        assert [await store.get(str(i), MISSING) for i in range(5)][-1] == 4
        assert await store.get("0", MISSING) is MISSING

    run(scenario())


def test_get_or_set_runs_the_factory_once_for_concurrent_misses() -> None:
    async def scenario() -> None:
        store = Cache("mem://")
        calls = 0

        async def slow() -> str:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            return "value"

        results = await asyncio.gather(*(store.get_or_set("k", slow, 60) for _ in range(20)))
        assert results == ["value"] * 20
        assert calls == 1

    run(scenario())


def test_get_or_set_does_not_keep_errors() -> None:
    async def scenario() -> None:
        store = Cache("mem://")

        async def boom() -> int:
            raise LookupError("no")

        with pytest.raises(LookupError):
            await store.get_or_set("k", boom, 60)
        assert await store.get("k", MISSING) is MISSING

        async def fine() -> int:
            return 5

        assert await store.get_or_set("k", fine, 60) == 5

    run(scenario())


# -- Redis --------------------------------------------------------------------------------------


def test_redis_round_trip_shared_between_caches(shared_redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        one = Cache(shared_redis_url, prefix=redis_prefix, secret="s" * 32)
        two = Cache(shared_redis_url, prefix=redis_prefix, secret="s" * 32)
        assert one.is_redis
        assert await one.set("user:1", {"name": "Ada", "tags": ("a", "b")}, ttl=60)
        assert await two.get("user:1") == {"name": "Ada", "tags": ("a", "b")}
        assert await two.delete("user:1")
        assert await one.get("user:1", MISSING) is MISSING
        await one.set("x", 1)
        await one.clear()
        assert await two.get("x", MISSING) is MISSING
        await one.aclose()
        await two.aclose()

    run(scenario())


def test_redis_unpicklable_value_is_not_stored_and_not_an_error(
    shared_redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        store = Cache(shared_redis_url, prefix=redis_prefix)
        with caplog.at_level(logging.WARNING, logger="keel.cache"):
            assert await store.set("lambda", lambda: 1) is False
        assert await store.get("lambda", MISSING) is MISSING
        await store.aclose()

    run(scenario())
    assert "cannot be stored in Redis" in caplog.text


def test_redis_clear_keeps_to_its_own_prefix(shared_redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        star = Cache(shared_redis_url, prefix=redis_prefix + "*")  # a glob character
        other = Cache(shared_redis_url, prefix=redis_prefix + "other:")
        await star.set("k", 1)
        await other.set("k", 2)
        await star.clear()
        assert await star.get("k", MISSING) is MISSING
        assert await other.get("k") == 2
        await star.aclose()
        await other.aclose()

    run(scenario())


def test_redis_stampede_lock_spans_caches(shared_redis_url: str, redis_prefix: str) -> None:
    """Two Cache objects stand for two processes: one factory call between them."""

    async def scenario() -> None:
        caches = [Cache(shared_redis_url, prefix=redis_prefix) for _ in range(2)]
        calls = 0

        async def slow() -> int:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.1)
            return 42

        results = await asyncio.gather(
            *(caches[i % 2].get_or_set("hot", slow, 60) for i in range(10))
        )
        assert results == [42] * 10
        assert calls == 1
        for one in caches:
            await one.aclose()

    run(scenario())


def test_redis_entry_signed_with_another_secret_is_a_miss(
    shared_redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        writer = Cache(shared_redis_url, prefix=redis_prefix, secret="a" * 32)
        reader = Cache(shared_redis_url, prefix=redis_prefix, secret="b" * 32)
        await writer.set("k", "v", ttl=60)
        with caplog.at_level(logging.WARNING, logger="keel.cache"):
            assert await reader.get("k", MISSING) is MISSING
        assert "signature does not match" in caplog.text
        await writer.aclose()
        await reader.aclose()

    run(scenario())


def test_redis_killed_mid_test_gives_misses_and_one_warning(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        store = Cache(private_redis.url, prefix="t:", timeout=0.5)
        assert await store.set("k", "v", ttl=60)
        assert await store.get("k") == "v"
        private_redis.kill()
        with caplog.at_level(logging.WARNING, logger="keel.cache"):
            assert await store.get("k", "default") == "default"
            assert await store.set("k", "w") is False
            assert await store.delete("k") is False
            assert await store.ping() is False

            async def compute() -> str:
                return "computed"

            assert await store.get_or_set("other", compute, 60) == "computed"
        warnings = [r for r in caplog.records if r.name == "keel.cache"]
        assert len(warnings) == 1  # rate limited: one line, not one per call
        assert "unreachable" in warnings[0].getMessage()
        assert f"127.0.0.1:{private_redis.port}" in warnings[0].getMessage()
        await store.aclose()

    run(scenario())


def test_redis_never_reachable_is_a_miss(caplog: pytest.LogCaptureFixture) -> None:
    server = PrivateRedis()  # take a free port, then free it again
    url = server.url
    server.kill()

    async def scenario() -> None:
        store = Cache(url, timeout=0.2)
        assert await store.get("k", MISSING) is MISSING
        assert not await store.set("k", 1)
        await store.aclose()

    with caplog.at_level(logging.WARNING, logger="keel.cache"):
        run(scenario())
    assert "unreachable" in caplog.text
