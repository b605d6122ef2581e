"""Rate limiting on top of the ``limits`` library: per route (a dependency) or app-wide.

``rate_limit("10/minute")`` is a dependency that counts each request against a budget per
client and answers ``429 Too Many Requests`` (a problem detail with ``Retry-After``) once the
budget is spent. Successful answers carry the ``RateLimit-Limit``, ``RateLimit-Remaining``
and ``RateLimit-Reset`` headers of draft-ietf-httpapi-ratelimit-headers-06 (delta seconds).

The counting itself (moving window or sliding window counter) and the storage (in memory, or
Redis shared by several app instances) are the ``limits`` library's; ``limits`` is imported
the first time a limiter is built, never by ``import keel``.

When the storage cannot be reached (Redis down), a request is answered ``503 Service
Unavailable`` with ``Retry-After`` (fail closed), or with ``fail_open=True`` let through
uncounted; either way a warning is logged on the ``keel.ratelimit`` logger.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from keel.di import Depends, add_route_dependency
from keel.middleware._common import TrustedProxies, header_values
from keel.requests import Request
from keel.responses import Response

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.strategies import RateLimiter

__all__ = [
    "ByUser",
    "ClientIP",
    "Decision",
    "KeyFunc",
    "RateLimit",
    "Strategy",
    "UNAVAILABLE_RETRY_AFTER",
    "by_ip",
    "by_user",
    "rate_limit",
    "too_many",
]

_F = TypeVar("_F", bound=Callable[..., Any])

logger = logging.getLogger("keel.ratelimit")

UNAVAILABLE_RETRY_AFTER = 5
"""``Retry-After`` seconds of the 503 answered while the storage cannot be reached."""

_WARN_EVERY = 10.0  # seconds between two warnings about one unreachable storage

KeyFunc = Callable[[Request], "str | Awaitable[str]"]
"""What a budget belongs to: a function of the request returning a string (sync or async)."""

Strategy = Literal["moving-window", "sliding-window-counter"]
"""The ``limits`` strategy: exact moving window, or the cheaper sliding window counter."""

_STRATEGIES = {
    "moving-window": "MovingWindowRateLimiter",
    "sliding-window-counter": "SlidingWindowCounterRateLimiter",
}


class ClientIP:
    """Key function: the client's IP address, ``X-Forwarded-For`` only from trusted proxies.

    The peer address (``scope["client"]``) is the client unless it is one of
    ``trusted_proxies``; then ``X-Forwarded-For`` is read from the right and the first address
    that is not a trusted proxy is the client (addresses further left were written by the
    client itself and could be anything).

    Args:
        trusted_proxies: IPs/networks of your reverse proxies (``"10.0.0.0/8"``, ``"::1"``);
            ``None`` (the default) takes the app's ``trusted_proxies`` setting.
    """

    __slots__ = ("proxies",)

    def __init__(self, trusted_proxies: Iterable[str] | None = None) -> None:
        self.proxies = None if trusted_proxies is None else TrustedProxies(trusted_proxies)

    def __call__(self, request: Request) -> str:
        """The client IP of ``request`` (``"unknown"`` when the server gave no peer)."""
        scope = request.scope
        client = scope.get("client")
        peer = str(client[0]) if client else "unknown"
        proxies = self.proxies
        if proxies is None:
            proxies = getattr(scope.get("app"), "trusted_proxies", None)
            if proxies is None:
                return peer
        if not proxies.trusts(scope):
            return peer
        hops: list[str] = []
        for value in header_values(scope.get("headers", ()), b"x-forwarded-for"):
            hops += [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
        client_ip = peer
        for hop in reversed(hops):
            if not _is_ip(hop):
                break  # garbage: keep the last address a trusted proxy vouched for
            client_ip = hop
            if not proxies.trusts({"client": (hop, 0)}):
                break
        return client_ip


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


by_ip = ClientIP()
"""Key function: the client's IP address (the app's ``trusted_proxies`` setting says whose
``X-Forwarded-For`` is believed; see :class:`ClientIP`)."""


class ByUser:
    """Key function: the authenticated user, or the client IP for anonymous requests.

    keel has no authentication of its own yet, so the user is found by ``get_user(request)``
    when given, else at ``request.state.user``, else at ``scope["user"]`` (where
    authentication middleware put it). A user is identified by its ``id``, ``pk`` or
    ``username`` attribute, or ``str(user)``.

    Args:
        get_user: Returns the request's user or ``None`` (sync or async).
        fallback: Key for requests without a user (default: :data:`by_ip`).
    """

    __slots__ = ("fallback", "get_user")

    def __init__(
        self,
        get_user: Callable[[Request], Any] | None = None,
        fallback: KeyFunc = by_ip,
    ) -> None:
        self.get_user = get_user
        self.fallback = fallback

    async def __call__(self, request: Request) -> str:
        """``"user:<id>"``, or ``"ip:<address>"``-style fallback for anonymous requests."""
        if self.get_user is not None:
            user = self.get_user(request)
            if asyncio.iscoroutine(user):
                user = await user
        else:
            user = getattr(request.state, "user", None)
            if user is None:
                user = request.scope.get("user")
        if user is None or getattr(user, "is_authenticated", True) is False:
            key = self.fallback(request)
            return await key if not isinstance(key, str) else key
        for attr in ("id", "pk", "username"):
            ident = getattr(user, attr, None)
            if ident is not None:
                return f"user:{ident}"
        return f"user:{user}"


by_user = ByUser()
"""Key function: the user at ``request.state.user``/``scope["user"]``, else the client IP."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one hit: allowed or not, and the numbers for the headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees a slot (RateLimit-Reset)
    unavailable: bool = False  # the storage could not be reached: nothing was counted

    def headers(self) -> dict[str, str]:
        """``RateLimit-*`` headers, plus ``Retry-After`` when refused (only ``Retry-After``
        when the storage could not be reached)."""
        if self.unavailable:
            return {} if self.allowed else {"Retry-After": str(self.reset_after)}
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.reset_after)
        return out


