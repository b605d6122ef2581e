"""Cross-Origin Resource Sharing (CORS): let chosen browser origins call the API.

Implements the server side of the Fetch standard's CORS protocol: preflight requests
(``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) are answered here;
actual requests from allowed origins get ``Access-Control-Allow-Origin`` (and friends)
added to the app's response. Requests from other origins are not blocked (CORS is enforced
by browsers, not servers): they simply get no CORS headers, so the browser withholds the
response from the calling page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.middleware._common import add_vary, header_value, message_headers, send_problem

__all__ = ["CORSMiddleware"]

_ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class CORSMiddleware:
    """Answer CORS preflights and add CORS headers for allowed origins.

    Args:
        app: The ASGI app.
        allow_origins: Origins allowed exactly (``"https://app.example.com"``), or ``["*"]``
            for any origin (not with credentials).
        allow_origin_regex: A regular expression an origin must match *entirely*
            (``r"https://[a-z0-9-]+\\.example\\.com"``); ``https://example.com.evil.io``
            does not match ``https://.*\\.example\\.com``.
        allow_methods: Methods allowed in preflights; ``["*"]`` allows all standard ones.
        allow_headers: Request headers allowed in preflights (case-insensitive); ``["*"]``
            allows any. CORS-safelisted headers are always allowed.
        allow_credentials: Let the browser send cookies/HTTP auth; never with ``*``.
        expose_headers: Response headers the calling script may read.
        max_age: How long (seconds) browsers may cache a preflight answer.
        preflight_status: Status of a successful preflight answer (204 or 200).

    Raises:
        ValueError: ``allow_credentials`` together with ``*`` in origins, methods or
            headers, a malformed origin or regex, or a bad option value.

    A preflight from a disallowed origin, or asking for a method or header that is not
    allowed, is answered 400 (problem details). ``Vary: Origin`` is added to every response
    whose CORS headers depend on the request's origin.
    """

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
        *,
        preflight_status: int = 204,
    ) -> None:
        for name, value in (
            ("allow_origins", allow_origins),
            ("allow_methods", allow_methods),
            ("allow_headers", allow_headers),
            ("expose_headers", expose_headers),
        ):
            if isinstance(value, str):
                raise TypeError(f"{name} must be a list of strings, not a string")
        self.app = app
        self.allow_all_origins = "*" in allow_origins
        self.origins = frozenset(_check_origin(o) for o in allow_origins if o != "*")
        self.origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        self.allow_all_methods = "*" in allow_methods
        methods = _ALL_METHODS if self.allow_all_methods else allow_methods
        self.methods = frozenset(_check_token(m, "method").upper() for m in methods)
        self.allow_all_headers = "*" in allow_headers
        self.headers = frozenset(
            _check_token(h, "header").lower() for h in allow_headers if h != "*"
        )
        self.credentials = allow_credentials
        if allow_credentials and (
            self.allow_all_origins or self.allow_all_methods or self.allow_all_headers
        ):
            raise ValueError(
                "allow_credentials=True cannot be combined with '*' in allow_origins, "
                "allow_methods or allow_headers: list the origins (or use "
                "allow_origin_regex), methods and headers explicitly"
            )
        if max_age < 0:
            raise ValueError("max_age must be >= 0 seconds")
        if preflight_status not in (200, 204):
            raise ValueError("preflight_status must be 200 or 204")
        self.expose = ", ".join(_check_token(h, "header") for h in expose_headers)
        self.max_age = max_age
        self.preflight_status = preflight_status
        # With a fixed "*" answer and no regex the headers do not depend on the origin.
        self.origin_dependent = not self.allow_all_origins or bool(self.origin_regex)

    def is_allowed_origin(self, origin: str) -> bool:
        """Whether ``origin`` (the ``Origin`` header's value) is allowed."""
        if self.allow_all_origins or origin.lower() in self.origins:
            return True
        return self.origin_regex is not None and self.origin_regex.fullmatch(origin) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preflight, or run the app and add CORS headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        raw_origin = header_value(headers, b"origin")
        if raw_origin is None:
            if not self.origin_dependent:
                await self.app(scope, receive, send)
                return

            async def send_with_vary(message: Message) -> None:
                # A shared cache must not serve this CORS-less answer to a browser page.
                if message["type"] == "http.response.start":
                    add_vary(message_headers(message), b"Origin")
                await send(message)

            await self.app(scope, receive, send_with_vary)
            return
        origin = raw_origin.decode("latin-1")
        request_method = header_value(headers, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and request_method is not None:
            await self._preflight(scope, receive, send, origin, request_method.decode("latin-1"))
            return
        allowed = self.is_allowed_origin(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._decorate(message, origin, allowed)
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _allow_origin_value(self, origin: str) -> bytes:
        if self.allow_all_origins and not self.credentials and not self.origin_regex:
            return b"*"
        return origin.encode("latin-1")

    def _decorate(self, message: Message, origin: str, allowed: bool) -> None:
        headers = message_headers(message)
        if self.origin_dependent:
            add_vary(headers, b"Origin")
        if not allowed:
            return
        present = {k.lower() for k, _ in headers}
        if b"access-control-allow-origin" in present:
            return  # the route answered CORS itself
        headers.append((b"access-control-allow-origin", self._allow_origin_value(origin)))
        if self.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        if self.expose:
            headers.append((b"access-control-expose-headers", self.expose.encode()))

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, origin: str, method: str
    ) -> None:
        requested = header_value(scope.get("headers", ()), b"access-control-request-headers")
        names = [h.strip().lower() for h in (requested or b"").decode("latin-1").split(",")]
        names = [h for h in names if h]
        vary = {"Vary": "Origin"} if self.origin_dependent else {}
        failure: str | None = None
        if not self.is_allowed_origin(origin):
            failure = f"The origin {_short(origin)!r} is not allowed to make this request."
        elif method.upper() not in self.methods:
            failure = f"The method {_short(method)!r} is not allowed for cross-origin requests."
        elif not self.allow_all_headers:
            refused = [h for h in names if h not in self.headers and h not in _SAFELISTED_HEADERS]
            if refused:
                failure = (
                    f"The header(s) {_short(', '.join(refused))!r} are not allowed for "
                    "cross-origin requests."
                )
        if failure is not None:
            await send_problem(scope, receive, send, 400, failure, headers=vary)
            return
        out: list[tuple[bytes, bytes]] = [
            (b"access-control-allow-origin", self._allow_origin_value(origin)),
            (b"access-control-allow-methods", ", ".join(sorted(self.methods)).encode()),
            (b"access-control-max-age", str(self.max_age).encode()),
        ]
        if names:
            # Echo what was asked for (all of it was checked above).
            out.append((b"access-control-allow-headers", ", ".join(names).encode("latin-1")))
        if self.credentials:
            out.append((b"access-control-allow-credentials", b"true"))
        vary_values = [b"Origin"] if self.origin_dependent else []
        vary_values += [b"Access-Control-Request-Method", b"Access-Control-Request-Headers"]
        out.append((b"vary", b", ".join(vary_values)))
        out.append((b"content-length", b"0"))
        if self.preflight_status == 200:
            out.append((b"content-type", b"text/plain; charset=utf-8"))
        await send({"type": "http.response.start", "status": self.preflight_status, "headers": out})
        await send({"type": "http.response.body", "body": b""})


def _check_origin(origin: str) -> str:
    text = origin.strip()
    if text == "null":
        return text
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*://[^/?#\s]+", text, re.IGNORECASE) or text.endswith(
        "/"
    ):
        raise ValueError(
            f"allow_origins entry {origin!r} is not an origin such as 'https://example.com' "
            "(scheme://host[:port], no path or trailing slash)"
        )
    return text.lower()


def _check_token(value: str, what: str) -> str:
    if not _TOKEN_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid HTTP {what} name")
    return value


def _short(text: str) -> str:
    return text if len(text) <= 100 else text[:100] + "…"
