"""keel.admin: the admin pages of an app, generated from its keel.db models.

Example:
    from keel.admin import Admin, ModelAdmin

    admin = Admin(app, path="/admin")   # after db.init_app(app) and Auth().init_app(app)
    admin.register(Author)

    class ArticleAdmin(ModelAdmin[Article]):
        list_display = ["title", "author", "published_at"]
        search_fields = ["title"]

    admin.register(Article, ArticleAdmin)

Only active staff users log in (keel.auth sessions); model permissions decide what each
one sees and may do, checked on the server for every page and form. ``import keel`` never
imports this package.
"""

from __future__ import annotations

from keel.admin.models import LogEntry
from keel.admin.options import (
    Action,
    InlineModelAdmin,
    ModelAdmin,
    StackedInline,
    TabularInline,
    action,
    display,
)
from keel.admin.site import Admin, AdminContext

__all__ = [
    "Action",
    "Admin",
    "AdminContext",
    "InlineModelAdmin",
    "LogEntry",
    "ModelAdmin",
    "StackedInline",
    "TabularInline",
    "action",
    "display",
]
