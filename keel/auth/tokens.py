"""API tokens: opaque tokens stored as SHA-256 digests, and optional JWT access/refresh.

An opaque token is ``secrets.token_urlsafe(32)``: shown once, stored as its SHA-256
digest (a database leak gives no usable token). A JWT is signed with the app's secret
key (HS256 by default; the accepted algorithms are a fixed list, never ``none``), must
carry ``exp``, and its ``aud`` and ``iss`` are checked exactly. Refresh tokens rotate:
each use issues a new one and marks the old one used; presenting a used one again
revokes its whole family (a stolen refresh token is good for one use at most).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keel.auth.models import AbstractUser, APIToken, RefreshToken

if TYPE_CHECKING:
    from keel.auth.config import Auth

__all__ = [
    "InvalidToken",
    "IssuedToken",
    "TokenPair",
    "create_token",
    "digest",
    "issue_jwt_pair",
    "jwt_key",
    "password_fingerprint",
    "read_access_jwt",
    "revoke_refresh_token",
    "revoke_token",
    "revoke_token_id",
    "rotate_refresh_token",
    "user_for_token",
]

_LAST_USED_EVERY = dt.timedelta(minutes=1)


class InvalidToken(Exception):
    """A token that is malformed, unknown, expired, revoked or for another audience."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A new opaque token: ``token`` is the secret (shown once); ``record`` its row."""

    token: str
    record: APIToken


async def create_token(
    session: AsyncSession,
    user: AbstractUser,
    *,
    name: str = "",
    scopes: Sequence[str] = (),
    expires_in: dt.timedelta | None = None,
) -> IssuedToken:
    """Create an opaque API token for ``user``.

    Args:
        session: The database session (the caller commits).
        user: Whose token it is.
        name: What it is for.
        scopes: The scopes it grants; empty grants every scope (the user's full rights).
        expires_in: Its lifetime; ``None`` never expires.
    """
    token = secrets.token_urlsafe(32)
    record = APIToken(
        user_id=user.id,
        digest=digest(token),
        name=name[:100],
        scopes=" ".join(dict.fromkeys(scopes)),
        created_at=_now(),
        expires_at=_now() + expires_in if expires_in is not None else None,
    )
    session.add(record)
    await session.flush()
    return IssuedToken(token, record)


