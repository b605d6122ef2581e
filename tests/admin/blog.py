"""The models and admin configuration the keel.admin tests run against."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship

from keel import App, Settings
from keel.admin import Admin, ModelAdmin, TabularInline, action, display
from keel.auth import Auth, MemoryMail
from keel.db import Database, IntPK, Model, Timestamps, Versioned
from keel.requests import Request


class Status(enum.Enum):
    DRAFT = "draft"
    PUBLISHED = "published"


class Author(IntPK, Timestamps, Model):
    __tablename__ = "blog_authors"
    __app_label__ = "blog"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    website: Mapped[str | None] = mapped_column(String(200), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    born: Mapped[dt.date | None] = mapped_column(default=None)

    def __str__(self) -> str:
        return self.name


class Article(IntPK, Versioned, Model):
    __tablename__ = "blog_articles"
    __app_label__ = "blog"

    title: Mapped[str] = mapped_column(String(200), index=True)
    slug: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[Status] = mapped_column(default=Status.DRAFT)
    views: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("blog_authors.id"), index=True)
    author: Mapped[Author] = relationship()

    def __str__(self) -> str:
        return self.title


class Comment(IntPK, Model):
    __tablename__ = "blog_comments"
    __app_label__ = "blog"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("blog_articles.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(String(500))
    approved: Mapped[bool] = mapped_column(default=False)


class CommentInline(TabularInline[Comment]):
    extra = 1


class ArticleAdmin(ModelAdmin[Article]):
    list_display = ["title", "author", "status", "views", "published_at", "shout"]
    list_filter = ["status", "author_id", "published_at"]
    search_fields = ["title", "author__name"]
    date_hierarchy = "published_at"
    autocomplete_fields = ["author_id"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["views"]
    inlines = [CommentInline]
    actions = ["publish"]
    list_per_page = 20

    @display(description="Loud title", ordering="title")
    def shout(self, article: Article) -> str:
        return article.title.upper()

    @action(description="Publish the selected articles")
    async def publish(self, request: Request, session: AsyncSession, objects: list[Any]) -> str:
        for article in objects:
            article.status = Status.PUBLISHED
        return f"Published {len(objects)} articles."


class AuthorAdmin(ModelAdmin[Author]):
    list_display = ["name", "email", "website", "active", "born"]
    list_filter = ["active"]
    search_fields = ["name", "email"]
    ordering = ["name"]


SECRET = "admin-tests-secret-" + "x" * 40


def make_app(url: str, *, create_tables: bool = False) -> tuple[App, Admin]:
    """The blog with its admin at /admin, on the database ``url``."""
    app = App(settings=Settings(secret_key=SECRET))
    database = Database(url)
    database.init_app(app)
    if create_tables:
        app.on_startup(database.create_all)
    Auth(secret_key=SECRET, mail=MemoryMail()).init_app(app)
    admin = Admin(app, path="/admin")
    admin.register(Author, AuthorAdmin)
    admin.register(ArticleAdmin)
    admin.register(Comment)
    return app, admin
