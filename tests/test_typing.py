"""Type errors users must get: typos in marker keywords, wrong handlers, wrong ``responses``.

The positive cases are files in ``tests/typing`` (CI runs ``mypy --strict keel tests examples``);
the negative ones live here as one snippet checked by one mypy run, each line that must
fail marked with the error code mypy has to report for it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

SNIPPET = """
from keel import App, Body, Cookie, Depends, File, Form, Header, Path, Query, Request
from keel.error_formats import ErrorFormat
from keel.responses import Response

app = App()


def dep() -> int:
    return 1


Query(gee=1)  # E: call-arg
Path(lee=1)  # E: call-arg
Header(None, convert_underscore=False)  # E: call-arg
Cookie(None, max_lenght=3)  # E: call-arg
Body(embedd=True)  # E: call-arg
Form(patern="x")  # E: call-arg
File(descripton="x")  # E: call-arg
Query(min_length="3")  # E: arg-type
Query(alias=3)  # E: arg-type
Depends(dep, use_cahce=False)  # E: call-arg


@app.exception_handler(ValueError)  # E: type-var
def one_argument(request: Request) -> Response:
    return Response()


@app.exception_handler(KeyError)  # E: type-var
def not_a_response(request: Request, exc: KeyError) -> int:
    return 1


@app.get("/", responses=[404])  # E: arg-type
async def index() -> None: ...


class Half(ErrorFormat):
    pass


App(error_format=Half())  # E: abstract
App(error_format="fastapi")  # E: arg-type
"""


def test_mypy_reports_each_misuse(tmp_path: Path) -> None:
    source = tmp_path / "misuse.py"
    source.write_text(SNIPPET)
    expected = {
        number: code
        for number, line in enumerate(SNIPPET.splitlines(), start=1)
        for code in re.findall(r"# E: ([a-z-]+)", line)
    }
    out, err, _ = api.run(
        ["--strict", "--no-error-summary", "--show-error-codes", "--no-incremental", str(source)]
    )
    found: dict[int, set[str]] = {}
    for line in out.splitlines():
        match = re.match(r".*misuse\.py:(\d+): error: .*\[([a-z-]+)\]$", line)
        if match:
            found.setdefault(int(match.group(1)), set()).add(match.group(2))
    missing = {n: c for n, c in expected.items() if c not in found.get(n, set())}
    unexpected = {n: c for n, c in found.items() if n not in expected}
    assert not missing, f"mypy did not report: {missing}\n{out}{err}"
    assert not unexpected, f"mypy reported more: {unexpected}\n{out}"
