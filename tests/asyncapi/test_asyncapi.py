"""The AsyncAPI 3.0 document of websocket and event-stream routes, its page and its CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field

from keel import App, ServerSentEvent, WebSocket
from keel.testing import TestClient
from tests.live import running, url_of
from tests.services import import_or_require
from tests.test_cli import KEEL, ROOT

SCHEMA = json.loads((Path(__file__).parent / "asyncapi-3.0.0.schema.json").read_text())


class Say(BaseModel):
    kind: Literal["say"]
    text: str


class Wave(BaseModel):
    kind: Literal["wave"]


class Said(BaseModel):
    user: str
    text: str


Inbound = Annotated[Say | Wave, Field(discriminator="kind")]

app = App(title="Chat", description="Rooms and news.")


@app.websocket("/rooms/{room}")
async def room(ws: WebSocket[Inbound, Said], room: str) -> None:
    """Talk in a room."""
    await ws.accept()


@app.websocket("/raw", summary="Untyped frames")
async def raw(ws: WebSocket) -> None:
    await ws.accept()


@app.get("/news")
async def news() -> AsyncIterator[Said]:
    yield Said(user="x", text="y")


@app.get("/ticks")
async def ticks() -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent("t")


@app.get("/plain")
async def plain() -> dict[str, str]:
    return {}


def validate(document: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(document)


def test_the_document_validates_and_describes_every_channel() -> None:
    document = app.asyncapi()
    validate(document)
    assert document["asyncapi"] == "3.0.0"
    assert document["info"] == {
        "title": "Chat",
        "version": "0.1.0",
        "description": "Rooms and news.",
    }
    channels = document["channels"]
    assert set(channels) == {"room", "raw", "news", "ticks"}
    assert channels["room"]["address"] == "/rooms/{room}"
    assert set(channels["room"]["parameters"]) == {"room"}
    assert channels["room"]["description"] == "Talk in a room."
    ops = document["operations"]
    assert ops["room_receive"]["action"] == "receive"
    messages = document["components"]["messages"]
    inbound = messages["room_in"]["payload"]
    assert inbound["discriminator"] == "kind"
    assert {ref["$ref"] for ref in inbound["oneOf"]} == {
        "#/components/schemas/Say",
        "#/components/schemas/Wave",
    }
    assert messages["room_out"]["payload"] == {"$ref": "#/components/schemas/Said"}
    assert messages["room_error"]["payload"]["title"] == "WebSocketError"
    assert messages["raw_in"]["payload"] == {"type": "string"}
    assert messages["news_event"]["payload"] == {"$ref": "#/components/schemas/Said"}
    assert ops["news_send"]["bindings"]["http"]["method"] == "GET"
    assert set(document["components"]["schemas"]) == {"Said", "Say", "Wave"}


def test_served_at_asyncapi_json_with_a_page() -> None:
    with TestClient(app) as client:
        served = client.get("/asyncapi.json")
        assert served.status_code == 200
        assert served.json() == app.asyncapi()
        page = client.get("/asyncapi")
        assert page.status_code == 200
        assert "/rooms/{room}" in page.text and "server-sent events" in page.text
        assert "<script" not in page.text
        assert "asyncapi" not in json.dumps(client.get("/openapi.json").json()["paths"])


def test_apps_without_realtime_routes_serve_nothing_extra() -> None:
    plain_app = App()
    plain_app.get("/")(plain)
    with TestClient(plain_app) as client:
        assert client.get("/asyncapi.json").status_code == 404
    document = plain_app.asyncapi()
    validate(document)
    assert document["channels"] == {}


def test_the_cli_prints_the_document() -> None:
    out = subprocess.run(
        [KEEL, "asyncapi", "tests.asyncapi.test_asyncapi:app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    validate(json.loads(out))


def test_an_invalid_document_is_caught_by_the_schema() -> None:
    document = app.asyncapi()
    document["operations"]["room_receive"]["action"] = "publish"  # AsyncAPI 2 wording
    with pytest.raises(jsonschema.ValidationError):
        validate(document)


def test_the_page_in_a_browser_shows_the_channels() -> None:
    sync_api = import_or_require("playwright.sync_api", "pip install playwright (or keel[dev])")
    from tests.live import chromium, guarded_page

    with running(app) as server, chromium(sync_api) as browser:
        base = url_of(server)
        with guarded_page(browser, base) as page:
            page.goto(base + "/asyncapi")
            assert page.locator("h1").inner_text() == "Chat"
            addresses = page.locator(".address").all_inner_texts()
            assert addresses == ["/rooms/{room}", "/raw", "/news", "/ticks"]
            assert page.errors == []
