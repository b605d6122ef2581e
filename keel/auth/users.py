"""Users: creating them, checking passwords, permissions."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keel.auth.models import (
    AbstractUser,
    APIToken,
    Group,
    Permission,
    RefreshToken,
    group_permissions,
    user_groups,
    user_permissions,
)
from keel.auth.passwords import (
    PasswordValidator,
    hash_password,
    needs_rehash,
    spend_dummy_check,
    validate_password,
    verify_password,
)

__all__ = [
    "ACTIONS",
    "InvalidIdentifier",
    "add_to_group",
    "app_label_of",
    "authenticate",
    "create_user",
    "find_user",
    "get_permissions",
    "grant",
    "has_permission",
    "model_permissions",
    "normalize_email",
    "revoke_all_tokens",
    "set_password",
    "sync_permissions",
    "user_model",
]

U = TypeVar("U", bound=AbstractUser)

ACTIONS = ("view", "add", "change", "delete")
"""The model-level permissions ``sync_permissions`` creates for every model."""

_USERNAME = re.compile(r"^[A-Za-z0-9_.+-]{1,150}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class InvalidIdentifier(ValueError):
    """An email or username that cannot be stored (malformed, or neither given)."""


def user_model() -> type[AbstractUser]:
    """The user model in use: the one an ``Auth`` was configured with, else keel's ``User``."""
    from keel.auth.config import current_auth

    auth = current_auth()
    if auth is not None:
        return auth.users
    from keel.auth.user import User

    return User


def normalize_email(email: str) -> str:
    """``email`` stripped of surrounding spaces, with its domain lower-cased.

    Raises:
        InvalidIdentifier: it does not look like an email address.
    """
    text = email.strip()
    local, at, domain = text.rpartition("@")
    text = f"{local}{at}{domain.lower()}"
    if not _EMAIL.match(text) or len(text) > 254:
        raise InvalidIdentifier(f"{email!r} is not a valid email address")
    return text


def _username(username: str) -> str:
    text = username.strip()
    if not _USERNAME.match(text):
        raise InvalidIdentifier(
            "a username has 1-150 letters, digits and . _ + - (no spaces, no @)"
        )
    return text


async def create_user(
    session: AsyncSession,
    *,
    email: str | None = None,
    username: str | None = None,
    password: str | None = None,
    is_staff: bool = False,
    is_superuser: bool = False,
    validate: bool = True,
    validators: Sequence[PasswordValidator] | None = None,
    model: type[U] | None = None,
    **fields: Any,
) -> U:
    """Create, add and flush a user; returns it.

    Args:
        session: The database session (the caller commits).
        email: The email (normalised); ``email`` or ``username`` is required.
        username: The username (letters, digits, ``. _ + -``).
        password: The password; ``None`` makes a user who cannot log in with one.
        is_staff: May use staff-only routes.
        is_superuser: Has every permission.
        validate: Check the password against the validators (``PasswordError`` if not).
        validators: The password rules; :func:`~keel.auth.default_validators` by default.
        model: The user model (the configured one by default).
        **fields: Values of the model's other columns.

    Raises:
        InvalidIdentifier: a malformed email/username, or neither given.
        PasswordError: the password breaks a rule.
    """
    if not email and not username:
        raise InvalidIdentifier("a user needs an email or a username")
    email = normalize_email(email) if email else None
    username = _username(username) if username else None
    hashed = ""
    if password is not None:
        if validate:
            validate_password(password, [v for v in (email, username) if v], validators)
        hashed = await hash_password(password)
    cls: Any = model or user_model()
    user = cls(
        email=email,
        username=username,
        password=hashed,
        is_staff=is_staff or is_superuser,
        is_superuser=is_superuser,
        **{"is_active": True, **fields},
    )
    session.add(user)
    await session.flush()
    result: U = user
    return result


async def find_user(session: AsyncSession, identifier: str) -> AbstractUser | None:
    """The user whose email (when ``identifier`` has an ``@``) or username it is."""
    model = user_model()
    text = identifier.strip()
    if not text or len(text) > 254:
        return None
    if "@" in text:
        try:
            text = normalize_email(text)
        except InvalidIdentifier:
            return None
        where: Any = model.email == text
    else:
        where = model.username == text
    found: AbstractUser | None = await session.scalar(select(model).where(where))
    return found


async def authenticate(
    session: AsyncSession, identifier: str, password: str
) -> AbstractUser | None:
    """The active user with this email/username and password, else ``None``.

    An unknown user costs one password check too (against a dummy hash), so the time
    taken does not tell an unknown user from a wrong password. A hash made with older
    argon2 parameters is replaced by a new one on success.
    """
    user = await find_user(session, identifier)
    if user is None:
        await spend_dummy_check(password)
        return None
    if not await verify_password(user.password, password):
        return None
    if not user.is_active:
        return None
    if needs_rehash(user.password):
        user.password = await hash_password(password)
    return user


async def set_password(
    session: AsyncSession,
    user: AbstractUser,
    password: str,
    *,
    validate: bool = True,
    validators: Sequence[PasswordValidator] | None = None,
) -> None:
    """Give ``user`` a new password and revoke every token it had (API and refresh).

    Access JWTs carry a fingerprint of the password hash, so they stop working too.

    Raises:
        PasswordError: the password breaks a rule.
    """
    if validate:
        context = [v for v in (user.email, user.username) if v]
        validate_password(password, context, validators)
    user.password = await hash_password(password)
    await revoke_all_tokens(session, user)
    await session.flush()


