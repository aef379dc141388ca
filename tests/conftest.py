"""Shared fixtures: every test gets its own store folder and UTC as the local zone."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tracker.cli import cli

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


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    yield Tracker()
