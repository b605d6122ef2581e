"""keel.flash: messages for the next page, kept in the session, shown once."""

from __future__ import annotations

from keel import App, Request
from keel.flash import flash, get_flashed_messages
from keel.testing import TestClient


def make_app() -> App:
    app = App()
    app.csrf_protection = None  # these posts test flashing, not CSRF

    @app.post("/flash")
    async def add(request: Request, message: str, category: str = "info") -> dict[str, bool]:
        flash(request, message, category)
        return {"ok": True}

    @app.get("/messages")
    async def messages(request: Request, only: str | None = None) -> dict[str, object]:
        if only:
            return {"messages": get_flashed_messages(request, category_filter=[only])}
        return {"messages": get_flashed_messages(request, with_categories=True)}

    @app.get("/nothing")
    async def nothing(request: Request) -> list[str]:
        return get_flashed_messages(request)

    return app


def test_messages_wait_for_the_next_page_and_show_once() -> None:
    with TestClient(make_app()) as client:
        client.post("/flash", params={"message": "Saved", "category": "success"})
        client.post("/flash", params={"message": "Hello"})
        assert client.get("/messages").json() == {
            "messages": [["success", "Saved"], ["info", "Hello"]]
        }
        assert client.get("/messages").json() == {"messages": []}


def test_a_category_filter_takes_only_those() -> None:
    with TestClient(make_app()) as client:
        client.post("/flash", params={"message": "Oops", "category": "error"})
        client.post("/flash", params={"message": "Hi"})
        assert client.get("/messages", params={"only": "error"}).json() == {"messages": ["Oops"]}
        assert client.get("/messages").json() == {"messages": [["info", "Hi"]]}


def test_no_messages_touch_nothing() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/nothing")
    assert response.json() == []
    assert "set-cookie" not in response.headers


def test_the_queue_is_bounded() -> None:
    with TestClient(make_app()) as client:
        for i in range(60):
            client.post("/flash", params={"message": f"m{i}"})
        shown = client.get("/messages").json()["messages"]
    assert len(shown) == 50 and shown[-1] == ["info", "m59"]
