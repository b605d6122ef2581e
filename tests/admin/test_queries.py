"""Every admin page costs a fixed number of statements, whatever the number of rows."""

from __future__ import annotations

import datetime as dt

from keel.db.testing import TestSession
from keel.testing import TestClient
from tests.admin.blog import Blogger, Post, Reply
from tests.admin.conftest import Queries

HTML = {"Accept": "text/html"}


def seed(db_session: TestSession, bloggers: int, posts: int) -> list[Blogger]:
    people = [Blogger(name=f"Blogger {i}") for i in range(bloggers)]
    db_session.add_all(people)
    db_session.flush()
    db_session.add_all(
        [
            Post(
                title=f"Post {i}",
                blogger_id=people[i % bloggers].id,
                published_at=dt.datetime(2024, 1 + i % 12, 1, tzinfo=dt.UTC),
            )
            for i in range(posts)
        ]
    )
    db_session.flush()
    return people


def count(client: TestClient, queries: Queries, url: str) -> int:
    queries.statements.clear()
    answer = client.get(url, headers=HTML)
    assert answer.status_code == 200, answer.text[:500]
    return queries.count


URLS = [
    "/admin/blog/post",
    "/admin/blog/post?p=2",
    "/admin/blog/post?q=post+1",
    "/admin/blog/post?status=draft&o=-blogger,title",
    "/admin/blog/post?published_at__year=2024&published_at__month=3",
    "/admin/blog/post?blogger_id=1",
]


def test_the_change_list_runs_the_same_statements_for_5_or_150_bloggers(
    staff: TestClient, db_session: TestSession, queries: Queries
) -> None:
    seed(db_session, 5, 60)
    small = {url: count(staff, queries, url) for url in URLS}
    seed_more = [Blogger(name=f"More {i}") for i in range(145)]
    db_session.add_all(seed_more)
    db_session.flush()
    db_session.add_all([Post(title=f"Extra {i}", blogger_id=a.id) for i, a in enumerate(seed_more)])
    db_session.flush()
    for url in URLS:
        big = count(staff, queries, url)
        assert small[url] == big, url
        # the session's user, the counts, the page's keys, its rows and their bloggers, the
        # date bounds, the filters' options
        assert big <= 10, queries.statements


def test_the_change_form_and_index_are_constant(
    staff: TestClient, db_session: TestSession, queries: Queries
) -> None:
    people = seed(db_session, 3, 3)
    post_id = people[0].id
    url = f"/admin/blog/post/{post_id}/change"
    few = count(staff, queries, url)
    db_session.add_all([Reply(post_id=post_id, text=f"c{i}") for i in range(30)])
    db_session.add_all([Blogger(name=f"Extra {i}") for i in range(200)])
    db_session.flush()
    assert count(staff, queries, url) == few
    index = count(staff, queries, "/admin")
    assert index <= 1 + 3 + 1  # the user, one count per model, the recent actions
    add = count(staff, queries, "/admin/blog/reply/add")
    assert add <= 3  # the user and the post select (LIMIT threshold + 1)
