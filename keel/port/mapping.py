"""The FastAPI/Starlette to keel mapping table: data only, read by the codemod.

``MODULES`` maps a FastAPI or Starlette module to the keel module that takes its place.
``NAMES`` overrides single names whose keel home differs from their module's (FastAPI
re-exports Starlette's responses at its top level, keel keeps them in ``keel.responses``).
``NATIVE_NAMES`` replaces ``NAMES`` entries under ``--native``. ``HINTS`` is the advice for
names and modules keel deliberately does not provide; ``PRIVATE`` lists module prefixes
that are FastAPI's internals (always a hand-made change).
"""

from __future__ import annotations

from typing import Final

__all__ = ["HINTS", "MODULES", "NAMES", "NATIVE_NAMES", "PRIVATE", "Target"]

Target = tuple[str, str]
"""A keel module and the name inside it."""

MODULES: Final[dict[str, str]] = {
    "fastapi": "keel",
    "fastapi.applications": "keel",
    "fastapi.routing": "keel.routing",
    "fastapi.params": "keel.params",
    "fastapi.param_functions": "keel.params",
    "fastapi.requests": "keel.requests",
    "fastapi.responses": "keel.responses",
    "fastapi.testclient": "keel.testing",
    "fastapi.status": "keel.status",
    "fastapi.security": "keel.security",
    "fastapi.encoders": "keel.encoders",
    "fastapi.exceptions": "keel.exceptions",
    "fastapi.exception_handlers": "keel.exception_handlers",
    "fastapi.concurrency": "keel.concurrency",
    "fastapi.websockets": "keel.websockets",
    "fastapi.templating": "keel.templating",
    "fastapi.staticfiles": "keel.staticfiles",
    "fastapi.background": "keel.background",
    "fastapi.datastructures": "keel.datastructures",
    "fastapi.middleware": "keel.middleware",
    "fastapi.middleware.cors": "keel.middleware.cors",
    "fastapi.middleware.gzip": "keel.middleware.gzip",
    "fastapi.middleware.trustedhost": "keel.middleware.trustedhost",
    "fastapi.middleware.httpsredirect": "keel.middleware.httpsredirect",
    "starlette": "keel",
    "starlette.applications": "keel",
    "starlette.routing": "keel.routing",
    "starlette.requests": "keel.requests",
    "starlette.responses": "keel.responses",
    "starlette.testclient": "keel.testing",
    "starlette.status": "keel.status",
    "starlette.exceptions": "keel.exceptions",
    "starlette.concurrency": "keel.concurrency",
    "starlette.websockets": "keel.websockets",
    "starlette.templating": "keel.templating",
    "starlette.staticfiles": "keel.staticfiles",
    "starlette.background": "keel.background",
    "starlette.datastructures": "keel.datastructures",
    "starlette.middleware": "keel.middleware",
    "starlette.middleware.cors": "keel.middleware.cors",
    "starlette.middleware.gzip": "keel.middleware.gzip",
    "starlette.middleware.trustedhost": "keel.middleware.trustedhost",
    "starlette.middleware.httpsredirect": "keel.middleware.httpsredirect",
}

_RESPONSES = (
    "Response",
    "JSONResponse",
    "HTMLResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "StreamingResponse",
    "FileResponse",
    "ORJSONResponse",
    "UJSONResponse",
)

NAMES: Final[dict[tuple[str, str], Target]] = {
    ("fastapi", "FastAPI"): ("keel.fastapi", "FastAPI"),
    ("fastapi.applications", "FastAPI"): ("keel.fastapi", "FastAPI"),
    ("starlette.applications", "Starlette"): ("keel.fastapi", "FastAPI"),
    ("fastapi", "status"): ("keel", "status"),
    ("fastapi", "WebSocket"): ("keel.websockets", "WebSocket"),
    ("fastapi", "WebSocketDisconnect"): ("keel.websockets", "WebSocketDisconnect"),
    ("fastapi", "WebSocketException"): ("keel.exceptions", "WebSocketException"),
    ("fastapi", "UploadFile"): ("keel", "UploadFile"),
    ("fastapi.datastructures", "UploadFile"): ("keel", "UploadFile"),
    ("starlette.datastructures", "UploadFile"): ("keel", "UploadFile"),
    ("fastapi.testclient", "TestClient"): ("keel.testing", "TestClient"),
    ("fastapi.middleware", "Middleware"): ("keel.middleware", "Middleware"),
    **{("fastapi", name): ("keel.responses", name) for name in _RESPONSES},
}

NATIVE_NAMES: Final[dict[tuple[str, str], Target]] = {
    ("fastapi", "FastAPI"): ("keel", "App"),
    ("fastapi.applications", "FastAPI"): ("keel", "App"),
    ("starlette.applications", "Starlette"): ("keel", "App"),
}

HINTS: Final[dict[str, str]] = {
    "starlette.middleware.base.BaseHTTPMiddleware": (
        'write the middleware as a function with @app.middleware("http")'
    ),
    "starlette.middleware.base": 'write the middleware as a function with @app.middleware("http")',
    "fastapi.openapi.utils.get_openapi": "build the document with app.openapi()",
    "fastapi.utils": "FastAPI's internal helpers have no keel equivalent",
}

PRIVATE: Final[tuple[str, ...]] = (
    "fastapi.dependencies",
    "fastapi._compat",
    "fastapi.utils",
    "fastapi.openapi",
    "fastapi.types",
    "fastapi.logger",
    "fastapi.cli",
    "starlette._utils",
    "starlette.types",
    "starlette.middleware.base",
    "starlette.convertors",
    "starlette.config",
    "starlette.authentication",
    "starlette.endpoints",
    "starlette.schemas",
    "starlette.graphql",
)
