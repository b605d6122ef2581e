"""``import keel`` stays light: no battery, no server, no event loop machinery."""

from __future__ import annotations

import subprocess
import sys


def test_import_keel_loads_no_battery_server_or_asyncio() -> None:
    heavy = ["asyncio", "sqlalchemy", "uvicorn", "jinja2", "keel.db", "keel.openapi", "httpx"]
    code = f"import sys, keel\nprint(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
