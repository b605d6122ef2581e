"""Every generated document is a valid OpenAPI 3.1 document."""

from __future__ import annotations

from typing import Annotated, Any

from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from keel import App, Path, Query, Router
from keel.openapi import generate_openapi
from tests.openapi import full_app


def test_full_app_document_validates() -> None:
    validate(full_app.app.openapi())


class Thing(BaseModel):
    name: str = Field(max_length=20)
    size: int = Field(ge=0)


def big_app(n_routers: int = 20, per_router: int = 10) -> App:
    """An app with ``n_routers * per_router`` routes (200 by default)."""
    app = App(title="Big")
    for r in range(n_routers):
        router = Router(prefix=f"/r{r}", tags=[f"group{r}"])
        for i in range(per_router):
            if i % 2:

                async def read(
                    thing_id: Annotated[int, Path(ge=1)],
                    q: Annotated[str | None, Query(max_length=10)] = None,
                ) -> Thing:
                    return Thing(name="x", size=thing_id)

                router.add_route(f"/things{i}/{{thing_id}}", read, ["GET"], name=f"read_{r}_{i}")
            else:

                async def write(thing: Thing, limit: int = 10) -> list[Thing]:
                    return [thing]

                router.add_route(f"/things{i}", write, ["POST"], name=f"write_{r}_{i}")
        app.include(router)
    return app


def test_two_hundred_routes_generate_a_valid_document() -> None:
    app = big_app()
    assert len(app.routes) == 200
    document: dict[str, Any] = generate_openapi(app)
    assert len(document["paths"]) == 200
    validate(document)
