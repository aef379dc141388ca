"""A writer killed at any moment loses no committed case and leaves nothing half-written.

tests/procs/crash_writer.py forks writer processes that commit cases with their notes (one
transaction each) and report each committed id; this test SIGKILLs them at random moments
on one store, until 100 kills have landed while a writer was writing: after its first
commit, so in or between transactions and not while it was still starting. A kill counts
by what the writer had reported, not by how long it ran (on a loaded machine a writer can
take longer to start than a fixed delay allows).
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

KILLS = 100  # kills that land after a commit
ATTEMPTS = 2 * KILLS  # a kill can still miss: its writer died some other way, or got stuck
TITLE = re.compile(r"run (\d+) case (\d+) notes (\d+)")


def _expected_notes(run: int, k: int, n: int) -> list[str]:
    return [note_body(run, k, j) for j in range(n)]


def _wait_for_a_commit(out: Path, timeout: float = 120) -> bool:
    """Wait until the writer reported its first commit (a complete line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and b"\n" in out.read_bytes():
            return True
        time.sleep(0.002)
    return False


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
    runs_with_commits = kills = 0
    server = spawn("crash_writer.py", url)
    assert server.stdin is not None and server.stdout is not None
    started = time.monotonic()
    try:
        for run in range(ATTEMPTS):
            if runs_with_commits == KILLS:
                break
            kills += 1
            out = tmp_path / f"run{run}.out"
            server.stdin.write(f"spawn {run} {out}\n")
            server.stdin.flush()
            pid = int(server.stdout.readline())
            # Once it has committed, at a random moment of what follows: mostly inside a
            # transaction (they are most of a writer's time), sometimes between two.
            _wait_for_a_commit(out)
            time.sleep(rng.uniform(0, 0.100))
            os.kill(pid, signal.SIGKILL)
            server.stdin.write(f"wait {pid}\n")
            server.stdin.flush()
            expect_line(server, "reaped")
            committed = _reported(out)
            runs_with_commits += bool(committed)
            reported.update(committed)
        _, err = server.communicate(timeout=60)
    finally:
        server.kill()
    elapsed = time.monotonic() - started
    assert "Traceback" not in err, err
    print(
        f"seed {seed}: {kills} kills in {elapsed:.1f} s, {len(reported)} cases reported, "
        f"{runs_with_commits} runs killed after a commit"
    )
    # The kills must land while the writers are writing, or this proves little.
    assert runs_with_commits == KILLS, f"seed {seed}: only {runs_with_commits} kills counted"

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
