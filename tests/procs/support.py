"""What the durability tests share: starting child programs, and checking a SQLite file.

The child programs beside this file are plain Python scripts run with ``sys.executable``;
each prints ``ready`` once it has imported everything and opened the store, so a test can
line them up before it lets them go.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

PROCS = Path(__file__).resolve().parent
ROOT = PROCS.parent.parent
TRACKER = str(Path(sys.executable).parent / "tracker")

TABLES = (
    "organizations",
    "contact_points",
    "cases",
    "interactions",
    "reference_numbers",
    "promises",
    "follow_ups",
    "notes",
    "changes",
    "events",
    "reminders",
)


def spawn(script: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """Start tests/procs/SCRIPT with this interpreter; stdin/stdout are pipes (text)."""
    return subprocess.Popen(
        [sys.executable, str(PROCS / script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def expect_line(proc: subprocess.Popen[str], expected: str) -> str:
    """Read one line from the child; fail with its stderr if it is not `expected`."""
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != expected:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"expected {expected!r} from the child, got {line!r}\n{err}")
    return line


def tracker_cmd(
    *args: str, busy_timeout: float | None = None, announce_fd: int | None = None
) -> list[str]:
    """The command line of `tracker ARGS` through tracker_cmd.py, with its lock hooks."""
    options: list[str] = []
    if busy_timeout is not None:
        options += ["--busy-timeout", str(busy_timeout)]
    if announce_fd is not None:
        options += ["--announce-fd", str(announce_fd)]
    return [sys.executable, str(PROCS / "tracker_cmd.py"), *options, "--", *args]


def run_tracker(*args: str, **run: Any) -> subprocess.CompletedProcess[str]:
    """The real console script in its own process (environment inherited unless given)."""
    return subprocess.run([TRACKER, *args], capture_output=True, text=True, timeout=60, **run)


def db_file(url: str) -> Path:
    assert url.startswith("sqlite:///"), url
    return Path(url.removeprefix("sqlite:///"))


def sqlite_problems(path: Path) -> list[str]:
    """integrity_check and foreign_key_check of the file at `path`: [] when both are clean."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        conn.close()
    problems = [] if integrity == ["ok"] else [f"integrity_check: {integrity}"]
    problems += [f"foreign_key_check: {row}" for row in broken]
    return problems


def wait_longer_for_the_write_lock(seconds: float) -> None:
    """In this process, every write transaction of tracker's waits up to `seconds` for the
    SQLite write lock, instead of tracker's 5 s busy timeout.

    For children whose test is about what they write, not about that budget: on a loaded
    machine another process can hold the lock longer than 5 s (four first-use migrations
    in a row, a writer that is not scheduled), and "database is busy" would fail a test of
    something else. tracker's write transactions begin with BEGIN IMMEDIATE (see
    test_sqlite_setup.py); the timeout is set on the connection just before it.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def before(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            cursor.connection.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    event.listen(Engine, "before_cursor_execute", before)


def announce_the_write_lock(fd: int) -> None:
    """In this process, write ``BEGIN IMMEDIATE\n`` to `fd` just before each write
    transaction of tracker's asks SQLite for the write lock (so a test knows the moment a
    command starts to wait for a lock it holds)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            os.write(fd, b"BEGIN IMMEDIATE\n")

    event.listen(Engine, "before_cursor_execute", before)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
