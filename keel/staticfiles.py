"""Serving a folder of static files: ``app.mount("/static", StaticFiles(directory="static"))``."""

from __future__ import annotations

import os
import stat as stat_mod
from pathlib import Path

from keel._concurrency import run_sync
from keel._http import not_modified
from keel._types import Receive, Scope, Send
from keel.datastructures import Headers
from keel.errors import HTTPError
from keel.requests import Request
from keel.responses import FileResponse, ProblemResponse, Response
from keel.routing import route_path

__all__ = ["StaticFiles"]


class StaticFiles:
    """An ASGI app that serves the files below ``directory``.

    Only regular files inside the folder are served: ``..``, absolute paths, NUL bytes,
    backslashes and symbolic links that lead outside the folder are a 404, never a 500.
    Answers GET and HEAD with ``ETag``/``Last-Modified`` and honours ``If-None-Match`` and
    ``If-Modified-Since`` with 304.

    Mounted in an app, its 404 and 405 go through the app's exception handlers and error
    format like any other error; served on its own, it answers problem details.

    Args:
        directory: The folder to serve.
        html: Serve ``index.html`` for a folder and ``404.html`` (if present) for a miss.
        follow_symlinks: Follow links that stay inside the folder (links out never are).
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, html: bool = False, follow_symlinks: bool = True
    ) -> None:
        root = Path(directory).resolve()
        if not root.is_dir():
            raise RuntimeError(f"StaticFiles directory {str(directory)!r} does not exist")
        self.root = root
        self.html = html
        self.follow_symlinks = follow_symlinks

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
        response = FileResponse(full, stat_result=st, headers={"cache-control": "no-cache"})
        etag, last_modified = response.headers.get("etag"), response.headers.get("last-modified")
        if not_modified(Headers(scope.get("headers", ())), etag, last_modified):
            headers = {k: v for k, v in response.headers.items() if k in ("etag", "last-modified")}
            await Response(b"", 304, headers)(scope, receive, send)
            return
        await response(scope, receive, send)

    def _lookup(self, path: str) -> tuple[Path, os.stat_result] | None:
        """The file for a URL path, or ``None`` if it is missing or not allowed."""
        if "\x00" in path or "\\" in path:
            return None
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts):
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
