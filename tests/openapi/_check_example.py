"""Check one example app in this process; prints a JSON report on the last line.

``python -m tests.openapi._check_example examples.demo:app``
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate
from schemathesis.python.asgi import shutdown_lifespans

from tests.openapi._conformance import check_operation, load_schema
from tests.openapi._examples import load


def check(target: str) -> dict[str, Any]:
    """Validate the document of ``target`` and run schemathesis over each operation."""
    report: dict[str, Any] = {"target": target, "valid": None, "operations": {}}
    _, app = load(target)
    document = app.openapi()
    try:
        validate(document)
        report["valid"] = "ok"
    except Exception as exc:
        report["valid"] = f"{type(exc).__name__}: {exc}"[:2000]
    with tempfile.TemporaryDirectory(prefix="keel-example-") as tmp:
        schema = load_schema(target, Path(tmp))
        try:
            for path, item in document["paths"].items():
                for method in item:
                    label = f"{method.upper()} {path}"
                    try:
                        check_operation(schema[path][method.upper()])
                        report["operations"][label] = "ok"
                    except BaseException as exc:  # schemathesis raises exception groups
                        if isinstance(exc, KeyboardInterrupt):
                            raise
                        report["operations"][label] = f"{type(exc).__name__}: {exc}"[:3000]
        finally:
            shutdown_lifespans()
    return report


if __name__ == "__main__":
    print(json.dumps(check(sys.argv[1])))
