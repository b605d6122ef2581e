"""App-wide error formats: how every error response is written, and how OpenAPI shows it.

An app speaks one error format, set once with ``App(error_format=...)``. Every error keel
produces (404, 405, 413, 422, a battery's 409, an unhandled 500…) and every ``HTTPError`` a
handler raises is rendered by it, unless an exception handler answers first. The OpenAPI
document describes every route's error responses with the same format's schemas.

keel ships two formats:

* :class:`ProblemDetails` (the default): RFC 9457 ``application/problem+json``.
* :class:`FastAPIErrors`: FastAPI's ``{"detail": ...}``, with 422 as
  ``{"detail": [{"loc": [...], "msg": ..., "type": ...}, ...]}``.

and :class:`HTMLErrorPages`, which answers browsers with an HTML page (a template of the
app's, or a built-in one) and API clients with another format.

Another format is a subclass of :class:`ErrorFormat`.
"""

from __future__ import annotations

import abc
import html
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from keel._http import prefers_html
from keel.errors import (
    _SECRET_HINTS,
    PROBLEM_JSON,
    HTTPError,
    RequestValidationError,
    input_preview,
)
from keel.responses import HTMLResponse, JSONResponse, ProblemResponse, Response

if TYPE_CHECKING:
    from keel.requests import Request

__all__ = [
    "PROBLEM_DETAILS",
    "ErrorFormat",
    "ErrorTemplates",
    "FastAPIErrors",
    "HTMLErrorPages",
    "ProblemDetails",
    "default_page",
]

logger = logging.getLogger("keel.error")


class ErrorFormat(abc.ABC):
    """How an app writes its error responses, and how its OpenAPI document describes them.

    Subclass it, override :meth:`render`, and describe the body with :meth:`schemas` (the
    components the format needs) and :meth:`schema` (the body schema for one status)::

        class RealWorldErrors(ErrorFormat):
            media_type = "application/json"

            def render(self, request: Request, error: HTTPError) -> Response:
                return JSONResponse(
                    {"errors": {"body": [str(error.detail or error.title)]}},
                    error.status,
                    error.headers,
                )

            def schemas(self) -> dict[str, Any]:
                return {"GenericError": {"type": "object", "properties": {...}}}

            def schema(self, status: int) -> dict[str, Any]:
                return {"$ref": "#/components/schemas/GenericError"}

    Attributes:
        media_type: The content type of the error bodies (for the OpenAPI document).
    """

    media_type: str = "application/json"

    @abc.abstractmethod
    def render(self, request: Request, error: HTTPError) -> Response:
        """The response for ``error``; keep its status and ``headers`` (e.g. ``Allow``)."""

    def schemas(self) -> dict[str, Any]:
        """Schemas added to the OpenAPI document's ``components.schemas``."""
        return {}

    def schema(self, status: int) -> dict[str, Any]:
        """The JSON Schema (or ``$ref``) of an error body with ``status``."""
        return {}

    def content(self, status: int) -> dict[str, Any]:
        """The OpenAPI ``content`` map of an error response with ``status``."""
        return {self.media_type: {"schema": self.schema(status)}}


class ProblemDetails(ErrorFormat):
    """RFC 9457 problem details (``application/problem+json``), keel's default.

    ``{"type": "about:blank", "title": "Not Found", "status": 404, "detail": "..."}``,
    with extension members (e.g. ``errors`` on a 422, ``limit`` on a 413).
    """

    media_type = PROBLEM_JSON

    def render(self, request: Request, error: HTTPError) -> Response:
        """The problem object of ``error`` as an ``application/problem+json`` response."""
        return ProblemResponse(error.to_problem(), error.status, error.headers)

    def schemas(self) -> dict[str, Any]:
        """``ProblemDetails``, ``ValidationProblem`` and ``ValidationErrorItem``."""
        return dict(_PROBLEM_SCHEMAS)

    def schema(self, status: int) -> dict[str, Any]:
        """``ValidationProblem`` for 422, ``ProblemDetails`` otherwise."""
        name = "ValidationProblem" if status == 422 else "ProblemDetails"
        return {"$ref": f"#/components/schemas/{name}"}


