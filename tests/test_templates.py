"""keel.templates: rendering, autoescaping, the template globals, fragments, reloading."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2
import pytest

from keel import App, Request, Settings
from keel.middleware import Middleware, SecurityHeadersMiddleware
from keel.responses import HTMLResponse
from keel.staticfiles import collect_static
from keel.templates import TemplateNotFound, Templates
from keel.testing import TestClient
from tests.settings import production

HOSTILE = "<script>alert('x')</script>\"&"


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write(
        tmp_path / "templates",
        {
            "base.html": "<title>{% block title %}{% endblock %}</title>"
            "<main>{% block content %}{% endblock %}</main>",
            "page.html": '{% extends "base.html" %}{% block title %}{{ title }}{% endblock %}'
            '{% block content %}<p title="{{ title }}">{{ title }}</p>'
            "{% block items %}<ul>{% for i in items %}<li>{{ i }}</li>{% endfor %}</ul>"
            "{% endblock %}{% endblock %}",
            "plain.txt": "{{ title }}",
            "data.html": "<script>const data = {{ data|tojson }};</script>"
            "<div data-x='{{ data|tojson }}'></div>",
        },
    )


def app_with(templates: Templates, *, debug: bool = False, **options: object) -> App:
    # debug=False given to App would mean production (start-up checks); unset is enough here
    app = App(debug=debug or None, **options)  # type: ignore[arg-type]

    @app.get("/page")
    async def page(request: Request) -> HTMLResponse:
        return templates.render(request, "page.html", {"title": HOSTILE, "items": [HOSTILE]})

    @app.get("/items/{item_id}", name="item")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def test_render_escapes_hostile_values_and_uses_inheritance(folder: Path) -> None:
    r = TestClient(app_with(Templates(folder))).get("/page")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34;&amp;"
    assert r.text == (
        f'<title>{escaped}</title><main><p title="{escaped}">{escaped}</p>'
        f"<ul><li>{escaped}</li></ul></main>"
    )
    assert "<script>" not in r.text


def test_render_options_status_headers_and_type(folder: Path) -> None:
    templates = Templates(folder)
    app = App()

    @app.get("/made")
    async def made(request: Request) -> HTMLResponse:
        return templates.render(
            request, "plain.txt", {"title": "<b>"}, status=201, headers={"x-a": "1"}
        )

    @app.get("/typed")
    def typed(request: Request) -> HTMLResponse:  # a sync handler renders the same way
        return templates.render(request, "plain.txt", {"title": "x"}, media_type="text/plain")

    client = TestClient(app)
    r = client.get("/made")
    assert (r.status_code, r.headers["x-a"], r.text) == (201, "1", "<b>")  # .txt: no escaping
    assert client.get("/typed").headers["content-type"] == "text/plain; charset=utf-8"


def test_tojson_cannot_break_out_of_a_script_or_an_attribute(folder: Path) -> None:
    templates = Templates(folder)
    data = {"a": "</script><script>alert(1)</script>", "b": "<!-- ' \" & -->", "c": [1, None]}
    app = App()

    @app.get("/")
    async def page(request: Request) -> HTMLResponse:
        return templates.render(request, "data.html", {"data": data})

    text = TestClient(app).get("/").text
    script = re.fullmatch(r"<script>const data = (.*);</script><div data-x='(.*)'></div>", text)
    assert script is not None
    inline, attribute = script.groups()
    for forbidden in ("<", ">", "&", "'"):
        assert forbidden not in inline
        assert forbidden not in attribute
    assert json.loads(inline) == data  # \u003c etc. decode back to the same values
    assert json.loads(attribute) == data


def test_url_for_and_root_path(folder: Path) -> None:
    write(
        folder,
        {"links.html": "{{ url_for('item', item_id=7) }}|{{ url_for('static', path='/a b.css') }}"},
    )
    templates = Templates(folder)
    app = App()
    app.static("/static", folder)

    @app.get("/items/{item_id}", name="item")
    async def item(item_id: int) -> None: ...

    @app.get("/links")
    async def links(request: Request) -> HTMLResponse:
        return templates.render(request, "links.html")

    assert TestClient(app).get("/links").text == "/items/7|/static/a%20b.css"
    under = TestClient(app, root_path="/shop").get("/links")
    assert under.text == "/shop/items/7|/shop/static/a%20b.css"


def test_static_uses_the_manifest_in_production_only(tmp_path: Path, folder: Path) -> None:
    write(tmp_path / "src", {"css/app.css": "body{}"})
    paths = collect_static([tmp_path / "src"], tmp_path / "out")
    write(folder, {"s.html": "{{ static('css/app.css') }} {{ static('/missing.js') }}"})
    templates = Templates(folder)

    def render(debug: bool) -> str:
        app = App(settings=production(debug=debug))
        app.static("/assets", tmp_path / "out")

        @app.get("/")
        async def page(request: Request) -> HTMLResponse:
            return templates.render(request, "s.html")

        return TestClient(app).get("/").text

    assert render(False) == f"/assets/{paths['css/app.css']} /assets/missing.js"
    assert render(True) == "/assets/css/app.css /assets/missing.js"


def test_static_without_a_mount(folder: Path) -> None:
    write(folder, {"s.html": "{{ static('app.css') }}"})

    def render(templates: Templates) -> str:
        app = App()

        @app.get("/")
        async def page(request: Request) -> HTMLResponse:
            return templates.render(request, "s.html")

        return TestClient(app).get("/").text

    assert render(Templates(folder)) == "/static/app.css"
    cdn = Templates(folder, static_url="https://cdn.example.com/s/")
    assert render(cdn) == "https://cdn.example.com/s/app.css"


def test_csp_nonce_matches_the_header(folder: Path) -> None:
    write(folder, {"n.html": '<script nonce="{{ csp_nonce() }}">1</script>'})
    templates = Templates(folder)
    app = App(middleware=[Middleware(SecurityHeadersMiddleware)])

    @app.get("/")
    async def page(request: Request) -> HTMLResponse:
        return templates.render(request, "n.html")

    r = TestClient(app).get("/")
    nonce = re.fullmatch(r'<script nonce="([^"]+)">1</script>', r.text)
    assert nonce is not None
    assert f"'nonce-{nonce.group(1)}'" in r.headers["content-security-policy"]
    bare = App(settings=Settings(security_headers=False))
    bare.get("/")(page)
    assert TestClient(bare).get("/").text == '<script nonce="">1</script>'


def test_a_rendered_form_carries_a_working_csrf_token(folder: Path) -> None:
    write(
        folder,
        {
            "f.html": "<form method=post>{{ csrf_input() }}<input name=title></form>",
            "t.html": "{{ csrf_token() }}",
        },
    )
    templates = Templates(folder)
    app = App()

    @app.get("/")
    async def page(request: Request) -> HTMLResponse:
        return templates.render(request, "f.html")

    @app.get("/token")
    async def token(request: Request) -> HTMLResponse:
        return templates.render(request, "t.html")

    @app.post("/")
    async def save(request: Request) -> dict[str, str]:
        return {"title": str((await request.form())["title"])}

    with TestClient(app) as client:
        html = client.get("/").text
        value = re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', html)
        assert value is not None
        assert client.post("/", data={"title": "x"}).status_code == 403  # the cookie, no token
        sent = client.post("/", data={"title": "x", "csrf_token": value.group(1)})
        assert sent.json() == {"title": "x"}
        assert client.get("/token").text != value.group(1)  # masked anew each time


def test_flashed_messages_show_once(folder: Path) -> None:
    write(
        folder,
        {
            "m.html": "{% for c, m in get_flashed_messages(with_categories=true) %}"
            "[{{ c }}:{{ m }}]{% endfor %}"
        },
    )
    templates = Templates(folder)
    app = App()

    @app.post("/save")
    async def save(request: Request) -> dict[str, bool]:
        from keel.flash import flash

        flash(request, "Saved <b>", "success")
        flash(request, "Check the date")
        return {"ok": True}

    @app.get("/")
    async def page(request: Request) -> HTMLResponse:
        return templates.render(request, "m.html")

    with TestClient(app) as client:
        client.post("/save")  # no session cookie yet: not a CSRF-checked request
        assert client.get("/").text == "[success:Saved &lt;b&gt;][info:Check the date]"
        assert client.get("/").text == ""


def test_context_processors_and_globals(folder: Path) -> None:
    write(folder, {"c.html": "{{ user }}|{{ site }}|{{ shout(path) }}|{{ request.url.path }}"})

    def current_user(request: Request) -> dict[str, str]:
        return {"user": "ann", "path": request.url.path}

    templates = Templates(
        folder,
        context_processors=[current_user],
        globals={"site": "keel"},
        filters={},
    )
    templates.env.globals["shout"] = str.upper
    app = App()

    @app.get("/a")
    async def a(request: Request) -> HTMLResponse:
        return templates.render(request, "c.html")

    @app.get("/b")
    async def b(request: Request) -> HTMLResponse:
        return templates.render(request, "c.html", {"user": "bob"})  # the handler wins

    client = TestClient(app)
    assert client.get("/a").text == "ann|keel|/A|/a"
    assert client.get("/b").text == "bob|keel|/B|/b"


def test_render_block_for_fragments(folder: Path) -> None:
    templates = Templates(folder)
    app = App()

    @app.get("/items")
    async def items(request: Request) -> HTMLResponse:
        return templates.render_block(request, "page.html", "items", {"items": ["a", "<b>"]})

    @app.get("/items-async")
    async def items_async(request: Request) -> HTMLResponse:
        return await templates.render_block_async(request, "page.html", "items", {"items": [1]})

    client = TestClient(app)
    assert client.get("/items").text == "<ul><li>a</li><li>&lt;b&gt;</li></ul>"
    assert client.get("/items-async").text == "<ul><li>1</li></ul>"
    with pytest.raises(LookupError, match="has no block 'nope' of its own"):
        templates.render_block(None, "page.html", "nope")  # type: ignore[arg-type]


def test_render_async_awaits_coroutines(folder: Path) -> None:
    write(folder, {"a.html": "{{ load() }}{% for x in rows() %}{{ x }}{% endfor %}"})
    templates = Templates(folder)

    async def load() -> str:
        return "<loaded>"

    async def rows():  # type: ignore[no-untyped-def]
        for i in range(3):
            yield i

    app = App()

    @app.get("/")
    async def page(request: Request) -> HTMLResponse:
        return await templates.render_async(request, "a.html", {"load": load, "rows": rows})

    assert TestClient(app).get("/").text == "&lt;loaded&gt;012"


def test_a_missing_template_names_the_folders_and_is_a_500(folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "more"
    other.mkdir()
    templates = Templates([folder, other])
    with pytest.raises(TemplateNotFound) as caught:
        templates.get_template("nope.html")
    assert str(folder.resolve()) in str(caught.value) and str(other) in str(caught.value)
    app = App()

    @app.get("/")
    async def page(request: Request) -> HTMLResponse:
        return templates.render(request, "nope.html")

    r = TestClient(app, raise_server_exceptions=False).get("/")
    assert r.status_code == 500
    assert "nope.html" not in r.text  # production: the detail stays on the server


def test_folders_are_searched_in_order(tmp_path: Path) -> None:
    first = write(tmp_path / "a", {"x.html": "a"})
    second = write(tmp_path / "b", {"x.html": "b", "y.html": "b"})
    templates = Templates([first, second])
    assert templates.get_template("x.html").render() == "a"
    assert templates.get_template("y.html").render() == "b"


def test_undefined_is_empty_by_default_and_strict_on_request(folder: Path) -> None:
    write(folder, {"u.html": "[{{ nothing }}]"})
    assert Templates(folder).get_template("u.html").render() == "[]"
    strict = Templates(folder, undefined=jinja2.StrictUndefined)
    with pytest.raises(jinja2.UndefinedError):
        strict.get_template("u.html").render()


def test_auto_reload_follows_debug(folder: Path) -> None:
    write(folder, {"r.html": "one"})

    def serve(debug: bool) -> TestClient:
        templates = Templates(folder)
        app = App(settings=production(debug=debug))

        @app.get("/")
        async def page(request: Request) -> HTMLResponse:
            return templates.render(request, "r.html")

        return TestClient(app)

    prod, development = serve(False), serve(True)
    assert prod.get("/").text == development.get("/").text == "one"
    path = folder / "r.html"
    path.write_text("two")
    stat = path.stat()
    import os

    os.utime(path, (stat.st_atime + 5, stat.st_mtime + 5))  # a visibly newer file
    assert prod.get("/").text == "one"  # compiled once, never re-read
    assert development.get("/").text == "two"


def test_constructor_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="one of directory=, loader= or env="):
        Templates()
    with pytest.raises(RuntimeError, match="does not exist"):
        Templates(tmp_path / "missing")
    loaded = Templates(loader=jinja2.DictLoader({"d.html": "{{ x }}"}))
    assert loaded.get_template("d.html").render(x="<i>") == "&lt;i&gt;"
    given = Templates(env=jinja2.Environment(autoescape=False, auto_reload=False))
    assert "url_for" in given.env.globals
    assert given.env.auto_reload is False  # a given environment keeps its setting
    forced = Templates(env=jinja2.Environment(), auto_reload=False)
    assert forced.env.auto_reload is False
