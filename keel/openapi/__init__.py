"""OpenAPI 3.1 documents generated from the routes' types, and the docs pages serving them.

``app.openapi()`` returns the document (generated once, then cached on the app);
``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) are installed by the app at
startup unless their URL is ``None``. ``keel openapi module:app`` prints the document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from keel.openapi.docs import install_docs_routes, redoc_html, swagger_ui_html

if TYPE_CHECKING:
    from keel.app import App

__all__ = [
    "generate_openapi",
    "get_openapi_document",
    "install_docs_routes",
    "openapi_json_bytes",
    "redoc_html",
    "swagger_ui_html",
]

_CACHE = "openapi_document"


def generate_openapi(app: App) -> dict[str, Any]:
    """Generate the OpenAPI document of ``app`` (uncached; see ``get_openapi_document``).

    The generator (and pydantic's JSON-schema machinery) is imported on first use, so an
    app that never serves its document never loads it.
    """
    from keel.openapi._generator import generate_openapi as generate

    return generate(app)


_JSON_CACHE = "openapi_json"


def _fingerprint(app: App) -> tuple[int, ...]:
    return (
        len(app.routes),
        len(getattr(app, "websocket_routes", ())),
        len(getattr(app, "mounts", ())),
    )


def get_openapi_document(app: App) -> dict[str, Any]:
    """The OpenAPI document of ``app``, generated on first use and cached on the app.

    The cache (``app.extensions["openapi_document"]``) is dropped when routes, websocket
    routes or mounts are added afterwards.
    """
    key = _fingerprint(app)
    cached = app.extensions.get(_CACHE)
    if cached is not None and cached[0] == key:
        document: dict[str, Any] = cached[1]
        return document
    document = generate_openapi(app)
    app.extensions[_CACHE] = (key, document)
    app.extensions.pop(_JSON_CACHE, None)
    return document


def openapi_json_bytes(app: App, root_path: str = "") -> bytes:
    """The document as JSON bytes, with ``servers`` set to ``root_path`` when the app is
    served under a prefix and declares no servers of its own (cached per root path)."""
    document = get_openapi_document(app)
    cache: dict[str, bytes] = app.extensions.setdefault(_JSON_CACHE, {})
    body = cache.get(root_path)
    if body is None:
        if root_path and not document.get("servers"):
            document = {**document, "servers": [{"url": root_path}]}
            document = _reorder(document)
        body = to_json(document)
        cache[root_path] = body
    return body


def _reorder(document: dict[str, Any]) -> dict[str, Any]:
    order = ("openapi", "info", "jsonSchemaDialect", "servers", "paths")
    head = {k: document[k] for k in order if k in document}
    return {**head, **{k: v for k, v in document.items() if k not in head}}
