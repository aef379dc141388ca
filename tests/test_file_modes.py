"""Files that hold someone's dealings with their bank are theirs alone: the data folder
0700; the database, its -wal and -shm, backups, exports and letters 0600; under umask 022.

The real console script runs in its own process with umask 022 (the common default, which
would leave new files world-readable).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from procs.support import child_env, expect_line, run_tracker, spawn

from tracker.errors import TrackerError
from tracker.files import atomic_private_file, write_private

UMASK = 0o022


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_and_everything_written_from_it_are_private(tmp_path: Path) -> None:
    home = tmp_path / "data" / "tracker"
    env = child_env(TRACKER_HOME=str(home))
    env.pop("TRACKER_DB", None)

    def tracker(*args: str) -> str:
        result = run_tracker(*args, env=env, umask=UMASK, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    tracker("case", "open", "Disputed charge", "--note", "first note", "--follow-up", "3d")
    db = home / "tracker.db"
    assert _mode(home) == 0o700
    assert _mode(db) == 0o600

    # While a process has the store open, its -wal and -shm exist: they take the
    # database's mode.
    holder = spawn("keep_open.py", f"sqlite:///{db}", env=env, umask=UMASK)
    try:
        expect_line(holder, "ready")
        tracker("case", "note", "1", "second note")
        wal, shm = db.with_name("tracker.db-wal"), db.with_name("tracker.db-shm")
        assert wal.exists() and shm.exists()
        assert (_mode(wal), _mode(shm)) == (0o600, 0o600)
        holder.communicate("\n", timeout=60)
    finally:
        holder.kill()
    assert holder.returncode == 0, holder.stderr

    outputs = tmp_path / "out"
    outputs.mkdir()
    # An earlier world-readable file at the target is replaced by a private one.
    (outputs / "history.csv").write_text("old")
    (outputs / "history.csv").chmod(0o644)
    written = {
        "backup.db": ("db", "backup"),
        "history.csv": ("export", "csv", "-o"),
        "store.json": ("export", "json", "-o"),
        "due.ics": ("export", "ics", "-o"),
        "letter.md": ("case", "letter", "1", "-o"),
    }
    for name, command in written.items():
        tracker(*command, str(outputs / name))
    modes = {path.name: _mode(path) for path in outputs.iterdir()}
    assert modes == dict.fromkeys(written, 0o600)
    assert (outputs / "history.csv").read_text() != "old"


def test_write_private_replaces_a_file_whole_and_private(tmp_path: Path) -> None:
    target = tmp_path / "export.json"
    target.write_text("previous")
    target.chmod(0o644)
    write_private(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["export.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    target.write_text("previous")

    class Failed(Exception):
        pass

    with pytest.raises(Failed), atomic_private_file(target) as handle:
        handle.write(b"half of it")
        raise Failed
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]


def test_a_target_that_cannot_be_written_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TrackerError) as raised:
        write_private(tmp_path / "no such folder" / "letter.md", b"text")
    assert str(raised.value) == (
        f"cannot write {tmp_path / 'no such folder' / 'letter.md'}: No such file or directory"
    )
    assert list(tmp_path.iterdir()) == []
