"""Shared fixtures: every test gets its own store and UTC as the local zone.

Tests that take the `tracker`, `db_url` or `store` fixture run once per backend: SQLite, and
a real PostgreSQL server started for the session (TRACKER_TEST_BACKENDS=sqlite limits it;
`@pytest.mark.backends("sqlite")` limits one test or module).

Their store is at the schema head already: the migrations run once per session, into a
template (a SQLite file, a PostgreSQL database), and each test gets a copy of it. Tests of
first use take `new_db_url` instead: a location where no store exists yet.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import fastpath
import pytest
import servers
import time_machine
from click.testing import CliRunner, Result
from helpers import NOW, Clock, Recorder
from servers import NotificationServer

from tracker.cli import cli
from tracker.client import Refused
from tracker.db import Store

BACKENDS = [
    b.strip() for b in os.environ.get("TRACKER_TEST_BACKENDS", "sqlite,postgresql").split(",")
]

os.environ["TZ"] = "UTC"
time.tzset()
# No `python -m tracker` a test starts leaves a command server behind (tests/test_server.py
# starts its own, with a short idle timeout, and stops them).
os.environ["TRACKER_NO_SERVER"] = "1"

# Which way `Tracker` runs a command: "inprocess" (Click's test runner) or "fast" (the
# command server's worker, forked from this process: tests/fastpath.py).
TEST_PATH = os.environ.get("TRACKER_TEST_PATH", "inprocess")
_FAST: fastpath.ThreadServer | None = None
_FAST_NOW = False  # this test may use it (not marked `inprocess`)


@pytest.fixture(autouse=True)
def command_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """The path this test's commands take; a test marked `inprocess` looks inside the
    command's process (a fake that records its calls), which a forked worker cannot show."""
    global _FAST_NOW
    _FAST_NOW = _FAST is not None and request.node.get_closest_marker("inprocess") is None
    yield "fast" if _FAST_NOW else "inprocess"
    _FAST_NOW = False


