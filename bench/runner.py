"""The keel benchmark runner (run it as `bench/run`; `bench/run --help` lists the flags).

Stdlib only: it runs on the system Python, builds `bench/.venv` with the peers and keel
(editable), creates the SQLite database, then for each framework/server pair starts one server
pinned to one CPU, verifies every scenario's answer against the raw ASGI reference, warms up,
loads it with wrk pinned to another CPU, samples the server's RSS, and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import hashlib
import html
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = BENCH / ".venv"
VBIN = VENV / "bin"
VPY = VBIN / "python"
DATA = BENCH / "data"
DB_PATH = DATA / "bench.db"
LUA = BENCH / "wrk" / "bench.lua"
ITEM_JSON = BENCH / "wrk" / "item.json"
RESULTS = BENCH / "RESULTS.md"

PEERS = [
    "fastapi",
    "starlette",
    "litestar",
    "flask",
    "django",
    "gunicorn",
    "uvicorn[standard]",
    "granian",
    "sqlalchemy[asyncio]",
    "aiosqlite",
    "jinja2",
    "pydantic",
]
# Distributions whose versions go into RESULTS.md.
VERSIONED = [
    "keel",
    "fastapi",
    "starlette",
    "litestar",
    "msgspec",
    "flask",
    "werkzeug",
    "django",
    "pydantic",
    "pydantic-core",
    "sqlalchemy",
    "aiosqlite",
    "jinja2",
    "uvicorn",
    "uvloop",
    "httptools",
    "granian",
    "gunicorn",
]

FRAMEWORKS = ["raw", "keel", "starlette", "fastapi", "litestar", "flask", "django"]
SERVERS = ["uvicorn", "granian", "gunicorn-sync", "gunicorn-gthread"]
SCENARIOS: dict[str, tuple[str, str]] = {
    "plaintext": ("GET", "/plaintext"),
    "json": ("GET", "/json"),
    "params": ("GET", "/users/42?verbose=true"),
    "body": ("POST", "/items"),
    "db": ("GET", "/db"),
    "fortunes": ("GET", "/fortunes"),
    "deps": ("GET", "/deps"),
}
ALL_SCENARIOS = [*SCENARIOS, "startup"]
# What the raw ASGI reference itself must answer (status, media type).
EXPECTED = {
    "plaintext": (200, "text/plain"),
    "json": (200, "application/json"),
    "params": (200, "application/json"),
    "body": (201, "application/json"),
    "db": (200, "application/json"),
    "fortunes": (200, "text/html"),
    "deps": (200, "application/json"),
}
WORLD_ROWS = 10_000
FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "フレームワークのベンチマーク",
]
IMPORT_MODULES = ["pydantic", "keel", "fastapi", "litestar", "flask"]
HELLO_APPS = {"keel": "bench.apps.hello_keel:app", "fastapi": "bench.apps.hello_fastapi:app"}


@dataclass(frozen=True)
class Target:
    framework: str
    server: str
    app: str

    @property
    def label(self) -> str:
        return f"{self.framework}/{self.server}"


TARGETS = [
    Target("raw", "uvicorn", "bench.apps.raw_asgi:app"),
    Target("raw", "granian", "bench.apps.raw_asgi:app"),
    Target("keel", "uvicorn", "bench.apps.keel_app:app"),
    Target("keel", "granian", "bench.apps.keel_app:app"),
    Target("starlette", "uvicorn", "bench.apps.starlette_app:app"),
    Target("fastapi", "uvicorn", "bench.apps.fastapi_app:app"),
    Target("litestar", "uvicorn", "bench.apps.litestar_app:app"),
    Target("flask", "gunicorn-sync", "bench.apps.flask_app:app"),
    Target("flask", "gunicorn-gthread", "bench.apps.flask_app:app"),
    Target("django", "gunicorn-sync", "bench.apps.django_app:application"),
]
REFERENCE = TARGETS[0]


class BenchError(Exception):
    """A failure that ends the run with a message (no traceback)."""


def say(message: str = "") -> None:
    print(message, flush=True)


# --- options -----------------------------------------------------------------------------


@dataclass
class Options:
    frameworks: list[str]
    servers: list[str]
    scenarios: list[str]
    duration: int
    warmup: int
    connections: int
    threads: int
    timeout: int
    gthread_threads: int
    rounds: int
    quick: bool
    skip_setup: bool
    sequential: bool
    results: Path | None


def csv_list(value: str, allowed: Sequence[str], what: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})"
        )
    return [item for item in allowed if item in items]


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Side-by-side benchmark of keel against raw ASGI, Starlette, FastAPI, "
        "Litestar, Flask and Django (one worker each, 127.0.0.1, wrk).",
    )
    parser.add_argument(
        "--frameworks",
        type=lambda v: csv_list(v, FRAMEWORKS, "framework"),
        default=FRAMEWORKS,
        help=f"comma-separated subset of {','.join(FRAMEWORKS)} (default: all)",
    )
    parser.add_argument(
        "--servers",
        type=lambda v: csv_list(v, SERVERS, "server"),
        default=SERVERS,
        help=f"comma-separated subset of {','.join(SERVERS)} (default: all)",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda v: csv_list(v, ALL_SCENARIOS, "scenario"),
        default=ALL_SCENARIOS,
        help=f"comma-separated subset of {','.join(ALL_SCENARIOS)} (default: all)",
    )
    parser.add_argument("--duration", type=int, default=None, help="seconds of load (10)")
    parser.add_argument("--warmup", type=int, default=None, help="seconds of warm-up (3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--timeout", type=int, default=5, help="wrk request timeout, s (5)")
    parser.add_argument(
        "--gthread-threads", type=int, default=4, help="threads of gunicorn's gthread worker (4)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measured wrk runs per scenario; the median (by req/s) is reported (1)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 s warm-up and 1 s load per scenario; no RESULTS.md unless --results",
    )
    parser.add_argument(
        "--skip-setup", action="store_true", help="do not (re)install bench/.venv packages"
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="one server at a time, all its scenarios in a row (default: every server started "
        "at once, idle ones sleeping, and each scenario loaded on each server in turn, so the "
        "frameworks compared in a scenario are measured minutes, not a quarter hour, apart)",
    )
    parser.add_argument(
        "--results", type=Path, default=None, help=f"results file (default {RESULTS})"
    )
    parser.add_argument("--no-results", action="store_true", help="do not write a results file")
    args = parser.parse_args(argv)
    duration = args.duration if args.duration is not None else (1 if args.quick else 10)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    if duration < 1 or warmup < 0 or min(args.connections, args.threads, args.rounds) < 1:
        parser.error(
            "--duration must be >= 1, --warmup >= 0, --connections/--threads/--rounds >= 1"
        )
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections")
    results: Path | None = args.results
    if args.no_results:
        results = None
    elif results is None and not args.quick:
        results = RESULTS
    return Options(
        frameworks=args.frameworks,
        servers=args.servers,
        scenarios=args.scenarios,
        duration=duration,
        warmup=warmup,
        connections=args.connections,
        threads=args.threads,
        timeout=args.timeout,
        gthread_threads=args.gthread_threads,
        rounds=args.rounds,
        sequential=args.sequential,
        quick=args.quick,
        skip_setup=args.skip_setup,
        results=results,
    )


# --- environment -------------------------------------------------------------------------


def run_quiet(cmd: Sequence[str | Path], what: str) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise BenchError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def setup_venv(skip: bool) -> None:
    if not VPY.exists():
        say(f"creating {VENV.relative_to(ROOT)} ...")
        run_quiet([sys.executable, "-m", "venv", VENV], "creating the virtualenv")
    if skip:
        return
    wanted = hashlib.sha256(
        ("\n".join(PEERS) + (ROOT / "pyproject.toml").read_text()).encode()
    ).hexdigest()
    stamp = VENV / ".bench-installed"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say("installing the peers and keel (editable) into bench/.venv ...")
    run_quiet([VPY, "-m", "pip", "install", "--quiet", *PEERS], "pip install of the peers")
    run_quiet([VPY, "-m", "pip", "install", "--quiet", "-e", ROOT], "pip install -e . (keel)")
    stamp.write_text(wanted)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    say("wrk not found: installing it from the OS packages (apt-get install -y wrk) ...")
    if shutil.which("apt-get") is None:
        raise BenchError("wrk is missing and apt-get is not available: install wrk by hand")
    try:
        run_quiet(["apt-get", "update"], "apt-get update")
        run_quiet(["apt-get", "install", "-y", "wrk"], "apt-get install -y wrk")
    except BenchError as exc:
        raise BenchError(
            f"{exc}\nCould not install wrk. Install it by hand (Debian/Ubuntu: "
            "`sudo apt-get install wrk`) and rerun."
        ) from None
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get reported success but wrk is still not on PATH")
    return found


def database_ok(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            worlds = conn.execute("SELECT count(*) FROM world").fetchone()[0]
            fortunes = [row[0] for row in conn.execute("SELECT message FROM fortune ORDER BY id")]
    except sqlite3.Error:
        return False
    return bool(worlds == WORLD_ROWS and fortunes == FORTUNES)


def create_database(path: Path) -> None:
    if database_ok(path):
        set_wal(path)
        return
    say(f"creating {path.relative_to(ROOT)} (world: {WORLD_ROWS} rows, fortune: 12 rows) ...")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.db")
    tmp.unlink(missing_ok=True)
    rng = random.Random(4)
    with contextlib.closing(sqlite3.connect(tmp)) as conn:
        conn.execute("CREATE TABLE world (id INTEGER PRIMARY KEY, randomnumber INTEGER NOT NULL)")
        conn.execute("CREATE TABLE fortune (id INTEGER PRIMARY KEY, message TEXT NOT NULL)")
        conn.executemany(
            "INSERT INTO world (id, randomnumber) VALUES (?, ?)",
            [(i, rng.randint(1, 10_000)) for i in range(1, WORLD_ROWS + 1)],
        )
        conn.executemany(
            "INSERT INTO fortune (id, message) VALUES (?, ?)",
            list(enumerate(FORTUNES, start=1)),
        )
        conn.commit()
    tmp.replace(path)
    set_wal(path)


def set_wal(path: Path) -> None:
    """Every framework reads the same file in the same journal mode: WAL, as production SQLite
    runs (keel.db switches a database to WAL, and the mode persists in the file)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


