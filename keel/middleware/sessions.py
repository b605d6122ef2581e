"""Session middleware: ``request.session`` from a signed cookie or a server-side store."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Literal

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.middleware._common import TrustedProxies, add_vary, message_headers, send_problem
from keel.requests import parse_cookies
from keel.sessions import (
    MemoryStore,
    RedisStore,
    Session,
    SessionStore,
    SessionStoreUnavailable,
    encode,
)

if TYPE_CHECKING:
    from keel.settings import Settings

__all__ = ["MAX_COOKIE_SIZE", "UNAVAILABLE", "SessionMiddleware"]

logger = logging.getLogger("keel.sessions")

MAX_COOKIE_SIZE = 4093
"""Most bytes of ``name=value`` in one cookie that every browser keeps."""

_DATA_SALT = "keel.session"
_ID_SALT = "keel.session.id"
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
UNAVAILABLE = "The session store is unavailable; try again in a moment."


class SessionMiddleware:
    """Give every request a :class:`~keel.sessions.Session` as ``request.session``.

    Args:
        app: The ASGI app.
        secret_key: Signs the cookie (keep it secret; rotate with ``fallback_keys``).
        fallback_keys: Former keys still accepted; a cookie signed with one is signed again
            with ``secret_key`` on that response.
        store: ``"cookie"`` (the data in the signed cookie, the default), ``"memory"``
            (this process only), ``"redis"`` (needs ``redis_url``) or a
            :class:`~keel.sessions.SessionStore`.
        redis_url: The Redis of ``store="redis"``.
        redis_key_prefix: Prefix of the session keys in Redis.
        cookie_name: The cookie's name.
        max_age: Seconds a session lives after it was last saved (the cookie's ``Max-Age``,
            the signature's age limit and the server-side expiry).
        secure: The cookie's ``Secure`` flag; ``None`` sets it when the request is HTTPS
            (``X-Forwarded-Proto`` counts only from ``trusted_proxies``).
        same_site: ``"lax"``, ``"strict"`` or ``"none"`` (which needs ``secure`` not False).
        domain: The cookie's ``Domain`` (``None``: this host only).
        path: The cookie's ``Path``.
        trusted_proxies: Proxies whose ``X-Forwarded-Proto`` is believed.

    The cookie is always ``HttpOnly``. A session that becomes empty deletes its cookie.
    When a server-side store cannot be reached the request is answered
    ``503 Service Unavailable`` (a problem detail), never with an empty session.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_key: str,
        fallback_keys: Sequence[str] = (),
        store: Literal["cookie", "memory", "redis"] | SessionStore = "cookie",
        redis_url: str | None = None,
        redis_key_prefix: str = "keel:session:",
        cookie_name: str = "session",
        max_age: int = 14 * 24 * 3600,
        secure: bool | None = None,
        same_site: Literal["lax", "strict", "none"] = "lax",
        domain: str | None = None,
        path: str = "/",
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        if not isinstance(secret_key, str) or not secret_key:
            raise ValueError("SessionMiddleware needs a secret_key (a long random string)")
        if isinstance(fallback_keys, str):
            fallback_keys = [fallback_keys]
        if max_age < 1:
            raise ValueError("max_age must be at least 1 second")
        site = str(same_site).lower()
        if site not in ("lax", "strict", "none"):
            raise ValueError(f"same_site must be 'lax', 'strict' or 'none', got {same_site!r}")
        if site == "none" and secure is False:
            raise ValueError("same_site='none' needs a Secure cookie: browsers drop it otherwise")
        for what, value in (("cookie_name", cookie_name), ("domain", domain), ("path", path)):
            if value is not None and (not value or any(c in value for c in ';,= \t\r\n"')):
                raise ValueError(f"{what} {value!r} cannot be used in a cookie")
        self.app = app
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.secure = secure
        self.same_site = site.capitalize()
        self.domain = domain
        self.path = path
        self.proxies = TrustedProxies(trusted_proxies)
        self.store = _make_store(store, redis_url, redis_key_prefix)
        salt = _DATA_SALT if self.store is None else _ID_SALT
        self.signer = URLSafeTimedSerializer(secret_key, salt=salt)
        self.fallback_signers = [
            URLSafeTimedSerializer(key, salt=salt) for key in fallback_keys if key
        ]

    @classmethod
    def from_settings(
        cls, app: ASGIApp, settings: Settings, secret_key: str | None = None
    ) -> SessionMiddleware:
        """Build the middleware from :class:`keel.Settings` (its ``session_*`` fields,
        ``secret_key``, ``secret_key_fallbacks``, ``redis_url`` and ``trusted_proxies``).

        ``secret_key`` overrides ``settings.secret_key`` (e.g. a development key). Use it as
        ``Middleware(SessionMiddleware.from_settings, settings=settings)``.
        """
        if secret_key is None and settings.secret_key is not None:
            secret_key = settings.secret_key.get_secret_value()
        if not secret_key:
            raise ValueError("Sessions need a secret key: set KEEL_SECRET_KEY")
        return cls(
            app,
            secret_key=secret_key,
            fallback_keys=[key.get_secret_value() for key in settings.secret_key_fallbacks],
            store=settings.session_store,
            redis_url=settings.redis_url,
            cookie_name=settings.session_cookie_name,
            max_age=settings.session_max_age,
            secure=settings.session_cookie_secure,
            same_site=settings.session_cookie_samesite,
            domain=settings.session_cookie_domain,
            trusted_proxies=settings.trusted_proxies,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Load the session, run the app, save the session with the response."""
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            if kind == "lifespan" and self.store is not None:
                await self.app(scope, receive, self._closing_send(send))
            else:
                await self.app(scope, receive, send)
            return
        try:
            session, had_cookie = await self.open(scope)
        except SessionStoreUnavailable:
            if kind == "http":
                await send_problem(
                    scope, receive, send, 503, UNAVAILABLE, headers={"Retry-After": "5"}
                )
            else:
                await send({"type": "websocket.close", "code": 1011})
            return
        scope["session"] = session
        if kind == "websocket":  # nothing can be sent back: the session is read-only
            await self.app(scope, receive, send)
            return

        state = {"started": False, "failed": False}

        async def send_with_session(message: Message) -> None:
            if state["failed"]:
                return
            if message["type"] == "http.response.start" and not state["started"]:
                state["started"] = True
                try:
                    await self.save(session, had_cookie, scope, message)
                except SessionStoreUnavailable:
                    state["failed"] = True
                    await send_problem(
                        scope, receive, send, 503, UNAVAILABLE, headers={"Retry-After": "5"}
                    )
                    return
            await send(message)

        await self.app(scope, receive, send_with_session)

    async def open(self, scope: Scope) -> tuple[Session, bool]:
        """The request's session, and whether the request carried a session cookie.

        Raises:
            SessionStoreUnavailable: The server-side store cannot be reached (logged).
        """
        raw = self._cookie(scope)
        if raw is None:
            return Session(), False
        try:
            return await self._load(raw), True
        except SessionStoreUnavailable as exc:
            logger.error("Session store unavailable while loading a session: %s", exc)
            raise

    async def save(
        self, session: Session, had_cookie: bool, scope: Scope, message: Message
    ) -> None:
        """Save a used session and add its cookie to the response start ``message``.

        Raises:
            SessionStoreUnavailable: The server-side store cannot be reached (logged).
        """
        if not (session.accessed or session.resign):
            return
        try:
            await self._commit(session, had_cookie, scope, message)
        except SessionStoreUnavailable as exc:
            logger.error("Session store unavailable while saving a session: %s", exc)
            raise

    def _closing_send(self, send: Send) -> Send:
        """``send`` for the lifespan: the store's connections close at shutdown."""
        store = self.store
        assert store is not None

        async def send_after_closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await store.close()
            await send(message)

        return send_after_closing

    # -- loading -------------------------------------------------------------------------------

    def _cookie(self, scope: Scope) -> str | None:
        values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"cookie"]
        if not values:
            return None
        return parse_cookies(values).get(self.cookie_name)

    def _unsign(self, value: str) -> tuple[Any, bool] | None:
        """The signed value and whether a fallback key signed it, or ``None``."""
        try:
            return self.signer.loads(value, max_age=self.max_age), False
        except SignatureExpired:
            return None
        except (BadData, ValueError, TypeError, UnicodeError):
            if not self.fallback_signers:
                return None
        for signer in self.fallback_signers:
            try:
                return signer.loads(value, max_age=self.max_age), True
            except (BadData, ValueError, TypeError, UnicodeError):
                continue
        return None

    async def _load(self, raw: str) -> Session:
        unsigned = self._unsign(raw) if len(raw) <= MAX_COOKIE_SIZE else None
        if unsigned is None:
            return Session()
        value, resign = unsigned
        if self.store is None:
            if not isinstance(value, dict):
                return Session()
            session = Session(value)
        else:
            if not isinstance(value, str) or not value:
                return Session()
            data = await self.store.load(value)
            if data is None:  # expired or deleted: a new session, under a new id
                return Session()
            session = Session(data, value)
        session.resign = resign
        return session

    # -- saving --------------------------------------------------------------------------------

    async def _commit(
        self, session: Session, had_cookie: bool, scope: Scope, message: Message
    ) -> None:
        """Save the session and add its ``Set-Cookie`` to the response start ``message``."""
        if not (session.accessed or session.resign):
            return
        headers = message_headers(message)
        add_vary(headers, b"Cookie")
        if not (session.modified or session.resign):
            return
        data = session.data
        store = self.store
        secure = self.secure if self.secure is not None else self._https(scope)
        old_id = session.session_id
        if store is not None and old_id is not None and (session.cycled or not data):
            await store.delete(old_id)
        if not data:
            if had_cookie:
                headers.append((b"set-cookie", self._set_cookie("", 0, secure)))
            return
        if store is None:
            try:
                value = self.signer.dumps(data)
            except (TypeError, ValueError):
                encode(data)  # raises a TypeError that says what is wrong
                raise
        else:
            session_id = session.session_id
            if session_id is None or session.cycled:
                session_id = secrets.token_urlsafe(32)
            if session.modified:
                await store.save(session_id, data, self.max_age)
            session.session_id = session_id
            value = self.signer.dumps(session_id)
        size = len(self.cookie_name) + 1 + len(value)
        if size > MAX_COOKIE_SIZE:
            logger.error(
                "The session cookie would be %d bytes, over the %d browsers keep: it was not "
                "set, so this response's session changes are lost. Keep less in the session "
                "or use a server-side store (store='memory' or 'redis').",
                size,
                MAX_COOKIE_SIZE,
            )
            return
        headers.append((b"set-cookie", self._set_cookie(value, self.max_age, secure)))

    def _https(self, scope: Scope) -> bool:
        return self.proxies.scheme(scope) in ("https", "wss")

    def _set_cookie(self, value: str, max_age: int, secure: bool) -> bytes:
        parts = [f"{self.cookie_name}={value}", f"Path={self.path}"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        expires = formatdate(time.time() + max_age, usegmt=True) if max_age else _EXPIRED
        parts += [f"Max-Age={max_age}", f"Expires={expires}", "HttpOnly"]
        if secure:
            parts.append("Secure")
        parts.append(f"SameSite={self.same_site}")
        return "; ".join(parts).encode("latin-1")


def _make_store(
    store: str | SessionStore, redis_url: str | None, key_prefix: str
) -> SessionStore | None:
    """The server-side store, or ``None`` for the cookie store."""
    if isinstance(store, SessionStore):
        return store
    if store == "cookie":
        return None
    if store == "memory":
        return MemoryStore()
    if store == "redis":
        if not redis_url:
            raise ValueError("store='redis' needs redis_url (KEEL_REDIS_URL)")
        return RedisStore(redis_url, key_prefix=key_prefix)
    raise ValueError(f"store must be 'cookie', 'memory', 'redis' or a SessionStore, got {store!r}")
