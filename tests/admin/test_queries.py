"""Every admin page costs a fixed number of statements, whatever the number of rows."""

from __future__ import annotations

import datetime as dt

from keel.db.testing import TestSession
from keel.testing import TestClient
from tests.admin.blog import Article, Author, Comment
from tests.admin.conftest import Queries

HTML = {"Accept": "text/html"}


def seed(db_session: TestSession, authors: int, articles: int) -> list[Author]:
    people = [Author(name=f"Author {i}") for i in range(authors)]
    db_session.add_all(people)
    db_session.flush()
    db_session.add_all(
        [
            Article(
                title=f"Article {i}",
                author_id=people[i % authors].id,
                published_at=dt.datetime(2024, 1 + i % 12, 1, tzinfo=dt.UTC),
            )
            for i in range(articles)
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
    "/admin/blog/article",
    "/admin/blog/article?p=2",
    "/admin/blog/article?q=article+1",
    "/admin/blog/article?status=draft&o=-author,title",
    "/admin/blog/article?published_at__year=2024&published_at__month=3",
    "/admin/blog/article?author_id=1",
]


def test_the_change_list_runs_the_same_statements_for_5_or_150_authors(
    staff: TestClient, db_session: TestSession, queries: Queries
) -> None:
    seed(db_session, 5, 60)
    small = {url: count(staff, queries, url) for url in URLS}
    seed_more = [Author(name=f"More {i}") for i in range(145)]
    db_session.add_all(seed_more)
    db_session.flush()
    db_session.add_all(
        [Article(title=f"Extra {i}", author_id=a.id) for i, a in enumerate(seed_more)]
    )
    db_session.flush()
    for url in URLS:
        big = count(staff, queries, url)
        assert small[url] == big, url
        # the session's user, the counts, the page's keys, its rows and their authors, the
        # date bounds, the filters' options
        assert big <= 10, queries.statements


def test_the_change_form_and_index_are_constant(
    staff: TestClient, db_session: TestSession, queries: Queries
) -> None:
    people = seed(db_session, 3, 3)
    article_id = people[0].id
    url = f"/admin/blog/article/{article_id}/change"
    few = count(staff, queries, url)
    db_session.add_all([Comment(article_id=article_id, text=f"c{i}") for i in range(30)])
    db_session.add_all([Author(name=f"Extra {i}") for i in range(200)])
    db_session.flush()
    assert count(staff, queries, url) == few
    index = count(staff, queries, "/admin")
    assert index <= 1 + 3 + 1  # the user, one count per model, the recent actions
    add = count(staff, queries, "/admin/blog/comment/add")
    assert add <= 3  # the user and the article select (LIMIT threshold + 1)
