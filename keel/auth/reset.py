"""One-time password-reset tokens (no table: an HMAC over what a reset changes).

A token is ``<user id>-<issued at>-<mac>``; the MAC covers the user's id, current password
hash and last login, so it stops working once the password changes (it is single-use) and
after ``Auth.reset_token_ttl``.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from keel.auth.models import AbstractUser

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from keel.auth.config import Auth

__all__ = ["check_reset_token", "make_reset_token"]


def _mac(user: AbstractUser, issued: int, key: str) -> str:
    last = user.last_login.isoformat() if user.last_login else ""
    message = f"keel.auth.reset:{user.id}:{user.password}:{last}:{issued}"
    return hmac.new(key.encode(), message.encode(), "sha256").hexdigest()[:40]


def make_reset_token(user: AbstractUser, key: str, *, now: float | None = None) -> str:
    """A password-reset token for ``user``, signed with ``key``."""
    issued = int(time.time() if now is None else now)
    return f"{user.id}-{issued}-{_mac(user, issued, key)}"


async def check_reset_token(session: AsyncSession, auth: Auth, token: str) -> AbstractUser | None:
    """The active user a valid, unexpired, unused reset token belongs to, else ``None``."""
    parts = token.strip().split("-")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or len(token) > 100:
        return None
    user_id, issued, mac = int(parts[0]), int(parts[1]), parts[2]
    if time.time() - issued > auth.reset_token_ttl.total_seconds() or issued > time.time() + 60:
        return None
    user = await session.get(auth.users, user_id)
    if user is None or not user.is_active:
        return None
    if not hmac.compare_digest(mac, _mac(user, issued, auth.signing_key())):
        return None
    return user
