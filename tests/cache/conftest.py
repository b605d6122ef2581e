"""Fixtures of the keel.cache tests: a key prefix on the shared Redis, and a private Redis
server (its own port, no persistence) that a test may kill."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.services import REDIS_URL, redis_key_prefix, require


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the shared test Redis, its keys deleted afterwards."""
    with redis_key_prefix() as prefix:
        yield prefix + ":"


@pytest.fixture
def shared_redis_url(redis_prefix: str) -> str:
    """The shared test Redis (reachable: ``redis_prefix`` checked it)."""
    return REDIS_URL


class PrivateRedis:
    """A ``redis-server`` of this test alone, on a free port; :meth:`kill` ends it."""

    def __init__(self) -> None:
        path = shutil.which("redis-server")
        if path is None:
            require("redis-server is not installed: apt-get install redis-server")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [
                path,
                "--port",
                str(self.port),
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
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.kill()
                    pytest.fail(f"the private redis-server did not start on port {self.port}")
                time.sleep(0.02)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """End the server (SIGKILL) and wait for it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        yield server
    finally:
        server.kill()
