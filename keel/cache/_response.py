"""The route-level response cache: ``@app.get("/", cache=60)`` or ``cache=ResponseCache(...)``.

A cached route's answers are kept in a :class:`~keel.cache.Cache` and served without running
the handler. What is never shared between clients:

* answers to requests that carry ``Authorization`` or a live (non-empty) session: the
  handler runs and the answer is marked ``Cache-Control: private``;
* answers that read the session or the cookies of a request that has cookies, changed the
  session, set cookies, had a user attached (``scope["user"]``), or say ``Vary: Cookie`` or
  ``Vary: Authorization`` (the same);
* answers other than ``200`` to ``GET``, answers marked ``private``, ``no-store`` or
  ``no-cache``, ``Vary: *``, streamed answers (no ``Content-Length``) and answers over
  ``max_size``: these pass through untouched.

Shared answers carry a weak ``ETag`` and ``Cache-Control: max-age`` (unless the handler set
its own), and ``If-None-Match`` is answered ``304 Not Modified``.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel._http import etag_matches
from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.cache._backend import MISSING, Cache
from keel.requests import Request

if TYPE_CHECKING:
    from keel.routing import Route

__all__ = ["ResponseCache", "app_cache", "get_cache"]

_CONTROL_ONLY = frozenset({b"content-length", b"content-type", b"content-encoding"})
_PERSONAL_VARY = frozenset({"cookie", "authorization", "*"})


def app_cache(app: Any) -> Cache:
    """The :class:`Cache` an app's route caches use: built once from its settings."""
    extensions = getattr(app, "extensions", None)
    found = extensions.get("keel.cache") if isinstance(extensions, dict) else None
    if found is None:
        settings = getattr(app, "settings", None)
        found = Cache.from_settings(settings) if settings is not None else Cache()
        if isinstance(extensions, dict):
            extensions["keel.cache"] = found
            handlers = getattr(app, "shutdown_handlers", None)
            if isinstance(handlers, list):
                handlers.append(found.aclose)  # Redis connections close with the app
    assert isinstance(found, Cache)
    return found


def get_cache(request: Request) -> Cache:
    """Dependency: the cache of the app serving ``request`` (from its settings).

    ``store: Annotated[Cache, Depends(get_cache)]``.
    """
    return app_cache(request.scope.get("app"))


class ResponseCache:
    """Cache a route's responses: ``@app.get("/news", cache=ResponseCache(60, vary=...))``.

    ``cache=60`` on a route is ``cache=ResponseCache(60)``.

    Args:
        ttl: Seconds an answer is kept (and the ``max-age`` sent with it).
        vary: Request headers the answer depends on (``"Accept-Language"``): one entry is
            kept per combination of their values. The handler's own ``Vary`` header is
            honoured too.
        cache: Where entries are kept (default: the app's cache, from its settings).
        max_size: Largest body kept, in bytes (larger answers pass through).
        lock_timeout: Concurrent misses of one URL run the handler once; the others wait
            at most this many seconds for its answer (cache stampede protection).
    """

    def __init__(
        self,
        ttl: float,
        *,
        vary: str | Sequence[str] = (),
        cache: Cache | None = None,
        max_size: int = 1024 * 1024,
        lock_timeout: float = 10.0,
    ) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ValueError(f"ResponseCache ttl must be a positive number of seconds: {ttl!r}")
        given = [vary] if isinstance(vary, str) else list(vary)
        names = tuple(sorted({name.strip().lower() for name in given}))
        if any(not name or name in _PERSONAL_VARY for name in names):
            raise ValueError(
                "ResponseCache vary takes header names other than Cookie and Authorization "
                f"(answers that depend on those are never shared): {given!r}"
            )
        if max_size < 0:
            raise ValueError("ResponseCache max_size must be >= 0")
        self.ttl = ttl
        self.vary = names
        self.cache = cache
        self.max_size = max_size
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"ResponseCache({self.ttl!r}, vary={list(self.vary)!r})"

    def wrap(self, endpoint: ASGIApp, route: Route, app: Any) -> ASGIApp:
        """The cached endpoint of ``route`` (called once when the app compiles)."""
        import cashews  # noqa: F401  (imported at startup, not by the first request)

        return _CachedRoute(self, endpoint, route, app)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One stored answer."""

    headers: list[tuple[bytes, bytes]]  # without Cache-Control when keel writes it
    body: bytes
    etag: str
    stored_at: float  # time.time()
    default_control: bool  # keel wrote Cache-Control (max-age counts down on hits)
    anonymous: bool  # made for a request without cookies by a handler that looked for them


_NOT_FOR_YOU = object()


@dataclass(frozen=True, slots=True)
class _Variants:
    """Stored at a URL's key when its answers vary: the request headers they vary by."""

    names: tuple[str, ...]


