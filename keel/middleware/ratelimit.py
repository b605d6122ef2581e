"""App-wide rate limiting: one budget per client for every HTTP request the app answers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.middleware._common import message_headers, send_problem

if TYPE_CHECKING:
    from keel.ratelimit import KeyFunc, Strategy

__all__ = ["RateLimitMiddleware"]


class RateLimitMiddleware:
    """Answer 429 (problem details) to clients over ``limit``; see :mod:`keel.ratelimit`.

    Args:
        app: The ASGI app.
        limit: A ``limits`` string such as ``"100/minute"`` or ``"10/second;1000/hour"``.
        key: What a budget belongs to (default: the client IP, see ``trusted_proxies``).
        storage: ``"memory://"`` or ``"redis://host:6379/0"`` for several instances; by
            default the app's ``redis_url`` setting when set, else memory.
        strategy: ``"moving-window"`` or ``"sliding-window-counter"``.
        trusted_proxies: Proxies whose ``X-Forwarded-For`` is believed (default key only).
        exempt: Path prefixes that are not counted (e.g. ``["/health"]``).
        key_prefix: Prefix of the storage keys.
        fail_open: When the storage cannot be reached: ``False`` answers 503 with
            ``Retry-After``; ``True`` lets requests through uncounted (both log a warning).
        storage_timeout: Seconds to wait for Redis before it counts as unreachable.

    Every HTTP response gets ``RateLimit-Limit``, ``RateLimit-Remaining`` and
    ``RateLimit-Reset``; a refusal adds ``Retry-After``. Websockets and lifespan pass through.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: str,
        *,
        key: KeyFunc | None = None,
        storage: str | None = None,
        strategy: Strategy = "moving-window",
        trusted_proxies: Iterable[str] | None = None,
        exempt: Iterable[str] = (),
        key_prefix: str = "keel-ratelimit",
        fail_open: bool = False,
        storage_timeout: float = 1.0,
    ) -> None:
        from keel.ratelimit import RateLimit

        self.app = app
        self.limiter = RateLimit(
            limit,
            key=key,
            storage=storage,
            strategy=strategy,
            group="app",
            trusted_proxies=trusted_proxies,
            key_prefix=key_prefix,
            fail_open=fail_open,
            storage_timeout=storage_timeout,
        )
        self.exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request; answer 429 or call the app with ``RateLimit-*`` headers added."""
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or (self.exempt and path.startswith(self.exempt)):
            await self.app(scope, receive, send)
            return
        from keel.ratelimit import too_many
        from keel.requests import Request

        decision = await self.limiter.hit(Request(scope, receive), "app")
        headers = decision.headers()
        if not decision.allowed:
            status = 503 if decision.unavailable else 429
            await send_problem(scope, receive, send, status, too_many(decision), headers=headers)
            return
        encoded = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                current = message_headers(message)
                names = {k.lower() for k, _ in current}
                current += [(k, v) for k, v in encoded if k not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)
