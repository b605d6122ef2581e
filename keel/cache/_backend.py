"""The :class:`Cache`: keys and values in process memory or Redis, through cashews backends.

Every operation is safe to call from a request: when Redis cannot be reached, reads are
misses, writes are dropped, and a warning goes to the ``keel.cache`` logger (at most one
every 10 seconds per cache), never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import pickle
import time
import uuid
import warnings
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from cashews.backends.interface import Backend

    from keel.settings import Settings

__all__ = ["Cache", "MISSING", "cache_url"]

logger = logging.getLogger("keel.cache")

T = TypeVar("T")

_WARN_EVERY = 10.0  # seconds between two warnings about one unreachable backend
_RETRY_AFTER = 1.0  # seconds a failed backend is skipped (every call a miss) before a retry


class _Missing:
    """The type of :data:`MISSING`."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""What :meth:`Cache.get` returns for a missing key when no ``default`` is given to tell
a stored ``None`` from a miss (``await cache.get(key, MISSING) is MISSING``)."""


def cache_url(settings: Settings) -> str:
    """The backend URL ``settings`` name: ``cache_url``, else ``redis_url``, else ``mem://``."""
    return settings.cache_url or settings.redis_url or "mem://"


def _seconds(ttl: float | timedelta | None) -> float | None:
    if ttl is None:
        return None
    value = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"a cache ttl must be a positive number of seconds, got {ttl!r}")
    return value