@dataclass(frozen=True)
class Cpus:
    server: int | None
    client: int | None

    def prefix(self, cpu: int | None) -> list[str]:
        return ["taskset", "-c", str(cpu)] if cpu is not None else []


def choose_cpus() -> Cpus:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2 and shutil.which("taskset"):
        return Cpus(server=cpus[0], client=cpus[1])
    say("note: fewer than 2 CPUs (or no taskset): server and wrk are not pinned")
    return Cpus(server=None, client=None)


# --- processes ---------------------------------------------------------------------------

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


# --- HTTP answers and verification ---------------------------------------------------------


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes

    @property
    def media_type(self) -> str:
        return self.content_type.split(";")[0].strip().lower()


def fetch(port: int, scenario: str) -> Answer:
    method, path = SCENARIOS[scenario]
    body = ITEM_JSON.read_bytes() if method == "POST" else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return Answer(resp.status, resp.getheader("content-type") or "", resp.read())
    finally:
        conn.close()


ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);")


def normalize_html(text: str) -> str:
    """Whitespace-insensitive HTML with every character reference in one numeric form,
    so `&#39;`, `&#x27;` and `&apos;` compare equal while an unescaped `<` still differs."""

    def canonical(match: re.Match[str]) -> str:
        decoded = html.unescape(match.group(0))
        return "".join(f"&#{ord(ch)};" for ch in decoded) if len(decoded) == 1 else match.group(0)

    text = ENTITY.sub(canonical, text)
    text = re.sub(r">\s+<", "><", text.strip())
    return re.sub(r"\s+", " ", text)


