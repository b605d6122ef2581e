"""A single-row read endpoint with keel.db, for a side-by-side run against FastAPI + SQLAlchemy.

It reads the ``world`` table of the benchmark database (``bench/data/bench.db``, made by
``bench/run``) exactly like ``bench/apps/fastapi_app.py``'s ``/db`` does, but through
``keel.db``: ``Database`` + ``Session`` + a schema derived from the model.
Run both in one go, same machine, same settings as ``bench/run`` (uvicorn, uvloop,
httptools, one worker; wrk with 64 connections)::

    python -m examples.crud.bench_db            # 3 s warm-up + 10 s per app
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from keel import App
from keel.db import TYPE_ANNOTATION_MAP, Database, Session, get_or_404, new_metadata

ROOT = Path(__file__).resolve().parents[2]
DB_PATH = Path(os.environ.get("BENCH_DB", ROOT / "bench" / "data" / "bench.db"))
WORLD_ROWS = 10_000


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class World(Base):
    __tablename__ = "world"

    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]


app = App()
db = Database(f"sqlite+aiosqlite:///{DB_PATH}", metadata=Base.metadata, check_migrations=False)
db.init_app(app)


@app.get("/db", responses={404: "No such row."})
async def read_one(session: Session) -> dict[str, int]:
    """One random row, by primary key."""
    world = await get_or_404(session, World, random.randint(1, WORLD_ROWS))
    return {"id": world.id, "randomNumber": world.randomnumber}


def _measure(target: str, port: int, seconds: int, env: dict[str, str]) -> str:
    python = Path(sys.executable)
    uvicorn = [str(python.parent / "uvicorn"), target, "--host=127.0.0.1", f"--port={port}"]
    uvicorn += ["--loop=uvloop", "--http=httptools", "--no-access-log", "--log-level=warning"]
    pin = shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    server = subprocess.Popen((["taskset", "-c", "0"] if pin else []) + uvicorn, cwd=ROOT, env=env)
    try:
        time.sleep(2.5)
        wrk = (["taskset", "-c", "1"] if pin else []) + ["wrk", "-t2", "-c64"]
        url = f"http://127.0.0.1:{port}/db"
        subprocess.run([*wrk, "-d3s", url], capture_output=True, check=True)
        out = subprocess.run(
            [*wrk, f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        f"{float(rps.group(1)) if rps else 0:>9.0f} req/s  p99 {p99.group(1) if p99 else '?':>8}"
        f"  non-2xx {non2xx.group(1) if non2xx else 0}"
    )


def main() -> None:
    """Measure keel.db (two SQLite transaction modes) and FastAPI + SQLAlchemy, one run."""
    seconds = int(os.environ.get("BENCH_SECONDS", "10"))
    base = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [
        ("keel.db (sqlite_begin=auto)", "examples.crud.bench_db:app", {}),
        (
            "keel.db (sqlite_begin=immediate)",
            "examples.crud.bench_db:app",
            {"KEEL_DATABASE_SQLITE_BEGIN": "immediate"},
        ),
        ("fastapi + sqlalchemy", "bench.apps.fastapi_app:app", {}),
    ]
    for i, (label, target, extra) in enumerate(runs):
        print(f"{label:<34}{_measure(target, 18500 + i, seconds, {**base, **extra})}", flush=True)


if __name__ == "__main__":
    main()
