"""The exceptions an app raises or handles, under FastAPI's module name.

``HTTPException`` is :class:`keel.errors.HTTPError`; ``RequestValidationError`` is raised
when a request's inputs fail validation (a 422 in the app's error format).
"""

from __future__ import annotations

from typing import Any

from keel.errors import (
    HTTPError,
    HTTPException,
    KeelError,
    RequestValidationError,
    ResponseValidationError,
)

__all__ = [
    "FastAPIDeprecationWarning",
    "FastAPIError",
    "HTTPError",
    "HTTPException",
    "KeelDeprecationWarning",
    "KeelError",
    "RequestValidationError",
    "ResponseValidationError",
    "WebSocketException",
]


FastAPIError = KeelError
"""FastAPI spelling of :class:`KeelError`."""


class KeelDeprecationWarning(UserWarning):
    """A keel feature or spelling that will go away (a ``UserWarning``, so that it shows).

    ``FastAPIDeprecationWarning`` is the same class, under FastAPI's name.
    """


FastAPIDeprecationWarning = KeelDeprecationWarning
"""FastAPI spelling of :class:`KeelDeprecationWarning`."""


class WebSocketException(Exception):
    """Raise in a websocket handler to close the connection with ``code`` and ``reason``.

    Args:
        code: The close code (RFC 6455; ``keel.status.WS_1008_POLICY_VIOLATION``…).
        reason: A short text sent with the close frame (at most 123 bytes in UTF-8).
    """

    def __init__(self, code: int, reason: str | None = None) -> None:
        if not (1000 <= code <= 1015 or 3000 <= code <= 4999):
            raise ValueError(f"A websocket close code is 1000-1015 or 3000-4999, got {code}")
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.reason))
