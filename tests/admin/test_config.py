"""Registering models: mistakes in the options are found at startup, templates override."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keel import App, Settings
from keel.admin import Admin, ModelAdmin, TabularInline, action
from keel.auth import Auth
from keel.db import Database
from keel.testing import TestClient
from tests.admin.blog import SECRET, Blogger, Post, Reply


def site() -> Admin:
    return Admin(App(settings=Settings(secret_key=SECRET)), path="/admin")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"list_display": ["nope"]},
            "list_display: Post has no column, relationship or method 'nope'",
        ),
        ({"list_filter": ["nope"]}, "list_filter: Post has no column 'nope'"),
        ({"search_fields": ["blogger__nope"]}, "search_fields: Post has no field 'blogger__nope'"),
        ({"ordering": ["-nope"]}, "cannot sort Post by '-nope'"),
        ({"date_hierarchy": "title"}, "date_hierarchy: 'title' is not a date column"),
        ({"fields": ["title", "nope"]}, "Post has no column 'nope'"),
        ({"readonly_fields": ["nope"]}, "Post has no column 'nope'"),
        ({"prepopulated_fields": {"slug": ["nope"]}}, "prepopulated_fields"),
        ({"actions": ["save_model"]}, "mark 'save_model' with @action"),
    ],
)
def test_mistakes_are_errors_at_registration(options: dict[str, Any], message: str) -> None:
    custom = type("BadAdmin", (ModelAdmin,), options)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        site().register(Post, custom)


def test_register_forms() -> None:
    admin = site()

    class BloggerAdmin(ModelAdmin[Blogger]):
        search_fields = ["name"]

    registered = admin.register(BloggerAdmin)
    assert registered.model is Blogger
    with pytest.raises(ValueError, match="registered in this admin already"):
        admin.register(Blogger)
    with pytest.raises(TypeError, match="names no model"):
        admin.register(ModelAdmin)

    class Orphans(TabularInline[Blogger]):
        pass

    class WithBadInline(ModelAdmin[Post]):
        inlines = [Orphans]

    with pytest.raises(ValueError, match="needs exactly one foreign key to Post"):
        admin.register(WithBadInline)


def test_actions_need_the_marker() -> None:
    class Fine(ModelAdmin[Reply]):
        actions = ["approve"]

        @action(description="Approve", permission="change")
        async def approve(self, request: Any, session: Any, objects: list[Any]) -> None:
            return None

    site().register(Fine)


def test_the_admin_needs_keel_auth(tmp_path: Path) -> None:
    app = App(settings=Settings(secret_key=SECRET))
    Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}").init_app(app)
    Admin(app)
    with pytest.raises(RuntimeError, match="call Auth"), TestClient(app):
        pass


def test_a_bad_path_is_refused() -> None:
    with pytest.raises(ValueError, match="does not end with"):
        Admin(App(), path="/admin/")


def test_project_templates_override_keel_s(tmp_path: Path) -> None:
    folder = tmp_path / "templates" / "admin" / "blog" / "blogger"
    folder.mkdir(parents=True)
    (folder / "change_list.html").write_text(
        '{% extends "admin/change_list.html" %}{% block title %}Our writers{% endblock %}'
    )
    (tmp_path / "templates" / "admin" / "login.html").write_text("custom login {{ next }}")
    app = App(settings=Settings(secret_key=SECRET))
    Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}").init_app(app)
    Auth(secret_key=SECRET).init_app(app)
    admin = Admin(app, templates=tmp_path / "templates")
    admin.register(Blogger)
    with TestClient(app) as client:
        assert client.get("/admin/login?next=/admin").text == "custom login /admin"
    found = admin.templates.env.select_template(["admin/blog/blogger/change_list.html"])
    assert str(found.filename).startswith(str(tmp_path))
