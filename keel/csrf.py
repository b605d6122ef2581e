"""CSRF protection for requests authenticated by the session cookie.

A browser sends cookies with requests that other sites make it send; a CSRF check makes sure
an unsafe request (``POST``, ``PUT``, ``PATCH``, ``DELETE``…) that carries the session
cookie really comes from this site's own pages:

- its ``Origin`` (or, on HTTPS without ``Origin``, its ``Referer``) is this site or a
  trusted origin, and
- it carries the session's CSRF token, from :func:`csrf_token`, in the ``X-CSRF-Token``
  header or the ``csrf_token`` form field.

The check runs when a route has matched, before its inputs are read, so the form a token
came in is the same parsed form the handler gets, and a route can opt out with
:func:`csrf_exempt`. Requests without the session cookie (API clients sending an
``Authorization`` header) are not checked: a cross-site page cannot make a browser add that
header.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NoReturn, TypeVar
from urllib.parse import urlsplit

from keel.errors import HTTPError
from keel.middleware._common import TrustedProxies

if TYPE_CHECKING:
    from keel.requests import Request
    from keel.settings import Settings

__all__ = [
    "CSRFProtection",
    "SAFE_METHODS",
    "csrf_exempt",
    "csrf_input",
    "csrf_token",
    "rotate_csrf",
]

logger = logging.getLogger("keel.security.csrf")

F = TypeVar("F", bound=Callable[..., object])

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""Methods that must not change anything and are never checked."""

_SESSION_KEY = "_csrf"
"""Where the session keeps its CSRF secret."""

_EXEMPT_ATTRIBUTE = "__keel_csrf_exempt__"
"""Set on a handler by :func:`csrf_exempt`."""

_SECRET_BYTES = 32
_TOKEN_LENGTH = 86  # base64url of mask + masked secret (64 bytes), without padding
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _secret(request: Request) -> bytes | None:
    """The session's CSRF secret, or ``None`` when it has none (or a damaged one)."""
    value = request.session.get(_SESSION_KEY)
    if not isinstance(value, str):
        return None
    secret = _unb64(value)
    return secret if secret is not None and len(secret) == _SECRET_BYTES else None


def csrf_token(request: Request) -> str:
    """The CSRF token for a page or script of this session, different on every call.

    Put it in forms as a hidden ``csrf_token`` field, or send it from JavaScript in the
    ``X-CSRF-Token`` header. The session's secret is created on first use (which sets the
    session cookie); each token is that secret masked with a fresh random pad, so no two
    responses carry the same bytes (this defeats BREACH-style compression attacks).

    Raises:
        RuntimeError: The session middleware is not installed.
    """
    secret = _secret(request)
    if secret is None:
        secret = secrets.token_bytes(_SECRET_BYTES)
        request.session[_SESSION_KEY] = _b64(secret)
    mask = secrets.token_bytes(_SECRET_BYTES)
    return _b64(mask + _xor(secret, mask))


def csrf_input(request: Request) -> str:
    """A hidden ``<input>`` carrying :func:`csrf_token`, for a ``<form method="post">``.

    Its name is the app's ``csrf_field_name`` setting (``csrf_token`` by default). The
    result is HTML (a ``markupsafe.Markup``, so templates do not escape it again).
    """
    from markupsafe import Markup

    settings = getattr(request.scope.get("app"), "settings", None)
    name = getattr(settings, "csrf_field_name", "csrf_token")
    return Markup('<input type="hidden" name="{}" value="{}">').format(name, csrf_token(request))


def rotate_csrf(request: Request) -> None:
    """Give the session a new CSRF secret: tokens issued before stop working.

    Call it at login, together with ``request.session.cycle()``.
    """
    request.session[_SESSION_KEY] = _b64(secrets.token_bytes(_SECRET_BYTES))


def csrf_exempt(fn: F) -> F:
    """Decorator: the route handler ``fn`` is not CSRF-checked (e.g. a webhook that
    authenticates its caller another way). Put it above or below the route decorator."""
    setattr(fn, _EXEMPT_ATTRIBUTE, True)
    return fn


def _unmask(token: str) -> bytes | None:
    if len(token) != _TOKEN_LENGTH:
        return None
    raw = _unb64(token)
    if raw is None or len(raw) != 2 * _SECRET_BYTES:
        return None
    return _xor(raw[_SECRET_BYTES:], raw[:_SECRET_BYTES])


_Origin = tuple[str, str, int]
"""``(scheme, host, port)``, lower case, the port filled in."""


def _parse_origin(text: str) -> _Origin | None:
    """An ``Origin``-like URL's scheme, host and port, or ``None`` when it is not one."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host.lower().rstrip("."), port or _DEFAULT_PORTS[scheme]


class _Trusted:
    """One entry of ``trusted_origins``: exact, or ``scheme://*.domain[:port]``."""

    __slots__ = ("origin", "wildcard")

    def __init__(self, entry: str) -> None:
        text = entry.strip()
        self.wildcard = "://*." in text
        parsed = _parse_origin(text.replace("://*.", "://", 1))
        rest = urlsplit(text)
        if parsed is None or rest.path not in ("", "/") or rest.query or rest.username:
            raise ValueError(
                f"trusted origin {entry!r} must be a scheme and host such as "
                "'https://admin.example.com' or 'https://*.example.com'"
            )
        self.origin = parsed

    def matches(self, origin: _Origin) -> bool:
        scheme, host, port = self.origin
        if origin[0] != scheme or origin[2] != port:
            return False
        if self.wildcard:
            return origin[1].endswith("." + host)
        return origin[1] == host


