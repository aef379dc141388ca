"""holidays, dateutil and tzlocal load only when a command needs them (-X importtime tells).

holidays costs some 200 ms to import and build a calendar, dateutil.parser some 15 ms,
tzlocal some 40 ms: the everyday commands need none of them; business days on a holiday
calendar import holidays once a machine (the dates are cached on disk after that).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = {"holidays", "dateutil", "tzlocal"}


def run(home: Path, *args: str) -> set[str]:
    env = {**os.environ, "TRACKER_HOME": str(home), "TZ": "Europe/London"}
    env.pop("TRACKER_DB", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tracker", *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:"):
            names.add(line.rsplit("|", 1)[-1].strip().split(".")[0])
    assert names, "no -X importtime report"
    return names


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    run(folder, "org", "add", "Barclays", "--country", "GB")
    run(folder, "case", "open", "Refund", "--org", "Barclays")
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ["case", "list"],
        ["case", "show", "1"],
        ["case", "note", "1", "No news."],
        ["case", "promise", "1", "Call back", "--due", "tomorrow 9am"],
        ["case", "contact", "1", "--channel", "phone", "--promise", "Credit", "--due", "3d"],
        ["due"],
    ],
    ids=" ".join,
)
def test_everyday_commands_import_none_of_them(home: Path, args: list[str]) -> None:
    assert not run(home, *args) & HEAVY


def test_business_days_import_holidays_once_then_read_the_cache(home: Path) -> None:
    first = run(home, "case", "promise", "1", "Refund", "--due", "10bd")
    assert "holidays" in first
    assert list((home / "cache").glob("holidays-*-GB-ENG-*.json"))
    again = run(home, "case", "promise", "1", "Refund", "--due", "7-10 working days")
    assert "holidays" not in again


def test_a_month_name_imports_dateutil(home: Path) -> None:
    assert "dateutil" in run(home, "case", "promise", "1", "Card", "--due", "Dec 24 2099")
