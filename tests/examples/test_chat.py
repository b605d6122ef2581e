"""The chat example: rooms, typed messages, presence and history in keel.db."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples import chat
from keel.testing import TestClient
from tests.asyncapi.test_asyncapi import validate


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    original = chat.db.url
    chat.db.use_url(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    try:
        with TestClient(chat.app) as client:
            yield client
    finally:
        chat.db.use_url(original)


def frames_until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = ws.receive_json()
        if frame["type"] == kind:
            return frame


def test_rooms_presence_typing_and_history(client: TestClient) -> None:
    with client.websocket_connect("/rooms/lobby?user=ann") as ann:
        assert frames_until(ann, "presence")["members"] == ["ann"]
        with client.websocket_connect("/rooms/lobby?user=bob") as bob:
            assert frames_until(bob, "presence")["members"] == ["ann", "bob"]
            assert frames_until(ann, "presence")["members"] == ["ann", "bob"]
            ann.send_json({"type": "typing"})
            assert frames_until(bob, "typing") == {"type": "typing", "user": "ann"}
            ann.send_json({"type": "say", "text": "hello"})
            got = frames_until(bob, "said")
            assert (got["user"], got["text"]) == ("ann", "hello")
            ann.send_json({"type": "say", "text": ""})
            assert frames_until(ann, "error")["errors"][0]["loc"] == ["say", "text"]
        assert frames_until(ann, "presence")["members"] == ["ann"]
    assert client.get("/rooms/lobby/members").json() == []
    history = client.get("/rooms/lobby/history").json()
    assert [(m["user"], m["text"]) for m in history] == [("ann", "hello")]
    with client.websocket_connect("/rooms/lobby?user=cy") as cy:  # history first
        first = cy.receive_json()
        assert (first["type"], first["text"]) == ("said", "hello")


def test_bad_names_are_refused_before_the_handshake(client: TestClient) -> None:
    for path in ("/rooms/lobby", "/rooms/lobby?user=", "/rooms/lobby?user=a%20b"):
        with pytest.raises(Exception) as refused, client.websocket_connect(path):  # noqa: PT011
            pass
        denial: Any = refused.value
        assert denial.status_code == 422
        assert denial.json()["errors"][0]["loc"] == ["query", "user"]


def test_the_asyncapi_document(client: TestClient) -> None:
    document = client.get("/asyncapi.json").json()
    validate(document)
    assert set(document["channels"]) == {"chat", "room_events"}
