"""The generated document: every feature of the generator, checked on small apps."""

from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from keel import App, Body, Depends, Form, Header, HTTPError, Query, Router, Security
from keel.openapi import generate_openapi, get_openapi_document
from keel.responses import JSONResponse, Response
from keel.security import APIKeyHeader, HTTPBearer, OAuth2PasswordBearer
from tests.openapi import full_app


class Out(BaseModel):
    x: int


class Patch(BaseModel):
    op: str


class Opaque:
    """Not a type pydantic can describe."""


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return full_app.app.openapi()


def op(doc: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    operation: dict[str, Any] = doc["paths"][path][method]
    return operation


def params_by_name(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", [])}


def test_info_servers_and_version(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {
        "title": "Full test API",
        "version": "2.0.0",
        "description": "Every feature the OpenAPI generator documents.",
    }
    assert doc["servers"] == [{"url": "/", "description": "This server"}]


def test_path_templates_drop_converters(doc: dict[str, Any]) -> None:
    assert "/params/{item_id}/{slug}" in doc["paths"]
    assert "/params/uuid/{key}" in doc["paths"]
    assert "/params/files/{rest}" in doc["paths"]
    uuid_param = params_by_name(op(doc, "/params/uuid/{key}"))["key"]
    assert uuid_param["schema"] == {"type": "string", "format": "uuid"}


def test_parameters_of_every_kind(doc: dict[str, Any]) -> None:
    params = params_by_name(op(doc, "/params/{item_id}/{slug}"))
    assert [p["in"] for p in op(doc, "/params/{item_id}/{slug}")["parameters"]] == [
        "path",
        "path",
        *["query"] * 7,
        "header",
        "cookie",
    ]
    item_id = params["item_id"]
    assert item_id["required"] is True
    assert item_id["description"] == "The item number"
    assert item_id["schema"] == {"type": "integer", "minimum": 1, "maximum": 1_000_000}
    assert params["q"]["required"] is False
    assert params["q"]["schema"]["examples"] == ["red shoes"]
    assert params["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
    }
    assert params["color"]["schema"] == {"$ref": "#/components/schemas/Color", "default": "red"}
    assert params["ids"]["schema"]["type"] == "array"
    assert params["ids"]["schema"]["maxItems"] == 5
    assert params["sort"]["schema"]["enum"] == ["asc", "desc"]
    assert params["old"]["deprecated"] is True
    assert "deprecated" not in params["old"]["schema"]
    assert "hidden" not in params
    assert "page-size" in params  # the alias is the public name
    assert params["x-request-tag"]["in"] == "header"  # underscores become dashes
    assert params["session_hint"]["in"] == "cookie"


def test_json_body_and_input_output_split(doc: dict[str, Any]) -> None:
    create = op(doc, "/bodies/items", "post")
    body = create["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Item-Input"
    }
    out = create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    schemas = doc["components"]["schemas"]
    output = schemas[out.rsplit("/", 1)[1]]
    assert "label" in output["properties"]  # the computed field is output only
    assert "label" not in schemas["Item-Input"]["properties"]
    assert schemas["Item-Input"]["examples"] == [
        {"name": "Hammer", "price": 9.5, "tags": ["tools"]}
    ]
    assert schemas["Item-Input"]["properties"]["name"]["examples"] == ["Hammer"]
    assert create["responses"]["409"]["description"] == "The name is taken"
    assert create["responses"]["409"]["content"]["application/problem+json"]


def test_models_with_one_name_get_distinct_components(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    warehouse = op(doc, "/responses/warehouse")["responses"]["200"]["content"]
    ref = warehouse["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "sku" in schemas[ref]["properties"]
    assert "other_models" in ref
    again = generate_openapi(full_app.app)
    assert again == doc  # deterministic


def test_embedded_and_multiple_bodies(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    replace = op(doc, "/bodies/customers/{customer_id}", "put")["requestBody"]
    assert replace["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Body_replace_customer"
    }
    body = schemas["Body_replace_customer"]
    assert set(body["properties"]) == {"customer", "note"}
    assert body["required"] == ["customer"]
    assert schemas["Customer"]["properties"]["address"] == {"$ref": "#/components/schemas/Address"}
    embedded = schemas["Body_embedded"]["properties"]["item"]
    assert embedded["description"] == "The item, wrapped"


def test_form_bodies(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    form = op(doc, "/bodies/form", "post")["requestBody"]
    assert list(form["content"]) == ["application/x-www-form-urlencoded", "multipart/form-data"]
    fields = schemas["Body_form_fields"]
    assert fields["required"] == ["name"]
    assert fields["properties"]["tags"]["type"] == "array"
    signup = op(doc, "/bodies/signup", "post")["requestBody"]
    assert signup["content"]["application/x-www-form-urlencoded"]["schema"] == {
        "$ref": "#/components/schemas/Signup"
    }


def test_multipart_with_files(doc: dict[str, Any]) -> None:
    upload = op(doc, "/bodies/upload", "post")["requestBody"]
    assert list(upload["content"]) == ["multipart/form-data"]
    body = doc["components"]["schemas"]["Body_upload"]
    assert body["properties"]["document"] == {
        "type": "string",
        "format": "binary",
        "description": "Any file",
    }
    assert body["properties"]["extras"] == {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
    }
    assert body["properties"]["raw"] == {"type": "string", "format": "binary"}
    assert body["required"] == ["document"]


def test_responses(doc: dict[str, Any]) -> None:
    get_item = op(doc, "/responses/items/{item_id}")
    assert get_item["responses"]["200"]["description"] == "The item"
    assert get_item["responses"]["404"] == {
        "description": "No such item",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NotFound"}}},
    }
    listing = op(doc, "/responses/list")["responses"]["200"]["content"]["application/json"]
    assert listing["schema"]["type"] == "array"
    delete = op(doc, "/responses/items/{item_id}", "delete")
    assert delete["deprecated"] is True
    assert "content" not in delete["responses"]["204"]
    assert op(doc, "/responses/page")["responses"]["200"]["content"] == {
        "text/html": {"schema": {"type": "string"}}
    }
    assert op(doc, "/responses/text")["responses"]["200"]["content"] == {
        "text/plain": {"schema": {"type": "string"}}
    }
    untyped = op(doc, "/responses/untyped")
    assert untyped["summary"] == "No annotation"
    assert untyped["operationId"] == "untypedResponse"
    assert untyped["responses"]["200"]["content"] == {"application/json": {"schema": {}}}
    assert op(doc, "/responses/warehouse")["x-internal"] is True


def test_summary_description_tags_and_operation_ids(doc: dict[str, Any]) -> None:
    read = op(doc, "/params/{item_id}/{slug}")
    assert read["summary"] == "Read Params"
    assert read["description"] == "Echo every kind of parameter."
    assert read["tags"] == ["parameters"]
    assert read["operationId"] == "read_params"
    ids = [o["operationId"] for item in doc["paths"].values() for o in item.values()]
    assert len(ids) == len(set(ids))


def test_error_responses_match_what_keel_sends(doc: dict[str, Any]) -> None:
    create = op(doc, "/bodies/items", "post")["responses"]
    assert set(create) == {"201", "400", "409", "413", "415", "422"}
    problem = {"$ref": "#/components/schemas/ProblemDetails"}
    assert create["415"]["content"]["application/problem+json"]["schema"] == problem
    assert create["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationProblem"
    }
    no_input = op(doc, "/responses/page")["responses"]
    assert set(no_input) == {"200"}
    schemas = doc["components"]["schemas"]
    assert schemas["ProblemDetails"]["required"] == ["type", "title", "status"]
    item = schemas["ValidationErrorItem"]
    assert item["required"] == ["loc", "msg", "type"]


def test_security_schemes_and_requirements(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT from /token",
    }
    assert schemes["HTTPBasic"] == {"type": "http", "scheme": "basic"}
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["APIKeyCookie"]["in"] == "cookie"
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/token"
    assert op(doc, "/secure/bearer")["security"] == [{"HTTPBearer": []}]
    assert op(doc, "/secure/me")["security"] == [{"OAuth2PasswordBearer": ["items:read"]}]
    assert op(doc, "/secure/write", "post")["security"] == [
        {"OAuth2PasswordBearer": ["items:write"]}
    ]
    assert op(doc, "/secure/keys")["security"] == [
        {"APIKeyHeader": [], "APIKeyQuery": []},
        {"APIKeyHeader": []},
    ]
    unauthorized = op(doc, "/secure/bearer")["responses"]["401"]
    assert "WWW-Authenticate" in unauthorized["headers"]
    assert "security" not in op(doc, "/params/uuid/{key}")


def test_token_form_from_oauth2_password_request_form(doc: dict[str, Any]) -> None:
    token = op(doc, "/token", "post")["requestBody"]["content"]
    schema = doc["components"]["schemas"]["Body_token"]
    assert "application/x-www-form-urlencoded" in token
    assert schema["required"] == ["username", "password"]
    assert schema["properties"]["password"]["format"] == "password"


def test_hidden_routes_mounts_and_websockets(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    assert "/responses/hidden" not in paths
    assert not any(p.startswith("/sub") for p in paths)
    assert not any(p in paths for p in ("/openapi.json", "/docs", "/redoc"))
    assert doc["x-websockets"] == {
        "/ws/{room}": {
            "operationId": "chat",
            "summary": "Chat",
            "description": "Chat in a room.",
            "parameters": [
                {"name": "room", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
        }
    }


def test_document_is_cached_until_routes_change() -> None:
    app = App()

    @app.get("/a")
    async def a() -> int:
        return 1

    first = app.openapi()
    assert app.openapi() is first
    assert get_openapi_document(app) is first

    @app.get("/b")
    async def b() -> int:
        return 2

    second = app.openapi()
    assert second is not first
    assert set(second["paths"]) == {"/a", "/b"}


def test_operation_id_collisions_are_qualified_deterministically() -> None:
    app = App()
    for prefix in ("/v1", "/v2"):
        router = Router(prefix=prefix)

        @router.get("/items")
        async def list_items() -> list[int]:
            return []

        app.include(router)

    @app.route("/both", ["GET", "POST"])
    async def both() -> int:
        return 1

    @app.get("/explicit", operation_id="list_items_v1_items")
    async def explicit() -> int:
        return 1

    doc = app.openapi()
    ids = {
        (path, method): o["operationId"]
        for path, item in doc["paths"].items()
        for method, o in item.items()
    }
    assert ids[("/both", "get")] == "both_get"
    assert ids[("/both", "post")] == "both_post"
    assert ids[("/explicit", "get")] == "list_items_v1_items"
    assert ids[("/v1/items", "get")] == "list_items_v1_items_get"
    assert ids[("/v2/items", "get")] == "list_items_v2_items"


def test_duplicate_explicit_operation_ids_are_an_error() -> None:
    app = App()

    @app.get("/a", operation_id="same")
    async def a() -> int:
        return 1

    @app.get("/b", operation_id="same")
    async def b() -> int:
        return 1

    with pytest.raises(ValueError, match="operation_id 'same'"):
        app.openapi()


def test_dependency_declared_responses_and_union_with_response() -> None:
    app = App()

    def needs_lock() -> None:
        raise HTTPError(423, "Locked")

    needs_lock.openapi_responses = {423: {"description": "The item is locked"}}  # type: ignore[attr-defined]

    @app.get("/x", dependencies=[Depends(needs_lock)], response_model=Out)
    async def x() -> Out | JSONResponse:
        return Out(x=1)

    @app.get("/raw")
    async def raw() -> Response:
        return Response(b"raw")

    doc = app.openapi()
    responses = doc["paths"]["/x"]["get"]["responses"]
    assert responses["423"]["description"] == "The item is locked"
    assert responses["423"]["content"]["application/problem+json"]
    assert responses["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Out"
    }
    assert "content" not in doc["paths"]["/raw"]["get"]["responses"]["200"]


def test_security_scopes_merge_and_name_clashes() -> None:
    app = App()
    oauth = OAuth2PasswordBearer("/token", scopes={"a": "A", "b": "B"})
    key_a = APIKeyHeader(name="X-A")
    key_b = APIKeyHeader(name="X-B")
    bearer = HTTPBearer(auto_error=False)

    async def user(token: Annotated[str, Security(oauth, scopes=["a"])]) -> str:
        return token

    @app.get("/x")
    async def x(
        u: Annotated[str, Security(user, scopes=["b"])],
        a: Annotated[str, Depends(key_a)],
        b: Annotated[str, Depends(key_b)],
    ) -> str:
        return u

    @app.get("/optional")
    async def optional(token: Annotated[Any, Depends(bearer)]) -> bool:
        return token is not None

    doc = app.openapi()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"]["name"] == "X-A"
    assert schemes["APIKeyHeader_2"]["name"] == "X-B"
    (requirement,) = doc["paths"]["/x"]["get"]["security"]
    assert sorted(requirement["OAuth2PasswordBearer"]) == ["a", "b"]
    assert doc["paths"]["/optional"]["get"]["security"] == [{"HTTPBearer": []}, {}]
    assert "401" not in doc["paths"]["/optional"]["get"]["responses"]


def test_body_media_type_and_descriptions() -> None:
    app = App()

    @app.patch("/p")
    async def p(
        body: Annotated[
            list[Patch],
            Body(media_type="application/json-patch+json", description="Changes"),
        ],
    ) -> int:
        return len(body)

    @app.post("/f")
    async def f(name: Annotated[str, Form(description="Who", deprecated=True)]) -> str:
        return name

    @app.get("/q")
    async def q(
        n: Annotated[int, Query(description="A number", title="N", json_schema_extra={"x": 1})],
    ) -> int:
        return n

    doc = app.openapi()
    body = doc["paths"]["/p"]["patch"]["requestBody"]
    assert body["description"] == "Changes"
    assert "application/json-patch+json" in body["content"]
    form = doc["components"]["schemas"]["Body_f"]["properties"]["name"]
    assert form == {"type": "string", "description": "Who", "deprecated": True}
    (param,) = doc["paths"]["/q"]["get"]["parameters"]
    assert param["description"] == "A number"
    assert param["schema"] == {"type": "integer", "title": "N", "x": 1}


def test_app_metadata_extras_and_empty_app() -> None:
    app = App(title="T", version="9", openapi_url=None, docs_url=None, redoc_url=None)
    app.contact = {"name": "Ops", "email": "ops@example.com"}
    app.openapi_tags = [{"name": "x", "description": "X things"}]
    doc = app.openapi()
    assert doc["info"]["contact"] == {"name": "Ops", "email": "ops@example.com"}
    assert doc["tags"] == [{"name": "x", "description": "X things"}]
    assert doc["paths"] == {}
    assert "servers" not in doc


def test_unsupported_types_are_documented_as_any_value() -> None:
    app = App()

    def opaque() -> Opaque:
        return Opaque()

    @app.get("/o", response_model=Any)
    async def o(dep: Annotated[Opaque, Depends(opaque)]) -> Any:
        return 1

    doc = app.openapi()
    assert doc["paths"]["/o"]["get"]["responses"]["200"]["content"]["application/json"] == {
        "schema": {}
    }


class PageFilters(BaseModel):
    limit: int = 10
    tags: list[str] = []


class TraceHeaders(BaseModel):
    x_trace_id: str


def test_parameter_models_are_documented_field_by_field() -> None:
    from openapi_spec_validator import validate

    app = App()

    @app.get("/search")
    async def search(
        f: Annotated[PageFilters, Query()], h: Annotated[TraceHeaders, Header()]
    ) -> dict[str, int]:
        return {"limit": f.limit}

    document = generate_openapi(app)
    validate(document)
    params = document["paths"]["/search"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in params] == [
        ("limit", "query", False),
        ("tags", "query", False),
        ("x-trace-id", "header", True),
    ]
