"""keel.security: each scheme accepts good credentials and answers 401 problems otherwise."""

import asyncio
import base64
from typing import Annotated, Any

import pytest

from keel import App, Depends
from keel.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    OAuth2,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    OAuth2PasswordRequestFormStrict,
    SecurityBase,
)
from keel.testing import TestClient
from tests.problems import problem

bearer = HTTPBearer()
optional_bearer = HTTPBearer(auto_error=False)
basic = HTTPBasic(realm="tests")
header_key = APIKeyHeader(name="X-API-Key")
query_key = APIKeyQuery(name="api_key")
cookie_key = APIKeyCookie(name="session", auto_error=False)
oauth2 = OAuth2PasswordBearer(tokenUrl="/token", scopes={"read": "Read"})
implicit = OAuth2(flows={"implicit": {"authorizationUrl": "/auth", "scopes": {}}})

app = App()


@app.get("/bearer")
async def with_bearer(c: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> list[str]:
    return [c.scheme, c.credentials]


@app.get("/optional")
async def with_optional(c: Annotated[Any, Depends(optional_bearer)]) -> str | None:
    return c.credentials if c else None


@app.get("/basic")
async def with_basic(c: Annotated[HTTPBasicCredentials, Depends(basic)]) -> list[str]:
    return [c.username, c.password]


@app.get("/header")
async def with_header(key: Annotated[str, Depends(header_key)]) -> str:
    return key


@app.get("/query")
async def with_query(key: Annotated[str, Depends(query_key)]) -> str:
    return key


@app.get("/cookie")
async def with_cookie(key: Annotated[str | None, Depends(cookie_key)]) -> str | None:
    return key


@app.get("/oauth2")
async def with_oauth2(token: Annotated[str, Depends(oauth2)]) -> str:
    return token


@app.get("/implicit")
async def with_implicit(token: Annotated[str, Depends(implicit)]) -> str:
    return token


@app.post("/token")
async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
    return {"username": form.username, "password": form.password, "scopes": form.scopes}


@app.post("/strict")
async def strict(form: Annotated[OAuth2PasswordRequestFormStrict, Depends()]) -> str:
    return form.grant_type or ""


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(app) as c:
        yield c


def assert_401(response: Any, challenge: str) -> None:
    body = problem(response, 401)
    assert response.headers["www-authenticate"] == challenge
    assert body["title"] == "Unauthorized"
    assert body["detail"]


def basic_header(value: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(value.encode()).decode()}


def test_bearer(client: Any) -> None:
    ok = client.get("/bearer", headers={"Authorization": "Bearer abc.def"})
    assert ok.json() == ["Bearer", "abc.def"]
    assert client.get("/bearer", headers={"Authorization": "bearer x"}).status_code == 200
    assert_401(client.get("/bearer"), "Bearer")
    assert_401(client.get("/bearer", headers={"Authorization": "Basic abc"}), "Bearer")
    assert_401(client.get("/bearer", headers={"Authorization": "Bearer"}), "Bearer")
    assert_401(client.get("/bearer", headers={"Authorization": "Bearer   "}), "Bearer")


def test_auto_error_false_returns_none(client: Any) -> None:
    assert client.get("/optional").json() is None
    assert client.get("/optional", headers={"Authorization": "Basic x"}).json() is None
    assert client.get("/optional", headers={"Authorization": "Bearer t"}).json() == "t"
    assert client.get("/cookie").json() is None
    assert client.get("/cookie", headers={"Cookie": "session=s1"}).json() == "s1"


def test_basic(client: Any) -> None:
    challenge = 'Basic realm="tests", charset="UTF-8"'
    assert client.get("/basic", auth=("ann", "pa:ss")).json() == ["ann", "pa:ss"]
    assert client.get("/basic", headers=basic_header("zoë:ünï")).json() == ["zoë", "ünï"]
    assert_401(client.get("/basic"), challenge)
    assert_401(client.get("/basic", headers={"Authorization": "Basic !!!"}), challenge)
    assert_401(client.get("/basic", headers=basic_header("no-colon")), challenge)
    assert_401(client.get("/basic", headers={"Authorization": "Bearer abc"}), challenge)
    bad_utf8 = {"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()}
    assert_401(client.get("/basic", headers=bad_utf8), challenge)


def test_basic_realm_is_checked() -> None:
    with pytest.raises(ValueError, match="realm"):
        HTTPBasic(realm='a"b')


def test_api_keys(client: Any) -> None:
    assert client.get("/header", headers={"X-API-Key": "k1"}).json() == "k1"
    assert client.get("/header", headers={"x-api-key": "k2"}).json() == "k2"
    assert_401(client.get("/header"), 'APIKey in="header", name="X-API-Key"')
    assert_401(
        client.get("/header", headers={"X-API-Key": ""}), 'APIKey in="header", name="X-API-Key"'
    )
    assert client.get("/query?api_key=q1").json() == "q1"
    assert_401(client.get("/query?other=1"), 'APIKey in="query", name="api_key"')


def test_oauth2_password_bearer(client: Any) -> None:
    assert client.get("/oauth2", headers={"Authorization": "Bearer tok"}).json() == "tok"
    assert_401(client.get("/oauth2"), "Bearer")
    assert_401(client.get("/oauth2", headers={"Authorization": "Basic tok"}), "Bearer")
    assert client.get("/implicit", headers={"Authorization": "Bearer i"}).json() == "i"
    assert oauth2.openapi_scheme == {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/token", "scopes": {"read": "Read"}}},
    }
    with pytest.raises(TypeError, match="token_url"):
        OAuth2PasswordBearer()


def test_password_request_form(client: Any) -> None:
    data = {
        "username": "ann",
        "password": "secret",
        "scope": "read  write",
        "grant_type": "password",
    }
    assert client.post("/token", data=data).json() == {
        "username": "ann",
        "password": "secret",
        "scopes": ["read", "write"],
    }
    bad = client.post("/token", data={**data, "grant_type": "client_credentials"})
    assert problem(bad, 422)["errors"][0]["loc"] == ["body", "grant_type"]
    missing = client.post("/token", data={"username": "ann", "password": "hunter2"})
    assert missing.status_code == 200
    no_password = client.post("/token", data={"username": "ann"})
    problem(no_password, 422)
    assert "hunter2" not in no_password.text
    assert client.post("/strict", data=data).json() == "password"
    problem(client.post("/strict", data={"username": "a", "password": "b"}), 422)
    assert "scopes=['read']" in repr(
        OAuth2PasswordRequestForm(username="a", password="b", scope="read")
    )


def test_schemes_describe_themselves() -> None:
    assert bearer.scheme_name == "HTTPBearer"
    assert HTTPBearer(scheme_name="jwt", bearer_format="JWT").openapi_scheme == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert basic.openapi_scheme == {"type": "http", "scheme": "basic"}
    assert APIKeyCookie(name="s", description="Session").openapi_scheme == {
        "type": "apiKey",
        "in": "cookie",
        "name": "s",
        "description": "Session",
    }
    assert isinstance(query_key, SecurityBase)
    assert "scheme_name='APIKeyQuery'" in repr(query_key)


def test_base_class_has_no_credentials() -> None:
    base = SecurityBase({"type": "http", "scheme": "digest"})
    with pytest.raises(NotImplementedError):
        asyncio.run(base(None))  # type: ignore[arg-type]


# -- SecurityScopes: the scopes accumulated along the dependency path ---------------------------


def test_security_scopes_accumulate_along_the_path() -> None:
    from keel import Security
    from keel.security import SecurityScopes

    calls: list[tuple[str, ...]] = []
    scoped_oauth2 = OAuth2PasswordBearer(
        tokenUrl="/token", scopes={"me": "Read me", "items": "Read items", "admin": "Admin"}
    )

    async def current_user(
        security_scopes: SecurityScopes, token: Annotated[str, Depends(scoped_oauth2)]
    ) -> dict[str, Any]:
        calls.append(tuple(security_scopes.scopes))
        return {"token": token, "scopes": security_scopes.scopes, "str": security_scopes.scope_str}

    async def active_user(
        user: Annotated[dict[str, Any], Security(current_user, scopes=["me"])],
    ) -> dict[str, Any]:
        return user

    async def plain(scopes: SecurityScopes) -> list[str]:
        return scopes.scopes

    scoped = App()

    @scoped.get("/items")
    async def items(
        user: Annotated[dict[str, Any], Security(active_user, scopes=["items", "me"])],
    ) -> dict[str, Any]:
        return user

    @scoped.get("/both")
    async def both(
        a: Annotated[dict[str, Any], Security(current_user, scopes=["admin"])],
        b: Annotated[dict[str, Any], Security(active_user, scopes=["items"])],
        c: Annotated[dict[str, Any], Security(current_user, scopes=["admin"])],
    ) -> list[Any]:
        return [a["scopes"], b["scopes"], c["scopes"]]

    @scoped.get("/route-level", dependencies=[Security(current_user, scopes=["admin"])])
    async def route_level(s: Annotated[list[str], Depends(plain)]) -> list[str]:
        return s

    @scoped.get("/handler")
    async def handler(scopes: SecurityScopes) -> str:
        return scopes.scope_str

    with TestClient(scoped) as client:
        auth = {"Authorization": "Bearer t"}
        assert client.get("/items", headers=auth).json() == {
            "token": "t",
            "scopes": ["items", "me"],
            "str": "items me",
        }
        calls.clear()
        # The same dependency reached with different scopes runs once per set of scopes;
        # reached twice with the same scopes, it runs once.
        assert client.get("/both", headers=auth).json() == [
            ["admin"],
            ["items", "me"],
            ["admin"],
        ]
        assert sorted(calls) == [("admin",), ("items", "me")]
        calls.clear()
        assert client.get("/route-level", headers=auth).json() == []
        assert calls == [("admin",)]
        assert client.get("/handler").json() == ""
        assert_401(client.get("/items"), "Bearer")
        # The route documents every scope its dependencies ask for.
        doc = client.get("/openapi.json").json()
        security = doc["paths"]["/items"]["get"]["security"]
        assert security == [{"OAuth2PasswordBearer": ["items", "me"]}]
        both_security = doc["paths"]["/both"]["get"]["security"]
        assert sorted(both_security[0]["OAuth2PasswordBearer"]) == ["admin", "items", "me"]


def test_security_scopes_value() -> None:
    from keel.security import SecurityScopes

    assert SecurityScopes().scopes == []
    assert SecurityScopes().scope_str == ""
    s = SecurityScopes(["a", "b"])
    assert (s.scopes, s.scope_str, repr(s)) == (["a", "b"], "a b", "SecurityScopes(['a', 'b'])")


def test_scopes_are_computed_at_startup() -> None:
    from keel import Security
    from keel._analysis import CONSTANT, compile_plan
    from keel.security import SecurityScopes

    def needs(scopes: SecurityScopes) -> str:
        return scopes.scope_str

    def handler(
        a: Annotated[str, Security(needs, scopes=["x"])],
        b: Annotated[str, Security(needs, scopes=["x"])],
        c: Annotated[str, Security(needs, scopes=["y", "x", "y"])],
        d: Annotated[str, Depends(needs)],
    ) -> None: ...

    plan = compile_plan(handler, {}, {})
    constants = [a.ref.scopes for s in plan.steps for a in s.args if a.source == CONSTANT]
    assert constants == [["x"], ["y", "x"], []]


def test_default_basic_realm() -> None:
    app = App()
    anon = HTTPBasic()

    @app.get("/")
    async def index(c: Annotated[HTTPBasicCredentials, Depends(anon)]) -> str:
        return c.username

    with TestClient(app) as client:
        assert_401(client.get("/"), 'Basic realm="api", charset="UTF-8"')


def test_worded_copies_the_scheme() -> None:
    assert bearer.worded("keel") is bearer
    fastapi_style = bearer.worded("fastapi")
    assert fastapi_style is not bearer
    assert fastapi_style.scheme_name == bearer.scheme_name
    assert fastapi_style.openapi_scheme == bearer.openapi_scheme
    assert bearer.wording == "keel"
    with pytest.raises(ValueError, match="wording"):
        bearer.worded("django")  # type: ignore[arg-type]


def test_scope_free_dependencies_stay_cached_across_scopes() -> None:
    from keel import Security
    from keel.security import SecurityScopes

    runs: list[str] = []

    def database() -> str:
        runs.append("db")
        return "db"

    def checker(scopes: SecurityScopes, db: Annotated[str, Depends(database)]) -> str:
        runs.append(scopes.scope_str)
        return db

    app = App()

    @app.get("/")
    async def index(
        a: Annotated[str, Security(checker, scopes=["a"])],
        b: Annotated[str, Security(checker, scopes=["b"])],
        db: Annotated[str, Depends(database)],
    ) -> list[str]:
        return [a, b, db]

    with TestClient(app) as client:
        assert client.get("/").json() == ["db", "db", "db"]
    # database() takes no scopes: one call serves every path; checker() runs per scope set.
    assert runs == ["db", "a", "b"]


def test_scheme_word_is_configurable() -> None:
    token = HTTPBearer(scheme="Token")
    optional = HTTPBearer(scheme="Token", auto_error=False, scheme_name="OptionalToken")
    app = App()

    @app.get("/token")
    async def required(c: Annotated[HTTPAuthorizationCredentials, Depends(token)]) -> str:
        return c.credentials

    @app.get("/maybe")
    async def maybe(c: Annotated[Any, Depends(optional)]) -> str | None:
        return c.credentials if c else None

    client = TestClient(app)
    assert client.get("/token", headers={"Authorization": "Token abc"}).json() == "abc"
    assert client.get("/token", headers={"Authorization": "token abc"}).json() == "abc"
    for headers in ({}, {"Authorization": "Bearer abc"}, {"Authorization": "Token"}):
        body = problem(client.get("/token", headers=headers), 401)
        assert "Token" in body["detail"]
        assert client.get("/token", headers=headers).headers["www-authenticate"] == "Token"
    assert client.get("/maybe").json() is None
    assert client.get("/maybe", headers={"Authorization": "Bearer abc"}).json() is None
    assert client.get("/maybe", headers={"Authorization": "Token abc"}).json() == "abc"

    doc = app.openapi()
    schemes = doc["components"]["securitySchemes"]
    # Swagger UI supports only the registered http schemes basic and bearer: another word
    # is an API key in the Authorization header whose description names the word.
    assert schemes["HTTPBearer"]["type"] == "apiKey"
    assert schemes["HTTPBearer"]["in"] == "header"
    assert schemes["HTTPBearer"]["name"] == "Authorization"
    assert "Token <token>" in schemes["HTTPBearer"]["description"]
    assert doc["paths"]["/token"]["get"]["security"] == [{"HTTPBearer": []}]
    assert doc["paths"]["/maybe"]["get"]["security"] == [{"OptionalToken": []}, {}]
    assert "401" in doc["paths"]["/token"]["get"]["responses"]


def test_bearer_word_stays_an_http_scheme() -> None:
    assert HTTPBearer(bearer_format="JWT", description="d").openapi_scheme == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "d",
    }
    custom = OAuth2PasswordBearer(token_url="/t", scheme="Token")
    assert custom.challenge() == "Token"
    with pytest.raises(ValueError, match="single HTTP token"):
        HTTPBearer(scheme="Bad Word")
    with pytest.raises(ValueError, match="single HTTP token"):
        HTTPBearer(scheme="")


def test_oauth2_with_another_word() -> None:
    scheme = OAuth2PasswordBearer(token_url="/t", scheme="Token")
    app = App()

    @app.get("/x")
    async def x(token: Annotated[str, Depends(scheme)]) -> str:
        return token

    client = TestClient(app)
    assert client.get("/x", headers={"Authorization": "Token t1"}).json() == "t1"
    response = client.get("/x", headers={"Authorization": "Bearer t1"})
    problem(response, 401)
    assert response.headers["www-authenticate"] == "Token"
