"""One schemathesis run of an operation: valid then invalid inputs, bounded and repeatable."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from tests.openapi._examples import load

MAX_EXAMPLES = 12
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
]


def load_schema(target: str, tmp: Path | None = None) -> Any:
    """The schemathesis schema of ``target``, read from its /openapi.json over ASGI.

    An app whose module has a keel ``db`` gets a fresh, migrated SQLite file in ``tmp``.
    """
    module, app = load(target)
    db = getattr(module, "db", None)
    if db is not None and hasattr(db, "migrations"):
        from sqlalchemy.engine import make_url

        from keel.db import migrations

        folder = tmp or Path(tempfile.mkdtemp(prefix="keel-schemathesis-"))
        db.url = make_url(f"sqlite+aiosqlite:///{folder / 'example.db'}")
        if db.migrations.is_dir():
            migrations.migrate(db)
        else:
            asyncio.run(_create_tables(db))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


async def _create_tables(db: Any) -> None:
    await db.connect()
    try:
        await db.create_all()
    finally:
        await db.disconnect()


def check_operation(operation: Any, headers: dict[str, str] | None = None) -> None:
    """Raise when schemathesis finds a 5xx, a schema violation or an undocumented status."""
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # e.g. no invalid input exists for an operation without inputs
            if mode is not GenerationMode.NEGATIVE:
                raise
