"""Where `-o FILE` and `db backup FILE` write: never over anything but a regular file, no
leftovers, and every file-system failure one `Error: cannot write PATH: <reason>` line.

=========================================  =============================================
the target                                 export csv/json/ics, case letter | db backup
=========================================  =============================================
a new path, a regular file                 written whole, 0600, renamed into place
a symlink to a regular file                the file it points to is replaced; link stays
a character device, a FIFO (or a link)     written in place       | refused, exit 2
a folder, a socket, a block device,        refused, exit 2
a broken symlink
full disk, read-only place, no folder      `Error: cannot write PATH: ...`, exit 1; the
                                           previous file untouched, nothing left beside it
=========================================  =============================================

A process killed mid-write leaves nothing (O_TMPFILE), or, where the file system cannot do
that, a locked `.NAME.tracker-PID-XXXXXXXX.tmp` that the next write into the folder
removes. The mount tests need root (a real tmpfs of 64 kB, then remounted read-only), the
device tests CAP_MKNOD (their own null and full devices: never the real /dev ones, which a
regression would replace); they skip elsewhere.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from conftest import Tracker
from procs.support import expect_line

from tracker import cases as svc
from tracker import files
from tracker.db import Store
from tracker.errors import TrackerError, UsageError
from tracker.files import atomic_private_file, open_output, write_private
from tracker.redact import Masker

# Every command that writes a file the user names, with what comes before the name.
WRITERS = {
    "export csv": ("export", "csv", "-o"),
    "export json": ("export", "json", "-o"),
    "export ics": ("export", "ics", "-o"),
    "case letter": ("case", "letter", "1", "-o"),
    "db backup": ("db", "backup"),
}
STREAMERS = [name for name in WRITERS if name != "db backup"]
NOTES = 2000  # about 500 kB of CSV and 2 MB of JSON: far past a 64 kB disk and any buffer
PREVIOUS = b"the previous file\n"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _fill_store(path: Path, notes: int) -> None:
    store = Store(f"sqlite:///{path}")
    masker = Masker()
    with store.write() as session:
        case = svc.open_case(session, title="Disputed charge", masker=masker, note="first")
        for n in range(notes):
            svc.add_note(session, case, f"note {n} " + "x" * 200, masker=masker)
    store.dispose()


@pytest.fixture(scope="module")
def big_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "tracker.db"
    _fill_store(path, NOTES)
    return path


@pytest.fixture
def small_store(tracker_home: Path) -> Tracker:
    _fill_store(tracker_home / "tracker.db", 0)
    return Tracker()


@pytest.fixture
def big_store(tracker_home: Path, big_template: Path) -> Tracker:
    tracker_home.mkdir(mode=0o700, parents=True)
    shutil.copy(big_template, tracker_home / "tracker.db")
    return Tracker()


@pytest.fixture
def frozen() -> Iterator[None]:
    """Time stands still (at the real now), so that two exports are byte for byte alike."""
    with time_machine.travel(datetime.now(UTC), tick=False):
        yield


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 kB tmpfs (mount needs root or CAP_SYS_ADMIN; skipped without)."""
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("no mount command here: cannot make a small real disk")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> None:
    """Use up every free block of `disk`."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def _free_blocks(disk: Path) -> int:
    return os.statvfs(disk).f_bfree


def _write(tracker: Tracker, command: str, target: Path | str) -> None:
    result = tracker(*WRITERS[command], str(target))
    assert result.exit_code == 0, (result.exit_code, result.stderr)


def _stdout(tracker: Tracker, command: str) -> bytes:
    """What `-o -` writes, byte for byte (Result.stdout would turn CRLF into LF)."""
    result = tracker(*WRITERS[command], "-")
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    return result.stdout_bytes


def _read_fifo(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    return reader, received


def _mknod(path: Path, kind: int, major: int, minor: int) -> None:
    try:
        os.mknod(path, kind | 0o666, os.makedev(major, minor))
    except PermissionError as exc:
        pytest.skip(f"cannot make a device node here ({exc.strerror}): needs CAP_MKNOD")


# The behaviour table, target by target.


@pytest.mark.parametrize("command", WRITERS)
def test_a_new_path_or_a_regular_file_is_written_whole_and_private(
    small_store: Tracker, tmp_path: Path, command: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _write(small_store, command, out / "new")
    old = out / "old"
    old.write_bytes(PREVIOUS)
    old.chmod(0o644)
    _write(small_store, command, old)
    assert old.read_bytes() != PREVIOUS and (out / "new").stat().st_size > 0
    assert (_mode(out / "new"), _mode(old)) == (0o600, 0o600)
    assert _names(out) == ["new", "old"]


@pytest.mark.parametrize("command", WRITERS)
def test_a_symlink_to_a_file_stays_and_the_file_it_points_to_is_replaced(
    small_store: Tracker, tmp_path: Path, command: str
) -> None:
    real = tmp_path / "real"
    real.write_bytes(PREVIOUS)
    link = tmp_path / "link"
    link.symlink_to(real)
    _write(small_store, command, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert stat.S_ISREG(real.lstat().st_mode) and real.read_bytes() != PREVIOUS
    assert _mode(real) == 0o600
    assert not [p for p in tmp_path.iterdir() if ".tracker-" in p.name]


@pytest.mark.parametrize("command", STREAMERS)
def test_a_fifo_is_written_in_place_not_replaced(
    small_store: Tracker, tmp_path: Path, command: str, frozen: None
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader, received = _read_fifo(fifo)
    _write(small_store, command, fifo)
    reader.join(timeout=10)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    stdout = _stdout(small_store, command)
    assert received == [stdout]
    # Through a symlink too: the FIFO is written, the link stays.
    link = tmp_path / "link"
    link.symlink_to(fifo)
    reader, received = _read_fifo(fifo)
    _write(small_store, command, link)
    reader.join(timeout=10)
    assert link.is_symlink() and stat.S_ISFIFO(fifo.lstat().st_mode)
    assert received == [stdout]
    assert _names(tmp_path) == ["fifo", "home", "link"]


@pytest.mark.parametrize("command", STREAMERS)
def test_a_character_device_is_written_in_place_not_replaced(
    small_store: Tracker, tmp_path: Path, command: str
) -> None:
    null = tmp_path / "null"
    _mknod(null, stat.S_IFCHR, 1, 3)  # what /dev/null is: as root it was replaced
    _write(small_store, command, null)
    assert stat.S_ISCHR(null.lstat().st_mode)
    assert os.major(null.lstat().st_rdev) == 1 and os.minor(null.lstat().st_rdev) == 3
    assert _names(tmp_path) == ["home", "null"]


@pytest.mark.parametrize("command", STREAMERS)
def test_a_device_that_cannot_take_it_is_one_error_line(
    small_store: Tracker, tmp_path: Path, command: str
) -> None:
    full = tmp_path / "full"
    _mknod(full, stat.S_IFCHR, 1, 7)  # what /dev/full is: every write is ENOSPC
    error = small_store.fails(1, *WRITERS[command], str(full))
    assert error == f"Error: cannot write {full}: No space left on device"
    assert stat.S_ISCHR(full.lstat().st_mode)


def test_a_backup_refuses_a_fifo_or_a_device_it_cannot_stream_a_database_into(
    small_store: Tracker, tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    null = tmp_path / "null"
    _mknod(null, stat.S_IFCHR, 1, 3)
    for target in (fifo, null, tmp_path / "link"):
        if target.name == "link":
            target.symlink_to(fifo)
        error = small_store.fails(2, "db", "backup", str(target))
        assert error == f"Error: {target} is not a regular file; a database needs a file"
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and stat.S_ISCHR(null.lstat().st_mode)
    assert _names(tmp_path) == ["fifo", "home", "link", "null"]


@pytest.mark.parametrize("command", WRITERS)
def test_a_folder_a_socket_a_block_device_or_a_broken_link_is_refused(
    small_store: Tracker, tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "to-folder").symlink_to(folder)
    monkeypatch.chdir(tmp_path)  # a socket's path must be short: bind it relative
    sock = socket.socket(socket.AF_UNIX)
    sock.bind("sock")
    block = tmp_path / "block"
    _mknod(block, stat.S_IFBLK, 7, 250)
    broken = tmp_path / "broken"
    broken.symlink_to(tmp_path / "nowhere")
    try:
        for target in (folder, tmp_path / "to-folder"):
            # Click's own check of the argument: a folder is never a FILE.
            assert f"'{target}' is a directory" in small_store.fails(
                2, *WRITERS[command], str(target)
            )
        for target, what in (
            (tmp_path / "sock", "is a socket"),
            (block, "is a block device"),
            (broken, "is a broken symbolic link"),
        ):
            error = small_store.fails(2, *WRITERS[command], str(target))
            assert error == f"Error: {target} {what}; give a file name"
    finally:
        sock.close()
    assert stat.S_ISSOCK((tmp_path / "sock").lstat().st_mode)
    assert stat.S_ISBLK(block.lstat().st_mode) and broken.is_symlink()
    assert list(folder.iterdir()) == []
    assert _names(tmp_path) == ["block", "broken", "folder", "home", "sock", "to-folder"]


@pytest.mark.parametrize("command", STREAMERS)
def test_dash_is_stdout(small_store: Tracker, tmp_path: Path, command: str, frozen: None) -> None:
    out = tmp_path / "out"
    _write(small_store, command, out)
    assert _stdout(small_store, command) == out.read_bytes()


# Errors a user can cause: one line naming the path, exit 1, nothing changed.


@pytest.mark.parametrize("command", WRITERS)
def test_a_missing_folder_or_a_file_for_a_folder_is_one_error_line(
    small_store: Tracker, tmp_path: Path, command: str
) -> None:
    missing = tmp_path / "no such folder" / "file"
    error = small_store.fails(1, *WRITERS[command], str(missing))
    assert error == f"Error: cannot write {missing}: No such file or directory"
    (tmp_path / "plain").write_bytes(PREVIOUS)
    under_a_file = tmp_path / "plain" / "file"
    error = small_store.fails(1, *WRITERS[command], str(under_a_file))
    assert error == f"Error: cannot write {under_a_file}: Not a directory"
    assert _names(tmp_path) == ["home", "plain"]


@pytest.mark.parametrize("command", ["export csv", "export json"])
def test_an_export_bigger_than_the_disk_is_one_error_line_and_frees_its_space(
    big_store: Tracker, small_disk: Path, command: str
) -> None:
    target = small_disk / "out"
    target.write_bytes(PREVIOUS)
    free = _free_blocks(small_disk)
    error = big_store.fails(1, *WRITERS[command], str(target))
    assert error == f"Error: cannot write {target}: No space left on device"
    assert target.read_bytes() == PREVIOUS
    assert _names(small_disk) == ["out"]
    assert _free_blocks(small_disk) == free  # the half-written file is gone, named or not


@pytest.mark.parametrize("command", WRITERS)
def test_a_full_disk_is_one_error_line_and_the_previous_file_stays(
    small_store: Tracker, small_disk: Path, command: str
) -> None:
    target = small_disk / "out"
    target.write_bytes(PREVIOUS)
    _fill(small_disk)
    error = small_store.fails(1, *WRITERS[command], str(target))
    assert error == f"Error: cannot write {target}: No space left on device"
    assert target.read_bytes() == PREVIOUS
    assert _names(small_disk) == ["filler", "out"]


def test_stdout_on_a_full_disk_is_one_error_line(big_store: Tracker, small_disk: Path) -> None:
    with open(small_disk / "redirected", "wb") as stdout:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "tracker"), "export", "csv"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert (result.returncode, result.stderr) == (
        1,
        "Error: cannot write to stdout: No space left on device\n",
    )


@pytest.mark.parametrize("command", WRITERS)
def test_a_read_only_place_is_one_error_line_and_the_previous_file_stays(
    small_store: Tracker, small_disk: Path, command: str
) -> None:
    target = small_disk / "out"
    target.write_bytes(PREVIOUS)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    new = small_disk / "new"
    for path in (target, new):
        error = small_store.fails(1, *WRITERS[command], str(path))
        assert error == f"Error: cannot write {path}: Read-only file system"
    assert target.read_bytes() == PREVIOUS
    assert _names(small_disk) == ["out"]


def test_a_reader_that_leaves_a_fifo_is_one_error_line(big_store: Tracker, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def leave() -> None:  # open, so the export can start; go before reading a byte
        os.close(os.open(fifo, os.O_RDONLY))

    reader = threading.Thread(target=leave)
    reader.start()
    error = big_store.fails(1, "export", "csv", "-o", str(fifo))
    reader.join(timeout=10)
    assert error == f"Error: cannot write {fifo}: Broken pipe"
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


# Killed mid-write: nothing is left, or the next run removes it.

KILLED_EXPORT = r"""
import errno, os, sys
import tracker.cli.export as cli_export
from tracker.cli import main

