"""SQLAlchemy 2 models and the async engine used by the async apps (db, fortunes and writes
scenarios; Flask uses the same models through a sync engine)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.apps.shared import DB_PATH


class Base(DeclarativeBase):
    pass


class World(Base):
    __tablename__ = "world"

    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]


class Fortune(Base):
    __tablename__ = "fortune"

    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str]


class Note(Base):
    """A row the `writes` scenario inserts (the runner empties the table before each load)."""

    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    author: Mapped[str]
    text: Mapped[str]


def make_engine() -> AsyncEngine:
    return create_async_engine(f"sqlite+aiosqlite:///{DB_PATH}")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
