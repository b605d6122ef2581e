"""Liveness and readiness endpoints: ``/healthz`` and ``/readyz``.

``app.health()`` (or ``KEEL_HEALTH=1``) answers two paths before anything else in the app
runs (no host check, sessions, CSRF, auth or rate limits; not in the OpenAPI document):

* ``/healthz``: liveness. 200 ``{"status": "ok"}`` while the process answers.
* ``/readyz``: readiness. 200 when every registered check passes within its timeout; 503
  with a problem-details body naming the failed checks otherwise, and 503 from the moment
  the server starts draining (``SIGTERM`` under ``keel serve``).

Checks are async or sync callables that raise (or return ``False``) when the dependency is
not usable. Objects kept in ``app.state`` that have an async ``health_check()`` method (the
``keel.db`` ``Database`` does) are checked automatically, and so is Redis when
``KEEL_REDIS_URL`` is set.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from keel._concurrency import run_sync
from keel._types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from keel.app import App

__all__ = [
    "Check",
    "CheckResult",
    "Health",
    "begin_drain",
    "end_drain",
    "is_draining",
]

logger = logging.getLogger("keel.health")

Check = Callable[[], Awaitable[Any] | Any]
"""A readiness check: no arguments, async or not; it fails by raising or returning False."""
C = TypeVar("C", bound=Check)

_draining = False


def begin_drain() -> None:
    """Mark this process as draining: ``/readyz`` answers 503 from now on.

    ``keel serve`` calls it when it receives ``SIGTERM``, before it stops accepting
    connections.
    """
    global _draining
    _draining = True


def end_drain() -> None:
    """Undo :func:`begin_drain` (tests, or a server that resumes serving)."""
    global _draining
    _draining = False


def is_draining() -> bool:
    """Whether this process is shutting down (``/readyz`` answers 503)."""
    return _draining


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one readiness check.

    Attributes:
        name: The check's name.
        ok: Whether it passed in time.
        duration_ms: How long it took, in milliseconds.
        error: Why it failed (the exception's class, or ``"timed out after N s"``).
    """

    name: str
    ok: bool
    duration_ms: float
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The check's entry in the ``/readyz`` body."""
        entry: dict[str, Any] = {
            "status": "ok" if self.ok else "failed",
            "duration_ms": round(self.duration_ms, 2),
        }
        if self.error is not None:
            entry["error"] = self.error
        return entry


@dataclass(slots=True)
class _Registered:
    name: str
    fn: Check
    timeout: float


