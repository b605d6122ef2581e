"""Response classes: bytes, JSON, HTML, text, redirects, streams and files."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import AsyncIterable, Iterable, Mapping
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import pydantic_core

from keel._concurrency import iterate_in_threadpool, run_sync
from keel._headers import (
    content_disposition,
    cookie_attribute,
    header_name,
    header_value,
    is_token,
)
from keel._http import body_allowed
from keel._types import Receive, Scope, Send
from keel.background import BackgroundTask
from keel.errors import PROBLEM_JSON, HTTPError, problem_body

if TYPE_CHECKING:
    from keel.requests import Request

__all__ = [
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "MutableHeaders",
    "ORJSONResponse",
    "PlainTextResponse",
    "ProblemResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
    "UJSONResponse",
    "is_safe_url",
    "safe_redirect",
]


class MutableHeaders:
    """Case-insensitive, editable response headers backed by the raw ASGI list."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def __getitem__(self, key: str) -> str:
        name = key.lower().encode("latin-1")
        for k, v in self.raw:
            if k == name:
                return v.decode("latin-1")
        raise KeyError(key)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        name = key.lower().encode("latin-1")
        return any(k == name for k, _ in self.raw)

    def __setitem__(self, key: str, value: str) -> None:
        name = header_name(key)
        encoded = header_value(value, key)
        self.raw[:] = [(k, v) for k, v in self.raw if k != name]
        self.raw.append((name, encoded))

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        self.raw[:] = [(k, v) for k, v in self.raw if k != name]

    def setdefault(self, key: str, value: str) -> str:
        """Set ``key`` unless present; return the value now in place."""
        current = self.get(key)
        if current is None:
            self[key] = value
            return value
        return current

    def append(self, key: str, value: str) -> None:
        """Add a header line, keeping existing ones with the same name."""
        self.raw.append((header_name(key), header_value(value, key)))

    def getlist(self, key: str) -> list[str]:
        """All values of ``key``."""
        name = key.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self.raw if k == name]

    def items(self) -> list[tuple[str, str]]:
        """All header lines as ``(name, value)`` strings."""
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.raw]

    def __repr__(self) -> str:
        return f"MutableHeaders({self.items()!r})"