class _Incoming:
    """What the cache needs from a request's headers, read in one pass."""

    __slots__ = ("authorization", "cookie", "if_none_match", "host", "headers")

    def __init__(self, scope: Scope) -> None:
        self.authorization = self.cookie = False
        self.if_none_match: str | None = None
        self.host = b""
        self.headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        tags: list[bytes] = []
        for key, value in self.headers:
            if key == b"authorization":
                self.authorization = True
            elif key == b"cookie":
                self.cookie = self.cookie or bool(value.strip())
            elif key == b"if-none-match":
                tags.append(value)
            elif key == b"host":
                self.host = value
        if tags:
            self.if_none_match = b", ".join(tags).decode("latin-1")

    def values(self, names: tuple[str, ...]) -> bytes:
        """The values of the ``names`` headers, as one key part."""
        wanted = {name.encode("latin-1"): i for i, name in enumerate(names)}
        found: list[list[bytes]] = [[] for _ in names]
        for key, value in self.headers:
            i = wanted.get(key)
            if i is not None:
                found[i].append(value.strip())
        return b"\n".join(b",".join(values) for values in found)


class _CachedRoute:
    """The ASGI callable of a route with ``cache=``: answers from the cache or the handler."""

    __slots__ = ("policy", "endpoint", "route", "app", "reads_cookies", "_cache")

    def __init__(self, policy: ResponseCache, endpoint: ASGIApp, route: Route, app: Any) -> None:
        self.policy = policy
        self.endpoint = endpoint
        self.route = route
        self.app = app
        plan = getattr(endpoint, "plan", None)
        fields = getattr(plan, "fields", ())
        # Cookie parameters read cookies on every request (what request.cookies marks).
        self.reads_cookies = any(getattr(f, "location", None) == "cookie" for f in fields)
        self._cache: Cache | None = policy.cache

    @property
    def cache(self) -> Cache:
        found = self._cache
        if found is None:
            found = self._cache = app_cache(self.app)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            await self.endpoint(scope, receive, send)
            return
        incoming = _Incoming(scope)
        # A live session may be read unseen (keel.auth loads its user from session.data,
        # which does not mark it accessed): its answers are that visitor's alone.
        if (
            incoming.authorization
            or (incoming.cookie and self.reads_cookies)
            or getattr(scope.get("session"), "data", None)
        ):
            head = method == "HEAD"
            await self.endpoint(scope, receive, _Private(send, incoming, self.policy, head).send)
            return
        key = self._key(scope, incoming)
        entry = await self._lookup(key, incoming)
        if isinstance(entry, _Entry):
            await self._send_entry(entry, scope, send, incoming)
            return
        if method == "HEAD":  # no body to keep: answer from the handler
            await self.endpoint(scope, receive, send)
            return
        keeper = _Keeper(self, scope, send, incoming, key)
        if entry is _NOT_FOR_YOU:  # the anonymous answer is kept: this visitor has cookies
            await self.endpoint(scope, receive, keeper.send)
            await keeper.flush()
            return
        async with self.cache.lock(key, self.policy.lock_timeout) as owner:
            if not owner:  # another request made it meanwhile
                entry = await self._lookup(key, incoming)
                if isinstance(entry, _Entry):
                    await self._send_entry(entry, scope, send, incoming)
                    return
            await self.endpoint(scope, receive, keeper.send)
            await keeper.flush()

    def _key(self, scope: Scope, incoming: _Incoming) -> str:
        """The key of a request's URL (scheme, host, root path, query and path).

        Only the decoded path can hold a newline (``%0A``), and it comes last: the parts
        joined by newlines cannot be mistaken for another URL's.
        """
        data = b"\n".join(
            (
                scope.get("scheme", "http").encode("latin-1"),
                incoming.host,
                scope.get("root_path", "").encode("utf-8", "surrogatepass"),
                scope.get("query_string", b""),
                scope["path"].encode("utf-8", "surrogatepass"),
            )
        )
        return "response:" + hashlib.blake2b(data, digest_size=20).hexdigest()

    async def _lookup(self, key: str, incoming: _Incoming) -> _Entry | object | None:
        """The entry for the request, :data:`_NOT_FOR_YOU` or ``None`` (a miss)."""
        found = await self.cache.get(key, MISSING)
        if isinstance(found, _Variants):
            found = await self.cache.get(_variant_key(key, found.names, incoming), MISSING)
        if not isinstance(found, _Entry):
            return None
        if incoming.cookie and found.anonymous:
            return _NOT_FOR_YOU  # made for visitors without cookies, and it read them
        return found

    async def _send_entry(
        self, entry: _Entry, scope: Scope, send: Send, incoming: _Incoming
    ) -> None:
        headers = list(entry.headers)  # a copy: middleware further out adds to it
        if entry.default_control:
            left = max(0, math.ceil(entry.stored_at + self.policy.ttl - time.time()))
            headers.append((b"cache-control", b"max-age=%d" % left))
        inm = incoming.if_none_match
        if inm is not None and (inm == entry.etag or etag_matches(inm, entry.etag)):
            await _send_not_modified(send, headers)
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else entry.body
        await send({"type": "http.response.body", "body": body})

    async def store(
        self, key: str, incoming: _Incoming, entry: _Entry, vary: tuple[str, ...]
    ) -> None:
        """Keep ``entry`` under ``key`` (or its variant for the request's ``vary`` values)."""
        cache, ttl = self.cache, self.policy.ttl
        if not vary:
            await cache.set(key, entry, ttl)
            return
        await cache.set(key, _Variants(vary), ttl)
        await cache.set(_variant_key(key, vary, incoming), entry, ttl)