class Health:
    """The app's health endpoints and readiness checks (made by :meth:`keel.App.health`).

    Args:
        app: The app whose ``state`` and settings provide the automatic checks.
        liveness_path: The liveness path (``/healthz``).
        readiness_path: The readiness path (``/readyz``).
        timeout: Seconds each check may take (default: ``settings.health_timeout``).
        automatic: Register the checks of ``app.state`` objects and Redis.
    """

    def __init__(
        self,
        app: App,
        *,
        liveness_path: str = "/healthz",
        readiness_path: str = "/readyz",
        timeout: float | None = None,
        automatic: bool = True,
    ) -> None:
        if not liveness_path.startswith("/") or not readiness_path.startswith("/"):
            raise ValueError("health paths must start with '/'")
        self.app = app
        self.liveness_path = liveness_path
        self.readiness_path = readiness_path
        self.timeout = float(timeout if timeout is not None else app.settings.health_timeout)
        if not self.timeout > 0:
            raise ValueError(f"the health check timeout must be positive, got {self.timeout}")
        self.automatic = automatic
        self._checks: dict[str, _Registered] = {}

    # -- registration ------------------------------------------------------------------------

    def add_check(self, name: str, fn: Check, *, timeout: float | None = None) -> None:
        """Register ``fn`` as the readiness check ``name``.

        ``fn`` (async or sync, no arguments) fails the check by raising or returning
        ``False``; it gets ``timeout`` seconds (default: the health timeout).
        """
        if name in self._checks:
            raise ValueError(f"a readiness check named {name!r} is already registered")
        self._checks[name] = _Registered(name, fn, float(timeout or self.timeout))

    def check(self, name: str | None = None, *, timeout: float | None = None) -> Callable[[C], C]:
        """Decorator: register the function as a readiness check (named after it)."""

        def decorator(fn: C) -> C:
            label: str = name or str(getattr(fn, "__name__", "check"))
            self.add_check(label, fn, timeout=timeout)
            return fn

        return decorator

    def checks(self) -> dict[str, Check]:
        """Every check that ``/readyz`` runs, the automatic ones included, by name."""
        found = {name: entry.fn for name, entry in self._checks.items()}
        if self.automatic:
            for name, fn in self._automatic().items():
                found.setdefault(name, fn)
        return found

    def _automatic(self) -> dict[str, Check]:
        found: dict[str, Check] = {}
        for key, value in vars(self.app.state).items():
            probe = getattr(value, "health_check", None)
            if callable(probe) and not isinstance(value, type):
                found[str(getattr(value, "health_check_name", key))] = probe
        url = self.app.settings.redis_url
        if url and "redis" not in found:
            found["redis"] = _redis_check(url)
        return found

    # -- running -----------------------------------------------------------------------------

    async def run_checks(self) -> list[CheckResult]:
        """Run every check concurrently, each within its timeout."""
        checks = self.checks()
        return list(await asyncio.gather(*(self._run(name, fn) for name, fn in checks.items())))

    async def _run(self, name: str, fn: Check) -> CheckResult:
        entry = self._checks.get(name)
        limit = entry.timeout if entry is not None and entry.fn is fn else self.timeout
        start = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                if inspect.iscoroutinefunction(fn):
                    result = await fn()
                else:
                    result = await run_sync(fn)
                    if inspect.isawaitable(result):
                        result = await result
        except TimeoutError:
            elapsed = (time.perf_counter() - start) * 1000
            logger.warning("Readiness check %r timed out after %g s", name, limit)
            return CheckResult(name, False, elapsed, f"timed out after {limit:g} s")
        except Exception as exc:
            elapsed = (time.perf_counter() - start) * 1000
            logger.warning("Readiness check %r failed", name, exc_info=exc)
            return CheckResult(name, False, elapsed, type(exc).__name__)
        elapsed = (time.perf_counter() - start) * 1000
        if result is False:
            return CheckResult(name, False, elapsed, "returned False")
        return CheckResult(name, True, elapsed)

    # -- ASGI --------------------------------------------------------------------------------

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` behind the two health paths (done by ``App.build``)."""
        return _HealthEndpoints(app, self)

    async def respond(self, scope: Scope, send: Send) -> None:
        """Answer a request for one of the health paths."""
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            await _send(
                send,
                405,
                _problem(405, "Method Not Allowed", f"{scope['path']} answers GET and HEAD only."),
                method,
                {"allow": "GET, HEAD"},
            )
            return
        if scope["path"] == self.liveness_path:
            await _send(send, 200, {"status": "ok"}, method)
            return
        if is_draining():
            body = _problem(503, "Service Unavailable", "The server is shutting down.")
            await _send(send, 503, body, method, {"retry-after": "1"})
            return
        results = await self.run_checks()
        checks = {r.name: r.as_json() for r in results}
        failed = [r.name for r in results if not r.ok]
        if not failed:
            await _send(send, 200, {"status": "ok", "checks": checks}, method)
            return
        detail = f"{len(failed)} readiness check(s) failed: {', '.join(failed)}."
        body = _problem(503, "Service Unavailable", detail)
        body["checks"] = checks
        await _send(send, 503, body, method, {"retry-after": "1"})


class _HealthEndpoints:
    """The outermost layer: the health paths, then the app."""

    __slots__ = ("app", "health", "paths")

    def __init__(self, app: ASGIApp, health: Health) -> None:
        self.app = app
        self.health = health
        self.paths = frozenset((health.liveness_path, health.readiness_path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.health.respond(scope, send)
            return
        await self.app(scope, receive, send)


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


async def _send(
    send: Send,
    status: int,
    body: dict[str, Any],
    method: str,
    extra: dict[str, str] | None = None,
) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    kind = b"application/problem+json" if status >= 400 else b"application/json"
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else data})


def _redis_check(url: str) -> Check:
    async def redis() -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(url, socket_connect_timeout=2)
        try:
            await client.ping()
        finally:
            await client.aclose()

    return redis
