"""The blocking-call detector: a ``time.sleep`` in an async handler is reported with its line."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from keel import App
from keel.blocking import BlockingDetector
from keel.settings import Settings
from keel.testing import TestClient
from tests.settings import production


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
    assert len(detector.reports) == 1
    report = detector.reports[0]
    assert report.route == "GET /sleepy"
    assert report.handler is not None and report.handler.endswith("_app.<locals>.sleepy")
    assert 0.2 <= report.seconds <= 1.0
    assert report.stack[-1].filename == __file__
    assert report.stack[-1].lineno == SLEEP_LINE
    assert report.stack[-1].line == "time.sleep(0.3)  # the blocking call"
    (record,) = [r for r in caplog.records if r.name == "keel.blocking"]
    text = record.getMessage()
    assert text.startswith("The event loop was blocked for 0.")
    assert "in GET /sleepy (" in text
    assert f'File "{__file__}", line {SLEEP_LINE}, in sleepy' in text


def test_awaiting_is_not_reported() -> None:
    app = _app(detect_blocking=True)
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
