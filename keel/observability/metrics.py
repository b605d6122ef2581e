"""Prometheus metrics at ``/metrics``, through the official ``prometheus-client``.

``metrics(app)`` counts requests and times them per method, route template and status, and
keeps a gauge of the requests in flight::

    keel_requests_total{method="GET",route="/items/{item_id}",status="200"} 3
    keel_request_duration_seconds_count{method="GET",route="/items/{item_id}",status="200"} 3
    keel_requests_in_progress{method="GET"} 0

``/metrics`` is answered before the rest of the app (no host check, auth or rate limits),
is not counted, and is not in the OpenAPI document. Needs ``keel[metrics]``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.observability._common import route_template

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from keel.app import App

__all__ = ["DEFAULT_BUCKETS", "Metrics", "metrics"]

DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Latency histogram buckets, in seconds."""


class Metrics:
    """The request metrics of one app, and the ASGI layer that records them.

    Attributes:
        registry: The ``prometheus_client`` registry served at the path.
    """

    def __init__(
        self,
        *,
        path: str = "/metrics",
        registry: CollectorRegistry | None = None,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        prefix: str = "keel",
    ) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise ImportError(
                "keel.observability.metrics needs prometheus-client: pip install 'keel[metrics]'"
            ) from exc
        self.path = path
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter(
            f"{prefix}_requests",
            "HTTP requests answered, by method, route template and status.",
            labels,
            registry=self.registry,
        )
        self.duration = Histogram(
            f"{prefix}_request_duration_seconds",
            "Time to answer HTTP requests, by method, route template and status.",
            labels,
            buckets=tuple(buckets),
            registry=self.registry,
        )
        self.in_progress = Gauge(
            f"{prefix}_requests_in_progress",
            "HTTP requests being answered, by method.",
            ("method",),
            registry=self.registry,
        )

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` with its requests measured and the metrics path answered."""
        return _MetricsLayer(app, self)

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _MetricsLayer:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.metrics.path:
            await self._serve(scope, send)
            return
        method = scope["method"]
        gauge = self.metrics.in_progress.labels(method)
        gauge.inc()
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            gauge.dec()
            labels = (method, route_template(scope), str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.duration.labels(*labels).observe(elapsed)

    async def _serve(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            body = b'{"type":"about:blank","title":"Method Not Allowed","status":405}'
            headers: list[Any] = [
                (b"content-type", b"application/problem+json"),
                (b"allow", b"GET, HEAD"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 405, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        data, kind = self.metrics.exposition()
        headers = [
            (b"content-type", kind.encode()),
            (b"content-length", str(len(data)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else data}
        )


def metrics(
    app: App,
    *,
    path: str = "/metrics",
    registry: CollectorRegistry | None = None,
    buckets: Sequence[float] = DEFAULT_BUCKETS,
) -> Metrics:
    """Measure every request of ``app`` and serve the metrics at ``path``.

    Args:
        app: The app (call before it starts).
        path: Where Prometheus scrapes.
        registry: The registry to record into (default: a new one for this app).
        buckets: The latency histogram's buckets, in seconds.
    """
    recorder = Metrics(path=path, registry=registry, buckets=buckets)
    app.outer_layers.append(recorder.wrap)
    return recorder
