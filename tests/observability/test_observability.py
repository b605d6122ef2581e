"""JSON access logs, Prometheus metrics and OpenTelemetry spans, each on a real app."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from keel import App
from keel.middleware import Middleware
from keel.middleware.request_id import RequestIDMiddleware
from keel.observability import ACCESS_LOGGER, JSONFormatter, json_logs, metrics, tracing
from keel.settings import Settings
from keel.testing import AsyncTestClient, TestClient


def _app(**settings: object) -> App:
    app = App(settings=Settings(**settings))  # type: ignore[arg-type]

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(0.2)
        return {"slow": True}

    return app


# -- JSON logs ------------------------------------------------------------------------------


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_access_log_has_the_route_template(access_lines: io.StringIO) -> None:
    app = _app()
    json_logs(app, configure=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/items/42", headers={"x-request-id": "abc-123"})
        client.get("/nowhere/7")
        client.get("/boom")
    first, missing, boom = _lines(access_lines)
    assert first["logger"] == "keel.access"
    assert first["level"] == "info"
    assert first["request_id"] == "abc-123"
    assert first["method"] == "GET"
    assert first["route"] == "/items/{item_id}"  # the template, not /items/42
    assert first["status"] == 200
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert first["message"] == "GET /items/{item_id} 200"
    assert missing["route"] == "<unmatched>" and missing["status"] == 404
    assert boom["route"] == "/boom" and boom["status"] == 500
    assert len(str(missing["request_id"])) == 32  # generated


def test_json_logs_share_the_request_id_middleware_id(access_lines: io.StringIO) -> None:
    app = App(middleware=[Middleware(RequestIDMiddleware)])

    @app.get("/")
    async def home() -> dict[str, bool]:
        return {"ok": True}

    json_logs(app, configure=False)
    with TestClient(app) as client:
        answer = client.get("/", headers={"x-request-id": "bad id with spaces"})
    (line,) = _lines(access_lines)
    assert line["request_id"] == answer.headers["x-request-id"]
    assert line["request_id"] != "bad id with spaces"


def test_json_formatter_writes_extras_and_exceptions() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("keel.test-json")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("bad")
        except ValueError:
            logger.error("failed %s", "here", extra={"order": 7}, exc_info=True)
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "failed here"
    assert entry["order"] == 7
    assert "ValueError: bad" in entry["exception"]


def test_json_logs_configures_a_handler() -> None:
    stream = io.StringIO()
    app = _app()
    json_logs(app, stream=stream)
    keel_logger = logging.getLogger("keel")
    try:
        with TestClient(app) as client:
            client.get("/items/1")
    finally:
        for handler in list(keel_logger.handlers):
            if getattr(handler, "stream", None) is stream:
                keel_logger.removeHandler(handler)
        keel_logger.setLevel(logging.NOTSET)
    routes = [json.loads(line).get("route") for line in stream.getvalue().splitlines()]
    assert "/items/{item_id}" in routes


# -- metrics ----------------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_per_route_template_and_status() -> None:
    app = _app(allowed_hosts=["example.com"])
    metrics(app)
    with TestClient(app, raise_server_exceptions=False, base_url="http://example.com") as client:
        for i in range(3):
            client.get(f"/items/{i}")
        client.get("/items/x")  # 422
        client.get("/nowhere")
        client.get("/boom")
        scraped = client.get("/metrics", headers={"host": "10.1.2.3"})  # by IP: no host check
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = _samples(scraped.text)

    def count(route: str, status: str) -> float:
        labels = (("method", "GET"), ("route", route), ("status", status))
        return samples[("keel_requests_total", labels)]

    assert count("/items/{item_id}", "200") == 3
    assert count("/items/{item_id}", "422") == 1
    assert count("<unmatched>", "404") == 1
    assert count("/boom", "500") == 1
    histogram = (("method", "GET"), ("route", "/items/{item_id}"), ("status", "200"))
    assert samples[("keel_request_duration_seconds_count", histogram)] == 3
    assert samples[("keel_requests_in_progress", (("method", "GET"),))] == 0
    assert not any(dict(labels).get("route") == "/metrics" for _, labels in samples)
    assert "/metrics" not in app.openapi()["paths"]


def test_metrics_in_flight_gauge() -> None:
    app = _app()
    recorder = metrics(app)

    async def go() -> float:
        async with AsyncTestClient(app) as client:
            slow = asyncio.create_task(client.get("/slow"))
            await asyncio.sleep(0.1)
            text = (await client.get("/metrics")).text
            await slow
            return _samples(text)[("keel_requests_in_progress", (("method", "GET"),))]

    assert asyncio.run(go()) == 1
    assert recorder.in_progress.labels("GET")._value.get() == 0


def test_metrics_path_refuses_other_methods() -> None:
    app = _app()
    metrics(app)
    with TestClient(app) as client:
        response = client.post("/metrics")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["title"] == "Method Not Allowed"


def test_nothing_is_added_unless_asked() -> None:
    app = _app()
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404
    assert app.outer_layers == []


# -- tracing ----------------------------------------------------------------------------------


def test_spans_are_named_after_the_route_template() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = _app()
    tracing(app, tracer_provider=provider)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/items/5", headers={"traceparent": parent})
        client.get("/boom")
        client.get("/missing")
    item, boom, missing = exporter.get_finished_spans()
    assert item.name == "GET /items/{item_id}"
    assert item.kind == trace.SpanKind.SERVER
    assert item.attributes is not None
    assert item.attributes["http.route"] == "/items/{item_id}"
    assert item.attributes["http.response.status_code"] == 200
    assert item.attributes["url.path"] == "/items/5"
    assert item.context is not None and item.parent is not None
    assert format(item.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(item.parent.span_id, "016x") == "b7ad6b7169203331"
    assert boom.name == "GET /boom"
    assert boom.status.status_code == trace.StatusCode.ERROR
    assert missing.name == "GET"  # no route: never the raw path
