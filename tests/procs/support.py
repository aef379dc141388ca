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


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