def first_difference(a: str, b: str) -> str:
    index = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if index is None:
        index = min(len(a), len(b))
    return f"at {index}: got {b[index : index + 60]!r}, expected {a[index : index + 60]!r}"


def world_row(world_id: int) -> int | None:
    with contextlib.closing(sqlite3.connect(DB_PATH)) as conn:
        row = conn.execute("SELECT randomnumber FROM world WHERE id = ?", (world_id,)).fetchone()
    return None if row is None else int(row[0])


def check_db(data: object) -> str | None:
    if not isinstance(data, dict) or set(data) != {"id", "randomNumber"}:
        return f"expected an object with id and randomNumber, got {data!r:.120}"
    world_id, number = data["id"], data["randomNumber"]
    if type(world_id) is not int or type(number) is not int:
        return f"id and randomNumber must be integers, got {data!r}"
    if not 1 <= world_id <= WORLD_ROWS:
        return f"id {world_id} outside 1..{WORLD_ROWS}"
    if world_row(world_id) != number:
        return f"row {world_id} has randomNumber {world_row(world_id)}, got {number}"
    return None


def compare(scenario: str, ref: Answer, got: Answer) -> str | None:
    """None when `got` means the same as the reference answer, else why not."""
    if got.status != ref.status:
        return f"status {got.status} (expected {ref.status}): {got.body[:200]!r}"
    if got.media_type != ref.media_type:
        return f"content type {got.content_type!r} (expected {ref.content_type!r})"
    if scenario == "plaintext":
        if got.body != ref.body:
            return f"body {got.body[:100]!r} (expected {ref.body[:100]!r})"
        return None
    if scenario == "fortunes":
        expected = normalize_html(ref.body.decode())
        actual = normalize_html(got.body.decode(errors="replace"))
        if actual != expected:
            return "HTML differs " + first_difference(expected, actual)
        return None
    try:
        data = json.loads(got.body)
    except ValueError:
        return f"body is not JSON: {got.body[:100]!r}"
    if scenario == "db":
        return check_db(data)
    expected_data = json.loads(ref.body)
    if scenario == "body":
        if not isinstance(data, dict) or type(data.get("id")) is not int:
            return f"expected the item with an integer id, got {data!r:.200}"
        data = {k: v for k, v in data.items() if k != "id"}
        expected_data = {k: v for k, v in expected_data.items() if k != "id"}
    if data != expected_data:
        return f"JSON {json.dumps(data)[:200]} (expected {json.dumps(expected_data)[:200]})"
    return None


