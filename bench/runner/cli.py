"""The entry point: set up, start, verify, load, report; servers stopped on every exit."""

from __future__ import annotations

import datetime as dt
import functools
import os
import signal
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench.runner.config import DB_PATH, REFERENCE, SCENARIOS, TARGETS, BenchError, say
from bench.runner.environment import choose_cpus, create_database, ensure_wrk, setup_venv
from bench.runner.load import Run, bench_interleaved, bench_target
from bench.runner.options import parse_args
from bench.runner.processes import serve, server_command, stop_all
from bench.runner.report import collect_meta, render, write_results
from bench.runner.startup import measure_startup
from bench.runner.verify import Answer, reference_answers


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        say(
            f"warning: the machine is busy (load average {load_before:.2f}): "
            "other work shows up as noise; consider --rounds 3"
        )
    http_scenarios = [s for s in opts.scenarios if s in SCENARIOS]
    targets = [t for t in TARGETS if t.framework in opts.frameworks and t.server in opts.servers]
    run = Run()
    try:
        setup_venv(opts.skip_setup)
        wrk = ensure_wrk() if http_scenarios and targets else ""
        create_database(DB_PATH)
        cpus = choose_cpus()
        if cpus.client is not None:
            os.sched_setaffinity(0, {cpus.client})
        with tempfile.TemporaryDirectory(prefix="keel-bench-") as tmp:
            logdir = Path(tmp)
            if "startup" in opts.scenarios:
                measure_startup(run, opts, cpus, logdir)
            if http_scenarios and targets:
                reference: dict[str, Answer] | None = None
                if REFERENCE not in targets:
                    say(f"== {REFERENCE.label} (reference answers only, not loaded)")
                    command = functools.partial(server_command, REFERENCE, opts=opts)
                    with serve(command, cpus, logdir, "reference") as server:
                        reference = reference_answers(server.port, http_scenarios)
                if opts.sequential:
                    for target in targets:
                        rows, reference = bench_target(
                            target, http_scenarios, reference, opts, cpus, wrk, logdir
                        )
                        run.rows += rows
                else:
                    run.rows += bench_interleaved(
                        targets, http_scenarios, reference, opts, cpus, wrk, logdir
                    )
        meta = collect_meta(started, wrk, load_before)
    except KeyboardInterrupt:
        say("\ninterrupted: servers stopped")
        return 130
    except BenchError as exc:
        say(f"\nbench/run: {exc}")
        return 1
    finally:
        stop_all()
    section = render(run, opts, cpus, meta)
    say("")
    say(section)
    if opts.results is not None:
        write_results(opts.results, section)
        say(f"results written to {opts.results}")
    return 0
