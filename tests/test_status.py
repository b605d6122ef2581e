from __future__ import annotations

from http import HTTPStatus

import keel
from keel import App, status
from keel.testing import TestClient


def test_every_registered_status_has_a_constant_named_by_its_phrase() -> None:
    for code in HTTPStatus:
        names = [n for n in status.__all__ if n.startswith(f"HTTP_{code.value}_")]
        assert names, code
        assert all(getattr(status, n) == code.value for n in names)
    assert status.HTTP_413_CONTENT_TOO_LARGE == 413  # RFC 9110 names…
    assert status.HTTP_422_UNPROCESSABLE_CONTENT == 422
    assert status.HTTP_422_UNPROCESSABLE_ENTITY == 422  # …and the older ones code uses
    assert status.WS_1008_POLICY_VIOLATION == 1008
    assert keel.status is status


def test_status_constants_in_a_route() -> None:
    app = App()

    @app.post("/items", status=status.HTTP_201_CREATED)
    async def create() -> dict[str, bool]:
        return {"ok": True}

    assert TestClient(app).post("/items").status_code == 201
