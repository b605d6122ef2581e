"""A pytest plugin for the FastAPI tutorial run: one JSON line per test, with its kind.

It is copied next to FastAPI's extracted tests as ``conftest.py`` by ``tutorial_kit``; the
path of the report file comes from ``KEEL_TUTORIAL_REPORT``.

Kinds, from what a test's source asserts:
- ``openapi``: it fetches ``/openapi.json`` (an exact comparison with FastAPI's document);
- ``422``: it asserts FastAPI's ``{"detail": [{"loc": ...}]}`` validation body;
- ``errors``: it asserts FastAPI's other error shapes: a ``{"detail": "..."}`` body, the
  plain-text ``Internal Server Error``, or a bare ``Bearer``/``Basic`` challenge (``App``
  answers problem details and names the realm; ``keel.fastapi.FastAPI`` matches FastAPI);
- ``behaviour``: everything else.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any

import pytest

_KINDS: dict[str, str] = {}
_ROWS: list[dict[str, Any]] = []


def _kind(item: pytest.Item) -> str:
    try:
        source = inspect.getsource(item.function)  # type: ignore[attr-defined]
    except (AttributeError, OSError, TypeError):
        return "behaviour"
    if "openapi.json" in source:
        return "openapi"
    if '"loc"' in source or '"detail": [' in source:
        return "422"
    if any(shape in source for shape in _ERROR_SHAPES):
        return "errors"
    return "behaviour"


_ERROR_SHAPES = (
    '"detail":',
    "'detail':",
    '"Internal Server Error"',
    '== "Bearer"',
    '== "Basic"',
    '"Basic realm=',
)


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    text = report.longreprtext
    for line in text.splitlines():
        if line.startswith("E   "):
            return line[4:].strip()[:300]
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        _KINDS[item.nodeid] = _kind(item)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _ROWS.append(
            {"id": report.nodeid, "kind": "collect", "outcome": "error", "reason": _reason(report)}
        )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = report.outcome
        row = {"id": report.nodeid, "kind": _KINDS.get(report.nodeid, "behaviour")}
        row["outcome"] = outcome
        row["reason"] = _reason(report) if report.failed else ""
        if report.skipped:
            row["reason"] = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        _ROWS.append(row)


def pytest_sessionfinish() -> None:
    path = os.environ.get("KEEL_TUTORIAL_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            for row in _ROWS:
                out.write(json.dumps(row) + "\n")
