"""Form body parsing (url-encoded and multipart) with field, part and file limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from keel._http import parse_query
from keel.datastructures import FormData, Headers
from keel.errors import HTTPError

if TYPE_CHECKING:
    from keel.requests import Request

MAX_PART_SIZE = 1024 * 1024  # a non-file field
MAX_PART_HEADERS = 16


class FormError(HTTPError):
    """A malformed or over-limit form (400 or 413)."""


async def parse_form(request: Request, max_fields: int, max_file_size: int | None) -> FormData:
    """Parse the request body as a form according to its ``Content-Type``."""
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype == b"application/x-www-form-urlencoded":
        body = await request.body()
        if body.count(b"&") >= max_fields:
            raise FormError(
                413,
                f"Too many form fields (the limit is {max_fields})",
                extra={"limit": max_fields},
            )
        pairs = parse_query(body, "form body")
        return FormData(pairs)
    if ctype == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise FormError(400, "The multipart Content-Type has no boundary")
        return await _MultipartReader(request, boundary, max_fields, max_file_size).read()
    if not ctype and not await request.body():
        return FormData([])  # no body at all: every required field is reported missing (422)
    if not getattr(request.scope.get("app"), "forms_need_form_content_type", True):
        return FormData([])  # FastAPI's reading: not a form, so every field is missing (422)
    raise HTTPError(
        415,
        "Expected a form body (application/x-www-form-urlencoded or multipart/form-data)",
    )


class _MultipartReader:
    def __init__(
        self, request: Request, boundary: bytes, max_fields: int, max_file_size: int | None
    ) -> None:
        self.request = request
        self.boundary = boundary
        self.max_fields = max_fields
        self.max_file_size = max_file_size
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

    # parser callbacks (synchronous; file writes are collected in `pending` and flushed async)
    def on_part_begin(self) -> None:
        self.headers = []
        self.data = bytearray()
        self.file = None
        self.file_size = 0
        self.count += 1
        if self.count > self.max_fields:
            raise FormError(
                413,
                f"Too many form fields (the limit is {self.max_fields})",
                extra={"limit": self.max_fields},
            )

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
            limit = self.max_file_size
            if limit is not None and self.file_size > limit:
                raise FormError(
                    413,
                    f"Uploaded file {self.filename!r} is larger than {limit} bytes",
                    extra={"limit": limit},
                )
        else:
            self.data += chunk
            if len(self.data) > MAX_PART_SIZE:
                raise FormError(
                    413, f"Form field {self.name!r} is larger than {MAX_PART_SIZE} bytes"
                )

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
