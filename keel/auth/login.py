"""Browser sessions: ``login``, ``logout`` and the loader that finds a session's user.

``await login(request, user)`` gives the session a new id and a new CSRF secret (so an id
or token an attacker planted before the login is worthless), then stores the user's id and
a fingerprint of their password hash. Each later request with that session cookie is the
user's, until ``await logout(request)``, the session's expiry, or a password change (the
fingerprint no longer matches, so every other session of the user ends). With the cookie
store, which cannot recall a cookie, a logout ends all of the user's sessions the same way.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import TYPE_CHECKING, Any

from keel.auth.config import Auth, Authenticated, auth_of
from keel.auth.models import AbstractUser
from keel.db.session import Session
from keel.requests import Request

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "SESSION_HASH_KEY",
    "SESSION_USER_KEY",
    "attach_user",
    "login",
    "logout",
    "session_fingerprint",
    "session_loader",
]

SESSION_USER_KEY = "_auth_user_id"
"""Where the session keeps the logged-in user's id."""

SESSION_HASH_KEY = "_auth_user_hash"
"""Where the session keeps the fingerprint of the user's password hash."""


async def login(request: Request, user: AbstractUser) -> None:
    """Log ``user`` in for this browser session (after checking their password).

    The session gets a new id and the CSRF secret a new value; ``user.last_login`` is set
    (saved with the request's database session); ``request.user`` is ``user`` from now on.
    """
    from keel.csrf import rotate_csrf

    auth = auth_of(request.app)
    session = request.session
    if session.get(SESSION_USER_KEY) not in (None, str(user.id)):
        session.clear()  # another user was logged in here: nothing of theirs carries over
    session.cycle()
    rotate_csrf(request)
    session[SESSION_USER_KEY] = str(user.id)
    session[SESSION_HASH_KEY] = session_fingerprint(user, auth.signing_key())
    user.last_login = dt.datetime.now(dt.UTC)
    _remember(request, Authenticated(user, "session"))


def session_fingerprint(user: AbstractUser, key: str) -> str:
    """What a logged-in session holds to stay valid: an HMAC of the user's password hash
    and ``session_version``, so a password change, or a logout with the cookie store,
    ends the sessions opened before."""
    message = f"keel.auth.session:{user.password}:{user.session_version}".encode()
    return hmac.new(key.encode(), message, "sha256").hexdigest()[:32]


async def logout(request: Request) -> None:
    """End the browser session: its data is dropped and its id replaced.

    With a server-side store the session is deleted there, so a copy of its cookie is
    worthless. The cookie store keeps the data in the cookie, which cannot be recalled:
    there the user's ``session_version`` is raised (saved with the request's database
    session), which ends every session the user opened before, on every device.
    """
    user = request.scope.get("user")
    settings = getattr(request.app, "settings", None)
    if isinstance(user, AbstractUser) and getattr(settings, "session_store", "") == "cookie":
        user.session_version = (user.session_version or 0) + 1
    request.session.clear()
    request.scope.pop("user", None)
    request.state.keel_auth = None
    request.state.user = None


def _remember(request: Request, found: Authenticated | None) -> None:
    request.state.keel_auth = found
    request.state.user = found.user if found is not None else None
    if found is not None:
        request.scope["user"] = found.user


async def session_loader(
    request: Request, session: AsyncSession, auth: Auth, token: str | None
) -> Authenticated | None:
    """The loader of browser sessions (``Auth`` adds it after the token loader).

    The session's user, when it still exists, is active and has the password the session
    was opened with; otherwise nobody.
    """
    data = _session_data(request)
    if not data:
        return None
    loaded = request.scope.get("user")
    if isinstance(loaded, AbstractUser) and str(loaded.id) == data.get(SESSION_USER_KEY):
        return Authenticated(loaded, "session")  # attach_user loaded it in this session
    return await _load(data, session, auth)


async def attach_user(request: Request, db: Session) -> None:
    """App-wide dependency: make ``request.user`` the session's user, before the handler.

    It shares the request's database session with the handler; a request without a
    logged-in session runs no query, the others one (as Django's authentication
    middleware does).
    """
    data = _session_data(request)
    if not data or not data.get(SESSION_USER_KEY):
        return
    found = await _load(data, db, auth_of(request.app))
    if found is not None:
        request.scope["user"] = found.user


def _session_data(request: Request) -> dict[str, Any] | None:
    session = request.scope.get("session")
    if session is None:
        return None
    data: dict[str, Any] = session.data  # reading .data does not add Vary: Cookie
    return data


async def _load(data: dict[str, Any], db: AsyncSession, auth: Auth) -> Authenticated | None:
    raw = data.get(SESSION_USER_KEY)
    if not isinstance(raw, str) or not raw.isdigit():
        return None
    user = await db.get(auth.users, int(raw))
    if user is None or not user.is_active:
        return None
    expected = session_fingerprint(user, auth.signing_key())
    if not hmac.compare_digest(str(data.get(SESSION_HASH_KEY, "")), expected):
        return None  # the password changed, or a logout ended it, since it logged in
    return Authenticated(user, "session")
