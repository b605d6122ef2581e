"""Hostile input against a real uvicorn server on a real socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import free_port
from tests.problems import problem
from tests.test_cli import KEEL, ROOT, wait_for


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [KEEL, "run", "examples.limits:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def rss_kib(url: str) -> int:
    port = url.rsplit(":", 1)[1]
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    pid = out.stdout.split("pid=", 1)[1].split(",", 1)[0]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_big_and_chunked_bodies_are_413_with_flat_memory(server: str) -> None:
    before = rss_kib(server)
    with httpx.Client(base_url=server, timeout=30) as client:
        big = client.post(
            "/items",
            content=b"x" * (12 * 1024 * 1024),
            headers={"content-type": "application/json"},
        )
        assert problem(big, 413)["limit"] == 1024 * 1024

        def chunks() -> Iterator[bytes]:
            for _ in range(50 * 16):
                yield b"y" * 65536

        chunked = client.post(
            "/items", content=chunks(), headers={"content-type": "application/json"}
        )
        problem(chunked, 413)
    grown = rss_kib(server) - before
    assert grown < 20 * 1024, f"server grew by {grown} KiB"


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": "a", "price": ' + b"9" * 100_000 + b"}",
        b'{"name": "\\ud800", "price": 1}',
        b'{"name": "a", "price": NaN}',
        b'{"name": "\xff", "price": 1}',
    ],
)
def test_hostile_json_on_a_real_socket(server: str, payload: bytes) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        r = client.post("/items", content=payload, headers={"content-type": "application/json"})
    assert problem(r, 400)["detail"].startswith("Malformed JSON body")


def test_garbage_request_line_does_not_kill_the_server(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(b"GET /%ff%00/../\x00 HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.settimeout(5)
        assert raw.recv(100).startswith(b"HTTP/1.1 ")
    assert httpx.post(f"{server}/items", json={"name": "a", "price": 1}).status_code == 201


def test_static_files_refuse_hostile_paths_on_a_real_socket(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    for target in (
        b"/static/hello.txt%00.png",
        b"/static/%00",
        b"/static/..%2f..%2fREADME.md",
        b"/static/../../README.md",
        b"/static/%2e%2e/%2e%2e/README.md",
    ):
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw.settimeout(5)
            reply = b""
            while chunk := raw.recv(65536):
                reply += chunk
        status = reply.split(b" ", 2)[1]
        assert status in (b"400", b"404"), (target, reply[:200])
        if status == b"404":  # ours (a 400 here is the HTTP parser's, before keel)
            assert b"content-type: application/problem+json" in reply.lower()
            assert b'"status":404' in reply
    ok = httpx.get(f"{server}/static/hello.txt")
    assert ok.status_code == 200 and ok.text == "hello from a static file\n"