def reference_answers(port: int, scenarios: Sequence[str]) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}
    for scenario in scenarios:
        answer = fetch(port, scenario)
        status, media = EXPECTED[scenario]
        if answer.status != status or answer.media_type != media:
            raise BenchError(
                f"the raw ASGI reference answered {scenario} with {answer.status} "
                f"{answer.content_type!r}: {answer.body[:300]!r}"
            )
        if scenario == "db" and (why := check_db(json.loads(answer.body))):
            raise BenchError(f"the raw ASGI reference answered db wrongly: {why}")
        answers[scenario] = answer
    return answers


def verify(port: int, scenario: str, reference: dict[str, Answer]) -> str | None:
    try:
        for _ in range(2 if scenario == "db" else 1):
            why = compare(scenario, reference[scenario], fetch(port, scenario))
            if why:
                return why
    except (OSError, http.client.HTTPException) as exc:
        return f"request failed: {exc!r}"
    return None


# --- memory ------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_rss_kib(root: int) -> int:
    return sum(status_kib(pid, "VmRSS") for pid in process_tree(root))


class RssSampler:
    """Samples the summed VmRSS of a process tree every `interval` s and keeps the peak."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, tree_rss_kib(self.root))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, tree_rss_kib(self.root))


# --- load --------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    duration_us: int
    errors: dict[str, int]
    p50_us: int
    p99_us: int

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def run_wrk(
    wrk: str, port: int, scenario: str, seconds: int, opts: Options, cpus: Cpus
) -> WrkResult:
    method, path = SCENARIOS[scenario]
    env = dict(os.environ)
    env["WRK_BODY_FILE"] = str(ITEM_JSON) if method == "POST" else ""
    cmd = [
        *cpus.prefix(cpus.client),
        wrk,
        f"--threads={opts.threads}",
        f"--connections={opts.connections}",
        f"--duration={seconds}s",
        f"--timeout={opts.timeout}s",
        f"--script={LUA}",
        f"http://127.0.0.1:{port}{path}",
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=seconds + opts.timeout + 60
    )
    match = re.search(r"^BENCH_RESULT (.*)$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or not match:
        raise BenchError(f"wrk failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    fields = {k: int(float(v)) for k, v in (pair.split("=") for pair in match.group(1).split())}
    return WrkResult(
        requests=fields["requests"],
        duration_us=fields["duration_us"],
        errors={k: fields[k] for k in ("connect", "read", "write", "status", "timeout")},
        p50_us=fields["p50_us"],
        p99_us=fields["p99_us"],
    )


@dataclass
class Row:
    target: Target
    scenario: str
    result: WrkResult | None = None
    rss_kib: int = 0
    problem: str = ""  # "mismatch: ..." or "failed: ..."


@dataclass
class Run:
    rows: list[Row] = field(default_factory=list)
    imports: list[tuple[str, float | None, int | None, str]] = field(default_factory=list)
    idle: dict[str, int | str] = field(default_factory=dict)

    def row(self, framework: str, server: str, scenario: str) -> Row | None:
        for row in self.rows:
            if (row.target.framework, row.target.server, row.scenario) == (
                framework,
                server,
                scenario,
            ):
                return row
        return None

    def rps(self, framework: str, server: str, scenario: str) -> float | None:
        row = self.row(framework, server, scenario)
        return row.result.rps if row and row.result else None

    def p99(self, framework: str, server: str, scenario: str) -> int | None:
        row = self.row(framework, server, scenario)
        return row.result.p99_us if row and row.result else None


def bench_target(
    target: Target,
    scenarios: Sequence[str],
    reference: dict[str, Answer] | None,
    opts: Options,
    cpus: Cpus,
    wrk: str,
    logdir: Path,
) -> tuple[list[Row], dict[str, Answer] | None]:
    """Start one server, verify and load every scenario. Returns the rows and, for the
    reference target, the reference answers it gave."""
    rows = [Row(target, scenario) for scenario in scenarios]
    say(f"== {target.label}")
    try:
        command = functools.partial(server_command, target, opts=opts)
        with serve(command, cpus, logdir, target.label) as server:
            if reference is None:
                reference = reference_answers(server.port, scenarios)
            for row in rows:
                why = verify(server.port, row.scenario, reference)
                if why:
                    row.problem = f"mismatch: {why}"
                    if why.startswith("status 5"):
                        time.sleep(0.2)
                        row.problem += f"\nserver log:\n{server.log_tail(12)}"
                    say(f"   {row.scenario:<10} MISMATCH {row.problem.removeprefix('mismatch: ')}")
                    continue
                try:
                    with RssSampler(server.proc.pid) as sampler:
                        if opts.warmup:
                            run_wrk(wrk, server.port, row.scenario, opts.warmup, opts, cpus)
                        results = [
                            run_wrk(wrk, server.port, row.scenario, opts.duration, opts, cpus)
                            for _ in range(opts.rounds)
                        ]
                    results.sort(key=lambda r: r.rps)
                    row.result = results[len(results) // 2]
                    if row.result.requests == 0:
                        row.problem = (
                            f"failed: no request completed in {opts.duration} s "
                            "(server hung or starved of CPU)"
                        )
                        row.result = None
                    row.rss_kib = sampler.peak_kib
                except (BenchError, subprocess.TimeoutExpired) as exc:
                    row.problem = f"failed: {exc}"
                if server.proc.poll() is not None:
                    row.problem = f"failed: server died: {server.log_tail(5)}"
                say(f"   {row.scenario:<10} {describe(row)}")
                if server.proc.poll() is not None:
                    break
    except BenchError as exc:
        if target == REFERENCE and reference is None:
            raise
        for row in rows:
            if not row.problem and row.result is None:
                row.problem = f"failed: {exc}"
        say(f"   FAILED: {exc}")
    return rows, reference


def bench_interleaved(
    targets: Sequence[Target],
    scenarios: Sequence[str],
    reference: dict[str, Answer] | None,
    opts: Options,
    cpus: Cpus,
    wrk: str,
    logdir: Path,
) -> list[Row]:
    """Start every server, verify each, then load scenario by scenario, server by server.

    Idle servers sleep in their event loops, so they do not disturb the one under load;
    the rows of one scenario are measured close together in time, which keeps the ratios
    between frameworks honest on a machine whose speed drifts.
    """
    rows = {(t, s): Row(t, s) for t in targets for s in scenarios}
    with contextlib.ExitStack() as stack:
        servers: dict[Target, Server] = {}
        for target in targets:
            say(f"== starting {target.label}")
            try:
                command = functools.partial(server_command, target, opts=opts)
                servers[target] = stack.enter_context(serve(command, cpus, logdir, target.label))
            except BenchError as exc:
                if target == REFERENCE and reference is None:
                    raise
                for scenario in scenarios:
                    rows[(target, scenario)].problem = f"failed: {exc}"
                say(f"   FAILED: {exc}")
                continue
            if reference is None and target == REFERENCE:
                reference = reference_answers(servers[target].port, scenarios)
        if reference is None:
            raise BenchError("no reference answers: the raw ASGI server did not start")
        for target, server in servers.items():
            for scenario in scenarios:
                why = verify(server.port, scenario, reference)
                if why:
                    row = rows[(target, scenario)]
                    row.problem = f"mismatch: {why}"
                    if why.startswith("status 5"):
                        time.sleep(0.2)
                        row.problem += f"\nserver log:\n{server.log_tail(12)}"
        for scenario in scenarios:
            say(f"== {scenario}")
            results: dict[Target, list[WrkResult]] = {t: [] for t in servers}
            for round_ in range(opts.rounds):
                for target, server in servers.items():
                    row = rows[(target, scenario)]
                    if row.problem:
                        continue
                    if server.proc.poll() is not None:
                        row.problem = f"failed: server died: {server.log_tail(5)}"
                        continue
                    try:
                        with RssSampler(server.proc.pid) as sampler:
                            if opts.warmup and round_ == 0:
                                run_wrk(wrk, server.port, scenario, opts.warmup, opts, cpus)
                            results[target].append(
                                run_wrk(wrk, server.port, scenario, opts.duration, opts, cpus)
                            )
                        row.rss_kib = max(row.rss_kib, sampler.peak_kib)
                    except (BenchError, subprocess.TimeoutExpired) as exc:
                        row.problem = f"failed: {exc}"
            for target in servers:
                row = rows[(target, scenario)]
                measured = sorted(results[target], key=lambda r: r.rps)
                if not row.problem and measured:
                    row.result = measured[len(measured) // 2]
                    if row.result.requests == 0:
                        row.problem = (
                            f"failed: no request completed in {opts.duration} s "
                            "(server hung or starved of CPU)"
                        )
                        row.result = None
                say(f"   {target.label:<26} {describe(row)}")
    return [rows[(t, s)] for t in targets for s in scenarios]


def describe(row: Row) -> str:
    if row.problem:
        return row.problem.splitlines()[0][:160]
    assert row.result is not None
    r = row.result
    return (
        f"{r.rps:10,.0f} req/s  p50 {r.p50_us / 1000:7.2f} ms  p99 {r.p99_us / 1000:7.2f} ms  "
        f"rss {row.rss_kib / 1024:6.1f} MiB  errors {r.error_count}"
    )


# --- startup: import cost and idle memory ----------------------------------------------------


def measure_import(
    module: str, cpus: Cpus, logdir: Path, runs: int = 5
) -> tuple[float | None, int | None, str]:
    """Best-of-`runs` wall time and peak RSS (KiB) of `python -c "import <module>"`.

    The peak is the child's own VmHWM, read as its last act: getrusage()/wait4() would report
    the runner's RSS instead, since Linux carries the forked parent's high-water mark across
    exec."""
    code = "import sys\n" + (f"import {module}\n" if module else "")
    code += "sys.stdout.write([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    best_time, best_rss = float("inf"), sys.maxsize
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(
            [*cpus.prefix(cpus.server), str(VPY), "-c", code],
            cwd=logdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            return None, None, f"failed: {lines[-1] if lines else proc.returncode}"
        best_time = min(best_time, elapsed)
        best_rss = min(best_rss, int(proc.stdout.split()[1]))
    return best_time, best_rss, ""


def measure_idle(framework: str, cpus: Cpus, logdir: Path) -> int | str:
    """RSS (KiB) of an idle uvicorn hello-world server after one request."""

    def command(port: int) -> list[str]:
        return [
            str(VBIN / "uvicorn"),
            HELLO_APPS[framework],
            "--host=127.0.0.1",
            f"--port={port}",
            "--loop=uvloop",
            "--http=httptools",
            "--no-access-log",
            "--log-level=warning",
        ]

    try:
        with serve(command, cpus, logdir, f"hello-{framework}") as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            try:
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
            finally:
                conn.close()
            if resp.status != 200:
                return f"failed: GET / answered {resp.status}"
            time.sleep(1.0)
            return tree_rss_kib(server.proc.pid)
    except (BenchError, OSError, http.client.HTTPException) as exc:
        return f"failed: {str(exc).splitlines()[-1] if str(exc) else repr(exc)}"


def measure_startup(run: Run, opts: Options, cpus: Cpus, logdir: Path) -> None:
    say("== startup: import time and memory (best of 5), idle hello-world RSS")
    modules = ["", *(m for m in IMPORT_MODULES if m == "pydantic" or m in opts.frameworks)]
    for module in modules:
        seconds, rss, problem = measure_import(module, cpus, logdir)
        name = module or "(python alone)"
        run.imports.append((name, seconds, rss, problem))
        if problem:
            say(f"   import {name:<16} {problem}")
        else:
            assert seconds is not None and rss is not None
            say(f"   import {name:<16} {seconds:6.3f} s  {rss / 1024:6.1f} MiB")
    for framework in HELLO_APPS:
        if framework in opts.frameworks:
            run.idle[framework] = measure_idle(framework, cpus, logdir)
            value = run.idle[framework]
            shown = value if isinstance(value, str) else f"{value / 1024:.1f} MiB"
            say(f"   idle {framework:<18} {shown}")


# --- report ------------------------------------------------------------------------------


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if i in right else "-" * (w + 2) for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def ratio(run: Run, a: tuple[str, str], b: tuple[str, str], scenario: str) -> float | None:
    top = run.rps(a[0], a[1], scenario)
    bottom = run.rps(b[0], b[1], scenario)
    return top / bottom if top and bottom else None


def results_table(run: Run) -> tuple[str, list[str]]:
    body: list[list[str]] = []
    notes: list[str] = []
    problems: dict[tuple[str, str], list[str]] = {}
    order = {scenario: i for i, scenario in enumerate(SCENARIOS)}
    for row in sorted(run.rows, key=lambda r: order[r.scenario]):
        t = row.target
        cells = [row.scenario, t.framework, t.server]
        if row.result is None:
            kind = row.problem.split(":")[0] if row.problem else "not run"
            cells += ["—", "—", "—", "—", "—", "", "", kind]
            problems.setdefault((t.label, row.problem or "not run"), []).append(row.scenario)
        else:
            r = row.result
            vs_raw = ratio(run, (t.framework, t.server), ("raw", t.server), row.scenario)
            vs_fastapi = ratio(run, (t.framework, t.server), ("fastapi", t.server), row.scenario)
            cells += [
                f"{r.rps:,.0f}",
                f"{r.p50_us / 1000:.2f}",
                f"{r.p99_us / 1000:.2f}",
                f"{row.rss_kib / 1024:.1f}",
                str(r.error_count),
                fmt_ratio(vs_raw),
                fmt_ratio(vs_fastapi),
                row.problem,
            ]
            if r.error_count:
                detail = ", ".join(f"{k} {v}" for k, v in r.errors.items() if v)
                notes.append(f"- {t.label} {row.scenario}: errors: {detail}")
        body.append(cells)
    headers = [
        "scenario",
        "framework",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "peak RSS MiB",
        "errors",
        "vs raw",
        "vs FastAPI",
        "note",
    ]
    for (label, problem), scenarios in problems.items():
        first, _, rest = problem.partition("\n")
        note = f"- {label} ({', '.join(scenarios)}): {first}"
        if rest:
            note += "\n\n  ```\n" + textwrap.indent(rest, "  ") + "\n  ```"
        notes.append(note)
    return md_table(headers, body, right={3, 4, 5, 6, 7, 8, 9}), notes


def startup_tables(run: Run) -> str:
    parts: list[str] = []
    if run.imports:
        rows = []
        for name, seconds, rss, problem in run.imports:
            if problem:
                rows.append([name, "—", "—", problem])
            else:
                assert seconds is not None and rss is not None
                rows.append([name, f"{seconds:.3f}", f"{rss / 1024:.1f}", ""])
        parts.append(
            md_table(["python -c 'import X'", "wall s", "peak RSS MiB", "note"], rows, {1, 2})
        )
    if run.idle:
        rows = []
        for framework, value in run.idle.items():
            if isinstance(value, str):
                rows.append([framework, "—", value])
            else:
                rows.append([framework, f"{value / 1024:.1f}", ""])
        parts.append(
            md_table(["idle hello-world (uvicorn, after 1 request)", "RSS MiB", "note"], rows, {1})
        )
    return "\n\n".join(parts)


def target_checks(run: Run) -> list[list[str]]:
    """keel's targets from the benchmark issue, where this run has the numbers."""
    checks: list[list[str]] = []

    def add(name: str, value: float | None, goal: float, higher: bool, unit: str = "") -> None:
        if value is None:
            return
        met = value >= goal if higher else value <= goal
        sign = "≥" if higher else "≤"
        checks.append(
            [name, f"{value:.2f}{unit}", f"{sign} {goal:.2f}{unit}", "yes" if met else "NO"]
        )

    keel_u, raw_u = ("keel", "uvicorn"), ("raw", "uvicorn")
    for scenario, goal in (("plaintext", 0.85), ("json", 0.80), ("params", 0.75)):
        mine = ratio(run, keel_u, raw_u, scenario)
        add(f"{scenario}: keel / raw (uvicorn)", mine, goal, True)
        theirs = ratio(run, ("starlette", "uvicorn"), raw_u, scenario)
        if theirs is not None:
            add(f"{scenario}: keel / raw vs Starlette / raw", mine, theirs, True)
    for scenario, goal in (("body", 2.5), ("deps", 3.0), ("db", 2.0), ("fortunes", 2.0)):
        add(
            f"{scenario}: keel / FastAPI (uvicorn)",
            ratio(run, keel_u, ("fastapi", "uvicorn"), scenario),
            goal,
            True,
        )
    for scenario in SCENARIOS:
        mine_p99 = run.p99("keel", "uvicorn", scenario)
        theirs_p99 = run.p99("starlette", "uvicorn", scenario)
        if mine_p99 is not None and theirs_p99 is not None:
            add(
                f"{scenario}: keel p99 vs Starlette p99",
                mine_p99 / 1000,
                theirs_p99 / 1000,
                False,
                " ms",
            )
    add(
        "json: keel / raw (granian)",
        ratio(run, ("keel", "granian"), ("raw", "granian"), "json"),
        0.60,
        True,
    )
    for name, seconds, rss, problem in run.imports:
        if name == "keel" and not problem:
            add("import keel: wall time", seconds, 0.15, False, " s")
            add("import keel: peak RSS", None if rss is None else rss / 1024, 25.0, False, " MiB")
    keel_idle, fastapi_idle = run.idle.get("keel"), run.idle.get("fastapi")
    if isinstance(keel_idle, int) and isinstance(fastapi_idle, int):
        add("idle RSS: keel / FastAPI", keel_idle / fastapi_idle, 0.75, False)
    return checks


