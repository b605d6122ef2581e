"""Serving a folder of static files: ``app.static("/static", "static")``, byte ranges, and the
fingerprinted copies ``keel collectstatic`` writes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat as stat_mod
from collections.abc import Sequence
from pathlib import Path

from keel._concurrency import run_sync
from keel._http import not_modified
from keel._types import Receive, Scope, Send
from keel.datastructures import Headers
from keel.errors import HTTPError
from keel.requests import Request
from keel.responses import FileResponse, ProblemResponse, Response
from keel.routing import route_path

__all__ = [
    "IMMUTABLE",
    "MANIFEST",
    "StaticFiles",
    "collect_static",
    "fingerprinted",
    "media_type",
    "parse_range",
]


MANIFEST = "staticfiles.json"
"""The manifest ``keel collectstatic`` writes: ``{"version": 1, "paths": {name: hashed}}``."""

IMMUTABLE = "public, max-age=31536000, immutable"
"""``Cache-Control`` of a fingerprinted file: its name changes whenever its content does."""

# Windows device names: a file named so is never served, on any system.
_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{kind}{n}" for kind in ("COM", "LPT") for n in "0123456789\u00b9\u00b2\u00b3"}
)

# Web types by suffix, so a file's type does not depend on the host's /etc/mime.types.
_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
    ".pdf": "application/pdf",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".zip": "application/zip",
}


def media_type(name: str) -> str:
    """The ``Content-Type`` of a file name (``charset=utf-8`` is added for text when sent)."""
    suffix = os.path.splitext(name)[1].lower()
    known = _TYPES.get(suffix)
    if known is not None:
        return known
    import mimetypes

    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


class StaticFiles:
    """An ASGI app that serves the files below ``directory``.

    Only regular files inside the folder are served: ``..``, absolute paths, NUL bytes,
    backslashes, Windows device names (``CON``, ``NUL``, ``COM1``…) and symbolic links that
    lead outside the folder are a 404, never a 500. Answers GET and HEAD with
    ``ETag``/``Last-Modified``, honours ``If-None-Match`` and ``If-Modified-Since`` with 304,
    and a single byte ``Range`` with 206 (``If-Range`` too; several ranges get the whole file,
    an unsatisfiable one a 416).

    A folder written by ``keel collectstatic`` has a ``staticfiles.json`` manifest: its
    fingerprinted files are sent with ``Cache-Control: public, max-age=31536000, immutable``
    and templates' ``static()`` links to them.

    Mounted in an app, its 404, 405 and 416 go through the app's exception handlers and error
    format like any other error; served on its own, it answers problem details.

    Args:
        directory: The folder to serve.
        html: Serve ``index.html`` for a folder and ``404.html`` (if present) for a miss.
        follow_symlinks: Follow links that stay inside the folder (links out never are).
        max_age: ``Cache-Control: public, max-age=<max_age>`` for files that are not
            fingerprinted; ``None`` (default) sends ``no-cache`` (browsers revalidate with
            the ``ETag`` each time, a cheap 304 when unchanged).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        html: bool = False,
        follow_symlinks: bool = True,
        max_age: int | None = None,
    ) -> None:
        root = Path(directory).resolve()
        if not root.is_dir():
            raise RuntimeError(f"StaticFiles directory {str(directory)!r} does not exist")
        self.root = root
        self.html = html
        self.follow_symlinks = follow_symlinks
        self.cache_control = "no-cache" if max_age is None else f"public, max-age={int(max_age)}"
        self.manifest: dict[str, str] = _read_manifest(root / MANIFEST)
        """Original name to fingerprinted name (``css/app.css`` -> ``css/app.3f2a1b9c0d1e.css``)."""
        self._hashed = frozenset(self.manifest.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (the mount strips its prefix through ``root_path``)."""
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            error = HTTPError(405, "Static files answer GET and HEAD only", {"allow": "GET, HEAD"})
            await _send_error(error, scope, receive, send)
            return
        _, path = route_path(scope)
        found = await run_sync(self._lookup, path)
        if found is None:
            missing = await run_sync(self._lookup, "/404.html") if self.html else None
            if missing is not None:
                await FileResponse(missing[0], 404, stat_result=missing[1])(scope, receive, send)
                return
            await _send_error(HTTPError(404, "No such file"), scope, receive, send)
            return
        full, st = found
        name = "/".join(p for p in path.split("/") if p)
        headers = {
            "cache-control": IMMUTABLE if name in self._hashed else self.cache_control,
            "accept-ranges": "bytes",
        }
        response = FileResponse(
            full, stat_result=st, headers=headers, media_type=media_type(full.name)
        )
        etag, last_modified = response.headers.get("etag"), response.headers.get("last-modified")
        request_headers = Headers(scope.get("headers", ()))
        if not_modified(request_headers, etag, last_modified):
            kept = ("etag", "last-modified", "cache-control")
            headers = {k: v for k, v in response.headers.items() if k in kept}
            await Response(b"", 304, headers)(scope, receive, send)
            return
        requested = request_headers.get("range")
        if (
            requested is not None
            and scope["method"] == "GET"
            and st.st_size > 0
            and _if_range_holds(request_headers.get("if-range"), etag, last_modified)
        ):
            span = parse_range(requested, st.st_size)
            if span == _UNSATISFIABLE:
                detail = f"The range {requested[:100]!r} lies outside the file ({st.st_size} bytes)"
                error = HTTPError(416, detail, {"content-range": f"bytes */{st.st_size}"})
                await _send_error(error, scope, receive, send)
                return
            if span is not None:
                await _send_range(response, full, span, st.st_size, scope, send)
                return
        await response(scope, receive, send)

    def _lookup(self, path: str) -> tuple[Path, os.stat_result] | None:
        """The file for a URL path, or ``None`` if it is missing or not allowed."""
        if "\x00" in path or "\\" in path or ":" in path:
            return None
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") or _is_device(p) for p in parts):
            return None
        candidate = self.root.joinpath(*parts)
        try:
            if not self.follow_symlinks and _has_link(self.root, parts):
                return None
            real = candidate.resolve()
            if real != self.root and self.root not in real.parents:
                return None  # a link that leads out of the folder
            st = real.stat()
            if stat_mod.S_ISDIR(st.st_mode) and self.html:
                real = real / "index.html"
                st = real.stat()
        except (OSError, ValueError):
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        return real, st


async def _send_error(error: HTTPError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer ``error`` through the app the folder is mounted in (its handlers and error
    format), or as problem details when the folder is served on its own."""
    handle = getattr(scope.get("app"), "handle_exception", None)
    if handle is not None:
        response: Response = await handle(Request(scope, receive), error)
    else:
        response = ProblemResponse.from_error(error)
    await response(scope, receive, send)


def _has_link(root: Path, parts: list[str]) -> bool:
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            return True
    return False


def _is_device(part: str) -> bool:
    """``CON``, ``nul.txt``, ``COM1 `` …: names Windows maps to devices."""
    return part.split(".", 1)[0].rstrip(" ").upper() in _DEVICES


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"Cannot read the static files manifest {path}: {exc}") from None
    paths = data.get("paths") if isinstance(data, dict) else None
    if not isinstance(paths, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in paths.items()
    ):
        raise RuntimeError(f"{path} is not a keel collectstatic manifest (no 'paths' map)")
    return paths


