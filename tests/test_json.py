"""JSON bodies: numbers and booleans must be JSON numbers and booleans (strict_json)."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass
from typing_extensions import TypedDict

from keel import App, Body, Form, Query
from keel.fastapi import FastAPI
from keel.settings import Settings
from keel.testing import TestClient
from tests.problems import problem


class Item(BaseModel):
    price: float
    qty: int = 0
    active: bool = True
    amount: decimal.Decimal = decimal.Decimal(0)


class Order(BaseModel):
    items: list[Item]
    extras: dict[str, float] = {}
    by_id: dict[int, float] = {}
    when: datetime.datetime | None = None
    ref: uuid.UUID | None = None


class LaxItem(BaseModel):
    model_config = ConfigDict(strict=False)
    price: float


class Mixed(BaseModel):
    lax_price: float = Field(strict=False)
    price: float


def make_app(app: App) -> App:
    @app.post("/item")
    async def item(body: Item) -> dict[str, Any]:
        return {"price": body.price, "qty": body.qty, "amount": str(body.amount)}

    @app.post("/order")
    async def order(body: Order) -> dict[str, Any]:
        return {
            "total": sum(i.price for i in body.items) + sum(body.extras.values()),
            "by_id": {str(k): v for k, v in body.by_id.items()},
            "when": body.when.isoformat() if body.when else None,
            "ref": str(body.ref) if body.ref else None,
        }

    @app.post("/embedded")
    async def embedded(
        price: Annotated[float, Body()], flag: Annotated[bool, Body()]
    ) -> dict[str, Any]:
        return {"price": price, "flag": flag}

    @app.post("/scalar")
    async def scalar(n: Annotated[int, Body()]) -> int:
        return n

    @app.post("/lax")
    async def lax(body: LaxItem) -> float:
        return body.price

    @app.post("/mixed")
    async def mixed(body: Mixed) -> list[float]:
        return [body.lax_price, body.price]

    @app.get("/query")
    async def query(price: float, n: int, flag: bool) -> list[Any]:
        return [price, n, flag]

    @app.post("/form")
    async def form(price: Annotated[float, Form()], flag: Annotated[bool, Form()]) -> list[Any]:
        return [price, flag]

    @app.post("/param-query")
    async def param_query(body: Item, limit: Annotated[int, Query()] = 1) -> int:
        return limit

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(make_app(App()))


def _error(body: dict[str, Any], loc: list[Any]) -> dict[str, Any]:
    found = [e for e in body["errors"] if e["loc"] == loc]
    assert found, body
    error: dict[str, Any] = found[0]
    return error


@pytest.mark.parametrize(
    ("payload", "loc", "kind"),
    [
        ({"price": "9.99"}, ["body", "price"], "float_type"),
        ({"price": 1, "qty": "3"}, ["body", "qty"], "int_type"),
        ({"price": 1, "qty": True}, ["body", "qty"], "int_type"),
        ({"price": 1, "qty": 1.5}, ["body", "qty"], "int_type"),
        ({"price": 1, "active": "true"}, ["body", "active"], "bool_type"),
        ({"price": 1, "active": 1}, ["body", "active"], "bool_type"),
        ({"price": True}, ["body", "price"], "float_type"),
        ({"price": 1, "amount": "1.50"}, ["body", "amount"], "decimal_type"),
    ],
)
def test_strings_for_numbers_and_booleans_are_422(
    client: TestClient, payload: dict[str, Any], loc: list[Any], kind: str
) -> None:
    body = problem(client.post("/item", json=payload), 422)
    error = _error(body, loc)
    assert error["type"] == kind
    assert error["msg"]


def test_json_numbers_and_booleans_still_read(client: TestClient) -> None:
    r = client.post("/item", json={"price": 9, "qty": 3, "active": False, "amount": 1.5})
    assert r.json() == {"price": 9.0, "qty": 3, "amount": "1.5"}


def test_nested_models_lists_and_dicts_are_strict(client: TestClient) -> None:
    body = problem(client.post("/order", json={"items": [{"price": 1}, {"price": "2"}]}), 422)
    assert _error(body, ["body", "items", 1, "price"])["type"] == "float_type"
    body = problem(client.post("/order", json={"items": [], "extras": {"tip": "1"}}), 422)
    assert _error(body, ["body", "extras", "tip"])["type"] == "float_type"
    body = problem(client.post("/order", json={"items": [], "by_id": {"1": "2.5"}}), 422)
    assert _error(body, ["body", "by_id", "1"])["type"] == "float_type"


def test_strings_json_has_no_type_for_stay_accepted(client: TestClient) -> None:
    """Dates, UUIDs and dict keys are strings in JSON: they still read from strings."""
    ref = str(uuid.uuid4())
    r = client.post(
        "/order",
        json={
            "items": [{"price": 1}],
            "by_id": {"7": 2.5},
            "when": "2026-01-02T03:04:05",
            "ref": ref,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "total": 1.0,
        "by_id": {"7": 2.5},
        "when": "2026-01-02T03:04:05",
        "ref": ref,
    }


def test_embedded_and_single_values_are_strict(client: TestClient) -> None:
    body = problem(client.post("/embedded", json={"price": "1", "flag": "yes"}), 422)
    assert _error(body, ["body", "price"])["type"] == "float_type"
    assert _error(body, ["body", "flag"])["type"] == "bool_type"
    assert client.post("/embedded", json={"price": 1, "flag": True}).json() == {
        "price": 1.0,
        "flag": True,
    }
    assert problem(client.post("/scalar", json="5"), 422)["errors"][0]["type"] == "int_type"
    assert client.post("/scalar", json=5).json() == 5


def test_query_and_form_values_stay_lax(client: TestClient) -> None:
    assert client.get("/query?price=9.99&n=3&flag=true").json() == [9.99, 3, True]
    assert client.post("/form", data={"price": "9.99", "flag": "on"}).json() == [9.99, True]
    assert client.post("/param-query?limit=4", json={"price": 1}).json() == 4


def test_a_model_can_opt_out(client: TestClient) -> None:
    assert client.post("/lax", json={"price": "9.99"}).json() == 9.99


def test_a_field_can_opt_out(client: TestClient) -> None:
    assert client.post("/mixed", json={"lax_price": "1.5", "price": 2}).json() == [1.5, 2.0]
    body = problem(client.post("/mixed", json={"lax_price": "1.5", "price": "2"}), 422)
    assert _error(body, ["body", "price"])["type"] == "float_type"


@pytest.mark.parametrize(
    "app",
    [
        App(strict_json=False),
        App(settings=Settings(strict_json=False)),
        FastAPI(),
    ],
    ids=["argument", "settings", "fastapi"],
)
def test_an_app_can_opt_out(app: App) -> None:
    client = TestClient(make_app(app))
    r = client.post("/item", json={"price": "9.99", "qty": "3", "amount": "1.50"})
    assert r.json() == {"price": 9.99, "qty": 3, "amount": "1.50"}


def test_the_environment_can_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_STRICT_JSON", "false")
    client = TestClient(make_app(App()))
    assert client.post("/item", json={"price": "9.99"}).json()["price"] == 9.99


def test_the_models_own_validation_is_untouched(client: TestClient) -> None:
    """The rewrite is per route: the model itself stays lax outside keel's JSON bodies."""
    client.post("/item", json={"price": 1})
    assert Item.model_validate({"price": "9.99"}).price == 9.99
    assert Item.model_validate_json('{"price": "9.99"}').price == 9.99
    assert Item.__pydantic_complete__ is True


