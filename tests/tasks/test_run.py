"""``keel run`` runs an in-process worker: a job enqueued by a request runs in the server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from tests.live import free_port

KEEL = str(Path(sys.executable).parent / "keel")

APP = """
from pathlib import Path

from keel import App
from keel.db import Database

app = App()
db = Database("sqlite+aiosqlite:///./run.db")
db.init_app(app)


@app.on_startup
async def tables() -> None:
    await db.create_all()


@app.task
async def leave_mark(text: str) -> None:
    Path("mark.txt").write_text(text)


@app.post("/marks")
async def mark(text: str) -> dict[str, str]:
    job = await leave_mark.enqueue(text)
    return {"job": job.id}
"""


def test_keel_run_runs_jobs_in_process(tmp_path: Path) -> None:
    (tmp_path / "runapp.py").write_text(textwrap.dedent(APP))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [KEEL, "run", "runapp:app", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "keel run did not start"
            time.sleep(0.05)
        answer = httpx.post(f"http://127.0.0.1:{port}/marks", params={"text": "from a job"})
        assert answer.status_code == 200, answer.text
        mark = tmp_path / "mark.txt"
        deadline = time.monotonic() + 15
        while not mark.exists():
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.02)
        assert mark.read_text() == "from a job"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
