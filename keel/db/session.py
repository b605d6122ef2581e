"""The per-request session dependency: ``session: Session`` in a handler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Annotated

from sqlalchemy.ext.asyncio import AsyncSession

from keel import Depends, Request
from keel.db.database import Database, wrote

__all__ = ["Session", "current_session", "database_of", "get_session", "using_session"]

_current: ContextVar[AsyncSession | None] = ContextVar("keel_db_session", default=None)


def current_session() -> AsyncSession | None:
    """The session of the request (or task) being handled, if it asked for one.

    Code that must write in the same transaction as the handler (``keel.tasks`` enqueues
    jobs this way) finds it here.
    """
    return _current.get()


class using_session:  # noqa: N801 - used as a function-like context manager
    """Make ``session`` the :func:`current_session` inside a ``with`` block."""

    __slots__ = ("previous", "session")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.previous: AsyncSession | None = None

    def __enter__(self) -> AsyncSession:
        self.previous = _current.get()
        _current.set(self.session)
        return self.session

    def __exit__(self, *exc_info: object) -> None:
        _current.set(self.previous)


def database_of(app: object) -> Database:
    """The ``Database`` attached to ``app`` by ``Database.init_app``."""
    database = getattr(getattr(app, "state", None), "database", None)
    if not isinstance(database, Database):
        raise RuntimeError("no keel.db Database on this app: create one and call db.init_app(app)")
    return database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield a session for one request: commit after the handler, roll back if it raised.

    The commit happens before the response is sent, so a failing commit (a
    unique violation, say) becomes the error response instead of a lost write.
    """
    database = database_of(request.app)
    async with database.sessionmaker() as session:
        try:
            with using_session(session):
                yield session
        except BaseException:
            await session.rollback()
            raise
        if database.reads_without_transaction and not await _pending_write(session):
            return  # nothing was written: closing the session is all there is to do
        await session.commit()


async def _pending_write(session: AsyncSession) -> bool:
    """Whether committing would write anything (SQLite ``auto`` mode only)."""
    if session.new or session.dirty or session.deleted:
        return True  # the commit's flush will write
    if not session.in_transaction():
        return False
    connection = await session.connection()
    return wrote(connection.sync_connection.info if connection.sync_connection else {})


# Documented on every route that takes a Session (the OpenAPI generator reads it).
setattr(  # noqa: B010 - a plain attribute on the function
    get_session,
    "openapi_responses",
    {
        409: {
            "description": "Conflict with the stored data: a duplicate of a unique value, "
            "a row still referenced elsewhere, or an edit based on a stale version."
        },
        503: {"description": "The database is unavailable or busy; retry shortly."},
    },
)

Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
"""An ``AsyncSession`` for the request; declare ``session: Session`` in a handler."""
