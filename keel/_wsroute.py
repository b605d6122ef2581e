"""Websocket routes: the handshake checks, the dependency plan and the handler's run.

A connection goes through, in order: the ``Origin`` check (a browser page of another site is
refused with 403: cross-site websocket hijacking), the path/query/header/cookie parameters
and the dependencies (authentication), and only then the handler. Any refusal before the
handler accepts is an HTTP answer (the app's error format, e.g. a 401 problem details) when
the server supports the ASGI ``websocket.http.response`` extension, else a 403 close.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

from pydantic import TypeAdapter

from keel import _live
from keel._analysis import CONSTANT, DEP, FIELD, REQUEST, WEBSOCKET, Plan, compile_plan
from keel._concurrency import run_sync
from keel._teardown import Exits, close_request_scope, enter, unwind
from keel._types import Message, Receive, Scope, Send
from keel.di import Depends
from keel.errors import HTTPError
from keel.exceptions import WebSocketException
from keel.requests import Request
from keel.routing import _format_path, compile_path
from keel.websockets import WebSocket, WebSocketDisconnect, WebSocketLimits, WebSocketState

if TYPE_CHECKING:
    from keel.csrf import _Origin, _Trusted
    from keel.settings import Settings

__all__ = ["OriginCheck", "WebSocketRoute", "message_types"]

logger = logging.getLogger("keel.error")


def message_types(endpoint: Callable[..., Any]) -> tuple[Any, Any]:
    """The ``(In, Out)`` of the handler's ``WebSocket[In, Out]`` parameter (``None`` each
    when untyped)."""
    try:
        hints = inspect.signature(endpoint, eval_str=True).parameters
    except (TypeError, ValueError, NameError):
        return None, None
    for p in hints.values():
        tp = p.annotation
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        if get_origin(tp) is WebSocket:
            receives, sends = get_args(tp)
            return (
                None if receives is Any else receives,
                None if sends is Any else sends,
            )
    return None, None


class OriginCheck:
    """Which browser origins may open websockets: this host, the allowed hosts (not ``*``)
    and ``csrf_trusted_origins``. A handshake without ``Origin`` (not a browser) passes."""

    def __init__(self, allowed_hosts: Sequence[str], trusted_origins: Sequence[str]) -> None:
        from keel.csrf import _Trusted

        self.hosts = [h for h in allowed_hosts if h != "*"]
        self.trusted: list[_Trusted] = [_Trusted(o) for o in trusted_origins]

    @classmethod
    def from_settings(cls, settings: Settings) -> OriginCheck:
        """The check the settings ask for."""
        from keel._defaults import allowed_hosts

        return cls(allowed_hosts(settings), settings.csrf_trusted_origins)

    def refusal(self, scope: Scope) -> str | None:
        """Why the handshake's ``Origin`` is refused, or ``None``."""
        origin = None
        host = ""
        for key, value in scope.get("headers", ()):
            if key == b"origin":
                origin = value.decode("latin-1")
            elif key == b"host":
                host = value.decode("latin-1")
        if origin is None:
            return None
        from keel.csrf import _parse_origin
        from keel.middleware.hosts import is_allowed_host

        parsed = _parse_origin(origin) if origin.strip().lower() != "null" else None
        if parsed is not None and self._allowed(parsed, host, is_allowed_host):
            return None
        shown = origin if len(origin) <= 100 else origin[:100] + "..."
        return (
            f"The websocket's Origin {shown!r} is not this site, an allowed host or a trusted "
            "origin (KEEL_CSRF_TRUSTED_ORIGINS)"
        )

    def _allowed(self, origin: _Origin, host: str, is_allowed_host: Any) -> bool:
        if host and origin[1] == host.rsplit(":", 1)[0].lower().strip("[]"):
            return True
        if host.startswith("[") and f"[{origin[1]}]" == host.split("]", 1)[0] + "]":
            return True
        if self.hosts and is_allowed_host(origin[1], self.hosts):
            return True
        return any(entry.matches(origin) for entry in self.trusted)


