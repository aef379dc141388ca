"""Two processes writing at once lose nothing; a lock held too long is one clear error.

Real processes (tests/procs/contender.py, hold_lock.py, the `tracker` console script)
against a real store: the CLI's read-then-write next to the daemon's claims.
"""

from __future__ import annotations

import json
import os
import select as io_select
import subprocess
import time
from pathlib import Path

from procs.support import db_file, expect_line, run_tracker, spawn, sqlite_problems, tracker_cmd
from sqlalchemy import func, select

from tracker import cases as svc
from tracker.db import Store
from tracker.models import Event, Interaction, Note, Reminder, utcnow
from tracker.redact import Masker

TRANSACTIONS = 200  # per process
BUSY = "Error: database is busy, try again\n"
HOLD = 0.5  # seconds a short lock is still held once the CLI waits for it


def _store_with_a_case(url: str) -> Store:
    store = Store(url)
    with store.write() as session:
        svc.open_case(session, title="Disputed charge", masker=Masker())
        session.add(
            Reminder(
                key="test:counter",
                kind="test",
                due_at=utcnow(),
                claimed_by="test",
                attempts=0,
            )
        )
    return store


def test_cli_and_daemon_writing_at_once_lose_nothing(db_url: str, backend: str) -> None:
    store = _store_with_a_case(db_url)
    contenders = [
        spawn("contender.py", db_url, role, str(TRANSACTIONS), "1") for role in ("cli", "daemon")
    ]
    try:
        for proc in contenders:
            expect_line(proc, "ready")
        started = time.monotonic()
        for proc in contenders:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [proc.communicate(timeout=120) for proc in contenders]
        elapsed = time.monotonic() - started
    finally:
        for proc in contenders:
            proc.kill()
    for proc, (out, err) in zip(contenders, results, strict=True):
        assert proc.returncode == 0, err
        assert out.split() == ["done"], (out, err)
        assert "Traceback" not in err and "locked" not in err, err
    print(f"{backend}: 2 x {TRANSACTIONS} read-then-write transactions in {elapsed:.2f} s")

    with store.read() as session:
        notes = session.scalars(select(Note.body).where(Note.case_id == 1)).all()
        calls = session.scalars(select(Interaction.summary)).all()
        reminders = session.execute(
            select(Reminder.key, Reminder.shown_at).where(Reminder.key.like("follow_up:test-%"))
        ).all()
        counter = session.scalar(select(Reminder.attempts).where(Reminder.key == "test:counter"))
        note_events = session.scalar(
            select(func.count()).select_from(Event).where(Event.type == "note")
        )
    expected_notes = {f"cli note {i}" for i in range(TRANSACTIONS)}
    expected_notes |= {f"daemon note {i}" for i in range(TRANSACTIONS)}
    assert len(notes) == 2 * TRANSACTIONS
    assert set(notes) == expected_notes
    assert note_events == 2 * TRANSACTIONS
    assert sorted(map(str, calls)) == sorted(f"cli call {i}" for i in range(0, TRANSACTIONS, 4))
    assert {key for key, _ in reminders} == {f"follow_up:test-{i}" for i in range(TRANSACTIONS)}
    assert all(shown is not None for _, shown in reminders)
    # Read in Python, written back + 1 by both processes: no update lost.
    assert counter == 2 * TRANSACTIONS
    store.dispose()
    if backend == "sqlite":
        assert sqlite_problems(db_file(db_url)) == []


def _sqlite_store_with_a_case(home: Path) -> Path:
    path = home / "tracker.db"
    _store_with_a_case(f"sqlite:///{path}").dispose()
    return path


def _count_notes_and_changes(path: Path) -> tuple[int, int]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        notes = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
        changes = conn.execute("SELECT count(*) FROM changes").fetchone()[0]
    conn.close()
    return notes, changes


def test_a_lock_held_past_the_busy_timeout_is_one_clear_error(tracker_home: Path) -> None:
    path = _sqlite_store_with_a_case(tracker_home)
    before = _count_notes_and_changes(path)
    holder = spawn("hold_lock.py", str(path), "rollback")
    try:
        expect_line(holder, "locked")
        # Readers do not wait for the writer (WAL): the holder keeps the lock until told, so
        # a reader that needed it would fail after the busy timeout instead.
        shown = run_tracker("case", "show", "1")
        assert shown.returncode == 0, shown.stderr
        assert holder.poll() is None, "the lock holder ended before the reader was done"
        started = time.monotonic()
        noted = run_tracker("case", "note", "1", "x")
        waited = time.monotonic() - started
        assert holder.poll() is None, "the lock holder ended before the CLI gave up"
        holder.communicate("\n", timeout=60)
    finally:
        holder.kill()
    assert (noted.returncode, noted.stdout, noted.stderr) == (1, "", BUSY)
    assert waited >= 5.0, f"gave up after {waited:.2f} s, before the 5 s busy timeout"
    # Nothing of the refused command, nothing of the rolled-back holder.
    assert _count_notes_and_changes(path) == before
    assert sqlite_problems(path) == []


def test_a_write_waits_out_a_short_lock_instead_of_failing(tracker_home: Path) -> None:
    # "Short" counts from the moment the command asks for the lock (it says so on a pipe),
    # not from its start: how long Python takes to start is the machine's business.
    path = _sqlite_store_with_a_case(tracker_home)
    holder = spawn("hold_lock.py", str(path), "commit")
    asking, announce = os.pipe()
    try:
        expect_line(holder, "locked")
        note = subprocess.Popen(
            tracker_cmd("case", "note", "1", "after the lock", announce_fd=announce),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            pass_fds=(announce,),
        )
        os.close(announce)
        ready, _, _ = io_select.select([asking], [], [], 300)
        assert ready, "the note never asked for the write lock"
        assert os.read(asking, 100) == b"BEGIN IMMEDIATE\n"
        started = time.monotonic()
        time.sleep(HOLD)
        assert note.poll() is None, "the note did not wait for the lock"
        holder.communicate("\n", timeout=60)
        out, err = note.communicate(timeout=60)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        os.close(asking)
    assert note.returncode == 0, err
    assert err == ""
    assert out == "Added note 2 to case 1.\n"
    assert waited >= HOLD
    with Store(f"sqlite:///{path}").read() as session:
        bodies = session.scalars(select(Note.body).order_by(Note.id)).all()
    assert bodies == ["note of the lock holder", "after the lock"]


def test_processes_starting_together_on_a_new_store_all_succeed(tracker_home: Path) -> None:
    # First use creates the folder and the file and runs the migrations: four commands
    # doing it at the same moment must neither fail nor migrate twice. They wait for each
    # other's lock longer than tracker's 5 s: on a loaded machine one migration after
    # another takes longer than that, and the busy timeout is not what this is about.
    assert not tracker_home.exists()
    commands = [
        subprocess.Popen(
            tracker_cmd("case", "open", f"case {i}", busy_timeout=300),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    results = [command.communicate(timeout=600) for command in commands]
    created = f"Created a new store at {tracker_home / 'tracker.db'}\n"
    for command, (out, err) in zip(commands, results, strict=True):
        assert command.returncode == 0, err
        assert (out.startswith("Opened case "), err in ("", created)) == (True, True), err
    assert [err for _, err in results].count(created) == 1  # said once, by the one creator
    listed = run_tracker("case", "list", "--json")
    assert sorted(case["title"] for case in json.loads(listed.stdout)) == [
        f"case {i}" for i in range(4)
    ]
    assert sqlite_problems(tracker_home / "tracker.db") == []