class RateLimit(Depends):
    """A rate limit for routes: a decorator, a dependency marker, and the middleware's engine.

    Use it in any of these ways (they are equivalent)::

        @app.get("/search")
        @rate_limit("10/minute")
        async def search(q: str) -> list[str]: ...

        @app.get("/search", dependencies=[rate_limit("10/minute")])  # or Depends(rate_limit(...))
        async def search(q: str) -> list[str]: ...

        async def search(q: str, _: Annotated[None, rate_limit("10/minute")]) -> list[str]: ...

    Args:
        limit: A ``limits`` string, ``"10/minute"``, ``"5 per second"``, ``"100/hour;1000/day"``
            (every part must hold). Parsed here, once.
        key: What the budget belongs to (default :data:`by_ip`); ``by_user`` or any function
            of the request returning a string.
        storage: A ``limits`` storage URI: ``"memory://"`` (per process) or
            ``"redis://host:6379/0"`` (shared by every instance using it; needs
            ``keel[redis]``). By default the app's ``redis_url`` setting when it is set,
            else ``"memory://"``. Connected on first use.
        strategy: ``"moving-window"`` (exact) or ``"sliding-window-counter"`` (cheaper).
        group: The budget's name. By default each route has its own budget (its method and
            path template); routes whose limiters have one ``group`` share one budget.
        trusted_proxies: With the default key: proxies whose ``X-Forwarded-For`` is believed
            (default: the app's ``trusted_proxies`` setting).
        key_prefix: Prefix of the storage keys (Redis), to keep apps sharing a server apart.
        fail_open: When the storage cannot be reached: ``False`` (default) answers 503 with
            ``Retry-After``; ``True`` lets the request through uncounted. Both log a warning
            (``keel.ratelimit`` logger, at most one every 10 s per limiter).
        storage_timeout: Seconds to connect to and wait for Redis before the storage counts
            as unreachable (``socket_timeout=`` in the URI overrides it).

    Raises:
        ValueError: The limit string is malformed or the strategy unknown.
    """

    def __init__(
        self,
        limit: str,
        *,
        key: KeyFunc | None = None,
        storage: str | None = None,
        strategy: Strategy = "moving-window",
        group: str | None = None,
        trusted_proxies: Iterable[str] | None = None,
        key_prefix: str = "keel-ratelimit",
        fail_open: bool = False,
        storage_timeout: float = 1.0,
    ) -> None:
        from limits import parse_many

        if strategy not in _STRATEGIES:
            raise ValueError(f"strategy must be one of {sorted(_STRATEGIES)}, got {strategy!r}")
        try:
            self.items: list[RateLimitItem] = list(parse_many(limit))
        except ValueError as exc:
            raise ValueError(f"rate limit {limit!r} is not valid: {exc}") from None
        if not self.items:
            raise ValueError(f"rate limit {limit!r} is empty")
        self.limit = limit
        self.key = key if key is not None else ClientIP(trusted_proxies)
        self.storage_uri: str | None = storage
        self.strategy: Strategy = strategy
        self.group = group
        self.key_prefix = key_prefix
        self.fail_open = fail_open
        self.storage_timeout = storage_timeout
        self._warned_at = -math.inf
        self._failures = 0
        # Without a storage the app's settings decide at first use (redis_url, else memory).
        self._scheme: str | None = _async_scheme(storage) if storage is not None else None
        # One storage and limiter per event loop: Redis connections belong to their loop.
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RateLimiter] = (
            weakref.WeakKeyDictionary()
        )
        super().__init__(self._dependency())

    def __repr__(self) -> str:
        return f"RateLimit({self.limit!r}, storage={self.storage_uri!r})"

    @property
    def openapi_responses(self) -> dict[int, dict[str, Any]]:
        """The 429 answer, documented on every route using this limiter."""
        header = {"schema": {"type": "integer", "minimum": 0}}
        return {
            429: {
                "description": f"Too Many Requests: over the rate limit ({self.limit}).",
                "headers": {
                    "Retry-After": {"description": "Seconds to wait before retrying.", **header},
                    "RateLimit-Limit": {"description": "Requests allowed per window.", **header},
                    "RateLimit-Remaining": {"description": "Requests left.", **header},
                    "RateLimit-Reset": {"description": "Seconds until a slot frees.", **header},
                },
            }
        }

    def _resolve_storage(self, request: Request) -> None:
        """No storage given: the app's ``redis_url`` setting when set, else process memory."""
        settings = getattr(request.scope.get("app"), "settings", None)
        url = getattr(settings, "redis_url", None)
        self.storage_uri = url if url else "memory://"
        self._scheme = _async_scheme(self.storage_uri)

    def _limiter(self) -> RateLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = self._build()
        return limiter

    def _build(self) -> RateLimiter:
        from limits.aio import strategies
        from limits.storage import storage_from_string

        options: dict[str, Any] = {"wrap_exceptions": True}
        scheme = self._scheme or "async+memory://"
        if scheme.startswith("async+redis"):
            try:
                import redis  # noqa: F401
            except ImportError:
                raise RuntimeError(
                    f"rate limit storage {self.storage_uri!r} needs the redis package: "
                    "pip install 'keel[redis]'"
                ) from None
            options.update(
                implementation="redispy",
                key_prefix=self.key_prefix,
                socket_connect_timeout=self.storage_timeout,
                socket_timeout=self.storage_timeout,
            )
        storage = storage_from_string(scheme, **options)
        limiter: RateLimiter = getattr(strategies, _STRATEGIES[self.strategy])(storage)
        return limiter

    async def aclose(self) -> None:
        """Close the storage connections of the running event loop (Redis)."""
        limiter = self._limiters.pop(asyncio.get_running_loop(), None)
        bridge = getattr(getattr(limiter, "storage", None), "bridge", None)
        client = getattr(bridge, "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()

    async def hit(self, request: Request, namespace: str) -> Decision:
        """Count one request in ``namespace``; the decision with the numbers for headers.

        An unreachable storage gives an ``unavailable`` decision (allowed with
        ``fail_open``), and a warning in the log.
        """
        from limits.errors import StorageError

        ident = self.key(request)
        if not isinstance(ident, str):
            ident = await ident
        if self._scheme is None:
            self._resolve_storage(request)
        try:
            return await self._count(self.group or namespace, ident)
        except (StorageError, OSError) as exc:  # OSError includes TimeoutError
            self._warn(exc)
            return Decision(
                self.fail_open, self.items[0].amount, 0, UNAVAILABLE_RETRY_AFTER, unavailable=True
            )

    def _warn(self, exc: BaseException) -> None:
        self._failures += 1
        now = time.monotonic()
        if now - self._warned_at < _WARN_EVERY:
            return
        cause = getattr(exc, "storage_error", None) or exc
        logger.warning(
            "rate limit storage %s unreachable (%s: %s); %s (%d request(s) since the last warning)",
            _redacted(self.storage_uri or "memory://"),
            type(cause).__name__,
            str(cause)[:200],
            "letting requests through uncounted (fail_open)" if self.fail_open else "answering 503",
            self._failures,
        )
        self._warned_at = now
        self._failures = 0

    async def _count(self, namespace: str, ident: str) -> Decision:
        limiter = self._limiter()
        keys = (self.key_prefix, namespace, ident)
        best: Decision | None = None
        for item in self.items:
            allowed = await limiter.hit(item, *keys)
            stats = await limiter.get_window_stats(item, *keys)
            reset_after = max(0, math.ceil(stats.reset_time - time.time()))
            if not allowed:
                return Decision(False, item.amount, 0, max(1, reset_after))
            decision = Decision(True, item.amount, max(0, stats.remaining), reset_after)
            if best is None or decision.remaining < best.remaining:
                best = decision
        assert best is not None
        return best

    def __call__(self, endpoint: _F) -> _F:
        """Decorate a route handler: the limit applies to it (stack it on either side)."""
        add_route_dependency(endpoint, self)
        return endpoint

    def _dependency(self) -> Callable[[Request, Response], Awaitable[None]]:
        async def rate_limited(request: Request, response: Response) -> None:
            """Count the request, set ``RateLimit-*`` or raise a 429."""
            await self.check(request, response)

        # documented on every route using this limiter (the OpenAPI generator reads it)
        setattr(rate_limited, "openapi_responses", self.openapi_responses)  # noqa: B010
        return rate_limited

    async def check(self, request: Request, response: Response) -> None:
        """Count ``request`` against its route's budget; headers on ``response``, or a 429."""
        from keel.errors import HTTPError

        route = request.scope.get("route")
        namespace = str(getattr(route, "path", None) or request.url.path)
        decision = await self.hit(request, f"{request.method} {namespace}")
        if not decision.allowed:
            status = 503 if decision.unavailable else 429
            raise HTTPError(status, too_many(decision), headers=decision.headers())
        for name, value in decision.headers().items():
            response.headers[name] = value


def too_many(decision: Decision) -> str:
    """The problem detail of a refusal."""
    if decision.unavailable:
        return (
            "The rate limit cannot be checked right now (its storage is unreachable); "
            f"retry in {decision.reset_after} s."
        )
    return (
        f"Too many requests: the limit is {decision.limit} per window; "
        f"retry in {decision.reset_after} s."
    )


def _redacted(uri: str) -> str:
    """``uri`` without a password (``redis://:secret@host`` -> ``redis://***@host``)."""
    scheme, sep, rest = uri.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}{sep}***@{host}" if at and userinfo else uri


def _async_scheme(uri: str) -> str:
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise ValueError(f"rate limit storage {uri!r} is not a URI like 'memory://'")
    if scheme.startswith("async+"):
        return uri
    if scheme not in ("memory", "redis", "rediss", "redis+unix"):
        raise ValueError(
            f"rate limit storage {uri!r}: use 'memory://' or 'redis://host:port/db' "
            "(or any async+ scheme of the limits library)"
        )
    return f"async+{scheme}://{rest}"


def rate_limit(
    limit: str,
    *,
    key: KeyFunc | None = None,
    storage: str | None = None,
    strategy: Strategy = "moving-window",
    group: str | None = None,
    trusted_proxies: Iterable[str] | None = None,
    key_prefix: str = "keel-ratelimit",
    fail_open: bool = False,
    storage_timeout: float = 1.0,
) -> RateLimit:
    """A :class:`RateLimit`: ``@rate_limit("10/minute")`` or ``dependencies=[rate_limit(...)]``."""
    return RateLimit(
        limit,
        key=key,
        storage=storage,
        strategy=strategy,
        group=group,
        trusted_proxies=trusted_proxies,
        key_prefix=key_prefix,
        fail_open=fail_open,
        storage_timeout=storage_timeout,
    )
