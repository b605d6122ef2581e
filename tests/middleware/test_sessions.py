"""SessionMiddleware against the real app stack: cookie attributes, signing and key rotation,
hostile cookies, the memory store and a real Redis (skipped with a reason when absent)."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from keel import App, Request
from keel.middleware import Middleware, SessionMiddleware
from keel.middleware.sessions import _DATA_SALT, _ID_SALT, MAX_COOKIE_SIZE
from keel.sessions import MemoryStore, RedisStore, Session, SessionStore
from keel.settings import Settings
from keel.testing import TestClient
from tests.problems import problem
from tests.services import REDIS_URL, redis_key_prefix

KEY = "current-key-" + "k" * 40
OLD_KEY = "former-key-" + "o" * 40


def make_app(**options: Any) -> App:
    options.setdefault("secret_key", KEY)
    app = App(middleware=[Middleware(SessionMiddleware, **options)])
    app.csrf_protection = None  # these tests post without CSRF tokens (tests/test_csrf.py)

    @app.get("/read")
    async def read(request: Request) -> dict[str, Any]:
        return dict(request.session)

    @app.get("/untouched")
    async def untouched() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/write")
    async def write(request: Request, data: dict[str, Any]) -> dict[str, Any]:
        request.session.update(data)
        return dict(request.session)

    @app.post("/delete/{key}")
    async def delete(request: Request, key: str) -> dict[str, Any]:
        del request.session[key]
        return dict(request.session)

    @app.post("/cycle")
    async def cycle(request: Request) -> dict[str, Any]:
        request.session.cycle()
        return dict(request.session)

    @app.post("/clear")
    async def clear(request: Request) -> dict[str, Any]:
        request.session.clear()
        return dict(request.session)

    return app


def set_cookies(response: Any) -> list[str]:
    return list(response.headers.get_list("set-cookie"))


def cookie_value(response: Any, name: str = "session") -> str:
    [header] = set_cookies(response)
    pair = header.split(";", 1)[0]
    assert pair.startswith(name + "=")
    return pair.split("=", 1)[1]


def attributes(response: Any) -> dict[str, str]:
    [header] = set_cookies(response)
    out: dict[str, str] = {}
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        out[key.lower()] = value
    return out


# -- cookie store ---------------------------------------------------------------------------


def test_untouched_session_sets_no_cookie_and_no_vary() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/untouched")
        assert response.status_code == 200
        assert set_cookies(response) == []
        assert "vary" not in response.headers
        response = client.get("/read")  # read, still empty: nothing to save
        assert response.json() == {}
        assert set_cookies(response) == []
        assert response.headers["vary"] == "Cookie"


def test_written_session_comes_back_with_safe_cookie_attributes() -> None:
    with TestClient(make_app()) as client:
        response = client.post("/write", json={"user": 7, "name": "ann"})
        attrs = attributes(response)
        assert attrs["path"] == "/"
        assert attrs["max-age"] == str(14 * 24 * 3600)
        assert "expires" in attrs
        assert "httponly" in attrs
        assert attrs["samesite"] == "Lax"
        assert "secure" not in attrs  # plain HTTP
        assert "domain" not in attrs
        assert client.get("/read").json() == {"user": 7, "name": "ann"}


def test_cookie_is_secure_on_https_only_from_trusted_proxies() -> None:
    with TestClient(make_app(), base_url="https://testserver") as client:
        assert "secure" in attributes(client.post("/write", json={"a": 1}))
    forwarded = {"x-forwarded-proto": "https"}
    with TestClient(make_app(), client=("10.1.2.3", 5000)) as client:
        response = client.post("/write", json={"a": 1}, headers=forwarded)
        assert "secure" not in attributes(response)  # the peer is not a trusted proxy
    app = make_app(trusted_proxies=["10.0.0.0/8"])
    with TestClient(app, client=("10.1.2.3", 5000)) as client:
        assert "secure" in attributes(client.post("/write", json={"a": 1}, headers=forwarded))


def test_configured_cookie_options() -> None:
    app = make_app(
        cookie_name="sid", secure=True, same_site="strict", domain="example.com", max_age=60
    )
    with TestClient(app) as client:
        response = client.post("/write", json={"a": 1})
        assert cookie_value(response, "sid")
        attrs = attributes(response)
        assert attrs["samesite"] == "Strict"
        assert attrs["domain"] == "example.com"
        assert attrs["max-age"] == "60"
        assert "secure" in attrs and "httponly" in attrs


def test_bad_options_are_refused() -> None:
    ok: dict[str, Any] = {"secret_key": KEY}
    with pytest.raises(ValueError, match="secret_key"):
        SessionMiddleware(make_app(), secret_key="")
    with pytest.raises(ValueError, match="same_site"):
        SessionMiddleware(make_app(), same_site="sometimes", **ok)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Secure"):
        SessionMiddleware(make_app(), same_site="none", secure=False, **ok)
    with pytest.raises(ValueError, match="cannot be used in a cookie"):
        SessionMiddleware(make_app(), cookie_name="a;b", **ok)
    with pytest.raises(ValueError, match="redis_url"):
        SessionMiddleware(make_app(), store="redis", **ok)
    with pytest.raises(ValueError, match="store must be"):
        SessionMiddleware(make_app(), store="disk", **ok)  # type: ignore[arg-type]


def signer(key: str = KEY, salt: str = _DATA_SALT) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=salt)


class _PastSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


def old_signer(key: str = KEY, salt: str = _DATA_SALT) -> URLSafeTimedSerializer:
    """Signs as if an hour ago."""
    return URLSafeTimedSerializer(key, salt=salt, signer=_PastSigner)


GOOD = signer().dumps({"user": 1})
HOSTILE_COOKIES = {
    "tampered": GOOD[:-3] + ("AAA" if not GOOD.endswith("AAA") else "BBB"),
    "tampered payload": "eyJ1c2VyIjoyfQ" + GOOD[GOOD.index(".") :],  # {"user":2}
    "truncated": GOOD[: len(GOOD) // 2],
    "garbage": "%%%not-a-cookie\\x00",
    "dots": "a.b.c",
    "empty": '""',
    "huge": "A" * 20_000,
    "other key": signer("someone-else-" + "x" * 40).dumps({"user": 1}),
    "other salt": signer(salt=_ID_SALT).dumps({"user": 1}),
    "expired": old_signer().dumps({"user": 1}),
    "not json": signer().make_signer().sign(base64.urlsafe_b64encode(b"not json")).decode(),
    "a list": signer().dumps([1, 2]),
    "a string": signer().dumps("user"),
}


@pytest.mark.parametrize("kind", HOSTILE_COOKIES)
def test_a_bad_cookie_is_an_empty_session_never_an_error(kind: str) -> None:
    app = make_app(max_age=60)
    with TestClient(app, cookies={"session": HOSTILE_COOKIES[kind]}) as client:
        response = client.get("/read")
        assert response.status_code == 200
        assert response.json() == {}
        assert set_cookies(response) == []
        written = client.post("/write", json={"fresh": True})
        assert written.json() == {"fresh": True}  # the bad data is not merged in
        assert signer().loads(cookie_value(written)) == {"fresh": True}


def test_a_good_cookie_is_read() -> None:
    with TestClient(make_app(), cookies={"session": GOOD}) as client:
        assert client.get("/read").json() == {"user": 1}


def test_cookie_signed_with_a_fallback_key_is_accepted_and_signed_again() -> None:
    old_cookie = signer(OLD_KEY).dumps({"user": 5})
    with TestClient(make_app(), cookies={"session": old_cookie}) as client:
        assert client.get("/read").json() == {}  # without the fallback: not accepted
    app = make_app(fallback_keys=[OLD_KEY])
    with TestClient(app, cookies={"session": old_cookie}) as client:
        response = client.get("/read")
        assert response.json() == {"user": 5}
        new_cookie = cookie_value(response)
        assert signer().loads(new_cookie) == {"user": 5}  # signed with the current key now
        with pytest.raises(Exception, match="Signature"):
            signer(OLD_KEY).loads(new_cookie)
    with TestClient(app, cookies={"session": new_cookie}) as client:
        assert set_cookies(client.get("/read")) == []  # re-signed once, then left alone


def test_an_expired_fallback_cookie_is_not_accepted() -> None:
    old = old_signer(OLD_KEY).dumps({"user": 5})
    app = make_app(fallback_keys=[OLD_KEY], max_age=60)
    with TestClient(app, cookies={"session": old}) as client:
        assert client.get("/read").json() == {}


def test_emptying_the_session_deletes_the_cookie() -> None:
    with TestClient(make_app()) as client:
        client.post("/write", json={"a": 1})
        response = client.post("/delete/a")
        assert response.json() == {}
        attrs = attributes(response)
        assert cookie_value(response) == ""
        assert attrs["max-age"] == "0"
        assert "httponly" in attrs
        assert "session" not in client.cookies
    with TestClient(make_app()) as client:  # nothing to delete without a cookie
        assert set_cookies(client.post("/clear")) == []


def test_cycle_keeps_the_data_in_the_cookie_store() -> None:
    with TestClient(make_app()) as client:
        client.post("/write", json={"user": 1})
        response = client.post("/cycle")
        assert response.json() == {"user": 1}
        assert signer().loads(cookie_value(response)) == {"user": 1}


def test_a_cookie_over_the_browser_limit_is_logged_not_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with TestClient(make_app()) as client:
        client.post("/write", json={"small": 1})
        with caplog.at_level(logging.ERROR, logger="keel.sessions"):
            big = __import__("secrets").token_urlsafe(6000)  # incompressible
            response = client.post("/write", json={"big": big})
        assert response.status_code == 200
        assert set_cookies(response) == []
        assert str(MAX_COOKIE_SIZE) in caplog.text and "server-side store" in caplog.text
        assert client.get("/read").json() == {"small": 1}  # the last cookie that fit


def test_values_json_cannot_hold_fail_loudly() -> None:
    app = make_app()

    @app.get("/bad")
    async def bad(request: Request) -> dict[str, str]:
        request.session["when"] = object()
        return {}

    with TestClient(app) as client, pytest.raises(TypeError, match="JSON-serializable"):
        client.get("/bad")


def test_request_session_without_the_middleware_says_so() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    with pytest.raises(RuntimeError, match=r"SessionMiddleware, which every keel App installs"):
        _ = request.session


def test_from_settings_reads_the_session_fields() -> None:
    settings = Settings(
        secret_key="s" * 40,
        secret_key_fallbacks=["f" * 40],
        session_store="memory",
        session_cookie_name="sid",
        session_max_age=600,
        session_cookie_secure=True,
        session_cookie_samesite="strict",
        session_cookie_domain="example.com",
        trusted_proxies=["10.0.0.1"],
    )
    mw = SessionMiddleware.from_settings(make_app(), settings)
    assert isinstance(mw.store, MemoryStore)
    assert (mw.cookie_name, mw.max_age, mw.secure) == ("sid", 600, True)
    assert (mw.same_site, mw.domain) == ("Strict", "example.com")
    assert len(mw.fallback_signers) == 1 and mw.proxies.networks
    explicit = SessionMiddleware.from_settings(make_app(), Settings(), secret_key=KEY)
    assert explicit.store is None
    with pytest.raises(ValueError, match="KEEL_SECRET_KEY"):
        SessionMiddleware.from_settings(make_app(), Settings())
    app = App(middleware=[Middleware(SessionMiddleware.from_settings, settings=settings)])
    app.csrf_protection = None

    @app.post("/x")
    async def x(request: Request) -> dict[str, str]:
        request.session["a"] = "b"
        return {}

    with TestClient(app) as client:
        assert cookie_value(client.post("/x"), "sid")


def test_websocket_scope_gets_the_session() -> None:
    seen: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope["session"]))

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(message: Any) -> None:
        pass

    mw = SessionMiddleware(inner, secret_key=KEY)
    headers = [(b"cookie", f"session={GOOD}".encode())]
    asyncio.run(mw({"type": "websocket", "path": "/ws", "headers": headers}, nothing, ignore))
    assert seen == [{"user": 1}]


# -- server-side stores ---------------------------------------------------------------------


class CountingStore(MemoryStore):
    """A memory store that counts how often it is used."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def load(self, session_id: str) -> dict[str, Any] | None:
        self.calls += 1
        return await super().load(session_id)

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        self.calls += 1
        await super().save(session_id, data, max_age)