def test_openapi_is_unchanged() -> None:
    strict = make_app(App()).openapi()
    lax = make_app(App(strict_json=False)).openapi()
    assert strict == lax


class Node(BaseModel):
    value: int
    children: list[Node] = []


def test_recursive_models_are_strict_at_every_level() -> None:
    app = App()

    @app.post("/tree")
    async def tree(body: Node) -> int:
        return body.value + sum(c.value for c in body.children)

    client = TestClient(app)
    assert client.post("/tree", json={"value": 1, "children": [{"value": 2}]}).json() == 3
    body = problem(
        client.post(
            "/tree", json={"value": 1, "children": [{"value": 2, "children": [{"value": "3"}]}]}
        ),
        422,
    )
    assert _error(body, ["body", "children", 0, "children", 0, "value"])["type"] == "int_type"


@pydantic_dataclass
class Point:
    x: float


class Counts(TypedDict):
    n: int


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Box(BaseModel):
    point: Point
    counts: Counts
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    pair: tuple[int, float]
    tags: set[int] = set()


def test_dataclasses_typed_dicts_tagged_unions_tuples_and_sets_are_strict() -> None:
    app = App()

    @app.post("/box")
    async def box(body: Box) -> str:
        return type(body.pet).__name__

    client = TestClient(app)
    good = {"point": {"x": 1}, "counts": {"n": 1}, "pet": {"kind": "cat", "lives": 9}}
    assert client.post("/box", json={**good, "pair": [1, 2]}).json() == "Cat"
    bad = {
        "point": {"x": "1"},
        "counts": {"n": "1"},
        "pet": {"kind": "dog", "good": "yes"},
        "pair": ["1", "2"],
        "tags": ["3"],
    }
    body = problem(client.post("/box", json=bad), 422)
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [
        (["body", "point", "x"], "float_type"),
        (["body", "counts", "n"], "int_type"),
        (["body", "pet", "dog", "good"], "bool_type"),
        (["body", "pair", 0], "int_type"),
        (["body", "pair", 1], "float_type"),
        (["body", "tags", 0], "int_type"),
    ]
    assert Point(x="2.5").x == 2.5  # type: ignore[arg-type]  # the class itself stays lax
