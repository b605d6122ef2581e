"""Typed settings read from ``KEEL_*`` environment variables and ``.env``.

Every default keel uses lives here, once. ``App()`` reads them from the environment;
``App(settings=Settings(...))`` passes them explicitly; keyword arguments of ``App`` (such as
``debug=`` or ``max_body_size=``) override single values. Handlers get the app's settings
with ``Depends(get_settings)``.

List settings read from the environment take a comma-separated list or a JSON list::

    KEEL_ALLOWED_HOSTS=example.com,.example.org
    KEEL_SECRET_KEY=...  # python -c "import secrets; print(secrets.token_urlsafe(50))"
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from keel.requests import Request

__all__ = [
    "DEVELOPMENT_HOSTS",
    "MIN_SECRET_KEY_LENGTH",
    "Settings",
    "get_settings",
]

DEVELOPMENT_HOSTS = ("localhost", "127.0.0.1", "[::1]", "testserver")
"""The hosts a development app answers to when ``allowed_hosts`` is not set."""

MIN_SECRET_KEY_LENGTH = 32
"""A production secret key must have at least this many characters."""

_StrList = Annotated[list[str], NoDecode]
_SecretList = Annotated[list[SecretStr], NoDecode]


class Settings(BaseSettings):
    """keel's settings; subclass to add your own (they read ``KEEL_<NAME>`` by default).

    **Modes.** With ``debug`` unset, an app runs with development defaults: it answers to
    ``localhost``, ``127.0.0.1``, ``[::1]`` and ``testserver`` and signs with a random
    per-process secret key (sessions do not survive a restart). Production is
    ``debug=False`` set explicitly (``KEEL_DEBUG=false``, or ``keel serve``, which sets it):
    the app then refuses to start without a strong ``secret_key`` and a non-empty
    ``allowed_hosts``. ``debug=True`` is development with tracebacks in error answers.
    The protections (security headers, host check, CSRF, limits) are on in every mode.
    """

    model_config = SettingsConfigDict(
        env_prefix="KEEL_", env_file=".env", extra="ignore", validate_default=True
    )

    # -- mode and secrets --------------------------------------------------------------------
    debug: bool | None = None
    """``True``: development with tracebacks; ``False``: production; unset: development."""
    secret_key: SecretStr | None = None
    """Signs sessions, CSRF tokens and other tokens; at least 32 characters in production."""
    secret_key_fallbacks: _SecretList = Field(default_factory=list)
    """Former keys still accepted when checking signatures (rotate by moving the old key here)."""

    # -- hosts and proxies -------------------------------------------------------------------
    allowed_hosts: _StrList | None = None
    """Host names this site answers to (``example.com``, ``.example.com`` for subdomains,
    ``*`` for any); unset: the development hosts."""
    trusted_proxies: _StrList = Field(default_factory=list)
    """Reverse proxies (IPs, networks) whose ``X-Forwarded-*`` headers are believed."""

    # -- services ----------------------------------------------------------------------------
    database_url: str | None = None
    """The database ``keel.db`` connects to (unset: a local SQLite file)."""
    redis_url: str | None = None
    """Redis for the server-side session store, shared rate limits and the cache."""

    # -- cache (keel.cache) ------------------------------------------------------------------
    cache_url: str | None = None
    """Where ``keel.cache`` keeps entries: ``mem://`` (this process) or
    ``redis://host:6379/0``; unset: ``redis_url`` when set, else memory."""
    cache_prefix: str = "keel:cache:"
    """Prefix of every cache key (keeps apps sharing one Redis apart)."""
    cache_timeout: float = Field(default=0.5, gt=0)
    """Seconds to connect to and wait for the cache's Redis before a request counts it as a
    miss."""
    cache_max_entries: int = Field(default=10_000, ge=1)
    """Most entries the memory cache keeps (least recently used go first)."""

    # -- limits ------------------------------------------------------------------------------
    max_body_size: int | None = Field(default=1024 * 1024, ge=0)
    """Request body limit in bytes (413 beyond); ``None`` for none."""
    max_form_fields: int = Field(default=1000, ge=1)
    """Most fields in a form body (413 beyond)."""
    max_form_field_size: int = Field(default=1024 * 1024, ge=1)
    """Most bytes in one non-file form field (413 beyond)."""
    max_files: int = Field(default=100, ge=0)
    """Most files in one multipart body (413 beyond)."""
    max_query_params: int = Field(default=1000, ge=1)
    """Most query parameters in a URL (400 beyond)."""
    body_timeout: float | None = Field(default=30.0, gt=0)
    """Seconds a client gets to send the whole body (408 after); ``None`` waits forever."""
    header_timeout: float = Field(default=10.0, gt=0)
    """Seconds a client gets to send the request head (``keel run``/``keel serve``)."""
    strict_json: bool = True
    """JSON bodies: numbers and booleans must be JSON numbers and booleans (``"9.99"`` is
    refused for a ``float``); ``False`` accepts strings as pydantic's lax mode does."""

    # -- response headers --------------------------------------------------------------------
    security_headers: bool = True
    """Add nosniff, frame options, referrer policy, COOP, CSP (HTML) and HSTS (HTTPS)."""
    frame_options: str | None = "DENY"
    """``X-Frame-Options`` (``DENY`` or ``SAMEORIGIN``; unset to leave it out)."""
    referrer_policy: str | None = "strict-origin-when-cross-origin"
    """``Referrer-Policy``."""
    cross_origin_opener_policy: str | None = "same-origin"
    """``Cross-Origin-Opener-Policy``."""
    content_security_policy: str | None = None
    """The CSP of HTML responses (unset: keel's strict default with a per-request nonce)."""
    hsts_seconds: int = Field(default=31_536_000, ge=0)
    """``Strict-Transport-Security`` max-age on HTTPS responses (0 leaves HSTS out)."""
    hsts_include_subdomains: bool = True
    """Add ``includeSubDomains`` to HSTS."""
    hsts_preload: bool = False
    """Add ``preload`` to HSTS."""

    # -- sessions ----------------------------------------------------------------------------
    session_store: Literal["cookie", "memory", "redis"] = "cookie"
    """Where session data lives: in a signed cookie, in process memory, or in Redis."""
    session_cookie_name: str = "session"
    """The session cookie's name."""
    session_max_age: int = Field(default=14 * 24 * 3600, gt=0)
    """Seconds a session lives (two weeks, as Django)."""
    session_cookie_secure: bool | None = None
    """``Secure`` flag: unset sets it on HTTPS requests."""
    session_cookie_samesite: Literal["lax", "strict", "none"] = "lax"
    """The session cookie's ``SameSite``."""
    session_cookie_domain: str | None = None
    """The session cookie's ``Domain`` (unset: this host only)."""

    # -- CSRF --------------------------------------------------------------------------------
    csrf: bool = True
    """Check CSRF tokens on unsafe requests that carry the session cookie."""
    csrf_trusted_origins: _StrList = Field(default_factory=list)
    """Other origins allowed to post (``https://admin.example.com``, ``https://*.example.com``)."""
    csrf_header_name: str = "X-CSRF-Token"
    """The header a script sends the token in."""
    csrf_field_name: str = "csrf_token"
    """The form field a page sends the token in."""

    # -- CORS --------------------------------------------------------------------------------
    cors_allow_origins: _StrList = Field(default_factory=list)
    """Origins allowed to call the API from a browser (empty: no CORS headers)."""
    cors_allow_credentials: bool = False
    """Allow cookies on cross-origin requests (never with ``*``)."""

    # -- websockets and server-sent events ---------------------------------------------------
    ws_max_message_size: int = Field(default=1024 * 1024, ge=1)
    """Most bytes in one inbound websocket message (closed with 1009 beyond)."""
    ws_receive_rate: float | None = Field(default=50.0, gt=0)
    """Inbound websocket messages per second a connection may send on average (closed with
    1008 beyond); ``None`` for no limit."""
    ws_receive_burst: int = Field(default=100, ge=1)
    """Inbound messages a connection may send at once above ``ws_receive_rate``."""
    ws_ping_interval: float | None = Field(default=20.0, gt=0)
    """Seconds between the server's pings (``keel run``/``keel serve``); ``None``: no pings."""
    ws_ping_timeout: float | None = Field(default=20.0, gt=0)
    """Seconds a client has to answer a ping (closed with 1011 after)."""
    ws_idle_timeout: float | None = Field(default=300.0, gt=0)
    """Seconds without a message in either direction after which a handler waiting in
    ``receive`` closes the connection with 1001; ``None`` waits forever."""
    ws_send_queue_size: int = Field(default=1000, ge=1)
    """Messages queued for one connection by broadcasts before the queue policy applies."""
    ws_send_queue_policy: Literal["drop_oldest", "drop_newest", "close"] = "drop_oldest"
    """What a full send queue does: drop the oldest queued message, drop the new one, or
    close the connection with 1013 (try again later). Drops are counted and logged."""
    ws_invalid_message: Literal["error", "close"] = "error"
    """A typed websocket's invalid inbound frame: answered with an error frame (``error``),
    or the connection closed with 1007 (invalid data) or 1003 (binary frame)."""
    sse_ping_interval: float | None = Field(default=15.0, gt=0)
    """Seconds between keep-alive comments on server-sent event streams."""
    channels_backend: Literal["memory", "redis"] = "memory"
    """Where ``keel.channels`` publishes: in this process, or through Redis pub/sub
    (``redis_url``) to every process and machine."""

    # -- operations --------------------------------------------------------------------------
    health: bool = False
    """Serve ``/healthz`` and ``/readyz`` (as ``app.health()`` does)."""
    health_timeout: float = Field(default=2.0, gt=0)
    """Seconds each readiness check may take before it counts as failed."""
    drain_timeout: float = Field(default=30.0, gt=0)
    """Seconds in-flight requests, open websockets and event streams get to finish after
    ``SIGTERM`` (``keel serve``) or at shutdown; keep it below your orchestrator's grace
    period."""
    drain_delay: float = Field(default=0.0, ge=0)
    """``keel serve``: seconds between ``SIGTERM`` (``/readyz`` turns 503) and closing the
    listening socket, so load balancers see the 503 before connections are refused."""
    detect_blocking: bool | None = None
    """Log handlers that block the event loop (``keel run`` turns it on; never in
    production)."""
    blocking_threshold: float = Field(default=0.1, gt=0)
    """Seconds the event loop may be blocked before the detector reports it."""

    # -- background tasks (keel.tasks) -------------------------------------------------------
    tasks_broker: str | None = None
    """Where jobs wait: unset (or ``database``) for the embedded queue table in the app's
    ``keel.db`` database; ``redis://``, ``amqp://`` or ``nats://`` for a taskiq broker."""
    tasks_queue: str = "default"
    """The queue name (the Redis stream, RabbitMQ queue or NATS subject prefix)."""
    tasks_concurrency: int = Field(default=10, ge=1)
    """Jobs a worker process runs at once."""
    tasks_prefetch: int = Field(default=10, ge=0)
    """Jobs a worker holds beyond those running (bounded, so a crash strands few)."""
    tasks_lease: float = Field(default=10.0, gt=0)
    """Seconds a claimed job stays invisible to other workers without a heartbeat; a crashed
    worker's jobs run again this long after its last heartbeat."""
    tasks_poll_interval: float = Field(default=0.5, gt=0)
    """Seconds between checks of a quiet queue table (the embedded broker)."""
    tasks_retries: int = Field(default=3, ge=0)
    """Retries after a failed try (``@app.task(retries=...)`` per task); then dead-letter."""
    tasks_backoff: float = Field(default=1.0, ge=0)
    """First retry delay in seconds; each further retry waits twice as long."""
    tasks_backoff_max: float = Field(default=300.0, ge=0)
    """The longest retry delay."""
    tasks_worker_in_process: bool | None = None
    """Run a worker inside the app process; unset: on under ``keel run`` (development)."""
    # -- docs --------------------------------------------------------------------------------
    docs_public: bool = True
    """Whether ``/docs``, ``/redoc`` and ``/openapi.json`` are served (``False``: not served
    unless ``debug`` is on)."""

    @field_validator(
        "allowed_hosts",
        "trusted_proxies",
        "secret_key_fallbacks",
        "csrf_trusted_origins",
        "cors_allow_origins",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """A list from the environment: ``a,b`` or a JSON list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def production(self) -> bool:
        """Whether these are production settings (``debug`` explicitly ``False``)."""
        return self.debug is False


def get_settings(request: Request) -> Settings:
    """Dependency: the settings of the app serving ``request``.

    ``settings: Annotated[Settings, Depends(get_settings)]``.
    """
    settings = getattr(request.scope.get("app"), "settings", None)
    if not isinstance(settings, Settings):
        return Settings()
    return settings
