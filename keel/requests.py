"""The incoming request and uploaded files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, NamedTuple

from keel import _json
from keel._concurrency import run_sync
from keel._http import app_setting
from keel._types import Receive, Scope
from keel._watchdog import TIMED_OUT, watchdog
from keel.datastructures import URL, FormData, Headers, QueryParams, State
from keel.errors import HTTPError

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from keel.app import App
    from keel.sessions import Session

__all__ = [
    "ANONYMOUS",
    "Address",
    "AnonymousUser",
    "ClientDisconnect",
    "DEFAULT_MAX_BODY",
    "PayloadTooLarge",
    "Request",
    "UploadFile",
    "parse_cookies",
]

DEFAULT_MAX_BODY = 1024 * 1024


class ClientDisconnect(Exception):
    """The client went away while the body was being read."""


class PayloadTooLarge(HTTPError):
    """The body is over the limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"The request body is larger than the limit of {limit} bytes.",
            extra={"limit": limit},
        )


class UploadFile:
    """An uploaded file, kept in memory up to 1 MiB and spooled to disk beyond.

    Attributes:
        filename: The name the client gave (never trust it as a path).
        content_type: The part's declared content type.
        size: Bytes received.
        headers: The part's headers.
    """

    spool_max = 1024 * 1024

    def __init__(
        self,
        filename: str | None,
        content_type: str = "application/octet-stream",
        headers: Headers | None = None,
    ) -> None:
        self.filename = filename
        self.content_type = content_type
        self.headers = headers or Headers()
        self.size = 0
        import tempfile

        self.file: Any = tempfile.SpooledTemporaryFile(max_size=self.spool_max)  # noqa: SIM115

    @property
    def _in_memory(self) -> bool:
        return not getattr(self.file, "_rolled", True)

    async def write(self, data: bytes) -> None:
        """Append ``data``."""
        self.size += len(data)
        if self._in_memory:
            self.file.write(data)
        else:
            await run_sync(self.file.write, data)

    async def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all by default)."""
        if self._in_memory:
            return bytes(self.file.read(size))
        return bytes(await run_sync(self.file.read, size))

    async def seek(self, offset: int) -> None:
        """Move to ``offset``."""
        if self._in_memory:
            self.file.seek(offset)
        else:
            await run_sync(self.file.seek, offset)

    async def save(self, directory: str | os.PathLike[str], *, keep_suffix: bool = True) -> Path:
        """Store the upload in ``directory`` under a name the server makes up, and return it.

        The client's ``filename`` never becomes a path (it could be ``../../etc/passwd``
        or a name another upload has); with ``keep_suffix`` a plain extension of it
        (``.pdf``, up to 10 letters or digits) is kept. Written in the thread pool.
        """
        import re
        import secrets
        import shutil
        from pathlib import Path, PurePosixPath

        folder = Path(directory)
        suffix = ""
        if keep_suffix and self.filename:
            ext = PurePosixPath(self.filename.replace("\\", "/")).suffix
            if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", ext):
                suffix = ext.lower()
        target = folder / f"{secrets.token_hex(16)}{suffix}"
        await self.seek(0)

        def copy() -> None:
            folder.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as out:
                shutil.copyfileobj(self.file, out, 1024 * 1024)

        await run_sync(copy)
        return target

    async def close(self) -> None:
        """Release the file."""
        if self._in_memory:
            self.file.close()
        else:
            await run_sync(self.file.close)

    def __repr__(self) -> str:
        return f"UploadFile(filename={self.filename!r}, size={self.size})"


class AnonymousUser:
    """The user of a request nobody is logged in for: ``request.user`` then.

    Like Django's, it answers the questions a page asks of a user: it is not
    authenticated, active, staff or superuser, and has no id and no permissions.
    """

    __slots__ = ()
    id = None
    is_authenticated = False
    is_anonymous = True
    is_active = False
    is_staff = False
    is_superuser = False
    email = None
    username = None

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "AnonymousUser()"


ANONYMOUS = AnonymousUser()
"""The one anonymous user."""


class Request:
    """An HTTP request: a thin, lazy view over the ASGI scope and body.

    Read the body with ``await request.body()``, ``await request.json()``,
    ``await request.form()`` or ``async for chunk in request.stream()``.
    """

    __slots__ = (
        "scope",
        "_receive",
        "_body",
        "_json",
        "_form",
        "_headers",
        "_query",
        "_cookies",
        "_stream_consumed",
        "_watch",
        "max_body_size",
    )

    def __init__(
        self, scope: Scope, receive: Receive | None = None, max_body_size: int | None = None
    ) -> None:
        self.scope = scope
        self._receive = receive or _no_body
        self._body: bytes | None = None
        self._json: Any = _UNSET
        self._form: FormData | None = None
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._stream_consumed = False
        self._watch: Any = None
        if max_body_size is None:
            app = scope.get("app")
            max_body_size = getattr(app, "max_body_size", DEFAULT_MAX_BODY)
        self.max_body_size: int | None = max_body_size

    @property
    def app(self) -> App:
        """The :class:`keel.App` handling this request."""
        return self.scope["app"]  # type: ignore[no-any-return]

    @property
    def method(self) -> str:
        """The HTTP method, upper case."""
        return self.scope["method"]  # type: ignore[no-any-return]

    @property
    def path(self) -> str:
        """The decoded request path."""
        return self.scope["path"]  # type: ignore[no-any-return]

    @property
    def path_params(self) -> dict[str, Any]:
        """Converted path parameters of the matched route."""
        return self.scope.get("path_params", {})  # type: ignore[no-any-return]

    @property
    def headers(self) -> Headers:
        """Request headers (case-insensitive)."""
        if self._headers is None:
            self._headers = Headers(self.scope.get("headers", ()))
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        """Parsed query string."""
        if self._query is None:
            limit = app_setting(self.scope.get("app"), "max_query_params", 1000)
            self._query = QueryParams(self.scope.get("query_string", b""), limit)
        return self._query

    @property
    def cookies(self) -> dict[str, str]:
        """Request cookies by name (malformed cookie pairs are skipped)."""
        if self._cookies is None:
            self._cookies = parse_cookies(self.headers.getlist("cookie"))
            self.scope["keel.cookies_read"] = True  # a response cache must not share the answer
        return self._cookies

    @property
    def session(self) -> Session:
        """The client's :class:`~keel.sessions.Session` (needs ``SessionMiddleware``)."""
        session = self.scope.get("session")
        if session is None:
            raise RuntimeError(
                "request.session needs keel's SessionMiddleware, which every keel App installs: "
                "this request did not come through an App (a bare ASGI call?)"
            )
        return session  # type: ignore[no-any-return]

    @property
    def user(self) -> Any:
        """The logged-in user (set by ``keel.auth``), else :data:`ANONYMOUS`, whose
        ``is_authenticated`` is false."""
        return self.scope.get("user") or ANONYMOUS

    @property
    def client(self) -> Address | None:
        """``(host, port)`` of the client (also ``.host``, ``.port``), when the server knows it."""
        c = self.scope.get("client")
        return Address(c[0], c[1]) if c else None

    @property
    def state(self) -> State:
        """Per-request free namespace (shared with middleware through the scope)."""
        st = self.scope.get("state")
        if not isinstance(st, State):
            st = State(**st) if isinstance(st, dict) else State()
            self.scope["state"] = st
        return st

    @property
    def base_url(self) -> URL:
        """Scheme, host and root path, with a trailing slash."""
        return URL(f"{self._origin()}{self.scope.get('root_path', '')}/")

    @property
    def url(self) -> URL:
        """The full request URL."""
        qs = self.scope.get("query_string", b"")
        raw_path = self.scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else self.scope["path"]
        url = f"{self._origin()}{path}"
        if qs:
            url += "?" + qs.decode("latin-1")
        return URL(url)

    def _origin(self) -> str:
        scheme = self.scope.get("scheme", "http")
        host = self.headers.get("host")
        if not host:
            server = self.scope.get("server")
            if server:
                default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
                host = server[0] if server[1] == default else f"{server[0]}:{server[1]}"
            else:
                host = "localhost"
        return f"{scheme}://{host}"

    def url_for(self, name: str, /, **params: Any) -> URL:
        """The absolute URL of the route called ``name``."""
        path = self.app.url_path_for(name, **params)
        return URL(f"{self._origin()}{self.scope.get('root_path', '')}{path}")

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield body chunks as they arrive, enforcing the body size limit."""
        if self._body is not None:
            yield self._body
            return
        self._start_reading()
        try:
            async for chunk in self._stream([]):
                yield chunk
        finally:
            self._body_done()

    async def _stream(self, pending: list[Any]) -> AsyncIterator[bytes]:
        self._stream_consumed = True
        received = 0
        while True:
            message = pending.pop() if pending else await self._next_message()
            kind = message["type"]
            if kind == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    received += len(chunk)
                    self._enforce_limit(received)
                    yield chunk
                if not message.get("more_body", False):
                    return
            elif kind == "http.disconnect":
                raise ClientDisconnect()

    async def body(self) -> bytes:
        """The whole body (read once, then cached)."""
        if self._body is None:
            self._start_reading()
            try:
                message = await self._next_message()
                if message["type"] == "http.request" and not message.get("more_body", False):
                    # The common case: the whole body in one message.
                    self._stream_consumed = True
                    body = message.get("body", b"")
                    self._enforce_limit(len(body))
                    self._body = body
                else:
                    self._body = b"".join([c async for c in self._stream([message])])
            finally:
                self._body_done()
        return self._body

    async def _next_message(self) -> Any:
        """Receive the next body message; past the app's ``body_timeout``, answer 408."""
        if self._watch is None:
            timeout = getattr(self.scope.get("app"), "body_timeout", None)
            if timeout is None:
                return await self._receive()
            self._watch = watchdog().watch(self, timeout)
        try:
            return await self._receive()
        except BaseException as exc:
            # asyncio is loaded whenever a loop runs; importing it at module level would cost
            # ``import keel`` ~20 ms
            import asyncio

            if self._watch is TIMED_OUT and isinstance(exc, asyncio.CancelledError):
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                raise HTTPError(
                    408,
                    "The request body was not received in time",
                    headers={"connection": "close"},
                ) from None
            raise

    def _body_done(self) -> None:
        watch = self._watch
        if watch is not None and watch is not TIMED_OUT:
            watch.unwatch(self)

    def _start_reading(self) -> None:
        """Refuse a second read, and a declared ``Content-Length`` over the limit."""
        if self._stream_consumed:
            raise RuntimeError("The request body stream was already consumed")
        if self.max_body_size is None:
            return
        for name, value in self.scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise HTTPError(400, "Invalid Content-Length header") from None
                self._enforce_limit(declared)
                return

    def _enforce_limit(self, size: int) -> None:
        limit = self.max_body_size
        if limit is not None and size > limit:
            raise PayloadTooLarge(limit)

    async def json(self) -> Any:
        """The body parsed as strict JSON (400 problem when malformed)."""
        if self._json is _UNSET:
            self._json = _json.loads(await self.body())
        return self._json

    async def form(
        self,
        *,
        max_fields: int | None = None,
        max_file_size: int | None = None,
        max_field_size: int | None = None,
        max_files: int | None = None,
    ) -> FormData:
        """The body parsed as url-encoded or multipart form data, with limits (413 beyond).

        Args:
            max_fields: Most fields, files included (default: the ``max_form_fields``
                setting, 1000).
            max_file_size: Most bytes per uploaded file (default: the body limit).
            max_field_size: Most bytes in one non-file field (default: the
                ``max_form_field_size`` setting, 1 MiB).
            max_files: Most files in a multipart body (default: the ``max_files`` setting,
                100).
        """
        if self._form is None:
            from keel._forms import FormLimits, parse_form

            app = self.scope.get("app")
            limits = FormLimits(
                fields=int(max_fields or getattr(app, "max_form_fields", None) or 1000),
                file_size=max_file_size,
                field_size=max_field_size or app_setting(app, "max_form_field_size", 1 << 20),
                files=max_files if max_files is not None else app_setting(app, "max_files", 100),
            )
            self._form = await parse_form(self, limits)
        return self._form

    def __repr__(self) -> str:
        return f"Request({self.scope.get('method')} {self.scope.get('path')!r})"


class Address(NamedTuple):
    """A network peer: ``host`` and ``port`` (a tuple too)."""

    host: str
    port: int


class _Unset:
    pass


_UNSET: Any = _Unset()


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def parse_cookies(values: list[str]) -> dict[str, str]:
    """Parse ``Cookie`` header values leniently; first occurrence of a name wins."""
    out: dict[str, str] = {}
    for header in values:
        for chunk in header.split(";"):
            if "=" in chunk:
                key, _, val = chunk.partition("=")
            else:
                key, val = "", chunk
            key, val = key.strip(), val.strip()
            if not key and not val:
                continue
            if len(val) >= 2 and val[0] == val[-1] == '"':
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(f"{key or 'x'}={val}")
                    val = next(iter(jar.values())).value
                except Exception:
                    val = val[1:-1]
            out.setdefault(key, val)
    return out