def test_server_side_store_is_not_touched_without_a_cookie() -> None:
    store = CountingStore()
    with TestClient(make_app(store=store)) as client:
        client.get("/untouched")
        client.get("/read")
        assert store.calls == 0
        client.post("/write", json={"a": 1})
        assert store.calls == 1


def test_memory_store_cookie_carries_only_a_signed_random_id() -> None:
    store = MemoryStore()
    with TestClient(make_app(store=store)) as client:
        response = client.post("/write", json={"secret": "not in the cookie"})
        session_id = signer(salt=_ID_SALT).loads(cookie_value(response))
        assert isinstance(session_id, str) and len(session_id) == 43
        assert "not in the cookie" not in cookie_value(response)
        assert len(store) == 1
        assert client.get("/read").json() == {"secret": "not in the cookie"}
    unsigned = {"session": session_id}  # the id without its signature is refused
    with TestClient(make_app(store=store), cookies=unsigned) as client:
        assert client.get("/read").json() == {}


def check_cycle_invalidates_the_old_id(app: App, other: App | None = None) -> None:
    with TestClient(app) as client:
        first = cookie_value(client.post("/write", json={"user": 1}))
        assert client.get("/read").json() == {"user": 1}
        second = cookie_value(client.post("/cycle"))
        assert second != first
        assert client.get("/read").json() == {"user": 1}  # data kept under the new id
    with TestClient(other or app, cookies={"session": first}) as replay:
        assert replay.get("/read").json() == {}  # the old id is gone from the store
    with TestClient(other or app, cookies={"session": second}) as client:
        assert client.get("/read").json() == {"user": 1}
        response = client.post("/clear")
        assert cookie_value(response) == ""
    with TestClient(other or app, cookies={"session": second}) as replay:
        assert replay.get("/read").json() == {}  # cleared: deleted from the store too


