"""Skip-or-fail for tests that need a tool or service this machine may not have.

Every test that needs something outside the Python environment (PostgreSQL, a browser,
schemathesis's command) asks :func:`require`. On a developer's machine a missing tool skips
the test with the reason; with ``KEEL_REQUIRE_SERVICES=1`` (CI: ``.ci/run``) it fails it, so
a missing service can never turn a green CI run into a run that tested less.

Skips about what a backend can do (row locks on SQLite) are not about a missing service and
stay plain ``pytest.skip`` calls.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import NoReturn

import pytest

__all__ = ["import_or_require", "require", "services_required"]


def services_required() -> bool:
    """Whether missing tools and services fail the run (CI) instead of skipping tests."""
    return os.environ.get("KEEL_REQUIRE_SERVICES") == "1"


def require(reason: str, *, module_level: bool = False) -> NoReturn:
    """Skip the test (or the whole module) for a missing tool, or fail under CI.

    Args:
        reason: What is missing and how to get it, e.g. "chromium: apt-get install chromium".
        module_level: Called at a test module's top level (skips the whole module).
    """
    if services_required():
        pytest.fail(f"{reason} (KEEL_REQUIRE_SERVICES=1 makes this a failure)", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


def import_or_require(name: str, install: str, *, module_level: bool = True) -> ModuleType:
    """Import a module a test needs, or :func:`require` it (``pytest.importorskip`` for CI).

    Args:
        name: The module to import, e.g. ``"playwright.sync_api"``.
        install: How to install it, for the message.
        module_level: Called at a test module's top level (the default).
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        require(f"{name} is not importable ({exc}): {install}", module_level=module_level)


REDIS_URL = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def redis_key_prefix() -> Iterator[str]:
    """A unique key prefix on the test Redis (``REDIS_URL``); every key under it is deleted
    afterwards. :func:`require` s Redis: a skip, or a failure under KEEL_REQUIRE_SERVICES=1."""
    redis = import_or_require("redis", "pip install redis (or keel[dev])", module_level=False)
    conn = redis.Redis.from_url(REDIS_URL)
    try:
        conn.ping()
    except redis.exceptions.ConnectionError as exc:
        conn.close()
        require(f"Redis is not reachable at {REDIS_URL} ({exc})")
    prefix = f"keel-test-{uuid.uuid4().hex}"
    try:
        yield prefix
    finally:
        keys = list(conn.scan_iter(match=f"*{prefix}*"))
        if keys:
            conn.delete(*keys)
        conn.close()
