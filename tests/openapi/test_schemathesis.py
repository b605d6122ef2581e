"""schemathesis against the full test app: every operation, valid and invalid inputs.

No 5xx, no response violating its declared schema, no undocumented status code. (The example
apps get the same checks in ``test_examples``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from schemathesis.python.asgi import shutdown_lifespans

from tests.openapi import full_app
from tests.openapi._conformance import check_operation, load_schema

TARGET = "tests.openapi.full_app:app"
# Credentials for the secured operations, so their handlers run too.
HEADERS = {"Authorization": "Bearer abc", "X-API-Key": "key"}
OPERATIONS = [
    pytest.param(path, method, id=f"{method.upper()} {path}")
    for path, item in full_app.app.openapi()["paths"].items()
    for method in item
]


@pytest.fixture(scope="module")
def schema() -> Iterator[Any]:
    yield load_schema(TARGET)
    shutdown_lifespans()


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_operation_conforms(schema: Any, path: str, method: str) -> None:
    check_operation(schema[path][method.upper()], HEADERS)
