"""Where the store is, and what happens when it is not there, not tracker's, or cannot be
written (README, "Where the data lives").

A read never creates a store; the first write does, and says so once. Another program's
SQLite file, a file that is not a database, and an in-memory database are refused; a
read-only or full store can still be read; every path is opened as given, whatever it holds.

The tests run as root, and root ignores file permissions: the read-only places here are
real ones. A tmpfs mounted for the test and remounted read-only gives EROFS; the real
console script run with root's permission-bypassing capabilities (CAP_DAC_OVERRIDE,
CAP_DAC_READ_SEARCH) dropped from its bounding set gets EACCES from the kernel as anyone
would. A full disk is a tiny tmpfs filled up. Each skips where it cannot be set up here.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracker
from procs.support import TRACKER, child_env, run_tracker, sqlite_problems

from tracker.config import sqlite_url
from tracker.db import Store
from tracker.models import SCHEMA_REVISION

HINT = "record something to create it (e.g. tracker case open TITLE)"


@pytest.fixture
def db_url(new_db_url: str) -> str:
    """These tests are about first use: their location holds no store yet."""
    return new_db_url


@pytest.fixture
def cli() -> Tracker:
    """The CLI in-process, on TRACKER_HOME (a folder that does not exist yet)."""
    return Tracker()


def _titles(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT title FROM cases ORDER BY id")]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- no store yet

READS = [
    ("case", "list"),
    ("case", "list", "--json"),
    ("case", "show", "1"),
    ("case", "letter", "1"),
    ("due",),
    ("org", "list"),
    ("export", "csv"),
    ("export", "json"),
    ("export", "ics"),
    ("daemon", "status"),
    # Nothing to remind, but most likely a store in the wrong place (cron's environment
    # without TRACKER_HOME): said, not passed over in silence.
    ("remind", "check", "--notifier", "console"),
    ("db", "backup", "BACKUP"),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_of_a_missing_store_is_one_line_and_creates_nothing(
    cli: Tracker, tmp_path: Path, args: tuple[str, ...]
) -> None:
    store = tmp_path / "nonexistent" / "dir" / "x.db"
    backup = tmp_path / "backup.db"
    argv = [str(backup) if a == "BACKUP" else a for a in args]
    line = cli.fails(1, "--db", f"sqlite:///{store}", *argv)
    assert line == f"Error: no store at {store} (from --db); {HINT}, or check --db"
    assert _files(tmp_path) == []


def test_the_message_says_where_the_location_came_from(
    cli: Tracker, tracker_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home_db = tracker_home / "tracker.db"
    assert cli.fails(1, "case", "list") == (
        f"Error: no store at {home_db} (in TRACKER_HOME); {HINT}, or check TRACKER_HOME"
    )
    other = tmp_path / "other.db"
    monkeypatch.setenv("TRACKER_DB", sqlite_url(other))
    assert cli.fails(1, "due") == (
        f"Error: no store at {other} (from TRACKER_DB); {HINT}, or check TRACKER_DB"
    )
    monkeypatch.delenv("TRACKER_DB")
    monkeypatch.delenv("TRACKER_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    default = tmp_path / "xdg" / "tracker" / "tracker.db"
    assert cli.fails(1, "export", "json") == (
        f"Error: no store at {default} (the default location; TRACKER_DB and TRACKER_HOME are "
        f"not set); {HINT}, or set TRACKER_DB or TRACKER_HOME"
    )
    assert cli.ok("db", "path") == f"{default}\n"  # where the first write will make it
    assert _files(tmp_path) == []


def test_the_first_write_creates_the_store_and_says_so_once(
    tracker: Tracker, db_url: str, backend: str, tracker_home: Path
) -> None:
    where = Store(db_url).where
    line = tracker.fails(1, "case", "list")
    if backend == "sqlite":
        assert line.startswith(f"Error: no store at {where} (from TRACKER_DB); {HINT}")
        assert not tracker_home.exists()
    else:
        assert line.startswith(f"Error: no tracker store in the database {where} (it is empty")
    first = tracker("case", "open", "First")
    assert (first.exit_code, first.stderr) == (0, f"Created a new store at {where}\n")
    second = tracker("case", "open", "Second")
    assert (second.exit_code, second.stderr) == (0, "")
    assert [c["title"] for c in tracker.json("case", "list")] == ["Second", "First"]
    if backend == "sqlite":
        modes = [p.stat().st_mode & 0o777 for p in (tracker_home, tracker_home / "tracker.db")]
        assert modes == [0o700, 0o600]


def test_a_first_write_that_fails_makes_no_store(cli: Tracker, tracker_home: Path) -> None:
    db = tracker_home / "tracker.db"
    # The schema is made in the write's own transaction: rolled back with it.
    assert cli.fails(1, "case", "note", "1", "hello") == "Error: no case 1"
    assert cli.fails(1, "case", "list").startswith(f"Error: no store at {db} (an empty ")
    created = cli("case", "open", "Now for real")
    assert (created.exit_code, created.stderr) == (0, f"Created a new store at {db}\n")


def test_db_upgrade_makes_an_empty_store(cli: Tracker, tracker_home: Path) -> None:
    db = tracker_home / "tracker.db"
    made = cli("db", "upgrade")
    assert made.exit_code == 0
    assert made.stdout.startswith("Upgraded the store from empty to ")
    assert made.stderr == f"Created a new store at {db}\n"
    assert cli.ok("case", "list", "--json") == "[]\n"
    assert cli.ok("db", "upgrade").startswith("The store is at the current schema")


# --------------------------------------------------------------------------- not tracker's


@pytest.fixture(params=["delete", "wal"])
def songs(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Another program's SQLite database, in its journal mode."""
    folder = tmp_path / "music"
    folder.mkdir()
    path = folder / "songs.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode = {request.param}")
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.execute("INSERT INTO songs VALUES ('Blue Monday')")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("case", "list"),
        ("case", "open", "x"),
        ("export", "json"),
        ("daemon", "status"),
        ("db", "upgrade"),
        ("db", "backup", "BACKUP"),
    ],
    ids=" ".join,
)
def test_another_programs_database_is_refused_untouched(
    cli: Tracker, songs: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    before = (songs.read_bytes(), songs.stat().st_mtime_ns, _files(songs.parent))
    argv = [str(tmp_path / "backup.db") if a == "BACKUP" else a for a in args]
    line = cli.fails(1, "--db", sqlite_url(songs), *argv)
    assert line == (
        f"Error: {songs} is another program's database (it holds songs, and no tracker "
        "schema); tracker leaves it untouched"
    )
    assert (songs.read_bytes(), songs.stat().st_mtime_ns, _files(songs.parent)) == before
    assert not (tmp_path / "backup.db").exists()


@pytest.mark.parametrize("args", [("case", "list"), ("case", "open", "x")], ids=" ".join)
@pytest.mark.parametrize("content", [b"hello\n", b"Some notes of mine.\n" * 300])
def test_a_file_that_is_not_a_database_is_refused_untouched(
    cli: Tracker, tmp_path: Path, args: tuple[str, ...], content: bytes
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(content)
    line = cli.fails(1, "--db", sqlite_url(notes), *args)
    assert line == f"Error: {notes} is not a SQLite database; tracker leaves it untouched"
    assert notes.read_bytes() == content
    assert _files(tmp_path) == ["notes.txt"]


def test_an_empty_file_is_no_store_to_read_but_fine_to_write(cli: Tracker, tmp_path: Path) -> None:
    empty = tmp_path / "new.db"
    empty.touch()
    url = sqlite_url(empty)
    assert cli.fails(1, "--db", url, "case", "list") == (
        f"Error: no store at {empty} (an empty file; from --db); {HINT}, or check --db"
    )
    assert empty.stat().st_size == 0
    made = cli("--db", url, "case", "open", "In a file made beforehand")
    assert (made.exit_code, made.stderr) == (0, f"Created a new store at {empty}\n")
    assert _titles(empty) == ["In a file made beforehand"]


def test_a_folder_is_not_a_store(cli: Tracker, tmp_path: Path) -> None:
    assert cli.fails(2, "--db", sqlite_url(tmp_path), "case", "open", "x") == (
        f"Error: {tmp_path} is a folder; a SQLite store is a file (e.g. {tmp_path / 'tracker.db'})"
    )


# --------------------------------------------------------------------------- bad locations

MEMORY_URLS = ["sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true"]


@pytest.mark.parametrize("url", MEMORY_URLS)
@pytest.mark.parametrize("how", ["--db", "TRACKER_DB"])
@pytest.mark.parametrize("args", [("case", "open", "x"), ("case", "list"), ("db", "path")])
def test_an_in_memory_database_is_refused(
    cli: Tracker, monkeypatch: pytest.MonkeyPatch, url: str, how: str, args: tuple[str, ...]
) -> None:
    if how == "--db":
        line = cli.fails(2, "--db", url, *args)
    else:
        monkeypatch.setenv("TRACKER_DB", url)
        line = cli.fails(2, *args)
    assert line == (
        f"Error: {how}: '{url}' is an in-memory database: whatever is recorded there vanishes "
        "when the command ends; give a file (e.g. sqlite:////home/me/tracker.db)"
    )


EXAMPLES = "(e.g. sqlite:////home/me/tracker.db or postgresql://me@dbhost/tracker)"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("://", f"'://' is not a database URL {EXAMPLES}"),
        ("tracker.db", f"'tracker.db' is not a database URL {EXAMPLES}"),
        # The password is not shown, even in a URL that does not parse.
        (
            "postgresql://me:s3cret@dbhost:port/tracker",
            f"'postgresql://me:***@dbhost:port/tracker' is not a database URL {EXAMPLES}",
        ),
        (
            "mysql://me:s3cret@dbhost/tracker",
            "unsupported database URL 'mysql://me:***@dbhost/tracker': a store is SQLite or "
            f"PostgreSQL {EXAMPLES}",
        ),
        # SQLAlchemy would open TMP/a and drop the rest.
        (
            "sqlite:///TMP/a?b.db",
            "'sqlite:///TMP/a?b.db': a SQLite store's URL takes no options; write a '?' in "
            "the path as %3F",
        ),
    ],
)
def test_a_url_that_names_no_store_is_bad_input(
    cli: Tracker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, message: str
) -> None:
    monkeypatch.setenv("TRACKER_DB", url.replace("TMP", str(tmp_path)))
    for args in (("case", "list"), ("case", "open", "x"), ("db", "path")):
        assert cli.fails(2, *args) == f"Error: TRACKER_DB: {message.replace('TMP', str(tmp_path))}"
    assert _files(tmp_path) == []


