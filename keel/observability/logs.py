"""Structured access logs: one JSON line per request.

``json_logs(app)`` logs each request on the ``keel.access`` logger with the request ID, the
method, the route template (``/items/{item_id}``, not the raw path), the status and the
duration; :class:`JSONFormatter` writes any log record as one JSON object per line.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.observability._common import request_id, route_template

if TYPE_CHECKING:
    from keel.app import App

__all__ = ["ACCESS_LOGGER", "AccessLog", "JSONFormatter", "json_logs"]

ACCESS_LOGGER = "keel.access"
"""The logger the access lines go to."""

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """Formats a log record as one JSON object: time, level, logger, message, the record's
    extra fields (``extra={...}``) and the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class AccessLog:
    """ASGI layer: logs each HTTP request when its response is complete."""

    def __init__(self, app: ASGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = request_id(scope)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            duration = (time.perf_counter() - start) * 1000
            self.logger.info(
                "%s %s %d",
                scope["method"],
                route_template(scope),
                status,
                extra={
                    "request_id": scope.get("request_id", rid),
                    "method": scope["method"],
                    "route": route_template(scope),
                    "status": status,
                    "duration_ms": round(duration, 3),
                },
            )


def json_logs(
    app: App,
    *,
    stream: TextIO | None = None,
    level: int = logging.INFO,
    configure: bool = True,
) -> logging.Logger:
    """Log every request of ``app`` as a JSON line on ``keel.access``.

    Args:
        app: The app (call before it starts).
        stream: Where the lines go (default: standard output).
        level: The level of the ``keel`` loggers' handler.
        configure: Attach a :class:`JSONFormatter` handler to the ``keel`` logger (so
            keel's own warnings are JSON too); ``False`` leaves handlers to you.

    Returns:
        The access logger.
    """
    logger = logging.getLogger(ACCESS_LOGGER)
    if configure:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JSONFormatter())
        handler.setLevel(level)
        root = logging.getLogger("keel")
        root.addHandler(handler)
        root.setLevel(min(root.level or level, level))
    app.outer_layers.append(lambda inner: AccessLog(inner, logger))
    return logger
