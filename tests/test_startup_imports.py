"""The everyday commands start without the heavy packages (python -X importtime tells).

Alembic, APScheduler, plyer, psycopg, icalendar, phonenumbers and rich cost 30-300 ms each
to import (docs/engineering.md); `--help`, `case note`, `case list`, `case show` and `due` need none
of them on a SQLite store at the schema head. A module imported at the top of a file that
these commands load would show up here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HEAVY = (
    "alembic", "apscheduler", "plyer", "rich", "psycopg", "icalendar", "phonenumbers",
    "jinja2", "babel", "markupsafe",
)  # fmt: skip
COMMANDS = [
    ["--help"],
    ["case", "--help"],
    ["case", "note", "1", "Called again, no news."],
    ["case", "list"],
    ["case", "list", "--limit", "50", "--json"],
    ["case", "show", "1"],
    ["due"],
    ["search", "disputed"],
    ["log", "chatted with american express, no news", "--yes"],
    ["config", "show"],
]


def run(home: Path, *args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    env = {**os.environ, "TRACKER_HOME": str(home), "TZ": "UTC"}
    env.pop("TRACKER_DB", None)
    return subprocess.run(
        [sys.executable, *flags, "-m", "tracker", *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )


def imported(stderr: str) -> set[str]:
    """Top-level packages in an -X importtime report."""
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+([\w.]+)\s*$", stderr, re.MULTILINE)
    assert names, "no -X importtime report"
    return {name.split(".")[0] for name in names}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store with one case for the module, made (and migrated: Alembic) once."""
    folder = tmp_path_factory.mktemp("home")
    run(folder, "case", "open", "Disputed charge at ACME", "--org", "American Express")
    return folder


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_an_everyday_command_imports_no_heavy_package(home: Path, args: list[str]) -> None:
    heavy = imported(run(home, *args, importtime=True).stderr) & set(HEAVY)
    assert not heavy, f"tracker {' '.join(args)} imports {', '.join(sorted(heavy))}"


def test_help_does_not_import_sqlalchemy(home: Path) -> None:
    assert "sqlalchemy" not in imported(run(home, "--help", importtime=True).stderr)


@pytest.fixture(scope="module")
def served() -> Iterator[Any]:
    """A store and a running command server for the module, and what the interpreter
    imports before any script (site, .pth files)."""
    from test_server import a_home

    with a_home() as place:
        place.run("case", "open", "Disputed charge at ACME", "--org", "American Express")
        place.wait_for_server()
        before = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "pass"],
            capture_output=True,
            text=True,
            env=place.env,
            check=True,
        )
        place.site = imported(before.stderr)
        yield place


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_the_client_imports_only_the_standard_library_when_a_server_runs(
    served: Any, args: list[str]
) -> None:
    """With a command server up, `tracker` imports nothing but the standard library and
    tracker/__init__.py and tracker/client.py (beyond what the interpreter's start-up does)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tracker", *args],
        capture_output=True,
        text=True,
        env=served.env,
        check=True,
    )
    outside = imported(done.stderr) - set(sys.stdlib_module_names) - served.site - {"tracker"}
    assert not outside, f"tracker {' '.join(args)} imports {', '.join(sorted(outside))}"
    loaded = re.findall(r"\|\s+(tracker[\w.]*)\s*$", done.stderr, re.MULTILINE)
    assert sorted(set(loaded)) == ["tracker", "tracker.client"]


def test_a_contact_without_a_transcript_loads_no_parser(home: Path) -> None:
    """The transcript parser and the evidence store load only for --transcript."""
    report = run(
        home, "case", "contact", "1", "--channel", "phone", "--summary", "x", importtime=True
    ).stderr
    modules = set(re.findall(r"\|\s+([\w.]+)\s*$", report, re.MULTILINE))
    assert "tracker.cases" in modules  # the report lists our own modules too
    assert not modules & {"tracker.transcript", "tracker.evidence", "tracker.cli.transcript"}
