"""The README and docs/ are checked: their links resolve and their code runs.

- Every relative link in README.md and docs/**/*.md names a file in the repository, and a
  ``#fragment`` names a heading of that page.
- Every ```python block runs. The blocks of one page run in order in one namespace (a page
  builds on its earlier blocks, like a module); an html, jinja, css or js block whose first
  line names a file (``{# templates/page.html #}``, ``/* static/app.css */``) is written
  there first; a page's ``app`` is then built, so its
  annotations and dependency graph are checked too, and zero-argument ``test_*`` functions
  are called. ``<!-- not-run -->`` on the line before a block skips it (keep those rare).
- Every ``$ curl`` line in a ```console block is sent to the page's ``app`` with
  ``TestClient``, and the status, headers and body shown below it must be what the app
  answers.
- The tutorial runs end to end: its files are written to a temporary folder and its shell
  commands (``keel db ...``, ``pytest``) run there for real.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from keel import App
from keel.testing import TestClient

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
NOT_RUN = "<!-- not-run -->"
TUTORIAL = ROOT / "docs" / "tutorial.md"


@dataclass
class Block:
    """One fenced code block of a page."""

    lang: str
    code: str
    line: int
    run: bool = True


@dataclass
class Page:
    path: Path
    text: str
    blocks: list[Block] = field(default_factory=list)
    prose: str = ""  # the text outside code blocks

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT))


def parse(path: Path) -> Page:
    """Split a Markdown page into its fenced blocks and the prose around them."""
    page = Page(path, path.read_text(encoding="utf-8"))
    lines = page.text.splitlines()
    prose: list[str] = []
    i = 0
    previous = ""
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^( *)(`{3,}|~{3,})\s*([\w+-]*)", line)
        if fence is None:
            prose.append(line)
            if line.strip():
                previous = line.strip()
            i += 1
            continue
        indent, marker, lang = fence.groups()
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append(lines[i].removeprefix(indent))
            i += 1
        code = "\n".join(body) + "\n"
        page.blocks.append(Block(lang, code, i - len(body), previous != NOT_RUN))
        previous = ""
        i += 1
    page.prose = "\n".join(prose)
    return page


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"`|\*\*|__", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Page) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", page.prose, re.M):
        base = slug(heading)
        name, n = base, 0
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def links(page: Page) -> Iterator[str]:
    prose = re.sub(r"`[^`\n]*`", "", page.prose)  # code spans are not links
    yield from re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose)
    yield from re.findall(r"^\[[^\]]+\]:\s*(\S+)", prose, re.M)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(path: Path) -> None:
    page = parse(path)
    broken: list[str] = []
    for link in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        target, _, fragment = link.partition("#")
        resolved = (path.parent / target).resolve() if target else path
        if ROOT not in resolved.parents and resolved != ROOT:
            broken.append(f"{link} (outside the repository)")
        elif not resolved.exists():
            broken.append(f"{link} (no such file)")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(parse(resolved)):
            broken.append(f"{link} (no heading #{fragment})")
    assert broken == [], f"{page.name}: broken links"


def test_the_link_checker_sees_broken_links(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# A `b` title\n\n[x](#a-b-title) [y](#nope) `[z](missing.md)`\n")
    parsed = parse(page)
    assert anchors(parsed) == {"a-b-title"}
    assert list(links(parsed)) == ["#a-b-title", "#nope"]


# -- running the code ------------------------------------------------------------------------


def prepare(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in an empty folder, with no KEEL_* settings from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("KEEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    (folder / "static").mkdir(exist_ok=True)  # the folder the StaticFiles examples serve
    (folder / "static" / "app.css").write_text("body { margin: 0 }\n")


def needs_own_interpreter(page: Page) -> bool:
    """Pages that declare keel.db models run alone: several use the same table names."""
    return any("keel.db" in b.code for b in page.blocks if b.lang == "python" and b.run)


def in_subprocess(kind: str, path: Path, folder: Path) -> None:
    """Run one page in a fresh interpreter: pages declare models with the same table names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "tests.test_docs", kind, str(path), str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{path.name}:\n{done.stdout}\n{done.stderr}"


