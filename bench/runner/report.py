"""The results: tables, keel's targets, run metadata and bench/RESULTS.md."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import subprocess
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.runner.config import CONNECTIONS, ROOT, SCENARIOS, VERSIONED, VPY
from bench.runner.environment import Cpus
from bench.runner.load import Run
from bench.runner.options import Options


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if i in right else "-" * (w + 2) for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def ratio(run: Run, a: tuple[str, str], b: tuple[str, str], scenario: str) -> float | None:
    top = run.rps(a[0], a[1], scenario)
    bottom = run.rps(b[0], b[1], scenario)
    return top / bottom if top and bottom else None


def results_table(run: Run) -> tuple[str, list[str]]:
    body: list[list[str]] = []
    notes: list[str] = []
    problems: dict[tuple[str, str], list[str]] = {}
    order = {scenario: i for i, scenario in enumerate(SCENARIOS)}
    for row in sorted(run.rows, key=lambda r: order[r.scenario]):
        t = row.target
        cells = [row.scenario, t.framework, t.server]
        if row.result is None:
            kind = row.problem.split(":")[0] if row.problem else "not run"
            cells += ["—", "—", "—", "—", "—", "", "", kind]
            problems.setdefault((t.label, row.problem or "not run"), []).append(row.scenario)
        else:
            r = row.result
            vs_raw = ratio(run, (t.framework, t.server), ("raw", t.server), row.scenario)
            vs_fastapi = ratio(run, (t.framework, t.server), ("fastapi", t.server), row.scenario)
            cells += [
                f"{r.rps:,.0f}",
                f"{r.p50_us / 1000:.2f}",
                f"{r.p99_us / 1000:.2f}",
                f"{row.rss_kib / 1024:.1f}",
                str(r.error_count),
                fmt_ratio(vs_raw),
                fmt_ratio(vs_fastapi),
                row.problem,
            ]
            if r.error_count:
                detail = ", ".join(f"{k} {v}" for k, v in r.errors.items() if v)
                notes.append(f"- {t.label} {row.scenario}: errors: {detail}")
        body.append(cells)
    headers = [
        "scenario",
        "framework",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "peak RSS MiB",
        "errors",
        "vs raw",
        "vs FastAPI",
        "note",
    ]
    for (label, problem), scenarios in problems.items():
        first, _, rest = problem.partition("\n")
        note = f"- {label} ({', '.join(scenarios)}): {first}"
        if rest:
            note += "\n\n  ```\n" + textwrap.indent(rest, "  ") + "\n  ```"
        notes.append(note)
    return md_table(headers, body, right={3, 4, 5, 6, 7, 8, 9}), notes


def startup_tables(run: Run) -> str:
    parts: list[str] = []
    if run.imports:
        rows = []
        for name, seconds, rss, problem in run.imports:
            if problem:
                rows.append([name, "—", "—", problem])
            else:
                assert seconds is not None and rss is not None
                rows.append([name, f"{seconds:.3f}", f"{rss / 1024:.1f}", ""])
        parts.append(
            md_table(["python -c 'import X'", "wall s", "peak RSS MiB", "note"], rows, {1, 2})
        )
    if run.idle:
        rows = []
        for framework, value in run.idle.items():
            if isinstance(value, str):
                rows.append([framework, "—", value])
            else:
                rows.append([framework, f"{value / 1024:.1f}", ""])
        parts.append(
            md_table(["idle hello-world (uvicorn, after 1 request)", "RSS MiB", "note"], rows, {1})
        )
    return "\n\n".join(parts)


def target_checks(run: Run) -> list[list[str]]:
    """keel's targets from the benchmark issue, where this run has the numbers."""
    checks: list[list[str]] = []

    def add(name: str, value: float | None, goal: float, higher: bool, unit: str = "") -> None:
        if value is None:
            return
        met = value >= goal if higher else value <= goal
        sign = "≥" if higher else "≤"
        checks.append(
            [name, f"{value:.2f}{unit}", f"{sign} {goal:.2f}{unit}", "yes" if met else "NO"]
        )

    keel_u, raw_u = ("keel", "uvicorn"), ("raw", "uvicorn")
    for scenario, goal in (("plaintext", 0.85), ("json", 0.80), ("params", 0.75)):
        mine = ratio(run, keel_u, raw_u, scenario)
        add(f"{scenario}: keel / raw (uvicorn)", mine, goal, True)
        theirs = ratio(run, ("starlette", "uvicorn"), raw_u, scenario)
        if theirs is not None:
            add(f"{scenario}: keel / raw vs Starlette / raw", mine, theirs, True)
    for scenario, goal in (("body", 2.5), ("deps", 3.0), ("db", 2.0), ("fortunes", 2.0)):
        add(
            f"{scenario}: keel / FastAPI (uvicorn)",
            ratio(run, keel_u, ("fastapi", "uvicorn"), scenario),
            goal,
            True,
        )
    for scenario in SCENARIOS:
        mine_p99 = run.p99("keel", "uvicorn", scenario)
        theirs_p99 = run.p99("starlette", "uvicorn", scenario)
        if mine_p99 is not None and theirs_p99 is not None:
            add(
                f"{scenario}: keel p99 vs Starlette p99",
                mine_p99 / 1000,
                theirs_p99 / 1000,
                False,
                " ms",
            )
    keel_routes = run.rps("keel", "uvicorn", "routes")
    keel_params = run.rps("keel", "uvicorn", "params")
    if keel_routes and keel_params:
        # 1000 shared-prefix routes vs the few of `params` (one int path parameter each):
        # route-count-independent matching keeps the two within 1.2x.
        add(
            "routes (1000 routes) / params: keel (uvicorn)",
            keel_routes / keel_params,
            1 / 1.2,
            True,
        )
    for server in ("uvicorn", "granian"):
        row = run.row("keel", server, "writes")
        if row is not None and row.result is not None and row.result.p50_us:
            add(
                f"writes: keel p99 / p50 ({server})",
                row.result.p99_us / row.result.p50_us,
                2.0,
                False,
            )
    add(
        "json: keel / raw (granian)",
        ratio(run, ("keel", "granian"), ("raw", "granian"), "json"),
        0.60,
        True,
    )
    for name, seconds, rss, problem in run.imports:
        if name == "keel" and not problem:
            add("import keel: wall time", seconds, 0.15, False, " s")
            add("import keel: peak RSS", None if rss is None else rss / 1024, 25.0, False, " MiB")
    keel_idle, fastapi_idle = run.idle.get("keel"), run.idle.get("fastapi")
    if isinstance(keel_idle, int) and isinstance(fastapi_idle, int):
        add("idle RSS: keel / FastAPI", keel_idle / fastapi_idle, 0.75, False)
    return checks


