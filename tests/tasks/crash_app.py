"""The app the process tests run in `keel worker` (its database comes from the environment).

``apply_once`` adds one to a counter in its task session, then (on its first try only)
waits to be killed: the kill must leave the counter untouched, and the re-run applies it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import text

from keel import App, Settings
from keel.db import Database, Session
from tests.settings import TEST_SECRET_KEY

app = App(
    settings=Settings(
        secret_key=TEST_SECRET_KEY,
        tasks_lease=float(os.environ.get("KEEL_TEST_TASKS_LEASE", "1.0")),  # 10: the default
        tasks_poll_interval=0.05,
        tasks_backoff=0.1,
    )
)
db = Database(os.environ.get("KEEL_TEST_TASKS_DB", "sqlite+aiosqlite:///:memory:"))
db.init_app(app)
MARKS = Path(os.environ.get("KEEL_TEST_TASKS_MARKS", "."))


@app.task(retries=3)
async def apply_once(name: str, session: Session) -> str:
    """Add one to counter ``name``; the first try then hangs (to be killed mid-job)."""
    await session.execute(
        text("UPDATE counters SET value = value + 1 WHERE name = :n"), {"n": name}
    )
    mark = MARKS / f"{name}.started"
    if not mark.exists():
        mark.write_text("1")
        await asyncio.sleep(3600)
    return "applied"


@app.task
async def linger(name: str, seconds: float) -> str:
    """Take ``seconds``, then leave a mark (graceful shutdown lets it finish)."""
    (MARKS / f"{name}.started").write_text("1")
    await asyncio.sleep(seconds)
    (MARKS / f"{name}.done").write_text("1")
    return name


FAILURES: list[int] = []


@app.task(retries=1)
async def always_fails(n: int) -> None:
    """Fail every try (its dead letter is retried from the command line)."""
    FAILURES.append(n)
    raise LookupError(f"no {n}")
