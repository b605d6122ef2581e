"""A staff member walks through the admin in Debian's chromium (Playwright), on a real
uvicorn socket; a view-only member sees no add or delete buttons and a forged POST fails.

Screenshots of the change list and the change form are written to ``.artifacts/admin/``
(``KEEL_TEST_ARTIFACTS`` moves it; the folder is ignored by git). Skipped when chromium or
Playwright is absent, unless KEEL_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keel.auth import create_user, grant, sync_permissions
from keel.db import Database
from keel.server import uvicorn_options
from tests.admin import blog
from tests.live import CHROMIUM, chromium, guarded_page, running, url_of
from tests.services import import_or_require, require

PASSWORD = "correct-horse-battery"
ARTIFACTS = Path(os.environ.get("KEEL_TEST_ARTIFACTS", ".artifacts")) / "admin"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        require("/usr/bin/chromium is missing: apt-get install chromium")
    sync_api = import_or_require("playwright.sync_api", "pip install playwright (or keel[dev])")
    with chromium(sync_api) as browser:
        yield browser


async def prepare(url: str) -> None:
    async with Database(url) as database:
        await database.create_all()
        async with database.session() as session:
            await create_user(
                session,
                email="staff@example.com",
                password=PASSWORD,
                is_staff=True,
                is_superuser=True,
            )
            viewer: Any = await create_user(
                session, email="viewer@example.com", password=PASSWORD, is_staff=True
            )
            await sync_permissions(session, [blog.Blogger, blog.Post, blog.Reply])
            await grant(session, viewer, "blog.view_post", "blog.view_blogger")
            ada = blog.Blogger(name="Ada Lovelace", website="https://ada.example")
            grace = blog.Blogger(name="Grace Hopper")
            session.add_all([ada, grace])
            await session.flush()
            session.add_all(
                blog.Post(
                    title=f"Post {i:02d}",
                    blogger_id=(ada if i % 2 else grace).id,
                    status=blog.Status.PUBLISHED if i % 3 == 0 else blog.Status.DRAFT,
                    views=i * 10,
                    published_at=dt.datetime(2025, 1 + i % 12, 1 + i, 9, tzinfo=dt.UTC),
                )
                for i in range(12)
            )


def log_in(page: Any, origin: str, email: str) -> None:
    page.goto(origin + "/admin")
    page.wait_for_url(re.compile(r"/admin/login\?next="))
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(origin + "/admin")


def test_a_staff_member_walks_through_the_admin(browser: Any, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'blog.db'}"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright owns this thread's loop
        pool.submit(asyncio.run, prepare(url)).result()
    app, _ = blog.make_app(url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running(app, name="uvicorn-admin", **uvicorn_options()) as server:
        origin = url_of(server)
        with guarded_page(browser, origin) as page:
            page.set_viewport_size({"width": 1280, "height": 900})
            log_in(page, origin, "staff@example.com")
            assert page.text_content("h1") == "Site administration"
            page.click("text=Posts")
            page.wait_for_url(origin + "/admin/blog/post")
            assert page.locator("table.results tbody tr").count() == 12
            # search, filter, sort
            page.fill("#searchbar", "Post 1")
            page.press("#searchbar", "Enter")
            page.wait_for_url(re.compile(r"q=Post\+1"))
            assert page.locator("table.results tbody tr").count() == 3  # 01, 10, 11
            page.click(".filters >> text=Draft")
            page.wait_for_url(re.compile(r"status=draft"))
            page.click("thead >> text=Title")
            page.wait_for_url(re.compile(r"o=title"))
            rows = page.locator("table.results tbody th a").all_text_contents()
            assert rows == ["Post 01", "Post 10", "Post 11"]
            page.goto(origin + "/admin/blog/post")
            page.screenshot(path=str(ARTIFACTS / "change_list.png"), full_page=True)
            # add: a validation error, then success
            page.click("a.addlink")
            page.wait_for_url(origin + "/admin/blog/post/add")
            page.fill("#id_title", "Hello <b>World</b>")
            assert page.input_value("#id_slug") == "hello-b-world-b"  # prepopulated
            page.click("button[name=_save]")
            assert "This field is required." in page.text_content("#id_blogger_id_errors")
            page.fill("#id_blogger_id_search", "Ada")
            page.wait_for_selector(".suggestions li")
            page.keyboard.press("ArrowDown")
            page.keyboard.press("Enter")
            assert page.input_value("#id_blogger_id") != ""
            page.click("button[name=_save]")
            page.wait_for_url(origin + "/admin/blog/post")
            assert "was added" in page.text_content(".messages")
            # edit, with an inline child
            page.click("table.results >> text=Hello <b>World</b>")
            page.fill("#id_title", "Hello again")
            page.fill("#id_reply_set-0-text", "A first reply")
            page.click("button[name=_continue]")
            page.wait_for_url(re.compile(r"/change$"))
            assert "was changed" in page.text_content(".messages")
            assert page.input_value("#id_reply_set-0-text") == "A first reply"
            page.screenshot(path=str(ARTIFACTS / "change_form.png"), full_page=True)
            # history
            page.click("text=History")
            history = page.text_content("table.history")
            assert "Hello <b>World</b>" in history and "Hello again" in history
            assert "A first reply" in history
            # bulk delete with a confirmation
            page.goto(origin + "/admin/blog/post?o=title")
            page.check("input[name=_selected][value='1']")
            page.check("input[name=_selected][value='2']")
            assert page.text_content(".selected-count") == "2 of 13 selected"
            page.select_option("#action", "delete_selected")
            page.click("text=Go")
            assert page.text_content("h1") == "Delete 2 posts"
            page.click("text=Yes, delete them")
            page.wait_for_url(re.compile(r"/admin/blog/post\?o=title$"))
            assert "Deleted 2 posts." in page.text_content(".messages")
            assert page.locator("table.results tbody tr").count() == 11
            assert [e for e in page.errors if "Failed to load resource" not in e] == []

        with guarded_page(browser, origin) as page:
            log_in(page, origin, "viewer@example.com")
            page.goto(origin + "/admin/blog/post")
            assert page.locator("text=Add post").count() == 0
            assert page.locator("input[name=_selected]").count() == 0
            page.click("table.results tbody th a >> nth=0")
            assert page.locator("text=Delete").count() == 0
            assert page.locator("button[name=_save]").count() == 0
            token = page.evaluate(
                "fetch('/admin').then(r => r.text())"
                '.then(t => t.match(/name="csrf_token" value="([^"]+)"/)[1])'
            )
            status = page.evaluate(
                """token => fetch('/admin/blog/post', {
                    method: 'POST',
                    headers: {
                        'Content-Type': 'application/x-www-form-urlencoded',
                        'Accept': 'application/json',
                    },
                    body: 'action=delete_selected&post=yes&_selected=3&csrf_token='
                        + encodeURIComponent(token),
                }).then(r => r.status)""",
                token,
            )
            assert status == 403
            page.goto(origin + "/admin/blog/post")
            assert page.locator("table.results tbody tr").count() == 11
