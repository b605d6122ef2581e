"""The tables of keel.auth: users (as a mixin), groups, permissions and tokens.

Every table lives on ``keel.db.Model.metadata``. Their migration scripts ship with keel (the
``keel_auth`` branch in ``keel/auth/migrations/``): ``keel db migrate`` applies them beside the
app's own scripts as soon as the app uses keel.auth, and the app's scripts depend on them.

The user table is always ``auth_users`` (:data:`USER_TABLE`): keel ships a ready ``User``
model on it (``keel.auth.User``), and an app that wants other columns declares its own model
on that table from :class:`AbstractUser` (``Auth(user_model=Member)``): its columns are
added to the same table, and the app's next migration adds them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from keel.db import IntPK, Model, Timestamps
from keel.db.branches import register_branch

__all__ = [
    "USER_TABLE",
    "APIToken",
    "AbstractUser",
    "Group",
    "Permission",
    "RefreshToken",
    "group_permissions",
    "user_groups",
    "user_permissions",
]

USER_TABLE = "auth_users"
"""The name of the user table (keel's ``User`` and any replacement use it)."""

_USER_ID = f"{USER_TABLE}.id"

group_permissions = Table(
    "auth_group_permissions",
    Model.metadata,
    Column("group_id", ForeignKey("auth_groups.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "permission_id", ForeignKey("auth_permissions.id", ondelete="CASCADE"), primary_key=True
    ),
)
"""Which permissions each group grants."""

user_groups = Table(
    "auth_user_groups",
    Model.metadata,
    Column("user_id", ForeignKey(_USER_ID, ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("auth_groups.id", ondelete="CASCADE"), primary_key=True),
)
"""Which groups each user belongs to."""

user_permissions = Table(
    "auth_user_permissions",
    Model.metadata,
    Column("user_id", ForeignKey(_USER_ID, ondelete="CASCADE"), primary_key=True),
    Column(
        "permission_id", ForeignKey("auth_permissions.id", ondelete="CASCADE"), primary_key=True
    ),
)
"""The permissions given to users directly."""


class Permission(IntPK, Model):
    """A permission, named ``"<app_label>.<codename>"`` (Django's ``shop.change_item``).

    ``sync_permissions`` creates ``view_/add_/change_/delete_<model>`` for every model,
    plus the custom ones a model lists in ``__permissions__``.
    """

    __tablename__ = "auth_permissions"
    __table_args__ = (UniqueConstraint("app_label", "codename"),)

    app_label: Mapped[str] = mapped_column(String(100))
    codename: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(255), default="")

    @property
    def full_name(self) -> str:
        """``"<app_label>.<codename>"``, as ``require_permission`` takes it."""
        return f"{self.app_label}.{self.codename}"


class Group(IntPK, Model):
    """A named set of permissions that users belong to."""

    __tablename__ = "auth_groups"

    name: Mapped[str] = mapped_column(String(150), unique=True)
    permissions: Mapped[list[Permission]] = relationship(secondary=group_permissions)


class AbstractUser(IntPK, Timestamps):
    """The columns of a keel user; declare a model from it to add your own columns.

    Either ``email`` or ``username`` (or both) identifies the user; both are unique when
    given. ``email`` is stored normalised (surrounding spaces stripped, the domain
    lower-cased). ``password`` is an argon2id hash, or ``""`` for a user who cannot log in
    with a password.

    Example:
        class Member(AbstractUser, Model):
            __tablename__ = USER_TABLE
            bio: Mapped[str | None] = mapped_column(default=None)

        auth = Auth(user_model=Member)

    A model declared this way maps the ``auth_users`` table keel's ``User`` maps, with its
    extra columns added (nullable, or with a server default, so existing rows get a value).
    """

    __table_args__: Any = {"extend_existing": True}

    email: Mapped[str | None] = mapped_column(String(254), unique=True, default=None)
    username: Mapped[str | None] = mapped_column(String(150), unique=True, default=None)
    password: Mapped[str] = mapped_column(String(255), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    is_staff: Mapped[bool] = mapped_column(default=False)
    is_superuser: Mapped[bool] = mapped_column(default=False)
    last_login: Mapped[dt.datetime | None] = mapped_column(default=None)
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    """Raised when a logout cannot recall the session cookie itself (the cookie store):
    every browser session opened before then ends."""

    is_authenticated = True
    """Always true for a user loaded from the database (the anonymous user says false)."""

    @declared_attr
    def groups(cls) -> Mapped[list[Group]]:
        """The groups the user belongs to (load with ``selectinload``)."""
        # overlaps: keel's User and an app's model on the same table share the link table
        return relationship(Group, secondary=user_groups, overlaps="groups")

    @declared_attr
    def permissions(cls) -> Mapped[list[Permission]]:
        """The permissions given to the user directly (load with ``selectinload``)."""
        return relationship(Permission, secondary=user_permissions, overlaps="permissions")

    @property
    def identifier(self) -> str:
        """The email, else the username (what the user logs in with)."""
        return self.email or self.username or f"user {self.id}"

    def __str__(self) -> str:
        return self.identifier


class APIToken(IntPK, Model):
    """An opaque API token: only its SHA-256 digest is stored.

    Attributes:
        digest: SHA-256 of the token, hex (the token itself is shown once, at creation).
        name: What it is for ("ci deploy", "login").
        scopes: The scopes it grants (space-separated); empty: every scope the user has.
        expires_at: When it stops working (None: never).
        last_used_at: The last request made with it (updated at most once a minute).
        revoked_at: When it was revoked (None: still valid).
    """

    __tablename__ = "auth_api_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    scopes: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: dt.datetime.now(dt.UTC))
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def scope_list(self) -> list[str]:
        """The scopes as a list."""
        return self.scopes.split()


class RefreshToken(Model):
    """One issued JWT refresh token (by its ``jti``), for rotation and reuse detection.

    Each refresh token belongs to a *family*: the chain of tokens rotated from one login.
    Using a token marks it used and issues the next one of the family; presenting a used
    (or revoked) token again revokes the whole family.
    """

    __tablename__ = "auth_refresh_tokens"
    __table_args__ = (Index("ix_auth_refresh_tokens_family", "family"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    family: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey(_USER_ID, ondelete="CASCADE"), index=True)
    scopes: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: dt.datetime.now(dt.UTC))
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


register_branch(
    "keel_auth",
    Path(__file__).with_name("migrations"),
    {
        USER_TABLE,
        "auth_groups",
        "auth_permissions",
        "auth_group_permissions",
        "auth_user_groups",
        "auth_user_permissions",
        "auth_api_tokens",
        "auth_refresh_tokens",
    },
)
