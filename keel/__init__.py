"""keel: an async Python web framework with typed APIs and batteries included.

The five-line hello world::

    from keel import App
    app = App()

    @app.get("/")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keel import status
from keel._concurrency import run_sync
from keel.app import App
from keel.background import BackgroundTasks
from keel.di import Depends, Security
from keel.errors import HTTPError, HTTPException, RequestValidationError
from keel.params import Body, Cookie, File, Form, Header, Path, Query
from keel.requests import Request, UploadFile
from keel.responses import Response, safe_redirect
from keel.routing import APIRouter, Router

if TYPE_CHECKING:
    from keel.settings import Settings
    from keel.sse import EventSourceResponse, ServerSentEvent
    from keel.websockets import WebSocket, WebSocketDisconnect

__version__ = "0.1.0"

__all__ = [
    "APIRouter",
    "App",
    "BackgroundTasks",
    "Body",
    "Cookie",
    "Depends",
    "EventSourceResponse",
    "File",
    "Form",
    "HTTPError",
    "HTTPException",
    "Header",
    "Path",
    "Query",
    "Request",
    "RequestValidationError",
    "Response",
    "Router",
    "Security",
    "ServerSentEvent",
    "Settings",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "run_sync",
    "safe_redirect",
    "status",
]


def __getattr__(name: str) -> Any:
    if name == "Settings":  # pydantic-settings is imported only when used
        from keel.settings import Settings

        return Settings
    if name in ("WebSocket", "WebSocketDisconnect"):  # asyncio is imported only when used
        from keel import websockets

        return getattr(websockets, name)
    if name in ("EventSourceResponse", "ServerSentEvent"):
        from keel import sse

        return getattr(sse, name)
    raise AttributeError(f"module 'keel' has no attribute {name!r}")