_UNSATISFIABLE = (-1, -1)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range ``(first, last)`` (inclusive) a ``Range`` header asks of ``size``
    bytes (RFC 9110 §14.2), clipped to the file.

    ``None`` means "send the whole file": a unit other than ``bytes``, a malformed header, or
    several ranges (a server may ignore ``Range``, and serving many ranges of one file is a
    known way to amplify traffic). ``(-1, -1)`` means no range overlaps the file (416).
    """
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in specs:
        return None
    first_text, dash, last_text = specs.strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    digits = first_text + last_text
    if not dash or not digits or not (digits.isascii() and digits.isdigit()):
        return None
    if len(first_text) > 20:  # never parse 100,000-digit numbers: beyond any file
        return _UNSATISFIABLE
    if len(last_text) > 20:
        last_text = "9" * 20
    if not first_text:  # the last N bytes
        suffix = int(last_text)
        return (max(size - suffix, 0), size - 1) if suffix > 0 else _UNSATISFIABLE
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None  # invalid: ignored
    if first >= size:
        return _UNSATISFIABLE
    return first, min(last, size - 1)


def _if_range_holds(if_range: str | None, etag: str | None, last_modified: str | None) -> bool:
    """``If-Range`` (RFC 9110 §13.1.5): the range applies only to the representation it names
    (a strong ``ETag`` or the exact ``Last-Modified`` date); else the whole file is sent."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        return etag is not None and not etag.startswith("W/") and value == etag
    return last_modified is not None and value == last_modified


