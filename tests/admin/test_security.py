"""Who may see and do what, CSRF, escaping and bad input: every refusal is a clear 4xx."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest

from keel.db.testing import TestSession
from keel.testing import TestClient
from tests.admin.blog import Blogger, Post, Reply
from tests.admin.conftest import log_in, token_of
from tests.problems import problem

HTML = {"Accept": "text/html"}
XSS = '<script>alert(1)</script>" onmouseover="alert(2)'


def test_anonymous_browsers_go_to_the_login_page(db_client: TestClient) -> None:
    answer = db_client.get("/admin/blog/post?q=x", headers=HTML, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login?next=%2Fadmin%2Fblog%2Fpost%3Fq%3Dx"
    page = db_client.get(answer.headers["location"], headers=HTML)
    assert page.status_code == 200 and 'name="password"' in page.text
    assert 'value="/admin/blog/post?q=x"' in page.text


def test_api_clients_get_a_403_problem(db_client: TestClient) -> None:
    for url in ("/admin", "/admin/blog/post", "/admin/blog/blogger/autocomplete"):
        body = problem(db_client.get(url, headers={"Accept": "application/json"}), 403)
        assert body["detail"] == "Log in to the admin with a staff account."
    problem(db_client.get("/admin/blog/post/1/change"), 403)


def test_only_active_staff_log_in(db_client: TestClient, make_user: Callable[..., Any]) -> None:
    make_user("user@example.com")
    make_user("gone@example.com", is_staff=True, is_active=False)
    for email in ("user@example.com", "gone@example.com", "nobody@example.com"):
        page = db_client.get("/admin/login", headers=HTML).text
        refused = db_client.post(
            "/admin/login",
            data={
                "username": email,
                "password": "correct-horse-battery",
                "csrf_token": token_of(page),
            },
            headers=HTML,
        )
        assert refused.status_code == 400
        assert "password of a staff account" in refused.text
    page = db_client.get("/admin/login", headers=HTML).text
    missing = db_client.post("/admin/login", data={"csrf_token": token_of(page)}, headers=HTML)
    assert missing.status_code == 400


def test_a_logged_in_non_staff_user_is_sent_to_the_login_page(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user("user@example.com")
    db_client.post(
        "/auth/login", json={"username": "user@example.com", "password": "correct-horse-battery"}
    )
    answer = db_client.get("/admin", headers=HTML, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")


def test_login_redirects_only_to_this_site(db_client: TestClient, superuser: Any) -> None:
    page = db_client.get("/admin/login", headers=HTML).text
    answer = db_client.post(
        "/admin/login",
        data={
            "username": "root@example.com",
            "password": "correct-horse-battery",
            "next": "https://evil.example/",
            "csrf_token": token_of(page),
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/admin"


def test_logout(staff: TestClient) -> None:
    page = staff.get("/admin", headers=HTML).text
    out = staff.post("/admin/logout", data={"csrf_token": token_of(page)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    assert staff.get("/admin", headers=HTML, follow_redirects=False).status_code == 303


def test_missing_csrf_token_is_refused(staff: TestClient, db_session: TestSession) -> None:
    blogger = Blogger(name="Ada")
    db_session.add(blogger)
    db_session.flush()
    body = problem(staff.post("/admin/blog/blogger/add", data={"name": "Eve"}), 403)
    assert "CSRF" in body["detail"]
    problem(staff.post(f"/admin/blog/blogger/{blogger.id}/delete", data={}), 403)
    problem(
        staff.post(
            "/admin/blog/blogger",
            data={"action": "delete_selected", "_selected": [str(blogger.id)]},
        ),
        403,
    )


@pytest.fixture
def viewer(db_client: TestClient, make_user: Callable[..., Any]) -> TestClient:
    make_user("viewer@example.com", is_staff=True, perms=("blog.view_post", "blog.view_blogger"))
    log_in(db_client, "viewer@example.com")
    return db_client


def test_a_view_only_user_sees_no_buttons_and_cannot_post(
    viewer: TestClient, db_session: TestSession
) -> None:
    blogger = Blogger(name="Ada")
    db_session.add(blogger)
    db_session.flush()
    post = Post(title="Readable", blogger_id=blogger.id)
    db_session.add(post)
    db_session.flush()
    post_id = post.id
    index = viewer.get("/admin", headers=HTML).text
    assert "Posts" in index and "Replies" not in index  # no permission on replies
    assert "/add" not in index
    listing = viewer.get("/admin/blog/post", headers=HTML).text
    assert "Add post" not in listing and "delete_selected" not in listing
    assert 'name="_selected"' not in listing  # no actions: no checkboxes
    form = viewer.get(f"/admin/blog/post/{post_id}/change", headers=HTML).text
    assert "View post" in form and "Readable" in form
    assert "<input" not in form.split('<main id="content">')[1].split("</main>")[0].replace(
        'type="hidden" name="csrf_token"', ""
    )  # nothing to edit
    assert "Delete" not in form
    token = token_of(index)
    forged: list[tuple[str, dict[str, Any]]] = [
        ("/admin/blog/post/add", {"title": "x"}),
        (f"/admin/blog/post/{post_id}/change", {"title": "x"}),
        (f"/admin/blog/post/{post_id}/delete", {}),
        (
            "/admin/blog/post",
            {"action": "delete_selected", "_selected": [str(post_id)], "post": "yes"},
        ),
        ("/admin/blog/post", {"action": "publish", "_selected": [str(post_id)]}),
    ]
    for url, data in forged:
        body = problem(viewer.post(url, data={**data, "csrf_token": token}), 403)
        assert "You do not have permission" in body["detail"]
    problem(viewer.get(f"/admin/blog/post/{post_id}/delete"), 403)
    problem(viewer.get("/admin/blog/post/add"), 403)
    problem(viewer.get("/admin/blog/reply"), 403)
    page = viewer.get("/admin/blog/reply", headers=HTML)
    assert page.status_code == 403 and "<html" in page.text.lower()
    db_session.refresh(post)
    assert post.title == "Readable"


def test_change_permission_without_delete(
    db_client: TestClient, make_user: Callable[..., Any], db_session: TestSession
) -> None:
    make_user("editor@example.com", is_staff=True, perms=("blog.change_blogger",))
    log_in(db_client, "editor@example.com")
    blogger = Blogger(name="Ada")
    db_session.add(blogger)
    db_session.flush()
    form = db_client.get(f"/admin/blog/blogger/{blogger.id}/change", headers=HTML).text
    assert 'name="name"' in form and "Delete" not in form
    listing = db_client.get("/admin/blog/blogger", headers=HTML).text
    assert "Add blogger" not in listing


def test_xss_payloads_stay_inert(staff: TestClient, db_session: TestSession) -> None:
    blogger = Blogger(name=XSS, email=XSS, website="javascript:alert(3)")
    safe = Blogger(name="Linked", website="https://example.com/?a=1&b=2")
    db_session.add_all([blogger, safe])
    db_session.flush()
    post = Post(title=XSS, slug=XSS, body=XSS, blogger_id=blogger.id)
    db_session.add(post)
    db_session.flush()
    db_session.add(Reply(post_id=post.id, text=XSS))
    db_session.flush()
    pages = [
        staff.get("/admin/blog/post", headers=HTML).text,
        staff.get("/admin/blog/blogger", headers=HTML).text,
        staff.get(f"/admin/blog/post?q={XSS[:20]}", headers=HTML).text,
        staff.get(f"/admin/blog/post/{post.id}/change", headers=HTML).text,
        staff.get(f"/admin/blog/blogger/{blogger.id}/change", headers=HTML).text,
        staff.get(f"/admin/blog/post/{post.id}/delete", headers=HTML).text,
    ]
    token = token_of(pages[3])
    form = pages[3]
    original = html.unescape(re.search(r'name="_original" value="([^"]*)"', form).group(1))  # type: ignore[union-attr]
    staff.post(
        f"/admin/blog/post/{post.id}/change",
        data={
            "title": XSS + "!",
            "slug": XSS,
            "blogger_id": str(blogger.id),
            "status": "draft",
            "_original": original,
            "reply_set-TOTAL": "0",
            "csrf_token": token,
        },
    )
    pages.append(staff.get(f"/admin/blog/post/{post.id}/history", headers=HTML).text)
    pages.append(staff.get("/admin", headers=HTML).text)
    for page in pages:
        assert "<script>alert" not in page
        assert '" onmouseover="' not in page
        assert 'href="javascript:' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "javascript:alert(3)" in pages[1]  # shown as text, never a link
    assert 'href="https://example.com/?a=1&amp;b=2"' in pages[1]


BAD_QUERIES = [
    ("o=nothing", "cannot be sorted by 'nothing'"),
    ("o=password", "cannot be sorted by 'password'"),
    ("o=--title", "cannot be sorted"),
    ("secret=1", "Unknown change list parameter 'secret'"),
    ("views=3", "Unknown change list parameter 'views'"),
    ("status=deleted", "takes one of draft, published"),
    ("blogger_id=abc", "takes an integer"),
    ("published_at=forever", "takes one of today"),
    ("p=abc", "p must be a number"),
    ("p=0", "p must be a number"),
    ("q=" + "x" * 201, "longer than 200"),
    ("published_at__month=2", "needs the year"),
    ("published_at__year=2024&published_at__month=2&published_at__day=30", "has no day 30"),
    ("published_at__year=99999", "must be a number"),
    ("q=a&q=b", "given twice"),
]


def test_bad_change_list_parameters_are_400(staff: TestClient) -> None:
    for query, detail in BAD_QUERIES:
        body = problem(staff.get(f"/admin/blog/post?{query}"), 400)
        assert detail in body["detail"], query
        page = staff.get(f"/admin/blog/post?{query}", headers=HTML)
        assert page.status_code == 400 and "<html" in page.text.lower()


def test_missing_objects_are_404_pages(staff: TestClient) -> None:
    for url in (
        "/admin/blog/post/999/change",
        "/admin/blog/post/abc/change",
        "/admin/blog/post/99999999999999999999999/history",
        "/admin/blog/post/999/delete",
        "/admin/blog/nothing",
        "/admin/blog/post?p=2",
    ):
        page = staff.get(url, headers=HTML)
        assert page.status_code == 404, url
        assert "<html" in page.text.lower()
        problem(staff.get(url), 404)


def test_bad_posts(staff: TestClient, db_session: TestSession) -> None:
    blogger = Blogger(name="Ada")
    db_session.add(blogger)
    db_session.flush()
    other = Post(title="Other", blogger_id=blogger.id)
    mine = Post(title="Mine", blogger_id=blogger.id)
    db_session.add_all([other, mine])
    db_session.flush()
    foreign = Reply(post_id=other.id, text="not yours")
    db_session.add(foreign)
    db_session.flush()
    mine_id, blogger_id, foreign_id = mine.id, blogger.id, foreign.id
    token = token_of(staff.get("/admin", headers=HTML).text)
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "/admin/blog/post",
            {"action": "explode", "_selected": ["1"]},
            "Choose one of the actions",
        ),
        ("/admin/blog/post", {"action": "delete_selected", "_selected": ["x"]}, "is not an id"),
        (
            "/admin/blog/post",
            {"action": "delete_selected", "_selected": [str(i) for i in range(501)]},
            "at most 500",
        ),
        (
            f"/admin/blog/post/{mine_id}/change",
            {
                "title": "t",
                "blogger_id": str(blogger_id),
                "reply_set-TOTAL": "1",
                "reply_set-0-id": str(foreign_id),
                "reply_set-0-text": "stolen",
            },
            "is not a child of this object",
        ),
        (
            f"/admin/blog/post/{mine_id}/change",
            {"reply_set-TOTAL": "9999"},
            "TOTAL must be a number",
        ),
        ("/admin/blog/post/add", {"reply_set-TOTAL": "-1"}, "TOTAL must be a number"),
    ]
    for url, data, detail in cases:
        body = problem(staff.post(url, data={**data, "csrf_token": token}), 400)
        assert detail in body["detail"], (url, body)
    db_session.refresh(foreign)
    assert foreign.text == "not yours"
    problem(staff.get("/admin/blog/blogger/autocomplete?term=" + "x" * 201), 400)
    problem(staff.get("/admin/blog/blogger/autocomplete?other=1"), 400)


def test_a_unique_violation_is_shown_beside_the_field(
    staff: TestClient, db_session: TestSession
) -> None:
    db_session.add(Blogger(name="Ada"))
    db_session.flush()
    form = staff.get("/admin/blog/blogger/add", headers=HTML).text
    answer = staff.post(
        "/admin/blog/blogger/add", data={"name": "Ada", "csrf_token": token_of(form)}, headers=HTML
    )
    assert answer.status_code == 422
    assert "A blogger with this value already exists." in answer.text
    assert 'id="id_name_errors"' in answer.text


def test_values_out_of_range_are_form_errors(staff: TestClient, db_session: TestSession) -> None:
    blogger = Blogger(name="Ada")
    db_session.add(blogger)
    db_session.flush()
    form = staff.get("/admin/blog/blogger/add", headers=HTML).text
    answer = staff.post(
        "/admin/blog/blogger/add",
        data={"name": "x" * 101, "born": "not a date", "csrf_token": token_of(form)},
        headers=HTML,
    )
    assert answer.status_code == 422
    assert "at most 100 characters" in answer.text
    assert 'id="id_born_errors"' in answer.text
    form = staff.get("/admin/blog/post/add", headers=HTML).text
    answer = staff.post(
        "/admin/blog/post/add",
        data={"title": "t", "blogger_id": "9" * 30, "status": "nope", "csrf_token": token_of(form)},
        headers=HTML,
    )
    assert answer.status_code == 422
    assert 'id="id_blogger_id_errors"' in answer.text and 'id="id_status_errors"' in answer.text
