"""Request inputs: parameters and bodies, compiled per route and read per request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic_core import PydanticUndefined, SchemaValidator, ValidationError

from keel import _json
from keel._analysis import (
    FieldSpec,
    Plan,
    body_is_embedded,
    is_model_form,
    split_annotated,
    strip_optional,
)
from keel._http import header_alias, is_json_media_type, parse_query
from keel._schema import is_pydantic_model, simple_params_schema
from keel._types import Scope
from keel.errors import HTTPError, RequestValidationError, convert_errors
from keel.requests import Request, UploadFile, parse_cookies

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter

__all__ = ["BodyReader", "ParamReader", "adapter"]


def _model(name: str, fields: dict[str, Any]) -> type[BaseModel]:
    from pydantic import ConfigDict, create_model

    config = ConfigDict(allow_inf_nan=False, arbitrary_types_allowed=True)
    model: type[BaseModel] = create_model(name, __config__=config, **fields)
    return model


def adapter(annotation: Any) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(annotation)


class ParamReader:
    """Path, query, header and cookie values of a route, validated in one call."""

    def __init__(self, params: list[FieldSpec], max_query_params: int | None = None) -> None:
        self.max_query_params = max_query_params
        self.params_model: type[BaseModel] | None = None
        self.sources: list[tuple[str, str, str, bool, list[tuple[str, str, bool]] | None]] = []
        self.rename: dict[str | int, list[str | int]] = {}
        self.field_ident: dict[str, str] = {}
        self.external: dict[str, dict[str, str]] = {}
        self.params_validator: Any = None
        if not params:
            return
        fields: dict[str, Any] = {}
        simple = simple_params_schema(params)
        for i, f in enumerate(params):
            ident = f"p{i}"
            if simple is None:
                fields[ident] = (f.annotation, f.field_info())
            expand = _model_fields(f) if f.location != "path" else None
            self.sources.append((ident, f.location, f.alias, f.is_sequence, expand))
            # a parameter model (FastAPI's "query parameter models") reports its fields
            self.rename[ident] = [f.location] if expand is not None else [f.location, f.alias]
            if expand is not None:
                self.external[ident] = {key: ext for key, ext, _ in expand}
            self.field_ident[f.key] = ident
        if simple is not None:
            # Builtin scalars without constraints: validate with a pydantic-core schema.
            self.params_validator = SchemaValidator(simple)
            self.params_model = None
        else:
            self.params_model = _model("RequestParams", fields)
        self.need_query = any(s[1] == "query" for s in self.sources)
        self.need_headers = any(s[1] == "header" for s in self.sources)
        self.need_cookies = any(s[1] == "cookie" for s in self.sources)

    def read(self, scope: Scope, values: dict[str, Any]) -> None:
        """Extract, validate and store the parameters in ``values`` (422 when invalid)."""
        raw: dict[str, Any] = {}
        query: dict[str, list[str]] | None = None
        headers: dict[str, list[str]] | None = None
        cookies: dict[str, str] | None = None
        if self.need_query:
            query = {}
            for k, v in parse_query(
                scope.get("query_string", b""), max_params=self.max_query_params
            ):
                query.setdefault(k, []).append(v)
        if self.need_headers:
            headers = {}
            for k, v in scope.get("headers", ()):
                headers.setdefault(k.decode("latin-1").lower(), []).append(v.decode("latin-1"))
        if self.need_cookies:
            cookie_headers = [
                v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"cookie"
            ]
            cookies = parse_cookies(cookie_headers)
        path_params = scope.get("path_params", {})
        for ident, location, alias, is_seq, expand in self.sources:
            if expand is not None:
                raw[ident] = _gather(expand, location, query, headers, cookies)
                continue
            if location == "path":
                if alias in path_params:
                    raw[ident] = path_params[alias]
                continue
            value = _lookup(location, alias, is_seq, query, headers, cookies)
            if value is not _MISSING:
                raw[ident] = value
        try:
            if self.params_model is not None:
                data = self.params_model.model_validate(raw).__dict__
            else:
                data = self.params_validator.validate_python(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            if self.external:
                for err in errors:
                    loc = err["loc"]
                    names = self.external.get(str(loc[0])) if loc else None
                    if names is not None and len(loc) > 1 and str(loc[1]) in names:
                        err["loc"] = (loc[0], names[str(loc[1])], *loc[2:])
            raise RequestValidationError(convert_errors(errors, rename=self.rename)) from None
        for key, ident in self.field_ident.items():
            values[key] = data[ident]


BodyMode = Literal["json", "form"]
"""What a route's body is: a JSON value, or form fields and files."""


