"""The error responses keel sends, as OpenAPI components (RFC 9457 problem details)."""

from __future__ import annotations

from typing import Any

from keel.errors import PROBLEM_JSON, status_phrase

__all__ = ["PROBLEM_SCHEMAS", "error_response"]

_PROBLEM_PROPERTIES: dict[str, Any] = {
    "type": {
        "type": "string",
        "description": "A URI reference identifying the problem type.",
        "examples": ["about:blank"],
    },
    "title": {"type": "string", "description": "A short summary of the problem type."},
    "status": {
        "type": "integer",
        "minimum": 100,
        "maximum": 599,
        "description": "The HTTP status code.",
    },
    "detail": {"description": "An explanation of this occurrence (usually a string)."},
}

PROBLEM_SCHEMAS: dict[str, Any] = {
    "ProblemDetails": {
        "title": "ProblemDetails",
        "description": (
            "An RFC 9457 problem: the body of every keel error response "
            "(`application/problem+json`). Extension members (e.g. `limit`) may be present."
        ),
        "type": "object",
        "properties": _PROBLEM_PROPERTIES,
        "required": ["type", "title", "status"],
        "additionalProperties": True,
    },
    "ValidationErrorItem": {
        "title": "ValidationErrorItem",
        "description": "One invalid input.",
        "type": "object",
        "properties": {
            "loc": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "description": "Where: the location (path, query, header, cookie, body) "
                "followed by the field names and indexes.",
                "examples": [["query", "limit"]],
            },
            "msg": {"type": "string", "description": "What is wrong."},
            "type": {"type": "string", "description": "A machine-readable error code."},
            "input": {
                "type": ["string", "integer", "number", "boolean", "null"],
                "description": "A short preview of the rejected value (never a container "
                "nor a secret-looking field).",
            },
        },
        "required": ["loc", "msg", "type"],
    },
    "ValidationProblem": {
        "title": "ValidationProblem",
        "description": (
            "The problem sent with a 422: `errors` lists each invalid input when the request "
            "failed validation (a battery's own 422, e.g. an unknown reference, may omit it)."
        ),
        "type": "object",
        "properties": {
            **_PROBLEM_PROPERTIES,
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationErrorItem"},
            },
        },
        "required": ["type", "title", "status"],
        "additionalProperties": True,
    },
}

_WHY = {
    400: "The request is malformed (e.g. invalid JSON, query string or form encoding).",
    401: "Authentication is missing or invalid.",
    404: "Nothing matches this path (e.g. a path parameter of the wrong form).",
    413: "The request body is over the size limit.",
    415: "The request body has an unsupported Content-Type.",
    422: "The request input failed validation.",
}


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI Response Object of a problem-details error with ``status``."""
    schema = "ValidationProblem" if status == 422 else "ProblemDetails"
    text = description or f"{status_phrase(status)}: {_WHY.get(status, 'The request failed.')}"
    return {
        "description": text,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
