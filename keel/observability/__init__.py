"""Observability for production: JSON access logs, Prometheus metrics, OpenTelemetry spans.

Each is opt-in and costs nothing until turned on; each wraps the app outside everything
else, so refused requests are seen too::

    from keel.observability import json_logs, metrics, tracing

    json_logs(app)   # one JSON line per request on the keel.access logger
    metrics(app)     # /metrics for Prometheus (keel[metrics])
    tracing(app)     # a span per request named after its route (keel[otel])
"""

from __future__ import annotations

from keel.observability._common import UNMATCHED, route_template
from keel.observability.logs import ACCESS_LOGGER, AccessLog, JSONFormatter, json_logs
from keel.observability.metrics import Metrics, metrics
from keel.observability.tracing import Tracing, tracing

__all__ = [
    "ACCESS_LOGGER",
    "UNMATCHED",
    "AccessLog",
    "JSONFormatter",
    "Metrics",
    "Tracing",
    "json_logs",
    "metrics",
    "route_template",
    "tracing",
]
