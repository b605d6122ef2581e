"""The ``User`` model keel ships (table ``auth_users``)."""

from __future__ import annotations

from keel.auth.models import USER_TABLE, AbstractUser
from keel.db import Model

__all__ = ["User"]


class User(AbstractUser, Model):
    """keel's user: email and/or username, password hash, flags, groups and permissions."""

    __tablename__ = USER_TABLE
