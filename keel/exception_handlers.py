"""keel's default exception handlers, to call from your own (FastAPI's module name).

A custom handler that only wants to log, then answer as keel would::

    from keel.exception_handlers import request_validation_exception_handler

    @app.exception_handler(RequestValidationError)
    async def log_then_answer(request, exc):
        logger.info("invalid input: %s", exc.errors)
        return await request_validation_exception_handler(request, exc)

Both answer in the app's error format (problem details by default, FastAPI's
``{"detail": ...}`` with :class:`keel.fastapi.FastAPI`).
"""

from __future__ import annotations

from typing import Any

from keel.error_formats import PROBLEM_DETAILS, ErrorFormat
from keel.errors import HTTPError, RequestValidationError
from keel.requests import Request
from keel.responses import Response

__all__ = ["http_exception_handler", "request_validation_exception_handler"]


def _format(request: Request) -> ErrorFormat:
    app: Any = request.scope.get("app")
    found = getattr(app, "error_format", None)
    return found if isinstance(found, ErrorFormat) else PROBLEM_DETAILS


async def http_exception_handler(request: Request, exc: HTTPError) -> Response:
    """The response keel sends for ``exc`` (its status, headers and the app's format)."""
    return _format(request).render(request, exc)


async def request_validation_exception_handler(
    request: Request, exc: RequestValidationError
) -> Response:
    """The 422 (or the error's status) keel sends for invalid input, in the app's format."""
    return _format(request).render(request, exc)
