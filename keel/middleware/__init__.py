"""ASGI middleware support and keel's own middleware."""

from __future__ import annotations

from typing import Any

from keel._types import ASGIApp
from keel.middleware.cors import CORSMiddleware
from keel.middleware.gzip import GZipMiddleware
from keel.middleware.hosts import TrustedHostMiddleware
from keel.middleware.request_id import RequestIDLogFilter, RequestIDMiddleware
from keel.middleware.security_headers import SecurityHeadersMiddleware

__all__ = [
    "CORSMiddleware",
    "GZipMiddleware",
    "Middleware",
    "RequestIDLogFilter",
    "RequestIDMiddleware",
    "SecurityHeadersMiddleware",
    "TrustedHostMiddleware",
]


class Middleware:
    """A middleware class and its options, instantiated when the app starts.

    ``Middleware(CORSMiddleware, allow_origins=["*"])`` becomes ``CORSMiddleware(app, ...)``.
    """

    __slots__ = ("cls", "args", "kwargs")

    def __init__(self, cls: Any, *args: Any, **kwargs: Any) -> None:
        if not callable(cls):
            raise TypeError(f"Middleware needs a class or factory, got {cls!r}")
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    @classmethod
    def coerce(cls, value: Any) -> Middleware:
        """Accept ``Middleware(...)``, ``(cls, {options})`` or a bare class."""
        if isinstance(value, Middleware):
            return value
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
            return cls(value[0], **value[1])
        if hasattr(value, "cls") and hasattr(value, "kwargs"):  # Starlette's Middleware
            return cls(value.cls, *getattr(value, "args", ()), **value.kwargs)
        return cls(value)

    def build(self, app: ASGIApp) -> ASGIApp:
        """Wrap ``app``."""
        built: ASGIApp = self.cls(app, *self.args, **self.kwargs)
        return built

    def __iter__(self) -> Any:
        return iter((self.cls, self.args, self.kwargs))

    def __repr__(self) -> str:
        return f"Middleware({getattr(self.cls, '__name__', self.cls)!r})"
