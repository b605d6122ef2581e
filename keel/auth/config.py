"""``Auth``: one object holding keel.auth's configuration for an app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from keel.auth.mail import ConsoleMail, MailBackend
from keel.auth.models import AbstractUser
from keel.auth.passwords import PasswordValidator

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from keel import App, Request

__all__ = ["Auth", "Authenticated", "UserLoader", "auth_of", "current_auth"]

_current: Auth | None = None


@dataclass
class Authenticated:
    """Who made a request and how.

    Attributes:
        user: The user.
        method: ``"token"`` (opaque API token), ``"jwt"``, or what another loader says
            (``"session"``).
        scopes: The scopes granted; ``None`` means unrestricted (a token created without
            scopes, or a browser session).
        token_id: The opaque token's id, when one was used.
    """

    user: AbstractUser
    method: str
    scopes: frozenset[str] | None = None
    token_id: int | None = None

    def has_scopes(self, scopes: Sequence[str]) -> bool:
        """Whether every scope in ``scopes`` is granted."""
        return self.scopes is None or set(scopes) <= self.scopes


UserLoader = Callable[
    ["Request", "AsyncSession", "Auth", "str | None"], Awaitable["Authenticated | None"]
]
"""Finds the request's user: ``(request, session, auth, token) -> Authenticated | None``.

``token`` is the credential from the ``Authorization`` header (``None`` when absent). A
loader returns ``None`` when it has nothing to say (the next one is asked) and raises
``keel.auth.tokens.InvalidToken`` for a credential that is present but bad.
"""


@dataclass
class Auth:
    """keel.auth's configuration; ``auth.init_app(app)`` attaches it to an app.

    Args:
        user_model: The user model: keel's ``User`` by default, or your model declared
            from ``AbstractUser`` on the ``auth_users`` table.
        tokens: What the token endpoint issues: ``"opaque"`` API tokens (default) or
            ``"jwt"`` access + refresh tokens (needs ``keel[jwt]``).
        token_url: The path of the token endpoint (as the app serves it); the OAuth2
            password flow in OpenAPI points there.
        scheme_words: The words accepted before the token in ``Authorization``;
            ``Bearer`` is always accepted (Swagger UI and OAuth2 clients send it), add
            ``"Token"`` for clients that send ``Authorization: Token <x>``.
        scopes: The scopes the API knows, ``{name: description}`` (shown in Swagger UI).
        access_token_ttl: Lifetime of tokens issued at login (opaque and JWT access).
        refresh_token_ttl: Lifetime of JWT refresh tokens.
        jwt_algorithms: The accepted JWT algorithms; the first one signs. Only HMAC
            algorithms (``HS256``, ``HS384``, ``HS512``) are allowed: they use the secret key.
        jwt_audience, jwt_issuer: The exact ``aud`` and ``iss`` claims written and required.
        jwt_leeway: Clock skew tolerated on ``exp``, in seconds.
        secret_key: The signing key; the app's ``secret_key`` by default.
        password_validators: Rules for new passwords (``default_validators()``).
        mail: Where password-reset emails go; logged by default (``ConsoleMail``).
        reset_token_ttl: How long a password-reset link works.
        login_limit: Failed logins allowed per account (a ``limits`` string).
        login_ip_limit: Failed logins allowed per client IP.
        limit_storage: The ``limits`` storage of the counters (``"memory://"`` or Redis).
        loaders: How users are found, in order: the token loader, then (with
            ``sessions``) the session loader, by default.
        sessions: Accept browser sessions opened with :func:`keel.auth.login`, and make
            ``request.user`` the session's user in every route.
    """

    user_model: type[AbstractUser] | None = None
    tokens: Literal["opaque", "jwt"] = "opaque"
    token_url: str = "/auth/token"
    scheme_words: Sequence[str] = ("Bearer",)
    scopes: Mapping[str, str] = field(default_factory=dict)
    access_token_ttl: dt.timedelta = dt.timedelta(hours=12)
    refresh_token_ttl: dt.timedelta = dt.timedelta(days=14)
    jwt_algorithms: Sequence[str] = ("HS256",)
    jwt_audience: str = "keel"
    jwt_issuer: str = "keel"
    jwt_leeway: float = 0
    secret_key: str | None = field(default=None, repr=False)
    password_validators: Sequence[PasswordValidator] | None = None
    mail: MailBackend = field(default_factory=ConsoleMail)
    reset_token_ttl: dt.timedelta = dt.timedelta(hours=1)
    login_limit: str = "20 per 15 minutes"
    login_ip_limit: str = "100 per 15 minutes"
    limit_storage: str = "memory://"
    loaders: list[UserLoader] = field(default_factory=list)
    sessions: bool = True
    app: App | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        global _current
        if self.user_model is None:
            from keel.auth.user import User

            self.user_model = User
        if self.tokens not in ("opaque", "jwt"):
            raise ValueError(f"Auth(tokens=...) is 'opaque' or 'jwt', got {self.tokens!r}")
        bad = [a for a in self.jwt_algorithms if a not in ("HS256", "HS384", "HS512")]
        if bad or not self.jwt_algorithms:
            given = list(self.jwt_algorithms)
            raise ValueError(f"Auth(jwt_algorithms=...) takes HS256, HS384 or HS512, got {given}")
        words = ["Bearer", *(w for w in self.scheme_words if w.lower() != "bearer")]
        self.scheme_words = tuple(words)
        if not self.loaders:
            from keel.auth.dependencies import token_loader
            from keel.auth.login import session_loader

            self.loaders = [token_loader, *([session_loader] if self.sessions else [])]
        from keel.auth.throttle import LoginThrottle

        self.throttle = LoginThrottle(self.login_limit, self.login_ip_limit, self.limit_storage)
        from keel.auth.dependencies import configure_scheme

        configure_scheme(self)
        _current = self

    @property
    def users(self) -> type[AbstractUser]:
        """The user model (never ``None`` after construction)."""
        assert self.user_model is not None
        return self.user_model

    def signing_key(self) -> str:
        """The key tokens are signed with: ``secret_key``, else the app's."""
        if self.secret_key:
            return self.secret_key
        if self.app is not None:
            return str(self.app.secret_key)
        raise RuntimeError("Auth has no secret key: call auth.init_app(app) or pass secret_key=")

    def init_app(self, app: App) -> None:
        """Attach to ``app``: the dependencies find this configuration on ``app.state.auth``."""
        self.app = app
        setattr(app.state, "auth", self)  # noqa: B010 - State is a free namespace
        app.on_shutdown(self.throttle.aclose)
        if self.sessions:
            from keel.auth.login import attach_user
            from keel.di import Depends

            app.dependencies.append(Depends(attach_user))

    def add_loader(self, loader: UserLoader, *, first: bool = False) -> None:
        """Add a way of finding the user (e.g. from the session), last or first."""
        if first:
            self.loaders.insert(0, loader)
        else:
            self.loaders.append(loader)

    def router(self, **options: Any) -> Any:
        """The ready-made routes (see :func:`keel.auth.routes.auth_router`)."""
        from keel.auth.routes import auth_router

        return auth_router(self, **options)


def current_auth() -> Auth | None:
    """The most recently created ``Auth`` (scripts and the CLI use it), or ``None``."""
    return _current


def auth_of(app: object) -> Auth:
    """The ``Auth`` attached to ``app`` by ``Auth.init_app``."""
    auth = getattr(getattr(app, "state", None), "auth", None)
    if not isinstance(auth, Auth):
        raise RuntimeError("no keel.auth Auth on this app: create one and call auth.init_app(app)")
    return auth
