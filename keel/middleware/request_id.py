"""Request IDs: one identifier per request, taken from ``X-Request-ID`` or generated.

The ID is stored on the request (``request.state.request_id`` and ``scope["request_id"]``),
echoed in the response's ``X-Request-ID`` header, and put on every log record emitted while
the request is handled, through a context variable and :class:`RequestIDLogFilter`.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.middleware._common import header_value, message_headers, set_state

__all__ = ["RequestIDLogFilter", "RequestIDMiddleware", "current_request_id"]

_SANE = re.compile(r"[A-Za-z0-9._-]{1,200}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "keel_request_id", default=None
)


def current_request_id() -> str | None:
    """The ID of the request being handled in this context, or ``None`` outside one."""
    return _request_id.get()


class RequestIDLogFilter(logging.Filter):
    """A logging filter that sets ``record.request_id`` (``"-"`` outside a request).

    Add it to a handler and use ``%(request_id)s`` in the format::

        handler.addFilter(RequestIDLogFilter())
        handler.setFormatter(logging.Formatter("%(request_id)s %(levelname)s %(message)s"))

    It never drops a record.
    """

    def __init__(self, name: str = "", default: str = "-") -> None:
        super().__init__(name)
        self.default = default

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the current request ID to ``record``."""
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or self.default
        return True


class RequestIDMiddleware:
    """Give each request an ID and echo it in the response.

    Args:
        app: The ASGI app.
        header_name: The request/response header (``X-Request-ID``).
        trust_incoming: Reuse the client's (or the proxy's) ID when it is a sane token of at
            most 200 characters from ``A-Z a-z 0-9 . _ -``; anything else is replaced by a
            fresh one, so log lines can never be forged or broken by a hostile header.

    A new ID is ``uuid.uuid4().hex``. Inside the request, read it with
    ``request.state.request_id``, ``scope["request_id"]`` or :func:`current_request_id`.
    A response that sets the header itself keeps its own value.
    """

    def __init__(
        self, app: ASGIApp, *, header_name: str = "X-Request-ID", trust_incoming: bool = True
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9-]+", header_name):
            raise ValueError(f"{header_name!r} is not a valid header name")
        self.app = app
        self.header = header_name.lower().encode()
        self.trust_incoming = trust_incoming

    def request_id_for(self, scope: Scope) -> str:
        """The incoming ID when it is sane (and trusted), otherwise a new uuid4 hex."""
        if self.trust_incoming:
            raw = header_value(scope.get("headers", ()), self.header)
            if raw is not None:
                text = raw.decode("latin-1").strip()
                if _SANE.fullmatch(text):
                    return text
        return uuid.uuid4().hex

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Assign the ID, run the app with it in context, and echo it."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = self.request_id_for(scope)
        scope["request_id"] = request_id
        set_state(scope, "request_id", request_id)
        value = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message_headers(message)
                if header_value(headers, self.header) is None:
                    headers.append((self.header, value))
            await send(message)

        token = _request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)