class BodyReader:
    """The JSON or form body of a route: content-type checks, strict parsing, validation."""

    def __init__(
        self,
        plan: Plan,
        max_body: int | None,
        untyped_json: bool = False,
        strict_json: bool = True,
    ) -> None:
        self.max_body = max_body
        self.untyped_json = untyped_json  # a body without Content-Type is read as JSON
        body = plan.body_fields
        form = plan.form_fields
        self.body_mode: BodyMode = "json" if body else "form"
        if body:
            self.body_keys = [f.key for f in body]
            self.body_required = any(f.required for f in body)
            if body_is_embedded(body):
                fields = {
                    f"b{i}": (f.annotation, f.field_info(validation_alias=f.alias))
                    for i, f in enumerate(body)
                }
                self.body_model: type[BaseModel] | None = _model("RequestBody", fields)
                self.body_adapter: TypeAdapter[Any] = adapter(self.body_model)
                self.body_rename: dict[str | int, list[str | int]] = {
                    f.alias: ["body", f.alias] for f in body
                }
                self.body_idents = {f.key: f"b{i}" for i, f in enumerate(body)}
            else:
                only = body[0]
                self.body_model = None
                default = only.default
                self.body_default = None if default is PydanticUndefined else default
                # `deprecated` documents the parameter; on a bare adapter pydantic warns about it
                info = only.field_info(deprecated=None)
                self.body_adapter = adapter(_annotated(only.annotation, info))
            # JSON numbers and booleans refuse strings (``"9.99"``): the strict flags go into
            # the schema once, here, so validation costs what lax validation costs.
            self.body_validator: Any = self.body_adapter
            schema = self.body_adapter.core_schema
            if strict_json:
                schema, self.body_validator = _json.strict_numbers(schema)
            # One parse: validate jiter's Python value unless JSON mode would differ.
            self.from_python = _json.python_validation_is_exact(schema)
        else:
            self.form_specs = form
            self.form_model_field = form[0] if is_model_form(form) else None
            value_fields = [f for f in form if f.location == "form"]
            self.file_specs = [f for f in form if f.location == "file"]
            self.form_order = {f.alias: i for i, f in enumerate(form)}
            if self.form_model_field is not None:
                base = self.form_model_field.annotation
                self.form_adapter: TypeAdapter[Any] | None = adapter(base)
                self.form_model: type[BaseModel] | None = None
            else:
                self.form_adapter = None
                fields = {
                    f"f{i}": (f.annotation, f.field_info(validation_alias=f.alias))
                    for i, f in enumerate(value_fields)
                }
                self.form_model = _model("RequestForm", fields) if fields else None
                self.form_idents = {f.key: f"f{i}" for i, f in enumerate(value_fields)}
                self.form_values = value_fields

    async def read(self, request: Request, values: dict[str, Any]) -> None:
        """Read, check and validate the body into ``values``."""
        if self.body_mode == "json":
            await self._read_json(request, values)
        else:
            await self._read_form(request, values)

    async def _read_json(self, request: Request, values: dict[str, Any]) -> None:
        body = await request.body()
        if not body:
            if self.body_model is None:  # one body value
                if self.body_required:
                    raise RequestValidationError(
                        [{"loc": ["body"], "msg": "Field required", "type": "missing"}]
                    )
                values[self.body_keys[0]] = self.body_default
                return
            body = b"{}"  # embedded values: each required one is reported missing
        else:
            ctype = _content_type(request.scope)
            if not is_json_media_type(ctype) and not (self.untyped_json and not ctype):
                raise HTTPError(
                    415,
                    "The body must be JSON: send it with Content-Type: application/json"
                    + (f" (got {ctype[:60]!r})" if ctype else ""),
                )
        try:
            parsed = _json.validate(body, self.body_validator, self.from_python)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            for e in errors:
                if e["type"] == "json_invalid":  # pydantic's parser stricter than jiter's
                    raise _json.MalformedJSON(str(e.get("msg", ""))[:160]) from None
            if self.body_model is None:
                items = convert_errors(errors, prefix=["body"])
            else:
                items = convert_errors(errors, rename=self.body_rename)
                for item in items:
                    if item["loc"] and item["loc"][0] != "body":
                        item["loc"] = ["body", *item["loc"]]
            raise RequestValidationError(items, body=_parsed_or_none(body)) from None
        if self.body_model is None:
            values[self.body_keys[0]] = parsed
        else:
            data = parsed.__dict__
            for key, ident in self.body_idents.items():
                values[key] = data[ident]

    async def _read_form(self, request: Request, values: dict[str, Any]) -> None:
        max_file = self.max_body
        form = await request.form(max_file_size=max_file)
        if self.form_adapter is not None and self.form_model_field is not None:
            raw = {k: (v if len(vs := form.getlist(k)) == 1 else vs) for k, v in form.items()}
            try:
                values[self.form_model_field.key] = self.form_adapter.validate_python(raw)
            except ValidationError as exc:
                raise RequestValidationError(
                    convert_errors(exc.errors(include_url=False), prefix=["body"]), body=raw
                ) from None
            return
        errors: list[dict[str, Any]] = []
        if self.form_model is not None:
            raw = {}
            for f in self.form_values:
                got = form.getlist(f.alias)
                got = [g for g in got if not isinstance(g, UploadFile)]
                if got:
                    raw[f.alias] = got if f.is_sequence else got[0]
            try:
                model = self.form_model.model_validate(raw)
                data = model.__dict__
                for key, ident in self.form_idents.items():
                    values[key] = data[ident]
            except ValidationError as exc:
                errors += convert_errors(exc.errors(include_url=False), prefix=["body"])
        for f in self.file_specs:
            files = [v for v in form.getlist(f.alias) if isinstance(v, UploadFile)]
            if not files:
                if f.required:
                    errors.append(
                        {"loc": ["body", f.alias], "msg": "File required", "type": "missing"}
                    )
                else:
                    values[f.key] = f.default if f.default is not PydanticUndefined else None
                continue
            base = strip_optional(split_annotated(f.annotation)[0])
            wants_bytes = base is bytes or (
                f.is_sequence and bytes in getattr(base, "__args__", ())
            )
            if wants_bytes:
                contents = [await u.read() for u in files]
                values[f.key] = contents if f.is_sequence else contents[0]
            else:
                values[f.key] = files if f.is_sequence else files[0]
        if errors:
            if len(errors) > 1:  # in declaration order, form fields and files mixed
                order = self.form_order
                errors.sort(key=lambda e: order.get(e["loc"][1] if len(e["loc"]) > 1 else "", 0))
            raise RequestValidationError(errors)


