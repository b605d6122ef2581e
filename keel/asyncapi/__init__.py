"""AsyncAPI 3.0: the document of an app's websocket and server-sent event routes.

``app.asyncapi()`` returns it; the app serves it at ``/asyncapi.json`` and a page listing the
channels at ``/asyncapi`` (``App.asyncapi_url``/``App.asyncapi_docs_url``, when the app has
such routes); ``keel asyncapi module:app`` prints it.

Each route is a channel (its address is the path, with its parameters). A websocket has a
``receive`` operation (the messages clients send, validated as the handler's
``WebSocket[In, Out]`` inbound type) and a ``send`` operation (the outbound type, and for
typed routes the error frame an invalid message gets); an event stream has a ``send``
operation whose messages are its events. Payloads are the JSON Schemas of the types.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

from keel.asyncapi._routes import install_asyncapi_routes

if TYPE_CHECKING:
    from keel.app import App

__all__ = [
    "ASYNCAPI_VERSION",
    "asyncapi_document",
    "has_realtime_routes",
    "install_asyncapi_routes",
]

ASYNCAPI_VERSION = "3.0.0"

_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")

_ERROR_FRAME: dict[str, Any] = {
    "type": "object",
    "title": "WebSocketError",
    "description": "Sent back for an inbound message that is not valid (the message is skipped).",
    "properties": {
        "type": {"const": "error"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "detail"],
}


def _slug(text: str) -> str:
    return _SLUG.sub("_", text).strip("_") or "channel"


def _event_type(endpoint: Any) -> Any:
    """The item type of an async generator handler's ``AsyncIterator[T]`` annotation."""
    try:
        hints = typing.get_type_hints(endpoint)
    except Exception:
        return None
    ret = hints.get("return")
    origin = get_origin(ret)
    if origin is not None and isinstance(origin, type) and issubclass(origin, AsyncIterator):
        args = get_args(ret)
        if args:
            from keel.sse import ServerSentEvent

            return None if args[0] is ServerSentEvent or args[0] is Any else args[0]
    return None


def _is_stream(route: Any) -> bool:
    from keel.sse import EventSourceResponse

    if inspect.isasyncgenfunction(route.endpoint):
        return True
    cls = route.response_class
    return isinstance(cls, type) and issubclass(cls, EventSourceResponse)


def has_realtime_routes(app: App) -> bool:
    """Whether ``app`` has websocket or event-stream routes (then the AsyncAPI routes go in)."""
    return bool(app.websocket_routes) or any(_is_stream(r) for r in app.routes)


class _Builder:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}

    def payload(self, tp: Any) -> dict[str, Any]:
        """The JSON Schema of ``tp``, its definitions hoisted into the components."""
        if tp is None:
            return {}
        schema = TypeAdapter(tp).json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, _asyncapi_schema(definition))
        if isinstance(tp, type) and issubclass(tp, BaseModel):  # a component of its own
            name = str(schema.get("title") or tp.__name__)
            self.schemas.setdefault(name, _asyncapi_schema(schema))
            return {"$ref": f"#/components/schemas/{name}"}
        converted: dict[str, Any] = _asyncapi_schema(schema)
        return converted

    def message(self, name: str, tp: Any, *, text: bool = False, title: str = "") -> str:
        key = _slug(name)
        base, n = key, 2
        while key in self.messages:
            key, n = f"{base}_{n}", n + 1
        payload = self.payload(tp) if tp is not None else {}
        if tp is None and text:
            payload = {"type": "string"}
        entry: dict[str, Any] = {
            "name": key,
            "contentType": "application/json" if tp is not None else "text/plain",
            "payload": payload,
        }
        if title:
            entry["title"] = title
        self.messages[key] = entry
        return key


def _asyncapi_schema(node: Any) -> Any:
    """pydantic's JSON Schema as an AsyncAPI Schema Object: ``discriminator`` is the
    property name there (not OpenAPI's object)."""
    if isinstance(node, dict):
        out = {k: _asyncapi_schema(v) for k, v in node.items()}
        disc = out.get("discriminator")
        if isinstance(disc, dict):
            out["discriminator"] = disc.get("propertyName", "")
        return out
    if isinstance(node, list):
        return [_asyncapi_schema(v) for v in node]
    return node


def asyncapi_document(app: App) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``app``'s websocket and event-stream routes."""
    builder = _Builder()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def channel(path: str, name: str, summary: str | None, description: str | None) -> str:
        key = _slug(name)
        base, n = key, 2
        while key in channels:
            key, n = f"{base}_{n}", n + 1
        address = _PARAM.sub(r"{\1}", path)
        entry: dict[str, Any] = {"address": address, "messages": {}}
        params = _PARAM.findall(path)
        if params:
            entry["parameters"] = {p: {"description": f"The path parameter {p}."} for p in params}
        if summary:
            entry["summary"] = summary
        if description:
            entry["description"] = description
        channels[key] = entry
        return key

    def operation(key: str, action: str, message_keys: list[str], binding: dict[str, Any]) -> None:
        refs = []
        for m in message_keys:
            channels[key]["messages"][m] = {"$ref": f"#/components/messages/{m}"}
            refs.append({"$ref": f"#/channels/{key}/messages/{m}"})
        operations[f"{key}_{action}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": refs,
            "bindings": binding,
        }

    for ws in app.websocket_routes:
        if not getattr(ws, "include_in_schema", True):
            continue
        doc = ws.description or (
            inspect.cleandoc(ws.endpoint.__doc__) if ws.endpoint.__doc__ else None
        )
        key = channel(ws.path, ws.name, ws.summary, doc)
        channels[key]["bindings"] = {"ws": {"method": "GET", "bindingVersion": "0.1.0"}}
        incoming = builder.message(f"{key}_in", ws.receives, text=True, title="From the client")
        outgoing = [builder.message(f"{key}_out", ws.sends, text=True, title="To the client")]
        if ws.receives is not None:
            name = builder.message(f"{key}_error", None, title="Invalid message")
            builder.messages[name]["payload"] = _ERROR_FRAME
            builder.messages[name]["contentType"] = "application/json"
            outgoing.append(name)
        operation(key, "receive", [incoming], {"ws": {"bindingVersion": "0.1.0"}})
        operation(key, "send", outgoing, {"ws": {"bindingVersion": "0.1.0"}})

    for route in app.routes:
        if not route.include_in_schema or not _is_stream(route):
            continue
        key = channel(route.path, route.name, route.summary, route.description)
        channels[key]["bindings"] = {"http": {"bindingVersion": "0.3.0"}}
        event = builder.message(f"{key}_event", _event_type(route.endpoint), text=True)
        builder.messages[event]["title"] = "Server-sent event"
        builder.messages[event]["description"] = "One event of the text/event-stream response."
        operation(key, "send", [event], {"http": {"method": "GET", "bindingVersion": "0.3.0"}})

    info: dict[str, Any] = {"title": app.title, "version": app.version}
    if app.description:
        info["description"] = app.description
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": info,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": dict(sorted(builder.messages.items())),
            "schemas": dict(sorted(builder.schemas.items())),
        },
    }
    return document
