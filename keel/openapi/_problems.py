"""The error responses keel sends, as OpenAPI Response Objects in the app's error format."""

from __future__ import annotations

from typing import Any

from keel.error_formats import ErrorFormat
from keel.errors import status_phrase

__all__ = ["error_response"]

_WHY = {
    400: "The request is malformed (e.g. invalid JSON, query string or form encoding).",
    401: "Authentication is missing or invalid.",
    404: "Nothing matches this path (e.g. a path parameter of the wrong form).",
    413: "The request body is over the size limit.",
    415: "The request body has an unsupported Content-Type.",
    422: "The request input failed validation.",
}


def error_response(
    error_format: ErrorFormat, status: int, description: str | None = None
) -> dict[str, Any]:
    """The OpenAPI Response Object of an error with ``status`` in ``error_format``."""
    text = description or f"{status_phrase(status)}: {_WHY.get(status, 'The request failed.')}"
    return {"description": text, "content": error_format.content(status)}
