"""The per-request executor of one route, compiled from its :class:`~keel._analysis.Plan`.

Inputs are read by :mod:`keel._inputs`, return values serialized by :mod:`keel._serialize`
and generator dependencies finished by :mod:`keel._teardown`; this module runs the steps and
sends what comes out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keel._analysis import BACKGROUND, CONSTANT, DEP, FIELD, REQUEST, RESPONSE, Plan
from keel._concurrency import run_sync
from keel._http import app_setting
from keel._inputs import BodyReader, ParamReader
from keel._serialize import Ready, Serializer, merge_sub_response, render
from keel._teardown import Exits, close_request_scope, enter, unwind
from keel._types import Receive, Scope, Send
from keel.background import BackgroundTasks
from keel.errors import KeelError
from keel.requests import Request
from keel.responses import JSONResponse, RedirectResponse, Response

if TYPE_CHECKING:
    from keel.routing import Route

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _strict_json(app: Any) -> bool:
    """Whether the JSON bodies of ``app``'s routes refuse strings for numbers and booleans."""
    if not getattr(app, "strict_json_numbers", True):  # keel.fastapi.FastAPI: lax as FastAPI
        return False
    settings = getattr(app, "settings", None)
    return bool(getattr(settings, "strict_json", True))


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
        self.response_class = route.response_class or app.default_response_class
        where = getattr(route.endpoint, "__qualname__", route.path)
        self.serializer = Serializer(
            route.response_annotation, where, route.dump_options, app.plain_serializer
        )
        self.params = (
            ParamReader(plan.params, app_setting(app, "max_query_params", None))
            if plan.params
            else None
        )
        self.body = (
            BodyReader(
                plan,
                self.max_body,
                not getattr(app, "strict_content_type", True),
                _strict_json(app),
            )
            if plan.body_fields or plan.form_fields
            else None
        )
        # keel.csrf.csrf_exempt marks a handler; app.csrf_protection is read per request.
        self.csrf = not getattr(route.endpoint, "__keel_csrf_exempt__", False)
        steps = plan.steps
        self.steps = steps
        self.handler = steps[-1]
        self.simple = (
            len(steps) == 1
            and not plan.uses_request
            and not plan.uses_background
            and not plan.uses_response
            and not plan.has_generators
            and all(arg.source != CONSTANT for arg in self.handler.args)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request whose route has matched."""
        request: Request | None = None
        sent_error: Exception | None = None
        try:
            if self.csrf and scope["method"] not in _SAFE_METHODS:
                protection = getattr(self.app, "csrf_protection", None)
                if protection is not None and _has_cookie(scope):
                    request = Request(scope, receive, self.max_body)
                    await protection.check(request)
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
            if request is None:
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

    def _prepare(self, scope: Scope, value: Any, sub_response: Response | None) -> Response | Ready:
        """The response for a return value, serialized while dependencies are still open."""
        if isinstance(value, Response):
            if sub_response is not None:
                merge_sub_response(value, sub_response)
            return value
        if self.response_class is not None:
            response = self._wrap(self.response_class, value)
            if sub_response is not None:
                merge_sub_response(response, sub_response)
            return response
        return render(self.status, self.serializer, scope, value, sub_response)

    def _wrap(self, cls: type[Response], value: Any) -> Response:
        """``value`` in the route's ``response_class`` (a URL for a redirect class)."""
        if issubclass(cls, RedirectResponse):
            if self.route.status_explicit:
                return cls(value, self.status)
            return cls(value)
        if issubclass(cls, JSONResponse):
            return cls(self.serializer.python(value), self.status)
        return cls(value, self.status)

    async def _send_value(
        self, scope: Scope, send: Send, value: Any, sub_response: Response | None
    ) -> None:
        ready = self._prepare(scope, value, sub_response)
        if isinstance(ready, Ready):
            await ready.send(scope, send)
        else:
            await ready(scope, _no_receive, send)

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
        sub_response = Response() if plan.uses_response else None
        if not plan.has_generators:
            result = await self._call_steps(request, values, background, sub_response, None, None)
            if isinstance(result, Response):
                if sub_response is not None:
                    merge_sub_response(result, sub_response)
                await _send_response(result, scope, receive, send, background)
            else:
                await self._send_value(scope, send, result, sub_response)
                if background is not None and background.tasks:
                    await background()
            return None
        fn_exits: Exits = []
        req_exits: Exits = []
        error: Exception | None = None
        ready: Response | Ready
        try:
            try:
                result = await self._call_steps(
                    request, values, background, sub_response, fn_exits, req_exits
                )
                ready = self._prepare(scope, result, sub_response)
            except BaseException as exc:
                still = await unwind(fn_exits, exc)
                if still is None:
                    raise KeelError(
                        "A dependency swallowed an exception raised by the handler (raising an "
                        "exception and a dependency with yield that catches it must re-raise "
                        "it after `yield`)"
                    ) from exc
                raise still from None if still is exc else exc
            if fn_exits:
                failed = await unwind(fn_exits, None)
                if failed is not None:
                    raise failed
        except Exception as exc:
            error = exc
            ready = await self.app.handle_exception(request, exc)
            background = None
        try:
            if isinstance(ready, Ready):
                await ready.send(scope, send)
                if background is not None and background.tasks:
                    await background()
            else:
                await _send_response(ready, scope, receive, send, background)
        finally:
            await close_request_scope(req_exits, error)
        if error is not None and self.app.is_unhandled(error):
            return error
        return None

    async def _call_steps(
        self,
        request: Request,
        values: dict[str, Any],
        background: BackgroundTasks | None,
        sub_response: Response | None,
        fn_exits: Exits | None,
        req_exits: Exits | None,
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
                    kwargs[arg.name] = sub_response
                elif src == CONSTANT:
                    kwargs[arg.name] = arg.ref
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
                result = await enter(step.call, kwargs, kind == "agen", exits)
            results[step.index] = result
        return result


async def _send_response(
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


def _has_cookie(scope: Scope) -> bool:
    """Whether the request carries cookies (CSRF checks only cookie-authenticated requests)."""
    return any(name == b"cookie" for name, _ in scope.get("headers", ()))


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}
