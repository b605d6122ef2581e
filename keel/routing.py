"""Routes, routers, path templates and reverse routing."""

from __future__ import annotations

import copy
import inspect
import math
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypedDict, TypeVar

from typing_extensions import Unpack

from keel._paths import PATH_PARAM, PathTemplate, Segment, compile_path
from keel._types import ASGIApp, Scope
from keel.di import Depends
from keel.responses import Response

__all__ = [
    "APIRoute",
    "APIRouter",
    "METHODS",
    "Mount",
    "NoMatchFound",
    "PATH_PARAM",
    "PathTemplate",
    "Responses",
    "Route",
    "RouteCache",
    "RouteOptions",
    "Router",
    "Segment",
    "cached_endpoint",
    "compile_path",
    "route_path",
]

F = TypeVar("F", bound=Callable[..., Any])

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def route_path(scope: Scope) -> tuple[str, str]:
    """``(root_path, path below it)`` of a request: what routes and mounts match against."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return root, path


class NoMatchFound(LookupError):
    """``url_path_for`` found no route with that name and parameters."""


Responses = Mapping[int, Any] | Mapping[str, Any] | Mapping[int | str, Any]
"""Extra documented responses keyed by status (``404`` or ``"4XX"``): any mapping."""


def _responses(given: Responses | None) -> dict[int | str, Any]:
    """A copy of a ``responses=`` mapping."""
    copy: dict[int | str, Any] = {}
    for status, entry in (given or {}).items():
        copy[status] = entry
    return copy


class RouteCache(Protocol):
    """What a route's ``cache=`` option takes besides a number of seconds.

    ``keel.cache.ResponseCache`` is the implementation; ``cache=60`` builds one with its
    defaults. The app calls :meth:`wrap` once, when it compiles its routes; routes without
    ``cache=`` are not wrapped and pay nothing for the feature.
    """

    def wrap(self, endpoint: ASGIApp, route: Route, app: Any) -> ASGIApp:
        """The ASGI callable that answers the route's requests, around ``endpoint``."""
        ...


class RouteOptions(TypedDict, total=False):
    """Options shared by every route decorator (``get``, ``post``, ``route``…).

    Attributes:
        status: Success status code (``status_code`` is accepted too).
        name: Route name for ``url_path_for`` (defaults to the handler's name).
        tags: OpenAPI tags.
        summary: OpenAPI summary (defaults to the handler name, humanized).
        description: OpenAPI description (defaults to the handler docstring).
        response_model: Response schema, overriding the return annotation.
        response_class: Response class used to wrap non-``Response`` return values.
        response_description: Description of the success response in OpenAPI.
        responses: Extra documented responses, ``{status: {"description": ..., "model": ...}}``.
        include_in_schema: ``False`` hides the route from OpenAPI.
        deprecated: Mark the operation deprecated in OpenAPI.
        operation_id: Explicit OpenAPI operationId.
        dependencies: Dependencies run for their side effects before the handler.
        max_body_size: Body limit in bytes for this route (``None``: the app's).
        openapi_extra: Merged into the operation object.
        response_model_include: Only these fields of the response model are sent.
        response_model_exclude: These fields of the response model are not sent.
        response_model_by_alias: Send the model's field aliases as keys (the default;
            ``False`` sends the field names).
        response_model_exclude_unset: Leave out fields the handler did not set.
        response_model_exclude_defaults: Leave out fields equal to their default.
        response_model_exclude_none: Leave out fields whose value is ``None``.
        cache: Cache the route's responses for this many seconds (or a
            :class:`RouteCache` such as ``keel.cache.ResponseCache(60, vary=...)``); see
            the cache documentation for what is never shared.
    """

    status: int
    status_code: int
    name: str
    tags: Sequence[str]
    summary: str
    description: str
    response_model: Any
    response_class: type[Response]
    response_description: str
    responses: Responses
    include_in_schema: bool
    deprecated: bool
    operation_id: str
    dependencies: Sequence[Depends]
    max_body_size: int | None
    openapi_extra: dict[str, Any]
    response_model_include: Any
    response_model_exclude: Any
    response_model_by_alias: bool
    response_model_exclude_unset: bool
    response_model_exclude_defaults: bool
    response_model_exclude_none: bool
    cache: float | RouteCache


_DUMP_KEYS = (
    "include",
    "exclude",
    "by_alias",
    "exclude_unset",
    "exclude_defaults",
    "exclude_none",
)


