"""The command line of `bench/run` (argparse) and the options it produces."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.runner.config import ALL_SCENARIOS, FRAMEWORKS, RESULTS, SERVERS


@dataclass
class Options:
    frameworks: list[str]
    servers: list[str]
    scenarios: list[str]
    duration: int
    warmup: int
    connections: int
    threads: int
    timeout: int
    gthread_threads: int
    rounds: int
    quick: bool
    skip_setup: bool
    sequential: bool
    results: Path | None


def csv_list(value: str, allowed: Sequence[str], what: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})"
        )
    return [item for item in allowed if item in items]


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Side-by-side benchmark of keel against raw ASGI, Starlette, FastAPI, "
        "Litestar, Flask and Django (one worker each, 127.0.0.1, wrk).",
    )
    parser.add_argument(
        "--frameworks",
        type=lambda v: csv_list(v, FRAMEWORKS, "framework"),
        default=FRAMEWORKS,
        help=f"comma-separated subset of {','.join(FRAMEWORKS)} (default: all)",
    )
    parser.add_argument(
        "--servers",
        type=lambda v: csv_list(v, SERVERS, "server"),
        default=SERVERS,
        help=f"comma-separated subset of {','.join(SERVERS)} (default: all)",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda v: csv_list(v, ALL_SCENARIOS, "scenario"),
        default=ALL_SCENARIOS,
        help=f"comma-separated subset of {','.join(ALL_SCENARIOS)} (default: all)",
    )
    parser.add_argument("--duration", type=int, default=None, help="seconds of load (10)")
    parser.add_argument("--warmup", type=int, default=None, help="seconds of warm-up (3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--timeout", type=int, default=5, help="wrk request timeout, s (5)")
    parser.add_argument(
        "--gthread-threads", type=int, default=4, help="threads of gunicorn's gthread worker (4)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measured wrk runs per scenario; the median (by req/s) is reported (1)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 s warm-up and 1 s load per scenario; no RESULTS.md unless --results",
    )
    parser.add_argument(
        "--skip-setup", action="store_true", help="do not (re)install bench/.venv packages"
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="one server at a time, all its scenarios in a row (default: every server started "
        "at once, idle ones sleeping, and each scenario loaded on each server in turn, so the "
        "frameworks compared in a scenario are measured minutes, not a quarter hour, apart)",
    )
    parser.add_argument(
        "--results", type=Path, default=None, help=f"results file (default {RESULTS})"
    )
    parser.add_argument("--no-results", action="store_true", help="do not write a results file")
    args = parser.parse_args(argv)
    duration = args.duration if args.duration is not None else (1 if args.quick else 10)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    if duration < 1 or warmup < 0 or min(args.connections, args.threads, args.rounds) < 1:
        parser.error(
            "--duration must be >= 1, --warmup >= 0, --connections/--threads/--rounds >= 1"
        )
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections")
    results: Path | None = args.results
    if args.no_results:
        results = None
    elif results is None and not args.quick:
        results = RESULTS
    return Options(
        frameworks=args.frameworks,
        servers=args.servers,
        scenarios=args.scenarios,
        duration=duration,
        warmup=warmup,
        connections=args.connections,
        threads=args.threads,
        timeout=args.timeout,
        gthread_threads=args.gthread_threads,
        rounds=args.rounds,
        sequential=args.sequential,
        quick=args.quick,
        skip_setup=args.skip_setup,
        results=results,
    )
