"""The ready-made routes of keel.auth: tokens, me, password change and reset, registration.

``app.include_router(auth.router())`` serves them under ``/auth``. Session login and
logout for browsers are added by the sessions integration.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field

from keel.auth.dependencies import CurrentAuth, CurrentUser
from keel.auth.login import login, logout
from keel.auth.mail import Mail
from keel.auth.passwords import PasswordError, validate_password, verify_password
from keel.auth.reset import check_reset_token, make_reset_token
from keel.auth.tokens import (
    InvalidToken,
    create_token,
    issue_jwt_pair,
    revoke_refresh_token,
    revoke_token_id,
    rotate_refresh_token,
)
from keel.auth.users import InvalidIdentifier, authenticate, create_user, find_user, set_password
from keel.background import BackgroundTasks
from keel.db.session import Session
from keel.di import Depends
from keel.errors import HTTPError
from keel.ratelimit import by_ip
from keel.requests import Request
from keel.routing import Router
from keel.security import OAuth2PasswordRequestForm

if TYPE_CHECKING:
    from keel.auth.config import Auth
    from keel.auth.models import AbstractUser

__all__ = [
    "ChangePassword",
    "LoginRequest",
    "PasswordResetConfirm",
    "PasswordResetRequest",
    "RefreshRequest",
    "Registration",
    "RevokeRequest",
    "TokenResponse",
    "UserOut",
    "auth_router",
]

_BAD_LOGIN = "Incorrect email/username or password."


class TokenResponse(BaseModel):
    """What the token endpoint answers (RFC 6749 §5.1)."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str = ""
    refresh_token: str | None = None


class UserOut(BaseModel):
    """The public view of a user."""

    id: int
    email: str | None
    username: str | None
    is_active: bool
    is_staff: bool
    is_superuser: bool
    last_login: dt.datetime | None
    created_at: dt.datetime


class LoginRequest(BaseModel):
    """A browser session login: email (or username) and password."""

    username: str = Field(min_length=1, max_length=254, description="Email or username.")
    password: str = Field(min_length=1, max_length=4096)


class RefreshRequest(BaseModel):
    """A refresh token to exchange for a new pair."""

    refresh_token: str = Field(max_length=4096)


class RevokeRequest(BaseModel):
    """What to revoke: a refresh token (its family), else the token of this request."""

    refresh_token: str | None = Field(default=None, max_length=4096)


class ChangePassword(BaseModel):
    """The current password and the new one."""

    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class PasswordResetRequest(BaseModel):
    """The email to send a reset link to."""

    email: str = Field(max_length=254)


class PasswordResetConfirm(BaseModel):
    """The token from the email and the new password."""

    token: str = Field(max_length=200)
    new_password: str = Field(max_length=1024)


class Registration(BaseModel):
    """A new account."""

    email: str = Field(max_length=254)
    username: str | None = Field(default=None, max_length=150)
    password: str = Field(max_length=1024)


def _user_out(user: AbstractUser) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        username=user.username,
        is_active=user.is_active,
        is_staff=user.is_staff,
        is_superuser=user.is_superuser,
        last_login=user.last_login,
        created_at=user.created_at,
    )


def _password_problem(exc: PasswordError, field: str = "new_password") -> HTTPError:
    return HTTPError(
        422,
        " ".join(exc.problems),
        title="Password refused",
        extra={
            "errors": [
                {"loc": ["body", field], "msg": p, "type": "password_policy"} for p in exc.problems
            ]
        },
    )


