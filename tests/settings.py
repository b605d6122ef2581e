"""Settings for tests that need production mode (``debug=False``) to be startable."""

from __future__ import annotations

from typing import Any

from keel import Settings

# A fixed, strong-looking key: tests must be reproducible, and production mode refuses weak keys.
TEST_SECRET_KEY = "k3el-t3st-Qx7Vb9Lm2Np4Rs6Tu8Wy0Za1Cd3Ef5Gh7Jk9"


def production(**overrides: Any) -> Settings:
    """Production settings (``debug=False``) that pass the start-up checks, for TestClient."""
    values: dict[str, Any] = {
        "debug": False,
        "secret_key": TEST_SECRET_KEY,
        "allowed_hosts": ["testserver"],
    }
    values.update(overrides)
    return Settings(**values)
