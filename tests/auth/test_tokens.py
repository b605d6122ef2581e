"""JWT access and refresh tokens: expiry, algorithms, audience, rotation, reuse detection."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from keel import App
from keel.auth import Auth
from keel.auth.tokens import jwt_key
from keel.testing import TestClient
from tests.problems import problem

from .conftest import PASSWORD, bearer, login, make_app

SECRET = "test-secret-" + "x" * 40


@pytest.fixture
def app(database_url: str) -> App:
    return make_app(database_url, tokens="jwt")


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def forge(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    token: str = jwt.encode(claims, jwt_key(key), algorithm=algorithm)
    return token


def unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def assert_invalid(client: TestClient, token: str) -> None:
    response = client.get("/private", headers=bearer(token))
    problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_jwt_login_and_use(db_client: TestClient, make_user: Callable[..., Any]) -> None:
    make_user()
    body = login(db_client, "ada@example.com", scope="read").json()
    assert body["refresh_token"] and body["expires_in"] == 12 * 3600
    claims = claims_of(body["access_token"])
    assert claims["aud"] == "keel" and claims["iss"] == "keel" and claims["typ"] == "access"
    assert db_client.get("/private", headers=bearer(body["access_token"])).status_code == 200
    assert db_client.get("/read", headers=bearer(body["access_token"])).status_code == 200
    problem(db_client.get("/write", headers=bearer(body["access_token"])), 403)
    # a refresh token is not an access token
    assert_invalid(db_client, body["refresh_token"])


def test_bad_jwts_are_401(db_client: TestClient, make_user: Callable[..., Any]) -> None:
    make_user()
    good = login(db_client, "ada@example.com").json()["access_token"]
    claims = claims_of(good)
    now = int(time.time())
    header, payload, signature = good.split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    for bad in [
        forge({**claims, "exp": now - 10}),  # expired
        unsigned(claims),  # alg: none
        forge(claims, algorithm="HS512"),  # an algorithm not on the list
        forge({**claims, "aud": "other"}),  # wrong audience
        forge({**claims, "aud": ["keel", "other"]}),  # audience must match exactly
        forge({**claims, "iss": "evil"}),  # wrong issuer
        forge({k: v for k, v in claims.items() if k != "exp"}),  # exp is required
        forge(claims, key="another-secret-" + "y" * 40),  # wrong key
        f"{header}.{payload}.{flipped}",  # tampered signature
        f"{header}.{base64.urlsafe_b64encode(b'{}').decode().rstrip('=')}.{signature}",
        forge({**claims, "sub": "999999"}),  # unknown user
        forge({**claims, "sub": "not-a-number"}),
        forge({**claims, "pwd": "0" * 32}),  # issued before a password change
        "a.b.c",
    ]:
        assert_invalid(db_client, bad)
    assert db_client.get("/private", headers=bearer(good)).status_code == 200


def test_refresh_rotation_and_reuse_detection(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user()
    first = login(db_client, "ada@example.com").json()
    second = db_client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert db_client.get("/private", headers=bearer(pair["access_token"])).status_code == 200
    # the first refresh token again: reuse, so the whole family is revoked
    reused = db_client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    problem(reused, 401)
    stolen = db_client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    problem(stolen, 401)
    for bad in ("", "x", "a.b.c", first["access_token"]):
        problem(db_client.post("/auth/refresh", json={"refresh_token": bad}), 401)
    problem(db_client.post("/auth/refresh", json={}), 422)


def test_revoke_refresh_family_and_password_change(
    db_client: TestClient, make_user: Callable[..., Any]
) -> None:
    make_user()
    pair = login(db_client, "ada@example.com").json()
    headers = bearer(pair["access_token"])
    revoked = db_client.post(
        "/auth/revoke", json={"refresh_token": pair["refresh_token"]}, headers=headers
    )
    assert revoked.status_code == 204
    problem(db_client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)
    other = login(db_client, "ada@example.com").json()
    changed = db_client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-whole-new-passphrase"},
        headers=bearer(other["access_token"]),
    )
    assert changed.status_code == 204
    assert_invalid(db_client, other["access_token"])  # its password fingerprint is stale
    problem(db_client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401)


def test_opaque_mode_has_no_refresh(database_url: str) -> None:
    client_app = make_app(database_url)
    with TestClient(client_app) as client:
        problem(client.post("/auth/refresh", json={"refresh_token": "x"}), 404)


def test_algorithms_are_hmac_only() -> None:
    with pytest.raises(ValueError, match="HS256"):
        Auth(jwt_algorithms=("none",))
    with pytest.raises(ValueError, match="HS256"):
        Auth(jwt_algorithms=("RS256",))
    with pytest.raises(ValueError, match="HS256"):
        Auth(jwt_algorithms=())
    with pytest.raises(ValueError, match="opaque"):
        Auth(tokens="session")  # type: ignore[arg-type]
