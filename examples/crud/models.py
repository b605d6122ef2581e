"""The example's models: one author has many books."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from keel.db import IntPK, Model, Timestamps, Versioned


class Genre(enum.Enum):
    """What kind of book."""

    novel = "novel"
    poetry = "poetry"
    essay = "essay"
    other = "other"


class Author(IntPK, Timestamps, Model):
    """A writer."""

    __tablename__ = "authors"

    name: Mapped[str] = mapped_column(String(100), unique=True, comment="Full name, unique")
    bio: Mapped[str | None] = mapped_column(Text, comment="A short biography")
    books: Mapped[list[Book]] = relationship(
        back_populates="author", order_by="Book.id", passive_deletes="all"
    )


class Book(IntPK, Timestamps, Versioned, Model):
    """A book by one author."""

    __tablename__ = "books"
    __table_args__ = (
        CheckConstraint("year BETWEEN -3000 AND 3000", name="year_range"),
        CheckConstraint("pages >= 1", name="pages_positive"),
    )

    title: Mapped[str] = mapped_column(String(200), index=True)
    year: Mapped[int | None] = mapped_column(comment="Year of first publication")
    pages: Mapped[int | None]
    genre: Mapped[Genre] = mapped_column(default=Genre.novel)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)
    author: Mapped[Author] = relationship(back_populates="books")
