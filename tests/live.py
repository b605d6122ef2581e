"""A real uvicorn server in a thread, and a headless Chromium page that may reach only it.

Shared by the tests that need a real socket or a real browser. Chromium is Debian's
(``/usr/bin/chromium``), driven by Playwright; never a downloaded browser build.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running(app: Any, name: str = "uvicorn-test", **options: Any) -> Iterator[uvicorn.Server]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port for the duration of the block."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name=name)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def url_of(server: uvicorn.Server) -> str:
    """The base URL of a server started by :func:`running`."""
    return f"http://127.0.0.1:{server.config.port}"


@contextlib.contextmanager
def chromium(sync_api: Any) -> Iterator[Any]:
    """A headless Debian Chromium, driven by Playwright's sync API."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def guarded_page(browser: Any, *origins: str) -> Iterator[Any]:
    """A page whose requests may reach only ``origins``: any other request is aborted and
    fails the test when the block ends. ``page.errors`` collects JavaScript errors and the
    console's error lines."""
    context = browser.new_context()
    blocked: list[str] = []

    def guard(route: Any) -> None:
        if any(route.request.url.startswith(origin + "/") for origin in origins):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield page
    finally:
        context.close()
    assert blocked == [], f"the page tried to reach the network: {blocked}"