def _parsed_or_none(body: bytes) -> Any:
    """The parsed JSON body for ``RequestValidationError.body`` (``None`` if unparseable)."""
    try:
        return _json.loads(body)
    except HTTPError:
        return None


def _annotated(annotation: Any, info: Any) -> Any:
    from typing import Annotated

    return Annotated[annotation, info]


def _model_fields(spec: FieldSpec) -> list[tuple[str, str, bool]] | None:
    """For a query/header/cookie parameter typed as a model: ``(field, external, is_seq)``."""
    from keel._analysis import is_scalar_sequence

    base = strip_optional(split_annotated(spec.annotation)[0])
    if not is_pydantic_model(base):
        return None
    convert = getattr(spec.marker, "convert_underscores", True)
    out = []
    for name, field in base.model_fields.items():
        external = field.alias or name
        if spec.location == "header" and field.alias is None and convert:
            external = header_alias(name)
        out.append(
            (external if field.alias else name, external, is_scalar_sequence(field.annotation))
        )
    return out


_MISSING: Any = object()


def _lookup(
    location: str,
    name: str,
    is_seq: bool,
    query: dict[str, list[str]] | None,
    headers: dict[str, list[str]] | None,
    cookies: dict[str, str] | None,
) -> Any:
    """The raw value of a query, header or cookie parameter, or ``_MISSING``."""
    if location == "cookie":
        assert cookies is not None
        return cookies.get(name, _MISSING)
    source = query if location == "query" else headers
    assert source is not None
    found = source.get(name if location == "query" else name.lower())
    if not found:
        return _MISSING
    return found if is_seq else found[0]


def _gather(
    expand: list[tuple[str, str, bool]],
    location: str,
    query: dict[str, list[str]] | None,
    headers: dict[str, list[str]] | None,
    cookies: dict[str, str] | None,
) -> dict[str, Any]:
    """The raw values of a parameter model's fields."""
    found: dict[str, Any] = {}
    for key, external, is_seq in expand:
        value = _lookup(location, external, is_seq, query, headers, cookies)
        if value is not _MISSING:
            found[key] = value
    return found


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1"))
    return ""
