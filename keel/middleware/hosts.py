"""Allowed hosts: refuse requests whose ``Host`` is malformed or not one of this site's names.

Without this check an attacker who controls the ``Host`` header can make the app build links
(password-reset e-mails, redirects, absolute URLs) pointing at their own server, or poison a
shared cache. The parsing follows Django's host validation: a host is a DNS name or a
bracketed IPv6 literal, optionally followed by a numeric port, and nothing else.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from keel._types import ASGIApp, Receive, Scope, Send
from keel.middleware._common import TrustedProxies, send_problem

__all__ = ["TrustedHostMiddleware", "is_allowed_host", "split_host"]

# A DNS name (letters, digits, dots, hyphens) or a bracketed IPv6 literal, then an optional
# numeric port. Everything else (userinfo, paths, spaces, commas) fails the full match.
_HOST_RE = re.compile(r"([a-z0-9.-]+|\[[a-f0-9:.]+\])(?::([0-9]{1,5}))?")
_CACHE_SIZE = 512
_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class _Parsed:
    domain: str
    port: int | None


def split_host(host: str) -> tuple[str, int | None] | None:
    """Split a ``Host`` value into ``(domain, port)``, or ``None`` when it is malformed.

    The domain is lower-cased with one trailing dot removed (``Example.COM.`` is
    ``example.com``); IPv6 literals keep their brackets (``[::1]``). Userinfo
    (``user@host``), paths, spaces, empty labels, a second trailing dot, ports outside
    1-65535 and non-ASCII names (send punycode, ``xn--...``) are all malformed.
    """
    if not host or len(host) > 261:
        return None
    match = _HOST_RE.fullmatch(host.lower())
    if match is None:
        return None
    domain, port_text = match.group(1), match.group(2)
    port: int | None = None
    if port_text is not None:
        port = int(port_text)
        if not 0 < port < 65536:
            return None
    if domain.startswith("["):
        try:
            ipaddress.IPv6Address(domain[1:-1])
        except ValueError:
            return None
        return domain, port
    domain = domain.removesuffix(".")
    if not domain or len(domain) > 253:
        return None
    if not all(_LABEL_RE.fullmatch(label) for label in domain.split(".")):
        return None
    return domain, port


def _normalize_pattern(pattern: str) -> str:
    text = pattern.strip().lower()
    if text in ("*", ""):
        return text
    wildcard = text.startswith(".")
    body = text[1:] if wildcard else text
    parsed = split_host(body)
    if parsed is None or parsed[1] is not None:
        raise ValueError(
            f"allowed_hosts entry {pattern!r} is not a host name, '.domain' wildcard, "
            "IP address ('[::1]' for IPv6) or '*' (ports are not part of the pattern)"
        )
    return ("." if wildcard else "") + parsed[0]


def is_allowed_host(domain: str, patterns: Iterable[str]) -> bool:
    """Whether ``domain`` (as returned by :func:`split_host`) matches one of ``patterns``.

    ``"*"`` matches everything, ``".example.com"`` matches ``example.com`` and every
    subdomain, anything else must be equal (case-insensitively).
    """
    for pattern in patterns:
        p = pattern.lower()
        if p == "*" or p == domain:
            return True
        if p.startswith(".") and (domain.endswith(p) or domain == p[1:]):
            return True
    return False


class TrustedHostMiddleware:
    """Answer 400 (problem details) to a request whose ``Host`` is not allowed.

    Args:
        app: The ASGI app to protect.
        allowed_hosts: Host names this site answers to: exact names (``"example.com"``,
            ``"127.0.0.1"``, ``"[::1]"``), ``".example.com"`` for the domain and all its
            subdomains, or ``"*"`` for anything well-formed. Ports are ignored.
        trusted_proxies: IPs/networks of reverse proxies. Only when the immediate peer is
            one of them is ``X-Forwarded-Host`` used instead of ``Host``; then it is checked
            the same way and becomes the request's ``Host`` for the app (so URLs the app
            builds name the public host).

    Raises:
        ValueError: An allowed-hosts entry or proxy address is malformed.

    Requests with several ``Host`` headers are refused, and so are HTTP/1.1 requests with
    none (an HTTP/1.0 request without ``Host`` is checked by the server's own address, the
    ASGI ``server``). Websocket connections are checked
    the same way (they are closed with code 1008 before being accepted). Lifespan events
    pass through.
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Iterable[str] = ("localhost", "127.0.0.1", "[::1]", "testserver"),
        *,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        if isinstance(allowed_hosts, str):
            raise TypeError("allowed_hosts must be a list of host names, not a string")
        self.app = app
        patterns = [_normalize_pattern(p) for p in allowed_hosts]
        self.allowed_hosts = tuple(p for p in patterns if p)
        self.allow_any = "*" in self.allowed_hosts
        self.proxies = TrustedProxies(trusted_proxies)
        self._verdicts: dict[str, tuple[str, int | None] | None] = {}
        self._fast: dict[bytes, str] = {}  # raw Host -> "" (allowed) or why it is refused

    def check(self, host: str) -> tuple[str, int | None] | None:
        """``(domain, port)`` for an allowed, well-formed ``host``; ``None`` otherwise."""
        try:
            return self._verdicts[host]
        except KeyError:
            pass
        parsed = split_host(host)
        if parsed is not None and not is_allowed_host(parsed[0], self.allowed_hosts):
            parsed = None
        if len(self._verdicts) >= _CACHE_SIZE:  # hostile variety cannot grow memory
            self._verdicts.clear()
        self._verdicts[host] = parsed
        return parsed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the host, then call the app (or answer 400)."""
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem, scope = self.verdict(scope)
        if problem is None:
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "Invalid host"})
        else:
            await send_problem(scope, receive, send, 400, problem)

    def verdict(self, scope: Scope) -> tuple[str | None, Scope]:
        """Why the request's host is refused (``None``: allowed), and the scope to go on with
        (a copy naming the public host when a trusted proxy forwarded it)."""
        headers = scope.get("headers", ())
        hosts = [value for key, value in headers if key == b"host"]  # ASGI names: lower case
        if len(hosts) == 1 and not self.proxies:  # the usual request: one cached lookup
            host = hosts[0]
            verdict = self._fast.get(host)
            if verdict is None:
                text = host.decode("latin-1")
                verdict = "" if self.check(text) is not None else _refusal("Host", text)
                if len(self._fast) >= _CACHE_SIZE:
                    self._fast.clear()
                self._fast[host] = verdict
            return verdict or None, scope
        if len(hosts) > 1:
            return "The request has more than one Host header.", scope
        if self.proxies:
            forwarded = self.proxies.forwarded(scope, b"host")
            if forwarded is not None:
                if self.check(forwarded) is None:
                    return _refusal("X-Forwarded-Host", forwarded), scope
                scope = dict(scope)
                scope["headers"] = [(k, v) for k, v in headers if k.lower() != b"host"] + [
                    (b"host", forwarded.encode("latin-1"))
                ]
                return None, scope
        host = hosts[0].decode("latin-1") if hosts else _server_host(scope)
        if self.check(host) is None:
            return _refusal("Host", host), scope
        return None, scope


def _server_host(scope: Scope) -> str:
    """The host of a request without ``Host``: HTTP/1.0 may omit it (then the server's own
    address stands in, as Django's ``SERVER_NAME``); HTTP/1.1 must send it (RFC 9112 §3.2)."""
    if scope.get("http_version") != "1.0":
        return ""
    server = scope.get("server")
    if not server or not server[0]:
        return ""
    name = str(server[0])
    if ":" in name:  # an IPv6 address
        name = f"[{name}]"
    return name if server[1] is None else f"{name}:{server[1]}"


def _refusal(header: str, value: str) -> str:
    if not value:
        return f"The request has no {header} header; it must name this site."
    shown = value if len(value) <= 80 else value[:80] + "…"
    parsed = split_host(value)
    if parsed is None:
        return f"The {header} header {shown!r} is not a valid host name."
    return f"The {header} header {shown!r} is not one of this site's allowed hosts."
