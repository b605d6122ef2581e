"""The protections every app gets from its settings, and the production start-up checks.

``App.build`` wraps the user's middleware in the built-in layers chosen here, outermost
first: security headers (so every answer carries them, refusals included), the allowed-hosts
check, CORS when origins are configured, and sessions innermost (so the app's own middleware
sees ``request.session``). The CSRF check runs per route (``App.csrf_protection``).
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import TYPE_CHECKING

from keel._types import ASGIApp
from keel.settings import DEVELOPMENT_HOSTS, MIN_SECRET_KEY_LENGTH, Settings

if TYPE_CHECKING:
    from keel.app import App
    from keel.csrf import CSRFProtection

__all__ = [
    "allowed_hosts",
    "csrf_protection",
    "default_stack",
    "secret_key",
    "startup_problems",
    "weak_secret",
]

logger = logging.getLogger("keel")

_dev_secret: str | None = None
_dev_secret_lock = threading.Lock()

# Keys that look like placeholders, whatever their length.
_PLACEHOLDERS = ("change", "secret", "insecure", "example", "default", "your", "xxx", "todo")


def secret_key(settings: Settings) -> str:
    """The key to sign with: the configured one, else (development) a random per-process key.

    The random key is made once per process, with a warning: what it signed (sessions, CSRF
    tokens) does not survive a restart and is not shared between worker processes.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    global _dev_secret
    with _dev_secret_lock:
        if _dev_secret is None:
            _dev_secret = secrets.token_urlsafe(48)
            logger.warning(
                "No secret key is set (KEEL_SECRET_KEY): using a random key for this process. "
                "Sessions and CSRF tokens will not survive a restart; set one before deploying."
            )
        return _dev_secret


def allowed_hosts(settings: Settings) -> list[str]:
    """The hosts the app answers to: the setting, else (development) the local names."""
    if settings.allowed_hosts is not None:
        return list(settings.allowed_hosts)
    if settings.production:
        return []
    return list(DEVELOPMENT_HOSTS)


def weak_secret(key: str) -> str | None:
    """Why ``key`` is too weak to sign with in production, or ``None`` when it is fine."""
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"it has {len(key)} characters; use at least {MIN_SECRET_KEY_LENGTH}"
    if len(set(key)) < 8:
        return "it repeats too few distinct characters"
    lowered = key.lower()
    for word in _PLACEHOLDERS:
        if word in lowered and len(set(lowered.replace(word, ""))) < 16:
            return f"it looks like a placeholder (contains {word!r})"
    return None


_HOW_SECRET = (
    'set KEEL_SECRET_KEY to a random value, e.g. the output of python -c "import secrets; '
    'print(secrets.token_urlsafe(50))"'
)


def startup_problems(settings: Settings) -> list[str]:
    """What keeps a production app from starting (empty outside production or when safe)."""
    if not settings.production:
        return []
    problems: list[str] = []
    if settings.secret_key is None:
        problems.append(f"No secret key: {_HOW_SECRET}.")
    else:
        why = weak_secret(settings.secret_key.get_secret_value())
        if why is not None:
            problems.append(f"The secret key is too weak ({why}): {_HOW_SECRET}.")
    if not settings.allowed_hosts:
        problems.append(
            "allowed_hosts is empty: set KEEL_ALLOWED_HOSTS to the names this site is served "
            "under, e.g. KEEL_ALLOWED_HOSTS=example.com,www.example.com."
        )
    return problems


def _given(app: App, cls: type) -> bool:
    """Whether the app's own middleware list already has ``cls`` (then it replaces ours);
    ``Cls.from_settings`` style factories count as their class."""
    for m in app.user_middleware:
        factory = m.cls
        owner = factory if isinstance(factory, type) else getattr(factory, "__self__", None)
        if isinstance(owner, type) and issubclass(owner, cls):
            return True
    return False


def csrf_protection(app: App) -> CSRFProtection | None:
    """The CSRF check the settings ask for (``None`` when ``csrf`` is off)."""
    if not app.settings.csrf:
        return None
    from keel.csrf import CSRFProtection

    return CSRFProtection.from_settings(app.settings)


def default_stack(app: App, inner: ASGIApp) -> ASGIApp:
    """``inner`` (the user's middleware and the router) inside the built-in protections.

    A protection the app installs itself (``App(middleware=[Middleware(CORSMiddleware,
    ...)])``) replaces the built-in one, so its options are the ones that apply.
    """
    from keel.middleware.cors import CORSMiddleware
    from keel.middleware.hosts import TrustedHostMiddleware
    from keel.middleware.security_headers import DEFAULT_CSP, SecurityHeadersMiddleware
    from keel.middleware.sessions import SessionMiddleware

    settings = app.settings
    stack = inner
    if settings.cors_allow_origins and not _given(app, CORSMiddleware):
        stack = CORSMiddleware(
            stack,
            allow_origins=settings.cors_allow_origins,
            allow_methods=("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"),
            allow_headers=("*",),
            allow_credentials=settings.cors_allow_credentials,
        )
    guarded = stack
    sessions: SessionMiddleware | None = None
    if not _given(app, SessionMiddleware):  # the app's own middleware sees sessions
        sessions = SessionMiddleware.from_settings(stack, settings, secret_key(settings))
        stack = sessions
    hosts: TrustedHostMiddleware | None = None
    if not _given(app, TrustedHostMiddleware):
        hosts = TrustedHostMiddleware(
            stack, allowed_hosts(settings), trusted_proxies=settings.trusted_proxies
        )
        stack = hosts
    headers: SecurityHeadersMiddleware | None = None
    if settings.security_headers and not _given(app, SecurityHeadersMiddleware):
        headers = SecurityHeadersMiddleware(
            stack,
            frame_options=settings.frame_options,
            referrer_policy=settings.referrer_policy,
            cross_origin_opener_policy=settings.cross_origin_opener_policy,
            content_security_policy=settings.content_security_policy or DEFAULT_CSP,
            hsts_max_age=settings.hsts_seconds or None,
            hsts_include_subdomains=settings.hsts_include_subdomains,
            hsts_preload=settings.hsts_preload,
            trusted_proxies=settings.trusted_proxies,
        )
        stack = headers
    if stack is guarded:
        return stack
    from keel.middleware._guard import Guard

    # HTTP requests take the three steps in one layer; other events the stack above.
    return Guard(guarded, stack, headers=headers, hosts=hosts, sessions=sessions)
