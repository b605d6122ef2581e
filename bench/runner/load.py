"""Loading the servers with wrk: one server at a time or every server in turn, per scenario."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.runner.config import (
    BODIES,
    CONNECTIONS,
    LUA,
    REFERENCE,
    SCENARIOS,
    BenchError,
    Target,
    say,
)
from bench.runner.environment import Cpus, prepare_load
from bench.runner.memory import RssSampler
from bench.runner.options import Options
from bench.runner.processes import Server, serve, server_command
from bench.runner.verify import Answer, reference_answers, verify


@dataclass
class WrkResult:
    requests: int
    duration_us: int
    errors: dict[str, int]
    p50_us: int
    p99_us: int

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def run_wrk(
    wrk: str, port: int, scenario: str, seconds: int, opts: Options, cpus: Cpus
) -> WrkResult:
    method, path = SCENARIOS[scenario]
    env = dict(os.environ)
    env["WRK_BODY_FILE"] = str(BODIES[scenario]) if method == "POST" else ""
    connections = CONNECTIONS.get(scenario, opts.connections)
    cmd = [
        *cpus.prefix(cpus.client),
        wrk,
        f"--threads={min(opts.threads, connections)}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        f"--timeout={opts.timeout}s",
        f"--script={LUA}",
        f"http://127.0.0.1:{port}{path}",
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=seconds + opts.timeout + 60
    )
    match = re.search(r"^BENCH_RESULT (.*)$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or not match:
        raise BenchError(f"wrk failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    fields = {k: int(float(v)) for k, v in (pair.split("=") for pair in match.group(1).split())}
    return WrkResult(
        requests=fields["requests"],
        duration_us=fields["duration_us"],
        errors={k: fields[k] for k in ("connect", "read", "write", "status", "timeout")},
        p50_us=fields["p50_us"],
        p99_us=fields["p99_us"],
    )


@dataclass
class Row:
    target: Target
    scenario: str
    result: WrkResult | None = None
    rss_kib: int = 0
    problem: str = ""  # "mismatch: ..." or "failed: ..."


@dataclass
class Run:
    rows: list[Row] = field(default_factory=list)
    imports: list[tuple[str, float | None, int | None, str]] = field(default_factory=list)
    idle: dict[str, int | str] = field(default_factory=dict)

    def row(self, framework: str, server: str, scenario: str) -> Row | None:
        for row in self.rows:
            if (row.target.framework, row.target.server, row.scenario) == (
                framework,
                server,
                scenario,
            ):
                return row
        return None

    def rps(self, framework: str, server: str, scenario: str) -> float | None:
        row = self.row(framework, server, scenario)
        return row.result.rps if row and row.result else None

    def p99(self, framework: str, server: str, scenario: str) -> int | None:
        row = self.row(framework, server, scenario)
        return row.result.p99_us if row and row.result else None


def bench_target(
    target: Target,
    scenarios: Sequence[str],
    reference: dict[str, Answer] | None,
    opts: Options,
    cpus: Cpus,
    wrk: str,
    logdir: Path,
) -> tuple[list[Row], dict[str, Answer] | None]:
    """Start one server, verify and load every scenario. Returns the rows and, for the
    reference target, the reference answers it gave."""
    rows = [Row(target, scenario) for scenario in scenarios]
    say(f"== {target.label}")
    try:
        command = functools.partial(server_command, target, opts=opts)
        with serve(command, cpus, logdir, target.label) as server:
            if reference is None:
                reference = reference_answers(server.port, scenarios)
            for row in rows:
                why = verify(server.port, row.scenario, reference)
                if why:
                    row.problem = f"mismatch: {why}"
                    if why.startswith("status 5"):
                        time.sleep(0.2)
                        row.problem += f"\nserver log:\n{server.log_tail(12)}"
                    say(f"   {row.scenario:<10} MISMATCH {row.problem.removeprefix('mismatch: ')}")
                    continue
                try:
                    prepare_load(row.scenario)
                    with RssSampler(server.proc.pid) as sampler:
                        if opts.warmup:
                            run_wrk(wrk, server.port, row.scenario, opts.warmup, opts, cpus)
                        results = [
                            run_wrk(wrk, server.port, row.scenario, opts.duration, opts, cpus)
                            for _ in range(opts.rounds)
                        ]
                    results.sort(key=lambda r: r.rps)
                    row.result = results[len(results) // 2]
                    if row.result.requests == 0:
                        row.problem = (
                            f"failed: no request completed in {opts.duration} s "
                            "(server hung or starved of CPU)"
                        )
                        row.result = None
                    row.rss_kib = sampler.peak_kib
                except (BenchError, subprocess.TimeoutExpired) as exc:
                    row.problem = f"failed: {exc}"
                if server.proc.poll() is not None:
                    row.problem = f"failed: server died: {server.log_tail(5)}"
                say(f"   {row.scenario:<10} {describe(row)}")
                if server.proc.poll() is not None:
                    break
    except BenchError as exc:
        if target == REFERENCE and reference is None:
            raise
        for row in rows:
            if not row.problem and row.result is None:
                row.problem = f"failed: {exc}"
        say(f"   FAILED: {exc}")
    return rows, reference


def bench_interleaved(
    targets: Sequence[Target],
    scenarios: Sequence[str],
    reference: dict[str, Answer] | None,
    opts: Options,
    cpus: Cpus,
    wrk: str,
    logdir: Path,
) -> list[Row]:
    """Start every server, verify each, then load scenario by scenario, server by server.

    Idle servers sleep in their event loops, so they do not disturb the one under load;
    the rows of one scenario are measured close together in time, which keeps the ratios
    between frameworks honest on a machine whose speed drifts.
    """
    rows = {(t, s): Row(t, s) for t in targets for s in scenarios}
    with contextlib.ExitStack() as stack:
        servers: dict[Target, Server] = {}
        for target in targets:
            say(f"== starting {target.label}")
            try:
                command = functools.partial(server_command, target, opts=opts)
                servers[target] = stack.enter_context(serve(command, cpus, logdir, target.label))
            except BenchError as exc:
                if target == REFERENCE and reference is None:
                    raise
                for scenario in scenarios:
                    rows[(target, scenario)].problem = f"failed: {exc}"
                say(f"   FAILED: {exc}")
                continue
            if reference is None and target == REFERENCE:
                reference = reference_answers(servers[target].port, scenarios)
        if reference is None:
            raise BenchError("no reference answers: the raw ASGI server did not start")
        for target, server in servers.items():
            for scenario in scenarios:
                why = verify(server.port, scenario, reference)
                if why:
                    row = rows[(target, scenario)]
                    row.problem = f"mismatch: {why}"
                    if why.startswith("status 5"):
                        time.sleep(0.2)
                        row.problem += f"\nserver log:\n{server.log_tail(12)}"
        for scenario in scenarios:
            say(f"== {scenario}")
            results: dict[Target, list[WrkResult]] = {t: [] for t in servers}
            for round_ in range(opts.rounds):
                for target, server in servers.items():
                    row = rows[(target, scenario)]
                    if row.problem:
                        continue
                    if server.proc.poll() is not None:
                        row.problem = f"failed: server died: {server.log_tail(5)}"
                        continue
                    try:
                        prepare_load(scenario)
                        with RssSampler(server.proc.pid) as sampler:
                            if opts.warmup and round_ == 0:
                                run_wrk(wrk, server.port, scenario, opts.warmup, opts, cpus)
                            results[target].append(
                                run_wrk(wrk, server.port, scenario, opts.duration, opts, cpus)
                            )
                        row.rss_kib = max(row.rss_kib, sampler.peak_kib)
                    except (BenchError, subprocess.TimeoutExpired) as exc:
                        row.problem = f"failed: {exc}"
            for target in servers:
                row = rows[(target, scenario)]
                measured = sorted(results[target], key=lambda r: r.rps)
                if not row.problem and measured:
                    row.result = measured[len(measured) // 2]
                    if row.result.requests == 0:
                        row.problem = (
                            f"failed: no request completed in {opts.duration} s "
                            "(server hung or starved of CPU)"
                        )
                        row.result = None
                say(f"   {target.label:<26} {describe(row)}")
    return [rows[(t, s)] for t in targets for s in scenarios]


def describe(row: Row) -> str:
    if row.problem:
        return row.problem.splitlines()[0][:160]
    assert row.result is not None
    r = row.result
    return (
        f"{r.rps:10,.0f} req/s  p50 {r.p50_us / 1000:7.2f} ms  p99 {r.p99_us / 1000:7.2f} ms  "
        f"rss {row.rss_kib / 1024:6.1f} MiB  errors {r.error_count}"
    )