def _variant_key(key: str, names: tuple[str, ...], incoming: _Incoming) -> str:
    digest = hashlib.blake2b(incoming.values(names), digest_size=20).hexdigest()
    return f"{key}:{digest}"


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    values = [value for key, value in headers if key.lower() == name]
    return b", ".join(values) if values else None


def _replace(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    headers[:] = [(k, v) for k, v in headers if k.lower() != name]
    headers.append((name, value))


def _tokens(value: bytes | None) -> list[str]:
    if not value:
        return []
    return [t.strip().lower() for t in value.decode("latin-1").split(",") if t.strip()]


def _etag(body: bytes) -> str:
    return 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _make_private(headers: list[tuple[bytes, bytes]]) -> None:
    """Mark an answer ``Cache-Control: private`` (shared caches must not keep it)."""
    directives = _tokens(_header(headers, b"cache-control"))
    if "private" in directives or "no-store" in directives:
        return
    kept = [d for d in directives if d != "public" and not d.startswith("s-maxage")]
    _replace(headers, b"cache-control", ", ".join(["private", *kept]).encode("latin-1"))


async def _send_not_modified(send: Send, headers: list[tuple[bytes, bytes]]) -> None:
    kept = [(k, v) for k, v in headers if k.lower() not in _CONTROL_ONLY]
    await send({"type": "http.response.start", "status": 304, "headers": kept})
    await send({"type": "http.response.body", "body": b""})


class _Private:
    """``send`` for an answer that is never shared: ``private``, ETag and 304 for its client."""

    __slots__ = ("downstream", "incoming", "policy", "start", "chunks", "head", "passing")

    def __init__(self, send: Send, incoming: _Incoming, policy: ResponseCache, head: bool) -> None:
        self.downstream = send
        self.incoming = incoming
        self.policy = policy
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.head = head  # no body to compute a tag from
        self.passing = False

    async def send(self, message: Message) -> None:
        if self.passing:
            await self.downstream(message)
            return
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            _make_private(headers)
            message = {**message, "headers": headers}
            if self.head or not _bufferable(message, self.policy.max_size):
                self.passing = True  # no body to tag, or one too large to hold back
                await self.downstream(message)
                return
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.downstream(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        start, body = self.start, b"".join(self.chunks)
        self.passing = True
        held: list[tuple[bytes, bytes]] = start["headers"]
        etag = _header(held, b"etag")
        tag = etag.decode("latin-1") if etag else _etag(body)
        if etag is None:
            held.append((b"etag", tag.encode("latin-1")))
        inm = self.incoming.if_none_match
        if inm is not None and (inm == tag or etag_matches(inm, tag)):
            await _send_not_modified(self.downstream, held)
            return
        await self.downstream(start)
        await self.downstream({"type": "http.response.body", "body": body})


def _bufferable(start: Message, max_size: int) -> bool:
    """A 200 whose ``Content-Length`` says it fits (streams have none)."""
    if start.get("status") != 200:
        return False
    length = _header(list(start.get("headers", ())), b"content-length")
    if length is None or not length.isdigit():
        return False
    return int(length) <= max_size


class _Keeper:
    """``send`` for a miss: holds a fitting 200 back, decides whether it may be shared,
    stores it, then answers (200 or 304)."""

    __slots__ = ("route", "scope", "downstream", "incoming", "key", "start", "chunks", "passing")

    def __init__(
        self, route: _CachedRoute, scope: Scope, send: Send, incoming: _Incoming, key: str
    ) -> None:
        self.route = route
        self.scope = scope
        self.downstream = send
        self.incoming = incoming
        self.key = key
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.passing = False

    async def send(self, message: Message) -> None:
        if self.passing:
            await self.downstream(message)
            return
        kind = message["type"]
        if kind == "http.response.start":
            if not _bufferable(message, self.route.policy.max_size):
                self.passing = True
                await self.downstream(message)
                return
            self.start = message
            return
        if kind != "http.response.body" or self.start is None:
            await self.downstream(message)
            return
        self.chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            await self.flush()

    async def flush(self) -> None:
        """Answer what was held back (once the whole body arrived, or the handler ended)."""
        start = self.start
        if start is None or self.passing:
            return
        self.passing = True
        headers = list(start.get("headers", ()))
        body = b"".join(self.chunks)
        verdict = self._verdict(headers)
        if verdict == "pass":
            await self.downstream(start)
            await self.downstream({"type": "http.response.body", "body": body})
            return
        etag = _header(headers, b"etag")
        tag = etag.decode("latin-1") if etag else _etag(body)
        if etag is None:
            headers.append((b"etag", tag.encode("latin-1")))
        if verdict == "private":
            _make_private(headers)
        else:
            policy = self.route.policy
            named = _tokens(_header(headers, b"vary"))
            missing = [name for name in policy.vary if name not in named]
            if missing:  # downstream caches must know what the answer varies by, too
                _replace(headers, b"vary", ", ".join([*named, *missing]).encode("latin-1"))
            vary = tuple(sorted({*policy.vary, *named}))
            anonymous = not self.incoming.cookie and self._looked_for_cookies()
            default_control = _header(headers, b"cache-control") is None
            # kept without keel's Cache-Control: a hit appends the seconds left
            entry = _Entry(list(headers), body, tag, time.time(), default_control, anonymous)
            if default_control:
                headers.append((b"cache-control", b"max-age=%d" % int(policy.ttl)))
            await self.route.store(self.key, self.incoming, entry, vary)
        inm = self.incoming.if_none_match
        if inm is not None and (inm == tag or etag_matches(inm, tag)):
            await _send_not_modified(self.downstream, headers)
            return
        await self.downstream({**start, "headers": headers})
        await self.downstream({"type": "http.response.body", "body": body})

    def _verdict(self, headers: list[tuple[bytes, bytes]]) -> str:
        """``"share"``, ``"private"`` (depends on who asks) or ``"pass"`` (not cacheable)."""
        directives = _tokens(_header(headers, b"cache-control"))
        if {"private", "no-store", "no-cache"} & set(directives):
            return "pass"
        vary = set(_tokens(_header(headers, b"vary")))
        if "*" in vary:
            return "pass"
        if vary & _PERSONAL_VARY or any(k.lower() == b"set-cookie" for k, _ in headers):
            return "private"
        if getattr(self.scope.get("session"), "modified", False):
            return "private"  # its Set-Cookie is added further out
        if self.scope.get("user"):
            return "private"  # authentication attached a user to the request
        if self.incoming.cookie and self._looked_for_cookies():
            return "private"
        return "share"

    def _looked_for_cookies(self) -> bool:
        """Whether the handler read the session or the cookies (present or not)."""
        scope = self.scope
        return bool(
            getattr(scope.get("session"), "accessed", False)
            or scope.get("keel.cookies_read")
            or self.route.reads_cookies
        )
