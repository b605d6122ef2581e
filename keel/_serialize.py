"""Turning a handler's return value into a response: JSON serialisation by its declared
type, and merging the ``Response`` a handler asked for as a parameter (its sub-response)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
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


DUMP_OPTIONS = (
    "include",
    "exclude",
    "by_alias",
    "exclude_unset",
    "exclude_defaults",
    "exclude_none",
)
"""What ``response_model_<option>=`` route options pass to pydantic's ``dump_json``."""


class Serializer:
    """Turns a handler's return value into JSON bytes according to its declared type.

    Args:
        annotation: The declared response type (``response_model`` or the return annotation).
        where: The handler's name, for errors.
        dump: pydantic ``dump_json`` options (``exclude_unset``…), fixed at startup.
        plain: Serialises values without a declared type (``None``: pydantic-core's
            ``to_json``).
    """

    def __init__(
        self,
        annotation: Any,
        where: str,
        dump: dict[str, Any] | None = None,
        plain: Callable[[Any], bytes] | None = None,
    ) -> None:
        self.where = where
        self.adapter: TypeAdapter[Any] | SimpleAdapter | None = None
        self.exact: type | None = None
        self.dump = dump or {}
        self.plain = plain or _to_json
        if annotation is inspect.Signature.empty or annotation is Any or annotation is None:
            if self.dump and plain is None:
                self.plain = _encoded(self.dump)
            return
        base = strip_optional(split_annotated(annotation)[0])
        if isinstance(base, type) and issubclass(base, Response):
            return
        schema = None if self.dump else simple_schema(annotation)
        if schema is not None:
            self.adapter = SimpleAdapter(schema)
        else:
            self.adapter = adapter(annotation)
            # Field aliases are the keys on the wire, as the OpenAPI document says (FastAPI's
            # default too); ``response_model_by_alias=False`` sends the field names.
            self.dump = {"by_alias": True, **self.dump}
        if is_pydantic_model(annotation):
            self.exact = annotation

    def check(self, value: Any) -> Any:
        """``value`` validated against the declared type (raises ResponseValidationError)."""
        assert self.adapter is not None
        if self.exact is not None and type(value) is self.exact:
            return value
        try:
            return self.adapter.validate_python(value, from_attributes=True)
        except ValidationError as exc:
            errors = convert_errors(exc.errors(include_url=False))
            raise ResponseValidationError(self.where, errors) from None

    def python(self, value: Any) -> Any:
        """``value`` as JSON-compatible Python data (for a ``response_class`` to render)."""
        adapter = self.adapter
        if adapter is None or isinstance(adapter, SimpleAdapter):
            from keel.encoders import jsonable_encoder

            checked = value if adapter is None else self.check(value)
            return jsonable_encoder(checked, **self.dump)
        return adapter.dump_python(self.check(value), mode="json", **self.dump)

    def __call__(self, value: Any) -> bytes:
        adapter = self.adapter
        if adapter is None:
            return self.plain(value)
        return adapter.dump_json(self.check(value), **self.dump)


def _to_json(value: Any) -> bytes:
    return to_json(value, inf_nan_mode="null")


def _encoded(dump: dict[str, Any]) -> Callable[[Any], bytes]:
    """Serialise an undeclared value through ``jsonable_encoder`` with ``dump`` options."""
    from keel.encoders import jsonable_encoder

    def serialise(value: Any) -> bytes:
        return to_json(jsonable_encoder(value, **dump), inf_nan_mode="null")

    return serialise


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
