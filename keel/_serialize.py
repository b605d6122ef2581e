"""Turning a handler's return value into a response: JSON serialisation by its declared
type, and merging the ``Response`` a handler asked for as a parameter (its sub-response)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from pydantic_core import ValidationError, to_json

from keel._analysis import split_annotated, strip_optional
from keel._http import body_allowed
from keel._inputs import adapter
from keel._schema import SimpleAdapter, is_pydantic_model, simple_schema
from keel._types import Scope, Send
from keel.errors import ResponseValidationError, convert_errors
from keel.responses import Response

if TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = ["Ready", "Serializer", "merge_sub_response", "render"]

_JSON_CT = (b"content-type", b"application/json")


class Serializer:
    """Turns a handler's return value into JSON bytes according to its declared type."""

    def __init__(self, annotation: Any, where: str) -> None:
        self.where = where
        self.adapter: TypeAdapter[Any] | SimpleAdapter | None = None
        self.exact: type | None = None
        if annotation is inspect.Signature.empty or annotation is Any or annotation is None:
            return
        base = strip_optional(split_annotated(annotation)[0])
        if isinstance(base, type) and issubclass(base, Response):
            return
        schema = simple_schema(annotation)
        self.adapter = SimpleAdapter(schema) if schema is not None else adapter(annotation)
        if is_pydantic_model(annotation):
            self.exact = annotation

    def __call__(self, value: Any) -> bytes:
        adapter = self.adapter
        if adapter is None:
            return to_json(value, inf_nan_mode="null")
        if self.exact is not None and type(value) is self.exact:
            return adapter.dump_json(value)
        try:
            checked = adapter.validate_python(value, from_attributes=True)
        except ValidationError as exc:
            errors = convert_errors(exc.errors(include_url=False))
            raise ResponseValidationError(self.where, errors) from None
        return adapter.dump_json(checked)


class Ready:
    """A serialized JSON (or empty) response waiting to be sent."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def send(self, scope: Scope, send: Send) -> None:
        """Send it (headers only for HEAD)."""
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        body = b"" if scope["method"] == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body})


def render(
    status: int, serializer: Serializer, scope: Scope, value: Any, sub_response: Response | None
) -> Ready:
    """Serialize a non-``Response`` return value into status, headers and body."""
    headers: list[tuple[bytes, bytes]] = []
    if sub_response is not None:
        if sub_response.status_code != 200:
            status = sub_response.status_code
        headers += [h for h in sub_response.raw_headers if h[0] != b"content-length"]
        if sub_response._cookies:
            headers += sub_response._cookie_headers(scope)
    if body_allowed(status):
        body = serializer(value)
        headers[:0] = [_JSON_CT, (b"content-length", b"%d" % len(body))]
        return Ready(status, headers, body)
    if status == 205:
        headers.append((b"content-length", b"0"))
    return Ready(status, headers, b"")


def merge_sub_response(response: Response, sub_response: Response) -> None:
    """Carry the headers, cookies and status set on the ``Response`` parameter over."""
    for k, v in sub_response.raw_headers:
        if k not in (b"content-length", b"content-type"):
            response.raw_headers.append((k, v))
    if sub_response._cookies:
        if response._cookies is None:
            response._cookies = []
        response._cookies.extend(sub_response._cookies)
    if sub_response.status_code != 200:
        response.status_code = sub_response.status_code
