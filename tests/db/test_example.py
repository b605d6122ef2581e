"""The example CRUD app: its own test suite, and a schemathesis run with no 5xx."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.live import free_port
from tests.services import require

from .db_test_support import create_pg_database, drop_pg_database, pg_url

ROOT = Path(__file__).resolve().parents[2]
APP = "examples.crud.app:app"


def env_for(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_DATABASE_")}
    env["KEEL_DATABASE_URL"] = url
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_example_tests(url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "examples/crud/tests",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:schemathesis",
        ],
        cwd=ROOT,
        env=env_for(url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


async def _scalar(url: str, sql: str) -> Any:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            result = await conn.exec_driver_sql(sql)
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


def test_example_tests_leave_the_development_database_alone(fresh_database_url: str) -> None:
    """Following the README (KEEL_DATABASE_URL exported, then the tests) keeps the data."""
    dev = fresh_database_url
    migrate = subprocess.run(
        [sys.executable, "-c", "from keel.db.cli import db; db()", "--app", APP, "migrate"],
        cwd=ROOT,
        env=env_for(dev),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr
    asyncio.run(
        _scalar(
            dev,
            "INSERT INTO authors (name, created_at, updated_at) "
            "VALUES ('Mine', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        )
    )
    version = asyncio.run(_scalar(dev, "SELECT version_num FROM alembic_version"))

    run_example_tests(dev)

    assert asyncio.run(_scalar(dev, "SELECT name FROM authors")) == "Mine"
    assert asyncio.run(_scalar(dev, "SELECT version_num FROM alembic_version")) == version
    dev_name = dev.rsplit("/", 1)[1]
    leftovers = {n for n in _pg_databases(dev) if n.startswith(f"{dev_name[:49]}_test_")}
    assert leftovers == set()  # the test database was dropped


def _pg_databases(url: str) -> set[str]:
    if not url.startswith("postgresql"):
        return set()
    admin = url.rsplit("/", 1)[0] + "/postgres"

    async def names() -> set[str]:
        engine = create_async_engine(admin, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                rows = await conn.exec_driver_sql("SELECT datname FROM pg_database")
                return {row[0] for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(names())


@pytest.fixture
def fuzz_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """PostgreSQL when reachable (the stricter backend: NUL bytes, int32 keys), else SQLite."""
    try:
        request.getfixturevalue("postgres_available")
    except pytest.skip.Exception:
        yield f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
        return
    name = create_pg_database()
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


def test_schemathesis_finds_no_server_error(fuzz_database_url: str, tmp_path: Path) -> None:
    fresh_database_url = fuzz_database_url
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        require("schemathesis's st command is not installed: pip install schemathesis")
    env = env_for(fresh_database_url)
    cli = [sys.executable, "-c", "from keel.db.cli import db; db()"]
    migrate = subprocess.run(
        [*cli, "--app", "examples.crud.app:app", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "examples.crud.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/openapi.json"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        result = subprocess.run(
            [
                st,
                "run",
                url,
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "6",
                "--seed",
                "1",
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, (
            output[-4000:] + (tmp_path / "server.log").read_text()[-4000:]
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
