"""The blocking-call detector: a ``time.sleep`` in an async handler is reported with its line."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from keel import App
from keel.blocking import BlockingDetector
from keel.settings import Settings
from keel.testing import TestClient
from tests.live import free_port
from tests.settings import production

KEEL = str(Path(sys.executable).parent / "keel")


def _app(**settings: object) -> App:
    app = App(settings=Settings(**settings))  # type: ignore[arg-type]

    @app.get("/sleepy")
    async def sleepy() -> dict[str, bool]:
        time.sleep(0.3)  # the blocking call
        return {"slept": True}

    @app.get("/polite")
    async def polite() -> dict[str, bool]:
        await asyncio.sleep(0.3)
        return {"slept": True}

    return app


SLEEP_LINE = _app.__code__.co_firstlineno + 5  # the line of time.sleep(0.3) above


def test_time_sleep_in_an_async_handler_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    app = _app(detect_blocking=True)
    with caplog.at_level(logging.WARNING, logger="keel.blocking"), TestClient(app) as client:
        assert client.get("/sleepy").json() == {"slept": True}
        detector = app.extensions["keel.blocking"]
        deadline = time.monotonic() + 2
        while not detector.reports and time.monotonic() < deadline:
            time.sleep(0.01)
    # a loaded machine may add reports of its own stalls: the sleep is reported once
    (report,) = [r for r in detector.reports if r.route == "GET /sleepy"]
    assert report.handler is not None and report.handler.endswith("_app.<locals>.sleepy")
    assert 0.2 <= report.seconds <= 1.0
    assert report.stack[-1].filename == __file__
    assert report.stack[-1].lineno == SLEEP_LINE
    assert report.stack[-1].line == "time.sleep(0.3)  # the blocking call"
    (record,) = [r for r in caplog.records if "GET /sleepy" in r.getMessage()]
    text = record.getMessage()
    assert text.startswith("The event loop was blocked for 0.")
    assert "in GET /sleepy (" in text
    assert f'File "{__file__}", line {SLEEP_LINE}, in sleepy' in text


def test_awaiting_is_not_reported() -> None:
    app = _app(detect_blocking=True, blocking_threshold=0.25)
    with TestClient(app) as client:
        assert client.get("/polite").json() == {"slept": True}
        assert app.extensions["keel.blocking"].reports == []


def test_off_by_default_and_in_production() -> None:
    app = _app()
    with TestClient(app) as client:
        client.get("/polite")
    assert "keel.blocking" not in app.extensions
    prod = App(settings=production(detect_blocking=True))
    with TestClient(prod) as client:
        client.get("/nope")
    assert "keel.blocking" not in prod.extensions


def test_blocking_outside_a_handler_shows_the_app_frames() -> None:
    async def main() -> BlockingDetector:
        detector = BlockingDetector(0.05)
        await detector.start()
        await asyncio.sleep(0.03)
        time.sleep(0.2)
        await asyncio.sleep(0.1)
        await detector.stop()
        return detector

    detector = asyncio.run(main())
    assert len(detector.reports) == 1
    report = detector.reports[0]
    assert report.route is None
    assert report.stack[-1].name == "main"
    assert report.stack[-1].line == "time.sleep(0.2)"


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        BlockingDetector(0)


def test_keel_run_reports_blocking_handlers(tmp_path: Path) -> None:
    (tmp_path / "blocky.py").write_text(
        "import time\n"
        "from keel import App\n"
        "app = App()\n"
        "@app.get('/')\n"
        "async def home() -> dict[str, bool]:\n"
        "    time.sleep(0.3)\n"
        "    return {'ok': True}\n"
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    with (tmp_path / "log.txt").open("wb") as log:
        proc = subprocess.Popen(
            [KEEL, "run", "blocky:app", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "log.txt").read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/").json() == {"ok": True}
        deadline = time.monotonic() + 5
        while "blocked for" not in (tmp_path / "log.txt").read_text():
            assert time.monotonic() < deadline, (tmp_path / "log.txt").read_text()
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)
    text = (tmp_path / "log.txt").read_text()
    assert "The event loop was blocked for 0." in text
    assert "in GET / (blocky.home)" in text
    assert 'blocky.py", line 6, in home' in text
