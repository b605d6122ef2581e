"""The application: ASGI entry point, dispatch, lifespan, middleware, errors and mounts."""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from keel._concurrency import run_sync
from keel._routetable import RouteTable
from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.datastructures import State
from keel.di import DependencyOverrides, Depends
from keel.error_formats import PROBLEM_DETAILS, ErrorFormat, HTMLErrorPages
from keel.errors import (
    HTTPError,
    server_error,
    traceback_html,
)
from keel.middleware import Middleware
from keel.requests import Request
from keel.responses import HTMLResponse, Response
from keel.routing import Router, cached_endpoint

if TYPE_CHECKING:
    from keel.csrf import CSRFProtection
    from keel.health import Health
    from keel.middleware._common import TrustedProxies
    from keel.security import Wording
    from keel.settings import Settings

__all__ = ["App", "DEFAULT_ERRORS", "Handler"]

DEFAULT_ERRORS: ErrorFormat = HTMLErrorPages(PROBLEM_DETAILS, document_pages=False)
"""The default error format: RFC 9457 problem details, and a plain HTML page for browsers."""

logger = logging.getLogger("keel.error")

Handler = Callable[[Request, Any], Awaitable[Response] | Response]
F = TypeVar("F", bound=Callable[..., Any])
H = TypeVar("H", bound=Callable[[Request, Any], Awaitable[Response] | Response])