class FastAPIErrors(ErrorFormat):
    """FastAPI's error format, for clients written against a FastAPI service.

    Every error is ``{"detail": <the HTTPError's detail>}`` (the status phrase when it has
    none); a request that failed validation is a 422 with ``{"detail": [<error items>]}``,
    each item ``{"type": str, "loc": [...], "msg": str, "input": ..., "ctx": {...}}`` as
    FastAPI writes it. ``input`` echoes the offending part of a JSON body as FastAPI does
    (the object a missing field was missing from), but never a secret: members whose name
    suggests one (``password``, ``token``, ``api_key``...) read ``"[redacted]"``, long
    strings are cut, and an object too large to echo is ``null``. ``ctx`` is present when
    the rule has parameters. Problem extension members (``extra=``) are not sent.
    """

    media_type = "application/json"

    def render(self, request: Request, error: HTTPError) -> Response:
        """``{"detail": ...}`` with the error's status and headers."""
        if isinstance(error, RequestValidationError):
            detail: Any = [_fastapi_item(e, error.body) for e in error.errors]
        else:
            detail = error.detail if error.detail is not None else error.title
        return JSONResponse({"detail": detail}, error.status, error.headers)

    def schemas(self) -> dict[str, Any]:
        """FastAPI's ``HTTPValidationError`` and ``ValidationError``, and ``ErrorDetail``."""
        return {
            "ErrorDetail": {
                "title": "ErrorDetail",
                "description": "An error: `detail` says what went wrong (usually a string).",
                "type": "object",
                "properties": {"detail": {"title": "Detail"}},
                "required": ["detail"],
            },
            "HTTPValidationError": {
                "title": "HTTPValidationError",
                "description": "The request input failed validation: one item per error.",
                "type": "object",
                "properties": {
                    "detail": {
                        "title": "Detail",
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/ValidationError"},
                    }
                },
                "required": ["detail"],
            },
            "ValidationError": {
                "title": "ValidationError",
                **_ITEM,
                "properties": {
                    **_ITEM["properties"],
                    "ctx": {
                        "type": "object",
                        "description": 'The rule\'s parameters, e.g. `{"ge": 1}`.',
                    },
                },
            },
        }

    def schema(self, status: int) -> dict[str, Any]:
        """``HTTPValidationError`` for 422, ``ErrorDetail`` otherwise."""
        name = "HTTPValidationError" if status == 422 else "ErrorDetail"
        return {"$ref": f"#/components/schemas/{name}"}


class ErrorTemplates(Protocol):
    """What :class:`HTMLErrorPages` needs of its templates (:class:`keel.templates.Templates`)."""

    def get_template(self, name: str) -> Any:
        """The template ``name``; raises a ``LookupError`` when there is none."""

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """The page ``name`` rendered as a response."""


class HTMLErrorPages(ErrorFormat):
    """HTML error pages for browsers, ``api``'s format for every other client.

    A request whose ``Accept`` ranks ``text/html`` above JSON (a browser navigating) gets a
    page: the template ``errors/<status>.html``, else ``errors/error.html``, from
    ``templates`` when given, else (or when the template fails) keel's built-in page. Other
    clients (``Accept: application/json``, ``*/*``, none) get ``api``'s answer unchanged.
    The status and headers (``Allow``, ``WWW-Authenticate``…) are the same either way:

    >>> from keel.templates import Templates
    >>> app = App(error_format=HTMLErrorPages(templates=Templates("templates")))

    Templates see ``request``, ``error`` (the :class:`~keel.errors.HTTPError`), ``status``,
    ``title`` and ``detail``, autoescaped like every page.

    Args:
        api: The format for API clients (:class:`ProblemDetails` by default).
        templates: Where the error templates are looked up (optional).
        folder: The templates' folder inside ``templates`` (``errors``).
        document_pages: List ``text/html`` beside ``api``'s media type in the OpenAPI
            document (keel's default error format, which pages only browsers, does not).
    """

    def __init__(
        self,
        api: ErrorFormat | None = None,
        *,
        templates: ErrorTemplates | None = None,
        folder: str = "errors",
        document_pages: bool = True,
    ) -> None:
        self.document_pages = document_pages
        self.api = api or PROBLEM_DETAILS
        self.media_type = self.api.media_type
        self.templates = templates
        self.folder = folder.strip("/")

    def render(self, request: Request, error: HTTPError) -> Response:
        """A page when the client prefers HTML, else ``api``'s response."""
        if not prefers_html(request.headers.get("accept")):
            return self.api.render(request, error)
        return self.page(request, error)

    def page(self, request: Request, error: HTTPError) -> Response:
        """The HTML page for ``error``: the app's template, or the built-in page."""
        detail = error.detail if isinstance(error.detail, str) else None
        if self.templates is not None:
            context = {
                "error": error,
                "status": error.status,
                "title": error.title,
                "detail": detail,
            }
            for name in (f"{self.folder}/{error.status}.html", f"{self.folder}/error.html"):
                try:
                    self.templates.get_template(name)
                except LookupError:
                    continue
                try:
                    return self.templates.render(
                        request, name, context, status=error.status, headers=error.headers
                    )
                except Exception:
                    logger.exception("Error page %s failed; the built-in page was sent", name)
                    break
        return HTMLResponse(
            default_page(error.status, error.title, detail), error.status, error.headers
        )

    def schemas(self) -> dict[str, Any]:
        """``api``'s schemas."""
        return self.api.schemas()

    def schema(self, status: int) -> dict[str, Any]:
        """``api``'s schema for ``status``."""
        return self.api.schema(status)

    def content(self, status: int) -> dict[str, Any]:
        """``api``'s content, and ``text/html`` (the page) when ``document_pages``."""
        if not self.document_pages:
            return self.api.content(status)
        return {**self.api.content(status), "text/html": {"schema": {"type": "string"}}}


