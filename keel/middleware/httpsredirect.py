"""Send plain-HTTP requests to the same URL over HTTPS (Starlette's ``HTTPSRedirectMiddleware``).

Behind a TLS-terminating proxy the scheme comes from the proxy's ``X-Forwarded-Proto``, which
the server believes only from trusted proxies (``keel serve --proxy-headers``); otherwise
every request looks like plain HTTP and is redirected forever.
"""

from __future__ import annotations

from urllib.parse import quote

from keel._types import ASGIApp, Receive, Scope, Send
from keel.middleware._common import send_problem
from keel.middleware.hosts import split_host
from keel.responses import RedirectResponse

__all__ = ["HTTPSRedirectMiddleware"]


class HTTPSRedirectMiddleware:
    """Answer ``http://`` requests with a 307 to ``https://`` (same host, path and query).

    The 307 keeps the method and body, so a POST is re-sent over HTTPS. A plain ``ws://``
    websocket handshake is refused (403): browsers do not follow redirects there. The host
    is the request's ``Host``, already checked against the allowed hosts by keel; ports 80
    and 443 are dropped, any other port is kept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        scheme = scope.get("scheme", "http")
        if kind == "websocket" and scheme == "ws":
            await send({"type": "websocket.close", "code": 1008, "reason": "Use wss://"})
            return
        if kind != "http" or scheme != "http":
            await self.app(scope, receive, send)
            return
        parsed = split_host(_host(scope))
        if parsed is None:
            await send_problem(scope, receive, send, 400, "The request has no valid Host header.")
            return
        domain, port = parsed
        netloc = domain if port in (None, 80, 443) else f"{domain}:{port}"
        raw = scope.get("raw_path")  # as sent: an encoded "%2F" stays encoded
        path = (
            scope.get("root_path", "") + raw.decode("latin-1")
            if raw
            else quote(scope.get("root_path", "") + scope["path"], safe="/:@!$&'()*+,;=~")
        )
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"https://{netloc}{path}" + (f"?{query}" if query else "")
        await RedirectResponse(url, 307)(scope, receive, send)


def _host(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"host":
            return str(value.decode("latin-1"))
    server = scope.get("server")
    return f"{server[0]}:{server[1]}" if server else ""
