"""A writer killed at any moment loses no committed case and leaves nothing half-written.

tests/procs/crash_writer.py forks writer processes that commit cases with their notes (one
transaction each) and report each committed id; this test SIGKILLs them at random moments,
200 times, on one store.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import time
from pathlib import Path

from procs.crash_writer import note_body
from procs.support import child_env, expect_line, run_tracker, spawn, sqlite_problems

from tracker.db import Store

KILLS = 200
TITLE = re.compile(r"run (\d+) case (\d+) notes (\d+)")


def _expected_notes(run: int, k: int, n: int) -> list[str]:
    return [note_body(run, k, j) for j in range(n)]


def _reported(out: Path) -> dict[int, int]:
    """case id -> note count, from the complete lines a killed writer printed."""
    text = out.read_text() if out.exists() else ""
    lines = text.split("\n")[:-1]  # a last line without its newline was not finished
    return {int(case_id): int(n) for case_id, n in (line.split() for line in lines)}


def test_killed_writers_lose_no_committed_case_and_leave_no_orphans(tmp_path: Path) -> None:
    path = tmp_path / "tracker.db"
    url = f"sqlite:///{path}"
    Store(url, create=True).dispose()
    seed = int(os.environ.get("TRACKER_CRASH_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    reported: dict[int, int] = {}
    runs_with_commits = 0
    server = spawn("crash_writer.py", url)
    assert server.stdin is not None and server.stdout is not None
    started = time.monotonic()
    try:
        for run in range(KILLS):
            out = tmp_path / f"run{run}.out"
            server.stdin.write(f"spawn {run} {out}\n")
            server.stdin.flush()
            pid = int(server.stdout.readline())
            time.sleep(rng.uniform(0.020, 0.150))
            os.kill(pid, signal.SIGKILL)
            server.stdin.write(f"wait {pid}\n")
            server.stdin.flush()
            expect_line(server, "reaped")
            committed = _reported(out)
            runs_with_commits += bool(committed)
            reported.update(committed)
        _, err = server.communicate(timeout=10)
    finally:
        server.kill()
    elapsed = time.monotonic() - started
    assert "Traceback" not in err, err
    print(
        f"seed {seed}: {KILLS} kills in {elapsed:.1f} s, {len(reported)} cases reported, "
        f"{runs_with_commits} runs killed after a commit"
    )
    # Most kills must land while the writer is writing, or this proves little.
    assert runs_with_commits >= KILLS // 2, f"seed {seed}"

    assert sqlite_problems(path) == [], f"seed {seed}"
    conn = sqlite3.connect(path)
    cases = {cid: title for cid, title in conn.execute("SELECT id, title FROM cases")}
    notes: dict[int, list[str]] = {}
    for case_id, body in conn.execute("SELECT case_id, body FROM notes ORDER BY id"):
        notes.setdefault(case_id, []).append(body)
    events = dict(conn.execute("SELECT case_id, count(*) FROM events GROUP BY case_id"))
    orphans = conn.execute(
        "SELECT"
        " (SELECT count(*) FROM notes WHERE case_id NOT IN (SELECT id FROM cases)),"
        " (SELECT count(*) FROM events WHERE case_id IS NOT NULL"
        "   AND case_id NOT IN (SELECT id FROM cases)),"
        " (SELECT count(*) FROM events WHERE change_id NOT IN (SELECT id FROM changes)),"
        " (SELECT count(*) FROM changes WHERE id NOT IN (SELECT change_id FROM events))"
    ).fetchone()
    conn.close()
    assert orphans == (0, 0, 0, 0), f"seed {seed}"

    # Every reported case is there, whole.
    missing = sorted(set(reported) - set(cases))
    assert not missing, f"seed {seed}: committed and reported, but gone: {missing[:10]}"
    # Every case in the store (reported or killed just before reporting) is whole: its
    # transaction committed entirely or not at all.
    for case_id, title in cases.items():
        match = TITLE.fullmatch(title)
        assert match, title
        run, k, n = (int(g) for g in match.groups())
        if case_id in reported:
            assert reported[case_id] == n
        assert notes.get(case_id) == _expected_notes(run, k, n), f"seed {seed}: case {case_id}"
        assert events.get(case_id) == 1 + n, f"seed {seed}: case {case_id}"

    # And the store works on: the CLI reads it and writes to it.
    env = child_env(TRACKER_DB=url)
    last = max(cases)
    shown = run_tracker("case", "show", str(last), "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    noted = run_tracker("case", "note", str(last), "after the crashes", env=env)
    assert noted.returncode == 0, noted.stderr
    assert sqlite_problems(path) == []
