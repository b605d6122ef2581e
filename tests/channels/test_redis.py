"""keel.channels over a real Redis: two server processes, presence keys, a Redis restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from keel.channels import Channels, ChannelsUnavailable
from tests.live import free_port
from tests.services import REDIS_URL, import_or_require, redis_key_prefix, require
from tests.test_cli import KEEL, ROOT, wait_for

redis = import_or_require("redis", "pip install redis (or keel[dev])")


def numsub(url: str, channel: str) -> int:
    conn = redis.Redis.from_url(url)
    try:
        return int(dict(conn.pubsub_numsub(channel))[channel.encode()])
    finally:
        conn.close()


def wait_until(check: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


@contextlib.contextmanager
def servers(redis_url: str, prefix: str, count: int = 2) -> Iterator[list[int]]:
    """``count`` ``keel run`` processes of tests.channels.liveapp sharing ``redis_url``."""
    env = {
        **os.environ,
        "KEEL_CHANNELS_BACKEND": "redis",
        "KEEL_REDIS_URL": redis_url,
        "TEST_CHANNELS_PREFIX": prefix,
    }
    procs: list[subprocess.Popen[bytes]] = []
    ports = [free_port() for _ in range(count)]
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [
                        KEEL,
                        "run",
                        "tests.channels.liveapp:app",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        for port, proc in zip(ports, procs, strict=True):
            wait_for(port, proc)
        yield ports
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)


def test_a_message_published_in_one_process_reaches_clients_of_the_other() -> None:
    with redis_key_prefix() as key_prefix:
        prefix = f"{key_prefix}:"
        with servers(REDIS_URL, prefix) as (a, b):

            async def go() -> None:
                async with connect(f"ws://127.0.0.1:{b}/rooms/lobby?user=bea") as ws:
                    await asyncio.to_thread(
                        wait_until, lambda: numsub(REDIS_URL, prefix + "lobby") >= 1
                    )
                    async with httpx.AsyncClient() as http:
                        sent = await http.post(f"http://127.0.0.1:{a}/rooms/lobby/hi")
                        assert sent.status_code == 200
                        assert json.loads(await ws.recv()) == {"user": "http", "text": "hi"}
                        # presence is shared: process A sees bea, who is connected to B
                        members = await http.get(f"http://127.0.0.1:{a}/rooms/lobby/members")
                        assert members.json() == ["bea"]
                    async with connect(f"ws://127.0.0.1:{a}/rooms/lobby?user=al") as other:
                        await asyncio.to_thread(
                            wait_until, lambda: numsub(REDIS_URL, prefix + "lobby") >= 2
                        )
                        await other.send("from a")
                        assert json.loads(await ws.recv()) == {"user": "al", "text": "from a"}
                        assert json.loads(await other.recv()) == {"user": "al", "text": "from a"}

            asyncio.run(go())


def test_presence_lives_in_expiring_redis_keys() -> None:
    with redis_key_prefix() as key_prefix:

        async def go() -> None:
            channels = Channels(
                backend="redis", redis_url=REDIS_URL, prefix=f"{key_prefix}:", presence_ttl=1
            )
            await channels.start()
            try:
                await channels.enter("room", "ann")
                assert await channels.members("room") == ["ann"]
                conn = redis.asyncio.Redis.from_url(REDIS_URL)
                key = f"{key_prefix}:presence:room"
                assert 0 < await conn.ttl(key) <= 2
                channels._entered.clear()  # its process stopped refreshing it
                await asyncio.sleep(1.1)
                assert await channels.members("room") == []
                await conn.aclose()
            finally:
                await channels.stop()

        asyncio.run(go())


@contextlib.contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port, proc)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_subscribers_resume_after_a_redis_restart_and_hear_they_may_have_missed() -> None:
    if shutil.which("redis-server") is None:
        require("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    prefix = f"restart-{uuid.uuid4().hex}:"
    first = private_redis(port)
    first.__enter__()
    try:
        with servers(url, prefix) as (a, b):

            async def go() -> None:
                async with (
                    connect(f"ws://127.0.0.1:{b}/rooms/r?user=u") as ws,
                    httpx.AsyncClient() as http,
                ):
                    await asyncio.to_thread(wait_until, lambda: numsub(url, prefix + "r") >= 1)
                    await http.post(f"http://127.0.0.1:{a}/rooms/r/before")
                    assert json.loads(await ws.recv())["text"] == "before"

                    first.__exit__(None, None, None)  # Redis goes away
                    down = await http.post(f"http://127.0.0.1:{a}/rooms/r/lost")
                    assert down.status_code == 503
                    assert down.json()["title"] == "Service Unavailable"
                    assert down.headers["retry-after"] == "5"

                    with private_redis(port):  # and comes back
                        await asyncio.to_thread(wait_until, lambda: numsub(url, prefix + "r") >= 1)
                        notice = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        assert notice == {"type": "channels.missed", "channel": "r"}
                        after = await http.post(f"http://127.0.0.1:{a}/rooms/r/after")
                        assert after.status_code == 200
                        assert json.loads(await ws.recv())["text"] == "after"

            asyncio.run(go())
    finally:
        with contextlib.suppress(Exception):
            first.__exit__(None, None, None)


def test_publish_while_redis_is_down_is_a_503_error() -> None:
    async def go() -> None:
        channels = Channels(backend="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0")
        with pytest.raises(ChannelsUnavailable) as down:
            await channels.publish("x", "y")
        assert down.value.status == 503
        await channels.stop()

    asyncio.run(go())
