"""``keel createsuperuser``, ``keel changepassword`` and ``keel token ...``.

Loaded by the core CLI from ``keel.cli`` entry points. Each command finds the app like
every keel command (``--app module:app``, ``KEEL_APP`` or ``[tool.keel] app``) and uses its
``Database`` and ``Auth``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keel.auth.config import Auth, current_auth
from keel.auth.models import APIToken
from keel.auth.passwords import PasswordError, validate_password
from keel.auth.tokens import create_token, revoke_token_id
from keel.auth.users import InvalidIdentifier, create_user, find_user, set_password
from keel.cli import AppLoadError, find_target, load_target
from keel.db.database import Database

__all__ = [
    "PASSWORD_ENV",
    "changepassword",
    "createsuperuser",
    "token",
    "token_create",
    "token_list",
    "token_revoke",
]

T = TypeVar("T")

PASSWORD_ENV = "KEEL_SUPERUSER_PASSWORD"
_HOW = (
    "pass --app module:app, set KEEL_APP=module:app, or add "
    '[tool.keel] app = "module:app" to pyproject.toml'
)

_app_option = click.option(
    "--app", "app", metavar="MODULE:ATTR", help="The app; default: KEEL_APP or [tool.keel] app."
)


def _load(target: str | None) -> tuple[Database, Auth]:
    where = find_target(target, hint=_HOW)
    obj = load_target(where)
    state = getattr(obj, "state", None)
    database = getattr(state, "database", None)
    if not isinstance(database, Database):
        raise AppLoadError(f"{where} has no keel.db Database: call db.init_app(app)")
    auth = getattr(state, "auth", None)
    if not isinstance(auth, Auth):
        auth = current_auth() or Auth()
    return database, auth


def _run(database: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def main() -> T:
        async with database, database.session() as session:
            return await work(session)

    return asyncio.run(main())


def _ask_password(auth: Auth, context: list[str]) -> str:
    while True:
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Password (again)")
        try:
            validate_password(password, context, auth.password_validators)
        except PasswordError as exc:
            click.echo("\n".join(exc.problems), err=True)
            if click.confirm("Use this password anyway?", default=False):
                return str(password)
            continue
        return str(password)


@click.command()
@_app_option
@click.option("--email", help="The superuser's email.")
@click.option("--username", help="The superuser's username (optional).")
@click.option(
    "--no-input",
    is_flag=True,
    help=f"Ask nothing: the password comes from {PASSWORD_ENV}.",
)
def createsuperuser(
    app: str | None, email: str | None, username: str | None, no_input: bool
) -> None:
    """Create a superuser (staff, every permission)."""
    database, auth = _load(app)
    if no_input:
        if not email and not username:
            raise click.UsageError("--no-input needs --email (or --username)")
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            raise click.UsageError(f"--no-input reads the password from {PASSWORD_ENV}: set it")
    else:
        if not email:
            email = click.prompt("Email")
        password = _ask_password(auth, [v for v in (email, username) if v])

    async def work(session: AsyncSession) -> str:
        for identifier in (email, username):
            if identifier and await find_user(session, identifier) is not None:
                raise click.ClickException(f"a user {identifier!r} exists already")
        user = await create_user(
            session,
            email=email,
            username=username,
            password=password,
            is_superuser=True,
            validate=no_input,
            validators=auth.password_validators,
            model=auth.users,
        )
        return user.identifier

    try:
        created = _run(database, work)
    except (InvalidIdentifier, PasswordError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Superuser {created} created.")


@click.command()
@_app_option
@click.argument("identifier")
def changepassword(app: str | None, identifier: str) -> None:
    """Set a new password for the user with this email or username (revokes its tokens)."""
    database, auth = _load(app)

    async def lookup(session: AsyncSession) -> list[str] | None:
        user = await find_user(session, identifier)
        return None if user is None else [v for v in (user.email, user.username) if v]

    context = _run(database, lookup)
    if context is None:
        raise click.ClickException(f"no user {identifier!r}")
    password = _ask_password(auth, context)

    async def change(session: AsyncSession) -> None:
        user = await find_user(session, identifier)
        assert user is not None
        await set_password(session, user, password, validate=False)

    _run(database, change)
    click.echo(f"Password changed for {identifier}; its tokens are revoked.")


@click.group()
def token() -> None:
    """API tokens: create, list, revoke."""


@token.command("create")
@_app_option
@click.argument("identifier")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option("--scope", "scopes", multiple=True, help="A scope it grants (repeat); none: all.")
@click.option(
    "--expires-days", type=click.IntRange(min=1), help="Lifetime in days (default: none)."
)
def token_create(
    app: str | None, identifier: str, name: str, scopes: tuple[str, ...], expires_days: int | None
) -> None:
    """Create an API token for a user and print it (it is shown only once)."""
    database, _ = _load(app)

    async def work(session: AsyncSession) -> tuple[int, str]:
        user = await find_user(session, identifier)
        if user is None:
            raise click.ClickException(f"no user {identifier!r}")
        expires = dt.timedelta(days=expires_days) if expires_days else None
        issued = await create_token(session, user, name=name, scopes=scopes, expires_in=expires)
        return issued.record.id, issued.token

    token_id, value = _run(database, work)
    click.echo(f"Token {token_id} for {identifier} (shown once, store it now):")
    click.echo(value)


@token.command("list")
@_app_option
@click.argument("identifier")
def token_list(app: str | None, identifier: str) -> None:
    """List a user's tokens: id, name, scopes, expiry, last use, revoked."""
    database, _ = _load(app)

    async def work(session: AsyncSession) -> list[APIToken]:
        user = await find_user(session, identifier)
        if user is None:
            raise click.ClickException(f"no user {identifier!r}")
        rows = await session.scalars(
            select(APIToken).where(APIToken.user_id == user.id).order_by(APIToken.id)
        )
        return list(rows)

    for record in _run(database, work):
        state = "revoked" if record.revoked_at else "active"
        click.echo(
            f"{record.id}\t{record.name}\t{record.scopes or '*'}\t"
            f"expires={_when(record.expires_at)}\tlast_used={_when(record.last_used_at)}\t{state}"
        )


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


@token.command("revoke")
@_app_option
@click.argument("token_id", type=int)
def token_revoke(app: str | None, token_id: int) -> None:
    """Revoke the token with this id (see ``keel token list``)."""
    database, _ = _load(app)

    async def work(session: AsyncSession) -> bool:
        return await revoke_token_id(session, token_id)

    if not _run(database, work):
        raise click.ClickException(f"no active token {token_id}")
    click.echo(f"Token {token_id} revoked.")