def new_module(name: str) -> types.ModuleType:
    """A real module (pydantic and keel resolve annotations through ``sys.modules``)."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    return module


def run_block(block: Block, page: Page, module: types.ModuleType) -> None:
    code = compile(block.code, f"{page.name}:{block.line}", "exec")
    exec(code, module.__dict__)


def finish(module: types.ModuleType) -> None:
    """Build the page's app and call its zero-argument tests."""
    app = module.__dict__.get("app")
    if isinstance(app, App):
        app.build()
    for name, value in list(module.__dict__.items()):
        if name.startswith("test_") and callable(value) and value.__code__.co_argcount == 0:
            value()


@dataclass
class Curl:
    method: str
    url: str
    headers: dict[str, str]
    body: str | None
    include: bool  # -i: the status line and headers are shown


def parse_curl(command: str) -> Curl:
    args = shlex.split(command)
    assert args[0] == "curl", command
    method, headers, body, include, url = "GET", {}, None, False, ""
    it = iter(args[1:])
    for arg in it:
        if arg == "-X":
            method = next(it)
        elif arg == "-H":
            name, _, value = next(it).partition(":")
            headers[name.strip().lower()] = value.strip()
        elif arg in ("-d", "--data", "--json"):
            body = next(it)
            if method == "GET":
                method = "POST"
            # as curl does: --json sends JSON, -d a url-encoded form unless told otherwise
            kind = "application/json" if arg == "--json" else "application/x-www-form-urlencoded"
            headers.setdefault("content-type", kind)
        elif arg == "-i":
            include = True
        elif arg.startswith("-"):
            assert arg in ("-s", "-f"), f"unsupported curl option {arg}"
        else:
            url = arg
    return Curl(method, url, headers, body, include)


def check_curl(client: TestClient, curl: Curl, expected: list[str], where: str) -> None:
    path = re.sub(r"^https?://[^/]+", "", curl.url)
    response = client.request(
        curl.method, path, headers=curl.headers, content=curl.body, follow_redirects=False
    )
    shown = list(expected)
    if curl.include:
        status = re.match(r"HTTP/[\d.]+ (\d{3})", shown.pop(0))
        assert status is not None, where
        assert response.status_code == int(status.group(1)), f"{where}: {response.text}"
        while shown and shown[0].strip():
            name, _, value = shown.pop(0).partition(":")
            assert response.headers.get(name) == value.strip(), f"{where}: header {name}"
        shown = shown[1:]
    else:
        assert response.status_code < 400, f"{where}: {response.status_code} {response.text}"
    text = "\n".join(shown).strip()
    if not text:
        assert response.content == b"", where
    elif text.startswith(("{", "[")):
        assert same(response.json(), json.loads(text)), f"{where}: {response.text}"
    elif "..." in text:  # a shown "..." stands for any text (a nonce, a token)
        pattern = ".*?".join(re.escape(part) for part in text.split("..."))
        assert re.fullmatch(pattern, response.text.strip(), re.S), f"{where}: {response.text}"
    else:
        assert response.text.strip() == text, where


def same(actual: Any, shown: Any) -> bool:
    """JSON equality, where a shown ``"..."`` stands for any value."""
    if shown == "...":
        return True
    if isinstance(shown, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == shown.keys()
            and all(same(actual[k], v) for k, v in shown.items())
        )
    if isinstance(shown, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(shown)
            and all(same(a, s) for a, s in zip(actual, shown, strict=True))
        )
    return bool(actual == shown)


def commands(block: Block) -> Iterator[tuple[str, list[str]]]:
    """The ``$ command`` lines of a console block, each with the output shown after it."""
    current: tuple[str, list[str]] | None = None
    for line in block.code.splitlines():
        if line.startswith("$ "):
            if current:
                yield current
            current = (line[2:], [])
        elif current:
            current[1].append(line)
    if current:
        yield current


