"""No lost updates: version columns (409 on a stale write) and row locks."""

from __future__ import annotations

import asyncio
from collections import Counter as Tally

import pytest
from sqlalchemy import inspect

from keel import App
from keel.db import database_of
from keel.db.testing import TestSession
from keel.testing import AsyncTestClient, TestClient

from .db_test_models import Counter, make_app
from .db_test_support import table_of


@pytest.fixture
def app(database_url: str) -> App:
    return make_app(database_url)


def test_version_starts_at_one_and_increments(db_client: TestClient) -> None:
    created = db_client.post("/counters").json()
    assert (created["value"], created["version"]) == (0, 1)
    bumped = db_client.post(f"/counters/{created['id']}/increment").json()
    assert (bumped["value"], bumped["version"]) == (1, 2)


def test_version_is_not_writable_by_clients() -> None:
    from keel.db import schema

    assert "version" not in schema(Counter, mode="update").model_fields
    assert inspect(Counter).version_id_col is not None


def test_if_match_guards_a_stale_edit(db_client: TestClient) -> None:
    counter = db_client.post("/counters").json()
    url = f"/counters/{counter['id']}"
    assert db_client.put(url, params={"value": 5}).status_code == 428
    ok = db_client.put(url, params={"value": 5}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200, ok.text
    stale = db_client.put(url, params={"value": 7}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert stale.json()["version"] == 2
    assert db_client.get("/authors").status_code == 200


def test_stale_write_in_a_session_is_409(db_client: TestClient, db_session: TestSession) -> None:
    counter = Counter()
    db_session.add(counter)
    db_session.commit()
    # Another writer bumps the row behind the session's back.
    db_session.execute(table_of(Counter).update().values(version=Counter.version + 1))
    response = db_client.post(f"/counters/{counter.id}/increment")
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def _hammer(app: App, path: str, n: int) -> tuple[Tally[int], int]:
    async with AsyncTestClient(app) as client:
        await database_of(app).create_all()
        counter_id = (await client.post("/counters")).json()["id"]
        responses = await asyncio.gather(
            *(
                client.post(f"/counters/{counter_id}/{path}", params={"pause": 0.005})
                for _ in range(n)
            )
        )
        final = (await client.post(f"/counters/{counter_id}/{path}")).json()["value"] - 1
        return Tally(r.status_code for r in responses), final


def test_concurrent_increments_lose_no_update(backend: str, fresh_database_url: str) -> None:
    app = make_app(fresh_database_url, pool_size=20)
    statuses, final = asyncio.run(_hammer(app, "increment", 50))
    assert sum(statuses.values()) == 50
    assert set(statuses) <= {200, 409}, statuses  # SQLite too: no "database is locked"
    assert final == statuses[200], (final, statuses)  # every 200 is in the total, nothing else
    assert statuses[409] > 0, "the writers never overlapped: the test proves nothing"


def test_select_for_update_serializes_writers(backend: str, fresh_database_url: str) -> None:
    if backend != "postgresql":
        pytest.skip("row locks are a PostgreSQL feature (SQLite has one writer at a time)")
    app = make_app(fresh_database_url, pool_size=20)
    statuses, final = asyncio.run(_hammer(app, "locked-increment", 20))
    assert statuses == Tally({200: 20})
    assert final == 20
