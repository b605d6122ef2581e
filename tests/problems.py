"""Assertions on keel's one error format, RFC 9457 problem details."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert an httpx response is a problem with ``status``; return the problem object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "status"} <= set(body)
    return body


def raw_problem(sent: Sequence[Mapping[str, Any]], status: int) -> dict[str, Any]:
    """The same for the ASGI messages an app sent."""
    start = sent[0]
    assert start["status"] == status
    assert (b"content-type", b"application/problem+json") in start["headers"]
    body: dict[str, Any] = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["status"] == status
    assert {"type", "title", "status"} <= set(body)
    return body
