"""Deployment checks: what ``keel check --deploy`` reports about an app's settings.

Like Django's ``check --deploy``: each finding names the setting, why it is unsafe and what
to set instead. Errors make the command exit non-zero; notes are printed only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from keel._defaults import allowed_hosts, weak_secret

if TYPE_CHECKING:
    from keel.app import App

__all__ = ["Finding", "deploy_findings", "startup_findings"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of a deployment check.

    Attributes:
        level: ``"error"`` (unsafe: the check fails), ``"note"`` (worth a look) or
            ``"ok"`` (a check that passed, from :func:`startup_findings`).
        setting: The setting concerned, as its environment variable.
        message: What is wrong and what to do.
    """

    level: Literal["error", "note", "ok"]
    setting: str
    message: str

    def __str__(self) -> str:
        return f"{self.level.upper()}: {self.setting}: {self.message}"


def deploy_findings(app: App) -> list[Finding]:
    """Check ``app``'s settings as a production deployment; errors first."""
    s = app.settings
    found: list[Finding] = []

    def error(setting: str, message: str) -> None:
        found.append(Finding("error", setting, message))

    def note(setting: str, message: str) -> None:
        found.append(Finding("note", setting, message))

    if s.debug is True:
        error("KEEL_DEBUG", "debug is on: errors show tracebacks to anyone; set it to false.")
    elif s.debug is None:
        error(
            "KEEL_DEBUG",
            "debug is not set, so the app runs with development defaults; set it to false "
            "(keel serve does) to get production's start-up checks.",
        )
    if s.secret_key is None:
        error("KEEL_SECRET_KEY", "no secret key: sessions and tokens use a throwaway key.")
    else:
        why = weak_secret(s.secret_key.get_secret_value())
        if why is not None:
            error("KEEL_SECRET_KEY", f"the secret key is too weak: {why}.")
    for i, old in enumerate(s.secret_key_fallbacks):
        why = weak_secret(old.get_secret_value())
        if why is not None:
            error("KEEL_SECRET_KEY_FALLBACKS", f"fallback key #{i + 1} is too weak: {why}.")
    hosts = allowed_hosts(s) if s.allowed_hosts is not None else []
    if not hosts:
        error("KEEL_ALLOWED_HOSTS", "no allowed hosts: name the hosts this site is served as.")
    elif "*" in hosts:
        error(
            "KEEL_ALLOWED_HOSTS",
            "'*' accepts any Host header, so links the app builds can point anywhere; list "
            "the site's names ('.example.com' covers its subdomains).",
        )
    if not s.security_headers:
        error("KEEL_SECURITY_HEADERS", "security headers are off (nosniff, frames, CSP, HSTS).")
    elif s.hsts_seconds == 0:
        error(
            "KEEL_HSTS_SECONDS",
            "HSTS is off: browsers may reach the site over plain HTTP; set it to 31536000.",
        )
    elif s.hsts_seconds < 31_536_000:
        note("KEEL_HSTS_SECONDS", f"HSTS lasts {s.hsts_seconds} s; one year is usual.")
    if s.session_cookie_secure is False:
        error(
            "KEEL_SESSION_COOKIE_SECURE",
            "the session cookie is sent over plain HTTP too; leave it unset or set true.",
        )
    elif s.session_cookie_secure is None and not s.trusted_proxies:
        note(
            "KEEL_SESSION_COOKIE_SECURE",
            "the session cookie is Secure only when keel sees HTTPS; behind a proxy that "
            "ends TLS, set KEEL_TRUSTED_PROXIES (or KEEL_SESSION_COOKIE_SECURE=true).",
        )
    if s.session_cookie_samesite == "none":
        note("KEEL_SESSION_COOKIE_SAMESITE", "SameSite=None sends the session cookie cross-site.")
    if not s.csrf:
        error("KEEL_CSRF", "CSRF protection is off: other sites can post as your users.")
    if "*" in s.cors_allow_origins:
        note("KEEL_CORS_ALLOW_ORIGINS", "'*' lets every site read the API's answers.")
    if "*" in s.trusted_proxies:
        note(
            "KEEL_TRUSTED_PROXIES",
            "'*' believes X-Forwarded-* from any peer; list your proxies' addresses.",
        )
    if s.max_body_size is None:
        error("KEEL_MAX_BODY_SIZE", "no request body limit: one client can fill the memory.")
    if s.body_timeout is None:
        error("KEEL_BODY_TIMEOUT", "no body timeout: slow clients can hold connections.")
    docs = [u for u in (app.openapi_url, app.docs_url, app.redoc_url) if u]
    if docs and s.docs_public:
        note(
            "KEEL_DOCS_PUBLIC",
            f"the API docs are public at {', '.join(docs)}; set it to false to hide them.",
        )
    found.sort(key=lambda f: f.level != "error")
    return found


async def startup_findings(app: App) -> list[Finding]:
    """Run the app's start-up checks now (``keel check`` without ``--deploy``).

    * the settings and the build: routes, handler signatures and dependency graphs compile,
      the middleware stack is built, production settings are safe when in production;
    * each object in ``app.state`` with an async ``startup_check()`` method (the ``keel.db``
      ``Database``: migrations applied and models matching the database);
    * the readiness checks of ``app.health()``, when it is on.
    """
    found: list[Finding] = []
    try:
        app.build()
    except Exception as exc:  # the message says what to change
        found.append(Finding("error", "build", f"{type(exc).__name__}: {exc}"))
        return found
    plans = sum(1 for r in app.routes if r.compiled is not None)
    found.append(
        Finding(
            "ok",
            "routes",
            f"{plans} route(s) and {len(app.websocket_routes)} websocket route(s) compiled "
            "with their parameters and dependencies",
        )
    )
    for name, value in vars(app.state).items():
        check = getattr(value, "startup_check", None)
        if not callable(check) or isinstance(value, type):
            continue
        label = str(getattr(value, "health_check_name", name))
        try:
            message = await check()
        except Exception as exc:
            found.append(Finding("error", label, str(exc) or type(exc).__name__))
        else:
            found.append(Finding("ok", label, str(message or "passed")))
    health = getattr(app, "_health", None)
    if health is not None:
        for result in await health.run_checks():
            if result.ok:
                found.append(Finding("ok", f"readyz:{result.name}", "ready"))
            else:
                found.append(Finding("error", f"readyz:{result.name}", str(result.error)))
    found.sort(key=lambda f: f.level != "error")
    return found
