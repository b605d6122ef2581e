"""keel.cache: a cache in process memory or Redis (cashews), for values, functions and routes.

* :data:`cache` (or your own :class:`Cache`): ``await cache.get/set/delete``;
* :func:`cached`: ``@cached(ttl=60)`` on an async function;
* ``@app.get("/", cache=60)`` or ``cache=ResponseCache(60, vary=...)``: whole responses.

The backend is chosen by settings alone: ``KEEL_CACHE_URL`` (``mem://`` or
``redis://host:6379/0``), else ``KEEL_REDIS_URL``, else process memory. When Redis cannot be
reached every read is a miss and a warning is logged: a request never fails because of
the cache.
"""

from __future__ import annotations

from keel.cache._backend import MISSING, Cache, cache_url
from keel.cache._decorator import CachedFunction, cached
from keel.cache._response import ResponseCache, app_cache, get_cache

__all__ = [
    "MISSING",
    "Cache",
    "CachedFunction",
    "ResponseCache",
    "app_cache",
    "cache",
    "cache_url",
    "cached",
    "get_cache",
]

cache = Cache()
"""The process-wide cache, configured from the environment's settings when first used."""
