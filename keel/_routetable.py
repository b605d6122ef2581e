"""The compiled route table: matching a request to a route, a mount or a routing answer.

The order (documented in docs/routing.md):

1. a static route (no parameters) with exactly this path and method, by dict lookup;
2. a mount whose prefix matches, the longest prefix first;
3. a templated route matching path and method, the first registered winning.

Templated routes sit in a segment trie, so matching costs the same with 10 routes or 10,000:
literal segments are dict keys; parameter segments (``{id}``, ``{id:int}``, ``{name}.{ext}``)
are tried after them, and a ``path`` parameter matches the rest of the path at once. Every
trie node knows the earliest registration index below it, so the walk returns the route a
linear scan in registration order would have found, and prunes every branch that cannot
beat the best match so far.

When no route matches path and method, the request is answered by the table (``OPTIONS``
gets ``204`` with ``Allow``; a missing slash gets a ``307``) or handed back to the app as a
:class:`RouteMiss` (``405`` with ``Allow``, or ``404``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from keel._types import Receive, Scope, Send
from keel.errors import safe_text
from keel.responses import RedirectResponse, Response
from keel.routing import Mount, PathTemplate, Route, compile_path, route_path

__all__ = ["RouteMiss", "RouteTable"]

T = TypeVar("T")

_WEBSOCKET = "WEBSOCKET"  # the one "method" of the websocket trie
_ANY, _SEGMENT, _TAIL = 0, 1, 2  # edge kinds: lone {name}; other parameter segment; rest
_NEVER = 1 << 62  # above every registration index


class RouteMiss(NamedTuple):
    """No route answers the request: the error the app turns into a response."""

    status: int
    detail: str
    headers: dict[str, str] | None = None


class _Target(Generic[T]):
    """A route at a trie leaf, with its path regex and registration index."""

    __slots__ = ("index", "regex", "route")

    def __init__(self, route: T, template: PathTemplate, index: int) -> None:
        self.route = route
        self.regex = template.regex  # the whole path, a named group per parameter
        self.index = index


class _Node(Generic[T]):
    __slots__ = ("dynamic", "first", "keyed", "leaf", "only", "static")

    def __init__(self) -> None:
        self.static: dict[str, _Node[T]] = {}
        self.dynamic: list[_Edge[T]] = []  # sorted by `first` once built
        self.keyed: dict[str, _Edge[T]] = {}  # the same edges by segment shape (build only)
        self.leaf: dict[str, _Target[T]] | None = None
        self.first = _NEVER
        # The leaf, when only one lies below (its routes' regexes decide at once).
        self.only: dict[str, _Target[T]] | None = None


class _Edge(Generic[T]):
    __slots__ = ("first", "kind", "node", "pattern")

    def __init__(self, kind: int, pattern: re.Pattern[str] | None) -> None:
        self.kind = kind
        self.pattern = pattern
        self.node: _Node[T] = _Node()
        self.first = _NEVER


class _Trie(Generic[T]):
    """Templated routes by segment; see the module docstring."""

    def __init__(self) -> None:
        self.root: _Node[T] = _Node()

    def add(
        self, template: PathTemplate, methods: Sequence[str], route: T, index: int
    ) -> tuple[str, T] | None:
        """Add ``route``, or return ``(method, route)`` already taking an equal template."""
        node = self.root
        node.first = min(node.first, index)
        for segment in template.segments:
            if segment.literal is not None:
                node = node.static.setdefault(segment.literal, _Node())
            else:
                edge = node.keyed.get(segment.key)
                if edge is None:
                    kind = _TAIL if segment.tail else _ANY if segment.pattern is None else _SEGMENT
                    edge = node.keyed[segment.key] = _Edge(kind, segment.pattern)
                    node.dynamic.append(edge)
                edge.first = min(edge.first, index)
                node = edge.node
            node.first = min(node.first, index)
        if node.leaf is None:
            node.leaf = {}
        for method in methods:
            if method in node.leaf:
                return method, node.leaf[method].route
        target = _Target(route, template, index)
        for method in methods:
            node.leaf[method] = target
        return None

    def finish(self) -> None:
        """Sort the parameter edges by registration and let GET routes answer HEAD."""
        _finish(self.root)
        self.root.only = None  # the root is entered for every path: keep it a plain walk

    def match(self, path: str, method: str) -> tuple[T, dict[str, str]] | None:
        """The first registered route matching ``path`` and ``method``, with its parameters."""
        if path[:1] != "/":  # not so for "OPTIONS *"
            return None
        found = _search(self.root, path, path[1:].split("/"), 0, method, _NEVER)
        if found is None:
            return None
        target, m = found
        if m is None:
            assert target.regex is not None
            m = target.regex.fullmatch(path)
            assert m is not None
        return target.route, m.groupdict()

    def methods(self, path: str) -> set[str]:
        """The methods of every route matching ``path``."""
        found: set[str] = set()
        if path.startswith("/"):
            segments = path[1:].split("/")
            _collect(self.root, segments, 0, found)
        return found


def _finish(node: _Node[T]) -> tuple[int, dict[str, _Target[T]] | None]:
    """Finish a subtree; return how many leaves it holds and, if one, that leaf."""
    node.dynamic.sort(key=lambda e: e.first)
    node.keyed = {}
    count = 0
    single = node.leaf
    if single is not None:
        if "GET" in single and "HEAD" not in single:
            single["HEAD"] = single["GET"]
        count = 1
    for child in [*node.static.values(), *(e.node for e in node.dynamic)]:
        below, leaf = _finish(child)
        count += below
        if below == 1:
            single = leaf
    if count != 1 or single is None:
        return count, None
    node.only = single
    return 1, single


_Found = tuple["_Target[T]", re.Match[str] | None]


def _search(
    node: _Node[T], path: str, segments: list[str], i: int, method: str, limit: int
) -> _Found[T] | None:
    """Walk from ``node`` at ``segments[i]`` for a route registered before ``limit``.

    Returns the route's target, with its regex's match when that ran already: the walk only
    finds the route; its parameters come from its own regex afterwards.
    """
    while True:
        only = node.only
        if only is not None:  # one template below: its regex decides
            target = only.get(method)
            if target is None or target.index >= limit:
                return None
            assert target.regex is not None
            m = target.regex.fullmatch(path)
            return None if m is None else (target, m)
        if i == len(segments):
            leaf = node.leaf
            if leaf is not None:
                target = leaf.get(method)
                if target is not None and target.index < limit:
                    return target, None
            return None
        segment = segments[i]
        child = node.static.get(segment)
        if node.dynamic:
            break
        # only literal segments below: follow the one that matches, without recursing
        if child is None or child.first >= limit:
            return None
        node = child
        i += 1
    best = None
    if child is not None and child.first < limit:
        best = _search(child, path, segments, i + 1, method, limit)
        if best is not None:
            limit = best[0].index
    for edge in node.dynamic:
        if edge.first >= limit:
            break
        kind = edge.kind
        if kind == _ANY:
            if not segment:
                continue
        elif kind == _SEGMENT:
            assert edge.pattern is not None
            if edge.pattern.fullmatch(segment) is None:
                continue
        else:
            assert edge.pattern is not None and edge.node.leaf is not None
            target = edge.node.leaf.get(method)
            if target is None or target.index >= limit:
                continue
            if edge.pattern.fullmatch("/".join(segments[i:])) is not None:
                best = target, None
                limit = target.index
            continue
        found = _search(edge.node, path, segments, i + 1, method, limit)
        if found is not None:
            best = found
            limit = found[0].index
    return best


def _collect(node: _Node[T], segments: list[str], i: int, out: set[str]) -> None:
    if i == len(segments):
        if node.leaf is not None:
            out.update(node.leaf)
        return
    segment = segments[i]
    child = node.static.get(segment)
    if child is not None:
        _collect(child, segments, i + 1, out)
    for edge in node.dynamic:
        if edge.kind == _ANY:
            if segment:
                _collect(edge.node, segments, i + 1, out)
        elif edge.kind == _SEGMENT:
            assert edge.pattern is not None
            if edge.pattern.fullmatch(segment):
                _collect(edge.node, segments, i + 1, out)
        else:
            assert edge.pattern is not None and edge.node.leaf is not None
            if edge.pattern.fullmatch("/".join(segments[i:])):
                out.update(edge.node.leaf)


class RouteTable:
    """Routes, websocket routes and mounts compiled for dispatch (built by the app).

    Args:
        routes: HTTP routes in registration order, their endpoints compiled.
        websocket_routes: Websocket route objects (``path``, ``handle``).
        mounts: Mounted applications.
        redirect_slashes: Redirect to the other trailing-slash form when only it exists.
        first_wins: Two routes sharing a template and a method: the first registered one
            answers and a warning names the other (FastAPI's behaviour), instead of an error.

    Raises:
        ValueError: Two routes share a template and a method (unless ``first_wins``), or a
            templated route lies wholly under a mount (the mount would always answer first).
    """

    def __init__(
        self,
        routes: Sequence[Route],
        websocket_routes: Sequence[Any],
        mounts: Sequence[Mount],
        *,
        redirect_slashes: bool = True,
        first_wins: bool = False,
    ) -> None:
        self.redirect_slashes = redirect_slashes
        self.first_wins = first_wins
        self.static: dict[str, dict[str, Route]] = {}
        self.trie: _Trie[Route] = _Trie()
        self.mounts = sorted(mounts, key=lambda m: len(m.path), reverse=True)
        self._mounts_by_segment: dict[str, list[Mount]] = {}
        for mount in self.mounts:
            self._mounts_by_segment.setdefault(_first_segment(mount.path), []).append(mount)
        for index, route in enumerate(routes):
            self._add(route, index)
        for methods in self.static.values():
            if "GET" in methods:
                methods.setdefault("HEAD", methods["GET"])
        self.trie.finish()
        self.websocket_static: dict[str, Any] = {}
        self.websocket_trie: _Trie[Any] = _Trie()
        for index, ws in enumerate(websocket_routes):
            template = compile_path(str(ws.path))
            other = self.websocket_static.get(template.path)
            if template.regex is None:
                self.websocket_static.setdefault(template.path, ws)
            else:
                self._check_mounts(template, f"Websocket route {template.path}")
                taken = self.websocket_trie.add(template, (_WEBSOCKET,), ws, index)
                other = taken[1] if taken else None
            if other is not None and other is not ws:
                raise ValueError(
                    f"Two websocket routes for {template.path}: "
                    f"{getattr(other, 'name', None)!r} and {getattr(ws, 'name', None)!r}"
                )
        self.websocket_trie.finish()

    def _add(self, route: Route, index: int) -> None:
        if self.first_wins:
            self._add_first_wins(route, index)
            return
        template = route.template
        taken: tuple[str, Route] | None = None
        if template.regex is None:
            methods = self.static.setdefault(template.path, {})
            for method in route.methods:
                if method in methods:
                    taken = method, methods[method]
                    break
            else:
                methods.update(dict.fromkeys(route.methods, route))
        else:
            self._check_mounts(template, f"Route {', '.join(route.methods)} {template.path}")
            taken = self.trie.add(template, route.methods, route, index)
        if taken is not None:
            method, other = taken
            raise ValueError(
                f"Two routes for {method} {template.path}: {other.name!r} and {route.name!r}"
            )

    def _add_first_wins(self, route: Route, index: int) -> None:
        template = route.template
        if template.regex is not None:
            self._check_mounts(template, f"Route {', '.join(route.methods)} {template.path}")
        for method in route.methods:
            taken: tuple[str, Route] | None = None
            if template.regex is None:
                methods = self.static.setdefault(template.path, {})
                if method in methods:
                    taken = method, methods[method]
                else:
                    methods[method] = route
            else:
                taken = self.trie.add(template, (method,), route, index)
            if taken is not None:
                warnings.warn(
                    f"Two routes for {method} {template.path}: {taken[1].name!r} answers, "
                    f"{route.name!r} (registered later) never does",
                    RuntimeWarning,
                    stacklevel=2,
                )

    def _check_mounts(self, template: PathTemplate, what: str) -> None:
        for mount in self.mounts:
            if template.prefix.startswith(mount.path + "/"):
                raise ValueError(
                    f"{what} can never match: mount {mount.path!r} answers every path under it"
                )

    def _mount_for(self, path: str) -> Mount | None:
        candidates = self._mounts_by_segment.get(_first_segment(path))
        if candidates is not None:
            for mount in candidates:
                prefix = mount.path
                if path.startswith(prefix) and (
                    len(path) == len(prefix) or path[len(prefix)] == "/"
                ):
                    return mount
        return None

    async def _to_mount(
        self, mount: Mount, root: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        child = dict(scope)
        child["root_path"] = root + mount.path
        await mount.app(child, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> RouteMiss | None:
        """Answer an HTTP request, or return why no route can."""
        root, path = route_path(scope)
        method: str = scope["method"]
        methods = self.static.get(path)
        if methods is not None:
            route = methods.get(method)
            if route is not None:
                scope["route"] = route
                endpoint = route.compiled
                assert endpoint is not None
                await endpoint(scope, receive, send)
                return None
        if self.mounts:
            mount = self._mount_for(path)
            if mount is not None:
                await self._to_mount(mount, root, scope, receive, send)
                return None
        found = self.trie.match(path, method)
        if found is not None:
            route, params = found
            scope["path_params"] = params
            scope["route"] = route
            endpoint = route.compiled
            assert endpoint is not None
            await endpoint(scope, receive, send)
            return None
        allowed = self.trie.methods(path)
        if methods is not None:
            allowed.update(methods)
        if allowed:
            allow = ", ".join(sorted({*allowed, "OPTIONS"}))
            if method == "OPTIONS":
                await Response(b"", 204, {"allow": allow})(scope, receive, send)
                return None
            detail = f"Method {method} is not allowed here; allowed: {allow}"
            return RouteMiss(405, detail, {"allow": allow})
        if self.redirect_slashes and path != "/":  # 307: the method and body are kept
            other = path[:-1] if path.endswith("/") else path + "/"
            if method in self.static.get(other, ()) or self.trie.match(other, method):
                target_url = root + other
                query = scope.get("query_string", b"")
                if query:
                    target_url += "?" + query.decode("latin-1")
                await RedirectResponse(target_url, 307)(scope, receive, send)
                return None
        return RouteMiss(404, f"No route for {safe_text(path, 100)}")

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand a websocket connection to its route or mount, or refuse it."""
        root, path = route_path(scope)
        route = self.websocket_static.get(path)
        if route is None and self.mounts:
            mount = self._mount_for(path)
            if mount is not None:
                await self._to_mount(mount, root, scope, receive, send)
                return
        if route is None:
            found = self.websocket_trie.match(path, _WEBSOCKET)
            if found is not None:
                route, scope["path_params"] = found
        if route is not None:
            await route.handle(scope, receive, send)
            return
        # No websocket route: refuse before accepting (the server answers HTTP 403).
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1008, "reason": "No such endpoint"})


def _first_segment(path: str) -> str:
    end = path.find("/", 1)
    return path[1:] if end < 0 else path[1:end]