def default_page(status: int, title: str, detail: str | None) -> str:
    """keel's built-in error page: the status, title and detail, escaped; no script, no style."""
    heading = html.escape(f"{status} {title}")
    text = f"<p>{html.escape(detail)}</p>" if detail else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{heading}</title></head>\n<body>\n<h1>{heading}</h1>\n{text}\n</body>\n</html>\n"
    )


def _fastapi_item(error: dict[str, Any], body: Any) -> dict[str, Any]:
    kind = error.get("type")
    loc = error.get("loc") or []
    value = error.get("input")
    if value is None and body is not None and loc and loc[0] == "body":
        # FastAPI echoes containers keel's own items leave out: the object a missing
        # field was missing from, or the list or object that had the wrong type
        path = loc[1:-1] if kind == "missing" else loc[1:]
        if not _secret(path):
            value = _echo(_walk(body, path))
    item = {
        "type": kind,
        "loc": loc,
        "msg": "Field required" if kind == "missing" else error.get("msg"),
        "input": value,
    }
    if "ctx" in error:
        item["ctx"] = error["ctx"]
    return item


_MISSING = object()


def _secret(loc: list[Any]) -> bool:
    return any(isinstance(p, str) and any(h in p.lower() for h in _SECRET_HINTS) for p in loc)


def _walk(value: Any, path: list[Any]) -> Any:
    """The part of a parsed JSON body at ``path``, or ``_MISSING``."""
    for part in path:
        if isinstance(value, dict) and isinstance(part, str):
            found = part in value
        else:
            found = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if not found:
            return _MISSING
        value = value[part]
    return value


_ECHO_BUDGET = 100  # values, over the whole echoed input
_ECHO_DEPTH = 8


def _echo(value: Any) -> Any:
    """A JSON body part to echo in a 422, with secrets redacted; ``None`` when too large."""
    if value is _MISSING:
        return None
    budget = [_ECHO_BUDGET]

    def copy(node: Any, key: str | None, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > _ECHO_DEPTH:
            raise OverflowError
        if key is not None and any(h in key.lower() for h in _SECRET_HINTS):
            return "[redacted]"
        if isinstance(node, dict):
            return {k: copy(v, str(k), depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [copy(v, None, depth + 1) for v in node]
        return input_preview((), node)

    try:
        return copy(value, None, 0)
    except OverflowError:
        return None


_PROBLEM_PROPERTIES: dict[str, Any] = {
    "type": {
        "type": "string",
        "description": "A URI reference identifying the problem type.",
        "examples": ["about:blank"],
    },
    "title": {"type": "string", "description": "A short summary of the problem type."},
    "status": {
        "type": "integer",
        "minimum": 100,
        "maximum": 599,
        "description": "The HTTP status code.",
    },
    "detail": {"description": "An explanation of this occurrence (usually a string)."},
}

_ITEM: dict[str, Any] = {
    "description": "One invalid input.",
    "type": "object",
    "properties": {
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": "Where: the location (path, query, header, cookie, body) "
            "followed by the field names and indexes.",
            "examples": [["query", "limit"]],
        },
        "msg": {"type": "string", "description": "What is wrong."},
        "type": {"type": "string", "description": "A machine-readable error code."},
        "input": {
            "type": ["string", "integer", "number", "boolean", "null"],
            "description": "A short preview of the rejected value (never a container "
            "nor a secret-looking field).",
        },
    },
    "required": ["loc", "msg", "type"],
}

_PROBLEM_SCHEMAS: dict[str, Any] = {
    "ProblemDetails": {
        "title": "ProblemDetails",
        "description": (
            "An RFC 9457 problem: the body of every keel error response "
            "(`application/problem+json`). Extension members (e.g. `limit`) may be present."
        ),
        "type": "object",
        "properties": _PROBLEM_PROPERTIES,
        "required": ["type", "title", "status"],
        "additionalProperties": True,
    },
    "ValidationErrorItem": {"title": "ValidationErrorItem", **_ITEM},
    "ValidationProblem": {
        "title": "ValidationProblem",
        "description": (
            "The problem sent with a 422: `errors` lists each invalid input when the request "
            "failed validation (a battery's own 422, e.g. an unknown reference, may omit it)."
        ),
        "type": "object",
        "properties": {
            **_PROBLEM_PROPERTIES,
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationErrorItem"},
            },
        },
        "required": ["type", "title", "status"],
        "additionalProperties": True,
    },
}

PROBLEM_DETAILS = ProblemDetails()
"""The default format (shared: formats hold no per-app state)."""