async def _send_range(
    response: FileResponse, path: Path, span: tuple[int, int], size: int, scope: Scope, send: Send
) -> None:
    first, last = span
    length = last - first + 1
    response.status_code = 206
    response.headers["content-range"] = f"bytes {first}-{last}/{size}"
    response.headers["content-length"] = str(length)
    await send(response._start(scope))
    f = await run_sync(open, path, "rb")
    try:
        await run_sync(f.seek, first)
        while length > 0:
            chunk = await run_sync(f.read, min(FileResponse.chunk_size, length))
            if not chunk:  # the file shrank meanwhile: end the body short
                break
            length -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": length > 0})
        if length > 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await run_sync(f.close)


# -- keel collectstatic ----------------------------------------------------------------------


def fingerprinted(name: str, content: bytes) -> str:
    """``css/app.css`` -> ``css/app.<12 hex digits of the content's SHA-256>.css``."""
    digest = hashlib.sha256(content).hexdigest()[:12]
    folder, _, base = name.rpartition("/")
    stem, dot, suffix = base.rpartition(".")
    hashed = f"{stem}.{digest}.{suffix}" if dot and stem else f"{base}.{digest}"
    return f"{folder}/{hashed}" if folder else hashed


def collect_static(
    sources: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str]
) -> dict[str, str]:
    """Copy every file of ``sources`` into ``output``, each also under a fingerprinted name,
    and write the ``staticfiles.json`` manifest there; return the manifest's paths.

    A name found in several sources comes from the first. Hidden files and folders (``.*``)
    and links that lead out of their source are skipped. ``output`` may not lie inside a
    source nor contain one.
    """
    target = Path(output).resolve()
    roots = [Path(s).resolve() for s in sources]
    for root in roots:
        if not root.is_dir():
            raise ValueError(f"Static source {str(root)!r} is not a folder")
        if root == target or root in target.parents or target in root.parents:
            raise ValueError(f"The output {str(target)!r} and the source {str(root)!r} overlap")
    files: dict[str, Path] = {}
    for root in roots:
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for base in sorted(names):
                full = Path(folder, base)
                name = full.relative_to(root).as_posix()
                if base.startswith(".") or name == MANIFEST or name in files:
                    continue
                real = full.resolve()
                if root in real.parents and real.is_file():
                    files[name] = real
    paths: dict[str, str] = {}
    for name, real in sorted(files.items()):
        content = real.read_bytes()
        hashed = fingerprinted(name, content)
        for written in (name, hashed):
            destination = target / written
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(real, destination)
        paths[name] = hashed
    target.mkdir(parents=True, exist_ok=True)
    manifest = json.dumps({"version": 1, "paths": paths}, indent=2, sort_keys=True)
    partial = target / (MANIFEST + ".tmp")
    partial.write_text(manifest + "\n", "utf-8")
    partial.replace(target / MANIFEST)
    return paths
