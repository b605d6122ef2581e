"""The keel command, including one real server on a real socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from keel.cli import main

ROOT = Path(__file__).resolve().parent.parent
KEEL = str(Path(sys.executable).parent / "keel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"server exited early: {proc.stdout.read() if proc.stdout else ''!r}"
            )
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("server did not start")


def test_keel_run_serves_on_a_real_socket() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [KEEL, "run", "examples.hello:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(port, proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            r = client.get("/")
            assert r.status_code == 200
            assert r.json() == {"hello": "world"}
            assert "server" not in r.headers  # no server banner
            missing = client.get("/nope")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            # request smuggling: both Transfer-Encoding and Content-Length is rejected (httptools)
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            raw.settimeout(5)
            data = b""
            try:
                while chunk := raw.recv(65536):
                    data += chunk
            except TimeoutError:
                pass
        assert data.count(b"HTTP/1.1") <= 1
        assert b"404" not in data
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_routes_command() -> None:
    result = CliRunner().invoke(main, ["routes", "examples.demo:app"])
    assert result.exit_code == 0, result.output
    assert "/notes/{note_id}" in result.output
    assert "examples.demo.get_note" in result.output


def test_clear_error_for_missing_module_or_attribute() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["routes", "no_such_module:app"])
    assert result.exit_code != 0
    assert "Could not import module 'no_such_module'" in result.output
    result = runner.invoke(main, ["routes", "examples.hello:nope"])
    assert result.exit_code != 0
    assert "has no attribute 'nope'" in result.output
    result = runner.invoke(main, ["run", "examples.hello:nope"])
    assert result.exit_code != 0
