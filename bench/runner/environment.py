"""The environment: bench/.venv with the peers, wrk, the SQLite databases, CPU pinning."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.runner.config import (
    DB_PATH,
    FORTUNES,
    PEERS,
    ROOT,
    VENV,
    VPY,
    WORLD_ROWS,
    BenchError,
    say,
)


def run_quiet(cmd: Sequence[str | Path], what: str) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise BenchError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def setup_venv(skip: bool) -> None:
    if not VPY.exists():
        say(f"creating {VENV.relative_to(ROOT)} ...")
        run_quiet([sys.executable, "-m", "venv", VENV], "creating the virtualenv")
    if skip:
        return
    wanted = hashlib.sha256(
        ("\n".join(PEERS) + (ROOT / "pyproject.toml").read_text()).encode()
    ).hexdigest()
    stamp = VENV / ".bench-installed"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say("installing the peers and keel (editable) into bench/.venv ...")
    run_quiet([VPY, "-m", "pip", "install", "--quiet", *PEERS], "pip install of the peers")
    run_quiet([VPY, "-m", "pip", "install", "--quiet", "-e", ROOT], "pip install -e . (keel)")
    stamp.write_text(wanted)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    say("wrk not found: installing it from the OS packages (apt-get install -y wrk) ...")
    if shutil.which("apt-get") is None:
        raise BenchError("wrk is missing and apt-get is not available: install wrk by hand")
    try:
        run_quiet(["apt-get", "update"], "apt-get update")
        run_quiet(["apt-get", "install", "-y", "wrk"], "apt-get install -y wrk")
    except BenchError as exc:
        raise BenchError(
            f"{exc}\nCould not install wrk. Install it by hand (Debian/Ubuntu: "
            "`sudo apt-get install wrk`) and rerun."
        ) from None
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get reported success but wrk is still not on PATH")
    return found


def database_ok(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            worlds = conn.execute("SELECT count(*) FROM world").fetchone()[0]
            fortunes = [row[0] for row in conn.execute("SELECT message FROM fortune ORDER BY id")]
    except sqlite3.Error:
        return False
    return bool(worlds == WORLD_ROWS and fortunes == FORTUNES)


def create_database(path: Path) -> None:
    """Create the database once (world, fortune); table `note` is created anew every run."""
    if database_ok(path):
        set_wal(path)
        reset_notes(path)
        return
    say(f"creating {path.relative_to(ROOT)} (world: {WORLD_ROWS} rows, fortune: 12 rows) ...")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.db")
    tmp.unlink(missing_ok=True)
    rng = random.Random(4)
    with contextlib.closing(sqlite3.connect(tmp)) as conn:
        conn.execute("CREATE TABLE world (id INTEGER PRIMARY KEY, randomnumber INTEGER NOT NULL)")
        conn.execute("CREATE TABLE fortune (id INTEGER PRIMARY KEY, message TEXT NOT NULL)")
        conn.executemany(
            "INSERT INTO world (id, randomnumber) VALUES (?, ?)",
            [(i, rng.randint(1, 10_000)) for i in range(1, WORLD_ROWS + 1)],
        )
        conn.executemany(
            "INSERT INTO fortune (id, message) VALUES (?, ?)",
            list(enumerate(FORTUNES, start=1)),
        )
        conn.commit()
    tmp.replace(path)
    set_wal(path)
    reset_notes(path)


NOTE_TABLE = "CREATE TABLE note (id INTEGER PRIMARY KEY, author TEXT NOT NULL, text TEXT NOT NULL)"


def reset_notes(path: Path) -> None:
    """Create table `note` of the `writes` scenario afresh (every run starts from nothing)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE IF EXISTS note")
        conn.execute(NOTE_TABLE)
        conn.commit()


def empty_notes(path: Path) -> None:
    """Empty table `note` and checkpoint the WAL, so each framework's writes start alike."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("DELETE FROM note")
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def prepare_load(scenario: str) -> None:
    """What a scenario needs before each framework's load (the same start for everyone)."""
    if scenario == "writes":
        try:
            empty_notes(DB_PATH)
        except sqlite3.Error as exc:
            raise BenchError(f"could not empty table note: {exc}") from None


def set_wal(path: Path) -> None:
    """Every framework reads the same file in the same journal mode: WAL, as production SQLite
    runs (keel.db switches a database to WAL, and the mode persists in the file)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


@dataclass(frozen=True)
class Cpus:
    server: int | None
    client: int | None

    def prefix(self, cpu: int | None) -> list[str]:
        return ["taskset", "-c", str(cpu)] if cpu is not None else []


def choose_cpus() -> Cpus:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2 and shutil.which("taskset"):
        return Cpus(server=cpus[0], client=cpus[1])
    say("note: fewer than 2 CPUs (or no taskset): server and wrk are not pinned")
    return Cpus(server=None, client=None)
