"""Paths, the frameworks, servers and scenarios of the benchmark, and the server targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
VENV = BENCH / ".venv"
VBIN = VENV / "bin"
VPY = VBIN / "python"
DATA = BENCH / "data"
DB_PATH = DATA / "bench.db"
LUA = BENCH / "wrk" / "bench.lua"
ITEM_JSON = BENCH / "wrk" / "item.json"
NOTE_JSON = BENCH / "wrk" / "note.json"
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
    "routes": ("GET", "/api/v1/items999/42"),
    "writes": ("POST", "/notes"),
}
# The JSON body each POST scenario sends.
BODIES = {"body": ITEM_JSON, "writes": NOTE_JSON}
# Scenarios loaded with their own number of wrk connections (instead of --connections).
CONNECTIONS = {"writes": 32}
# More requests verified against the reference (not loaded): in `routes`, the first and a
# middle route of the 1000 answer too, each with its own number.
PROBES = {"routes": ["/api/v1/items0/7", "/api/v1/items500/1"]}
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
    "routes": (200, "application/json"),
    "writes": (201, "application/json"),
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
