"""Brute-force protection for logins: failed attempts counted per account and per IP.

Only failures count (a user who logs in fine is never slowed down). Once an account or an
IP has used its budget, the login endpoint answers ``429`` with ``Retry-After`` without
checking the password, until the window frees a slot. The counting is the ``limits``
library's (memory, or Redis shared by several instances), as for ``keel.ratelimit``.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from typing import TYPE_CHECKING, Any

from keel.errors import HTTPError
from keel.ratelimit import _async_scheme

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.strategies import RateLimiter

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Counts failed logins; :meth:`check` refuses with 429 once a budget is spent.

    Args:
        account_limit: Failures allowed per account, e.g. ``"20 per 15 minutes"``.
        ip_limit: Failures allowed per client IP.
        storage: ``"memory://"`` or ``"redis://host:6379/0"``.
        key_prefix: Prefix of the storage keys.
    """

    def __init__(
        self,
        account_limit: str,
        ip_limit: str,
        storage: str = "memory://",
        key_prefix: str = "keel-auth-login",
    ) -> None:
        from limits import parse

        self.account: RateLimitItem = parse(account_limit)
        self.ip: RateLimitItem = parse(ip_limit)
        self.storage_uri = storage
        self._scheme = _async_scheme(storage)
        self.key_prefix = key_prefix
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RateLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def _limiter(self) -> RateLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            from limits.aio.strategies import MovingWindowRateLimiter
            from limits.storage import storage_from_string

            options: dict[str, Any] = {}
            if self._scheme.startswith("async+redis"):
                options = {"implementation": "redispy", "key_prefix": self.key_prefix}
            limiter = MovingWindowRateLimiter(storage_from_string(self._scheme, **options))
            self._limiters[loop] = limiter
        return limiter

    async def aclose(self) -> None:
        """Close the storage connections of the running event loop (Redis)."""
        limiter = self._limiters.pop(asyncio.get_running_loop(), None)
        bridge = getattr(getattr(limiter, "storage", None), "bridge", None)
        close = getattr(getattr(bridge, "storage", None), "aclose", None)
        if close is not None:
            await close()

    def _keys(self, account: str, ip: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        return [
            (self.account, (self.key_prefix, "account", account.strip().lower()[:254])),
            (self.ip, (self.key_prefix, "ip", ip)),
        ]

    async def check(self, account: str, ip: str) -> None:
        """Raise a 429 problem (with ``Retry-After``) when the account or IP is locked out."""
        limiter = self._limiter()
        for item, keys in self._keys(account, ip):
            if not await limiter.test(item, *keys):
                stats = await limiter.get_window_stats(item, *keys)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                raise HTTPError(
                    429,
                    f"Too many failed logins: try again in {wait} s.",
                    headers={"Retry-After": str(wait)},
                )

    async def failed(self, account: str, ip: str) -> None:
        """Count one failed login for the account and the IP."""
        limiter = self._limiter()
        for item, keys in self._keys(account, ip):
            await limiter.hit(item, *keys)

    async def reset(self, account: str) -> None:
        """Forget an account's failures (after a password reset, say)."""
        await self._limiter().clear(
            self.account, self.key_prefix, "account", account.strip().lower()[:254]
        )