@dataclass
class Meta:
    started: dt.datetime
    python: str
    versions: dict[str, str | None]
    wrk_version: str
    commit: str
    load_before: float


def collect_meta(started: dt.datetime, wrk: str, load_before: float) -> Meta:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n"
        "    try:\n"
        "        return m.version(n)\n"
        "    except m.PackageNotFoundError:\n"
        "        return None\n"
        "info = {'python': sys.version.split()[0], 'versions': {n: v(n) for n in sys.argv[1:]}}\n"
        "print(json.dumps(info))\n"
    )
    out = subprocess.run(
        [str(VPY), "-c", code, *VERSIONED], capture_output=True, text=True, check=True
    )
    info = json.loads(out.stdout)
    wrk_version = ""
    if wrk:
        text = subprocess.run([wrk, "--version"], capture_output=True, text=True)
        match = re.match(r"(wrk \S+)", (text.stdout + text.stderr).strip())
        wrk_version = match.group(1) if match else ""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "keel"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    commit = (commit or "unknown") + (" (keel/ has uncommitted changes)" if dirty else "")
    return Meta(started, info["python"], info["versions"], wrk_version, commit, load_before)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def render(run: Run, opts: Options, cpus: Cpus, meta: Meta) -> str:
    lines = [f"## Run {meta.started:%Y-%m-%d %H:%M} UTC" + (" (quick)" if opts.quick else ""), ""]
    if opts.quick:
        lines += ["A `--quick` smoke test (1 s per scenario): not a measurement.", ""]
    pinning = (
        f"server on CPU {cpus.server}, wrk on CPU {cpus.client} (taskset)"
        if cpus.server is not None
        else "not pinned (fewer than 2 CPUs)"
    )
    lines += [
        f"- machine: {cpu_model()}, {os.cpu_count()} CPUs, Linux {platform.release()}; {pinning}; "
        f"load average {meta.load_before:.2f} before the run, {os.getloadavg()[0]:.2f} after "
        "(other work on the machine shows up as noise)",
        f"- Python {meta.python}; keel commit {meta.commit}",
        "- versions: "
        + ", ".join(f"{name} {version or 'missing'}" for name, version in meta.versions.items()),
        f"- load: {meta.wrk_version or 'wrk'}, {opts.threads} threads, {opts.connections} "
        f"connections, {opts.warmup} s warm-up then {opts.duration} s per scenario"
        + (f" (median of {opts.rounds} runs)" if opts.rounds > 1 else "")
        + ", "
        f"timeout {opts.timeout} s; one server worker each (gunicorn gthread: "
        f"{opts.gthread_threads} threads)",
        "- peak RSS: the largest summed RSS of the server's process tree (master + worker "
        "for gunicorn and granian), sampled every 0.2 s during warm-up and load",
        "- errors: wrk's socket errors (connect, read, write, timeout) plus responses >= 400",
        "- vs raw: req/s over the raw ASGI app's on the same server; vs FastAPI: over "
        "FastAPI's on the same server",
        "",
        "Figures are only comparable within one run: same machine, same moment, same load. "
        "Compare ratios between runs, never absolute numbers.",
        "",
    ]
    if run.rows:
        table, notes = results_table(run)
        lines += [table, ""]
        if notes:
            lines += ["Notes:", "", *notes, ""]
    startup = startup_tables(run)
    if startup:
        lines += ["### Startup", "", startup, ""]
    checks = target_checks(run)
    if checks:
        lines += [
            "### keel's targets (issue 4)",
            "",
            md_table(["check", "measured", "target", "met"], checks, {1, 2}),
            "",
        ]
    return "\n".join(lines)


