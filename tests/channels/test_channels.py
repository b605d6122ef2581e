"""keel.channels with the in-memory backend: publish/subscribe, groups and presence."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from keel import App, WebSocket
from keel.channels import ChannelMessage, Channels
from keel.settings import Settings
from keel.testing import AsyncTestClient, TestClient


def test_publish_reaches_every_subscriber_in_order() -> None:
    async def go() -> None:
        channels = Channels()
        got: dict[str, list[Any]] = {"a": [], "b": []}

        async def reader(name: str) -> None:
            async for message in channels.subscribe("news"):
                got[name].append(message.json() if message.data != "end" else "end")
                if message.data == "end":
                    return

        tasks = [asyncio.ensure_future(reader(n)) for n in got]
        await asyncio.sleep(0)
        await channels.publish("news", {"n": 1})
        await channels.publish("other", {"n": 99})
        await channels.publish("news", {"n": 2})
        await channels.publish("news", "end")
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert got == {"a": [{"n": 1}, {"n": 2}, "end"], "b": [{"n": 1}, {"n": 2}, "end"]}
        assert channels._subscribers == {}  # readers that stopped are gone

    asyncio.run(go())


def test_a_slow_subscriber_keeps_only_the_newest_messages() -> None:
    async def go() -> None:
        channels = Channels(subscriber_buffer=3)
        subscription = channels.subscribe("x")
        iterator = subscription.__aiter__()
        first = asyncio.ensure_future(iterator.__anext__())
        await asyncio.sleep(0)
        for i in range(10):
            await channels.publish("x", str(i))
        # the reader had no turn while ten were published: it gets the newest three
        assert (await first).data == "7"
        rest = [(await iterator.__anext__()).data for _ in range(2)]
        assert rest == ["8", "9"]
        assert subscription.dropped == 7
        await iterator.aclose()  # type: ignore[attr-defined]

    asyncio.run(go())


def test_message_objects() -> None:
    message = ChannelMessage("c", '{"a": 1}')
    assert message.json() == {"a": 1}
    assert not message.missed


def make_app() -> tuple[App, Channels]:
    app = App()
    channels = Channels(app)

    @app.websocket("/rooms/{room}")
    async def room(ws: WebSocket, room: str, user: str) -> None:
        await ws.accept()
        await ws.join(room)
        await channels.enter(room, user)
        try:
            async for text in ws:
                if text == "leave":
                    await ws.leave(room)
                    await ws.send_text("left")
                    continue
                await channels.broadcast(room, {"user": user, "text": text})
        finally:
            await channels.exit(room, user)

    @app.get("/members/{room}")
    async def members(room: str) -> list[str]:
        return await channels.members(room)

    return app, channels


def test_websocket_groups_and_presence() -> None:
    app, channels = make_app()
    with TestClient(app) as client:
        with (
            client.websocket_connect("/rooms/1?user=ann") as ann,
            client.websocket_connect("/rooms/1?user=bob") as bob,
            client.websocket_connect("/rooms/2?user=cy") as cy,
        ):
            assert client.get("/members/1").json() == ["ann", "bob"]
            ann.send_text("hello")
            assert bob.receive_json() == {"user": "ann", "text": "hello"}
            assert ann.receive_json() == {"user": "ann", "text": "hello"}
            cy.send_text("elsewhere")
            assert cy.receive_json() == {"user": "cy", "text": "elsewhere"}
            bob.send_text("leave")
            assert bob.receive_text() == "left"
            ann.send_text("still here?")
            assert ann.receive_json()["text"] == "still here?"
            assert channels.local_members("1") == 1
        assert client.get("/members/1").json() == []
        assert channels._groups == {}


def test_presence_expires_when_not_refreshed() -> None:
    async def go() -> None:
        channels = Channels(presence_ttl=0.05)
        await channels.enter("r", "ghost")
        assert await channels.members("r") == ["ghost"]
        channels._entered.clear()  # as if its process stopped refreshing it
        await asyncio.sleep(0.1)
        assert await channels.members("r") == []
        await channels.stop()

    asyncio.run(go())


def test_the_backend_comes_from_settings() -> None:
    with pytest.raises(ValueError, match="KEEL_REDIS_URL"):
        Channels(settings=Settings(channels_backend="redis"))
    assert Channels(settings=Settings()).backend_name == "memory"


def test_async_client_with_groups() -> None:
    app, channels = make_app()

    async def go() -> None:
        async with (
            AsyncTestClient(app) as client,
            client.websocket_connect("/rooms/9?user=zed") as ws,
        ):
            await channels.broadcast("9", {"text": "from outside"})
            assert await ws.receive_json() == {"text": "from outside"}

    asyncio.run(go())
