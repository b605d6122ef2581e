"""The per-request executor of one route, compiled from its :class:`~keel._analysis.Plan`."""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from pydantic_core import PydanticUndefined, SchemaValidator, ValidationError, to_json

from keel import _json
from keel._analysis import (
    BACKGROUND,
    DEP,
    FIELD,
    REQUEST,
    RESPONSE,
    FieldSpec,
    Plan,
    body_is_embedded,
    is_model_form,
    split_annotated,
    strip_optional,
)
from keel._concurrency import run_sync
from keel._schema import SimpleAdapter, is_pydantic_model, simple_params_schema, simple_schema
from keel._types import Receive, Scope, Send
from keel.background import BackgroundTasks
from keel.errors import HTTPError, RequestValidationError, convert_errors
from keel.requests import Request, UploadFile, parse_cookies
from keel.responses import Response

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter

    from keel.routing import Route

logger = logging.getLogger("keel.error")

_JSON_CT = (b"content-type", b"application/json")


class ResponseValidationError(Exception):
    """A handler returned a value that does not match its declared response schema."""

    def __init__(self, route: str, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__(f"Response of {route} does not match its declared schema: {errors}")


def _model(name: str, fields: dict[str, Any]) -> type[BaseModel]:
    from pydantic import ConfigDict, create_model

    config = ConfigDict(allow_inf_nan=False, arbitrary_types_allowed=True)
    model: type[BaseModel] = create_model(name, __config__=config, **fields)
    return model


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(annotation)


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
        self.adapter = SimpleAdapter(schema) if schema is not None else _adapter(annotation)
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


class Endpoint:
    """Executes one route: extract and validate input, run the dependency plan and the
    handler, serialize the result, send the response, run teardown."""

    def __init__(self, route: Route, plan: Plan, app: Any) -> None:
        self.route = route
        self.app = app
        self.plan = plan
        self.status = route.status
        self.max_body = (
            route.max_body_size if route.max_body_size is not None else app.max_body_size
        )
        self.response_class = route.response_class
        where = getattr(route.endpoint, "__qualname__", route.path)
        self.serializer = Serializer(route.response_annotation, where)
        self._compile_params(plan.params)
        self._compile_body(plan)
        steps = plan.steps
        self.steps = steps
        self.handler = steps[-1]
        self.simple = (
            len(steps) == 1
            and not plan.uses_request
            and not plan.uses_background
            and not plan.uses_response
            and not plan.has_generators
        )
        self.empty_body = self.status < 200 or self.status in (204, 304)

    # -- compilation -------------------------------------------------------------------------

    def _compile_params(self, params: list[FieldSpec]) -> None:
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

    def _compile_body(self, plan: Plan) -> None:
        self.body_mode = ""
        body = plan.body_fields
        form = plan.form_fields
        if body:
            self.body_mode = "json"
            self.body_keys = [f.key for f in body]
            self.body_required = any(f.required for f in body)
            if body_is_embedded(body):
                fields = {
                    f"b{i}": (f.annotation, f.field_info(validation_alias=f.alias))
                    for i, f in enumerate(body)
                }
                self.body_model: type[BaseModel] | None = _model("RequestBody", fields)
                self.body_adapter: TypeAdapter[Any] = _adapter(self.body_model)
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
                self.body_adapter = _adapter(_annotated(only.annotation, info))
        elif form:
            self.body_mode = "form"
            self.form_specs = form
            self.form_model_field = form[0] if is_model_form(form) else None
            value_fields = [f for f in form if f.location == "form"]
            self.file_specs = [f for f in form if f.location == "file"]
            if self.form_model_field is not None:
                base = self.form_model_field.annotation
                self.form_adapter: TypeAdapter[Any] | None = _adapter(base)
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

    # -- request time ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request whose route has matched."""
        request: Request | None = None
        sent_error: Exception | None = None
        try:
            if self.simple and not self.sources and not self.body_mode:
                step = self.handler
                if step.kind == "async":
                    result = await step.call()
                else:
                    result = await run_sync(step.call)
                if isinstance(result, Response):
                    await result(scope, receive, send)
                    return
                await self._send_value(scope, send, result, None)
                return
            request = Request(scope, receive, self.max_body)
            sent_error = await self._run(request, scope, receive, send)
        except Exception as exc:
            if request is None:
                request = Request(scope, receive, self.max_body)
            response = await self.app.handle_exception(request, exc)
            await response(scope, receive, send)
            if self.app.is_unhandled(exc):
                raise  # after the 500 went out: the server logs it, test clients re-raise
        finally:
            if request is not None and request._form is not None:
                await request._form.close()
        if sent_error is not None:
            raise sent_error  # its 500 went out already: the server logs it

    def _render(self, scope: Scope, value: Any, temporal: Response | None) -> _Ready:
        """Serialize a non-``Response`` return value into status, headers and body."""
        if self.empty_body:
            body = b""
            headers: list[tuple[bytes, bytes]] = []
        else:
            body = self.serializer(value)
            headers = [_JSON_CT, (b"content-length", b"%d" % len(body))]
        status = self.status
        if temporal is not None:
            if temporal.status_code != 200:
                status = temporal.status_code
            headers += [h for h in temporal.raw_headers if h[0] != b"content-length"]
            if temporal._cookies:
                headers += temporal._cookie_headers(scope)
        return _Ready(status, headers, body)

    async def _send_value(
        self, scope: Scope, send: Send, value: Any, temporal: Response | None
    ) -> None:
        rc = self.response_class
        if rc is not None:
            response = rc(value, self.status)
            if temporal is not None:
                _merge(response, temporal)
            await response(scope, _no_receive, send)
            return
        await self._render(scope, value, temporal).send(scope, send)

    async def _run(
        self, request: Request, scope: Scope, receive: Receive, send: Send
    ) -> Exception | None:
        """Run the route; returns an unhandled error whose 500 was already sent."""
        values: dict[str, Any] = {}
        if self.sources:
            self._extract_params(scope, values)
        if self.body_mode == "json":
            await self._read_json(request, values)
        elif self.body_mode == "form":
            await self._read_form(request, values)
        plan = self.plan
        background = BackgroundTasks() if plan.uses_background else None
        temporal = Response() if plan.uses_response else None
        if not plan.has_generators:
            result = await self._call_steps(request, values, background, temporal, None, None)
            if isinstance(result, Response):
                if temporal is not None:
                    _merge(result, temporal)
                await self._send_response(result, scope, receive, send, background)
            else:
                await self._send_value(scope, send, result, temporal)
                if background is not None and background.tasks:
                    await background()
            return None
        fn_exits: list[tuple[Any, bool]] = []
        req_exits: list[tuple[Any, bool]] = []
        error: Exception | None = None
        ready: Response | _Ready
        try:
            try:
                result = await self._call_steps(
                    request, values, background, temporal, fn_exits, req_exits
                )
                # Serialize while function-scoped resources are still open.
                if isinstance(result, Response):
                    if temporal is not None:
                        _merge(result, temporal)
                    ready = result
                elif self.response_class is not None:
                    ready = self.response_class(result, self.status)
                    if temporal is not None:
                        _merge(ready, temporal)
                else:
                    ready = self._render(scope, result, temporal)
            except BaseException as exc:
                still = await _unwind(fn_exits, exc)
                if still is None:
                    raise RuntimeError(
                        "A dependency swallowed an exception raised by the handler; re-raise "
                        "it after `yield`"
                    ) from exc
                raise still from None if still is exc else exc
            if fn_exits:
                failed = await _unwind(fn_exits, None)
                if failed is not None:
                    raise failed
        except Exception as exc:
            error = exc
            ready = await self.app.handle_exception(request, exc)
            background = None
        try:
            if isinstance(ready, _Ready):
                await ready.send(scope, send)
                if background is not None and background.tasks:
                    await background()
            else:
                await self._send_response(ready, scope, receive, send, background)
        finally:
            await _close_request_scope(req_exits, error)
        if error is not None and self.app.is_unhandled(error):
            return error
        return None

    async def _send_response(
        self,
        response: Response,
        scope: Scope,
        receive: Receive,
        send: Send,
        background: BackgroundTasks | None,
    ) -> None:
        if background is not None and background.tasks:
            if response.background is None:
                response.background = background
            else:
                response.background = BackgroundTasks([response.background, background])
        await response(scope, receive, send)

    async def _call_steps(
        self,
        request: Request,
        values: dict[str, Any],
        background: BackgroundTasks | None,
        temporal: Response | None,
        fn_exits: list[tuple[Any, bool]] | None,
        req_exits: list[tuple[Any, bool]] | None,
    ) -> Any:
        results: list[Any] = [None] * len(self.steps)
        result: Any = None
        for step in self.steps:
            kwargs: dict[str, Any] = {}
            for arg in step.args:
                src = arg.source
                if src == FIELD:
                    kwargs[arg.name] = values[arg.ref]
                elif src == DEP:
                    kwargs[arg.name] = results[arg.ref]
                elif src == REQUEST:
                    kwargs[arg.name] = request
                elif src == BACKGROUND:
                    kwargs[arg.name] = background
                elif src == RESPONSE:
                    kwargs[arg.name] = temporal
                else:
                    raise TypeError(f"{arg.name!r} cannot be injected into an HTTP route")
            kind = step.kind
            if kind == "async":
                result = await step.call(**kwargs)
            elif kind == "sync":
                result = await run_sync(step.call, **kwargs)
            else:
                assert fn_exits is not None and req_exits is not None
                exits = fn_exits if step.scope == "function" else req_exits
                if kind == "agen":
                    gen = step.call(**kwargs)
                    try:
                        result = await gen.__anext__()
                    except StopAsyncIteration:
                        raise RuntimeError(f"Dependency {step.call!r} did not yield") from None
                    exits.append((gen, True))
                else:
                    gen = await run_sync(step.call, **kwargs)
                    result = await run_sync(_sync_next, gen)
                    if result is _STOP:
                        raise RuntimeError(f"Dependency {step.call!r} did not yield")
                    exits.append((gen, False))
            results[step.index] = result
        return result

    def _extract_params(self, scope: Scope, values: dict[str, Any]) -> None:
        raw: dict[str, Any] = {}
        query: dict[str, list[str]] | None = None
        headers: dict[str, list[str]] | None = None
        cookies: dict[str, str] | None = None
        if self.need_query:
            query = _parse_query(scope.get("query_string", b""))
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
            if location == "cookie":
                assert cookies is not None
                if alias in cookies:
                    raw[ident] = cookies[alias]
                continue
            source = query if location == "query" else headers
            assert source is not None
            found = source.get(alias if location == "query" else alias.lower())
            if found:
                raw[ident] = found if is_seq else found[0]
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

    async def _read_json(self, request: Request, values: dict[str, Any]) -> None:
        body = await request.body()
        if not body:
            if self.body_required:
                raise RequestValidationError(
                    [{"loc": ["body"], "msg": "Field required", "type": "missing"}]
                )
            if self.body_model is None:
                values[self.body_keys[0]] = self.body_default
                return
            body = b"{}"
        else:
            ctype = _content_type(request.scope)
            if not _is_json(ctype):
                raise HTTPError(
                    415,
                    "The body must be JSON: send it with Content-Type: application/json"
                    + (f" (got {ctype[:60]!r})" if ctype else ""),
                )
            _json.check(body)
        try:
            parsed = self.body_adapter.validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            for e in errors:
                if e["type"] == "json_invalid":
                    reason = _json.json_invalid_reason(str(e.get("msg", "")))
                    raise _json.MalformedJSON(reason) from None
            if self.body_model is None:
                items = convert_errors(errors, prefix=["body"])
            else:
                items = convert_errors(errors, rename=self.body_rename)
                for item in items:
                    if item["loc"] and item["loc"][0] != "body":
                        item["loc"] = ["body", *item["loc"]]
            raise RequestValidationError(items) from None
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
                    convert_errors(exc.errors(include_url=False), prefix=["body"])
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
            raise RequestValidationError(errors)


async def _close_request_scope(exits: list[tuple[Any, bool]], error: Exception | None) -> None:
    """Run request-scoped teardown after the response was sent; log what goes wrong there."""
    if not exits:
        return
    try:
        failed = await _unwind(exits, error)
    except BaseException:  # pragma: no cover - _unwind returns rather than raises
        logger.exception("Error in dependency teardown after the response was sent")
        return
    if failed is not None and failed is not error:
        logger.error("Error in dependency teardown after the response was sent", exc_info=failed)


class _Ready:
    """A serialized JSON (or empty) response waiting to be sent."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def send(self, scope: Scope, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        body = b"" if scope["method"] == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body})


_STOP: Any = object()


def _sync_next(gen: Any) -> Any:
    try:
        return next(gen)
    except StopIteration:
        return _STOP


def _sync_throw(gen: Any, exc: BaseException) -> Any:
    try:
        return gen.throw(exc)
    except StopIteration:
        return _STOP


async def _unwind(exits: list[tuple[Any, bool]], exc: BaseException | None) -> BaseException | None:
    """Finish generator dependencies in reverse order, like nested ``with`` blocks.

    ``exc`` is thrown in at ``yield``; a generator may swallow it (then ``None`` goes on
    outward) or raise another. Returns the exception still propagating, if any.
    """
    while exits:
        gen, is_async = exits.pop()
        try:
            if exc is None:
                if is_async:
                    try:
                        await gen.__anext__()
                    except StopAsyncIteration:
                        continue
                elif await run_sync(_sync_next, gen) is _STOP:
                    continue
                raise RuntimeError(f"Dependency generator {gen!r} yielded more than once")
            if is_async:
                try:
                    await gen.athrow(exc)
                except StopAsyncIteration:
                    exc = None
                    continue
            elif await run_sync(_sync_throw, gen, exc) is _STOP:
                exc = None
                continue
            raise RuntimeError(f"Dependency generator {gen!r} yielded more than once")
        except BaseException as raised:
            if raised is not exc and exc is not None and raised.__context__ is None:
                raised.__context__ = exc
            exc = raised
    return exc


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def _annotated(annotation: Any, info: Any) -> Any:
    from typing import Annotated

    return Annotated[annotation, info]


def _merge(response: Response, temporal: Response) -> None:
    for k, v in temporal.raw_headers:
        if k not in (b"content-length", b"content-type"):
            response.raw_headers.append((k, v))
    if temporal._cookies:
        if response._cookies is None:
            response._cookies = []
        response._cookies.extend(temporal._cookies)
    if temporal.status_code != 200:
        response.status_code = temporal.status_code


def _model_fields(spec: FieldSpec) -> list[tuple[str, str, bool]] | None:
    """For a query/header/cookie parameter typed as a model: ``(field, external, is_seq)``."""
    from keel._analysis import is_scalar_sequence

    base = strip_optional(split_annotated(spec.annotation)[0])
    if not is_pydantic_model(base):
        return None
    out = []
    for name, field in base.model_fields.items():
        external = field.alias or name
        if spec.location == "header" and field.alias is None:
            external = name.replace("_", "-")
        out.append(
            (external if field.alias else name, external, is_scalar_sequence(field.annotation))
        )
    return out


def _gather(
    expand: list[tuple[str, str, bool]],
    location: str,
    query: dict[str, list[str]] | None,
    headers: dict[str, list[str]] | None,
    cookies: dict[str, str] | None,
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, external, is_seq in expand:
        if location == "cookie":
            assert cookies is not None
            if external in cookies:
                found[key] = cookies[external]
            continue
        source = query if location == "query" else headers
        assert source is not None
        values = source.get(external if location == "query" else external.lower())
        if values:
            found[key] = values if is_seq else values[0]
    return found


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1"))
    return ""


def _is_json(ctype: str) -> bool:
    mt = ctype.split(";", 1)[0].strip().lower()
    return mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json"))


def _parse_query(qs: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not qs:
        return out
    try:
        text = qs.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPError(400, "The query string is not valid UTF-8") from None
    if "%" not in text and "+" not in text:
        # Nothing to decode: split by hand (several times faster than parse_qsl).
        for part in text.split("&"):
            if part:
                k, _, v = part.partition("=")
                out.setdefault(k, []).append(v)
        return out
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise HTTPError(400, "The query string is not valid UTF-8") from None
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out
