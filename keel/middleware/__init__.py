"""ASGI middleware support and keel's own middleware."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keel._types import ASGIApp

if TYPE_CHECKING:
    from keel.middleware.cors import CORSMiddleware
    from keel.middleware.gzip import GZipMiddleware
    from keel.middleware.hosts import TrustedHostMiddleware
    from keel.middleware.httpsredirect import HTTPSRedirectMiddleware
    from keel.middleware.ratelimit import RateLimitMiddleware
    from keel.middleware.request_id import RequestIDLogFilter, RequestIDMiddleware
    from keel.middleware.security_headers import SecurityHeadersMiddleware
    from keel.middleware.sessions import SessionMiddleware

__all__ = [
    "ASGIApp",
    "CORSMiddleware",
    "GZipMiddleware",
    "HTTPSRedirectMiddleware",
    "Middleware",
    "RateLimitMiddleware",
    "RequestIDLogFilter",
    "RequestIDMiddleware",
    "SecurityHeadersMiddleware",
    "SessionMiddleware",
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


# The middleware modules load on first use, so ``import keel`` stays fast.
_LAZY = {
    "CORSMiddleware": "keel.middleware.cors",
    "GZipMiddleware": "keel.middleware.gzip",
    "HTTPSRedirectMiddleware": "keel.middleware.httpsredirect",
    "RateLimitMiddleware": "keel.middleware.ratelimit",
    "RequestIDLogFilter": "keel.middleware.request_id",
    "RequestIDMiddleware": "keel.middleware.request_id",
    "SecurityHeadersMiddleware": "keel.middleware.security_headers",
    "SessionMiddleware": "keel.middleware.sessions",
    "TrustedHostMiddleware": "keel.middleware.hosts",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel.middleware' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
