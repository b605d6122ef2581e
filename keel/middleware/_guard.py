"""The built-in protections of every app, run as one layer.

Security headers, the allowed-hosts check and sessions are separate middleware classes a
user can configure or replace; stacked, each costs a call and a ``send`` wrapper per request.
:class:`Guard` runs the same objects' steps in one call with one wrapper (websocket and
lifespan events go through the ordinary stack).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.middleware._common import send_problem
from keel.middleware.sessions import UNAVAILABLE
from keel.sessions import SessionStoreUnavailable

if TYPE_CHECKING:
    from keel.middleware.hosts import TrustedHostMiddleware
    from keel.middleware.security_headers import SecurityHeadersMiddleware
    from keel.middleware.sessions import SessionMiddleware

__all__ = ["Guard"]


class Guard:
    """Headers, host check and sessions for HTTP requests, in one layer.

    Args:
        app: What runs inside (the user's middleware and the router).
        stack: The same protections as ordinary middleware around ``app``, for
            websocket and lifespan events.
        headers: The security headers (``None``: off or replaced by the app's own).
        hosts: The allowed-hosts check (``None``: replaced by the app's own).
        sessions: The sessions (``None``: replaced by the app's own).
    """

    __slots__ = ("app", "stack", "headers", "hosts", "sessions")

    def __init__(
        self,
        app: ASGIApp,
        stack: ASGIApp,
        *,
        headers: SecurityHeadersMiddleware | None,
        hosts: TrustedHostMiddleware | None,
        sessions: SessionMiddleware | None,
    ) -> None:
        self.app = app
        self.stack = stack
        self.headers = headers
        self.hosts = hosts
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the host, load the session, run the app; save the session and add the
        headers when its response starts."""
        if scope["type"] != "http":
            await self.stack(scope, receive, send)
            return
        headers = self.headers
        holder: list[str | None] | None = None
        https = False
        if headers is not None:
            holder, https = headers.prepare(scope)
        if self.hosts is not None:
            problem, scope = self.hosts.verdict(scope)
            if problem is not None:
                await self._refuse(scope, receive, send, 400, problem, holder, https)
                return
        sessions = self.sessions
        if sessions is None:
            if headers is None:
                await self.app(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers.add(message, holder, https)
                await send(message)

            await self.app(scope, receive, send_with_headers)
            return

        try:
            session, had_cookie = await sessions.open(scope)
        except SessionStoreUnavailable:
            await self._refuse(scope, receive, send, 503, UNAVAILABLE, holder, https)
            return
        scope["session"] = session
        failed = False
        started = False

        async def send_guarded(message: Message) -> None:
            nonlocal failed, started
            if failed:
                return
            if message["type"] == "http.response.start" and not started:
                started = True
                try:
                    await sessions.save(session, had_cookie, scope, message)
                except SessionStoreUnavailable:
                    failed = True
                    await self._refuse(scope, receive, send, 503, UNAVAILABLE, holder, https)
                    return
                if headers is not None:
                    headers.add(message, holder, https)
            await send(message)

        await self.app(scope, receive, send_guarded)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        detail: str,
        holder: list[str | None] | None,
        https: bool,
    ) -> None:
        """Answer with a problem, the security headers added."""
        headers = self.headers
        extra = {"Retry-After": "5"} if status == 503 else None

        async def send_with_headers(message: Message) -> None:
            if headers is not None and message["type"] == "http.response.start":
                headers.add(message, holder, https)
            await send(message)

        await send_problem(scope, receive, send_with_headers, status, detail, headers=extra)
