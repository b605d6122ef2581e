"""Snapshots pin whole documents, so any change to them shows up in review.

After an intended change, rewrite them with::

    KEEL_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/openapi/test_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.openapi._examples import load

SNAPSHOTS = Path(__file__).with_name("snapshots")
UPDATE = os.environ.get("KEEL_UPDATE_SNAPSHOTS") == "1"  # read before the env is cleaned

CASES = {
    "demo.json": "examples.demo:app",
    "full_app.json": "tests.openapi.full_app:app",
}


@pytest.mark.parametrize(("snapshot", "target"), CASES.items())
def test_document_matches_snapshot(snapshot: str, target: str) -> None:
    _, app = load(target)
    text = json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
    path = SNAPSHOTS / snapshot
    if UPDATE or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{path.name} did not exist; it was written now: review and commit it")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert json.loads(text) == expected, (
        f"The OpenAPI document of {target} changed; review the difference and, if it is "
        "intended, rerun with KEEL_UPDATE_SNAPSHOTS=1 to rewrite the snapshot."
    )
