"""Shared fixtures: every test gets its own store and UTC as the local zone.

Tests that take the `tracker` (or `db_url`) fixture run once per backend: SQLite, and a
real PostgreSQL server started for the session (TRACKER_TEST_BACKENDS=sqlite limits it).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import servers
from click.testing import CliRunner, Result
from servers import NotificationServer

from tracker.cli import cli

BACKENDS = [
    b.strip() for b in os.environ.get("TRACKER_TEST_BACKENDS", "sqlite,postgresql").split(",")
]

os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(autouse=True)
def tracker_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point TRACKER_HOME at a fresh folder; no test touches the user's real store."""
    home = tmp_path / "home"
    monkeypatch.setenv("TRACKER_HOME", str(home))
    monkeypatch.delenv("TRACKER_DB", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("EDITOR", raising=False)
    return home


class Tracker:
    """Runs the real CLI in-process, the way a user types it."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(cli, list(args), input=input, catch_exceptions=False)

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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def db_url(
    backend: str,
    request: pytest.FixtureRequest,
    tracker_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """The store for this test: a SQLite file in TRACKER_HOME, or a new PostgreSQL database.

    TRACKER_DB is set to it, so the CLI and any subprocess started with this environment
    use it.
    """
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
def postgres_db(postgres_url: str) -> str:
    """URL of a new, empty database on the session's server, one per test."""
    return servers.create_database(postgres_url, f"test_{uuid.uuid4().hex[:12]}")