class _Unset:
    """The type of :data:`_UNSET`: an ``App`` argument that was not given."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


class App(Router):
    """A keel application (an ASGI callable).

    Args:
        settings: The app's :class:`~keel.settings.Settings` (default: read from ``KEEL_*``
            environment variables and ``.env``); the keyword arguments below that share a
            name with a setting override it.
        debug: Show tracebacks for unhandled errors (never in production); ``False`` set
            here or in the settings means production (see :class:`~keel.settings.Settings`).
        middleware: ASGI middleware, outermost first: ``Middleware(cls, **options)`` or classes.
        lifespan: An async context manager factory ``lifespan(app)`` run around serving.
        on_startup: Callables run at startup (also ``@app.on_startup``).
        on_shutdown: Callables run at shutdown (also ``@app.on_shutdown``).
        max_body_size: Default request body limit in bytes (1 MiB); ``None`` for none.
        max_form_fields: Most fields accepted in a form body (1000).
        body_timeout: Seconds a client gets to send the whole body (408 after, 30 s);
            ``None`` waits forever.
        strict_json: JSON bodies' numbers and booleans must be JSON numbers and booleans
            (``"9.99"`` is refused for a ``float``; default ``True``); ``False`` is
            pydantic's lax mode.
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
        error_format: How every error response is written and documented: by default
            RFC 9457 problem details (:class:`~keel.error_formats.ProblemDetails`), and for
            a browser navigating (``Accept`` preferring HTML) a plain HTML page
            (:class:`~keel.error_formats.HTMLErrorPages`); see :mod:`keel.error_formats`.
        default_response_class: The response class of routes that name none
            (``response_class=``); ``None`` lets keel serialise by the declared type.
        exception_handlers: ``{exception class or status: handler}``, as
            :meth:`add_exception_handler`.
        strict_content_type: A JSON body must come with a JSON ``Content-Type`` (else 415);
            ``False`` also reads a body sent without any ``Content-Type`` as JSON (for
            clients that omit it; a browser can then post JSON cross-site without a CORS
            preflight).
        root_path: The path prefix a proxy strips before forwarding (FastAPI's
            ``root_path``): set as every request's ASGI ``root_path``, so URLs the app
            builds and its OpenAPI ``servers`` include it (uvicorn's ``--root-path`` does
            the same from outside).
    """

    plain_serializer: Callable[[Any], bytes] | None = None
    """Serialises return values of routes without a declared type (``None``: pydantic-core;
    :class:`keel.fastapi.FastAPI` uses FastAPI's encoder)."""

    first_wins = False
    """Two routes for one method and template: the first answers, with a warning (set by
    :class:`keel.fastapi.FastAPI`); keel's ``App`` refuses them at startup."""

    forms_need_form_content_type = True
    """A form route answers a body of another content type (JSON…) with 415; with ``False``
    (:class:`keel.fastapi.FastAPI`, as FastAPI) it reads it as an empty form: 422, each
    required field missing."""

    strict_json_numbers = True
    """JSON bodies' numbers and booleans refuse strings, unless ``settings.strict_json`` is
    off; :class:`keel.fastapi.FastAPI` sets ``False`` (lax, as FastAPI)."""

    asyncapi_url: str | None = "/asyncapi.json"
    """Where the AsyncAPI document is served when the app has websocket or event-stream
    routes (``None`` to disable; set on the app before it starts)."""

    asyncapi_docs_url: str | None = "/asyncapi"
    """The page listing those channels (``None`` to disable)."""

    auth_wording: Wording = "keel"
    """How security schemes word their 401s: keel's specific details and RFC challenges, or
    FastAPI's ``"Not authenticated"`` (:class:`keel.fastapi.FastAPI` sets ``"fastapi"``)."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        debug: bool | None = None,
        middleware: Sequence[Any] = (),
        lifespan: Callable[[App], contextlib.AbstractAsyncContextManager[Any]] | None = None,
        on_startup: Sequence[Callable[[], Any]] = (),
        on_shutdown: Sequence[Callable[[], Any]] = (),
        max_body_size: int | None | _Unset = _UNSET,
        max_form_fields: int | None = None,
        body_timeout: float | None | _Unset = _UNSET,
        strict_json: bool | None = None,
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
        default_response_class: type[Response] | None = None,
        exception_handlers: Mapping[type[BaseException] | int, Handler] | None = None,
        strict_content_type: bool = True,
        root_path: str = "",
    ) -> None:
        super().__init__(dependencies=dependencies)
        self.settings: Settings = _resolve_settings(
            settings,
            debug=debug,
            max_body_size=max_body_size,
            max_form_fields=max_form_fields,
            body_timeout=body_timeout,
            strict_json=strict_json,
        )
        self.debug: bool = bool(self.settings.debug)
        self.state = State()
        self.max_body_size: int | None = self.settings.max_body_size
        self.max_form_fields: int = self.settings.max_form_fields
        self.body_timeout: float | None = self.settings.body_timeout
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
        self.error_format: ErrorFormat = error_format or DEFAULT_ERRORS
        self.dependency_overrides = DependencyOverrides()
        self._handler_cache: dict[type[BaseException], Handler | None] = {}
        self._stack: ASGIApp | None = None
        self._table: RouteTable | None = None
        self._compiled_version = -1
        self.extensions: dict[str, Any] = {}
        self._builtins_installed = False
        self._health: Health | None = None
        self.outer_layers: list[Callable[[ASGIApp], ASGIApp]] = []
        """Wrappers applied outside everything else at build, first innermost (health
        endpoints, ``keel.observability``): they see every request, refusals included."""
        self.default_response_class = default_response_class
        self.strict_content_type = strict_content_type
        self.root_path = root_path
        self.csrf_protection: CSRFProtection | None | _Unset = _UNSET
        """The CSRF check of unsafe requests that carry the session cookie: from the
        settings at startup unless set here first (``None`` turns it off)."""
        for key, handler in (exception_handlers or {}).items():
            self.add_exception_handler(key, handler)

    @property
    def router(self) -> App:
        """The app itself: it is its own router (FastAPI's ``app.router``)."""
        return self

    # -- registration ------------------------------------------------------------------------

    def _changed(self) -> None:
        super()._changed()
        self._table = None

    @overload
    def task(self, fn: Callable[..., Any], /) -> Any: ...

    @overload
    def task(self, fn: None = None, /, **options: Any) -> Callable[[Callable[..., Any]], Any]: ...

    def task(self, fn: Any = None, /, **options: Any) -> Any:
        """Decorator: a background task of this app (``keel.tasks``; see docs/tasks.md).

        ``@app.task`` or ``@app.task(retries=5, timeout=30, schedule="*/5 * * * *")`` on
        an async or sync function; ``await fn.enqueue(...)`` queues a call. (The core does
        not import the battery, so this returns ``Any`` to type checkers;
        ``keel.tasks.tasks_of(app).task`` is the same decorator with precise types.)
        """
        tasks = importlib.import_module("keel.tasks")  # a battery: loaded only when used
        return tasks.tasks_of(self).task(fn, **options)

    def on_startup(self, fn: F) -> F:
        """Decorator: run ``fn`` (async or sync) when the server starts."""
        self.startup_handlers.append(fn)
        return fn

    def on_shutdown(self, fn: F) -> F:
        """Decorator: run ``fn`` (async or sync) when the server stops."""
        self.shutdown_handlers.append(fn)
        return fn

    def on_event(self, event: str) -> Callable[[F], F]:
        """Deprecated decorator (FastAPI/Starlette): use ``lifespan=`` or :meth:`on_startup`.

        ``@app.on_event("startup")`` and ``@app.on_event("shutdown")`` register the function
        as :meth:`on_startup`/:meth:`on_shutdown` do, with a ``DeprecationWarning``.
        """
        import warnings

        if event not in ("startup", "shutdown"):
            raise ValueError(f"on_event() takes 'startup' or 'shutdown', got {event!r}")
        warnings.warn(
            f'on_event("{event}") is deprecated: use App(lifespan=...) or @app.on_{event}',
            DeprecationWarning,
            stacklevel=2,
        )
        return self.on_startup if event == "startup" else self.on_shutdown

    def middleware(self, kind: str) -> Callable[[F], F]:
        """Decorator: ``async def mw(request, call_next)`` wraps every HTTP request.

        ``call_next(request)`` runs the rest of the app and returns its response (streamed,
        not buffered); the function returns that response, changed or not, or another one::

            @app.middleware("http")
            async def add_timing(request, call_next):
                start = time.perf_counter()
                response = await call_next(request)
                response.headers["x-time"] = f"{time.perf_counter() - start:.4f}"
                return response

        Function middleware runs inside the ASGI middleware given to ``App(middleware=)``,
        the last declared outermost.
        """
        if kind != "http":
            raise ValueError(f'middleware() takes "http" only, got {kind!r}')

        def decorator(fn: F) -> F:
            from keel._function_middleware import FunctionMiddleware

            self.add_middleware(FunctionMiddleware, dispatch=fn)
            return fn

        return decorator

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

    def health(
        self,
        *,
        liveness_path: str = "/healthz",
        readiness_path: str = "/readyz",
        timeout: float | None = None,
    ) -> Health:
        """Serve ``/healthz`` (liveness) and ``/readyz`` (readiness); see :mod:`keel.health`.

        Returns the :class:`~keel.health.Health` object: ``@health.check()`` adds a
        readiness check. Calling it again returns the same object.
        """
        if self._health is None:
            from keel.health import Health

            self._health = Health(
                self, liveness_path=liveness_path, readiness_path=readiness_path, timeout=timeout
            )
        return self._health

    # -- compilation -------------------------------------------------------------------------

    def _compile(self) -> RouteTable:
        from keel._analysis import compile_plan
        from keel._endpoint import Endpoint

        self._install_builtin_routes()
        routes = self.routes
        for route in routes:
            plan = compile_plan(
                route.endpoint,
                route.param_types,
                self.dependency_overrides,
                route.dependencies,
                self.auth_wording,
            )
            endpoint = Endpoint(route, plan, self)
            route.compiled = (
                endpoint if route.cache is None else cached_endpoint(route, endpoint, self)
            )
        for ws in self.websocket_routes:
            ws.compile(self)
        table = RouteTable(
            routes,
            self.websocket_routes,
            self.mounts,
            redirect_slashes=self.redirect_slashes,
            first_wins=self.first_wins,
        )
        self._compiled_version = self.dependency_overrides.version
        self._table = table
        return table

    def _install_builtin_routes(self) -> None:
        if self._builtins_installed:
            return
        self._builtins_installed = True
        if not (self.settings.docs_public or self.debug):
            return  # docs configured private: served in debug only
        if self.openapi_url or self.docs_url or self.redoc_url:
            try:
                openapi = importlib.import_module("keel.openapi")
            except ImportError:  # the generator is not available in this build
                return
            before = len(self._routes)
            openapi.install_docs_routes(self)
            # Built-in routes go first so that a catch-all user route cannot shadow them.
            self._routes[:] = self._routes[before:] + self._routes[:before]
            self._changed()
        if self.asyncapi_url and (
            self.websocket_routes
            or any(
                inspect.isasyncgenfunction(r.endpoint) or r.response_class is not None
                for r in self.routes
            )
        ):
            from keel.asyncapi import has_realtime_routes, install_asyncapi_routes

            if self.asyncapi_url and has_realtime_routes(self):
                before = len(self._routes)
                install_asyncapi_routes(self)
                self._routes[:] = self._routes[before:] + self._routes[:before]
                self._changed()

    def build(self) -> None:
        """Compile routes, dependency plans and the middleware stack (done at startup).

        Raises:
            RuntimeError: Production settings are unsafe (no strong secret key, no allowed
                hosts); the message says what to set.
        """
        from keel._defaults import csrf_protection, default_stack, startup_problems

        problems = startup_problems(self.settings)
        if problems:
            raise RuntimeError(
                "This app runs with production settings (debug=False) that are not safe "
                "to serve:\n  - " + "\n  - ".join(problems)
            )
        if isinstance(self.csrf_protection, _Unset):
            self.csrf_protection = csrf_protection(self)
        self._compile()
        stack: ASGIApp = self._dispatch
        for mw in reversed(self.user_middleware):
            stack = mw.build(stack)
        stack = default_stack(self, stack)
        if self.user_middleware:
            stack = _ServerErrors(stack, self)
        if self.settings.detect_blocking and not self.settings.production:
            self._watch_blocking()
        if self._health is None and self.settings.health:
            self.health()
        if self._health is not None:
            stack = self._health.wrap(stack)
        for wrap in self.outer_layers:
            stack = wrap(stack)
        if self.root_path:
            stack = _RootPath(stack, self.root_path)
        self._stack = stack

    def _watch_blocking(self) -> None:
        """Run the blocking-call detector (``keel.blocking``) while the app is served."""
        if "keel.blocking" in self.extensions:
            return
        from keel.blocking import BlockingDetector

        detector = BlockingDetector(self.settings.blocking_threshold, app=self)
        self.extensions["keel.blocking"] = detector
        self.startup_handlers.insert(0, detector.start)
        self.shutdown_handlers.append(detector.stop)

    @functools.cached_property
    def trusted_proxies(self) -> TrustedProxies:
        """The reverse proxies whose ``X-Forwarded-*`` headers this app believes (the
        ``trusted_proxies`` setting)."""
        from keel.middleware._common import TrustedProxies

        return TrustedProxies(self.settings.trusted_proxies)

    @property
    def secret_key(self) -> str:
        """The key this app signs with (sessions, CSRF): ``settings.secret_key``, or in
        development a random per-process key (logged once as a warning)."""
        from keel._defaults import secret_key

        return secret_key(self.settings)

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        scope["app"] = self
        stack = self._stack
        if stack is None:
            if scope["type"] == "lifespan":
                await self._build_for_lifespan(receive, send)
            else:
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
            miss = await table.http(scope, receive, send)
            if miss is not None:
                await self._error(miss.status, miss.detail, scope, receive, send, miss.headers)
        elif kind == "websocket":
            await table.websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

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

    async def _build_for_lifespan(self, receive: Receive, send: Send) -> None:
        """Build at server start; a failure (unsafe production settings…) is reported as
        the lifespan's startup failure, which stops the server with its message."""
        try:
            self.build()
        except BaseException as exc:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send(
                    {"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"}
                )
            raise

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
            from keel._live import drain

            await drain(self, self.settings.drain_timeout)  # websockets 1012, streams end
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
                from keel.middleware.security_headers import csp_nonce

                nonce = csp_nonce(request)
                page = traceback_html(exc, request.method, request.path, nonce)
                return HTMLResponse(page, 500)
            exc = server_error(exc, debug=self.debug)

    def is_unhandled(self, exc: BaseException) -> bool:
        """Whether ``exc`` got the default 500 (no handler; not an ``HTTPError``)."""
        return not isinstance(exc, HTTPError) and self._lookup_handler(exc) is None

    def asyncapi(self) -> dict[str, Any]:
        """The AsyncAPI 3.0 document of this app's websocket and event-stream routes."""
        from keel.asyncapi import asyncapi_document

        return asyncapi_document(self)

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


def _resolve_settings(given: Settings | None, **overrides: Any) -> Settings:
    """The app's settings: ``given`` (or read from the environment) with ``App``'s overrides."""
    from keel.settings import Settings

    changes = {k: v for k, v in overrides.items() if v is not None and not isinstance(v, _Unset)}
    # max_body_size/body_timeout accept None ("no limit"), which differs from not given.
    for name in ("max_body_size", "body_timeout"):
        if overrides.get(name, _UNSET) is None:
            changes[name] = None
    settings = given if given is not None else Settings()
    if changes:  # validated like the settings themselves (a negative limit is refused)
        settings = type(settings)(**{**settings.model_dump(), **changes})
    return settings


async def _call(fn: Callable[[], Any]) -> None:
    if inspect.iscoroutinefunction(fn):
        await fn()
    else:
        result = await run_sync(fn)
        if inspect.isawaitable(result):
            await result


class _RootPath:
    """Sets the ASGI ``root_path`` of HTTP and websocket requests (``App(root_path=...)``)."""

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app = app
        self.root_path = root_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            scope["root_path"] = self.root_path
        await self.app(scope, receive, send)