async def revoke_token(session: AsyncSession, token: str) -> bool:
    """Revoke an opaque token by its value; whether a live one was found."""
    result = await session.execute(
        update(APIToken)
        .where(APIToken.digest == digest(token), APIToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    return bool(getattr(result, "rowcount", 0))


async def revoke_token_id(session: AsyncSession, token_id: int) -> bool:
    """Revoke an opaque token by its id (``keel token revoke``); whether a live one was found."""
    result = await session.execute(
        update(APIToken)
        .where(APIToken.id == token_id, APIToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    return bool(getattr(result, "rowcount", 0))


async def user_for_token(
    session: AsyncSession, token: str, model: type[AbstractUser]
) -> tuple[AbstractUser, APIToken]:
    """The active user an opaque token belongs to, and the token's row.

    Raises:
        InvalidToken: unknown, revoked or expired token, or an inactive user.
    """
    if not token or len(token) > 200:
        raise InvalidToken("malformed token")
    row = (
        await session.execute(
            select(APIToken, model)
            .join(model, model.id == APIToken.user_id)
            .where(APIToken.digest == digest(token))
        )
    ).first()
    if row is None:
        raise InvalidToken("unknown token")
    record, user = row
    now = _now()
    if record.revoked_at is not None:
        raise InvalidToken("the token was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise InvalidToken("the token has expired")
    if not user.is_active:
        raise InvalidToken("the user is inactive")
    if record.last_used_at is None or now - record.last_used_at >= _LAST_USED_EVERY:
        record.last_used_at = now
    return user, record


# -- JWT ------------------------------------------------------------------------------------


def password_fingerprint(user: AbstractUser, key: str) -> str:
    """A short HMAC of the user's password hash: changes when the password changes, so
    tokens (and sessions) carrying it stop working."""
    mac = hmac.new(key.encode(), f"keel.auth.password:{user.password}".encode(), "sha256")
    return mac.hexdigest()[:32]


@dataclass(frozen=True)
class TokenPair:
    """A JWT access token, its refresh token, and the access token's lifetime in seconds."""

    access_token: str
    refresh_token: str
    expires_in: int


def _jwt() -> Any:
    try:
        import jwt
    except ImportError:
        raise RuntimeError(
            "JWT tokens need PyJWT: pip install 'keel[jwt]' (or pyjwt>=2.8)"
        ) from None
    return jwt


def jwt_key(secret: str) -> bytes:
    """The JWT signing key derived from the app's secret (64 bytes, HMAC-SHA512 with a
    keel.auth label): JWTs never share a key with sessions or CSRF tokens, and it is long
    enough for HS512."""
    return hmac.new(secret.encode(), b"keel.auth.jwt", "sha512").digest()


def _encode(auth: Auth, claims: dict[str, Any], key: str) -> str:
    token: str = _jwt().encode(claims, jwt_key(key), algorithm=auth.jwt_algorithms[0])
    return token


def _decode(auth: Auth, token: str, key: str, kind: str) -> dict[str, Any]:
    jwt = _jwt()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            jwt_key(key),
            algorithms=list(auth.jwt_algorithms),
            audience=auth.jwt_audience,
            issuer=auth.jwt_issuer,
            options={
                "require": ["exp", "iat", "sub", "jti", "typ", "aud", "iss"],
                "strict_aud": True,
            },
            leeway=auth.jwt_leeway,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token: {exc}") from None
    if claims.get("typ") != kind:
        raise InvalidToken(f"not an {kind} token")
    return claims


async def issue_jwt_pair(
    session: AsyncSession,
    auth: Auth,
    user: AbstractUser,
    key: str,
    *,
    scopes: Sequence[str] = (),
    family: str | None = None,
) -> TokenPair:
    """Sign an access token and a refresh token for ``user`` (a new family by default)."""
    now = _now()
    scope_text = " ".join(dict.fromkeys(scopes))
    base = {
        "sub": str(user.id),
        "iat": int(now.timestamp()),
        "aud": auth.jwt_audience,
        "iss": auth.jwt_issuer,
        "scope": scope_text,
        "pwd": password_fingerprint(user, key),
    }
    access_ttl = auth.access_token_ttl
    access = _encode(
        auth,
        {
            **base,
            "typ": "access",
            "jti": uuid.uuid4().hex,
            "exp": int((now + access_ttl).timestamp()),
        },
        key,
    )
    jti = uuid.uuid4().hex
    expires = now + auth.refresh_token_ttl
    session.add(
        RefreshToken(
            jti=jti,
            family=family or uuid.uuid4().hex,
            user_id=user.id,
            scopes=scope_text,
            created_at=now,
            expires_at=expires,
        )
    )
    refresh = _encode(
        auth, {**base, "typ": "refresh", "jti": jti, "exp": int(expires.timestamp())}, key
    )
    await session.flush()
    return TokenPair(access, refresh, int(access_ttl.total_seconds()))


async def _jwt_user(
    session: AsyncSession, auth: Auth, claims: dict[str, Any], key: str
) -> AbstractUser:
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise InvalidToken("invalid subject") from None
    user = await session.get(auth.users, user_id)
    if user is None or not user.is_active:
        raise InvalidToken("unknown or inactive user")
    expected = password_fingerprint(user, key)
    if not hmac.compare_digest(str(claims.get("pwd", "")), expected):
        raise InvalidToken("the password changed since the token was issued")
    return user


async def read_access_jwt(
    session: AsyncSession, auth: Auth, token: str, key: str
) -> tuple[AbstractUser, list[str]]:
    """The user and scopes of a valid access JWT.

    Raises:
        InvalidToken: bad signature or algorithm, expired, wrong audience/issuer/type, or
            a user whose password changed since.
    """
    claims = _decode(auth, token, key, "access")
    user = await _jwt_user(session, auth, claims, key)
    return user, str(claims.get("scope", "")).split()


async def rotate_refresh_token(
    session: AsyncSession, auth: Auth, token: str, key: str
) -> TokenPair:
    """Exchange a refresh token for a new pair (same family); a reused token revokes the
    family and raises.

    Raises:
        InvalidToken: invalid, expired, revoked or already used (the family is revoked).
    """
    claims = _decode(auth, token, key, "refresh")
    record = await session.get(RefreshToken, str(claims["jti"]), with_for_update=True)
    if record is None:
        raise InvalidToken("unknown refresh token")
    now = _now()
    if record.used_at is not None or record.revoked_at is not None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family == record.family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await session.commit()  # the revocation must survive the 401 that follows
        raise InvalidToken("the refresh token was already used: its family is revoked")
    user = await _jwt_user(session, auth, claims, key)
    record.used_at = now
    return await issue_jwt_pair(
        session, auth, user, key, scopes=record.scopes.split(), family=record.family
    )


async def revoke_refresh_token(session: AsyncSession, auth: Auth, token: str, key: str) -> bool:
    """Revoke the family of a refresh token (logout of a JWT client); whether it was valid."""
    try:
        claims = _decode(auth, token, key, "refresh")
    except InvalidToken:
        return False
    record = await session.get(RefreshToken, str(claims["jti"]))
    if record is None:
        return False
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == record.family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    return True
