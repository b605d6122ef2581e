"""Brute force: failed logins are counted per account and per IP; then 429 + Retry-After."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keel import App
from keel.testing import TestClient
from tests.problems import problem

from .conftest import login, make_app


@pytest.fixture
def app(database_url: str) -> App:
    return make_app(database_url, login_ip_limit="30 per 15 minutes")


def test_twenty_bad_logins_then_429(db_client: TestClient, make_user: Callable[..., Any]) -> None:
    make_user()
    for _ in range(20):
        assert login(db_client, "ada@example.com", "wrong-password").status_code == 400
    refused = login(db_client, "ada@example.com", "wrong-password")
    body = problem(refused, 429)
    assert int(refused.headers["retry-after"]) > 0
    assert "Too many failed logins" in body["detail"]
    # even the right password waits: the account is locked for the window
    problem(login(db_client, "ADA@example.com"), 429)
    # an unknown account is counted the same way (no way to tell it apart)
    for _ in range(10):
        assert login(db_client, "ghost@example.com", "x").status_code == 400
    # ... and the IP's budget (30) is now spent for every account
    problem(login(db_client, "someone-else@example.com", "x"), 429)


def test_successful_logins_are_not_counted(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user()
    for _ in range(25):
        assert login(db_client, "ada@example.com").status_code == 200


def test_counts_shared_through_redis() -> None:
    import asyncio

    from keel.auth.throttle import LoginThrottle
    from keel.errors import HTTPError
    from tests.services import REDIS_URL, redis_key_prefix

    with redis_key_prefix() as prefix:

        async def scenario() -> tuple[int, str]:
            one = LoginThrottle("3 per minute", "100 per minute", REDIS_URL, key_prefix=prefix)
            other = LoginThrottle("3 per minute", "100 per minute", REDIS_URL, key_prefix=prefix)
            for _ in range(3):
                await one.check("ada@example.com", "10.0.0.1")
                await one.failed("ada@example.com", "10.0.0.1")
            try:
                await other.check("ADA@example.com", "10.0.0.2")  # another instance, same account
            except HTTPError as exc:
                assert exc.headers is not None
                return exc.status, exc.headers["Retry-After"]
            finally:
                await one.reset("ada@example.com")
                await one.aclose()
                await other.aclose()
            return 200, ""

        status, retry_after = asyncio.run(scenario())
    assert status == 429 and int(retry_after) > 0
