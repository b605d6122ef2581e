"""Two staff members editing the same object: the second save shows a conflict."""

from __future__ import annotations

import html
import re

from keel.db.testing import TestSession
from keel.testing import TestClient
from tests.admin.blog import Blogger, Post
from tests.admin.conftest import token_of

HTML = {"Accept": "text/html"}


def original_of(page: str) -> str:
    found = re.search(r'name="_original" value="([^"]*)"', page)
    assert found is not None
    return html.unescape(found.group(1))


def test_a_stale_form_is_not_saved(staff: TestClient, db_session: TestSession) -> None:
    blogger = Blogger(name="Ada")
    db_session.add(blogger)
    db_session.flush()
    post = Post(title="First draft", blogger_id=blogger.id)
    db_session.add(post)
    db_session.flush()
    post_id, blogger_id = post.id, blogger.id
    url = f"/admin/blog/post/{post_id}/change"
    mine = staff.get(url, headers=HTML).text  # I open the form ...
    theirs = staff.get(url, headers=HTML).text  # ... and so does a colleague
    saved = staff.post(
        url,
        data={
            "title": "Their title",
            "blogger_id": str(blogger_id),
            "status": "draft",
            "_original": original_of(theirs),
            "csrf_token": token_of(theirs),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    clash = staff.post(
        url,
        data={
            "title": "My title",
            "blogger_id": str(blogger_id),
            "status": "published",
            "_original": original_of(mine),
            "csrf_token": token_of(mine),
        },
        headers=HTML,
    )
    assert clash.status_code == 409
    assert "Someone else changed this post after you opened the form." in clash.text
    assert '<th scope="row">Title</th><td>First draft</td><td>Their title</td>' in clash.text
    assert 'value="My title"' in clash.text  # my input is kept
    db_session.refresh(post)
    assert post.title == "Their title" and post.version == 2
    again = staff.post(  # saving again, knowingly, on the current version
        url,
        data={
            "title": "My title",
            "blogger_id": str(blogger_id),
            "status": "published",
            "_original": original_of(clash.text),
            "csrf_token": token_of(clash.text),
        },
        follow_redirects=False,
    )
    assert again.status_code == 303
    db_session.refresh(post)
    assert post.title == "My title" and post.version == 3


def test_a_model_without_a_version_column_is_protected_too(
    staff: TestClient, db_session: TestSession
) -> None:
    blogger = Blogger(name="Ada", email="ada@example.com")
    db_session.add(blogger)
    db_session.flush()
    blogger_id = blogger.id
    url = f"/admin/blog/blogger/{blogger_id}/change"
    mine = staff.get(url, headers=HTML).text
    blogger.email = "changed@example.com"  # someone else, meanwhile
    db_session.flush()
    clash = staff.post(
        url,
        data={
            "name": "Ada L.",
            "email": "mine@example.com",
            "active": "on",
            "_original": original_of(mine),
            "csrf_token": token_of(mine),
        },
        headers=HTML,
    )
    assert clash.status_code == 409
    assert "ada@example.com</td><td>changed@example.com" in clash.text
    db_session.refresh(blogger)
    assert blogger.name == "Ada" and blogger.email == "changed@example.com"


def test_a_form_without_its_snapshot_is_refused(staff: TestClient, db_session: TestSession) -> None:
    blogger = Blogger(name="Ada")
    db_session.add(blogger)
    db_session.flush()
    url = f"/admin/blog/blogger/{blogger.id}/change"
    page = staff.get(url, headers=HTML).text
    for original in (None, "not json", "[1, 2]"):
        data = {"name": "Eve", "csrf_token": token_of(page)}
        if original is not None:
            data["_original"] = original
        answer = staff.post(url, data=data, headers=HTML)
        assert answer.status_code == 422
        assert "reload the page and make your changes again" in answer.text
