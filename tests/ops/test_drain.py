"""Graceful drain under ``keel serve``: a real server process, a real socket, a real SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx

from tests.live import free_port
from tests.settings import TEST_SECRET_KEY

KEEL = str(Path(sys.executable).parent / "keel")

APP = """
import asyncio
from pathlib import Path

from keel import App

app = App()
app.health()
started = 0


@app.get("/slow")
async def slow(seconds: float = 1.0) -> dict[str, float]:
    global started
    started += 1
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@app.get("/started")
async def count() -> dict[str, int]:
    return {"started": started}


@app.on_shutdown
def goodbye() -> None:
    Path("shutdown-ran").write_text("yes")
"""


def _serve(folder: Path, module: str, port: int, **env: str) -> subprocess.Popen[bytes]:
    (folder / f"{module}.py").write_text(textwrap.dedent(APP))
    environment = {
        **os.environ,
        "KEEL_SECRET_KEY": TEST_SECRET_KEY,
        "KEEL_ALLOWED_HOSTS": "127.0.0.1",
        **env,
    }
    with (folder / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [KEEL, "serve", f"{module}:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, (folder / "server.log").read_text()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start")


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_sigterm_drains_a_slow_request(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(tmp_path, "drainapp", port, KEEL_DRAIN_DELAY="0.5", KEEL_DRAIN_TIMEOUT="5")
    base = f"http://127.0.0.1:{port}"
    result: dict[str, httpx.Response] = {}
    try:
        assert httpx.get(f"{base}/readyz").status_code == 200

        def slow() -> None:
            result["slow"] = httpx.get(f"{base}/slow", params={"seconds": 1.5}, timeout=10)

        thread = threading.Thread(target=slow)
        thread.start()
        while httpx.get(f"{base}/started").json()["started"] < 1:
            time.sleep(0.02)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        # during the drain delay the server still accepts, and /readyz says 503
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503
        assert ready.json()["detail"] == "The server is shutting down."
        # then new connections are refused while the slow request is still running
        while not _refused(port):
            assert time.monotonic() - signalled < 3
            time.sleep(0.02)
        assert "slow" not in result
        thread.join(10)
        assert result["slow"].status_code == 200
        assert result["slow"].json() == {"slept": 1.5}
        code = proc.wait(10)
        elapsed = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
        output = (tmp_path / "server.log").read_text()
    assert code == 0, output
    assert elapsed < 5
    assert (tmp_path / "shutdown-ran").read_text() == "yes"


def test_drain_timeout_cuts_requests_that_overrun(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(tmp_path, "overrunapp", port, KEEL_DRAIN_TIMEOUT="0.5")
    base = f"http://127.0.0.1:{port}"
    result: list[httpx.Response] = []
    try:

        def slow() -> None:
            result.append(httpx.get(f"{base}/slow", params={"seconds": 30}, timeout=10))

        thread = threading.Thread(target=slow)
        thread.start()
        while httpx.get(f"{base}/started").json()["started"] < 1:
            time.sleep(0.02)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        elapsed = time.monotonic() - signalled
        thread.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    assert elapsed < 3  # 0.5 s of drain, not the 30 s the request wanted
    # the request cut short is told to retry, in a problem, not given a bare 500
    assert result[0].status_code == 503
    assert result[0].headers["content-type"] == "application/problem+json"
    assert result[0].headers["connection"] == "close"
    assert result[0].json()["detail"].startswith("The server shut down before")
    assert (tmp_path / "shutdown-ran").read_text() == "yes"


def test_drain_100_in_flight_requests(tmp_path: Path) -> None:
    """100 requests sleeping 0.5 s are in flight at SIGTERM: every one completes."""
    port = free_port()
    proc = _serve(tmp_path, "hundredapp", port, KEEL_DRAIN_TIMEOUT="10")
    base = f"http://127.0.0.1:{port}"

    async def load() -> tuple[list[int], float]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=20) as client:
            tasks = [
                asyncio.create_task(client.get("/slow", params={"seconds": 0.5}))
                for _ in range(100)
            ]
            async with httpx.AsyncClient(base_url=base) as probe:
                while (await probe.get("/started")).json()["started"] < 100:
                    await asyncio.sleep(0.01)
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            responses = await asyncio.gather(*tasks)
            await asyncio.to_thread(proc.wait, 10)
            return [r.status_code for r in responses], time.monotonic() - signalled

    try:
        statuses, elapsed = asyncio.run(load())
    finally:
        if proc.poll() is None:
            proc.kill()
    assert statuses == [200] * 100
    assert proc.returncode == 0
    print(f"\ndrained 100 in-flight requests (0.5 s each) in {elapsed:.3f} s")
    assert elapsed < 5