def test_the_answer_checker_sees_wrong_answers() -> None:
    app = App()

    @app.get("/n")
    async def n() -> dict[str, int]:
        return {"n": 1}

    with TestClient(app) as client:
        check_curl(client, parse_curl("curl http://127.0.0.1:8000/n"), ['{"n": 1}'], "right")
        with pytest.raises(AssertionError):
            check_curl(client, parse_curl("curl http://127.0.0.1:8000/n"), ['{"n": 2}'], "body")
        shown = ["HTTP/1.1 201 Created", "", '{"n": 1}']
        with pytest.raises(AssertionError):
            check_curl(client, parse_curl("curl -i http://127.0.0.1:8000/n"), shown, "status")
    assert same({"a": 1, "b": [2]}, {"a": 1, "b": "..."})
    assert not same({"a": 1}, {"a": 1, "b": "..."})
    curl = parse_curl("curl -d 'a=1' -H 'X-Y: z' http://h/p")
    assert (curl.method, curl.body, curl.headers["x-y"]) == ("POST", "a=1", "z")
    assert curl.headers["content-type"] == "application/x-www-form-urlencoded"


def run_curls(block: Block, page: Page, module: types.ModuleType) -> None:
    app = module.__dict__["app"]
    with TestClient(app) as client:
        for i, (command, output) in enumerate(commands(block)):
            if command.startswith("curl "):
                check_curl(client, parse_curl(command), output, f"{page.name}:{block.line}+{i}")


RUNNABLE = [p for p in PAGES if p != TUTORIAL]


def run_page(path: Path) -> None:
    """Run a page's python blocks in order, and its curl commands against its app."""
    page = parse(path)
    module = new_module(f"docs_{path.stem}")
    try:
        for block in page.blocks:
            if not block.run:
                continue
            if block.lang == "python":
                run_block(block, page, module)
            elif block.lang == "console":
                run_curls(block, page, module)
            elif block.lang in ("html", "jinja", "css", "js") and _file_of(block):
                target = Path(str(_file_of(block)))  # a file the page shows, e.g. a template
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code)
        finish(module)
    finally:
        sys.modules.pop(module.__name__, None)


# Pages whose snippets another change is rewriting: strict, so the fix must remove the entry.
KNOWN_BROKEN: dict[str, str] = {}


def _page_param(path: Path) -> Any:
    name = str(path.relative_to(ROOT))
    marks = [pytest.mark.xfail(reason=KNOWN_BROKEN[name])] if name in KNOWN_BROKEN else []
    return pytest.param(path, id=name, marks=marks)


@pytest.mark.parametrize("path", [_page_param(p) for p in RUNNABLE])
def test_python_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if needs_own_interpreter(parse(path)):
        in_subprocess("page", path, tmp_path)
    else:
        prepare(tmp_path, monkeypatch)
        run_page(path)


def test_every_page_has_few_not_run_blocks() -> None:
    skipped = [(p, b.line) for p in map(parse, PAGES) for b in p.blocks if not b.run]
    assert len(skipped) <= 6, skipped


# -- the tutorial, end to end ----------------------------------------------------------------


def _file_of(block: Block) -> str | None:
    """``# main.py`` (or another file name) on a block's first line says where it goes."""
    first = block.code.splitlines()[0] if block.code.strip() else ""
    # ``# main.py``, or ``/* static/app.css */`` and ``{# templates/page.html #}``
    found = re.match(r"^# ([\w/]+\.(?:py|toml|cfg|env))\b", first) or re.match(
        r"^(?:/\* |\{# )([\w/.-]+\.(?:css|js|html|txt))\b", first
    )
    return found.group(1) if found else None


