"""Security response headers: nosniff, frame and referrer policies, COOP, CSP and HSTS.

Every header is added only when the response has not set it already, so a route that sets
its own value (for example a page that must be framed) wins over the app-wide default.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.middleware._common import TrustedProxies, message_headers

__all__ = ["DEFAULT_CSP", "SecurityHeadersMiddleware", "csp_nonce"]

DEFAULT_CSP: Mapping[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}
"""The default Content-Security-Policy directives for HTML responses."""

_NONCE_DIRECTIVES = ("script-src", "style-src")


_SLOT = "keel.csp_nonce"  # scope key of the per-request holder (shared by scope copies)


def csp_nonce(scope_or_request: object) -> str | None:
    """The request's CSP nonce, from a request or an ASGI scope (``None`` without nonces).

    The nonce is made on first use (or when an HTML response starts), so requests that
    never need one do not pay for it. Use it in pages:
    ``<script nonce="{{ csp_nonce(request) }}">``.
    """
    scope = getattr(scope_or_request, "scope", scope_or_request)
    if not isinstance(scope, Mapping):
        return None
    holder = scope.get(_SLOT)
    if holder is None:
        value = scope.get("csp_nonce")
        return value if isinstance(value, str) else None
    if holder[0] is None:
        holder[0] = secrets.token_urlsafe(18)
    nonce: str = holder[0]
    return nonce


class SecurityHeadersMiddleware:
    """Add security headers to every HTTP response that does not set them itself.

    Args:
        app: The ASGI app.
        content_type_options: ``X-Content-Type-Options`` (``None`` disables it).
        frame_options: ``X-Frame-Options``: ``"DENY"`` or ``"SAMEORIGIN"``.
        referrer_policy: ``Referrer-Policy``.
        cross_origin_opener_policy: ``Cross-Origin-Opener-Policy``.
        content_security_policy: The policy for HTML (``text/html``) responses, as a
            directive mapping (see :data:`DEFAULT_CSP`) or a ready string; ``None`` disables.
        csp_nonce: Give each request a nonce (:func:`csp_nonce`), added as ``'nonce-…'`` to
            ``script-src`` and ``style-src`` of its HTML responses.
        hsts_max_age: ``Strict-Transport-Security`` max-age in seconds, sent only on HTTPS
            requests; ``None`` disables HSTS.
        hsts_include_subdomains: Add ``includeSubDomains``.
        hsts_preload: Add ``preload`` (only submit for preloading when you mean it).
        trusted_proxies: Proxies whose ``X-Forwarded-Proto: https`` makes a request HTTPS.
        extra: More headers to add the same way (``{"Permissions-Policy": "camera=()"}``).

    A response wins over the middleware by setting the header itself, which is how one route
    relaxes a policy: ``HTMLResponse(page, headers={"Content-Security-Policy": "..."})``.
    The middleware never adds a ``Server`` header or other banner.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        content_type_options: str | None = "nosniff",
        frame_options: str | None = "DENY",
        referrer_policy: str | None = "strict-origin-when-cross-origin",
        cross_origin_opener_policy: str | None = "same-origin",
        content_security_policy: Mapping[str, str] | str | None = DEFAULT_CSP,
        csp_nonce: bool = True,
        hsts_max_age: int | None = 31_536_000,
        hsts_include_subdomains: bool = True,
        hsts_preload: bool = False,
        trusted_proxies: Iterable[str] = (),
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        always: dict[str, str | None] = {
            "x-content-type-options": content_type_options,
            "x-frame-options": frame_options,
            "referrer-policy": referrer_policy,
            "cross-origin-opener-policy": cross_origin_opener_policy,
        }
        for extra_name, extra_value in (extra or {}).items():
            always[extra_name.lower()] = extra_value
        for name, header in always.items():
            if header is not None:
                _check_value(name, header)
        self.headers = [(k.encode(), v.encode("latin-1")) for k, v in always.items() if v]
        if isinstance(content_security_policy, Mapping):
            self.csp: dict[str, str] | None = {
                k.strip().lower(): v.strip() for k, v in content_security_policy.items()
            }
        elif isinstance(content_security_policy, str):
            self.csp = _parse_csp(content_security_policy)
        else:
            self.csp = None
        if self.csp is not None:
            _check_value("content-security-policy", _render_csp(self.csp, None))
        self.use_nonce = csp_nonce and self.csp is not None
        self.static_csp = _render_csp(self.csp, None).encode() if self.csp else b""
        self.hsts: bytes | None = None
        if hsts_max_age is not None:
            if hsts_max_age < 0:
                raise ValueError("hsts_max_age must be >= 0 seconds")
            if hsts_preload and (hsts_max_age < 31_536_000 or not hsts_include_subdomains):
                raise ValueError(
                    "HSTS preload needs hsts_max_age >= 31536000 and hsts_include_subdomains"
                )
            value = f"max-age={hsts_max_age}"
            if hsts_include_subdomains:
                value += "; includeSubDomains"
            if hsts_preload:
                value += "; preload"
            self.hsts = value.encode()
        self.proxies = TrustedProxies(trusted_proxies)
        self.names = frozenset(
            [k for k, _ in self.headers]
            + [b"strict-transport-security", b"content-security-policy"]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app and add the missing headers to its response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        holder, https = self.prepare(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.add(message, holder, https)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def prepare(self, scope: Scope) -> tuple[list[str | None] | None, bool]:
        """Per request: the nonce holder (``None`` without nonces) and whether it is HTTPS."""
        holder: list[str | None] | None = None
        if self.use_nonce:
            holder = [None]
            scope[_SLOT] = holder
        if self.hsts is None:
            return holder, False
        if self.proxies:
            return holder, self.proxies.scheme(scope) in ("https", "wss")
        return holder, scope.get("scheme") in ("https", "wss")

    def add(self, message: Message, holder: list[str | None] | None, https: bool) -> None:
        """Add the missing headers to an ``http.response.start`` message."""
        headers = message.get("headers")
        if type(headers) is not list:
            headers = message_headers(message)
        content_type = b""
        clash = False
        names = self.names
        for key, value in headers:
            key = key.lower()
            if key in names:
                clash = True
            elif key == b"content-type":
                content_type = value
        if not clash:  # the usual case: the response set none of them
            headers += self.headers
            if https and self.hsts is not None:
                headers.append((b"strict-transport-security", self.hsts))
            wants_csp = self.csp is not None
        else:
            present = {k.lower() for k, _ in headers}
            headers += [(k, v) for k, v in self.headers if k not in present]
            if https and self.hsts is not None and b"strict-transport-security" not in present:
                headers.append((b"strict-transport-security", self.hsts))
            wants_csp = self.csp is not None and b"content-security-policy" not in present
        if wants_csp and content_type:
            media = content_type.split(b";", 1)[0].strip().lower()
            if media in (b"text/html", b"application/xhtml+xml"):
                nonce: str | None = None
                if holder is not None:
                    if holder[0] is None:
                        holder[0] = secrets.token_urlsafe(18)
                    nonce = holder[0]
                assert self.csp is not None
                policy = _render_csp(self.csp, nonce).encode() if nonce else self.static_csp
                headers.append((b"content-security-policy", policy))


def _parse_csp(policy: str) -> dict[str, str]:
    directives: dict[str, str] = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            directives[name.lower()] = value.strip()
    return directives


def _render_csp(directives: Mapping[str, str], nonce: str | None) -> str:
    parts = []
    for name, value in directives.items():
        if nonce and name in _NONCE_DIRECTIVES:
            value = f"{value} 'nonce-{nonce}'".strip()
        parts.append(f"{name} {value}".strip())
    if nonce:
        for name in _NONCE_DIRECTIVES:
            if name not in directives and "default-src" in directives:
                # A nonce in a missing directive would replace default-src for it: copy it.
                parts.append(f"{name} {directives['default-src']} 'nonce-{nonce}'")
    return "; ".join(parts)


def _check_value(name: str, value: str) -> None:
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"The {name} header value must not contain CR, LF or NUL")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"The {name} header value must be ASCII") from None