class Route:
    """One HTTP route: a path template, methods and a handler with its options."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Sequence[str] = ("GET",),
        **options: Unpack[RouteOptions],
    ) -> None:
        if not callable(endpoint):
            raise TypeError(f"Route {path!r}: the handler must be callable")
        self.endpoint = endpoint
        self.methods = tuple(dict.fromkeys(m.upper() for m in methods))
        for m in self.methods:
            if m not in METHODS:
                raise ValueError(f"Route {path!r}: unknown HTTP method {m!r}")
        self._set_path(path)
        status = options.get("status", options.get("status_code", 200))
        self.status: int = status
        self.status_explicit = "status" in options or "status_code" in options
        self.dump_options: dict[str, Any] = {}
        for key in _DUMP_KEYS:
            value = options.get(f"response_model_{key}")
            # False is each option's default, except by_alias (aliases are the default keys)
            if value is not None and (value is not False or key == "by_alias"):
                self.dump_options[key] = value
        self.name: str = options.get("name") or str(getattr(endpoint, "__name__", path))
        self.tags: list[str] = list(options.get("tags", ()))
        self.summary = options.get("summary")
        self.description = options.get("description")
        if self.description is None:
            self.description = inspect.cleandoc(endpoint.__doc__) if endpoint.__doc__ else None
        self.response_class = options.get("response_class")
        if self.response_class is None and inspect.isasyncgenfunction(endpoint):
            from keel.sse import EventSourceResponse  # an event stream, documented as one

            self.response_class = EventSourceResponse
        self.response_description = options.get("response_description", "Successful Response")
        self.responses = _responses(options.get("responses"))
        self.include_in_schema = options.get("include_in_schema", True)
        self.deprecated = options.get("deprecated", False)
        self.operation_id = options.get("operation_id")
        self.dependencies: list[Depends] = list(options.get("dependencies", ()))
        self.max_body_size = options.get("max_body_size")
        self.openapi_extra = options.get("openapi_extra")
        if "response_model" in options:
            self.response_annotation: Any = options["response_model"]
        else:
            self.response_annotation = _return_annotation(endpoint)
        self.cache = _route_cache(options.get("cache"), path)
        self.compiled: ASGIApp | None = None  # the Endpoint, wrapped when ``cache`` is set

    def _set_path(self, path: str) -> None:
        self.path = path
        self.template = compile_path(path)
        self.regex = self.template.regex
        self.format = self.template.format
        self.param_types = self.template.param_types
        self.converters = self.template.converters

    def _inherit(self, group: _Group) -> None:
        """Take a router's tags, dependencies, responses and flags (outer ones first)."""
        self.tags = [*group.tags, *(t for t in self.tags if t not in group.tags)]
        self.dependencies = [*group.dependencies, *self.dependencies]
        self.responses = {**group.responses, **self.responses}
        if group.deprecated:
            self.deprecated = True
        if not group.include_in_schema:
            self.include_in_schema = False
        if self.response_class is None and group.response_class is not None:
            self.response_class = group.response_class

    def _under(self, group: _Group) -> Route:
        """A copy of this route as seen through an ``include`` (``group``)."""
        route = copy.copy(self)
        route._set_path(group.prefix + self.path)
        route._inherit(group)
        route.compiled = None
        return route

    def url_path(self, params: dict[str, Any]) -> str:
        """Build this route's path from ``params`` (raises :class:`NoMatchFound`)."""
        return _format_path(self.format, self.param_types, self.converters, params, self.name)

    def __repr__(self) -> str:
        return f"Route({self.path!r}, methods={list(self.methods)}, name={self.name!r})"


def _route_cache(value: Any, path: str) -> float | RouteCache | None:
    """A checked ``cache=`` option: positive seconds or an object with ``wrap``."""
    if value is None or callable(getattr(value, "wrap", None)):
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"Route {path!r}: cache= takes seconds or keel.cache.ResponseCache(...), got {value!r}"
        )
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"Route {path!r}: cache= must be a positive number of seconds")
    return value


def cached_endpoint(route: Route, endpoint: ASGIApp, app: Any) -> ASGIApp:
    """``endpoint`` wrapped by the route's ``cache=`` (the app calls this when compiling).

    Seconds are given to the response cache registered as the ``default`` entry point of
    the ``keel.route_cache`` group (``keel.cache.ResponseCache``): the core names no battery.
    """
    policy = route.cache
    if policy is None:
        return endpoint
    if isinstance(policy, int | float):
        from importlib.metadata import entry_points

        found = [ep for ep in entry_points(group="keel.route_cache") if ep.name == "default"]
        if not found:
            raise RuntimeError(
                f"Route {route.path!r}: cache={policy} needs a response cache registered as "
                "the 'keel.route_cache' entry point (keel.cache, in an installed keel); "
                "or pass cache=keel.cache.ResponseCache(...)"
            )
        policy = found[0].load()(policy)
    assert not isinstance(policy, int | float)
    return policy.wrap(endpoint, route, app)


