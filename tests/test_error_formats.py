"""keel.error_formats: one place to change how every error is written and documented."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from keel import App, HTTPError, Request
from keel.error_formats import ErrorFormat, FastAPIErrors, ProblemDetails
from keel.responses import JSONResponse, Response
from keel.testing import TestClient
from tests.problems import problem


class Item(BaseModel):
    name: str
    price: float


def make_app(**options: Any) -> App:
    app = App(**options)

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise HTTPError(404, "Item 0 does not exist", headers={"x-reason": "zero"})
        if item_id == 1:
            raise HTTPError(403)
        if item_id == 2:
            raise RuntimeError("internal detail")
        return {"item_id": item_id}

    @app.post("/items", status=201)
    async def create(item: Item) -> Item:
        return item

    return app


class RealWorldErrors(ErrorFormat):
    """The RealWorld API spec's error format."""

    def render(self, request: Request, error: HTTPError) -> Response:
        if error.status == 422 and isinstance(error.extra, dict) and "errors" in error.extra:
            body = {
                ".".join(str(p) for p in e["loc"][1:]): [e["msg"]] for e in error.extra["errors"]
            }
        else:
            body = {"body": [str(error.detail or error.title)]}
        return JSONResponse({"errors": body}, error.status, error.headers)

    def schemas(self) -> dict[str, Any]:
        return {
            "GenericErrorModel": {
                "type": "object",
                "properties": {"errors": {"type": "object"}},
                "required": ["errors"],
            }
        }

    def schema(self, status: int) -> dict[str, Any]:
        return {"$ref": "#/components/schemas/GenericErrorModel"}


def test_problem_details_is_the_default() -> None:
    from keel.error_formats import HTMLErrorPages

    app = make_app()
    assert isinstance(app.error_format, HTMLErrorPages)  # pages for browsers only
    assert isinstance(app.error_format.api, ProblemDetails)
    client = TestClient(app)
    body = problem(client.get("/items/0"), 404)
    assert body["detail"] == "Item 0 does not exist"
    assert problem(client.post("/items", json={"name": "x"}), 422)["errors"][0]["loc"] == [
        "body",
        "price",
    ]


def test_fastapi_format_for_raised_errors() -> None:
    client = TestClient(make_app(error_format=FastAPIErrors()), raise_server_exceptions=False)
    r = client.get("/items/0")
    assert (r.status_code, r.json()) == (404, {"detail": "Item 0 does not exist"})
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-reason"] == "zero"
    r = client.get("/items/1")
    assert (r.status_code, r.json()) == (403, {"detail": "Forbidden"})
    r = client.get("/items/2")
    assert (r.status_code, r.json()) == (
        500,
        {"detail": "The server failed to handle this request."},
    )


def test_fastapi_format_for_keels_own_errors() -> None:
    client = TestClient(make_app(error_format=FastAPIErrors()))
    r = client.get("/nowhere")
    assert (r.status_code, r.json()) == (404, {"detail": "No route for /nowhere"})
    r = client.delete("/items")
    assert r.status_code == 405 and r.headers["allow"] == "OPTIONS, POST"
    assert set(r.json()) == {"detail"}
    r = client.post("/items", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 400 and isinstance(r.json()["detail"], str)
    r = client.get("/items/x")
    assert r.status_code in (404, 422) and set(r.json()) == {"detail"}


def test_fastapi_format_for_validation_errors() -> None:
    client = TestClient(make_app(error_format=FastAPIErrors()))
    r = client.post("/items", json={"name": "x", "price": "free"})
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {
                "loc": ["body", "price"],
                "msg": "Input should be a valid number",  # a JSON string is not a number
                "type": "float_type",
                "input": "free",
            }
        ]
    }


def test_a_handler_still_comes_before_the_format() -> None:
    app = make_app(error_format=FastAPIErrors())

    @app.exception_handler(404)
    async def not_found(request: Request, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"missing": True}, status=404)

    assert TestClient(app).get("/nowhere").json() == {"missing": True}


def test_a_custom_format_changes_every_error_and_the_document() -> None:
    app = make_app(error_format=RealWorldErrors())
    client = TestClient(app)
    assert client.get("/items/0").json() == {"errors": {"body": ["Item 0 does not exist"]}}
    r = client.post("/items", json={"name": "x"})
    assert (r.status_code, r.json()) == (422, {"errors": {"price": ["Field required"]}})
    document = app.openapi()
    schemas = document["components"]["schemas"]
    assert "GenericErrorModel" in schemas
    assert "ProblemDetails" not in schemas and "ValidationProblem" not in schemas
    ref = {"$ref": "#/components/schemas/GenericErrorModel"}
    for operation in _operations(document):
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                assert response["content"] == {"application/json": {"schema": ref}}, code


