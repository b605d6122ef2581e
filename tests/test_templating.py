"""keel.templating: Starlette's Jinja2Templates spelling on keel's engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel import App, Request
from keel.responses import HTMLResponse
from keel.templates import Templates
from keel.templating import Jinja2Templates
from keel.testing import TestClient


@pytest.fixture
def templates(tmp_path: Path) -> Jinja2Templates:
    (tmp_path / "item.html").write_text(
        "<h1>{{ id }}</h1><a href=\"{{ url_for('read_item', id=id) }}\">{{ request.url.path }}</a>"
    )
    return Jinja2Templates(directory=str(tmp_path))


def test_template_response_in_both_orders(templates: Jinja2Templates) -> None:
    assert isinstance(templates, Templates)
    app = App()

    @app.get("/items/{id}", response_class=HTMLResponse)
    async def read_item(request: Request, id: str) -> HTMLResponse:
        return templates.TemplateResponse(request=request, name="item.html", context={"id": id})

    @app.get("/old/{id}")
    async def old(request: Request, id: str) -> HTMLResponse:
        return templates.TemplateResponse(
            "item.html", {"request": request, "id": id}, status_code=202, headers={"x-a": "1"}
        )

    @app.get("/positional/{id}")
    async def positional(request: Request, id: str) -> HTMLResponse:
        return templates.TemplateResponse(request, "item.html", {"id": id}, 201)

    client = TestClient(app)
    r = client.get("/items/<x>")
    assert r.status_code == 200
    assert r.text == (  # url_for gives absolute URLs, as in Starlette
        '<h1>&lt;x&gt;</h1><a href="http://testserver/items/%3Cx%3E">/items/%3Cx%3E</a>'
    )
    old_style = client.get("/old/5")
    assert (old_style.status_code, old_style.headers["x-a"]) == (202, "1")
    assert old_style.text == '<h1>5</h1><a href="http://testserver/items/5">/old/5</a>'
    assert client.get("/positional/5").status_code == 201


def test_template_response_needs_the_request(templates: Jinja2Templates) -> None:
    with pytest.raises(ValueError, match='must have "request"'):
        templates.TemplateResponse("item.html", {"id": 1})
    with pytest.raises(TypeError, match="needs the request"):
        templates.TemplateResponse(name="item.html", context={"id": 1})


def test_fastapi_imports_port_to_keel_templating() -> None:
    pytest.importorskip("libcst", reason="keel port needs libcst")
    from keel.port import port_source

    ported = port_source("from fastapi.templating import Jinja2Templates\n")
    assert ported.result == "from keel.templating import Jinja2Templates\n"
    assert ported.hands == []
    starlette = port_source("from starlette.templating import Jinja2Templates\n")
    assert starlette.result == "from keel.templating import Jinja2Templates\n"