@pytest.fixture(autouse=True)
def tracker_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point TRACKER_HOME at a fresh folder; no test touches the user's real store."""
    home = tmp_path / "home"
    monkeypatch.setenv("TRACKER_HOME", str(home))
    monkeypatch.delenv("TRACKER_DB", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("EDITOR", raising=False)
    # A test that says stdout is a terminal sees a wide one without colour, unless it asks
    # (tests/test_tables.py tests fitting and colour).
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    return home


class Tracker:
    """Runs the real CLI the way a user types it: in-process, or through the fast path
    (TRACKER_TEST_PATH=fast: the command server's worker, see tests/fastpath.py)."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        if _FAST is not None and _FAST_NOW:
            try:
                return _FAST.run(list(args), input)  # type: ignore[return-value]
            except Refused:
                pass  # `daemon`, `remind`, `server`: in-process, as the client does
        return self.runner.invoke(
            cli, list(args), input=input, catch_exceptions=False, prog_name="tracker"
        )

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def fails(self, code: int, *args: str, input: str | None = None) -> str:
        """Run, expect exit `code` and one `Error:` line on stderr; return that line."""
        result = self(*args, input=input)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("Error: "), lines[0]
        assert "Traceback" not in result.stderr
        return lines[0]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run the test's store only on these backends"
    )
    config.addinivalue_line(
        "markers",
        "inprocess: its commands run in-process even with TRACKER_TEST_PATH=fast (the test "
        "reads what a fake recorded inside the command's process)",
    )
    global _FAST
    if TEST_PATH == "fast" and _FAST is None:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="tracker-fast-"))
        _FAST = fastpath.ThreadServer(folder)
    elif TEST_PATH not in ("inprocess", "fast"):
        raise pytest.UsageError(f"TRACKER_TEST_PATH is inprocess or fast, not {TEST_PATH!r}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files with slow tests first, each file's tests in their order: the parallel run
    (pytest-xdist, --dist loadfile) hands out files in this order, so the long ones (a 10k
    store soaked on both backends, wheels built and installed) start while the short ones
    fill the other worker, instead of running alone at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: order kept within


def pytest_unconfigure(config: pytest.Config) -> None:
    global _FAST
    if _FAST is not None:
        _FAST.close()
        shutil.rmtree(_FAST.server.path.parent, ignore_errors=True)
        _FAST = None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        names = [b for b in BACKENDS if marker is None or b in marker.args]
        metafunc.parametrize("backend", names, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store for this test, at the schema head: the SQLite file in TRACKER_HOME, or a new
    PostgreSQL database (both copies of the session's migrated template).

    TRACKER_DB is set to it, so the CLI and any subprocess started with this environment
    use it.
    """
    if backend == "sqlite":
        url = request.getfixturevalue("home_store")
    elif backend == "postgresql":
        url = request.getfixturevalue("postgres_store")
    else:
        raise ValueError(f"unknown backend {backend!r}")
    monkeypatch.setenv("TRACKER_DB", url)
    return url


@pytest.fixture
def new_db_url(
    backend: str,
    request: pytest.FixtureRequest,
    tracker_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """Where no store exists yet, for tests of first use: a SQLite file in TRACKER_HOME that
    is not there (nor is its folder), or a new, empty PostgreSQL database. TRACKER_DB is set
    to it."""
    if backend == "sqlite":
        url = f"sqlite:///{tracker_home / 'tracker.db'}"
    elif backend == "postgresql":
        url = request.getfixturevalue("postgres_db")
    else:
        raise ValueError(f"unknown backend {backend!r}")
    monkeypatch.setenv("TRACKER_DB", url)
    return url


@pytest.fixture
def tracker(db_url: str) -> Iterator[Tracker]:
    yield Tracker()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """tracker's Store on this test's store (`db_url`), disposed at the end."""
    opened = Store(db_url)
    yield opened
    opened.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A SQLite store migrated to head once per session, the way tracker does on first use
    (tracker.db.Store), as bytes: each test's SQLite store is a copy.

    The WAL is folded back into the file and removed before it is read (the last connection
    to close does that; the checkpoint makes sure), so the file alone is the whole store.
    """
    path = tmp_path_factory.mktemp("sqlite-template") / "tracker.db"
    Store(f"sqlite:///{path}", create=True).dispose()
    conn = sqlite3.connect(path)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "the template store is still in use"
    finally:
        conn.close()
    others = sorted(p.name for p in path.parent.iterdir() if p != path)
    assert others == [], f"the template store left {others} beside it"
    return path.read_bytes()


@pytest.fixture
def home_store(tracker_home: Path, sqlite_template: bytes) -> str:
    """The default store (tracker.db in TRACKER_HOME) at the schema head, as the first
    command would leave it (folder 0700, file 0600); its URL. TRACKER_DB stays unset."""
    path = tracker_home / "tracker.db"
    tracker_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(sqlite_template)
    return f"sqlite:///{path}"


@pytest.fixture
def clock_start() -> datetime:
    """Where `clock` starts; a module that needs another instant overrides this fixture."""
    return NOW


@pytest.fixture
def clock(request: pytest.FixtureRequest, clock_start: datetime) -> Iterator[Clock]:
    """Frozen time from `clock_start` (NOW unless the module says otherwise).

    The test's store, if it has one, is set up first, on real time: a PostgreSQL server
    started under frozen time would wait for deadlines that never come.
    """
    if "db_url" in request.fixturenames:
        request.getfixturevalue("db_url")
    with time_machine.travel(clock_start, tick=False) as traveller:
        yield Clock(traveller, clock_start)


@pytest.fixture
def recorder() -> Recorder:
    """A notifier that records what it shows (or fails while `recorder.error` is set)."""
    return Recorder()


@pytest.fixture(scope="session")
def notification_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotificationServer]:
    """A real notification server (Xvfb + private session bus + dunst) for the session.

    Skips when its tools are missing; fails instead with TRACKER_REQUIRE_SERVERS=1 (CI).
    """
    servers.skip_or_fail(servers.desktop_tools_missing())
    with servers.notification_server(tmp_path_factory.mktemp("notification-server")) as server:
        yield server


@pytest.fixture
def notifications(
    notification_server: NotificationServer, monkeypatch: pytest.MonkeyPatch
) -> NotificationServer:
    """The shared server with an empty log; this process's env points at it, so
    subprocesses started with the default env notify there."""
    notification_server.clear()
    for key, value in notification_server.env.items():
        monkeypatch.setenv(key, value)
    return notification_server


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLAlchemy URL of a throwaway PostgreSQL server for the session (its postgres db)."""
    servers.skip_or_fail(servers.postgres_tools_missing())
    with servers.postgres_server(tmp_path_factory.mktemp("postgres-server")) as url:
        yield url


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """URL of a new, empty database on the session's server, one per test (dropped after
    it, so that the server stays small)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield servers.create_database(postgres_url, name)
    servers.drop_database(postgres_url, name)


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> str:
    """Name of a database on the session's server migrated to head once, by tracker's Store.

    Each test's database is made from it with CREATE DATABASE ... TEMPLATE, which PostgreSQL
    refuses while anyone is connected to it: nothing stays connected.
    """
    name = "tracker_template"
    Store(servers.create_database(postgres_url, name), create=True).dispose()
    return name


@pytest.fixture
def postgres_store(postgres_url: str, postgres_template: str) -> Iterator[str]:
    """URL of a new database at the schema head (a copy of the template), one per test
    (dropped after it)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield servers.create_database(postgres_url, name, template=postgres_template)
    servers.drop_database(postgres_url, name)
