"""One client process of the fan-out benchmark (run by bench/fanout.py with bench/.venv).

``python bench/fanout_client.py URL COUNT SECONDS [--stuck]``: opens COUNT websockets, prints
``ready``, then records each message's latency (receive time minus the publisher's
timestamp) for SECONDS and prints one JSON line: ``{"received": n, "latencies": [...]}``.
With ``--stuck`` the sockets complete the handshake and then never read.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys
import time
from urllib.parse import urlsplit


def stuck(url: str, count: int, seconds: float) -> None:
    parts = urlsplit(url)
    socks = []
    for _ in range(count):
        sock = socket.create_connection((parts.hostname, parts.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        socks.append(sock)  # and never read again
    print("ready", flush=True)
    time.sleep(seconds)
    print(json.dumps({"received": 0, "latencies": []}), flush=True)


async def readers(url: str, count: int, seconds: float) -> None:
    from websockets.asyncio.client import connect

    conns = []
    for _ in range(count):
        conns.append(await connect(url, max_queue=None, ping_interval=None))
    print("ready", flush=True)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def read(ws: object) -> None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                raw = await asyncio.wait_for(ws.recv(), left)  # type: ignore[attr-defined]
            except (TimeoutError, Exception):
                return
            latencies.append(time.time() - json.loads(raw)["t"])

    await asyncio.gather(*(read(ws) for ws in conns))
    print(json.dumps({"received": len(latencies), "latencies": latencies}), flush=True)
    for ws in conns:
        await ws.close()


def main() -> None:
    url, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if "--stuck" in sys.argv:
        stuck(url, count, seconds)
    else:
        asyncio.run(readers(url, count, seconds))


if __name__ == "__main__":
    main()