class WebSocketRoute:
    """A websocket route: ``path``, the handler and its dependencies, compiled by the app."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        dependencies: Sequence[Depends] = (),
        include_in_schema: bool = True,
        summary: str | None = None,
        description: str | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        self.endpoint = endpoint
        self.name: str = name or str(getattr(endpoint, "__name__", path))
        self.dependencies = list(dependencies)
        self.include_in_schema = include_in_schema
        self.summary = summary
        self.description = description
        self.tags = list(tags)
        self.receives, self.sends = message_types(endpoint)
        self._set_path(path)
        self.plan: Plan | None = None

    def _set_path(self, path: str) -> None:
        template = compile_path(path)
        self.path = path
        self.format = template.format
        self.param_types = template.param_types
        self.converters = template.converters

    def with_prefix(self, prefix: str, dependencies: Sequence[Depends]) -> WebSocketRoute:
        """A copy under ``prefix`` with ``dependencies`` run first."""
        route = copy.copy(self)
        route._set_path(prefix + self.path)
        route.dependencies = [*dependencies, *self.dependencies]
        route.plan = None
        return route

    def url_path(self, params: dict[str, Any]) -> str:
        """This route's path with ``params`` filled in."""
        return _format_path(self.format, self.param_types, self.converters, params, str(self.name))

    def compile(self, app: Any) -> None:
        """Compile the plan and read the limits (at app startup)."""
        from keel._http import app_setting
        from keel._inputs import ParamReader

        plan = compile_plan(
            self.endpoint,
            self.param_types,
            app.dependency_overrides,
            self.dependencies,
            app.auth_wording,
        )
        if plan.body_fields or plan.form_fields:
            names = ", ".join(f.name for f in [*plan.body_fields, *plan.form_fields])
            raise TypeError(
                f"Websocket handler {self.name!r}: {names} would be read from a request body, "
                "which a websocket has none of; receive messages instead"
            )
        self.plan = plan
        self.app = app
        self.params = (
            ParamReader(plan.params, app_setting(app, "max_query_params", None))
            if plan.params
            else None
        )
        self.limits = WebSocketLimits.from_settings(app.settings)
        self.origins = OriginCheck.from_settings(app.settings)
        self.in_adapter = TypeAdapter(self.receives) if self.receives is not None else None
        self.out_adapter = TypeAdapter(self.sends) if self.sends is not None else None

    def __repr__(self) -> str:
        return f"WebSocketRoute({self.path!r}, name={self.name!r})"

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one connection: checks, dependencies, handler, cleanup."""
        plan = self.plan
        assert plan is not None, "the app compiles its websocket routes at startup"
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # gone before the handshake
        app = self.app
        why = self.origins.refusal(scope)
        if why is not None:
            await deny(app, scope, receive, send, HTTPError(403, why))
            return
        ws: WebSocket[Any, Any] = WebSocket(
            scope, receive, send, self.limits, self.in_adapter, self.out_adapter
        )
        values: dict[str, Any] = {}
        results: list[Any] = [None] * len(plan.steps)
        fn_exits: Exits = []
        req_exits: Exits = []
        error: Exception | None = None
        tracked = _Tracked(ws, app)
        _live.register(tracked)
        try:
            try:
                if self.params is not None:
                    self.params.read(scope, values)
                for step in plan.steps:
                    kwargs = _arguments(step.args, values, results, ws)
                    if step is plan.steps[-1]:
                        results[step.index] = await _call_handler(step, kwargs)
                    elif step.kind == "async":
                        results[step.index] = await step.call(**kwargs)
                    elif step.kind == "sync":
                        results[step.index] = await run_sync(step.call, **kwargs)
                    else:
                        exits = fn_exits if step.scope == "function" else req_exits
                        results[step.index] = await enter(
                            step.call, kwargs, step.kind == "agen", exits
                        )
            except BaseException as exc:
                if not fn_exits:
                    raise
                still = await unwind(fn_exits, exc)
                if still is None:
                    raise WebSocketDisconnect(1000) from exc  # a dependency swallowed it
                raise still from None if still is exc else exc
            if fn_exits:
                failed = await unwind(fn_exits, None)
                if failed is not None:
                    raise failed
        except WebSocketDisconnect as exc:
            # Not an error for the server; the test clients raise it where the session
            # ends, as Starlette's do (a test may expect it).
            scope["keel.websocket_disconnect"] = exc
        except WebSocketException as exc:
            await ws.close(exc.code, exc.reason)
        except Exception as exc:
            error = exc
            if ws.application_state is WebSocketState.CONNECTING:
                await deny(app, scope, receive, send, exc)
                ws.application_state = WebSocketState.DISCONNECTED
            else:
                await ws.close(1011, "Internal error")
        finally:
            await ws._finish()
            _live.unregister(tracked)
            await close_request_scope(req_exits, error)
        if error is not None and app.is_unhandled(error):
            raise error  # the server logs it; test clients re-raise it


class _Tracked:
    """A websocket as :mod:`keel._live` tracks it."""

    __slots__ = ("__weakref__", "app", "ws")

    def __init__(self, ws: WebSocket[Any, Any], app: Any) -> None:
        self.ws = ws
        self.app = app

    def end(self, code: int) -> None:
        self.ws.end(code)


def _arguments(
    args: Sequence[Any], values: dict[str, Any], results: list[Any], ws: WebSocket[Any, Any]
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for arg in args:
        src = arg.source
        if src == FIELD:
            kwargs[arg.name] = values[arg.ref]
        elif src == DEP:
            kwargs[arg.name] = results[arg.ref]
        elif src in (REQUEST, WEBSOCKET):
            kwargs[arg.name] = ws
        elif src == CONSTANT:
            kwargs[arg.name] = arg.ref
        else:
            raise TypeError(f"{arg.name!r} cannot be injected into a websocket handler")
    return kwargs


async def _call_handler(step: Any, kwargs: dict[str, Any]) -> Any:
    if step.kind == "async":
        return await step.call(**kwargs)
    if step.kind == "sync":
        return await run_sync(step.call, **kwargs)
    raise TypeError(f"Websocket handler {step.original.__qualname__} must be an async function")


async def deny(app: Any, scope: Scope, receive: Receive, send: Send, exc: BaseException) -> None:
    """Refuse a handshake with the app's error answer for ``exc`` (an HTTP response when the
    server supports it, else a 403 close)."""
    extensions = scope.get("extensions") or {}
    if "websocket.http.response" not in extensions:
        await send({"type": "websocket.close", "code": 1008, "reason": ""})
        return
    response = await app.handle_exception(Request(scope, receive), exc)

    async def as_websocket(message: Message) -> None:
        await send({**message, "type": "websocket." + message["type"]})

    await response(scope, receive, as_websocket)
