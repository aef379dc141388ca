"""`tracker db backup FILE`: SQLite's online backup, safe while another process writes.

Each copy is a consistent snapshot (a transaction is in it whole or not at all), opens on its
own (no -wal needed), passes integrity_check and is 0600. A PostgreSQL store is pointed to
pg_dump or `export json`.
"""

from __future__ import annotations

import sqlite3
import stat
import time
from pathlib import Path

import pytest
from conftest import Tracker
from procs.support import expect_line, run_tracker, spawn, sqlite_problems

from tracker import cases as svc
from tracker.db import Store
from tracker.models import Reminder, utcnow
from tracker.redact import Masker


def _store(home: Path) -> Path:
    path = home / "tracker.db"
    store = Store(f"sqlite:///{path}")
    with store.write() as session:
        svc.open_case(session, title="Disputed charge", masker=Masker(), note="first")
        session.add(Reminder(key="test:counter", kind="test", due_at=utcnow(), claimed_by="t"))
    store.dispose()
    return path


def _backup(target: Path) -> None:
    result = run_tracker("db", "backup", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Backed up the store to {target}.\n"


def _snapshot(copy: Path) -> tuple[int, int]:
    """(notes written by the writer, its counter) in a copy; equal in a consistent one."""
    assert sqlite_problems(copy) == []
    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        notes = conn.execute("SELECT count(*) FROM notes WHERE body LIKE 'cli note %'").fetchone()
        counter = conn.execute("SELECT attempts FROM reminders WHERE key = 'test:counter'")
        return notes[0], counter.fetchone()[0]
    finally:
        conn.close()


def _notes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        count: int = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
    conn.close()
    return count


def test_backups_taken_while_a_writer_writes_are_consistent_private_copies(
    tracker_home: Path, tmp_path: Path
) -> None:
    path = _store(tracker_home)
    # Each of its transactions adds a note and bumps the counter: one snapshot, equal counts.
    writer = spawn("contender.py", f"sqlite:///{path}", "cli", "100000", "1")
    copies = [tmp_path / f"backup-{i}.db" for i in range(3)]
    try:
        expect_line(writer, "ready")
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        written = 49
        for copy in copies:
            # The writer goes on between the copies (however fast this machine is today).
            deadline = time.monotonic() + 300
            while _notes(path) <= written and time.monotonic() < deadline:
                time.sleep(0.05)
            _backup(copy)
            written = _notes(path)
        assert writer.poll() is None, writer.communicate()[1]
    finally:
        writer.kill()
        writer.communicate()
    snapshots = [_snapshot(copy) for copy in copies]
    for notes, counter in snapshots:
        assert notes == counter
    # The writer went on between the copies: they were taken during its writes.
    counts = [notes for notes, _ in snapshots]
    assert counts == sorted(set(counts)) and counts[0] >= 50, counts
    for copy in [*copies, path]:
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.partial"))


def test_a_backup_does_not_wait_for_a_writer_and_leaves_out_what_it_has_not_committed(
    tracker_home: Path, tmp_path: Path
) -> None:
    path = _store(tracker_home)
    holder = spawn("hold_lock.py", str(path), "commit")
    try:
        expect_line(holder, "locked")
        # The holder keeps the lock until told: a backup that needed it would fail after the
        # busy timeout instead.
        _backup(tmp_path / "copy.db")
        assert holder.poll() is None, "the lock holder ended before the backup was done"
        holder.communicate("\n", timeout=60)
    finally:
        holder.kill()
    assert _notes(tmp_path / "copy.db") == 1
    assert _notes(path) == 2


def test_a_backup_replaces_an_older_backup_and_never_the_store(
    tracker_home: Path, tmp_path: Path
) -> None:
    path = _store(tracker_home)
    old = tmp_path / "backup.db"
    old.write_text("last week's backup")
    old.chmod(0o644)
    _backup(old)
    assert _notes(old) == 1
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    refused = run_tracker("db", "backup", str(path))
    assert (refused.returncode, refused.stderr) == (
        2,
        "Error: the backup must not overwrite the store itself\n",
    )
    nowhere = run_tracker("db", "backup", "~no-such-user-here/backup.db")
    assert (nowhere.returncode, nowhere.stderr) == (
        2,
        "Error: cannot find the home folder in ~no-such-user-here/backup.db\n",
    )
    assert sqlite_problems(path) == []


@pytest.mark.backends("postgresql")  # SQLite stores: the online backup API (tests above)
def test_a_postgresql_store_is_pointed_to_pg_dump(tracker: Tracker, tmp_path: Path) -> None:
    tracker.ok("case", "open", "Disputed charge")
    target = tmp_path / "backup.db"
    assert tracker.fails(1, "db", "backup", str(target)) == (
        "Error: db backup copies SQLite stores; for PostgreSQL use pg_dump, "
        "or `tracker export json -o FILE` for a portable copy"
    )
    assert not target.exists()
