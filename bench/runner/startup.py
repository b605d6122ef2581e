"""The startup scenario: import cost and the idle memory of a hello-world server."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from pathlib import Path

from bench.runner.config import HELLO_APPS, IMPORT_MODULES, VBIN, VPY, BenchError, say
from bench.runner.environment import Cpus
from bench.runner.load import Run
from bench.runner.memory import tree_rss_kib
from bench.runner.options import Options
from bench.runner.processes import serve


def measure_import(
    module: str, cpus: Cpus, logdir: Path, runs: int = 5
) -> tuple[float | None, int | None, str]:
    """Best-of-`runs` wall time and peak RSS (KiB) of `python -c "import <module>"`.

    The peak is the child's own VmHWM, read as its last act: getrusage()/wait4() would report
    the runner's RSS instead, since Linux carries the forked parent's high-water mark across
    exec."""
    code = "import sys\n" + (f"import {module}\n" if module else "")
    code += "sys.stdout.write([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    best_time, best_rss = float("inf"), sys.maxsize
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(
            [*cpus.prefix(cpus.server), str(VPY), "-c", code],
            cwd=logdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            return None, None, f"failed: {lines[-1] if lines else proc.returncode}"
        best_time = min(best_time, elapsed)
        best_rss = min(best_rss, int(proc.stdout.split()[1]))
    return best_time, best_rss, ""


def measure_idle(framework: str, cpus: Cpus, logdir: Path) -> int | str:
    """RSS (KiB) of an idle uvicorn hello-world server after one request."""

    def command(port: int) -> list[str]:
        return [
            str(VBIN / "uvicorn"),
            HELLO_APPS[framework],
            "--host=127.0.0.1",
            f"--port={port}",
            "--loop=uvloop",
            "--http=httptools",
            "--no-access-log",
            "--log-level=warning",
        ]

    try:
        with serve(command, cpus, logdir, f"hello-{framework}") as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            try:
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
            finally:
                conn.close()
            if resp.status != 200:
                return f"failed: GET / answered {resp.status}"
            time.sleep(1.0)
            return tree_rss_kib(server.proc.pid)
    except (BenchError, OSError, http.client.HTTPException) as exc:
        return f"failed: {str(exc).splitlines()[-1] if str(exc) else repr(exc)}"


def measure_startup(run: Run, opts: Options, cpus: Cpus, logdir: Path) -> None:
    say("== startup: import time and memory (best of 5), idle hello-world RSS")
    modules = ["", *(m for m in IMPORT_MODULES if m == "pydantic" or m in opts.frameworks)]
    for module in modules:
        seconds, rss, problem = measure_import(module, cpus, logdir)
        name = module or "(python alone)"
        run.imports.append((name, seconds, rss, problem))
        if problem:
            say(f"   import {name:<16} {problem}")
        else:
            assert seconds is not None and rss is not None
            say(f"   import {name:<16} {seconds:6.3f} s  {rss / 1024:6.1f} MiB")
    for framework in HELLO_APPS:
        if framework in opts.frameworks:
            run.idle[framework] = measure_idle(framework, cpus, logdir)
            value = run.idle[framework]
            shown = value if isinstance(value, str) else f"{value / 1024:.1f} MiB"
            say(f"   idle {framework:<18} {shown}")
