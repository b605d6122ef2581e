"""Server processes: command lines, start in their own process group, wait, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.runner.config import DB_PATH, ROOT, VBIN, BenchError, Target
from bench.runner.environment import Cpus
from bench.runner.options import Options

RUNNING: list[subprocess.Popen[bytes]] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(target: Target, port: int, opts: Options) -> list[str]:
    if target.server == "uvicorn":
        return [
            str(VBIN / "uvicorn"),
            target.app,
            "--host=127.0.0.1",
            f"--port={port}",
            "--loop=uvloop",
            "--http=httptools",
            "--no-access-log",
            "--log-level=warning",
            "--lifespan=on",
        ]
    if target.server == "granian":
        return [
            str(VBIN / "granian"),
            "--interface=asgi",
            "--host=127.0.0.1",
            f"--port={port}",
            "--workers=1",
            "--http=1",
            "--no-access-log",
            "--log-level=warning",
            target.app,
        ]
    worker = target.server.removeprefix("gunicorn-")
    cmd = [
        str(VBIN / "gunicorn"),
        f"--bind=127.0.0.1:{port}",
        "--workers=1",
        f"--worker-class={worker}",
        "--log-level=warning",
    ]
    if worker == "gthread":
        cmd.append(f"--threads={opts.gthread_threads}")
    return [*cmd, target.app]


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env["BENCH_DB"] = str(DB_PATH)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server and every process of its group (gunicorn/granian workers included)."""
    if proc in RUNNING:
        RUNNING.remove(proc)
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None and not group_alive(proc.pid):
                return
            time.sleep(0.05)
    proc.poll()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_all() -> None:
    for proc in list(RUNNING):
        stop(proc)


@contextlib.contextmanager
def serve(
    command: Callable[[int], list[str]], cpus: Cpus, logdir: Path, name: str
) -> Iterator[Server]:
    """Start a server (its own process group, pinned to the server CPU) on a free port, wait
    until it listens, and stop it with its whole process group on the way out."""
    port = free_port()
    cmd = command(port)
    log = logdir / f"{name.replace('/', '-')}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cpus.prefix(cpus.server), *cmd],
            cwd=ROOT,
            env=server_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    RUNNING.append(proc)
    server = Server(proc, port, log)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(proc)


def wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            output = server.log_tail() or "(no output)"
            raise BenchError(f"server exited with {server.proc.returncode}:\n{output}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"server did not listen within {timeout:.0f} s:\n{server.log_tail()}")
