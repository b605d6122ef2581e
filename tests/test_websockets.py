"""Websocket routes through the in-process test clients (Starlette's test shape)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from keel import App, Cookie, Depends, Header, HTTPError, Request, Router, WebSocket
from keel.exceptions import WebSocketException
from keel.settings import Settings, get_settings
from keel.testing import AsyncTestClient, TestClient
from keel.websockets import WebSocketDisconnect, WebSocketState


class Ping(BaseModel):
    kind: Literal["ping"]
    n: int


class Note(BaseModel):
    kind: Literal["note"]
    text: str


Inbound = Annotated[Ping | Note, Field(discriminator="kind")]


class Pong(BaseModel):
    n: int


def current_user(request: Request) -> str:
    user = request.session.get("user")
    if user is None:
        raise HTTPError(401, "Log in first")
    return str(user)


app = App(settings=Settings(ws_idle_timeout=0.2))
router = Router(prefix="/api")


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    while True:
        try:
            text = await ws.receive_text()
        except WebSocketDisconnect:
            return
        await ws.send_text(f"echo {text}")


@app.websocket("/items/{item_id:int}")
async def item(
    ws: WebSocket,
    item_id: int,
    q: str = "none",
    limit: int = 10,
    x_token: Annotated[str | None, Header()] = None,
    flavour: Annotated[str | None, Cookie()] = None,
    settings: Annotated[Settings, Depends(get_settings)] = None,  # type: ignore[assignment]
) -> None:
    await ws.accept()
    await ws.send_json(
        {
            "item_id": item_id,
            "q": q,
            "token": x_token,
            "flavour": flavour,
            "idle": settings.ws_idle_timeout,
        }
    )
    await ws.close()


@app.websocket("/typed")
async def typed(ws: WebSocket[Inbound, Pong]) -> None:
    await ws.accept()
    async for message in ws:
        if isinstance(message, Ping):
            await ws.send_message(Pong(n=message.n + 1))
        else:
            await ws.send_json({"note": message.text})


@app.websocket("/me")
async def me(ws: WebSocket, user: Annotated[str, Depends(current_user)]) -> None:
    await ws.accept()
    await ws.send_text(user)
    await ws.close()


@app.get("/login/{name}")
async def login(name: str, request: Request) -> dict[str, str]:
    request.session["user"] = name
    return {"user": name}


@app.websocket("/proto")
async def proto(ws: WebSocket) -> None:
    await ws.accept(subprotocol="chat.v2", headers={"x-extra": "1"})
    await ws.send_bytes(b"\x00raw")
    data = await ws.receive_bytes()
    await ws.send_json({"got": data.hex(), "offered": ws.subprotocols})


@app.websocket("/refuse")
async def refuse(ws: WebSocket) -> None:
    raise WebSocketException(4003, "not today")


@app.websocket("/later")
async def later(ws: WebSocket) -> None:
    await ws.accept()
    raise WebSocketException(4001, "changed my mind")


@app.websocket("/idle")
async def idle(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive_text()


@app.websocket("/boom")
async def boom(ws: WebSocket) -> None:
    await ws.accept()
    raise RuntimeError("kaboom")


@router.websocket("/nested/{name}")
async def nested(ws: WebSocket, name: str) -> None:
    await ws.accept()
    await ws.send_text(name)
    await ws.close()


app.include(router)


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(app) as c:
        yield c


def test_echo_in_the_starlette_shape(client: TestClient) -> None:
    with client.websocket_connect("/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "echo hi"
        ws.send_text("again")
        assert ws.receive_text() == "echo again"


def test_parameters_and_dependencies_are_inferred_as_for_http(client: TestClient) -> None:
    client.cookies.set("flavour", "mint")
    try:
        with client.websocket_connect("/items/7?q=x", headers={"x-token": "t"}) as ws:
            assert ws.receive_json() == {
                "item_id": 7,
                "q": "x",
                "token": "t",
                "flavour": "mint",
                "idle": 0.2,
            }
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1000
    finally:
        client.cookies.clear()


def test_invalid_parameters_are_a_422_before_the_handshake(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/items/7?limit=many"),
    ):
        pass
    denial: Any = refused.value
    assert denial.status_code == 422
    assert denial.json()["errors"][0]["loc"] == ["query", "limit"]


def test_typed_messages(client: TestClient) -> None:
    with client.websocket_connect("/typed") as ws:
        ws.send_json({"kind": "ping", "n": 1})
        assert ws.receive_json() == {"n": 2}
        ws.send_json({"kind": "note", "text": "hello"})
        assert ws.receive_json() == {"note": "hello"}
        ws.send_json({"kind": "ping", "n": "x"})
        error = ws.receive_json()
        assert error["type"] == "error"
        assert error["errors"][0]["loc"] == ["ping", "n"]
        ws.send_text('{"kind": "ping", "n": 1, "n": 2}')
        assert "duplicate" in ws.receive_json()["detail"].lower()
        ws.send_json({"kind": "ping", "n": 5})
        assert ws.receive_json() == {"n": 6}


def test_session_auth_through_depends(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/me"):
        pass
    denial: Any = refused.value
    assert denial.status_code == 401
    assert denial.json()["detail"] == "Log in first"
    assert client.get("/login/ada").status_code == 200
    with client.websocket_connect("/me") as ws:
        assert ws.receive_text() == "ada"
    client.cookies.clear()


def test_cross_site_origin_is_refused_with_403(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/echo", headers={"origin": "https://evil.example"}),
    ):
        pass
    denial: Any = refused.value
    assert denial.status_code == 403
    assert denial.json()["title"] == "Forbidden"
    for origin in ("null", "not a url"):
        with (
            pytest.raises(WebSocketDisconnect),
            client.websocket_connect("/echo", headers={"origin": origin}),
        ):
            pass
    with client.websocket_connect("/echo", headers={"origin": "http://testserver"}) as ws:
        ws.send_text("ok")
        assert ws.receive_text() == "echo ok"


def test_trusted_origins_are_allowed() -> None:
    other = App(settings=Settings(csrf_trusted_origins=["https://*.example.com"]))
    other.add_api_websocket_route("/ws", echo)
    with (
        TestClient(other) as c,
        c.websocket_connect("/ws", headers={"origin": "https://app.example.com"}) as ws,
    ):
        ws.send_text("x")
        assert ws.receive_text() == "echo x"


def test_subprotocols_headers_and_bytes(client: TestClient) -> None:
    with client.websocket_connect("/proto", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.accepted_subprotocol == "chat.v2"
        assert (b"x-extra", b"1") in ws.extra_headers
        assert ws.receive_bytes() == b"\x00raw"
        ws.send_bytes(b"\x01\x02")
        assert ws.receive_json() == {"got": "0102", "offered": ["chat.v1", "chat.v2"]}


def test_websocket_exception_closes_with_its_code(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/refuse"):
        pass
    assert refused.value.code == 4003
    with client.websocket_connect("/later") as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (4001, "changed my mind")


def test_idle_timeout_closes_with_1001(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/idle") as ws:
        ws.receive_text()
    assert closed.value.code == 1001


def test_a_disconnect_the_handler_lets_through_is_raised_at_the_end_as_in_starlette(
    client: TestClient,
) -> None:
    with pytest.raises(WebSocketDisconnect) as raised:  # /echo catches it: nothing raised
        with client.websocket_connect("/echo") as ws:
            ws.send_text("x")
            assert ws.receive_text() == "echo x"
        raise WebSocketDisconnect(4999)
    assert raised.value.code == 4999
    with pytest.raises(WebSocketDisconnect) as raised, client.websocket_connect("/idle"):
        pass  # /idle's receive_text() raises the client's close: the test client re-raises
    assert raised.value.code == 1000


def test_unknown_path_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/nowhere"):
        pass


def test_routers_prefix_websockets_and_url_path_for(client: TestClient) -> None:
    with client.websocket_connect("/api/nested/bob") as ws:
        assert ws.receive_text() == "bob"
    assert app.url_path_for("nested", name="x") == "/api/nested/x"


def test_an_error_in_the_handler_closes_with_1011_and_is_raised() -> None:
    with (
        TestClient(app) as c,
        pytest.raises(RuntimeError, match="kaboom"),
        c.websocket_connect("/boom") as ws,
    ):
        ws.receive_text()
    with TestClient(app, raise_server_exceptions=False) as c:
        with c.websocket_connect("/boom") as ws, pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1011


def test_body_parameters_are_refused_at_startup() -> None:
    bad = App()

    @bad.websocket("/ws")
    async def handler(ws: WebSocket, payload: Pong) -> None:
        raise AssertionError

    with pytest.raises(TypeError, match="request body"):
        bad.build()


def test_sends_before_accept_and_after_close_are_errors() -> None:
    states: list[Any] = []
    other = App()

    @other.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        with pytest.raises(RuntimeError, match="accept"):
            await ws.send_text("too early")
        await ws.accept()
        states.append(ws.application_state)
        await ws.close()
        with pytest.raises(RuntimeError, match="closed"):
            await ws.send_text("too late")

    with (
        TestClient(other) as c,
        c.websocket_connect("/ws") as ws,
        pytest.raises(WebSocketDisconnect),
    ):
        ws.receive_text()
    assert states == [WebSocketState.CONNECTED]


def test_async_test_client() -> None:
    async def go() -> None:
        async with AsyncTestClient(app) as c:
            async with c.websocket_connect("/echo") as ws:
                await ws.send_text("a")
                assert await ws.receive_text() == "echo a"
            async with c.websocket_connect("/typed") as ws:
                await ws.send_json({"kind": "ping", "n": 41})
                assert await ws.receive_json() == {"n": 42}

    asyncio.run(go())


def test_join_without_channels_says_what_to_do() -> None:
    other = App()

    @other.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.join("room")
        except RuntimeError as exc:
            await ws.send_text(str(exc))

    with TestClient(other) as c, c.websocket_connect("/ws") as ws:
        assert "keel.channels" in ws.receive_text()


def test_lifespan_shutdown_closes_open_websockets_with_1012() -> None:
    async def go() -> None:
        async with AsyncTestClient(app) as c:
            session = c.websocket_connect("/echo")
            ws = await session.__aenter__()
            await c.__aexit__(None, None, None)
            with pytest.raises(WebSocketDisconnect) as closed:
                await ws.receive_text()
            assert closed.value.code == 1012
            await session.__aexit__(None, None, None)

    asyncio.run(go())