class CSRFProtection:
    """The CSRF check of an app (``app.csrf_protection``), run before matched handlers.

    Args:
        trusted_origins: Other origins allowed to send unsafe requests, such as
            ``"https://admin.example.com"`` or ``"https://*.example.com"`` (any subdomain).
        header_name: The header a script sends the token in.
        field_name: The form field a page sends the token in.
        session_cookie_name: Only requests carrying this cookie are checked.
        trusted_proxies: Proxies whose ``X-Forwarded-Proto`` is believed (the request's
            own origin is ``https://…`` only when the request is HTTPS).

    A failed check raises ``HTTPError(403)`` with a detail saying what was wrong, and logs
    a warning on the ``keel.security.csrf`` logger.
    """

    def __init__(
        self,
        *,
        trusted_origins: Iterable[str] = (),
        header_name: str = "X-CSRF-Token",
        field_name: str = "csrf_token",
        session_cookie_name: str = "session",
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        if isinstance(trusted_origins, str):
            trusted_origins = [trusted_origins]
        self.trusted = [_Trusted(entry) for entry in trusted_origins]
        self.header_name = header_name
        self.field_name = field_name
        self.session_cookie_name = session_cookie_name
        self.proxies = TrustedProxies(trusted_proxies)

    @classmethod
    def from_settings(cls, settings: Settings) -> CSRFProtection:
        """The protection configured by :class:`keel.Settings` (``csrf_*`` fields,
        ``session_cookie_name`` and ``trusted_proxies``)."""
        return cls(
            trusted_origins=settings.csrf_trusted_origins,
            header_name=settings.csrf_header_name,
            field_name=settings.csrf_field_name,
            session_cookie_name=settings.session_cookie_name,
            trusted_proxies=settings.trusted_proxies,
        )

    async def check(self, request: Request) -> None:
        """Check one request; return when it passes.

        Raises:
            HTTPError: 403, with a detail saying what was wrong.
        """
        if request.method in SAFE_METHODS:
            return
        if self.session_cookie_name not in request.cookies:
            return
        own = self._own_origin(request)
        origin = request.headers.get("origin")
        if origin is not None:
            self._check_origin(request, origin, own)
        elif own is not None and own[0] == "https":
            self._check_referer(request, own)
        if "session" not in request.scope:
            self._fail(
                request,
                "CSRF check failed: the app has CSRF protection but no session middleware, "
                "so the token cannot be checked.",
            )
        expected = _secret(request)
        token = request.headers.get(self.header_name)
        if token is None and _is_form(request):
            value = (await request.form(max_file_size=request.max_body_size)).get(self.field_name)
            token = value if isinstance(value, str) else None
        if token is None or token == "":
            self._fail(
                request,
                f"CSRF check failed: the request has no CSRF token; send the token from "
                f"csrf_token() in the {self.header_name} header or the {self.field_name!r} "
                "form field.",
            )
        secret = _unmask(token.strip())
        if secret is None:
            self._fail(request, "CSRF check failed: the CSRF token is malformed.")
        if expected is None:
            self._fail(
                request,
                "CSRF check failed: this session has no CSRF token (it expired or was "
                "reset); reload the page and try again.",
            )
        if not hmac.compare_digest(secret, expected):
            self._fail(request, "CSRF check failed: the CSRF token does not match this session.")

    def _own_origin(self, request: Request) -> _Origin | None:
        host = request.headers.get("host")
        if not host:
            return None
        return _parse_origin(f"{self.proxies.scheme(request.scope)}://{host}")

    def _allowed(self, origin: _Origin, own: _Origin | None) -> bool:
        return origin == own or any(entry.matches(origin) for entry in self.trusted)

    def _check_origin(self, request: Request, origin: str, own: _Origin | None) -> None:
        if origin.strip().lower() == "null":
            self._fail(
                request,
                "CSRF check failed: the Origin is 'null' (a sandboxed page, a file or a "
                "redirect across sites); send the request from a page of this site.",
            )
        parsed = _parse_origin(origin)
        if parsed is None or not self._allowed(parsed, own):
            self._fail(
                request,
                f"CSRF check failed: the Origin {_shown(origin)} is not this site or a "
                "trusted origin.",
            )

    def _check_referer(self, request: Request, own: _Origin) -> None:
        referer = request.headers.get("referer")
        if not referer:
            self._fail(
                request,
                "CSRF check failed: an HTTPS request without an Origin header needs a Referer "
                "header from this site.",
            )
        parsed = _parse_origin(referer)
        if parsed is None or parsed[0] != "https":
            self._fail(
                request,
                "CSRF check failed: the Referer is not an HTTPS URL, but this site is HTTPS.",
            )
        if not self._allowed(parsed, own):
            self._fail(
                request,
                f"CSRF check failed: the Referer {_shown(referer)} is not this site or a "
                "trusted origin.",
            )

    def _fail(self, request: Request, detail: str) -> NoReturn:
        client = request.client
        logger.warning(
            "%s (%s %s from %s)",
            detail,
            request.method,
            request.path[:200],
            client.host if client else "unknown client",
        )
        raise HTTPError(403, detail)

    def __repr__(self) -> str:
        return f"CSRFProtection(header_name={self.header_name!r}, field_name={self.field_name!r})"


def _is_form(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return ctype in _FORM_TYPES


def _shown(value: str) -> str:
    """A header value for a message: quoted and cut short."""
    return repr(value[:100] + ("…" if len(value) > 100 else ""))
