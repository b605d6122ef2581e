"""The application: ASGI entry point, dispatch, lifespan, middleware, errors and mounts."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from keel._concurrency import run_sync
from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.datastructures import State
from keel.di import DependencyOverrides, Depends
from keel.error_formats import PROBLEM_DETAILS, ErrorFormat
from keel.errors import (
    HTTPError,
    server_error,
    traceback_html,
)
from keel.middleware import Middleware
from keel.requests import DEFAULT_MAX_BODY, Request
from keel.responses import HTMLResponse, RedirectResponse, Response
from keel.routing import Mount, Route, Router, route_path

__all__ = ["App", "Handler"]

logger = logging.getLogger("keel.error")

Handler = Callable[[Request, Any], Awaitable[Response] | Response]
F = TypeVar("F", bound=Callable[..., Any])
H = TypeVar("H", bound=Callable[[Request, Any], Awaitable[Response] | Response])


class _Table:
    """The compiled route table: static paths in a dict, templated ones in a list."""

    def __init__(self) -> None:
        self.static: dict[str, dict[str, Route]] = {}
        self.dynamic: list[tuple[Any, dict[str, Route]]] = []
        # Templated routes indexed by their first path segment (when it is literal), each
        # list keeping registration order together with the routes that start with a
        # parameter; `dynamic_rest` holds only the latter.
        self.by_segment: dict[str, list[tuple[Any, dict[str, Route]]]] = {}
        self.dynamic_rest: list[tuple[Any, dict[str, Route]]] = []
        self.websocket_static: dict[str, Any] = {}
        self.websocket_dynamic: list[tuple[Any, Any]] = []
        self.mounts: list[Mount] = []

    def index(self) -> None:
        """Build the first-segment index of templated routes."""
        firsts: list[str | None] = []
        for regex, _ in self.dynamic:
            literal = regex.pattern[1:].split("(?P<", 1)[0]
            seg = literal.lstrip("/").split("/", 1)
            first = seg[0].replace("\\", "") if len(seg) > 1 else None
            firsts.append(first if first and re.escape(first) == seg[0] else None)
        self.dynamic_rest = [d for d, f in zip(self.dynamic, firsts, strict=True) if f is None]
        self.by_segment = {}
        for name in {f for f in firsts if f is not None}:
            self.by_segment[name] = [
                d for d, f in zip(self.dynamic, firsts, strict=True) if f is None or f == name
            ]

    def candidates(self, path: str) -> list[tuple[Any, dict[str, Route]]]:
        """The templated routes that may match ``path``, in registration order."""
        end = path.find("/", 1)
        first = path[1:end] if end > 0 else None
        if first is not None:
            found = self.by_segment.get(first)
            if found is not None:
                return found
        return self.dynamic_rest


class App(Router):
    """A keel application (an ASGI callable).

    Args:
        debug: Show tracebacks for unhandled errors (never in production).
        middleware: ASGI middleware, outermost first: ``Middleware(cls, **options)`` or classes.
        lifespan: An async context manager factory ``lifespan(app)`` run around serving.
        on_startup: Callables run at startup (also ``@app.on_startup``).
        on_shutdown: Callables run at shutdown (also ``@app.on_shutdown``).
        max_body_size: Default request body limit in bytes (1 MiB); ``None`` for none.
        max_form_fields: Most fields accepted in a form body.
        body_timeout: Seconds a client gets to send the whole body (408 after); ``None``
            waits forever.
        redirect_slashes: Redirect ``/path/`` to ``/path`` (and back) when only the other exists.
        title: API title (OpenAPI).
        version: API version (OpenAPI).
        description: API description (OpenAPI).
        openapi_url: Where the OpenAPI document is served (``None`` to disable).
        docs_url: Swagger UI page (``None`` to disable).
        redoc_url: ReDoc page (``None`` to disable).
        servers: OpenAPI ``servers`` list.
        dependencies: Dependencies run before every route's handler.
        summary: OpenAPI ``info.summary``.
        terms_of_service: OpenAPI ``info.termsOfService`` (a URL).
        contact: OpenAPI ``info.contact`` (``name``, ``url``, ``email``).
        license_info: OpenAPI ``info.license`` (``name`` and ``identifier`` or ``url``).
        openapi_tags: Tag descriptions and order, ``[{"name": ..., "description": ...}]``.
        swagger_ui_parameters: Extra Swagger UI configuration.
        swagger_ui_init_oauth: Swagger UI ``initOAuth`` settings.
        redoc_options: Extra ReDoc options.
        error_format: How every error response is written and documented
            (:class:`~keel.error_formats.ProblemDetails`, RFC 9457, by default; see
            :mod:`keel.error_formats`).
    """

    def __init__(
        self,
        *,
        debug: bool = False,
        middleware: Sequence[Any] = (),
        lifespan: Callable[[App], contextlib.AbstractAsyncContextManager[Any]] | None = None,
        on_startup: Sequence[Callable[[], Any]] = (),
        on_shutdown: Sequence[Callable[[], Any]] = (),
        max_body_size: int | None = DEFAULT_MAX_BODY,
        max_form_fields: int = 1000,
        body_timeout: float | None = 30.0,
        redirect_slashes: bool = True,
        title: str = "keel",
        version: str = "0.1.0",
        description: str | None = None,
        openapi_url: str | None = "/openapi.json",
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        servers: Sequence[dict[str, Any]] | None = None,
        dependencies: Sequence[Depends] = (),
        summary: str | None = None,
        terms_of_service: str | None = None,
        contact: dict[str, Any] | None = None,
        license_info: dict[str, Any] | None = None,
        openapi_tags: Sequence[dict[str, Any]] | None = None,
        swagger_ui_parameters: dict[str, Any] | None = None,
        swagger_ui_init_oauth: dict[str, Any] | None = None,
        redoc_options: dict[str, Any] | None = None,
        error_format: ErrorFormat | None = None,
    ) -> None:
        super().__init__(dependencies=dependencies)
        self.debug = debug
        self.state = State()
        self.max_body_size = max_body_size
        self.max_form_fields = max_form_fields
        self.body_timeout = body_timeout
        self.redirect_slashes = redirect_slashes
        self.title = title
        self.version = version
        self.description = description
        self.openapi_url = openapi_url
        self.docs_url = docs_url
        self.redoc_url = redoc_url
        self.servers = list(servers or [])
        self.summary = summary
        self.terms_of_service = terms_of_service
        self.contact = contact
        self.license_info = license_info
        self.openapi_tags = list(openapi_tags) if openapi_tags else None
        self.swagger_ui_parameters = swagger_ui_parameters
        self.swagger_ui_init_oauth = swagger_ui_init_oauth
        self.redoc_options = redoc_options
        self.lifespan_context = lifespan
        self.startup_handlers: list[Callable[[], Any]] = list(on_startup)
        self.shutdown_handlers: list[Callable[[], Any]] = list(on_shutdown)
        self.user_middleware: list[Middleware] = [Middleware.coerce(m) for m in middleware]
        self.exception_handlers: dict[type[BaseException], Handler] = {}
        self.status_handlers: dict[int, Handler] = {}
        self.error_format: ErrorFormat = error_format or PROBLEM_DETAILS
        self.dependency_overrides = DependencyOverrides()
        self._handler_cache: dict[type[BaseException], Handler | None] = {}
        self._stack: ASGIApp | None = None
        self._table: _Table | None = None
        self._compiled_version = -1
        self.extensions: dict[str, Any] = {}
        self._builtins_installed = False

    # -- registration ------------------------------------------------------------------------

    def _changed(self) -> None:
        self._table = None

    def on_startup(self, fn: F) -> F:
        """Decorator: run ``fn`` (async or sync) when the server starts."""
        self.startup_handlers.append(fn)
        return fn

    def on_shutdown(self, fn: F) -> F:
        """Decorator: run ``fn`` (async or sync) when the server stops."""
        self.shutdown_handlers.append(fn)
        return fn

    def exception_handler(self, exc_class: type[BaseException] | int) -> Callable[[H], H]:
        """Decorator: handle exceptions of ``exc_class`` (or an HTTP status) with ``fn``.

        The handler is called as ``handler(request, exc)`` and returns a ``Response``; it
        may also raise, e.g. an ``HTTPError``, which is then handled like any other.
        """

        def decorator(fn: H) -> H:
            self.add_exception_handler(exc_class, fn)
            return fn

        return decorator

    def add_exception_handler(
        self,
        exc_class: type[BaseException] | int,
        handler: Callable[[Request, Any], Awaitable[Response] | Response],
    ) -> None:
        """Register ``handler(request, exc)`` for ``exc_class`` or an HTTP error status.

        A status handler gets every ``HTTPError`` with that status and comes before the
        class handlers.
        """
        if isinstance(exc_class, int) and not isinstance(exc_class, bool):
            if not 400 <= exc_class <= 599:
                raise ValueError(f"An error handler's status must be 4xx or 5xx, got {exc_class}")
            self.status_handlers[exc_class] = handler
        elif isinstance(exc_class, type) and issubclass(exc_class, BaseException):
            self.exception_handlers[exc_class] = handler
        else:
            raise TypeError(
                f"exception_handler() takes an exception class or an HTTP status, got {exc_class!r}"
            )
        self._handler_cache.clear()

    def add_middleware(self, cls: Callable[..., ASGIApp], *args: Any, **options: Any) -> None:
        """Wrap the app in ``cls(app, *args, **options)``; the last added runs first."""
        if self._stack is not None:
            raise RuntimeError("Middleware cannot be added after the application has started")
        self.user_middleware.insert(0, Middleware(cls, *args, **options))

    def mount(
        self, path: str, app: Any, *, name: str | None = None, wsgi: bool | None = None
    ) -> None:
        """Serve ``app`` under ``path``.

        ``app`` is an ASGI application, or a WSGI one (Flask, Django…), which is detected (or
        forced with ``wsgi=True``) and run through a2wsgi in a thread pool.
        """
        if wsgi is None:
            wsgi = _looks_wsgi(app)
        if wsgi:
            from a2wsgi import WSGIMiddleware

            app = WSGIMiddleware(app)
        self.mounts.append(Mount(path, app, name))
        self._changed()

    # -- compilation -------------------------------------------------------------------------

    def _compile(self) -> _Table:
        from keel._analysis import compile_plan
        from keel._endpoint import Endpoint

        table = _Table()
        self._install_builtin_routes()
        for route in self.routes:
            plan = compile_plan(
                route.endpoint, route.param_types, self.dependency_overrides, route.dependencies
            )
            route.compiled = Endpoint(route, plan, self)
            if route.regex is None:
                methods = table.static.setdefault(route.path, {})
            else:
                same = [ms for rx, ms in table.dynamic if rx.pattern == route.regex.pattern]
                if same:
                    methods = same[0]
                else:
                    methods = {}
                    table.dynamic.append((route.regex, methods))
            for m in route.methods:
                if m in methods:
                    raise ValueError(
                        f"Two routes for {m} {route.path}: {methods[m].name!r} and {route.name!r}"
                    )
                methods[m] = route
            if "GET" in route.methods and "HEAD" not in methods:
                methods.setdefault("HEAD", route)
        for ws in self.websocket_routes:
            ws.compile(self)
            if ws.regex is None:
                table.websocket_static[ws.path] = ws
            else:
                table.websocket_dynamic.append((ws.regex, ws))
        table.index()
        table.mounts = sorted(self.mounts, key=lambda m: len(m.path), reverse=True)
        self._compiled_version = self.dependency_overrides.version
        self._table = table
        return table

    def _install_builtin_routes(self) -> None:
        if self._builtins_installed:
            return
        self._builtins_installed = True
        if self.openapi_url or self.docs_url or self.redoc_url:
            try:
                openapi = importlib.import_module("keel.openapi")
            except ImportError:  # the generator is not available in this build
                return
            before = len(self.routes)
            openapi.install_docs_routes(self)
            # Built-in routes go first so that a catch-all user route cannot shadow them.
            self.routes[:] = self.routes[before:] + self.routes[:before]

    def build(self) -> None:
        """Compile routes, dependency plans and the middleware stack (done at startup)."""
        self._compile()
        stack: ASGIApp = self._dispatch
        for mw in reversed(self.user_middleware):
            stack = mw.build(stack)
        if self.user_middleware:
            stack = _ServerErrors(stack, self)
        self._stack = stack

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        scope["app"] = self
        stack = self._stack
        if stack is None:
            self.build()
            stack = self._stack
            assert stack is not None
        await stack(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        table = self._table
        if table is None or self._compiled_version != self.dependency_overrides.version:
            table = self._compile()
        kind = scope["type"]
        if kind == "http":
            await self._http(table, scope, receive, send)
        elif kind == "websocket":
            await self._websocket(table, scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, table: _Table, scope: Scope, receive: Receive, send: Send) -> None:
        root, path = route_path(scope)
        methods = table.static.get(path)
        if methods is None:
            for regex, candidate in table.candidates(path):
                m = regex.match(path)
                if m is not None:
                    methods = candidate
                    scope["path_params"] = m.groupdict()
                    break
        if methods is not None:
            route = methods.get(scope["method"])
            if route is not None:
                scope["route"] = route
                endpoint = route.compiled
                assert endpoint is not None
                await endpoint(scope, receive, send)
                return
            await self._method_not_allowed(methods, scope, receive, send)
            return
        if await _to_mount(table, root, path, scope, receive, send):
            return
        if self.redirect_slashes and path != "/" and scope["method"] in ("GET", "HEAD"):
            other = path[:-1] if path.endswith("/") else path + "/"
            if other in table.static or any(r.match(other) for r, _ in table.dynamic):
                target = root + other
                qs = scope.get("query_string", b"")
                if qs:
                    target += "?" + qs.decode("latin-1")
                await RedirectResponse(target, 307)(scope, receive, send)
                return
        await self._error(404, f"No route for {_short(path)}", scope, receive, send)

    async def _method_not_allowed(
        self, methods: dict[str, Route], scope: Scope, receive: Receive, send: Send
    ) -> None:
        allowed = sorted({*methods, "OPTIONS"})
        allow = ", ".join(allowed)
        if scope["method"] == "OPTIONS":
            await Response(b"", 204, {"allow": allow})(scope, receive, send)
            return
        await self._error(
            405,
            f"Method {scope['method']} is not allowed here; allowed: {allow}",
            scope,
            receive,
            send,
            {"allow": allow},
        )

    async def _error(
        self,
        status: int,
        detail: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str] | None = None,
    ) -> None:
        exc = HTTPError(status, detail, headers)
        response = await self.handle_exception(Request(scope, receive), exc)
        await response(scope, receive, send)

    async def _websocket(self, table: _Table, scope: Scope, receive: Receive, send: Send) -> None:
        root, path = route_path(scope)
        route = table.websocket_static.get(path)
        if route is None:
            for regex, candidate in table.websocket_dynamic:
                m = regex.match(path)
                if m is not None:
                    scope["path_params"] = m.groupdict()
                    route = candidate
                    break
        if route is not None:
            await route.handle(scope, receive, send)
            return
        if await _to_mount(table, root, path, scope, receive, send):
            return
        # No websocket route: refuse before accepting (the server answers HTTP 403).
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1008, "reason": "No such endpoint"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        stack = contextlib.AsyncExitStack()
        try:
            await stack.__aenter__()
            if self.lifespan_context is not None:
                await stack.enter_async_context(self.lifespan_context(self))
            for fn in self.startup_handlers:
                await _call(fn)
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                await stack.aclose()
            await send(
                {"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"}
            )
            raise  # the server logs it and exits; test clients re-raise it
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        try:
            for fn in self.shutdown_handlers:
                await _call(fn)
            await stack.aclose()
        except BaseException as exc:
            logger.exception("Application shutdown failed")
            await send(
                {"type": "lifespan.shutdown.failed", "message": f"{type(exc).__name__}: {exc}"}
            )
            return
        await send({"type": "lifespan.shutdown.complete"})

    # -- errors ------------------------------------------------------------------------------

    def _lookup_handler(self, exc: BaseException) -> Handler | None:
        if self.status_handlers and isinstance(exc, HTTPError):
            by_status = self.status_handlers.get(exc.status)
            if by_status is not None:
                return by_status
        cls = type(exc)
        try:
            return self._handler_cache[cls]
        except KeyError:
            pass
        found = None
        for klass in cls.__mro__:
            if klass in self.exception_handlers:
                found = self.exception_handlers[klass]
                break
        self._handler_cache[cls] = found
        return found

    async def handle_exception(self, request: Request, exc: BaseException) -> Response:
        """Turn ``exc`` into a response: the registered handler's, or the error format's.

        A handler may raise: what it raises (an ``HTTPError`` or any other exception) goes
        through the same lookup, each handler being used at most once per request, so a
        handler that raises what it handles ends at the error format. An exception that no
        handler answers becomes a 500 ``HTTPError``, which goes through the lookup too.
        """
        used: list[Handler] = []
        original = exc
        while True:
            handler = self._lookup_handler(exc)
            if handler is not None and handler not in used:
                used.append(handler)
                try:
                    if inspect.iscoroutinefunction(handler):
                        result = await handler(request, exc)
                    else:
                        result = await run_sync(handler, request, exc)
                except Exception as raised:  # an HTTPError or not: looked up in turn
                    exc = raised
                    continue
                if isinstance(result, Response):
                    return result
                name = getattr(handler, "__qualname__", handler)
                exc = TypeError(f"Exception handler {name} returned {result!r}, not a Response")
                continue
            if isinstance(exc, HTTPError):
                return self.error_format.render(request, exc)
            if exc is not original:  # a handler failed: nobody else will log it
                logger.error("Exception handler failed", exc_info=exc)
            if self.debug and "text/html" in request.headers.get("accept", ""):
                return HTMLResponse(traceback_html(exc, request.method, request.path), 500)
            exc = server_error(exc, debug=self.debug)

    def is_unhandled(self, exc: BaseException) -> bool:
        """Whether ``exc`` got the default 500 (no handler; not an ``HTTPError``)."""
        return not isinstance(exc, HTTPError) and self._lookup_handler(exc) is None

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in."""
        return super().url_path_for(name, **params)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of this app (needs the OpenAPI generator, ``keel.openapi``)."""
        openapi = importlib.import_module("keel.openapi")
        document: dict[str, Any] = openapi.get_openapi_document(self)
        return document


class _ServerErrors:
    """Outermost guard when user middleware is present: unhandled errors become 500s."""

    def __init__(self, app: ASGIApp, owner: App) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception as exc:
            if started:
                raise
            response = await self.owner.handle_exception(Request(scope, receive), exc)
            await response(scope, receive, send)
            if self.owner.is_unhandled(exc):
                raise


async def _to_mount(
    table: _Table, root: str, path: str, scope: Scope, receive: Receive, send: Send
) -> bool:
    """Hand the request to the mounted app whose prefix matches, if any."""
    for mount in table.mounts:
        if path == mount.path or path.startswith(mount.path + "/"):
            child = dict(scope)
            child["root_path"] = root + mount.path
            await mount.app(child, receive, send)
            return True
    return False


async def _call(fn: Callable[[], Any]) -> None:
    if inspect.iscoroutinefunction(fn):
        await fn()
    else:
        result = await run_sync(fn)
        if inspect.isawaitable(result):
            await result


def _looks_wsgi(app: Any) -> bool:
    if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(
        getattr(app, "__call__", None)  # noqa: B004
    ):
        return False
    if hasattr(app, "wsgi_app"):
        return True
    try:
        params = list(inspect.signature(app).parameters.values())
    except (TypeError, ValueError):
        return False
    return len(params) == 2


def _short(path: str) -> str:
    from keel.errors import safe_text

    return safe_text(path, 100)
