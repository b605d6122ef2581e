"""Measure the blocking-call detector's cost on an in-process JSON route.

Runs the app's ASGI callable directly (no sockets) for N requests of ``GET /json``, with
and without the detector, alternating rounds, and prints the median time per request.

    .venv/bin/python scripts/blocking_overhead.py [requests-per-round] [rounds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

from keel import App
from keel.blocking import BlockingDetector
from keel.settings import Settings


def make_app() -> App:
    app = App(
        settings=Settings(debug=True, secret_key="x" * 8 + "0123456789abcdefghijklmnopqrstuv")
    )

    @app.get("/json")
    async def json_() -> dict[str, str]:
        return {"message": "Hello, World!"}

    return app


async def drive(app: App, count: int) -> float:
    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/json",
        "raw_path": b"/json",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    start = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), receive, send)
        await asyncio.sleep(0)  # as a server does between requests: the loop runs its timers
    return time.perf_counter() - start


async def main(count: int, rounds: int) -> None:
    app = make_app()
    app.build()
    await drive(app, 2000)  # warm up
    plain: list[float] = []
    watched: list[float] = []
    for _ in range(rounds):
        plain.append(await drive(app, count))
        detector = BlockingDetector(0.1, app=app)
        await detector.start()
        watched.append(await drive(app, count))
        await detector.stop()
        assert not detector.reports, [str(r) for r in detector.reports]
    off = statistics.median(plain) / count * 1e6
    on = statistics.median(watched) / count * 1e6
    print(f"detector off: {off:.2f} us/request, on: {on:.2f} us/request")
    print(f"overhead: {(on - off) / off * 100:+.1f}% ({rounds} rounds of {count} requests)")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    r = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    asyncio.run(main(n, r))
