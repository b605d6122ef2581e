"""What the observability layers share: the route template of a finished request."""

from __future__ import annotations

import re
import uuid
from typing import Any

from keel._types import Scope

__all__ = ["UNMATCHED", "request_id", "route_template"]

UNMATCHED = "<unmatched>"
"""The route label of requests no route answered (404s, refusals): raw paths are never
labels, so a scan of random URLs cannot create unbounded series."""

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,200}")


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/items/{item_id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app: Any = scope.get("app")
    health = getattr(app, "_health", None)
    if health is not None and scope.get("path") in (
        health.liveness_path,
        health.readiness_path,
    ):
        return str(scope["path"])
    return UNMATCHED


def request_id(scope: Scope) -> str:
    """The request's ID: a sane ``X-Request-ID`` header, else a new one (and it is put in
    ``scope["request_id"]``, where ``RequestIDMiddleware`` reads and writes it too)."""
    existing: object = scope.get("request_id")
    if isinstance(existing, str):
        return existing
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _SANE_ID.fullmatch(text):
                scope["request_id"] = text
                return text
            break
    fresh = uuid.uuid4().hex
    scope["request_id"] = fresh
    return fresh
