"""Dependencies that find the request's user and guard routes.

``CurrentUser`` answers 401 (with ``WWW-Authenticate``) when nobody is logged in;
``require_staff``, ``require_superuser``, ``require_permission(...)`` and
``require_scopes(...)`` answer 403 for a known user without the right. Each works as a
parameter annotation and in ``dependencies=[...]`` of a route or router.

The user is found by the ``Auth``'s loaders, in order: by default the token loader, which
reads ``Authorization: Bearer <token>`` (an opaque API token or, with
``Auth(tokens="jwt")``, an access JWT).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from keel.auth.config import Auth, Authenticated, auth_of
from keel.auth.models import AbstractUser
from keel.auth.tokens import InvalidToken, read_access_jwt, user_for_token
from keel.auth.users import has_permission
from keel.db.session import Session
from keel.di import Depends, Security
from keel.errors import HTTPError
from keel.requests import Request
from keel.security import SecurityBase, _authorization

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "CurrentAuth",
    "CurrentUser",
    "OptionalUser",
    "StaffUser",
    "SuperUser",
    "UserTokenScheme",
    "authenticated",
    "configure_scheme",
    "current_user",
    "optional_user",
    "optional_user_token",
    "require_permission",
    "require_scopes",
    "require_staff",
    "require_superuser",
    "token_loader",
    "user_token",
]


class UserTokenScheme(SecurityBase):
    """The credential keel.auth reads: the token after an accepted scheme word.

    It never answers 401 by itself (returns ``None`` when there is no token), so the
    loaders after it (a session, say) get their turn; ``current_user`` decides. OpenAPI
    shows it as the OAuth2 password flow at ``Auth.token_url``, so Swagger UI's
    *Authorize* button logs in; ``required`` says whether routes list it as required.
    """

    def __init__(self, *, required: bool) -> None:
        super().__init__(_flow("/auth/token", {}), scheme_name="keelAuth", auto_error=required)

    async def __call__(self, request: Request) -> str | None:
        found = _authorization(request)
        if found is None or not found[1]:
            return None
        auth = auth_of(request.app)
        word = found[0].lower()
        if not any(word == w.lower() for w in auth.scheme_words):
            return None
        return found[1]


def _flow(
    token_url: str, scopes: dict[str, str], words: Sequence[str] = ("Bearer",)
) -> dict[str, Any]:
    sent = " or ".join(f"`Authorization: {w} <token>`" for w in words)
    return {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": token_url, "scopes": scopes}},
        "description": f"Log in at the token URL (OAuth2 password flow), then send {sent}.",
    }


user_token = UserTokenScheme(required=True)
"""The scheme of routes that need a user."""

optional_user_token = UserTokenScheme(required=False)
"""The scheme of routes where a user is optional."""


def configure_scheme(auth: Auth) -> None:
    """Point the OpenAPI description of keel.auth's scheme at ``auth``'s token URL/scopes."""
    scheme = _flow(auth.token_url, dict(auth.scopes), auth.scheme_words)
    user_token.openapi_scheme = scheme
    optional_user_token.openapi_scheme = dict(scheme)


async def token_loader(
    request: Request, session: AsyncSession, auth: Auth, token: str | None
) -> Authenticated | None:
    """The default loader: an opaque API token, or (with ``tokens="jwt"``) an access JWT."""
    if token is None:
        return None
    if token.count(".") == 2:
        if auth.tokens != "jwt":
            raise InvalidToken("JWTs are not accepted here")
        user, scopes = await read_access_jwt(session, auth, token, auth.signing_key())
        return Authenticated(user, "jwt", frozenset(scopes) if scopes else None)
    user, record = await user_for_token(session, token, auth.users)
    scopes = record.scope_list
    return Authenticated(user, "token", frozenset(scopes) if scopes else None, record.id)


def _challenge(auth: Auth, error: str | None = None, **params: str) -> str:
    parts = [f'{k}="{v}"' for k, v in ({"error": error} if error else {}).items()]
    parts += [f'{k}="{v}"' for k, v in params.items()]
    return "Bearer" + (" " + ", ".join(parts) if parts else "")


async def _find(request: Request, session: AsyncSession, token: str | None) -> Authenticated | None:
    cached = request.state.__dict__.get("keel_auth", False)
    if cached is not False:
        found: Authenticated | None = cached
        return found
    auth = auth_of(request.app)
    result: Authenticated | None = None
    for loader in auth.loaders:
        try:
            result = await loader(request, session, auth, token)
        except InvalidToken:
            raise HTTPError(
                401,
                "The token is invalid, expired or revoked: log in again.",
                headers={"WWW-Authenticate": _challenge(auth, "invalid_token")},
            ) from None
        if result is not None:
            break
    request.state.keel_auth = result
    if result is not None:
        request.state.user = result.user  # keel.ratelimit's by_user finds it here
        request.scope["user"] = result.user  # request.user
    return result


async def authenticated(
    request: Request,
    session: Session,
    token: Annotated[str | None, Depends(user_token)],
) -> Authenticated:
    """Who is calling (user, method, scopes); 401 when nobody is."""
    found = await _find(request, session, token)
    if found is None:
        auth = auth_of(request.app)
        raise HTTPError(
            401,
            "Not authenticated: log in and send Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": _challenge(auth)},
        )
    return found


async def current_user(found: Annotated[Authenticated, Depends(authenticated)]) -> AbstractUser:
    """The logged-in user; 401 with ``WWW-Authenticate`` when there is none."""
    return found.user


async def optional_user(
    request: Request,
    session: Session,
    token: Annotated[str | None, Depends(optional_user_token)],
) -> AbstractUser | None:
    """The logged-in user, or ``None`` (a bad token still answers 401)."""
    found = await _find(request, session, token)
    return found.user if found is not None else None


CurrentAuth = Annotated[Authenticated, Depends(authenticated)]
"""Who is calling and how (:class:`~keel.auth.config.Authenticated`); 401 when nobody."""

CurrentUser = Annotated[AbstractUser, Depends(current_user)]
"""The logged-in user; declare ``user: CurrentUser`` in a handler (401 when missing)."""

OptionalUser = Annotated[AbstractUser | None, Depends(optional_user)]
"""The logged-in user or ``None``."""


def _forbidden(detail: str) -> HTTPError:
    return HTTPError(403, detail)


async def _staff(user: CurrentUser) -> AbstractUser:
    if not (user.is_staff and user.is_active):
        raise _forbidden("Staff only: this account is not a staff account.")
    return user


async def _superuser(user: CurrentUser) -> AbstractUser:
    if not (user.is_superuser and user.is_active):
        raise _forbidden("Superusers only.")
    return user


require_staff = Depends(_staff)
"""Guard: the user must be staff (401 anonymous, 403 otherwise)."""

require_superuser = Depends(_superuser)
"""Guard: the user must be a superuser."""

StaffUser = Annotated[AbstractUser, require_staff]
"""A staff user (403 for others)."""

SuperUser = Annotated[AbstractUser, require_superuser]
"""A superuser (403 for others)."""


def require_permission(*permissions: str) -> Depends:
    """Guard: the user has every permission (``"shop.change_item"``); superusers pass.

    Use in ``dependencies=[require_permission("shop.change_item")]`` or as
    ``user: Annotated[AbstractUser, require_permission(...)]``.
    """
    if not permissions or not all("." in p for p in permissions):
        raise ValueError("require_permission takes names like 'shop.change_item'")
    wanted = list(permissions)

    async def check_permission(user: CurrentUser, session: Session) -> AbstractUser:
        for permission in wanted:
            if not await has_permission(session, user, permission):
                raise _forbidden(f"Permission {permission!r} is required.")
        return user

    return Depends(check_permission)


def require_scopes(*scopes: str) -> Security:
    """Guard: the token grants every scope (403 ``insufficient_scope`` otherwise).

    Tokens created without scopes, and browser sessions, are unrestricted. The scopes are
    listed in the route's OpenAPI ``security``.
    """
    wanted: Sequence[str] = list(scopes)

    async def check_scopes(request: Request, found: CurrentAuth) -> AbstractUser:
        if not found.has_scopes(wanted):
            auth = auth_of(request.app)
            raise HTTPError(
                403,
                f"The token lacks the scope(s): {' '.join(wanted)}.",
                headers={
                    "WWW-Authenticate": _challenge(
                        auth, "insufficient_scope", scope=" ".join(wanted)
                    )
                },
            )
        return found.user

    return Security(check_scopes, scopes=list(wanted))