def test_the_document_follows_the_fastapi_format() -> None:
    app = make_app(error_format=FastAPIErrors())

    @app.get("/other", responses={409: {"description": "Taken"}})
    async def other() -> None:
        return None

    document = app.openapi()
    create = document["paths"]["/items"]["post"]["responses"]
    assert create["422"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    }
    assert create["415"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}
    }
    conflict = document["paths"]["/other"]["get"]["responses"]["409"]
    assert conflict["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}
    }
    schemas = document["components"]["schemas"]
    assert schemas["HTTPValidationError"]["properties"]["detail"]["items"] == {
        "$ref": "#/components/schemas/ValidationError"
    }
    assert schemas["ValidationError"]["required"] == ["loc", "msg", "type"]
    assert "ProblemDetails" not in schemas
    assert "application/problem+json" not in str(document)


def test_the_default_document_speaks_problem_details() -> None:
    document = make_app().openapi()
    create = document["paths"]["/items"]["post"]["responses"]
    assert create["422"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}
    }
    assert {"ProblemDetails", "ValidationProblem", "ValidationErrorItem"} <= set(
        document["components"]["schemas"]
    )


def test_an_error_format_must_render() -> None:
    class Incomplete(ErrorFormat):
        pass

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in document["paths"].values() for op in item.values()]


# -- HTML error pages ---------------------------------------------------------------------------

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def pages_app(tmp_path: Any = None, **options: Any) -> App:
    from keel.error_formats import HTMLErrorPages

    app = App(error_format=HTMLErrorPages(**options))

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 3:
            raise HTTPError(403, "<b>Not yours</b>")
        if item_id == 5:
            raise RuntimeError("secret internals")
        return {"item_id": item_id}

    return app


def test_browsers_get_an_escaped_page_and_api_clients_problem_json() -> None:
    client = TestClient(pages_app(), raise_server_exceptions=False)
    hostile = "/<script>alert(1)</script>"
    page = client.get(hostile, headers={"accept": BROWSER})
    assert page.status_code == 404
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<h1>404 Not Found</h1>" in page.text
    for accept in (
        None,
        "*/*",
        "application/json",
        "application/problem+json",
        "text/html;q=0.1, application/json",
    ):
        headers = {"accept": accept} if accept else {}
        body = problem(client.get(hostile, headers=headers), 404)
        assert body["detail"] == "No route for /<script>alert(1)</script>"
    forbidden = client.get("/items/3", headers={"accept": BROWSER})
    assert forbidden.status_code == 403 and "&lt;b&gt;Not yours&lt;/b&gt;" in forbidden.text
    failed = client.get("/items/5", headers={"accept": BROWSER})
    assert failed.status_code == 500 and "secret internals" not in failed.text
    assert "<h1>500 Internal Server Error</h1>" in failed.text
    problem(client.get("/items/5"), 500)
    refused = client.post("/items/1", headers={"accept": BROWSER})
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD, OPTIONS"
    assert problem(client.get("/items/x"), 422)["errors"]


def test_templates_override_the_built_in_page(tmp_path: Any) -> None:
    from keel.templates import Templates

    errors = tmp_path / "errors"
    errors.mkdir()
    (errors / "404.html").write_text("<p>lost: {{ detail }} ({{ request.url.path }})</p>")
    (errors / "error.html").write_text("<p>{{ status }} {{ title }}: {{ error.detail }}</p>")
    app = pages_app(templates=Templates(tmp_path))
    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/<i>", headers={"accept": BROWSER})
    assert r.status_code == 404
    assert r.text == "<p>lost: No route for /&lt;i&gt; (/%3Ci%3E)</p>"
    forbidden = client.get("/items/3", headers={"accept": BROWSER})
    assert forbidden.text == "<p>403 Forbidden: &lt;b&gt;Not yours&lt;/b&gt;</p>"
    problem(client.get("/items/3"), 403)


def test_a_broken_error_template_falls_back_to_the_built_in_page(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from keel.templates import Templates

    (tmp_path / "errors").mkdir()
    (tmp_path / "errors" / "404.html").write_text("{{ 1 / 0 }}")
    client = TestClient(pages_app(templates=Templates(tmp_path)))
    r = client.get("/nowhere", headers={"accept": BROWSER})
    assert r.status_code == 404 and "<h1>404 Not Found</h1>" in r.text
    assert "Error page errors/404.html failed" in caplog.text


def test_html_pages_keep_the_api_format_and_document_html() -> None:
    from keel.error_formats import HTMLErrorPages

    app = pages_app(api=FastAPIErrors())
    r = TestClient(app).get("/nowhere")
    assert (r.status_code, r.json()) == (404, {"detail": "No route for /nowhere"})
    pages = HTMLErrorPages(FastAPIErrors())
    assert pages.media_type == "application/json"
    content = pages.content(404)
    assert set(content) == {"application/json", "text/html"}
    assert pages.schemas() == FastAPIErrors().schemas()
