"""OpenTelemetry tracing: one server span per request, named after the route template.

``tracing(app)`` starts a ``SERVER`` span for each HTTP request, continuing the caller's
trace (``traceparent``), named ``"{method} {route template}"`` (``GET /items/{item_id}``,
OpenTelemetry's HTTP convention) once the route is known, with the ``http.request.method``,
``http.route``, ``url.path`` and ``http.response.status_code`` attributes; a 5xx marks the
span as an error. Spans go to the tracer provider you configure (the OpenTelemetry SDK and
an exporter); needs ``keel[otel]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keel._types import ASGIApp, Message, Receive, Scope, Send
from keel.observability._common import UNMATCHED, route_template

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

    from keel.app import App

__all__ = ["Tracing", "tracing"]


class _HeaderGetter:
    """Reads propagation headers from an ASGI scope."""

    def get(self, carrier: Scope, key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        found = [v.decode("latin-1") for k, v in carrier.get("headers", ()) if k == wanted]
        return found or None

    def keys(self, carrier: Scope) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier.get("headers", ())]


class Tracing:
    """The ASGI layer that makes a span per request with ``tracer``."""

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        from opentelemetry import propagate, trace

        self.app = app
        self.tracer = tracer
        self.extract = propagate.extract
        self.kind = trace.SpanKind.SERVER
        self.error = trace.Status(trace.StatusCode.ERROR)
        self.getter: Any = _HeaderGetter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        context = self.extract(scope, getter=self.getter)
        with self.tracer.start_as_current_span(
            method,
            context=context,
            kind=self.kind,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            finally:
                template = route_template(scope)
                if template != UNMATCHED:
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.route", template)
                if status >= 500:
                    span.set_status(self.error)


def tracing(app: App, *, tracer_provider: TracerProvider | None = None) -> None:
    """Trace every request of ``app`` (call before it starts).

    Args:
        app: The app.
        tracer_provider: Where spans go (default: OpenTelemetry's global provider).
    """
    try:
        from opentelemetry import trace
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise ImportError(
            "keel.observability.tracing needs opentelemetry-api: pip install 'keel[otel]'"
        ) from exc
    tracer = trace.get_tracer("keel", tracer_provider=tracer_provider)
    app.outer_layers.append(lambda inner: Tracing(inner, tracer))
