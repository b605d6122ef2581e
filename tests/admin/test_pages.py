"""The admin's pages for a superuser: index, change list, add, change, delete, history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from keel.admin import LogEntry
from keel.db.testing import TestSession
from keel.testing import TestClient
from tests.admin.blog import Blogger, Post, Reply, Status
from tests.admin.conftest import token_of

HTML = {"Accept": "text/html"}


def seed(db_session: TestSession, posts: int = 3) -> tuple[Blogger, list[Post]]:
    ada = Blogger(name="Ada Lovelace", email="ada@example.com", website="https://ada.example")
    bob = Blogger(name="Bob Byte")
    db_session.add_all([ada, bob])
    db_session.flush()
    made = []
    for i in range(posts):
        made.append(
            Post(
                title=f"Post {i:02d}",
                blogger_id=ada.id if i % 2 == 0 else bob.id,
                status=Status.PUBLISHED if i % 3 == 0 else Status.DRAFT,
                views=i,
                published_at=dt.datetime(2024, 1 + i % 12, 1 + i % 28, 12, tzinfo=dt.UTC),
            )
        )
    db_session.add_all(made)
    db_session.flush()
    return ada, made


def titles(page: str) -> list[str]:
    import re

    return re.findall(r'/change">(Post \d+)</a>', page)


def test_index_groups_models_with_counts(staff: TestClient, db_session: TestSession) -> None:
    seed(db_session, 3)
    page = staff.get("/admin", headers=HTML)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = page.text
    assert '<h2 id="app-blog">Blog</h2>' in text
    assert 'href="/admin/blog/post">Posts</a>' in text
    assert '<td class="count">3</td>' in text and '<td class="count">2</td>' in text
    assert 'href="/admin/blog/blogger/add">Add</a>' in text
    assert "/admin/static/admin.css" in text and "/admin/static/admin.js" in text


def test_static_files_are_served_by_keel(staff: TestClient) -> None:
    css = staff.get("/admin/static/admin.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "http" not in css.text  # no CDN, no external font
    script = staff.get("/admin/static/admin.js")
    assert script.status_code == 200 and "fetch(" in script.text


def test_change_list_search_filter_sort_and_pages(
    staff: TestClient, db_session: TestSession
) -> None:
    seed(db_session, 45)
    first = staff.get("/admin/blog/post", headers=HTML).text
    assert titles(first)[:2] == ["Post 44", "Post 43"]  # newest first by default
    assert len(titles(first)) == 20  # list_per_page
    assert '<span class="this-page" aria-current="page">1</span>' in first
    assert 'href="?p=3">3</a>' in first
    third = staff.get("/admin/blog/post?p=3", headers=HTML).text
    assert titles(third) == ["Post 04", "Post 03", "Post 02", "Post 01", "Post 00"]

    by_title = staff.get("/admin/blog/post?o=title", headers=HTML).text
    assert titles(by_title)[:2] == ["Post 00", "Post 01"]
    assert 'aria-sort="ascending"' in by_title
    assert 'href="?o=-title"' in by_title  # the heading flips the order
    by_loud = staff.get("/admin/blog/post?o=-shout", headers=HTML).text  # a method's ordering
    assert titles(by_loud)[0] == "Post 44"

    found = staff.get("/admin/blog/post?q=post+07", headers=HTML).text
    assert titles(found) == ["Post 07"]
    assert "1 result" in found and "45 total" in found
    by_blogger = staff.get("/admin/blog/post?q=bob", headers=HTML).text  # blogger__name
    assert len(titles(by_blogger)) == 20 and all(int(t[-2:]) % 2 for t in titles(by_blogger))

    drafts = staff.get("/admin/blog/post?status=draft&o=title", headers=HTML).text
    assert titles(drafts)[:3] == ["Post 01", "Post 02", "Post 04"]
    assert '<li class="selected"><a href="?o=title" aria-current="true">All</a>' not in drafts
    assert 'aria-current="true">Draft</a>' in drafts


def test_date_hierarchy_drills_down(staff: TestClient, db_session: TestSession) -> None:
    seed(db_session, 14)
    top = staff.get("/admin/blog/post", headers=HTML).text
    assert 'href="?published_at__year=2024">2024</a>' in top
    year = staff.get("/admin/blog/post?published_at__year=2024", headers=HTML).text
    assert "February 2024" in year and "December 2024" in year
    month = staff.get(
        "/admin/blog/post?published_at__year=2024&published_at__month=2", headers=HTML
    ).text
    assert titles(month) == ["Post 13", "Post 01"]
    day = staff.get(
        "/admin/blog/post?published_at__year=2024&published_at__month=2&published_at__day=2",
        headers=HTML,
    ).text
    assert titles(day) == ["Post 01"]


def test_add_with_a_validation_error_then_success(
    staff: TestClient, db_session: TestSession
) -> None:
    ada, _ = seed(db_session, 0)
    form = staff.get("/admin/blog/post/add", headers=HTML).text
    assert 'name="title"' in form and 'maxlength="200"' in form
    assert 'data-autocomplete="/admin/blog/blogger/autocomplete"' in form  # autocomplete_fields
    assert '<option value="draft" selected>Draft</option>' in form  # enum default
    assert 'name="views"' not in form  # read-only
    assert 'name="version"' not in form  # set by the server
    assert "reply_set-TOTAL" in form  # the inline
    token = token_of(form)
    bad = staff.post(
        "/admin/blog/post/add",
        data={"title": "", "blogger_id": "999", "status": "draft", "csrf_token": token},
        headers=HTML,
    )
    assert bad.status_code == 422
    assert "This field is required." in bad.text
    assert "There is no Blogger 999." in bad.text
    assert 'aria-invalid="true"' in bad.text
    good = staff.post(
        "/admin/blog/post/add",
        data={
            "title": "Fresh",
            "slug": "fresh",
            "blogger_id": str(ada.id),
            "status": "published",
            "reply_set-TOTAL": "1",
            "reply_set-0-text": "First!",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert good.status_code == 303 and good.headers["location"] == "/admin/blog/post"
    post = db_session.run(_one(db_session, select(Post).where(Post.title == "Fresh")))
    assert post.status is Status.PUBLISHED and post.version == 1
    replies = db_session.run(_all(db_session, select(Reply.text)))
    assert replies == ["First!"]
    listing = staff.get("/admin/blog/post", headers=HTML).text
    assert "The post “Fresh” was added." in listing
    entry = db_session.run(_one(db_session, select(LogEntry)))
    assert entry.action == "add" and entry.object_repr == "Fresh"
    assert {"field": "title", "old": None, "new": "Fresh"} in entry.changes


async def _one(db_session: TestSession, statement: Any) -> Any:
    return (await db_session.session.scalars(statement)).one()


async def _all(db_session: TestSession, statement: Any) -> list[Any]:
    return list(await db_session.session.scalars(statement))


def test_edit_records_old_and_new_values_in_history(
    staff: TestClient, db_session: TestSession
) -> None:
    ada, (post, *_) = seed(db_session, 1)
    url = f"/admin/blog/post/{post.id}/change"
    form = staff.get(url, headers=HTML).text
    assert 'value="Post 00"' in form and "Ada Lovelace" in form  # the blogger's name
    assert 'name="_original"' in form
    original = _original(form)
    saved = staff.post(
        url,
        data={
            "title": "Renamed",
            "slug": "renamed",
            "blogger_id": str(ada.id),
            "status": "draft",
            "_original": original,
            "_continue": "1",
            "reply_set-TOTAL": "1",
            "reply_set-0-text": "Inline child",
            "csrf_token": token_of(form),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == url
    history = staff.get(f"/admin/blog/post/{post.id}/history", headers=HTML).text
    assert "Change" in history and "root@example.com" in history
    assert '<th scope="row">title</th><td>Post 00</td><td>Renamed</td>' in history
    assert '<th scope="row">status</th><td>published</td><td>draft</td>' in history
    assert "new reply: text" in history and "Inline child" in history
    again = staff.get(url, headers=HTML).text
    assert 'value="Inline child"' in again and "reply_set-0-DELETE" in again


def _original(page: str) -> str:
    import html
    import re

    found = re.search(r'name="_original" value="([^"]*)"', page)
    assert found is not None
    return html.unescape(found.group(1))


def test_delete_lists_cascades_and_protected_objects(
    staff: TestClient, db_session: TestSession
) -> None:
    ada, (post, *_) = seed(db_session, 3)
    db_session.add(Reply(post_id=post.id, text="Nice <b>post</b>"))
    db_session.flush()
    page = staff.get(f"/admin/blog/post/{post.id}/delete", headers=HTML).text
    assert "<strong>1 reply</strong> will be deleted: Nice" in page
    assert "Nice &lt;b&gt;post&lt;/b&gt;" in page
    blocked = staff.get(f"/admin/blog/blogger/{ada.id}/delete", headers=HTML).text
    assert "cannot be deleted" in blocked and "block the delete" in blocked
    assert "Yes, delete it" not in blocked
    done = staff.post(
        f"/admin/blog/post/{post.id}/delete",
        data={"csrf_token": token_of(page)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert db_session.run(_all(db_session, select(Reply))) == []
    entry = db_session.run(_one(db_session, select(LogEntry)))
    assert entry.action == "delete"
    assert {"field": "title", "old": "Post 00", "new": None} in entry.changes
    refused = staff.post(
        f"/admin/blog/blogger/{ada.id}/delete", data={"csrf_token": token_of(page)}, headers=HTML
    )
    assert refused.status_code == 200 and "cannot be deleted" in refused.text
    assert db_session.run(_all(db_session, select(Blogger.name))) == ["Ada Lovelace", "Bob Byte"]


def test_bulk_delete_asks_first(staff: TestClient, db_session: TestSession) -> None:
    _, posts = seed(db_session, 4)
    listing = staff.get("/admin/blog/post", headers=HTML).text
    token = token_of(listing)
    chosen = [str(posts[0].id), str(posts[1].id)]
    confirm = staff.post(
        "/admin/blog/post",
        data={"action": "delete_selected", "_selected": chosen, "csrf_token": token},
        headers=HTML,
    )
    assert confirm.status_code == 200 and "Delete 2 posts" in confirm.text
    assert "<li>Post 00</li>" in confirm.text
    assert len(db_session.run(_all(db_session, select(Post)))) == 4  # nothing yet
    done = staff.post(
        "/admin/blog/post",
        data={
            "action": "delete_selected",
            "post": "yes",
            "_selected": chosen,
            "csrf_token": token_of(confirm.text),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    left = db_session.run(_all(db_session, select(Post.title).order_by(Post.title)))
    assert left == ["Post 02", "Post 03"]
    assert "Deleted 2 posts." in staff.get("/admin/blog/post", headers=HTML).text
    assert len(db_session.run(_all(db_session, select(LogEntry)))) == 2


def test_custom_action(staff: TestClient, db_session: TestSession) -> None:
    _, posts = seed(db_session, 3)
    listing = staff.get("/admin/blog/post", headers=HTML).text
    assert '<option value="publish">Publish the selected posts</option>' in listing
    done = staff.post(
        "/admin/blog/post?status=draft",
        data={
            "action": "publish",
            "_selected": [str(posts[1].id)],
            "csrf_token": token_of(listing),
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == "/admin/blog/post?status=draft"
    db_session.refresh(posts[1])
    assert posts[1].status is Status.PUBLISHED


def test_autocomplete(staff: TestClient, db_session: TestSession) -> None:
    seed(db_session, 0)
    found = staff.get("/admin/blog/blogger/autocomplete?term=ada").json()
    assert [r["text"] for r in found["results"]] == ["Ada Lovelace"]
    assert len(staff.get("/admin/blog/blogger/autocomplete").json()["results"]) == 2


def test_a_model_without_options(staff: TestClient, db_session: TestSession) -> None:
    _, (post, *_) = seed(db_session, 1)
    db_session.add(Reply(post_id=post.id, text="plain"))
    db_session.flush()
    listing = staff.get("/admin/blog/reply", headers=HTML).text
    assert ">plain<" in listing  # no __str__: a name-like column
    form = staff.get("/admin/blog/reply/add", headers=HTML).text
    assert "<select" in form and "Post 00</option>" in form  # a small FK target: a select