class Response:
    """A complete HTTP response with a bytes body.

    Args:
        content: ``bytes`` or ``str`` body (``None`` for empty).
        status: HTTP status code (``status_code=`` is accepted too).
        headers: Extra headers.
        media_type: The ``Content-Type`` (``charset`` added for text types).
        background: A callable run after the response has been sent.
    """

    media_type: str | None = None
    charset = "utf-8"

    def __init__(
        self,
        content: Any = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        status_code: int | None = None,
    ) -> None:
        self._setup(status, status_code, media_type, background)
        self.body = self.render(content)
        self._init_headers(headers)

    def _setup(
        self,
        status: int,
        status_code: int | None,
        media_type: str | None,
        background: BackgroundTask | None,
    ) -> None:
        self.status_code = status_code if status_code is not None else status
        if media_type is not None:
            self.media_type = media_type
        self.background = background
        self._cookies: list[tuple[str, str, dict[str, Any]]] | None = None

    def render(self, content: Any) -> bytes:
        """Turn ``content`` into the body bytes."""
        if content is None:
            return b""
        if isinstance(content, bytes | bytearray | memoryview):
            return bytes(content)
        return str(content).encode(self.charset)

    def _content_type(self) -> bytes | None:
        mt = self.media_type
        if mt is None:
            return None
        if (mt.startswith("text/") or mt.endswith("javascript")) and "charset=" not in mt:
            mt = f"{mt}; charset={self.charset}"
        return mt.encode("latin-1")

    def _init_headers(self, headers: Mapping[str, str] | None) -> None:
        raw: list[tuple[bytes, bytes]] = []
        has_ct = has_cl = False
        if headers:
            for k, v in headers.items():
                name = header_name(k)
                if name == b"content-type":
                    has_ct = True
                elif name == b"content-length":
                    has_cl = True
                raw.append((name, header_value(v, k)))
        body = getattr(self, "body", None)
        if body is not None and not has_cl and body_allowed(self.status_code):
            raw.append((b"content-length", str(len(body)).encode("latin-1")))
        if not has_ct:
            ct = self._content_type()
            if ct is not None:
                raw.append((b"content-type", ct))
        self.raw_headers = raw

    @property
    def status(self) -> int:
        """The status code."""
        return self.status_code

    @status.setter
    def status(self, value: int) -> None:
        self.status_code = value

    @property
    def headers(self) -> MutableHeaders:
        """Editable response headers."""
        return MutableHeaders(self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: int | str | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool | None = None,
        httponly: bool = True,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Set a cookie with safe defaults.

        ``httponly`` and ``samesite="lax"`` are on unless turned off; ``secure=None`` marks the
        cookie ``Secure`` whenever the request came over HTTPS. The value is data: characters
        a cookie cannot hold as they are (spaces, quotes, ``;``, CR, LF…) are quoted and
        escaped.

        Raises:
            ValueError: ``key`` is not a token, or ``path``, ``domain``, ``expires`` or
                ``samesite`` could change the header (control characters, ``;``).
        """
        _check_cookie(key, value, path, domain, expires, samesite)
        if self._cookies is None:
            self._cookies = []
        self._cookies.append(
            (
                key,
                value,
                {
                    "max_age": max_age,
                    "expires": expires,
                    "path": path,
                    "domain": domain,
                    "secure": secure,
                    "httponly": httponly,
                    "samesite": samesite,
                },
            )
        )

    def delete_cookie(
        self, key: str, *, path: str = "/", domain: str | None = None, secure: bool | None = None
    ) -> None:
        """Ask the client to drop cookie ``key``."""
        self.set_cookie(key, "", max_age=0, expires=0, path=path, domain=domain, secure=secure)

    def _cookie_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        out = []
        https = scope.get("scheme") in ("https", "wss")
        for key, value, opts in self._cookies or ():
            jar: SimpleCookie = SimpleCookie()
            jar[key] = value
            morsel = jar[key]
            if opts["max_age"] is not None:
                morsel["max-age"] = opts["max_age"]
            if opts["expires"] is not None:
                import email.utils

                exp = opts["expires"]
                morsel["expires"] = (
                    email.utils.formatdate(exp, usegmt=True) if isinstance(exp, int) else exp
                )
            if opts["path"] is not None:
                morsel["path"] = opts["path"]
            if opts["domain"] is not None:
                morsel["domain"] = opts["domain"]
            secure = opts["secure"]
            if secure or (secure is None and (https or opts["samesite"] == "none")):
                morsel["secure"] = True
            if opts["httponly"]:
                morsel["httponly"] = True
            if opts["samesite"] is not None:
                morsel["samesite"] = opts["samesite"].capitalize()
            out.append((b"set-cookie", morsel.OutputString().encode("latin-1")))
        return out

    def _start(self, scope: Scope) -> dict[str, Any]:
        headers = self.raw_headers
        status = self.status_code
        if not body_allowed(status):
            # The status may have changed since the headers were made: no length but 205's 0.
            headers = [h for h in headers if h[0] != b"content-length"]
            if status == 205:
                headers.append((b"content-length", b"0"))
        if self._cookies:
            headers = headers + self._cookie_headers(scope)
        return {"type": "http.response.start", "status": status, "headers": headers}

    def _sends_body(self, scope: Scope) -> bool:
        """Whether content goes out: never for HEAD nor for 1xx, 204, 205 and 304."""
        return scope.get("method") != "HEAD" and body_allowed(self.status_code)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the response as an ASGI application."""
        await send(self._start(scope))
        body = self.body if self._sends_body(scope) else b""
        await send({"type": "http.response.body", "body": body})
        if self.background is not None:
            await self.background()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status_code})"


def _check_cookie(
    key: str, value: str, path: str | None, domain: str | None, expires: Any, samesite: Any
) -> None:
    if not is_token(key):  # RFC 6265: a cookie name is a token
        raise ValueError(
            f"invalid cookie name {key[:40]!r}: use letters, digits and !#$%&'*+-.^_`|~"
        )
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"cookie {key!r}: the value must be Latin-1 text; percent-encode it first"
        ) from None
    if path is not None:
        cookie_attribute("path", path)
    if domain is not None:
        cookie_attribute("domain", domain)
    if isinstance(expires, str):
        cookie_attribute("expires", expires)
    if samesite not in (None, "lax", "strict", "none"):
        raise ValueError(f"samesite must be 'lax', 'strict', 'none' or None, not {samesite!r}")


class HTMLResponse(Response):
    """A ``text/html`` response."""

    media_type = "text/html"


class PlainTextResponse(Response):
    """A ``text/plain`` response."""

    media_type = "text/plain"


class JSONResponse(Response):
    """A JSON response; ``content`` may be any value pydantic can serialize."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialize ``content`` to JSON bytes."""
        return pydantic_core.to_json(content, inf_nan_mode="null")


