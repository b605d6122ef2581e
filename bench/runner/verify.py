"""Fetching one answer per scenario and comparing it with the raw ASGI reference."""

from __future__ import annotations

import contextlib
import html
import http.client
import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from bench.runner.config import (
    BODIES,
    DB_PATH,
    EXPECTED,
    PROBES,
    SCENARIOS,
    WORLD_ROWS,
    BenchError,
)


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes

    @property
    def media_type(self) -> str:
        return self.content_type.split(";")[0].strip().lower()


def fetch(port: int, scenario: str, path: str | None = None) -> Answer:
    """The answer to a scenario's request (or to a GET of `path`, a probe)."""
    method, scenario_path = SCENARIOS[scenario]
    if path is not None:
        method = "GET"
    path = path or scenario_path
    body = BODIES[scenario].read_bytes() if method == "POST" else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return Answer(resp.status, resp.getheader("content-type") or "", resp.read())
    finally:
        conn.close()


ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);")


def normalize_html(text: str) -> str:
    """Whitespace-insensitive HTML with every character reference in one numeric form,
    so `&#39;`, `&#x27;` and `&apos;` compare equal while an unescaped `<` still differs."""

    def canonical(match: re.Match[str]) -> str:
        decoded = html.unescape(match.group(0))
        return "".join(f"&#{ord(ch)};" for ch in decoded) if len(decoded) == 1 else match.group(0)

    text = ENTITY.sub(canonical, text)
    text = re.sub(r">\s+<", "><", text.strip())
    return re.sub(r"\s+", " ", text)


def first_difference(a: str, b: str) -> str:
    index = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if index is None:
        index = min(len(a), len(b))
    return f"at {index}: got {b[index : index + 60]!r}, expected {a[index : index + 60]!r}"


def world_row(world_id: int) -> int | None:
    with contextlib.closing(sqlite3.connect(DB_PATH)) as conn:
        row = conn.execute("SELECT randomnumber FROM world WHERE id = ?", (world_id,)).fetchone()
    return None if row is None else int(row[0])


def check_db(data: object) -> str | None:
    if not isinstance(data, dict) or set(data) != {"id", "randomNumber"}:
        return f"expected an object with id and randomNumber, got {data!r:.120}"
    world_id, number = data["id"], data["randomNumber"]
    if type(world_id) is not int or type(number) is not int:
        return f"id and randomNumber must be integers, got {data!r}"
    if not 1 <= world_id <= WORLD_ROWS:
        return f"id {world_id} outside 1..{WORLD_ROWS}"
    if world_row(world_id) != number:
        return f"row {world_id} has randomNumber {world_row(world_id)}, got {number}"
    return None


def note_row(note_id: int) -> tuple[str, str] | None:
    with contextlib.closing(sqlite3.connect(DB_PATH, timeout=30)) as conn:
        row = conn.execute("SELECT author, text FROM note WHERE id = ?", (note_id,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def check_note(data: dict[str, object]) -> str | None:
    """The row a `writes` answer reports is in the database, as reported."""
    note_id = data["id"]
    assert isinstance(note_id, int)
    row = note_row(note_id)
    if row != (data.get("author"), data.get("text")):
        return f"note {note_id} in the database is {row!r}, the answer says {data!r:.200}"
    return None


def compare(scenario: str, ref: Answer, got: Answer) -> str | None:
    """None when `got` means the same as the reference answer, else why not."""
    if got.status != ref.status:
        return f"status {got.status} (expected {ref.status}): {got.body[:200]!r}"
    if got.media_type != ref.media_type:
        return f"content type {got.content_type!r} (expected {ref.content_type!r})"
    if scenario == "plaintext":
        if got.body != ref.body:
            return f"body {got.body[:100]!r} (expected {ref.body[:100]!r})"
        return None
    if scenario == "fortunes":
        expected = normalize_html(ref.body.decode())
        actual = normalize_html(got.body.decode(errors="replace"))
        if actual != expected:
            return "HTML differs " + first_difference(expected, actual)
        return None
    try:
        data = json.loads(got.body)
    except ValueError:
        return f"body is not JSON: {got.body[:100]!r}"
    if scenario == "db":
        return check_db(data)
    expected_data = json.loads(ref.body)
    if scenario in ("body", "writes"):
        if not isinstance(data, dict) or type(data.get("id")) is not int:
            return f"expected the item with an integer id, got {data!r:.200}"
        if scenario == "writes" and (why := check_note(data)):
            return why
        data = {k: v for k, v in data.items() if k != "id"}
        expected_data = {k: v for k, v in expected_data.items() if k != "id"}
    if data != expected_data:
        return f"JSON {json.dumps(data)[:200]} (expected {json.dumps(expected_data)[:200]})"
    return None


def reference_answers(port: int, scenarios: Sequence[str]) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}
    for scenario in scenarios:
        answer = fetch(port, scenario)
        status, media = EXPECTED[scenario]
        if answer.status != status or answer.media_type != media:
            raise BenchError(
                f"the raw ASGI reference answered {scenario} with {answer.status} "
                f"{answer.content_type!r}: {answer.body[:300]!r}"
            )
        if scenario == "db" and (why := check_db(json.loads(answer.body))):
            raise BenchError(f"the raw ASGI reference answered db wrongly: {why}")
        if scenario == "writes" and (why := check_note(json.loads(answer.body))):
            raise BenchError(f"the raw ASGI reference answered writes wrongly: {why}")
        answers[scenario] = answer
        for path in PROBES.get(scenario, []):
            probe = fetch(port, scenario, path)
            if probe.status != status or probe.media_type != media:
                raise BenchError(
                    f"the raw ASGI reference answered GET {path} with {probe.status}: "
                    f"{probe.body[:300]!r}"
                )
            answers[f"{scenario} {path}"] = probe
    return answers


def verify(port: int, scenario: str, reference: dict[str, Answer]) -> str | None:
    try:
        for _ in range(2 if scenario in ("db", "writes") else 1):
            why = compare(scenario, reference[scenario], fetch(port, scenario))
            if why:
                return why
        for path in PROBES.get(scenario, []):
            why = compare(scenario, reference[f"{scenario} {path}"], fetch(port, scenario, path))
            if why:
                return f"GET {path}: {why}"
    except (OSError, http.client.HTTPException) as exc:
        return f"request failed: {exc!r}"
    return None
