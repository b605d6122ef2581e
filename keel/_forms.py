"""Form body parsing (url-encoded and multipart) with field, part and file limits."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from keel._http import parse_query
from keel.datastructures import FormData, Headers
from keel.errors import HTTPError

if TYPE_CHECKING:
    from keel.requests import Request

MAX_PART_HEADERS = 16


@dataclasses.dataclass(frozen=True, slots=True)
class FormLimits:
    """The limits of one form body (from the app's settings; 413 beyond each)."""

    fields: int = 1000
    """Most fields, files included."""
    file_size: int | None = None
    """Most bytes per uploaded file (``None``: only the body limit)."""
    field_size: int = 1024 * 1024
    """Most bytes in one non-file field."""
    files: int = 100
    """Most files in a multipart body."""


class FormError(HTTPError):
    """A malformed or over-limit form (400 or 413)."""


def _too_many_fields(limit: int) -> FormError:
    return FormError(413, f"Too many form fields (the limit is {limit})", extra={"limit": limit})


def _field_too_large(name: str, limit: int) -> FormError:
    return FormError(
        413, f"Form field {name[:40]!r} is larger than {limit} bytes", extra={"limit": limit}
    )


async def parse_form(request: Request, limits: FormLimits) -> FormData:
    """Parse the request body as a form according to its ``Content-Type``."""
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype == b"application/x-www-form-urlencoded":
        body = await request.body()
        if body.count(b"&") >= limits.fields:
            raise _too_many_fields(limits.fields)
        pairs = parse_query(body, "form body")
        if len(body) > limits.field_size:  # only then can one field be too large
            for name, value in pairs:
                if len(value.encode()) > limits.field_size:
                    raise _field_too_large(name, limits.field_size)
        return FormData(pairs)
    if ctype == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise FormError(400, "The multipart Content-Type has no boundary")
        return await _MultipartReader(request, boundary, limits).read()
    if not ctype and not await request.body():
        return FormData([])  # no body at all: every required field is reported missing (422)
    if not getattr(request.scope.get("app"), "forms_need_form_content_type", True):
        return FormData([])  # FastAPI's reading: not a form, so every field is missing (422)
    raise HTTPError(
        415,
        "Expected a form body (application/x-www-form-urlencoded or multipart/form-data)",
    )


class _MultipartReader:
    def __init__(self, request: Request, boundary: bytes, limits: FormLimits) -> None:
        self.request = request
        self.boundary = boundary
        self.limits = limits
        self.items: list[tuple[str, Any]] = []
        self.pending: list[tuple[str, Any, bytes]] = []
        self.file_size = 0
        self.header_field = b""
        self.header_value = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.name = ""
        self.filename: str | None = None
        self.data = bytearray()
        self.file: Any = None
        self.count = 0
        self.files = 0

    # parser callbacks (synchronous; file writes are collected in `pending` and flushed async)
    def on_part_begin(self) -> None:
        self.headers = []
        self.data = bytearray()
        self.file = None
        self.file_size = 0
        self.count += 1
        if self.count > self.limits.fields:
            raise _too_many_fields(self.limits.fields)

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers.append((self.header_field.strip().lower(), self.header_value.strip()))
        if len(self.headers) > MAX_PART_HEADERS:
            raise FormError(400, "Too many headers in a multipart part")
        self.header_field = b""
        self.header_value = b""

    def on_headers_finished(self) -> None:
        from keel.requests import UploadFile

        disposition = b""
        content_type = b""
        for k, v in self.headers:
            if k == b"content-disposition":
                disposition = v
            elif k == b"content-type":
                content_type = v
        kind, opts = parse_options_header(disposition)
        if kind != b"form-data" or b"name" not in opts:
            raise FormError(400, "A multipart part has no Content-Disposition name")
        self.name = opts[b"name"].decode("utf-8", "replace")
        fname = opts.get(b"filename")
        if fname is not None:
            self.files += 1
            if self.files > self.limits.files:
                raise FormError(
                    413,
                    f"Too many files (the limit is {self.limits.files})",
                    extra={"limit": self.limits.files},
                )
            self.filename = fname.decode("utf-8", "replace")
            self.file = UploadFile(
                self.filename,
                content_type.decode("latin-1") or "application/octet-stream",
                Headers(self.headers),
            )
        else:
            self.filename = None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not chunk:
            return
        if self.file is not None:
            self.pending.append((self.name, self.file, chunk))
            self.file_size += len(chunk)
            limit = self.limits.file_size
            if limit is not None and self.file_size > limit:
                raise FormError(
                    413,
                    f"Uploaded file {(self.filename or '')[:40]!r} is larger than {limit} bytes",
                    extra={"limit": limit},
                )
        else:
            self.data += chunk
            if len(self.data) > self.limits.field_size:
                raise _field_too_large(self.name, self.limits.field_size)

    def on_part_end(self) -> None:
        if self.file is not None:
            self.pending.append((self.name, self.file, b""))
            self.items.append((self.name, self.file))
            self.file = None
        else:
            try:
                value = self.data.decode("utf-8")
            except UnicodeDecodeError:
                raise FormError(400, f"Form field {self.name!r} is not valid UTF-8") from None
            self.items.append((self.name, value))

    async def _flush(self) -> None:
        for _, upload, chunk in self.pending:
            if chunk:
                await upload.write(chunk)
            else:
                await upload.seek(0)
        self.pending.clear()

    async def read(self) -> FormData:
        callbacks: Any = {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }
        try:
            parser = MultipartParser(self.boundary, callbacks)
        except FormParserError:
            raise FormError(400, "Invalid multipart boundary") from None
        try:
            async for chunk in self.request.stream():
                parser.write(chunk)
                if self.pending:
                    await self._flush()
            parser.finalize()
            await self._flush()
        except FormParserError as exc:
            await self._close_all()
            raise FormError(400, f"Malformed multipart body: {str(exc)[:120]}") from None
        except BaseException:
            await self._close_all()
            raise
        return FormData(self.items)

    async def _close_all(self) -> None:
        for _, v in self.items:
            if hasattr(v, "close"):
                await v.close()
        if self.file is not None:
            await self.file.close()