def test_cycle_invalidates_the_old_id_in_the_memory_store() -> None:
    store = MemoryStore()
    check_cycle_invalidates_the_old_id(make_app(store=store))
    assert len(store) == 0


def test_expired_server_side_session_is_empty() -> None:
    app = make_app(store="memory", max_age=60)
    sid = old_signer(salt=_ID_SALT).dumps("x" * 43)
    with TestClient(app, cookies={"session": sid}) as client:
        assert client.get("/read").json() == {}


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with redis_key_prefix() as prefix:
        yield prefix


def redis_app(prefix: str) -> App:
    return make_app(store="redis", redis_url=REDIS_URL, redis_key_prefix=prefix + ":")


def test_cycle_invalidates_the_old_id_in_redis(redis_prefix: str) -> None:
    check_cycle_invalidates_the_old_id(redis_app(redis_prefix))


def test_two_apps_sharing_redis_share_sessions(redis_prefix: str) -> None:
    one, two = redis_app(redis_prefix), redis_app(redis_prefix)
    with TestClient(one) as client:
        cookie = cookie_value(client.post("/write", json={"cart": [1, 2]}))
    with TestClient(two, cookies={"session": cookie}) as client:
        assert client.get("/read").json() == {"cart": [1, 2]}
        client.post("/write", json={"cart": [1, 2, 3]})
    with TestClient(one, cookies={"session": cookie}) as client:
        assert client.get("/read").json() == {"cart": [1, 2, 3]}
    check_cycle_invalidates_the_old_id(one, two)


