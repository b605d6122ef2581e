from __future__ import annotations

import contextlib
import datetime
import decimal
import warnings
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from keel import App
from keel.error_formats import FastAPIErrors
from keel.fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
    status,
)
from keel.responses import PlainTextResponse
from keel.testing import TestClient
from tests.settings import production


class Login(BaseModel):
    username: str
    password: str
    age: int


def make_app(**options: Any) -> FastAPI:
    app = FastAPI(**options)

    @app.get("/items/{item_id}")
    async def item(item_id: int, q: Annotated[str | None, Query(max_length=3)] = None) -> Any:
        if item_id == 0:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Item not found")
        return {"item_id": item_id, "q": q}

    @app.post("/login")
    async def login(body: Login) -> dict[str, str]:
        return {"user": body.username}

    @app.get("/plain")
    async def plain() -> Any:
        return {"td": datetime.timedelta(minutes=1, milliseconds=500), "dec": decimal.Decimal("2")}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return app


def test_wire_format_is_fastapis() -> None:
    client = TestClient(make_app(), raise_server_exceptions=False)
    r = client.get("/items/0")
    assert (r.status_code, r.json()) == (404, {"detail": "Item not found"})
    assert r.headers["content-type"] == "application/json"
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
    assert client.post("/items/1").json() == {"detail": "Method Not Allowed"}
    r = client.get("/items/x?q=abcd")
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {
                "type": "int_parsing",
                "loc": ["path", "item_id"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": "x",
            },
            {
                "type": "string_too_long",
                "loc": ["query", "q"],
                "msg": "String should have at most 3 characters",
                "input": "abcd",
                "ctx": {"max_length": 3},
            },
        ]
    }
    r = client.get("/boom")
    assert (r.status_code, r.text) == (500, "Internal Server Error")


def test_bodies_are_echoed_as_fastapi_does_but_never_a_secret() -> None:
    client = TestClient(make_app())
    r = client.post("/login", json={"username": "u", "password": 12, "age": "old"})
    detail = r.json()["detail"]
    assert {tuple(d["loc"]): d["input"] for d in detail} == {
        ("body", "password"): None,  # a secret-looking field: never echoed
        ("body", "age"): "old",
    }
    # a missing field echoes the object it was missing from, its secrets redacted
    r = client.post("/login", json={"username": "u", "password": "hunter2"})
    assert r.json()["detail"] == [
        {
            "type": "missing",
            "loc": ["body", "age"],
            "msg": "Field required",
            "input": {"username": "u", "password": "[redacted]"},
        }
    ]
    assert "hunter2" not in r.text
    r = client.post("/login", json={"username": "u", "age": 1, "api_key": {"k": "s3cr3t"}})
    assert r.json()["detail"][0]["input"] == {"username": "u", "age": 1, "api_key": "[redacted]"}
    assert "s3cr3t" not in r.text
    r = client.post("/login", json={})
    assert [d["input"] for d in r.json()["detail"]] == [{}, {}, {}]
    # the wrong type for the whole body echoes it, as FastAPI does
    r = client.post("/login", json=[1, "two"])
    assert (r.status_code, r.json()["detail"][0]["input"]) == (422, [1, "two"])
    # long strings are cut; a body too large to echo is null, never a 500
    r = client.post("/login", json={"username": "x" * 5000, "password": "p"})
    assert r.json()["detail"][0]["input"]["username"] == "x" * 40 + "…"
    r = client.post("/login", json={"username": "u", "filler": list(range(500))})
    assert (r.status_code, r.json()["detail"][0]["input"]) == (422, None)
    nested: Any = "deep"
    for _ in range(50):
        nested = {"n": nested}
    r = client.post("/login", json={"username": "u", "password": "p", "extra": nested})
    assert (r.status_code, r.json()["detail"][0]["input"]) == (422, None)


def test_values_without_a_declared_type_use_fastapis_encoder() -> None:
    assert TestClient(make_app()).get("/plain").json() == {"td": 60.5, "dec": 2}
    app = App()  # keel's App keeps pydantic's ISO 8601 durations
    app.add_route("/plain", make_app().routes[2].endpoint)
    assert TestClient(app).get("/plain").json()["td"] == "PT1M0.5S"


def test_duplicate_routes_first_wins_with_a_warning() -> None:
    app = FastAPI()
    router = APIRouter()

    @app.get("/users/me")
    async def me() -> str:
        return "me"

    @router.get("/users/{name}")
    async def user(name: str) -> str:
        return name

    @router.get("/users/{other}")
    async def shadowed(other: str) -> str:
        return "never"

    @app.get("/users/me")
    async def also_me() -> str:
        return "never"

    app.include_router(router)
    with pytest.warns(RuntimeWarning) as caught:
        client = TestClient(app)
        assert client.get("/users/me").json() == "me"
        assert client.get("/users/bob").json() == "bob"
    text = " ".join(str(w.message) for w in caught)
    assert "'also_me' (registered later) never does" in text
    assert "'shadowed'" in text

    plain = App()
    plain.add_route("/x", me)
    plain.add_route("/x", also_me)
    with pytest.raises(ValueError, match="Two routes for GET /x"):
        TestClient(plain).get("/x")


