"""Dependency injection: ``Depends`` and the compiled dependency graph.

A route's graph is compiled once into a flat list of steps; a request walks the list.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

__all__ = [
    "DependencyOverrides",
    "Depends",
    "Scope",
    "Security",
    "add_route_dependency",
    "call_kind",
    "route_dependencies",
]

Scope = Literal["request", "function"]

if TYPE_CHECKING:
    # As for the parameter markers: ``user: User = Depends(current_user)`` type-checks.
    _AnyValue = Any
else:
    _AnyValue = object


class Depends(_AnyValue):  # type: ignore[misc]  # an Any base on purpose, see _AnyValue
    """Declare that a parameter is produced by calling ``dependency``.

    Args:
        dependency: An async or sync function, generator function or class. Omitted in
            ``Annotated[Service, Depends()]``, the annotated class itself is called.
        use_cache: Reuse the value if the same dependency appears twice in one request.
        scope: For generator dependencies, when the code after ``yield`` runs:
            ``"request"`` (default) after the response has been sent; ``"function"`` right
            after the handler returned and its result was serialized, before the response is
            sent, so an exception there (e.g. a failed commit) becomes the error response.
    """

    __slots__ = ("dependency", "use_cache", "scope")

    dependency: Callable[..., Any] | None

    def __init__(
        self,
        dependency: Callable[..., Any] | None = None,
        *,
        use_cache: bool = True,
        scope: Scope = "request",
    ) -> None:
        if isinstance(dependency, Depends):  # Depends(rate_limit(...)): a ready-made marker
            dependency = dependency.dependency
        if dependency is not None and not callable(dependency):
            raise TypeError(f"Depends() needs a callable, got {dependency!r}")
        if scope not in ("request", "function"):
            raise ValueError("Depends(scope=...) must be 'request' or 'function'")
        self.dependency = dependency
        self.use_cache = use_cache
        self.scope: Scope = scope

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__qualname__", repr(self.dependency))
        return f"Depends({name})"


class Security(Depends):
    """A dependency that also declares security requirements (OAuth2 scopes) for OpenAPI."""

    __slots__ = ("scopes",)

    def __init__(
        self,
        dependency: Callable[..., Any] | None = None,
        *,
        scopes: list[str] | None = None,
        use_cache: bool = True,
        scope: Scope = "request",
    ) -> None:
        super().__init__(dependency, use_cache=use_cache, scope=scope)
        self.scopes = list(scopes or [])


_ATTACHED = "__keel_dependencies__"


def add_route_dependency(endpoint: Callable[..., Any], dependency: Depends) -> None:
    """Attach ``dependency`` to a route handler, as if listed in its ``dependencies=[...]``.

    For decorators such as ``@rate_limit("10/minute")``: the dependency runs before the
    handler whichever side of the route decorator it is stacked on (routes are compiled
    when the app starts).
    """
    if not isinstance(dependency, Depends) or dependency.dependency is None:
        raise TypeError(f"add_route_dependency() needs Depends(callable), got {dependency!r}")
    try:
        setattr(endpoint, _ATTACHED, (*route_dependencies(endpoint), dependency))
    except AttributeError:
        raise TypeError(f"{endpoint!r} cannot carry dependencies: decorate a function") from None


def route_dependencies(endpoint: Callable[..., Any]) -> tuple[Depends, ...]:
    """The dependencies attached to ``endpoint`` by :func:`add_route_dependency`."""
    attached = getattr(endpoint, _ATTACHED, ())
    return attached if isinstance(attached, tuple) else ()


class DependencyOverrides(dict[Callable[..., Any], Callable[..., Any]]):
    """``app.dependency_overrides``: a dict that tells the app to recompile when it changes."""

    version = 0

    def _bump(self) -> None:
        self.version += 1

    def __setitem__(self, key: Callable[..., Any], value: Callable[..., Any]) -> None:
        super().__setitem__(key, value)
        self._bump()

    def __delitem__(self, key: Callable[..., Any]) -> None:
        super().__delitem__(key)
        self._bump()

    def clear(self) -> None:
        super().clear()
        self._bump()

    def pop(self, key: Any, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._bump()
        return value

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._bump()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        value = super().setdefault(key, default)
        self._bump()
        return value

    def popitem(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        item = super().popitem()
        self._bump()
        return item


def call_kind(call: Callable[..., Any]) -> Literal["async", "sync", "agen", "gen"]:
    """Classify a callable: ``async``, ``sync``, ``agen`` or ``gen``."""
    target: Any = call
    if not (inspect.isfunction(call) or inspect.ismethod(call) or inspect.isclass(call)):
        dunder = getattr(call, "__call__", None)  # noqa: B004
        if dunder is not None:
            target = dunder
    while hasattr(target, "func") and not inspect.isfunction(target):  # functools.partial
        target = target.func
    if inspect.isasyncgenfunction(target):
        return "agen"
    if inspect.isgeneratorfunction(target):
        return "gen"
    if inspect.iscoroutinefunction(target):
        return "async"
    return "sync"
