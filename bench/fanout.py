"""Websocket fan-out: one publisher, many clients on one worker, keel beside FastAPI.

    python3 -m bench.fanout                          # 1,000 clients, 20 msg/s and max rate
    python3 -m bench.fanout --clients 1000 --stuck 10 --rate 20 --seconds 10
    python3 -m bench.fanout --quick                  # 50 clients, 2 s: a smoke test

Each framework's app (bench/apps/fanout_*.py) runs under uvicorn, one worker, pinned to
the first CPU; the clients (bench/fanout_client.py, several processes) run on the second.
The publisher runs inside the server (``POST /publish``): keel broadcasts through
keel.channels, FastAPI with its documented ConnectionManager loop. Each message carries its
send time; a client's latency is its receive time minus that. Reported per run:
deliveries/s, p50/p99 latency, the server's CPU (share of one core and microseconds per
delivery) and, with ``--stuck N``, the same for the readers while N clients never read, with
the server's queue bound and drop count.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.runner.config import ROOT, VPY
from bench.runner.environment import choose_cpus, setup_venv

APPS = {"keel": "bench.apps.fanout_keel:app", "fastapi": "bench.apps.fanout_fastapi:app"}
CLIENT = Path(__file__).with_name("fanout_client.py")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / 100.0


def http(method: str, url: str) -> dict[str, int]:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def run_one(
    name: str, clients: int, stuck: int, rate: float, seconds: float, procs: int, python: Path
) -> dict[str, object]:
    cpus = choose_cpus()
    port = free_port()
    server = subprocess.Popen(
        [
            *cpus.prefix(cpus.server),
            str(python),
            "-m",
            "uvicorn",
            APPS[name],
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--ws-ping-interval",
            "0",
        ],
        cwd=ROOT,
    )
    readers: list[subprocess.Popen[str]] = []
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                http("GET", base + "/stats")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.1)
        listen = seconds + 5
        url = f"ws://127.0.0.1:{port}/ws"
        shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
        for share in shares:
            readers.append(
                subprocess.Popen(
                    [
                        *cpus.prefix(cpus.client),
                        str(python),
                        str(CLIENT),
                        url,
                        str(share),
                        str(listen),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        if stuck:
            readers.append(
                subprocess.Popen(
                    [
                        *cpus.prefix(cpus.client),
                        str(python),
                        str(CLIENT),
                        url,
                        str(stuck),
                        str(listen),
                        "--stuck",
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in readers:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a client process failed to connect")
        cpu_before = cpu_seconds(server.pid)
        wall = time.monotonic()
        http("POST", f"{base}/publish?rate={rate}&seconds={seconds}")
        time.sleep(seconds)
        cpu = cpu_seconds(server.pid) - cpu_before
        elapsed = time.monotonic() - wall
        stats = http("GET", base + "/stats")
        latencies: list[float] = []
        for proc in readers:
            out, _ = proc.communicate(timeout=listen + 30)
            latencies.extend(json.loads(out.strip().splitlines()[-1])["latencies"])
        delivered = len(latencies)
        return {
            "framework": name,
            "clients": clients,
            "stuck": stuck,
            "rate": rate or "max",
            "deliveries_per_s": round(delivered / seconds),
            "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "server_cpu_pct": round(100 * cpu / elapsed),
            "cpu_us_per_delivery": round(1e6 * cpu / delivered, 1) if delivered else None,
            "dropped": stats["dropped"],
            "max_queued": stats["max_queued"],
        }
    finally:
        for proc in readers:
            if proc.poll() is None:
                proc.kill()
        server.terminate()
        server.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frameworks", default="keel,fastapi")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--stuck", type=int, default=None, help="clients that never read")
    parser.add_argument("--rate", type=float, default=None, help="messages/s (0: max)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument(
        "--python", type=Path, default=None, help="use this interpreter, not bench/.venv"
    )
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds, args.procs = 50, 2, 1
    python = args.python or VPY
    if args.python is None:
        setup_venv(args.skip_install)
    rates = [args.rate] if args.rate is not None else [20.0, 0.0]
    stucks = [args.stuck] if args.stuck is not None else [0, 10]
    rows = []
    for rate in rates:
        for stuck in stucks:
            for name in args.frameworks.split(","):
                row = run_one(name, args.clients, stuck, rate, args.seconds, args.procs, python)
                print(json.dumps(row), flush=True)
                rows.append(row)
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    sys.exit(main())
