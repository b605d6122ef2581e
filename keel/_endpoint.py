"""The per-request executor of one route, compiled from its :class:`~keel._analysis.Plan`."""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

from pydantic_core import ValidationError, to_json

from keel._analysis import (
    BACKGROUND,
    DEP,
    FIELD,
    REQUEST,
    RESPONSE,
    Plan,
    split_annotated,
    strip_optional,
)
from keel._concurrency import run_sync
from keel._inputs import BodyReader, ParamReader, adapter
from keel._schema import SimpleAdapter, is_pydantic_model, simple_schema
from keel._types import Receive, Scope, Send
from keel.background import BackgroundTasks
from keel.errors import ResponseValidationError, convert_errors
from keel.requests import Request
from keel.responses import Response

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from keel.routing import Route

logger = logging.getLogger("keel.error")

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
        self.params = ParamReader(plan.params) if plan.params else None
        self.body = (
            BodyReader(plan, self.max_body) if plan.body_fields or plan.form_fields else None
        )
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

    # -- request time ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request whose route has matched."""
        request: Request | None = None
        sent_error: Exception | None = None
        try:
            if self.simple and self.params is None and self.body is None:
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
        if self.params is not None:
            self.params.read(scope, values)
        if self.body is not None:
            await self.body.read(request, values)
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
