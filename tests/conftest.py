"""Shared fixtures for keel's own tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_keel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a developer's KEEL_* settings (except the CI switch)."""
    for key in list(os.environ):
        if key.startswith("KEEL_") and key != "KEEL_REQUIRE_SERVICES":
            monkeypatch.delenv(key, raising=False)
