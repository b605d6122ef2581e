"""FastAPI compatibility: ``FastAPI``, an :class:`~keel.App` that speaks FastAPI's wire format.

A FastAPI project runs on keel by changing its imports (``keel port fastapi`` does it)::

    from keel.fastapi import FastAPI, APIRouter, Depends, HTTPException

    app = FastAPI(title="Inventory")

The class differs from ``App`` only where FastAPI's clients would see a difference:

* errors are ``{"detail": ...}`` and a 422 is ``{"detail": [{"type", "loc", "msg", "input",
  "ctx"}]}`` (:class:`~keel.error_formats.FastAPIErrors`; secrets and whole bodies are still
  never echoed: their ``input`` is ``null``), and the OpenAPI document says so;
* two routes for the same method and path: the first registered answers (with a warning),
  where ``App`` refuses to start;
* security schemes answer a missing or malformed credential with FastAPI's 401
  ``"Not authenticated"`` and bare challenges (``Basic``, ``APIKey``), where ``App`` says
  what to send and names the realm (``App.auth_wording``);
* a JSON (or other non-form) body sent to a form route reads as an empty form: a 422 with
  each required field missing, where ``App`` answers 415;
* values returned without a declared type go through FastAPI's encoder
  (:func:`keel.encoders.jsonable_encoder`): a ``timedelta`` is a number of seconds, a
  ``Decimal`` a number, where ``App`` writes ISO 8601 durations and strings as pydantic does.

Every other name FastAPI exports at its top level is importable from here too.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic_core import to_json

from keel import status
from keel._types import Receive, Scope, Send
from keel.app import App, Handler
from keel.background import BackgroundTasks
from keel.di import Depends, Security
from keel.encoders import jsonable_encoder
from keel.error_formats import FastAPIErrors
from keel.errors import HTTPException, RequestValidationError, status_phrase
from keel.exceptions import FastAPIError, WebSocketException
from keel.params import Body, Cookie, File, Form, Header, Path, Query
from keel.requests import Request, UploadFile
from keel.responses import PlainTextResponse, Response
from keel.routing import APIRouter, Router

__all__ = [
    "APIRouter",
    "BackgroundTasks",
    "Body",
    "Cookie",
    "Depends",
    "FastAPI",
    "FastAPIError",
    "File",
    "Form",
    "HTTPException",
    "Header",
    "Path",
    "Query",
    "Request",
    "RequestValidationError",
    "Response",
    "Router",
    "Security",
    "UploadFile",
    "WebSocketException",
    "status",
]

_FASTAPI_ERRORS = FastAPIErrors()

# FastAPI keywords that only shape FastAPI's own OpenAPI document or UI: keel writes its own
# document, so they are accepted with a warning (never silently).
_DOC_ONLY = (
    "swagger_ui_oauth2_redirect_url",
    "separate_input_output_schemas",
    "generate_unique_id_function",
    "openapi_external_docs",
    "callbacks",
    "root_path_in_servers",
)

# FastAPI/Starlette keywords keel refuses, with what to use instead.
_REFUSED = {
    "routes": "register routes with @app.get(...)/app.add_route(...) or app.include_router()",
    "webhooks": "document webhooks with openapi_extra= on a route",
    "openapi_prefix": "use root_path= (openapi_prefix was removed from FastAPI too)",
}


def _fastapi_json(value: Any) -> bytes:
    return to_json(jsonable_encoder(value), inf_nan_mode="null")


class FastAPI(App):
    """An :class:`~keel.App` with FastAPI's wire format (see the module docs).

    Takes ``App``'s keywords (``root_path`` among them) plus FastAPI's: ``responses``,
    ``tags``, ``deprecated`` and ``include_in_schema`` (applied to every route), and
    ``default_response_class``. ``error_format`` is FastAPI's unless given.

    Raises:
        TypeError: A FastAPI keyword keel refuses (``routes=``, ``webhooks=``…); the message
            says what to use instead.
    """

    first_wins = True
    strict_json_numbers = False
    auth_wording = "fastapi"
    forms_need_form_content_type = False
    plain_serializer = staticmethod(_fastapi_json)

    def __init__(
        self,
        *,
        root_path: str = "",
        responses: Mapping[int | str, Any] | None = None,
        tags: Sequence[str] = (),
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        exception_handlers: Mapping[type[BaseException] | int, Handler] | None = None,
        lifespan: Callable[[Any], contextlib.AbstractAsyncContextManager[Any]] | None = None,
        **options: Any,
    ) -> None:
        for name, instead in _REFUSED.items():
            if name in options:
                raise TypeError(f"FastAPI({name}=...) is not supported by keel: {instead}")
        ignored = [name for name in _DOC_ONLY if options.pop(name, None) is not None]
        if ignored:
            warnings.warn(
                f"keel writes its own OpenAPI document: {', '.join(ignored)} ignored",
                UserWarning,
                stacklevel=2,
            )
        options.setdefault("error_format", _FASTAPI_ERRORS)
        super().__init__(
            lifespan=lifespan,
            exception_handlers=exception_handlers,
            root_path=root_path,
            **options,
        )
        self.tags = list(tags)
        self.default_responses = dict(responses or {})
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema

    async def _error(
        self,
        status: int,
        detail: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str] | None = None,
    ) -> None:
        # FastAPI's 404/405 say only "Not Found"/"Method Not Allowed".
        await super()._error(status, status_phrase(status), scope, receive, send, headers)

    async def handle_exception(self, request: Request, exc: BaseException) -> Response:
        """As ``App``'s, but an unhandled error is FastAPI's ``Internal Server Error`` text."""
        if not self.debug and self.is_unhandled(exc):
            return PlainTextResponse("Internal Server Error", 500)
        return await super().handle_exception(request, exc)