def auth_router(
    auth: Auth,
    *,
    prefix: str = "/auth",
    tags: list[str] | None = None,
    registration: bool = False,
    reset_url: str = "/reset-password?token={token}",
) -> Router:
    """The keel.auth routes for ``auth`` (``auth.router()`` calls it).

    Routes (under ``prefix``): ``POST /token`` (OAuth2 password form: log in),
    ``POST /login`` and ``POST /logout`` (browser sessions, with ``Auth(sessions=True)``),
    ``POST /refresh`` (only with ``Auth(tokens="jwt")``), ``POST /revoke``, ``GET /me``,
    ``POST /password`` (change), ``POST /password/reset`` and
    ``POST /password/reset/confirm``, and with ``registration=True`` ``POST /register``.

    Args:
        auth: The configuration.
        prefix: Where the routes live; ``prefix + "/token"`` should be ``auth.token_url``.
        tags: OpenAPI tags (``["auth"]``).
        registration: Serve ``POST /register`` (open sign-up).
        reset_url: The link mailed for a password reset; ``{token}`` is replaced.
    """
    if prefix + "/token" != auth.token_url:
        raise ValueError(
            f"auth_router(prefix={prefix!r}) serves {prefix}/token but Auth(token_url=...) is "
            f"{auth.token_url!r}: make them agree so Swagger UI logs in at the right place"
        )
    router = Router(prefix, tags=tags if tags is not None else ["auth"])

    @router.post(
        "/token",
        responses={
            400: {"description": "Wrong credentials, or an unknown scope."},
            429: {
                "description": "Too many failed logins for this account or address.",
                "headers": {
                    "Retry-After": {
                        "description": "Seconds to wait before trying again.",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                },
            },
        },
    )
    async def obtain_token(
        request: Request,
        session: Session,
        form: Annotated[OAuth2PasswordRequestForm, Depends()],
    ) -> TokenResponse:
        """Log in with email (or username) and password; returns a bearer token."""
        ip = by_ip(request)
        await auth.throttle.check(form.username, ip)
        unknown = [s for s in form.scopes if s not in auth.scopes]
        if unknown:
            raise HTTPError(
                400, f"Unknown scope(s): {' '.join(unknown)}.", extra={"error": "invalid_scope"}
            )
        user = await authenticate(session, form.username, form.password)
        if user is None:
            await auth.throttle.failed(form.username, ip)
            raise HTTPError(400, _BAD_LOGIN, extra={"error": "invalid_grant"})
        user.last_login = dt.datetime.now(dt.UTC)
        key = auth.signing_key()
        if auth.tokens == "jwt":
            pair = await issue_jwt_pair(session, auth, user, key, scopes=form.scopes)
            return TokenResponse(
                access_token=pair.access_token,
                refresh_token=pair.refresh_token,
                expires_in=pair.expires_in,
                scope=" ".join(form.scopes),
            )
        issued = await create_token(
            session, user, name="login", scopes=form.scopes, expires_in=auth.access_token_ttl
        )
        return TokenResponse(
            access_token=issued.token,
            expires_in=int(auth.access_token_ttl.total_seconds()),
            scope=" ".join(form.scopes),
        )

    if auth.tokens == "jwt":

        @router.post("/refresh", responses={401: {"description": "Invalid refresh token."}})
        async def refresh(body: RefreshRequest, session: Session) -> TokenResponse:
            """Exchange a refresh token for a new access and refresh token (JWT mode)."""
            try:
                pair = await rotate_refresh_token(
                    session, auth, body.refresh_token, auth.signing_key()
                )
            except InvalidToken:
                raise HTTPError(
                    401,
                    "The refresh token is invalid, expired, revoked or was already used.",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                ) from None
            return TokenResponse(
                access_token=pair.access_token,
                refresh_token=pair.refresh_token,
                expires_in=pair.expires_in,
            )

    if auth.sessions:

        @router.post(
            "/login",
            responses={
                400: {"description": "Wrong credentials."},
                429: {"description": "Too many failed logins for this account or address."},
            },
        )
        async def session_login(request: Request, session: Session, body: LoginRequest) -> UserOut:
            """Log in for this browser session (a session cookie; no token)."""
            ip = by_ip(request)
            await auth.throttle.check(body.username, ip)
            user = await authenticate(session, body.username, body.password)
            if user is None:
                await auth.throttle.failed(body.username, ip)
                raise HTTPError(400, _BAD_LOGIN, extra={"error": "invalid_grant"})
            await login(request, user)
            return _user_out(user)

        @router.post("/logout", status=204)
        async def session_logout(request: Request) -> None:
            """End this browser session."""
            await logout(request)

    @router.post("/revoke", status=204)
    async def revoke(found: CurrentAuth, session: Session, body: RevokeRequest) -> None:
        """Log out a token: the API token of this request, or a refresh token's family."""
        if body.refresh_token is not None:
            if not await revoke_refresh_token(
                session, auth, body.refresh_token, auth.signing_key()
            ):
                raise HTTPError(400, "That refresh token is not valid.")
            return
        if found.token_id is not None:
            await revoke_token_id(session, found.token_id)

    @router.get("/me")
    async def me(user: CurrentUser) -> UserOut:
        """The logged-in user."""
        return _user_out(user)

    @router.post("/password", status=204)
    async def change_password(
        request: Request, user: CurrentUser, session: Session, body: ChangePassword
    ) -> None:
        """Change the password (the current one is required); every token is revoked."""
        ident = user.identifier
        ip = by_ip(request)
        await auth.throttle.check(ident, ip)
        if not await verify_password(user.password, body.current_password):
            await auth.throttle.failed(ident, ip)
            raise HTTPError(400, "The current password is not correct.")
        try:
            await set_password(
                session, user, body.new_password, validators=auth.password_validators
            )
        except PasswordError as exc:
            raise _password_problem(exc) from None

    @router.post("/password/reset", status=202)
    async def request_reset(
        body: PasswordResetRequest, session: Session, tasks: BackgroundTasks
    ) -> dict[str, str]:
        """Email a one-time reset link; answers the same whether the account exists or not."""
        user = await find_user(session, body.email)
        if user is not None and user.is_active and user.email:
            token = make_reset_token(user, auth.signing_key())
            link = reset_url.format(token=token)
            message = Mail(
                to=user.email,
                subject="Reset your password",
                body=f"Someone asked to reset the password of {user.email}.\n\n"
                f"To choose a new one, open: {link}\n\n"
                f"The link works once, for {int(auth.reset_token_ttl.total_seconds() // 60)} "
                "minutes. If you did not ask for it, ignore this email.",
            )
            tasks.add_task(auth.mail.send, message)
        return {"detail": "If an account has this email, a reset link is on its way."}

    @router.post("/password/reset/confirm", status=204)
    async def confirm_reset(body: PasswordResetConfirm, session: Session) -> None:
        """Set a new password with the token from the reset email (works once)."""
        user = await check_reset_token(session, auth, body.token)
        if user is None:
            raise HTTPError(400, "The reset link is invalid or has expired: ask for a new one.")
        try:
            await set_password(
                session, user, body.new_password, validators=auth.password_validators
            )
        except PasswordError as exc:
            raise _password_problem(exc) from None
        await auth.throttle.reset(user.identifier)

    if registration:

        @router.post("/register", status=201)
        async def register(body: Registration, session: Session) -> UserOut:
            """Create an account (open registration)."""
            try:
                validate_password(
                    body.password,
                    [v for v in (body.email, body.username) if v],
                    auth.password_validators,
                )
                user: Any = await create_user(
                    session,
                    email=body.email,
                    username=body.username,
                    password=body.password,
                    validate=False,
                )
            except PasswordError as exc:
                raise _password_problem(exc, "password") from None
            except InvalidIdentifier as exc:
                field = "username" if "username" in str(exc) else "email"
                item = {"loc": ["body", field], "msg": str(exc), "type": "value_error"}
                raise HTTPError(
                    422, str(exc), title="Invalid account details", extra={"errors": [item]}
                ) from None
            return _user_out(user)

    return router