RESULTS_HEADER = """# Benchmark results

Written by `bench/run` (see `bench/README.md`), newest run first. Figures are only
comparable within one run: same machine, same moment, same load. Compare ratios.
"""


def write_results(path: Path, section: str) -> None:
    previous = path.read_text() if path.exists() else ""
    runs = previous[previous.find("\n## Run ") + 1 :] if "\n## Run " in previous else ""
    path.write_text(RESULTS_HEADER + "\n" + section.rstrip() + "\n" + ("\n" + runs if runs else ""))


# --- main --------------------------------------------------------------------------------


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        say(
            f"warning: the machine is busy (load average {load_before:.2f}): "
            "other work shows up as noise; consider --rounds 3"
        )
    http_scenarios = [s for s in opts.scenarios if s in SCENARIOS]
    targets = [t for t in TARGETS if t.framework in opts.frameworks and t.server in opts.servers]
    run = Run()
    try:
        setup_venv(opts.skip_setup)
        wrk = ensure_wrk() if http_scenarios and targets else ""
        create_database(DB_PATH)
        cpus = choose_cpus()
        if cpus.client is not None:
            os.sched_setaffinity(0, {cpus.client})
        with tempfile.TemporaryDirectory(prefix="keel-bench-") as tmp:
            logdir = Path(tmp)
            if "startup" in opts.scenarios:
                measure_startup(run, opts, cpus, logdir)
            if http_scenarios and targets:
                reference: dict[str, Answer] | None = None
                if REFERENCE not in targets:
                    say(f"== {REFERENCE.label} (reference answers only, not loaded)")
                    command = functools.partial(server_command, REFERENCE, opts=opts)
                    with serve(command, cpus, logdir, "reference") as server:
                        reference = reference_answers(server.port, http_scenarios)
                if opts.sequential:
                    for target in targets:
                        rows, reference = bench_target(
                            target, http_scenarios, reference, opts, cpus, wrk, logdir
                        )
                        run.rows += rows
                else:
                    run.rows += bench_interleaved(
                        targets, http_scenarios, reference, opts, cpus, wrk, logdir
                    )
        meta = collect_meta(started, wrk, load_before)
    except KeyboardInterrupt:
        say("\ninterrupted: servers stopped")
        return 130
    except BenchError as exc:
        say(f"\nbench/run: {exc}")
        return 1
    finally:
        stop_all()
    section = render(run, opts, cpus, meta)
    say("")
    say(section)
    if opts.results is not None:
        write_results(opts.results, section)
        say(f"results written to {opts.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