temporary, target = sys.argv[1:]
if temporary == "named":  # as on a file system without O_TMPFILE
    real_open = os.open
    def without_tmpfile(path, flags, *args, **kwargs):
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))
        return real_open(path, flags, *args, **kwargs)
    os.open = without_tmpfile

class Stalling:
    # Passes the writes on; past 100 kB, flushes them to the file, says so, and waits.
    def __init__(self, stream):
        self.stream, self.sent, self.told = stream, 0, False
    def write(self, data):
        self.stream.write(data)
        self.sent += len(data)
        if self.sent > 100_000 and not self.told:
            self.stream.flush()
            self.told = True
            print("written", flush=True)
            sys.stdin.readline()
        return len(data)

real_write = cli_export.write_history_csv
def stalling(session, stream, **kwargs):
    return real_write(session, Stalling(stream), **kwargs)
cli_export.write_history_csv = stalling
sys.argv = ["tracker", "export", "csv", "-o", target]
main()
"""

KILLED_BACKUP = r"""
import sys
import tracker.backup as backup
from tracker.cli import main

class Stalling(backup.PartialFile):
    # The copy is made; before it is renamed into place, say so and wait.
    def commit(self):
        print("written", self.path, flush=True)
        sys.stdin.readline()
        super().commit()

backup.PartialFile = Stalling
sys.argv = ["tracker", "db", "backup", sys.argv[1]]
main()
"""


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL


def _unnamed_files(pid: int, folder: Path) -> list[int]:
    """Sizes of the files `pid` has open in `folder` that have no name there (O_TMPFILE)."""
    sizes = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with_name = os.readlink(fd)
        if with_name.startswith(f"{folder}/") and with_name.endswith(" (deleted)"):
            sizes.append(os.stat(fd).st_size)
    return sizes


@pytest.mark.parametrize("temporary", ["unnamed", "named"])
def test_an_export_killed_mid_write_leaves_nothing_after_the_next_run(
    big_store: Tracker, tmp_path: Path, temporary: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "history.csv"
    target.write_bytes(PREVIOUS)
    child = _spawn(KILLED_EXPORT, temporary, str(target))
    try:
        expect_line(child, "written")
        if temporary == "unnamed":
            assert _names(out) == ["history.csv"]
            [size] = _unnamed_files(child.pid, out)
        else:
            [name] = [n for n in _names(out) if n != "history.csv"]
            assert re.fullmatch(rf"\.history\.csv\.tracker-{child.pid}-[0-9a-f]{{8}}\.tmp", name)
            size = (out / name).stat().st_size
            assert _mode(out / name) == 0o600
            # Another run into the folder meanwhile leaves a live writer's file alone.
            _write(big_store, "export ics", out / "due.ics")
            assert (out / name).stat().st_size == size
        assert size > 100_000
    finally:
        _kill(child)
    assert target.read_bytes() == PREVIOUS
    _write(big_store, "export ics", out / "due.ics")  # the next run, into the same folder
    assert _names(out) == ["due.ics", "history.csv"]
    assert target.read_bytes() == PREVIOUS


def test_a_backup_killed_before_its_rename_leaves_nothing_after_the_next_run(
    big_store: Tracker, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "backup.db"
    target.write_bytes(PREVIOUS)
    child = _spawn(KILLED_BACKUP, str(target))
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[:1] == ["written"], child.stderr
        partial = Path(line[1])
        assert partial.parent == out
        assert re.fullmatch(rf"\.backup\.db\.tracker-{child.pid}-[0-9a-f]{{8}}\.tmp", partial.name)
        assert partial.stat().st_size > 1_000_000 and _mode(partial) == 0o600
        _write(big_store, "db backup", out / "other.db")  # a live backup's file stays
        assert partial.exists()
    finally:
        _kill(child)
    assert _names(out) == sorted(["backup.db", partial.name, "other.db"])
    _write(big_store, "db backup", out / "other.db")  # the next run
    assert _names(out) == ["backup.db", "other.db"]
    assert target.read_bytes() == PREVIOUS


# What the sweep removes, and what it leaves.


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def _sweep(folder: Path, name: str = "h.csv") -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        files.sweep(fd, name)
    finally:
        os.close(fd)


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_the_sweep_removes_only_its_own_abandoned_files(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getpid()
    made = {
        # abandoned: the process is gone, with what SQLite left beside it
        "abandoned": f".b.db.tracker-{dead}-0123abcd.tmp",
        "journal": f".b.db.tracker-{dead}-0123abcd.tmp-journal",
        "wal": f".b.db.tracker-{dead}-0123abcd.tmp-wal",
        "orphan journal": f".c.db.tracker-{dead}-4567cdef.tmp-journal",
        # the process lives (or its pid is someone else's now): removed once it is old
        "alive, new": f".h.csv.tracker-{alive}-89abcdef.tmp",
        "alive, old": f".h.csv.tracker-{alive}-00000000.tmp",
        # locked: written from another machine sharing the folder, whatever the pid says
        "locked": f".h.csv.tracker-{dead}-11111111.tmp",
        # an older version's temporary files of the target: once an hour old
        "legacy, old": ".h.csv.ab_de9x1.tmp",
        "legacy, new": ".h.csv.zz0a_9qq.tmp",
        "legacy partial": ".h.csv.partial",
        "legacy, other name": ".other.csv.ab_de9x1.tmp",
        "legacy, not 0600": ".h.csv.k2k2k2k2.tmp",
        # not ours
        "not ours": ".h.csv.tracker-x-0123abcd.tmp",
        "plain": "notes.tmp",
    }
    for path in (tmp_path / name for name in made.values()):
        path.write_bytes(b"x")
        path.chmod(0o600)
    (tmp_path / made["legacy, not 0600"]).chmod(0o644)
    for key in ("alive, old", "legacy, old", "legacy partial", "legacy, other name"):
        _age(tmp_path / made[key], 2 * files.LEGACY_AFTER)
    _age(tmp_path / made["legacy, not 0600"], 2 * files.LEGACY_AFTER)
    holder = os.open(tmp_path / made["locked"], os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        _sweep(tmp_path)
    finally:
        os.close(holder)
    kept = {key for key, name in made.items() if (tmp_path / name).exists()}
    assert kept == {
        "alive, new",
        "locked",
        "legacy, new",
        "legacy, other name",
        "legacy, not 0600",
        "not ours",
        "plain",
    }


def test_a_symlink_named_like_a_temporary_file_is_left_alone(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(PREVIOUS)
    link = tmp_path / f".h.csv.tracker-{_dead_pid()}-0123abcd.tmp"
    link.symlink_to(victim)
    _sweep(tmp_path)
    assert link.is_symlink() and victim.read_bytes() == PREVIOUS


# The library functions.


@pytest.mark.parametrize("temporary", ["unnamed", "named"])
def test_while_it_is_written_a_file_has_no_name_or_a_locked_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, temporary: str
) -> None:
    if temporary == "named":
        real_open = os.open

        def without_tmpfile(path: str, flags: int, *args: int, **kwargs: int) -> int:
            if flags & os.O_TMPFILE == os.O_TMPFILE:
                raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", without_tmpfile)
    target = tmp_path / "h.csv"
    with open_output(target) as out:
        out.write(b"x" * 200_000)
        out.flush()
        during = _names(tmp_path)
        _sweep(tmp_path)
        assert _names(tmp_path) == during
    assert _names(tmp_path) == ["h.csv"]
    assert target.read_bytes() == b"x" * 200_000 and _mode(target) == 0o600
    if temporary == "unnamed":
        assert during == []
    else:
        [name] = during
        assert re.fullmatch(rf"\.h\.csv\.tracker-{os.getpid()}-[0-9a-f]{{8}}\.tmp", name)


def test_a_failure_inside_the_block_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "h.csv"
    target.write_bytes(PREVIOUS)
    with pytest.raises(RuntimeError), open_output(target) as out:
        out.write(b"x" * 200_000)
        raise RuntimeError("the database went away")
    assert _names(tmp_path) == ["h.csv"] and target.read_bytes() == PREVIOUS


def test_write_private_never_replaces_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "unit"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="is not a regular file"):
        write_private(fifo, b"text")
    with pytest.raises(UsageError, match="is not a regular file"), atomic_private_file(fifo):
        pass
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_an_os_error_while_writing_names_the_target(tmp_path: Path) -> None:
    full = tmp_path / "full"
    _mknod(full, stat.S_IFCHR, 1, 7)
    with pytest.raises(TrackerError) as raised, open_output(full) as out:
        out.write(b"x" * 200_000)
    assert str(raised.value) == f"cannot write {full}: No space left on device"
    assert stat.S_ISCHR(full.lstat().st_mode)