@dataclass
class Meta:
    started: dt.datetime
    python: str
    versions: dict[str, str | None]
    wrk_version: str
    commit: str
    load_before: float


def collect_meta(started: dt.datetime, wrk: str, load_before: float) -> Meta:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n"
        "    try:\n"
        "        return m.version(n)\n"
        "    except m.PackageNotFoundError:\n"
        "        return None\n"
        "info = {'python': sys.version.split()[0], 'versions': {n: v(n) for n in sys.argv[1:]}}\n"
        "print(json.dumps(info))\n"
    )
    out = subprocess.run(
        [str(VPY), "-c", code, *VERSIONED], capture_output=True, text=True, check=True
    )
    info = json.loads(out.stdout)
    wrk_version = ""
    if wrk:
        text = subprocess.run([wrk, "--version"], capture_output=True, text=True)
        match = re.match(r"(wrk \S+)", (text.stdout + text.stderr).strip())
        wrk_version = match.group(1) if match else ""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "keel"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    commit = (commit or "unknown") + (" (keel/ has uncommitted changes)" if dirty else "")
    return Meta(started, info["python"], info["versions"], wrk_version, commit, load_before)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def render(run: Run, opts: Options, cpus: Cpus, meta: Meta) -> str:
    lines = [f"## Run {meta.started:%Y-%m-%d %H:%M} UTC" + (" (quick)" if opts.quick else ""), ""]
    if opts.quick:
        lines += ["A `--quick` smoke test (1 s per scenario): not a measurement.", ""]
    pinning = (
        f"server on CPU {cpus.server}, wrk on CPU {cpus.client} (taskset)"
        if cpus.server is not None
        else "not pinned (fewer than 2 CPUs)"
    )
    lines += [
        f"- machine: {cpu_model()}, {os.cpu_count()} CPUs, Linux {platform.release()}; {pinning}; "
        f"load average {meta.load_before:.2f} before the run, {os.getloadavg()[0]:.2f} after "
        "(other work on the machine shows up as noise)",
        f"- Python {meta.python}; keel commit {meta.commit}",
        "- versions: "
        + ", ".join(f"{name} {version or 'missing'}" for name, version in meta.versions.items()),
        f"- load: {meta.wrk_version or 'wrk'}, {opts.threads} threads, {opts.connections} "
        f"connections, {opts.warmup} s warm-up then {opts.duration} s per scenario"
        + (f" (median of {opts.rounds} runs)" if opts.rounds > 1 else "")
        + ", "
        f"timeout {opts.timeout} s; one server worker each (gunicorn gthread: "
        f"{opts.gthread_threads} threads)"
        + "".join(
            f"; {scenario}: {count} connections"
            for scenario, count in CONNECTIONS.items()
            if scenario in opts.scenarios
        ),
        "- peak RSS: the largest summed RSS of the server's process tree (master + worker "
        "for gunicorn and granian), sampled every 0.2 s during warm-up and load",
        "- errors: wrk's socket errors (connect, read, write, timeout) plus responses >= 400",
        "- vs raw: req/s over the raw ASGI app's on the same server; vs FastAPI: over "
        "FastAPI's on the same server",
        "",
        "Figures are only comparable within one run: same machine, same moment, same load. "
        "Compare ratios between runs, never absolute numbers.",
        "",
    ]
    if run.rows:
        table, notes = results_table(run)
        lines += [table, ""]
        if notes:
            lines += ["Notes:", "", *notes, ""]
    startup = startup_tables(run)
    if startup:
        lines += ["### Startup", "", startup, ""]
    checks = target_checks(run)
    if checks:
        lines += [
            "### keel's targets (issues 4 and 8)",
            "",
            md_table(["check", "measured", "target", "met"], checks, {1, 2}),
            "",
        ]
    return "\n".join(lines)


RESULTS_HEADER = """# Benchmark results

Written by `bench/run` (see `bench/README.md`), newest run first. Figures are only
comparable within one run: same machine, same moment, same load. Compare ratios.
"""


def write_results(path: Path, section: str) -> None:
    previous = path.read_text() if path.exists() else ""
    runs = previous[previous.find("\n## Run ") + 1 :] if "\n## Run " in previous else ""
    path.write_text(RESULTS_HEADER + "\n" + section.rstrip() + "\n" + ("\n" + runs if runs else ""))
