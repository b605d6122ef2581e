"""The server-rendered notebook example: forms, validation errors, uploads, flash messages.

The browser test drives Debian's chromium (Playwright) against the app on a real uvicorn
socket: it submits the form invalid then valid, uploads a file, sees the flash messages and
the HTML error page. Skipped when chromium or Playwright is absent, unless
KEEL_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.notebook.app import MAX_ATTACHMENT, create_app
from keel.server import uvicorn_options
from keel.testing import TestClient
from tests.live import CHROMIUM, chromium, guarded_page, running, url_of
from tests.problems import problem
from tests.services import import_or_require, require


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}", tmp_path / "uploads")
    with TestClient(app) as client:
        yield client


def token_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def test_create_show_edit_delete(client: TestClient) -> None:
    assert "No notes yet." in client.get("/").text
    form = client.get("/notes/new").text
    assert 'enctype="multipart/form-data"' in form
    created = client.post(
        "/notes/new",
        data={"title": "Shopping <list>", "body": "milk", "csrf_token": token_of(form)},
        files={"attachment": ("list.txt", b"milk\neggs\n", "text/plain")},
        follow_redirects=False,
    )
    assert created.status_code == 303
    detail = client.get(created.headers["location"]).text
    assert "Note “Shopping &lt;list&gt;” created." in detail  # flashed, escaped
    assert "<list>" not in detail
    assert client.get(created.headers["location"]).text.count("created.") == 0  # shown once
    download = client.get(created.headers["location"] + "/attachment")
    assert download.content == b"milk\neggs\n"
    assert download.headers["content-disposition"].startswith("attachment")
    edit = client.get(created.headers["location"] + "/edit").text
    assert 'value="Shopping &lt;list&gt;"' in edit
    saved = client.post(
        created.headers["location"] + "/edit",
        data={"title": "Groceries", "csrf_token": token_of(edit)},
    )
    assert "Changes saved." in saved.text and ">Groceries<" in saved.text
    deleted = client.post(
        created.headers["location"] + "/delete", data={"csrf_token": token_of(saved.text)}
    )
    assert "deleted." in deleted.text and "No notes yet." in deleted.text


def test_invalid_form_is_shown_again_with_messages(client: TestClient) -> None:
    form = client.get("/notes/new").text
    response = client.post(
        "/notes/new", data={"title": "", "body": "kept text", "csrf_token": token_of(form)}
    )
    assert response.status_code == 422
    assert "This field is required." in response.text
    assert "kept text</textarea>" in response.text
    assert "No notes yet." in client.get("/").text


def test_a_post_without_the_token_is_refused(client: TestClient) -> None:
    client.get("/notes/new")  # the session cookie is set
    problem(client.post("/notes/new", data={"title": "x"}), 403)


def test_attachments_over_the_limit(client: TestClient) -> None:
    form = client.get("/notes/new").text
    big = b"x" * (MAX_ATTACHMENT + 1)
    response = client.post(
        "/notes/new",
        data={"title": "Big", "csrf_token": token_of(form)},
        files={"attachment": ("big.bin", big)},
    )
    assert response.status_code == 422
    assert "larger than 2 MB" in response.text


def test_missing_notes_are_404(client: TestClient) -> None:
    problem(client.get("/notes/999"), 404)
    page = client.get("/notes/999", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "<html" in page.text.lower()


# -- in a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        require("/usr/bin/chromium is missing: apt-get install chromium")
    sync_api = import_or_require("playwright.sync_api", "pip install playwright (or keel[dev])")
    with chromium(sync_api) as browser:
        yield browser


def test_the_notebook_in_a_browser(browser: Any, tmp_path: Path) -> None:
    app = create_app(f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}", tmp_path / "uploads")
    upload = tmp_path / "recipe.txt"
    upload.write_text("flour, water, salt")
    with running(app, name="uvicorn-notebook", **uvicorn_options()) as server:
        origin = url_of(server)
        with guarded_page(browser, origin) as page:
            page.goto(origin + "/")
            page.click("#new")
            page.click("#save")  # the browser's own check stops an empty required title
            assert page.url.endswith("/notes/new")
            page.fill("#id_title", "x" * 5)
            page.evaluate("document.querySelector('#id_title').removeAttribute('maxlength')")
            page.fill("#id_title", "y" * 130)  # past the limit: the server says so
            page.fill("#id_body", "<b>bold?</b>")
            page.click("#save")
            assert "at most 120 characters" in page.text_content("#id_title_errors")
            assert page.input_value("#id_body") == "<b>bold?</b>"
            page.fill("#id_title", "Bread")
            page.set_input_files("#id_attachment", str(upload))
            page.click("#save")
            page.wait_for_url(re.compile(r"/notes/\d+$"))
            assert page.text_content(".flash.success") == "Note “Bread” created."
            assert page.text_content("#body") == "<b>bold?</b>"  # shown as text
            assert page.text_content("#attachment") == "recipe.txt"
            page.reload()
            assert page.locator(".flash").count() == 0  # a flash message shows once
            page.click("#delete")
            page.wait_for_url(origin + "/")
            assert "deleted" in (page.text_content(".flash") or "")
            missing = page.goto(origin + "/notes/12345")
            assert missing is not None and missing.status == 404
            assert "Not Found" in page.content()
            # no script errors and nothing blocked by the CSP (the 422 and 404 answers
            # themselves are logged by the browser as failed loads)
            assert [e for e in page.errors if "Failed to load resource" not in e] == []