def test_redis_keys_have_the_prefix_and_the_max_age(redis_prefix: str) -> None:
    import redis

    app = make_app(
        store="redis", redis_url=REDIS_URL, redis_key_prefix=redis_prefix + ":", max_age=300
    )
    with TestClient(app) as client:
        sid = signer(salt=_ID_SALT).loads(cookie_value(client.post("/write", json={"a": 1})))
    conn = redis.Redis.from_url(REDIS_URL)
    try:
        key = f"{redis_prefix}:{sid}"
        assert conn.get(key) == b'{"a":1}'
        assert 290 < conn.ttl(key) <= 300
    finally:
        conn.close()


DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_redis_down_while_loading_is_a_503_problem(caplog: pytest.LogCaptureFixture) -> None:
    cookie = signer(salt=_ID_SALT).dumps("x" * 43)
    app = make_app(store="redis", redis_url=DOWN)
    with TestClient(app, cookies={"session": cookie}) as client:
        response = client.get("/read")
    body = problem(response, 503)
    assert body["detail"] == "The session store is unavailable; try again in a moment."
    assert response.headers["retry-after"] == "5"
    assert "127.0.0.1:1" in caplog.text


def test_redis_down_while_saving_is_a_503_problem() -> None:
    with TestClient(make_app(store="redis", redis_url=DOWN)) as client:
        assert client.get("/untouched").status_code == 200  # no cookie: Redis not needed
        response = client.post("/write", json={"a": 1})
    problem(response, 503)
    assert set_cookies(response) == []


def test_redis_store_needs_a_url_and_hides_its_password() -> None:
    with pytest.raises(ValueError, match="Redis URL"):
        RedisStore("")
    assert RedisStore("redis://user:pw@host:6379/0")._safe_url() == "redis://host:6379/0"


def test_a_custom_store_is_used() -> None:
    class DictStore(SessionStore):
        def __init__(self) -> None:
            self.data: dict[str, dict[str, Any]] = {}

        async def load(self, session_id: str) -> dict[str, Any] | None:
            return self.data.get(session_id)

        async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
            self.data[session_id] = dict(data)

        async def delete(self, session_id: str) -> None:
            self.data.pop(session_id, None)

    store = DictStore()
    with TestClient(make_app(store=store)) as client:
        client.post("/write", json={"a": 1})
        assert list(store.data.values()) == [{"a": 1}]
        assert isinstance(Session(), Session)
