"""keel.auth in the OpenAPI document: the OAuth2 password flow scheme, per-route security."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from keel import App
from keel.auth import OptionalUser

from .conftest import make_app


def test_schemes_and_route_security(tmp_path: Any) -> None:
    app: App = make_app(f"sqlite+aiosqlite:///{tmp_path / 'doc.db'}")

    @app.get("/maybe")
    async def maybe(user: OptionalUser) -> str | None:
        return None if user is None else user.email

    doc = app.openapi()
    validate(doc)
    scheme = doc["components"]["securitySchemes"]["keelAuth"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"] == {
        "tokenUrl": "/auth/token",
        "scopes": {"read": "Read things", "write": "Write things"},
    }
    paths = doc["paths"]
    assert paths["/private"]["get"]["security"] == [{"keelAuth": []}]
    assert paths["/staff"]["get"]["security"] == [{"keelAuth": []}]
    assert paths["/read"]["get"]["security"] == [{"keelAuth": ["read"]}]
    assert paths["/auth/me"]["get"]["security"] == [{"keelAuth": []}]
    assert paths["/maybe"]["get"]["security"] == [{"keelAuth": []}, {}]
    assert "security" not in paths["/auth/token"]["post"]
    assert "security" not in paths["/auth/password/reset"]["post"]
    assert "401" in paths["/private"]["get"]["responses"]
    token_form = paths["/auth/token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in token_form


def test_token_word_is_accepted_and_described(tmp_path: Any) -> None:
    from keel.db import database_of
    from keel.testing import TestClient

    from .conftest import bearer

    app = make_app(f"sqlite+aiosqlite:///{tmp_path / 'words.db'}", scheme_words=("Token",))
    doc = app.openapi()
    assert (
        "`Authorization: Token <token>`"
        in doc["components"]["securitySchemes"]["keelAuth"]["description"]
    )
    assert "429" in doc["paths"]["/auth/token"]["post"]["responses"]
    with TestClient(app) as client:
        client.run(database_of(app).create_all())
        token = "no-such-token"
        for headers in (bearer(token), {"Authorization": f"Token {token}"}):
            response = client.get("/private", headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