def _optional_module(name: str, cls: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise ImportError(
            f"{cls} needs the {name!r} package: pip install {name} (or use JSONResponse, "
            "which is already fast: it serialises with pydantic-core in Rust)"
        ) from None


class ORJSONResponse(JSONResponse):
    """A JSON response serialised by ``orjson`` (install it: ``pip install orjson``).

    Raises:
        ImportError: orjson is not installed (raised when the response is created).
    """

    def render(self, content: Any) -> bytes:
        """Serialize ``content`` with ``orjson`` (numpy arrays and non-str keys allowed)."""
        orjson = _optional_module("orjson", "ORJSONResponse")
        body: bytes = orjson.dumps(
            content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
        )
        return body


class UJSONResponse(JSONResponse):
    """A JSON response serialised by ``ujson`` (install it: ``pip install ujson``).

    Raises:
        ImportError: ujson is not installed (raised when the response is created).
    """

    def render(self, content: Any) -> bytes:
        """Serialize ``content`` with ``ujson``."""
        ujson = _optional_module("ujson", "UJSONResponse")
        text: str = ujson.dumps(content, ensure_ascii=False)
        return text.encode("utf-8")


class ProblemResponse(Response):
    """An RFC 9457 ``application/problem+json`` response; ``content`` is the problem object."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        """Serialize the problem object (never failing on odd values)."""
        return problem_body(content)

    @classmethod
    def from_error(cls, error: HTTPError) -> ProblemResponse:
        """The response for ``error``: its status, problem object and headers."""
        return cls(error.to_problem(), error.status, error.headers)


_SAFE_URL_CHARS = ":/%#?=@[]!$&'()*+,;~"


class RedirectResponse(Response):
    """A redirect to ``url`` (307 by default, keeping the method).

    Characters that are not allowed in a URL (including CR, LF and NUL) are percent-encoded,
    so a user-supplied target can never split headers. For a target that came with the
    request use :func:`safe_redirect`, which also refuses open redirects.
    """

    def __init__(
        self,
        url: str,
        status: int = 307,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
        *,
        status_code: int | None = None,
    ) -> None:
        super().__init__(b"", status, headers, background=background, status_code=status_code)
        self.headers["location"] = quote(str(url), safe=_SAFE_URL_CHARS)


def is_safe_url(
    url: str | None, allowed_hosts: Iterable[str] = (), *, require_https: bool = False
) -> bool:
    """Whether ``url`` is a safe redirect target: a path on this site, or an ``http(s)`` URL
    whose host matches ``allowed_hosts``.

    ``allowed_hosts`` takes the patterns of the ``allowed_hosts`` setting (``example.com``,
    ``.example.com`` for the domain and its subdomains; ports are ignored; ``*`` allows no
    foreign host here). Refused: ``//evil.com``, ``///evil.com``, ``https:evil.com``,
    ``http:///evil.com``, any backslash (``/\\evil.com``, which browsers read as ``//``),
    user info (``http://user@evil.com``), schemes other than ``http``/``https``
    (``javascript:``, ``data:``), control and invisible characters anywhere, malformed
    hosts, and with ``require_https`` any ``http:`` URL. The checks follow Django's
    ``url_has_allowed_host_and_scheme``.
    """
    from urllib.parse import urlsplit

    if not url or len(url) > _MAX_URL or any(_invisible(c) for c in url):
        return False
    url = url.strip()
    if not url or "\\" in url or url.startswith("///"):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.netloc:
        # No authority: a path on this site, unless it names a scheme (https:evil.com)
        # or is an empty authority ("//").
        return not parts.scheme and not url.startswith("//")
    scheme = parts.scheme or "http"  # //example.com/x is followed with the page's scheme
    if scheme not in (("https",) if require_https else ("http", "https")):
        return False
    if "@" in parts.netloc:
        return False
    from keel.middleware.hosts import is_allowed_host, split_host

    host = split_host(parts.netloc)
    return host is not None and is_allowed_host(host[0], _host_patterns(allowed_hosts))


_MAX_URL = 8192


def _invisible(char: str) -> bool:
    """Control, format, private-use or unassigned characters, and line separators."""
    import unicodedata

    if " " <= char <= "~":
        return False
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")


def _host_patterns(allowed_hosts: Iterable[str]) -> list[str]:
    """``allowed_hosts`` as ``is_allowed_host`` patterns, without ``*`` and ports."""
    from keel.middleware.hosts import split_host

    patterns = []
    for pattern in allowed_hosts:
        text = pattern.strip().lower()
        wildcard = text.startswith(".")
        parsed = split_host(text[1:] if wildcard else text)
        if parsed is not None:
            patterns.append(("." if wildcard else "") + parsed[0])
    return patterns


def safe_redirect(
    request: Request, target: str | None, default: str = "/", *, status: int = 303
) -> RedirectResponse:
    """A redirect to ``target`` if it is safe (see :func:`is_safe_url`), else to ``default``.

    Use it for every redirect to a URL that came with the request (``?next=``, a form's
    ``next`` field, a ``Referer``). Foreign hosts are those not in the app's
    ``allowed_hosts`` setting (or, when that is unset or ``*``, not the request's own
    host); on an HTTPS request an ``http:`` target is refused too. ``default`` is trusted
    (it comes from the program). 303 by default: the browser follows with a GET.
    """
    settings = getattr(request.scope.get("app"), "settings", None)
    hosts = list(getattr(settings, "allowed_hosts", None) or ())
    if not [h for h in hosts if h.strip() != "*"]:
        hosts = [request.headers.get("host") or ""]
    secure = request.scope.get("scheme") in ("https", "wss")
    url = target if is_safe_url(target, hosts, require_https=secure) else default
    return RedirectResponse(url or default, status)


class StreamingResponse(Response):
    """A response whose body comes from an (async or sync) iterator of ``bytes``/``str``.

    The iterator stops being consumed when the client disconnects.
    """

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        status_code: int | None = None,
    ) -> None:
        self._setup(status, status_code, media_type, background)
        self.content = content
        self._init_headers(headers)

    async def _chunks(self) -> AsyncIterable[bytes]:
        content = self.content
        source = content if isinstance(content, AsyncIterable) else iterate_in_threadpool(content)
        async for chunk in source:
            yield chunk if isinstance(chunk, bytes) else str(chunk).encode(self.charset)

    async def _stream(self, scope: Scope, send: Send) -> None:
        await send(self._start(scope))
        if self._sends_body(scope):
            async for chunk in self._chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream the body, stopping early if the client goes away."""
        import asyncio

        stream = asyncio.ensure_future(self._stream(scope, send))
        watch = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait((stream, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stream, watch):
                if not task.done():
                    task.cancel()
            await asyncio.gather(stream, watch, return_exceptions=True)
        if stream.done() and not stream.cancelled() and stream.exception() is not None:
            raise stream.exception()  # type: ignore[misc]
        if self.background is not None and not stream.cancelled():
            await self.background()


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class FileResponse(Response):
    """Send a file from disk in chunks, with ``Last-Modified``, ``ETag`` and a guessed type.

    Args:
        path: The file to send.
        filename: If given, sent as an attachment with this name.
    """

    chunk_size = 64 * 1024

    def __init__(
        self,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        *,
        status_code: int | None = None,
        content_disposition_type: str = "attachment",
    ) -> None:
        self.path = os.fspath(path)
        self.filename = filename
        if media_type is None:
            import mimetypes

            guessed, _ = mimetypes.guess_type(filename or self.path)
            media_type = guessed or "application/octet-stream"
        self._setup(status, status_code, media_type, background)
        self._init_headers(headers)
        if filename is not None:
            value = content_disposition(content_disposition_type, filename)
            self.headers.setdefault("content-disposition", value)
        self.stat_result = stat_result
        if stat_result is not None:
            self._set_stat_headers(stat_result)

    def _set_stat_headers(self, st: os.stat_result) -> None:
        import email.utils
        import hashlib

        h = self.headers
        h["content-length"] = str(st.st_size)
        h.setdefault("last-modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        etag = hashlib.md5(f"{st.st_mtime}-{st.st_size}".encode(), usedforsecurity=False)
        h.setdefault("etag", f'"{etag.hexdigest()}"')

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the file; a missing file raises ``FileNotFoundError``."""
        if self.stat_result is None:
            st = await run_sync(os.stat, self.path)
            if not stat_mod.S_ISREG(st.st_mode):
                raise FileNotFoundError(self.path)
            self.stat_result = st
            self._set_stat_headers(st)
        await send(self._start(scope))
        if not self._sends_body(scope):
            await send({"type": "http.response.body", "body": b""})
        else:
            f = await run_sync(open, self.path, "rb")
            try:
                while True:
                    chunk = await run_sync(f.read, self.chunk_size)
                    more = len(chunk) == self.chunk_size
                    await send({"type": "http.response.body", "body": chunk, "more_body": more})
                    if not more:
                        break
            finally:
                await run_sync(f.close)
        if self.background is not None:
            await self.background()
