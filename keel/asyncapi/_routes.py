"""The ``/asyncapi.json`` and ``/asyncapi`` routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.requests import Request
from keel.responses import HTMLResponse, Response

if TYPE_CHECKING:
    from keel.app import App

__all__ = ["install_asyncapi_routes"]


def install_asyncapi_routes(app: App) -> None:
    """Serve the document at ``app.asyncapi_url`` and the page at ``app.asyncapi_docs_url``."""
    from keel.asyncapi._page import asyncapi_html

    url = app.asyncapi_url
    if not url:
        return

    async def asyncapi_json(request: Request) -> Response:
        from pydantic_core import to_json

        return Response(to_json(app.asyncapi()), media_type="application/json")

    app.add_route(url, asyncapi_json, ["GET"], include_in_schema=False, name="asyncapi")
    page_url = app.asyncapi_docs_url
    if page_url:

        async def asyncapi_page(request: Request) -> HTMLResponse:
            from keel.middleware.security_headers import csp_nonce

            return HTMLResponse(asyncapi_html(app.asyncapi(), url, csp_nonce(request)))

        app.add_route(
            page_url, asyncapi_page, ["GET"], include_in_schema=False, name="asyncapi_docs"
        )