def _format_path(
    fmt: str, types: dict[str, Any], converters: dict[str, str], params: dict[str, Any], name: str
) -> str:
    from urllib.parse import quote

    if set(params) != set(types):
        raise NoMatchFound(f"Route {name!r} needs parameters {sorted(types)}, got {sorted(params)}")
    values = {}
    for key, value in params.items():
        text = value.value if hasattr(value, "value") and not isinstance(value, str) else value
        text = str(text)
        safe = "/" if converters.get(key) == "path" else ""
        values[key] = quote(text, safe=safe)
    return fmt.format(**values)


def _return_annotation(endpoint: Callable[..., Any]) -> Any:
    if inspect.isasyncgenfunction(endpoint):  # server-sent events: its items are the events
        return inspect.Signature.empty
    try:
        sig = inspect.signature(endpoint, eval_str=True)
    except NameError as exc:
        raise TypeError(
            f"Cannot resolve the return annotation of {endpoint.__qualname__}: {exc}"
        ) from exc
    except (TypeError, ValueError):
        return inspect.Signature.empty
    return sig.return_annotation


class Mount:
    """An ASGI (or WSGI) application mounted under a path prefix."""

    def __init__(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        if not path.startswith("/") or path.endswith("/"):
            raise ValueError(f"Mount paths start with '/' and do not end with '/': {path!r}")
        self.path = path
        self.app = app
        self.name = name

    def __repr__(self) -> str:
        return f"Mount({self.path!r}, {self.app!r})"


class _Group(NamedTuple):
    """What a router adds to the routes it holds or includes."""

    prefix: str
    tags: list[str]
    dependencies: list[Depends]
    responses: dict[int | str, Any]
    deprecated: bool | None
    include_in_schema: bool
    response_class: type[Response] | None = None


@dataclass(slots=True)
class _Include:
    """A router included in another, resolved when the outer router's routes are read;
    ``options`` are what the ``include`` call itself adds."""

    router: Router
    options: _Group


@dataclass(slots=True)
class _Resolved:
    routes: tuple[Route, ...]
    websocket_routes: tuple[Any, ...]
    mounts: tuple[Mount, ...]


class Router:
    """A group of routes with a common prefix, tags and dependencies.

    Add it to an app with ``app.include(router)``; routers nest. An included router stays
    live: routes, websocket routes and mounts added to it later are served too.
    """

    def __init__(
        self,
        prefix: str = "",
        *,
        tags: Sequence[str] = (),
        dependencies: Sequence[Depends] = (),
        responses: Responses | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"Router prefixes start with '/' and do not end with '/': {prefix!r}")
        self.prefix = prefix
        self.tags = list(tags)
        self.dependencies = list(dependencies)
        self.default_responses = _responses(responses)
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self._routes: list[Route | _Include] = []
        self._websocket_routes: list[Any] = []
        self._mounts: list[Mount | _Include] = []
        self._parents: weakref.WeakSet[Router] = weakref.WeakSet()
        self._resolved: _Resolved | None = None

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every HTTP route, included routers' too, in registration order."""
        return self._resolve().routes

    @property
    def route_class(self) -> type[Route]:
        """The class of the routes (always :class:`Route`; FastAPI's ``route_class``)."""
        return Route

    @route_class.setter
    def route_class(self, value: type[Route]) -> None:
        raise TypeError(
            "keel has no custom route classes: to act on every request use "
            '@app.middleware("http") (or an ASGI middleware), to act on some routes use '
            "a dependency (dependencies=[Depends(...)] on the route or router), and to "
            "change error responses use @app.exception_handler(...)"
        )

    @property
    def websocket_routes(self) -> tuple[Any, ...]:
        """Every websocket route, included routers' too."""
        return self._resolve().websocket_routes

    @property
    def mounts(self) -> tuple[Mount, ...]:
        """Every mounted application, included routers' too."""
        return self._resolve().mounts

    def _changed(self) -> None:
        """The routes changed: drop the resolved lists here and in every including router."""
        self._resolved = None
        for parent in list(self._parents):
            parent._changed()

    def _resolve(self) -> _Resolved:
        resolved = self._resolved
        if resolved is None:
            routes: list[Route] = []
            for entry in self._routes:
                if isinstance(entry, _Include):
                    group = self._group(entry)
                    routes.extend(r._under(group) for r in entry.router.routes)
                else:
                    routes.append(entry)
            websockets: list[Any] = []
            for ws in self._websocket_routes:
                if isinstance(ws, _Include):
                    group = self._group(ws)
                    websockets.extend(
                        w.with_prefix(group.prefix, group.dependencies)
                        for w in ws.router.websocket_routes
                    )
                else:
                    websockets.append(ws)
            mounts: list[Mount] = []
            for m in self._mounts:
                if isinstance(m, _Include):
                    prefix = self.prefix + m.options.prefix
                    mounts.extend(Mount(prefix + i.path, i.app, i.name) for i in m.router.mounts)
                else:
                    mounts.append(m)
            resolved = self._resolved = _Resolved(tuple(routes), tuple(websockets), tuple(mounts))
        return resolved

    def _group(self, include: _Include | None = None) -> _Group:
        if include is None:
            return _Group(
                self.prefix,
                self.tags,
                self.dependencies,
                self.default_responses,
                self.deprecated,
                self.include_in_schema,
            )
        own = include.options
        return _Group(
            self.prefix + own.prefix,
            [*self.tags, *own.tags],
            [*self.dependencies, *own.dependencies],
            {**self.default_responses, **own.responses},
            True if own.deprecated else self.deprecated,
            self.include_in_schema and own.include_in_schema,
            own.response_class,
        )

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Sequence[str] = ("GET",),
        **options: Unpack[RouteOptions],
    ) -> Route:
        """Register ``endpoint`` for ``path`` and ``methods``."""
        route = Route(self.prefix + path, endpoint, methods, **options)
        route._inherit(self._group())
        self._routes.append(route)
        self._changed()
        return route

    def route(
        self, path: str, methods: Sequence[str] = ("GET",), **options: Unpack[RouteOptions]
    ) -> Callable[[F], F]:
        """Decorator: register the handler for ``path`` and ``methods``."""

        def decorator(fn: F) -> F:
            self.add_route(path, fn, methods, **options)
            return fn

        return decorator

    def get(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Decorator for a GET route (HEAD is answered too)."""
        return self.route(path, ("GET",), **options)

    def post(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Decorator for a POST route."""
        return self.route(path, ("POST",), **options)

    def put(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Decorator for a PUT route."""
        return self.route(path, ("PUT",), **options)

    def patch(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Decorator for a PATCH route."""
        return self.route(path, ("PATCH",), **options)

    def delete(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Decorator for a DELETE route."""
        return self.route(path, ("DELETE",), **options)

    def head(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Decorator for a HEAD route."""
        return self.route(path, ("HEAD",), **options)

    def options(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Decorator for an OPTIONS route."""
        return self.route(path, ("OPTIONS",), **options)

    def add_websocket_route(self, route: Any) -> None:
        """Register a websocket route object, under this router's prefix and dependencies.

        The object has ``path``, ``name``, ``compile(app)``, ``handle(scope, receive, send)``,
        ``url_path(params)`` and ``with_prefix(prefix, dependencies)`` (a copy).
        """
        if self.prefix or self.dependencies:
            route = route.with_prefix(self.prefix, self.dependencies)
        self._websocket_routes.append(route)
        self._changed()

    def websocket(
        self,
        path: str,
        *,
        name: str | None = None,
        dependencies: Sequence[Depends] = (),
        include_in_schema: bool = True,
        summary: str | None = None,
        description: str | None = None,
        tags: Sequence[str] = (),
    ) -> Callable[[F], F]:
        """Decorator: a websocket handler for ``path`` (see :mod:`keel.websockets`).

        Its parameters are inferred as for HTTP routes (path, query, header and cookie
        values, ``Depends``); the one annotated ``WebSocket`` (or ``WebSocket[In, Out]``
        for typed messages) gets the connection.
        """

        def decorator(fn: F) -> F:
            self.add_api_websocket_route(
                path,
                fn,
                name=name,
                dependencies=dependencies,
                include_in_schema=include_in_schema,
                summary=summary,
                description=description,
                tags=tags,
            )
            return fn

        return decorator

    def add_api_websocket_route(
        self, path: str, endpoint: Callable[..., Any], **options: Any
    ) -> None:
        """Register ``endpoint`` as the websocket handler of ``path`` (``options`` as
        :meth:`websocket`)."""
        from keel._wsroute import WebSocketRoute

        options["tags"] = [*self.tags, *options.get("tags", ())]
        self.add_websocket_route(WebSocketRoute(path, endpoint, **options))

    websocket_route = websocket
    """Starlette spelling of :meth:`websocket`."""

    def mount(
        self, path: str, app: Any, *, name: str | None = None, wsgi: bool | None = None
    ) -> None:
        """Serve ``app`` under ``path`` (below this router's prefix).

        ``app`` is an ASGI application, or a WSGI one (Flask, Django…), which is detected (or
        forced with ``wsgi=True``) and run through a2wsgi in a thread pool.
        """
        if wsgi is None:
            wsgi = _looks_wsgi(app)
        if wsgi:
            from a2wsgi import WSGIMiddleware

            app = WSGIMiddleware(app)
        self._mounts.append(Mount(self.prefix + path, app, name))
        self._changed()

    def static(
        self,
        path: str,
        directory: str | os.PathLike[str],
        *,
        name: str = "static",
        **options: Any,
    ) -> None:
        """Serve the files of ``directory`` under ``path``: ``app.static("/static", "static")``.

        Short for ``mount(path, StaticFiles(directory=directory, **options), name=name)``;
        templates' ``static(path)`` and ``url_for("static", path=...)`` point at it.
        """
        from keel.staticfiles import StaticFiles

        self.mount(path, StaticFiles(directory=directory, **options), name=name)

    def include(
        self,
        router: Router,
        *,
        prefix: str = "",
        tags: Sequence[str] = (),
        dependencies: Sequence[Depends] = (),
        responses: Responses | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Serve every route of ``router`` (and its nested routers) under ``prefix``.

        ``tags``, ``dependencies`` and ``responses`` are added to each included route's own;
        ``deprecated=True`` marks them deprecated and ``include_in_schema=False`` hides them.
        The inclusion is live: what is added to ``router`` later is served too.
        """
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"Include prefixes start with '/' and do not end with '/': {prefix!r}")
        if router is self or self in router._included():
            raise ValueError("A router cannot include itself, directly or through another")
        entry = _Include(
            router,
            _Group(
                prefix,
                list(tags),
                list(dependencies),
                _responses(responses),
                deprecated,
                include_in_schema,
            ),
        )
        self._routes.append(entry)
        self._websocket_routes.append(entry)
        self._mounts.append(entry)
        router._parents.add(self)
        self._changed()

    def _included(self) -> set[Router]:
        """Every router this one includes, directly or not."""
        found: set[Router] = set()
        for entry in self._routes:
            if isinstance(entry, _Include) and entry.router not in found:
                found.add(entry.router)
                found |= entry.router._included()
        return found

    def include_router(
        self,
        router: Router,
        *,
        prefix: str = "",
        tags: Sequence[str] = (),
        dependencies: Sequence[Depends] = (),
        responses: Responses | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        default_response_class: type[Response] | None = None,
    ) -> None:
        """FastAPI spelling of :meth:`include`.

        ``default_response_class`` becomes the ``response_class`` of the included routes
        that name none.
        """
        self.include(
            router,
            prefix=prefix,
            tags=tags,
            dependencies=dependencies,
            responses=responses,
            deprecated=deprecated,
            include_in_schema=include_in_schema,
        )
        if default_response_class is not None:
            entry = self._routes[-1]
            assert isinstance(entry, _Include)
            entry.options = entry.options._replace(response_class=default_response_class)

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in, or of the file
        ``path=`` below the mount called ``name`` (``url_path_for("static", path="app.css")``).
        """
        errors = []
        for route in self.routes:
            if route.name == name:
                try:
                    return route.url_path(params)
                except NoMatchFound as exc:
                    errors.append(str(exc))
        for ws in self.websocket_routes:
            if getattr(ws, "name", None) == name:
                return str(ws.url_path(params))
        for mount in self.mounts:
            if mount.name == name and set(params) <= {"path"}:
                from urllib.parse import quote

                return f"{mount.path}/{quote(str(params.get('path', '')).lstrip('/'))}"
        if errors:
            raise NoMatchFound(errors[0])
        raise NoMatchFound(f"No route named {name!r}")


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


APIRouter = Router
"""FastAPI spelling of :class:`Router`."""

APIRoute = Route
"""FastAPI spelling of :class:`Route` (for type hints such as ``generate_unique_id(route)``;
keel has no custom route classes: wrap requests with middleware or dependencies instead)."""
