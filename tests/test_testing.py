from __future__ import annotations

import asyncio

from keel import App, Request
from keel.testing import AsyncTestClient, TestClient


def _app() -> App:
    app = App()

    @app.get("/who")
    async def who(request: Request) -> dict[str, str | None]:
        return {"ua": request.headers.get("user-agent"), "root": request.scope.get("root_path")}

    return app


def test_default_user_agent_is_testclient_and_root_path() -> None:
    client = TestClient(_app(), root_path="/api")
    assert client.get("/api/who").json() == {"ua": "testclient", "root": "/api"}
    assert TestClient(_app()).get("/who", headers={"user-agent": "me"}).json()["ua"] == "me"
    other = TestClient(_app(), headers={"user-agent": "bot"})
    assert other.get("/who").json()["ua"] == "bot"


def test_async_client_user_agent() -> None:
    async def run() -> str | None:
        async with AsyncTestClient(_app()) as client:
            ua: str | None = (await client.get("/who")).json()["ua"]
            return ua

    assert asyncio.run(run()) == "testclient"
