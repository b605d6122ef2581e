"""``@cached(ttl=...)``: keep an async function's results, one per set of arguments."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Generic, ParamSpec, TypeVar

from keel.cache._backend import _seconds

if TYPE_CHECKING:
    from keel.cache._backend import Cache

__all__ = ["CachedFunction", "cached"]

P = ParamSpec("P")
R = TypeVar("R")


class CachedFunction(Generic[P, R]):
    """An async function whose results are cached (what :func:`cached` returns).

    Call it as the function itself; ``await f.invalidate(*args, **kwargs)`` forgets the
    result kept for those arguments, and ``f.key(*args, **kwargs)`` says its key.
    """

    def __init__(
        self,
        fn: Callable[P, Awaitable[R]],
        ttl: float | timedelta,
        key: str | None,
        cache: Cache | None,
        lock: bool,
    ) -> None:
        from cashews.key import get_cache_key_template

        self.fn = fn
        self.ttl = ttl
        self.lock = lock
        self._cache = cache
        # cashews' key templates: the module, the name and every argument by default, or
        # the caller's template ("user:{user_id}")
        self._template = get_cache_key_template(fn, key=key)
        functools.update_wrapper(self, fn)

    @property
    def cache(self) -> Cache:
        """Where the results are kept (the process-wide :data:`keel.cache.cache` by default)."""
        if self._cache is None:
            from keel.cache import cache

            return cache
        return self._cache

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The cache key of a call with these arguments."""
        from cashews.key import get_cache_key

        return str(get_cache_key(self.fn, self._template, args, kwargs))

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """The kept result for these arguments, else the function's (then kept)."""

        async def compute() -> R:
            return await self.fn(*args, **kwargs)

        return await self.cache.get_or_set(
            self.key(*args, **kwargs), compute, self.ttl, lock=self.lock
        )

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Forget the result kept for these arguments; whether there was one."""
        return await self.cache.delete(self.key(*args, **kwargs))


def cached(
    ttl: float | timedelta,
    *,
    key: str | None = None,
    cache: Cache | None = None,
    lock: bool = True,
) -> Callable[[Callable[P, Awaitable[R]]], CachedFunction[P, R]]:
    """Decorator: cache an async function's result per arguments for ``ttl`` seconds.

    Args:
        ttl: Seconds (or a ``timedelta``) a result is kept.
        key: A key template naming the arguments that matter, ``"user:{user_id}"``
            (default: the function's module, name and all its arguments).
        cache: Where results are kept (default :data:`keel.cache.cache`).
        lock: Concurrent calls that miss run the function once (stampede protection).

    Exceptions are not cached. When the cache cannot be reached the function runs.
    """
    if isinstance(ttl, bool) or not isinstance(ttl, int | float | timedelta):
        raise TypeError(f"cached(ttl=...) takes seconds or a timedelta, got {ttl!r}")
    _seconds(ttl)  # a ValueError now for 0, negative or infinite

    def decorator(fn: Callable[P, Awaitable[R]]) -> CachedFunction[P, R]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"@cached needs an async function (async def), got {fn!r}: a plain function "
                "cannot wait for the cache"
            )
        return CachedFunction(fn, ttl, key, cache, lock)

    return decorator