def test_an_empty_db_option_is_bad_input(cli: Tracker) -> None:
    assert cli.fails(2, "--db", "", "case", "list") == (
        f"Error: --db: '' is not a database URL {EXAMPLES}"
    )


def test_a_tracker_home_that_is_a_file_is_bad_input(
    cli: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("mine")
    monkeypatch.setenv("TRACKER_HOME", str(file))
    for args in (("case", "list"), ("case", "open", "x"), ("db", "path")):
        assert cli.fails(2, *args) == f"Error: TRACKER_HOME is {file}, a file; it must be a folder"
    monkeypatch.setenv("TRACKER_HOME", str(file / "tracker"))
    assert cli.fails(2, "case", "open", "x") == (
        f"Error: TRACKER_HOME is {file / 'tracker'}, under {file}, which is a file; it must be "
        "a folder"
    )
    assert file.read_text() == "mine"


def test_help_and_usage_errors_still_skip_the_store(
    cli: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_DB", "://")
    assert cli.ok("--help").startswith("Usage: ")
    assert "No such command" in cli.fails(2, "nonsense")


# --------------------------------------------------------------------------- any path

ODD_NAMES = ["with#hash", "what?", "100% sure", "two  spaces ", "café ü 日本", "a#b?c%d e%41f"]


@pytest.mark.parametrize("name", ODD_NAMES)
@pytest.mark.parametrize("via", ["TRACKER_HOME", "--db"])
def test_a_store_at_any_path_works_end_to_end(
    cli: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, via: str
) -> None:
    folder = tmp_path / name
    if via == "TRACKER_HOME":
        monkeypatch.setenv("TRACKER_HOME", str(folder))
        db, args = folder / "tracker.db", ()
    else:
        db = folder / f"{name}.db"
        args = ("--db", sqlite_url(db))
    # (An error line has its runs of spaces folded into one, by the CLI's error handler.)
    shown = " ".join(str(db).split())
    assert cli.fails(1, *args, "case", "list").startswith(f"Error: no store at {shown} (")
    made = cli(*args, "case", "open", "At an odd path")
    assert (made.exit_code, made.stderr) == (0, f"Created a new store at {db}\n")
    cli.ok(*args, "case", "note", "1", "a second write")
    assert [c["title"] for c in cli.json(*args, "case", "list")] == ["At an odd path"]
    assert cli.ok(*args, "db", "path") == f"{db}\n"
    backup = tmp_path / "backup.db"
    assert cli.ok(*args, "db", "backup", str(backup)) == f"Backed up the store to {backup}.\n"
    assert _titles(backup) == ["At an odd path"]  # not an empty database made beside it
    assert _titles(db) == ["At an odd path"]
    # Nothing was made anywhere but at the path.
    assert _files(tmp_path) == sorted([name, "backup.db"])
    assert {p.name for p in folder.iterdir()} <= {db.name, f"{db.name}-wal", f"{db.name}-shm"}


def test_a_url_may_hold_a_hash_spaces_and_non_ascii_unquoted(cli: Tracker, tmp_path: Path) -> None:
    db = tmp_path / "my #1 store, é.db"
    url = f"sqlite:///{db}"
    cli.ok("--db", url, "case", "open", "Raw URL")
    assert cli.ok("--db", url, "db", "path") == f"{db}\n"
    assert _titles(db) == ["Raw URL"]
    assert {f.removeprefix(db.name) for f in _files(tmp_path)} <= {"", "-wal", "-shm"}


# --------------------------------------------------------------------------- real read-only


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """mount(size) -> a fresh tmpfs of that size; unmounted at the end. Skips where mounting
    is not permitted (not root, or a container without CAP_SYS_ADMIN)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command here")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def _remount_read_only(point: Path) -> None:
    done = subprocess.run(["mount", "-o", "remount,ro", str(point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {done.stderr.strip()}")


def _env(home: Path) -> dict[str, str]:
    env = child_env(TRACKER_HOME=str(home))
    env.pop("TRACKER_DB", None)
    return env


def _run(home: Path, *args: str, code: int = 0, **run: Any) -> subprocess.CompletedProcess[str]:
    result = run_tracker(*args, env=_env(home), **run)
    assert result.returncode == code, (args, result.stdout, result.stderr)
    return result


def _read_everything(home: Path, titles: list[str]) -> None:
    listed = json.loads(_run(home, "case", "list", "--json").stdout)
    assert sorted(c["title"] for c in listed) == sorted(titles)
    assert json.loads(_run(home, "case", "show", "1", "--json").stdout)["id"] == 1
    exported = json.loads(_run(home, "export", "json").stdout)
    assert sorted(c["title"] for c in exported["tables"]["cases"]) == sorted(titles)
    _run(home, "due")
    _run(home, "export", "csv")
    _run(home, "daemon", "status")


def test_a_store_on_a_read_only_file_system_is_read_not_changed(
    tmpfs: Callable[[str], Path], tmp_path: Path
) -> None:
    mount = tmpfs("8m")
    home = mount / "home"
    db = home / "tracker.db"
    _run(home, "case", "open", "Kept", "--follow-up", "3d")
    _run(home, "case", "note", "1", "a note")
    # A WAL database, closed cleanly (no -wal or -shm left): in a read-only folder SQLite
    # cannot make the -shm file that mode=ro needs.
    assert db.read_bytes()[18:20] == b"\x02\x02"
    assert _files(home) == ["tracker.db"]
    _remount_read_only(mount)

    _read_everything(home, ["Kept"])
    assert _run(home, "db", "path").stdout == f"{db}\n"
    assert _run(home, "db", "upgrade").stdout.startswith("The store is at the current schema")
    backup = tmp_path / "backup.db"
    _run(home, "db", "backup", str(backup))
    assert _titles(backup) == ["Kept"]
    refused = (
        f"Error: the store {db} is read-only (a read-only file system); it can be read, not "
        "changed\n"
    )
    for args in (("case", "open", "x"), ("case", "note", "1", "y"), ("undo",)):
        assert _run(home, *args, code=1).stderr == refused

    new = mount / "new"
    assert _run(new, "case", "open", "x", code=1).stderr == (
        f"Error: cannot create the store {new / 'tracker.db'}: Read-only file system: {new}\n"
    )
    assert _run(new, "case", "list", code=1).stderr.startswith(
        f"Error: no store at {new / 'tracker.db'} (in TRACKER_HOME)"
    )


_DIE_AFTER_A_WRITE = """
import os, sys
from tracker import cases
from tracker.db import Store
from tracker.redact import Masker
store = Store(sys.argv[1])
with store.write() as session:
    cases.open_case(session, title="Only in the WAL", masker=Masker())
os._exit(0)  # no checkpoint: the case is in the -wal file only
"""


def test_writes_still_in_the_wal_are_read_on_a_read_only_file_system(
    tmpfs: Callable[[str], Path],
) -> None:
    mount = tmpfs("8m")
    home = mount / "home"
    db = home / "tracker.db"
    _run(home, "case", "open", "In the file")
    subprocess.run([sys.executable, "-c", _DIE_AFTER_A_WRITE, sqlite_url(db)], check=True)
    assert (home / "tracker.db-wal").stat().st_size > 0
    _remount_read_only(mount)
    # mode=ro with the -shm file there: the WAL is read (immutable=1 would not see it).
    _read_everything(home, ["In the file", "Only in the WAL"])


@pytest.fixture
def unprivileged() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the console script as root without the capabilities that bypass file
    permissions: the kernel checks modes for it as for anyone."""
    if os.geteuid() != 0:
        pytest.skip("runs as a user already; see the tests above")
    launcher = (
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH\n"
        "    if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP\n"
        "        sys.exit(99)\n"
        "os.execv(sys.argv[1], sys.argv[1:])\n"
    )

    def run(home: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-c", launcher, TRACKER, *args],
            capture_output=True,
            text=True,
            env=_env(home),
            timeout=60,
        )
        if result.returncode == 99:
            pytest.skip("cannot drop root's capabilities here")
        assert result.returncode == code, (args, result.stdout, result.stderr)
        return result

    return run


def test_permissions_are_checked_for_real(
    unprivileged: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    probe = tmp_path / "probe"
    probe.write_text("")
    probe.chmod(0o400)
    result = unprivileged(tmp_path, "--db", sqlite_url(probe), "case", "open", "x", code=1)
    assert result.stderr == (
        f"Error: the store {probe} is read-only (the file is not writable); it can be read, "
        "not changed\n"
    )


def test_a_read_only_file_or_folder_is_read_not_changed(
    unprivileged: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    db = home / "tracker.db"
    _run(home, "case", "open", "Mine", "--follow-up", "3d")

    db.chmod(0o400)  # in a folder that can be written
    listed = unprivileged(home, "case", "list", "--json").stdout
    assert [c["title"] for c in json.loads(listed)] == ["Mine"]
    assert unprivileged(home, "case", "open", "x", code=1).stderr == (
        f"Error: the store {db} is read-only (the file is not writable); it can be read, not "
        "changed\n"
    )
    # No -wal or -shm left behind, that would keep the store read-only once it is writable.
    assert _files(home) == ["tracker.db"]

    db.chmod(0o600)
    home.chmod(0o500)  # the folder cannot be written: no -shm file can be made there
    try:
        listed = unprivileged(home, "case", "list", "--json").stdout
        assert [c["title"] for c in json.loads(listed)] == ["Mine"]
        unprivileged(home, "export", "json")
        assert unprivileged(home, "case", "note", "1", "x", code=1).stderr == (
            f"Error: the store {db} is read-only (its folder {home} is not writable); it can "
            "be read, not changed\n"
        )
    finally:
        home.chmod(0o700)

    db.chmod(0o000)
    assert unprivileged(home, "case", "list", code=1).stderr == (
        f"Error: cannot read the store {db}: Permission denied\n"
    )
    db.chmod(0o600)

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    new = locked / "new"
    assert unprivileged(new, "case", "open", "x", code=1).stderr == (
        f"Error: cannot create the store {new / 'tracker.db'}: Permission denied: {new}\n"
    )
    assert _run(home, "case", "list", "--json").stdout.count('"title"') == 1


# --------------------------------------------------------------------------- a full disk


def _fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of `folder`; then give `leave` bytes back."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    if leave:
        os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


def test_a_full_disk_is_one_line_and_the_store_can_still_be_read(
    tmpfs: Callable[[str], Path],
) -> None:
    mount = tmpfs("2m")
    home = mount / "home"
    db = home / "tracker.db"
    _run(home, "case", "open", "Before the disk filled up", "--note", "kept")
    filler = _fill(mount)

    full = f"Error: cannot write the store {db}: the disk is full\n"
    assert _run(home, "case", "open", "x", code=1).stderr == full
    assert _run(home, "case", "note", "1", "y", code=1).stderr == full
    _read_everything(home, ["Before the disk filled up"])
    assert _files(home) == ["tracker.db"]  # no broken -shm or -wal file left behind

    new = mount / "new"
    assert _run(new, "case", "open", "x", code=1).stderr == (
        f"Error: cannot write the store {new / 'tracker.db'}: the disk is full\n"
    )
    assert not new.exists()

    # Room for SQLite to start, not for the note: SQLite's own "database or disk is full".
    filler.unlink()
    _fill(mount, leave=300_000)
    assert _run(home, "case", "note", "1", "-", input="a long note " * 80_000, code=1).stderr == (
        full
    )
    filler = mount / "filler"
    filler.unlink()
    assert sqlite_problems(db) == []
    notes = json.loads(_run(home, "case", "show", "1", "--json").stdout)["notes"]
    assert [n["body"] for n in notes] == ["kept"]


def test_an_older_store_that_cannot_be_upgraded_says_so(tmpfs: Callable[[str], Path]) -> None:
    mount = tmpfs("8m")
    home = mount / "home"
    db = home / "tracker.db"
    _run(home, "case", "open", "Old")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0002'")
    conn.close()
    _remount_read_only(mount)
    line = _run(home, "case", "list", code=1).stderr
    assert line.startswith(
        f"Error: the store {db} is at schema revision 0002, not {SCHEMA_REVISION}, and cannot "
        "be upgraded "
        "now (a read-only file system)"
    )
    assert line.count("\n") == 1