def test_constructor_keywords() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        events.append("lifespan")
        yield

    async def teapot(request: Request, exc: HTTPException) -> PlainTextResponse:
        return PlainTextResponse("short and stout", exc.status)

    def verify(request: Request) -> None:
        events.append("verify " + request.path)

    app = FastAPI(
        title="Inventory",
        version="2.0",
        description="Things",
        openapi_url="/schema.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(verify)],
        exception_handlers={418: teapot},
        on_startup=[lambda: events.append("startup")],
        lifespan=lifespan,
        settings=production(),
        debug=False,
        servers=[{"url": "https://api.example.com"}],
        root_path="/api",
        responses={404: {"description": "Not here"}},
        tags=["all"],
    )
    assert isinstance(app.error_format, FastAPIErrors)

    @app.get("/tea")
    async def tea() -> None:
        raise HTTPException(418)

    with TestClient(app) as client:
        r = client.get("/api/tea")
        assert (r.status_code, r.text) == (418, "short and stout")
        doc = client.get("/api/schema.json").json()
    assert events[:3] == ["lifespan", "startup", "verify /api/tea"]
    operation = doc["paths"]["/tea"]["get"]
    assert operation["tags"] == ["all"]
    assert operation["responses"]["404"]["description"] == "Not here"
    assert doc["info"]["title"] == "Inventory"
    assert doc["components"]["schemas"]["HTTPValidationError"]
    assert "ctx" in doc["components"]["schemas"]["ValidationError"]["properties"]


def test_refused_and_doc_only_keywords_say_so() -> None:
    with pytest.raises(TypeError, match=r"FastAPI\(routes=\.\.\.\) is not supported by keel"):
        FastAPI(routes=[])
    with pytest.warns(UserWarning, match="generate_unique_id_function ignored"):
        FastAPI(generate_unique_id_function=lambda route: "x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FastAPI(title="no warning")


def test_importable_names() -> None:
    import keel.fastapi as compat

    for name in compat.__all__:
        assert hasattr(compat, name), name


def test_missing_items_say_field_required_as_fastapi() -> None:
    app = FastAPI()

    @app.post("/files")
    async def upload(file: Annotated[UploadFile, File()]) -> str:
        return file.filename or ""

    assert TestClient(app).post("/files").json() == {
        "detail": [
            {"type": "missing", "loc": ["body", "file"], "msg": "Field required", "input": None}
        ]
    }


def test_security_schemes_answer_with_fastapi_wording() -> None:
    from keel.security import (
        APIKeyCookie,
        APIKeyHeader,
        HTTPAuthorizationCredentials,
        HTTPBasic,
        HTTPBasicCredentials,
        HTTPBearer,
        OAuth2PasswordBearer,
    )

    bearer = HTTPBearer()
    basic = HTTPBasic()
    named = HTTPBasic(realm="admin")
    key = APIKeyHeader(name="X-Key")
    cookie = APIKeyCookie(name="session")
    oauth2 = OAuth2PasswordBearer(tokenUrl="/token")
    schemes: dict[str, Any] = {
        "bearer": bearer,
        "basic": basic,
        "named": named,
        "key": key,
        "cookie": cookie,
        "oauth2": oauth2,
    }

    def build(app: App) -> App:
        for path, scheme in schemes.items():

            async def endpoint(credentials: Any = Depends(scheme)) -> str:
                return str(credentials)

            app.add_route(f"/{path}", endpoint, methods=["GET"])
        return app

    with TestClient(build(FastAPI())) as client:
        expected = {
            "bearer": "Bearer",
            "basic": "Basic",
            "named": 'Basic realm="admin"',
            "key": "APIKey",
            "cookie": "APIKey",
            "oauth2": "Bearer",
        }
        for path, challenge in expected.items():
            response = client.get(f"/{path}")
            assert response.status_code == 401, path
            assert response.json() == {"detail": "Not authenticated"}, path
            assert response.headers["www-authenticate"] == challenge, path
        wrong = client.get("/bearer", headers={"Authorization": "Basic eDp5"})
        assert wrong.json() == {"detail": "Not authenticated"}
        malformed = client.get("/basic", headers={"Authorization": "Basic !!!"})
        assert malformed.json() == {"detail": "Not authenticated"}
        assert malformed.headers["www-authenticate"] == "Basic"
        assert client.get("/basic", auth=("ann", "pw")).status_code == 200
        ok = client.get("/bearer", headers={"Authorization": "Bearer t"})
        assert ok.json() == str(HTTPAuthorizationCredentials("Bearer", "t"))
        assert client.get("/named", auth=("a", "b")).json() == str(HTTPBasicCredentials("a", "b"))

    # The same scheme objects keep keel's wording on a plain App (even after the FastAPI app
    # compiled them), including App with FastAPI's error format.
    with TestClient(build(App(error_format=FastAPIErrors()))) as client:
        response = client.get("/bearer")
        assert response.json()["detail"] == (
            "Not authenticated: send an Authorization: Bearer header"
        )
        assert client.get("/basic").headers["www-authenticate"] == (
            'Basic realm="api", charset="UTF-8"'
        )
        assert client.get("/key").headers["www-authenticate"] == 'APIKey in="header", name="X-Key"'


def test_a_non_form_body_on_a_form_route_is_missing_fields_as_in_fastapi() -> None:
    """FastAPI reads a JSON body sent to a form route as an empty form: 422, every required
    field missing. keel's ``App`` answers 415 (the body is not a form)."""

    def make(cls: type[App]) -> App:
        app = cls()

        @app.post("/login")
        async def login(username: Annotated[str, Form()]) -> dict[str, str]:
            return {"username": username}

        return app

    r = TestClient(make(FastAPI)).post("/login", json={"username": "ada"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "username"]
    assert r.json()["detail"][0]["type"] == "missing"
    assert TestClient(make(App)).post("/login", json={"username": "ada"}).status_code == 415
    ok = TestClient(make(FastAPI)).post("/login", data={"username": "ada"})
    assert ok.json() == {"username": "ada"}
