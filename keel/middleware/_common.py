"""Helpers shared by keel's middleware: headers, trusted proxies, problem responses."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from keel._types import Message, Receive, Scope, Send

__all__ = [
    "TrustedProxies",
    "add_vary",
    "header_value",
    "send_problem",
    "set_state",
]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case bytes) in ASGI ``headers``, or ``None``."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """Every value of header ``name`` (lower-case bytes) in ASGI ``headers``, in order."""
    return [value for key, value in headers if key.lower() == name]


def set_state(scope: Scope, name: str, value: Any) -> None:
    """Store ``value`` as ``request.state.<name>`` (the scope's ``state``, dict or State)."""
    state = scope.get("state")
    if state is None:
        scope["state"] = {name: value}
    elif isinstance(state, dict):
        state[name] = value
    else:
        setattr(state, name, value)


class TrustedProxies:
    """The set of proxy addresses (IPs and CIDR networks) whose ``X-Forwarded-*`` are believed.

    Args:
        proxies: Addresses such as ``"127.0.0.1"``, ``"10.0.0.0/8"`` or ``"::1"``; ``"*"``
            trusts every peer (only behind a proxy that always overwrites the headers).

    Raises:
        ValueError: An entry is neither an IP address nor a network.
    """

    __slots__ = ("networks", "trust_all")

    def __init__(self, proxies: Iterable[str] = ()) -> None:
        if isinstance(proxies, str):
            proxies = [proxies]
        self.trust_all = False
        networks: list[_Network] = []
        for entry in proxies:
            text = entry.strip()
            if text == "*":
                self.trust_all = True
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(
                    f"trusted_proxies entry {entry!r} is not an IP address or network "
                    "(e.g. '127.0.0.1', '10.0.0.0/8', '::1')"
                ) from None
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return self.trust_all or bool(self.networks)

    def trusts(self, scope: Scope) -> bool:
        """Whether the immediate peer of this connection (``scope["client"]``) is trusted."""
        if self.trust_all:
            return True
        if not self.networks:
            return False
        client = scope.get("client")
        if not client:
            return False
        try:
            address = ipaddress.ip_address(str(client[0]))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in net for net in self.networks)

    def forwarded(self, scope: Scope, name: bytes) -> str | None:
        """The value the trusted peer set for ``X-Forwarded-<name>``, or ``None``.

        When the header was appended to (``a, b``) the right-most value counts: it is the
        one written by the peer we trust; the others came from further away.
        """
        if not self.trusts(scope):
            return None
        values = header_values(scope.get("headers", ()), b"x-forwarded-" + name)
        if not values:
            return None
        last = values[-1].decode("latin-1").rsplit(",", 1)[-1].strip()
        return last or None

    def scheme(self, scope: Scope) -> str:
        """The request's scheme: the ASGI one, or ``X-Forwarded-Proto`` from a trusted proxy."""
        proto = self.forwarded(scope, b"proto")
        if proto is not None and proto.lower() in ("http", "https", "ws", "wss"):
            return proto.lower()
        return str(scope.get("scheme", "http"))


async def send_problem(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Answer with an RFC 9457 problem, through the app's error handlers when there is an app.

    When ``scope["app"]`` is a keel :class:`~keel.app.App`, its registered handler for
    :class:`~keel.errors.HTTPError` (if any) renders the answer, as for errors raised in
    routes; otherwise a plain :class:`~keel.responses.ProblemResponse` is sent.
    """
    from keel.errors import HTTPError
    from keel.requests import Request
    from keel.responses import ProblemResponse, Response

    error = HTTPError(status, detail, headers, extra=extra)
    app = scope.get("app")
    handle = getattr(app, "handle_exception", None)
    response: Response
    if handle is not None and scope.get("type") == "http":
        response = await handle(Request(scope, receive), error)
    else:
        response = ProblemResponse.from_error(error)
    await response(scope, receive, send)


def message_headers(message: Message) -> list[tuple[bytes, bytes]]:
    """The mutable header list of an ``http.response.start`` message."""
    headers = message.get("headers")
    if not isinstance(headers, list):
        headers = list(headers or ())
        message["headers"] = headers
    return headers


def add_vary(headers: list[tuple[bytes, bytes]], value: bytes) -> None:
    """Add ``value`` to the ``Vary`` header in ``headers`` unless it (or ``*``) is there."""
    for i, (key, current) in enumerate(headers):
        if key.lower() == b"vary":
            tokens = {t.strip().lower() for t in current.split(b",")}
            if value.lower() not in tokens and b"*" not in tokens:
                headers[i] = (key, current + b", " + value)
            return
    headers.append((b"vary", value))
