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


class Blogger(IntPK, Timestamps, Model):
    __tablename__ = "blog_bloggers"
    __app_label__ = "blog"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    website: Mapped[str | None] = mapped_column(String(200), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    born: Mapped[dt.date | None] = mapped_column(default=None)

    def __str__(self) -> str:
        return self.name


class Post(IntPK, Versioned, Model):
    __tablename__ = "blog_posts"
    __app_label__ = "blog"

    title: Mapped[str] = mapped_column(String(200), index=True)
    slug: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[Status] = mapped_column(default=Status.DRAFT)
    views: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    blogger_id: Mapped[int] = mapped_column(ForeignKey("blog_bloggers.id"), index=True)
    blogger: Mapped[Blogger] = relationship()

    def __str__(self) -> str:
        return self.title


class Reply(IntPK, Model):
    __tablename__ = "blog_replies"
    __app_label__ = "blog"

    post_id: Mapped[int] = mapped_column(
        ForeignKey("blog_posts.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(String(500))
    approved: Mapped[bool] = mapped_column(default=False)


class ReplyInline(TabularInline[Reply]):
    extra = 1


class PostAdmin(ModelAdmin[Post]):
    list_display = ["title", "blogger", "status", "views", "published_at", "shout"]
    list_filter = ["status", "blogger_id", "published_at"]
    search_fields = ["title", "blogger__name"]
    date_hierarchy = "published_at"
    autocomplete_fields = ["blogger_id"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["views"]
    inlines = [ReplyInline]
    actions = ["publish"]
    list_per_page = 20

    @display(description="Loud title", ordering="title")
    def shout(self, post: Post) -> str:
        return post.title.upper()

    @action(description="Publish the selected posts")
    async def publish(self, request: Request, session: AsyncSession, objects: list[Any]) -> str:
        for post in objects:
            post.status = Status.PUBLISHED
        return f"Published {len(objects)} posts."


class BloggerAdmin(ModelAdmin[Blogger]):
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
    admin.register(Blogger, BloggerAdmin)
    admin.register(PostAdmin)
    admin.register(Reply)
    return app, admin