async def revoke_all_tokens(session: AsyncSession, user: AbstractUser) -> None:
    """Revoke the user's API tokens and JWT refresh tokens."""
    now = dt.datetime.now(dt.UTC)
    await session.execute(
        update(APIToken)
        .where(APIToken.user_id == user.id, APIToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


# -- permissions --------------------------------------------------------------------------


async def get_permissions(session: AsyncSession, user: AbstractUser) -> set[str]:
    """The ``"app_label.codename"`` permissions ``user`` has, directly or through groups.

    An inactive user has none; a superuser has every permission in the table.
    """
    if not user.is_active:
        return set()
    statement = select(Permission.app_label, Permission.codename)
    if not user.is_superuser:
        direct = select(user_permissions.c.permission_id).where(
            user_permissions.c.user_id == user.id
        )
        via_groups = (
            select(group_permissions.c.permission_id)
            .join(user_groups, user_groups.c.group_id == group_permissions.c.group_id)
            .where(user_groups.c.user_id == user.id)
        )
        statement = statement.where(or_(Permission.id.in_(direct), Permission.id.in_(via_groups)))
    rows = await session.execute(statement)
    return {f"{app}.{code}" for app, code in rows}


async def has_permission(session: AsyncSession, user: AbstractUser, permission: str) -> bool:
    """Whether ``user`` has ``permission`` (``"app_label.codename"``); superusers have all."""
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    return permission in await get_permissions(session, user)


def app_label_of(model: type[Any]) -> str:
    """A model's app label: ``__app_label__``, else its module without a ``.models`` tail
    (``shop.models`` -> ``shop``, ``examples.notes.models`` -> ``notes``)."""
    label = getattr(model, "__app_label__", None)
    if isinstance(label, str):
        return label
    parts = model.__module__.split(".")
    if len(parts) > 1 and parts[-1] == "models":
        parts = parts[:-1]
    return parts[-1]


def model_permissions(model: type[Any]) -> list[tuple[str, str, str]]:
    """``(app_label, codename, name)`` of a model's permissions: the four actions, then
    the ``__permissions__ = [("publish_article", "Can publish articles")]`` it declares."""
    app = app_label_of(model)
    name = model.__name__.lower()
    found = [(app, f"{action}_{name}", f"Can {action} {name}") for action in ACTIONS]
    for codename, title in getattr(model, "__permissions__", ()):
        found.append((app, codename, title))
    return found


async def sync_permissions(
    session: AsyncSession,
    models: Iterable[type[Any]] | None = None,
    *,
    custom: Iterable[tuple[str, str, str]] = (),
) -> list[str]:
    """Create the permissions that do not exist yet; returns their full names.

    Args:
        session: The database session (the caller commits).
        models: The models to make ``view/add/change/delete`` permissions for; by default
            every model mapped on ``keel.db.Model`` except keel.auth's own tables.
        custom: Extra ``(app_label, codename, name)`` permissions.
    """
    if models is None:
        from keel.db import Model

        models = [
            m.class_
            for m in Model.registry.mappers
            if not m.class_.__module__.startswith("keel.auth")
        ]
    wanted: dict[tuple[str, str], str] = {}
    for model in models:
        for app, codename, title in model_permissions(model):
            wanted.setdefault((app, codename), title)
    for app, codename, title in custom:
        wanted.setdefault((app, codename), title)
    rows = await session.execute(select(Permission.app_label, Permission.codename))
    existing = {(app, code) for app, code in rows}
    created = []
    for (app, codename), title in sorted(wanted.items()):
        if (app, codename) not in existing:
            session.add(Permission(app_label=app, codename=codename, name=title))
            created.append(f"{app}.{codename}")
    await session.flush()
    return created


async def grant(session: AsyncSession, target: AbstractUser | Group, *permissions: str) -> None:
    """Give a user or a group permissions by full name (``"shop.change_item"``).

    Raises:
        LookupError: a permission does not exist (run ``sync_permissions`` first).
    """
    table = user_permissions if not isinstance(target, Group) else group_permissions
    owner = "user_id" if table is user_permissions else "group_id"
    for full in permissions:
        app, _, codename = full.partition(".")
        permission_id = await session.scalar(
            select(Permission.id).where(
                Permission.app_label == app, Permission.codename == codename
            )
        )
        if permission_id is None:
            raise LookupError(f"no permission {full!r}: run sync_permissions() or create it")
        present = await session.scalar(
            select(table.c.permission_id).where(
                table.c[owner] == target.id, table.c.permission_id == permission_id
            )
        )
        if present is None:
            await session.execute(
                table.insert().values({owner: target.id, "permission_id": permission_id})
            )


async def add_to_group(session: AsyncSession, user: AbstractUser, group: Group) -> None:
    """Make ``user`` a member of ``group`` (no-op when it is one already)."""
    present = await session.scalar(
        select(user_groups.c.group_id).where(
            user_groups.c.user_id == user.id, user_groups.c.group_id == group.id
        )
    )
    if present is None:
        await session.execute(user_groups.insert().values(user_id=user.id, group_id=group.id))
