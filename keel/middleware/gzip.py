"""Response compression: gzip, or brotli when the ``brotli`` module is installed.

Compresses responses whose media type benefits (text, JSON, XML, JavaScript, SVG…) when the
client accepts it, chunk by chunk for streamed responses (each chunk is flushed, so a
stream stays a stream). Never touches ``text/event-stream``, responses that already carry a
``Content-Encoding``, ``Cache-Control: no-transform``, partial content or bodiless answers.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
import zlib
from collections.abc import Iterable
from typing import Any, Protocol

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.middleware._common import add_vary, header_value, message_headers

__all__ = ["GZipMiddleware", "choose_encoding"]

try:
    _brotli: Any = importlib.import_module("brotli")
except ImportError:  # brotli is optional
    _brotli = None

_DEFAULT_TYPES = (
    "text/*",
    "application/json",
    "application/*+json",
    "application/x-ndjson",
    "application/javascript",
    "application/xml",
    "application/*+xml",
    "application/wasm",
    "image/svg+xml",
)
_NEVER = frozenset({"text/event-stream"})
_CODING_RE = re.compile(r"\s*([A-Za-z0-9*_.-]+)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*")


def choose_encoding(accept_encoding: str, available: Iterable[str] = ("br", "gzip")) -> str | None:
    """The best content coding in ``available`` that ``Accept-Encoding`` allows, or ``None``.

    Follows RFC 9110 §12.5.3: ``q=0`` forbids a coding, ``*`` stands for codings not named,
    the highest q wins and ties go to the earlier entry of ``available``. ``x-gzip`` counts
    as ``gzip``. A malformed member is ignored.
    """
    qualities: dict[str, float] = {}
    for member in accept_encoding.split(","):
        if not member.strip():
            continue
        match = _CODING_RE.fullmatch(member)
        if match is None:
            continue
        coding = match.group(1).lower()
        if coding == "x-gzip":
            coding = "gzip"
        try:
            q = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            continue
        if not 0.0 <= q <= 1.0:
            continue
        qualities[coding] = max(q, qualities.get(coding, 0.0)) if coding in qualities else q
    best: str | None = None
    best_q = 0.0
    for coding in available:
        q = qualities.get(coding, qualities.get("*", 0.0))
        if q > best_q:
            best, best_q = coding, q
    return best


class _Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...
    def finish(self) -> bytes: ...


class _GzipCompressor:
    def __init__(self, level: int) -> None:
        self._obj = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip wrapper, 32K window

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def flush(self) -> bytes:
        return self._obj.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._obj.flush(zlib.Z_FINISH)


class _BrotliCompressor:
    def __init__(self, quality: int) -> None:
        self._obj = _brotli.Compressor(quality=quality)

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._obj.process(data)
        return out

    def flush(self) -> bytes:
        out: bytes = self._obj.flush()
        return out

    def finish(self) -> bytes:
        out: bytes = self._obj.finish()
        return out


class GZipMiddleware:
    """Compress responses with gzip (or brotli, when installed and preferred by the client).

    Args:
        app: The ASGI app.
        minimum_size: Complete bodies smaller than this many bytes are sent as they are
            (compression would not pay). Streamed bodies are always compressed.
        compresslevel: gzip level, 1 (fast) to 9 (small).
        brotli_quality: brotli quality, 0 to 11 (used only when ``brotli`` is importable).
        use_brotli: Offer brotli when the module is installed.
        media_types: Media types to compress (``"text/*"`` and ``"application/*+json"``
            patterns allowed). ``text/event-stream`` is never compressed.

    ``Vary: Accept-Encoding`` is added to every response that could be compressed, whether or
    not this client got it compressed, so shared caches keep the variants apart. A strong
    ``ETag`` becomes weak on a compressed response (the bytes differ).
    """

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int = 500,
        compresslevel: int = 6,
        *,
        brotli_quality: int = 4,
        use_brotli: bool = True,
        media_types: Iterable[str] = _DEFAULT_TYPES,
    ) -> None:
        if minimum_size < 0:
            raise ValueError("minimum_size must be >= 0")
        if not 1 <= compresslevel <= 9:
            raise ValueError("compresslevel must be between 1 and 9")
        if not 0 <= brotli_quality <= 11:
            raise ValueError("brotli_quality must be between 0 and 11")
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.brotli_quality = brotli_quality
        self.available = ("br", "gzip") if use_brotli and _brotli is not None else ("gzip",)
        patterns = [fnmatch.translate(m.strip().lower()) for m in media_types]
        self._types = re.compile("|".join(patterns) if patterns else "(?!)")
        self._choices: dict[bytes, str | None] = {}

    def compressible(self, media_type: str) -> bool:
        """Whether responses of ``media_type`` (no parameters) are compressed."""
        media = media_type.lower()
        return media not in _NEVER and self._types.match(media) is not None

    def _compressor(self, coding: str) -> _Compressor:
        if coding == "br":
            return _BrotliCompressor(self.brotli_quality)
        return _GzipCompressor(self.compresslevel)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, compressing its response when worthwhile."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = header_value(scope.get("headers", ()), b"accept-encoding")
        coding: str | None = None
        if raw:
            try:
                coding = self._choices[raw]
            except KeyError:
                coding = choose_encoding(raw.decode("latin-1"), self.available)
                if len(self._choices) >= 256:  # hostile variety cannot grow memory
                    self._choices.clear()
                self._choices[raw] = coding
        responder = _Responder(self, send, coding, scope.get("method") == "HEAD")
        await self.app(scope, receive, responder.send)


class _Responder:
    """The per-response state machine: decide at the first body chunk, then stream."""

    __slots__ = ("owner", "downstream", "coding", "head", "start", "compressor", "passthrough")

    def __init__(self, owner: GZipMiddleware, send: Send, coding: str | None, head: bool) -> None:
        self.owner = owner
        self.downstream = send
        self.coding = coding
        self.head = head
        self.start: Message | None = None
        self.compressor: _Compressor | None = None
        self.passthrough = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self._eligible(message):
                add_vary(message_headers(message), b"Accept-Encoding")
                if self.coding is not None and not self.head:
                    self.start = message  # held until the first body chunk decides
                    return
            self.passthrough = True
            await self.downstream(message)
            return
        if kind != "http.response.body" or self.passthrough:
            await self.downstream(message)
            return
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self.start is not None:
            start, self.start = self.start, None
            if not more and len(body) < self.owner.minimum_size:
                self.passthrough = True
                await self.downstream(start)
                await self.downstream(message)
                return
            assert self.coding is not None
            self.compressor = self.owner._compressor(self.coding)
            headers = _encoded_headers(message_headers(start), self.coding)
            if more:
                headers[:] = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            else:
                data = self.compressor.compress(body) + self.compressor.finish()
                headers[:] = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(data)).encode()))
                await self.downstream(start)
                await self.downstream({"type": "http.response.body", "body": data})
                return
            await self.downstream(start)
        compressor = self.compressor
        if compressor is None:  # a body before any start: not ours to fix
            await self.downstream(message)
            return
        if more:
            data = compressor.compress(body) + compressor.flush() if body else b""
            if data:
                await self.downstream(
                    {"type": "http.response.body", "body": data, "more_body": True}
                )
        else:
            data = compressor.compress(body) + compressor.finish()
            await self.downstream({"type": "http.response.body", "body": data})

    def _eligible(self, start: Message) -> bool:
        status = int(start.get("status", 200))
        if status < 200 or status in (204, 206, 304):
            return False
        headers = message_headers(start)
        if header_value(headers, b"content-encoding") not in (None, b"", b"identity"):
            return False
        if header_value(headers, b"content-range") is not None:
            return False
        cache_control = (header_value(headers, b"cache-control") or b"").lower()
        if b"no-transform" in cache_control:
            return False
        content_type = header_value(headers, b"content-type")
        if content_type is None:
            return False
        media = content_type.decode("latin-1").split(";", 1)[0].strip()
        return self.owner.compressible(media)


def _encoded_headers(headers: list[tuple[bytes, bytes]], coding: str) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for key, value in headers:
        low = key.lower()
        if low == b"content-encoding":
            continue
        if low == b"etag" and not value.startswith(b"W/"):
            value = b"W/" + value
        out.append((key, value))
    out.append((b"content-encoding", coding.encode()))
    headers[:] = out
    return headers
