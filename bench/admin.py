"""How fast keel.admin's pages are on a big table: 1,000 authors and 100,000 articles.

Run from the repository root (with the machine otherwise idle)::

    .venv/bin/python -m bench.admin            # builds bench/data/admin.db once, then measures
    .venv/bin/python -m bench.admin --rounds 50

Each page is requested in-process through keel's TestClient (the whole app: middleware,
session cookie, permission lookup, queries, template), after a warm-up; the table gives
the median and 95th percentile wall times, the median CPU time of the process (what the
page costs when no other process competes for the CPU), the statements run and the HTML
size. The change list
has ``date_hierarchy`` on, as in the issue's comparison with Django admin, SQLAdmin and
starlette-admin.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import sqlite3
import statistics
import time
from pathlib import Path

from sqlalchemy import ForeignKey, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from keel import App, Settings
from keel.admin import Admin, ModelAdmin
from keel.auth import Auth, create_user
from keel.db import Database, IntPK, Model, Timestamps
from keel.testing import TestClient

DATA = Path(__file__).parent / "data" / "admin.db"
AUTHORS = 1_000
ARTICLES = 100_000
PASSWORD = "bench-admin-password"
SECRET = "bench-admin-secret-" + "x" * 40


class BenchAuthor(IntPK, Timestamps, Model):
    __tablename__ = "bench_authors"
    __app_label__ = "bench"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")

    def __str__(self) -> str:
        return self.name


class BenchArticle(IntPK, Model):
    __tablename__ = "bench_articles"
    __app_label__ = "bench"

    title: Mapped[str] = mapped_column(String(200), index=True)
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    views: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[dt.datetime] = mapped_column(index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("bench_authors.id"), index=True)
    author: Mapped[BenchAuthor] = relationship()

    def __str__(self) -> str:
        return self.title


class ArticleAdmin(ModelAdmin[BenchArticle]):
    list_display = ["title", "author", "status", "views", "published_at"]
    list_filter = ["status", "author_id"]
    search_fields = ["title"]
    date_hierarchy = "published_at"
    autocomplete_fields = ["author_id"]


class AuthorAdmin(ModelAdmin[BenchAuthor]):
    search_fields = ["name"]


def build_app(url: str) -> tuple[App, Database]:
    app = App(settings=Settings(secret_key=SECRET))
    database = Database(url)
    database.init_app(app)
    Auth(secret_key=SECRET).init_app(app)
    admin = Admin(app)
    admin.register(ArticleAdmin)
    admin.register(AuthorAdmin)
    return app, database


async def fill(url: str) -> None:
    async with Database(url) as database:
        await database.create_all()
        async with database.session() as session:
            await create_user(
                session,
                email="bench@example.com",
                password=PASSWORD,
                is_staff=True,
                is_superuser=True,
            )
    start = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    with sqlite3.connect(DATA) as conn:
        conn.executemany(
            "INSERT INTO bench_authors (id, name, email, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (
                    i,
                    f"Author {i:04d}",
                    f"a{i}@example.com",
                    "2024-01-01 00:00:00",
                    "2024-01-01 00:00:00",
                )
                for i in range(1, AUTHORS + 1)
            ],
        )
        conn.executemany(
            "INSERT INTO bench_articles (id, title, body, status, views, published_at, author_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i,
                    f"Article number {i} about topic {i % 97}",
                    "Some text. " * 20,
                    "published" if i % 3 else "draft",
                    i % 1000,
                    (start + dt.timedelta(minutes=53 * i)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                    1 + (i * 7919) % AUTHORS,
                )
                for i in range(1, ARTICLES + 1)
            ],
        )


def log_in(client: TestClient) -> None:
    page = client.get("/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    answer = client.post(
        "/admin/login",
        data={"username": "bench@example.com", "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


PAGES = [
    ("change list, page 1", "/admin/bench/bencharticle"),
    ("change list, page 500", "/admin/bench/bencharticle?p=500"),
    ("search", "/admin/bench/bencharticle?q=topic+42"),
    ("filter (status + author)", "/admin/bench/bencharticle?status=draft&author_id=17"),
    ("sort by title", "/admin/bench/bencharticle?o=title"),
    ("sort by author, page 10", "/admin/bench/bencharticle?o=-author&p=10"),
    (
        "date drill-down (month)",
        "/admin/bench/bencharticle?published_at__year=2020&published_at__month=6",
    ),
    ("edit form", "/admin/bench/bencharticle/50000/change"),
    ("index", "/admin"),
    ("autocomplete", "/admin/bench/benchauthor/autocomplete?term=12"),
]


def measure(rounds: int) -> list[tuple[str, float, float, float, int, int]]:
    app, database = build_app(f"sqlite+aiosqlite:///{DATA}")
    statements: list[str] = []
    results = []
    with TestClient(app) as client:
        engine = app.state.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        log_in(client)
        headers = {"Accept": "text/html"}
        for label, url in PAGES:
            for _ in range(3):  # warm-up: templates compiled, caches filled
                answer = client.get(url, headers=headers)
                assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
            times = []
            cpu = []
            for _ in range(rounds):
                statements.clear()
                began, began_cpu = time.perf_counter(), time.process_time()
                answer = client.get(url, headers=headers)
                times.append((time.perf_counter() - began) * 1000)
                cpu.append((time.process_time() - began_cpu) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            results.append(
                (
                    label,
                    statistics.median(times),
                    p95,
                    statistics.median(cpu),
                    len(statements),
                    len(answer.content),
                )
            )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    options = parser.parse_args(argv)
    DATA.parent.mkdir(parents=True, exist_ok=True)
    if not DATA.exists():
        began = time.perf_counter()
        asyncio.run(fill(f"sqlite+aiosqlite:///{DATA}"))
        print(f"built {DATA} in {time.perf_counter() - began:.1f} s")
    rows = measure(options.rounds)
    print(
        f"{'page':28} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>8} {'queries':>8} {'HTML KB':>8}"
    )
    for label, median, p95, cpu, count, size in rows:
        print(f"{label:28} {median:10.1f} {p95:8.1f} {cpu:8.1f} {count:8d} {size / 1024:8.1f}")


if __name__ == "__main__":
    main()
