"""Routes, routers, path templates and reverse routing."""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from typing_extensions import Unpack

from keel._types import ASGIApp, Scope
from keel.di import Depends
from keel.responses import Response

if TYPE_CHECKING:
    from keel._endpoint import Endpoint

__all__ = [
    "APIRouter",
    "METHODS",
    "Mount",
    "NoMatchFound",
    "Responses",
    "Route",
    "RouteOptions",
    "Router",
    "compile_path",
    "route_path",
]

F = TypeVar("F", bound=Callable[..., Any])

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")

_CONVERTERS: dict[str, tuple[str, Any]] = {
    "str": ("[^/]+", str),
    "int": ("[0-9]+", int),
    "float": (r"[0-9]+(?:\.[0-9]+)?", float),
    "uuid": (
        "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
        uuid.UUID,
    ),
    "path": (".*", str),
}
_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_][a-zA-Z0-9_]*))?}")


_OPTIONAL_KEYS = ("summary", "description", "response_class", "operation_id", "openapi_extra")


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


def compile_path(path: str) -> tuple[re.Pattern[str] | None, str, dict[str, Any], dict[str, str]]:
    """Compile a template like ``/items/{id:int}``.

    Returns ``(regex or None for static paths, format string, {name: type}, {name: converter})``.
    """
    if not path.startswith("/"):
        raise ValueError(f"Route paths must start with '/': {path!r}")
    pattern = "^"
    fmt = ""
    names: dict[str, Any] = {}
    converters: dict[str, str] = {}
    pos = 0
    for m in _PARAM.finditer(path):
        name, conv = m.group(1), m.group(2) or "str"
        if conv not in _CONVERTERS:
            raise ValueError(
                f"Unknown path converter {conv!r} in {path!r}; use one of {', '.join(_CONVERTERS)}"
            )
        if name in names:
            raise ValueError(f"Path parameter {name!r} appears twice in {path!r}")
        regex, tp = _CONVERTERS[conv]
        pattern += re.escape(path[pos : m.start()]) + f"(?P<{name}>{regex})"
        fmt += path[pos : m.start()] + "{" + name + "}"
        names[name] = tp
        converters[name] = conv
        pos = m.end()
    if not names:
        return None, path, {}, {}
    pattern += re.escape(path[pos:]) + "$"
    fmt += path[pos:]
    return re.compile(pattern), fmt, names, converters


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
        self.path = path
        self.endpoint = endpoint
        self.methods = tuple(dict.fromkeys(m.upper() for m in methods))
        for m in self.methods:
            if m not in METHODS:
                raise ValueError(f"Route {path!r}: unknown HTTP method {m!r}")
        self.regex, self.format, self.param_types, self.converters = compile_path(path)
        status = options.get("status", options.get("status_code", 200))
        self.status: int = status
        self.name: str = options.get("name") or str(getattr(endpoint, "__name__", path))
        self.tags: list[str] = list(options.get("tags", ()))
        self.summary = options.get("summary")
        self.description = options.get("description")
        if self.description is None:
            self.description = inspect.cleandoc(endpoint.__doc__) if endpoint.__doc__ else None
        self.response_class = options.get("response_class")
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
        self.compiled: Endpoint | None = None

    def url_path(self, params: dict[str, Any]) -> str:
        """Build this route's path from ``params`` (raises :class:`NoMatchFound`)."""
        return _format_path(self.format, self.param_types, self.converters, params, self.name)

    def __repr__(self) -> str:
        return f"Route({self.path!r}, methods={list(self.methods)}, name={self.name!r})"


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


class Router:
    """A group of routes with a common prefix, tags and dependencies.

    Add it to an app with ``app.include(router)``; routers nest.
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
        self.routes: list[Route] = []
        self.websocket_routes: list[Any] = []
        self.mounts: list[Mount] = []
        self._changed()

    def _changed(self) -> None:
        """Hook: the route table changed (the app recompiles)."""

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Sequence[str] = ("GET",),
        **options: Unpack[RouteOptions],
    ) -> Route:
        """Register ``endpoint`` for ``path`` and ``methods``."""
        route = Route(self.prefix + path, endpoint, methods, **options)
        route.tags = [*self.tags, *(t for t in route.tags if t not in self.tags)]
        route.dependencies = [*self.dependencies, *route.dependencies]
        route.responses = {**self.default_responses, **route.responses}
        if self.deprecated:
            route.deprecated = True
        if not self.include_in_schema:
            route.include_in_schema = False
        self.routes.append(route)
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
        """Register a websocket route object (see ``keel.websockets``)."""
        self.websocket_routes.append(route)
        self._changed()

    def include(
        self,
        router: Router,
        *,
        prefix: str = "",
        tags: Sequence[str] = (),
        dependencies: Sequence[Depends] = (),
    ) -> None:
        """Add every route of ``router`` (and its nested routers) under ``prefix``."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"Include prefixes start with '/' and do not end with '/': {prefix!r}")
        outer = Router(
            self.prefix + prefix,
            tags=[*self.tags, *tags],
            dependencies=[*self.dependencies, *dependencies],
            responses=self.default_responses,
        )
        for r in router.routes:
            opts: dict[str, Any] = {
                "status": r.status,
                "name": r.name,
                "tags": r.tags,
                "response_description": r.response_description,
                "responses": r.responses,
                "include_in_schema": r.include_in_schema,
                "deprecated": r.deprecated,
                "dependencies": r.dependencies,
                "max_body_size": r.max_body_size,
                "response_model": r.response_annotation,
            }
            for key in (
                "summary",
                "description",
                "response_class",
                "operation_id",
                "openapi_extra",
            ):
                if getattr(r, key) is not None:
                    opts[key] = getattr(r, key)
            outer.add_route(r.path, r.endpoint, r.methods, **opts)
        for route in outer.routes:
            self.routes.append(route)
        for ws in router.websocket_routes:
            self.websocket_routes.append(ws.with_prefix(self.prefix + prefix, dependencies))
        for m in router.mounts:
            self.mounts.append(Mount(self.prefix + prefix + m.path, m.app, m.name))
        self._changed()

    def include_router(
        self,
        router: Router,
        *,
        prefix: str = "",
        tags: Sequence[str] = (),
        dependencies: Sequence[Depends] = (),
    ) -> None:
        """FastAPI spelling of :meth:`include`."""
        self.include(router, prefix=prefix, tags=tags, dependencies=dependencies)

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in."""
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
        if errors:
            raise NoMatchFound(errors[0])
        raise NoMatchFound(f"No route named {name!r}")


APIRouter = Router
"""FastAPI spelling of :class:`Router`."""