def _redacted(url: str) -> str:
    """``url`` without a password (``redis://:secret@host`` -> ``redis://***@host``)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}{sep}***@{host}" if at and userinfo else url


class Cache:
    """A cache of keys and values: in this process's memory, or in Redis.

    Args:
        url: ``"mem://"`` (this process, the default) or ``"redis://host:6379/0"``
            (``rediss://`` for TLS; needs ``keel[redis]``). ``None``: read from ``settings``
            (``cache_url``, else ``redis_url``, else memory) when first used.
        prefix: Prepended to every key (keeps apps sharing one Redis apart).
        timeout: Seconds to connect to and wait for Redis before an operation is a miss.
        max_entries: Most entries the memory backend keeps (least recently used go first).
        secret: Signs the values kept in Redis (HMAC-SHA256), so that a value someone else
            wrote there is refused (a miss) instead of unpickled. ``None``: the settings'
            ``secret_key`` when set.
        settings: Where a ``None`` argument is read from (default: ``keel.Settings()``,
            the environment).

    Values are anything :mod:`pickle` can store (Redis) or any object (memory: kept as is,
    so do not change a value after storing it). Keys are strings.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str | None = None,
        timeout: float | None = None,
        max_entries: int | None = None,
        secret: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._given = (url, prefix, timeout, max_entries, secret)
        self._settings = settings
        self._resolved = False
        self._url = url or ""
        self._redis = False
        self._prefix = prefix or ""
        self._timeout = 0.5
        self._max_entries = 10_000
        self._secret = secret
        self._shared: Backend | None = None  # the memory backend (no event loop ties)
        self._per_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Backend, asyncio.Task[Any]]
        ] = weakref.WeakKeyDictionary()
        self._down_until = -math.inf
        self._warned_at = -math.inf
        self._failures = 0
        if url is not None or settings is not None:
            self._resolve()

    @classmethod
    def from_settings(cls, settings: Settings) -> Cache:
        """The cache ``settings`` describe (``cache_url``/``redis_url``, ``cache_prefix``,
        ``cache_timeout``, ``cache_max_entries``, ``secret_key``)."""
        return cls(settings=settings)

    def _resolve(self) -> None:
        if self._resolved:
            return
        url, prefix, timeout, max_entries, secret = self._given
        settings = self._settings
        if settings is None and None in (url, prefix, timeout, max_entries):
            from keel.settings import Settings

            settings = Settings()
        if settings is not None:
            url = url or cache_url(settings)
            prefix = prefix if prefix is not None else settings.cache_prefix
            timeout = timeout if timeout is not None else settings.cache_timeout
            max_entries = max_entries if max_entries is not None else settings.cache_max_entries
            if secret is None and settings.secret_key is not None:
                secret = settings.secret_key.get_secret_value()
        assert url is not None and prefix is not None
        scheme = url.partition("://")[0]
        if scheme not in ("mem", "redis", "rediss"):
            raise ValueError(
                f"cache url {_redacted(url)!r}: use 'mem://' or 'redis://host:6379/0' "
                "(or 'rediss://' for TLS)"
            )
        if timeout is not None and not timeout > 0:
            raise ValueError(f"cache timeout must be positive, got {timeout!r}")
        if max_entries is not None and max_entries < 1:
            raise ValueError(f"cache max_entries must be at least 1, got {max_entries!r}")
        self._url = url
        self._redis = scheme != "mem"
        self._prefix = prefix
        self._timeout = timeout if timeout is not None else 0.5
        self._max_entries = max_entries if max_entries is not None else 10_000
        self._secret = secret
        self._resolved = True

    @property
    def url(self) -> str:
        """The backend's URL (read from the settings on first use when not given)."""
        self._resolve()
        return self._url

    @property
    def prefix(self) -> str:
        """The prefix of every key."""
        self._resolve()
        return self._prefix

    @property
    def is_redis(self) -> bool:
        """Whether entries live in Redis (shared by every process using it)."""
        self._resolve()
        return self._redis

    def __repr__(self) -> str:
        if not self._resolved:
            return "Cache(<from settings, on first use>)"
        return f"Cache({_redacted(self._url)!r}, prefix={self._prefix!r})"

    # -- backends ----------------------------------------------------------------------------

    async def _backend(self) -> Backend | None:
        """The backend for the running event loop, or ``None`` while it is known down."""
        if not self._resolved:
            self._resolve()
        if not self._redis:
            backend = self._shared
            if backend is None:  # the memory backend's init starts nothing (no timer task)
                backend = self._shared = self._make()
                await backend.init()  # type: ignore[no-untyped-call]
            return backend
        if time.monotonic() < self._down_until:
            return None
        loop = asyncio.get_running_loop()
        entry = self._per_loop.get(loop)
        if entry is None:  # made once per loop, even when many requests arrive at once
            backend = self._make()
            entry = self._per_loop[loop] = (backend, loop.create_task(backend.init()))  # type: ignore[no-untyped-call]
        backend, ready = entry
        if not ready.done():
            await asyncio.shield(ready)
        elif ready.exception() is not None:
            del self._per_loop[loop]
            ready.result()
        return backend

    def _make(self) -> Backend:
        from cashews import Cache as Cashews

        if not self.is_redis:
            # check_interval=0: expired entries go when read or pushed out, with no timer task
            return Cashews(name="keel").setup(
                "mem://", size=self._max_entries, check_interval=0, check_repr=False
            )
        try:
            import redis  # noqa: F401
        except ImportError:
            raise RuntimeError(
                f"cache url {_redacted(self._url)!r} needs the redis package: "
                "pip install 'keel[redis]'"
            ) from None
        options: dict[str, Any] = {
            "suppress": False,  # errors come to keel, which logs them once and misses
            "socket_connect_timeout": self._timeout,
            "socket_timeout": self._timeout,
            "wait_for_connection_timeout": self._timeout,
            "client_name": "keel-cache",
            "check_repr": False,
        }
        if self._secret:
            options.update(secret=self._secret, digestmod=b"sha256")
        return Cashews(name="keel").setup(self._url, **options)

    def _failed(self, exc: BaseException) -> None:
        """Note a backend failure: skip the backend for a moment and warn (rate limited)."""
        self._down_until = time.monotonic() + _RETRY_AFTER
        self._failures += 1
        now = time.monotonic()
        if now - self._warned_at < _WARN_EVERY:
            return
        cause = exc.__cause__ or exc
        logger.warning(
            "cache %s unreachable (%s: %s); cache reads are misses and writes are dropped "
            "(%d failure(s) since the last warning)",
            _redacted(self._url),
            type(cause).__name__,
            str(cause)[:200],
            self._failures,
        )
        self._warned_at = now
        self._failures = 0

    async def _call(self, default: T, op: Callable[[Backend], Awaitable[T]]) -> T:
        """``op(backend)``, or ``default`` when the backend fails or is known down."""
        from cashews.exceptions import CacheBackendInteractionError, UnSecureDataError

        try:
            backend = await self._backend()
            if backend is None:
                return default
            return await op(backend)
        except UnSecureDataError:
            logger.warning(
                "cache %s: an entry's signature does not match (written with another "
                "secret_key, or not by keel): treated as a miss",
                _redacted(self._url),
            )
        except (TimeoutError, CacheBackendInteractionError, OSError) as exc:
            self._failed(exc)
        except Exception as exc:
            if not _is_redis_error(exc):
                raise
            self._failed(exc)
        return default

    # -- the API -----------------------------------------------------------------------------

    def key(self, key: str) -> str:
        """The stored key of ``key`` (with the prefix)."""
        if not isinstance(key, str):
            raise TypeError(f"cache keys are strings, got {type(key).__name__}")
        if not self._resolved:
            self._resolve()
        return self._prefix + key

    async def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when missing, expired or unreachable."""
        stored = self.key(key)
        return await self._call(default, lambda b: b.get(stored, default=default))

    async def set(self, key: str, value: Any, ttl: float | timedelta | None = None) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: until evicted).

        Returns whether it was stored: ``False`` when the backend is unreachable, or when
        Redis cannot hold the value (it cannot be pickled; a warning says so).
        """
        stored, expire = self.key(key), _seconds(ttl)
        try:
            return bool(await self._call(False, lambda b: b.set(stored, value, expire=expire)))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            if not self._redis:
                raise
            logger.warning(
                "cache: the value for %r cannot be stored in Redis (%s: %s); not cached",
                key[:200],
                type(exc).__name__,
                str(exc)[:200],
            )
            return False

    async def delete(self, key: str) -> bool:
        """Remove ``key``; whether it was there (``False`` too when unreachable)."""
        stored = self.key(key)
        return bool(await self._call(False, lambda b: b.delete(stored)))

    async def clear(self) -> None:
        """Remove every key under this cache's prefix (all keys when the prefix is empty)."""
        if not self.is_redis:  # this cache's own memory: nothing else lives there
            await self._call(None, lambda b: b.clear())
            return
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix)
        await self._call(None, lambda b: b.delete_match(escaped + "*"))

    async def ping(self) -> bool:
        """Whether the backend answers now."""

        async def ping(backend: Backend) -> bool:
            await backend.ping()
            return True

        self._down_until = -math.inf
        return await self._call(False, ping)

    async def aclose(self) -> None:
        """Close the running event loop's connections to Redis (at shutdown)."""
        entry = self._per_loop.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            with contextlib.suppress(Exception), warnings.catch_warnings():
                # cashews closes redis-py's client with its deprecated close()
                warnings.simplefilter("ignore", DeprecationWarning)
                await entry[1]
                await entry[0].close()  # type: ignore[no-untyped-call]

    async def get_or_set(
        self,
        key: str,
        factory: Callable[[], Awaitable[T]],
        ttl: float | timedelta | None,
        *,
        lock: bool = True,
        lock_timeout: float | None = None,
    ) -> T:
        """The value of ``key``; on a miss ``await factory()``, stored for ``ttl``.

        With ``lock`` (the default) concurrent misses of one key (in every process sharing
        the backend) run ``factory`` once: the others wait for its value (cache stampede
        protection), at most ``lock_timeout`` seconds (default: the ttl, capped at 30 s)
        before they run ``factory`` themselves. Errors of ``factory`` propagate and are
        not cached.
        """
        value = await self.get(key, MISSING)
        if value is not MISSING:
            return value  # type: ignore[no-any-return]
        expire = _seconds(ttl)
        if not lock:
            value = await factory()
            await self.set(key, value, expire)
            return value
        async with self.lock(key, lock_timeout or min(expire or 30.0, 30.0)) as owner:
            if not owner:  # someone else computed it while we waited
                value = await self.get(key, MISSING)
                if value is not MISSING:
                    return value  # type: ignore[no-any-return]
            value = await factory()
            await self.set(key, value, expire)
            return value

    def lock(self, key: str, timeout: float) -> _Lock:
        """``async with cache.lock(key, timeout) as owner``: one holder at a time.

        ``owner`` is true for the holder; the others wait until it releases the lock (or
        ``timeout`` seconds, after which the lock expires) and get ``False``. An
        unreachable backend gives everyone ``True`` (nothing can be coordinated).
        """
        return _Lock(self, self.key(key) + ":lock", timeout)


class _Lock:
    """The context manager of :meth:`Cache.lock` (a cashews backend lock)."""

    __slots__ = ("cache", "key", "timeout", "token", "held")

    def __init__(self, cache: Cache, key: str, timeout: float) -> None:
        self.cache = cache
        self.key = key
        self.timeout = timeout
        self.token = uuid.uuid4().hex
        self.held = False

    async def __aenter__(self) -> bool:
        cache, key, timeout = self.cache, self.key, self.timeout
        acquired = await cache._call(None, lambda b: b.set_lock(key, self.token, timeout))
        if acquired is None:  # unreachable: go ahead uncoordinated
            return True
        if acquired:
            self.held = True
            return True
        step = min(0.01, timeout / 10)
        await cache._call(None, lambda b: b.is_locked(key, wait=timeout, step=step))
        return False

    async def __aexit__(self, *exc_info: object) -> None:
        if self.held:
            key, token = self.key, self.token
            await self.cache._call(None, lambda b: b.unlock(key, token))


def _is_redis_error(exc: BaseException) -> bool:
    """Whether ``exc`` is redis-py's (a connection or server failure)."""
    try:
        from redis.exceptions import RedisError
    except ImportError:
        return False
    return isinstance(exc, RedisError)