def _run_shell(command: str, output: list[str], folder: Path, where: str) -> None:
    """Run a ``keel`` or ``pytest`` command; every shown line (but ``...`` ones) must appear.

    ``NAME=value`` words before the command set environment variables. A shown line starting
    with ``Error:`` means the command fails (a non-zero exit status); otherwise it succeeds.
    """
    args = shlex.split(command)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT)])
    while args and re.match(r"^[A-Z_][A-Z0-9_]*=", args[0]):
        name, _, value = args.pop(0).partition("=")
        env[name] = value
    bin_dir = Path(sys.executable).parent
    if args[0] == "keel":
        args[0] = str(bin_dir / "keel")
    elif args[0] == "pytest":
        args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args[1:]]
    else:
        raise AssertionError(f"{where}: the tutorial runs no {args[0]!r}")
    done = subprocess.run(
        args, cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    fails = any(line.startswith("Error:") for line in output)
    assert (done.returncode != 0) == fails, f"{where}: {command}\n{done.stdout}\n{done.stderr}"
    for line in output:
        if line.strip() and "..." not in line:
            assert line.strip() in done.stdout + done.stderr, f"{where}: {line!r} not shown"


def run_tutorial(folder: Path) -> None:
    """Write every file the tutorial writes, run every command it shows."""
    page = parse(TUTORIAL)
    module = new_module("main")
    files: dict[str, str] = {}
    try:
        for block in page.blocks:
            where = f"{page.name}:{block.line}"
            target = _file_of(block)
            if target is not None:
                files[target] = files.get(target, "") + block.code
                (folder / target).parent.mkdir(parents=True, exist_ok=True)
                (folder / target).write_text(files[target])
            if not block.run:
                continue
            if block.lang == "python" and target in (None, "main.py"):
                run_block(block, page, module)
            elif block.lang == "console":
                for command, output in commands(block):
                    if command.startswith("curl "):
                        with TestClient(module.__dict__["app"]) as client:
                            check_curl(client, parse_curl(command), output, where)
                    else:
                        _run_shell(command, output, folder, where)
        finish(module)
    finally:
        sys.modules.pop("main", None)
    assert "main.py" in files
    assert "test_main.py" in files


def test_tutorial_runs_end_to_end(tmp_path: Path) -> None:
    in_subprocess("tutorial", TUTORIAL, tmp_path)


def test_the_command_checker_sees_wrong_output(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("from keel import App\n\napp = App()\n")
    _run_shell("KEEL_APP=m:app keel routes", ["METHODS  PATH"], tmp_path, "right")
    _run_shell("keel routes m:nope", ["Error: module 'm' has no attribute"], tmp_path, "fails")
    with pytest.raises(AssertionError):
        _run_shell("keel routes m:app", ["GET  /nope"], tmp_path, "output")
    with pytest.raises(AssertionError):
        _run_shell("keel routes m:nope", [], tmp_path, "exit status")
    with pytest.raises(AssertionError):
        _run_shell("keel routes m:app", ["Error: no"], tmp_path, "succeeds")


def _shows_keel_commands(path: Path) -> bool:
    page = parse(path)
    return path != TUTORIAL and any(
        command.startswith("keel ") or " keel " in command
        for block in page.blocks
        if block.lang == "console" and block.run
        for command, _ in commands(block)
    )


@pytest.mark.parametrize(
    "path",
    [p for p in PAGES if _shows_keel_commands(p)],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_keel_commands_print_what_the_page_shows(path: Path, tmp_path: Path) -> None:
    """A page's ``$ keel ...`` lines run in a folder holding the files the page shows."""
    page = parse(path)
    for block in page.blocks:
        where = f"{page.name}:{block.line}"
        target = _file_of(block)
        if target is not None:
            (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / target).write_text(block.code)
        if block.lang == "console" and block.run:
            for command, output in commands(block):
                if not command.startswith("curl "):
                    _run_shell(command, output, tmp_path, where)


if __name__ == "__main__":
    kind, page_path, work = sys.argv[1:4]
    prepare(Path(work), pytest.MonkeyPatch())
    if kind == "tutorial":
        run_tutorial(Path(work))
    else:
        run_page(Path(page_path))
