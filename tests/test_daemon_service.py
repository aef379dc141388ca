"""The daemon's service side without the scheduler, and the daemon commands' views.

`tracker daemon status`, `daemon install` and `remind check` need the lock, the pid and the
unit (tracker.service), not APScheduler (tracker.daemon, imported by `daemon run` only).
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tracker.due import DueItem
from tracker.reminders import Occurrence, Upcoming
from tracker.views import daemon as views
from tracker.when import to_iso_utc

# Runs the console script's module (as `python -m tracker ARGS`), and at exit writes the names
# of every module it imported to $MODULES_OUT.
PROBE = """\
import atexit, os, runpy, sys

def _write():
    with open(os.environ["MODULES_OUT"], "w") as out:
        out.write("\\n".join(sorted(sys.modules)))

atexit.register(_write)
runpy.run_module("tracker", run_name="__main__", alter_sys=True)
"""

COMMANDS = [
    ["daemon", "status"],
    ["daemon", "status", "--json"],
    ["daemon", "install", "--notifier", "console"],
    ["daemon", "install"],
    ["remind", "check", "--notifier", "console"],
]
NOT_IMPORTED = ("apscheduler", "tracker.daemon", "plyer", "jeepney", "dbus")


def modules_of(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.txt"
    env = {
        **os.environ,
        "TRACKER_HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "MODULES_OUT": str(out),
        "TZ": "UTC",
    }
    env.pop("TRACKER_DB", None)
    subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, check=True
    )
    return set(out.read_text().split())


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_the_daemon_commands_but_run_do_not_import_the_scheduler(
    tmp_path: Path, args: list[str]
) -> None:
    modules_of(tmp_path, "db", "upgrade")  # a store: `status` and `check` read one
    modules = modules_of(tmp_path, *args)
    assert "tracker.service" in modules  # the probe saw the command run
    loaded = {m for m in modules if m.split(".")[0] in NOT_IMPORTED or m in NOT_IMPORTED}
    assert not loaded, f"tracker {' '.join(args)} imports {', '.join(sorted(loaded))}"


# --------------------------------------------------------------------------- the views


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


def test_the_text_and_json_views_offer_the_same_methods() -> None:
    assert public_methods(views.Text) == public_methods(views.Json)
    assert "daemon_status" in public_methods(views.Text)


NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def pending() -> list[Upcoming]:
    due = DueItem(
        kind="follow_up",
        case_id=7,
        case_title="Lost card",
        organization="Amex",
        item_id=3,
        text="ring them",
        due_at=NOW + timedelta(hours=2),
    )
    return [Upcoming(due.due_at, Occurrence("follow_up:3", "follow_up", due.due_at, due))]


def test_status_says_who_runs(capsys: pytest.CaptureFixture[str]) -> None:
    views.Text().daemon_status(True, 4242, True, pending(), NOW)
    views.Text().daemon_status(False, None, False, [], NOW)
    assert capsys.readouterr().out == (
        "Daemon: running (pid 4242).\n"
        "Next reminders:\n"
        "  2026-11-26 16:00  in 2 hours  7 Lost card  follow up: ring them\n"
        "Daemon: not running on this machine (daemons on other machines may share the "
        "store).\n"
        "No reminders pending.\n"
    )


def test_status_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    views.Json().daemon_status(None, None, False, pending(), NOW)
    assert capsys.readouterr().out == (
        "{\n"
        '  "running": null,\n'
        '  "pid": null,\n'
        '  "upcoming": [\n'
        "    {\n"
        '      "remind_at": "2026-11-26T16:00:00+00:00",\n'
        '      "due_at": "2026-11-26T16:00:00+00:00",\n'
        '      "key": "follow_up:3",\n'
        '      "kind": "follow_up",\n'
        '      "case_id": 7,\n'
        '      "case_title": "Lost card",\n'
        '      "organization": "Amex",\n'
        '      "text": "ring them",\n'
        '      "attempt_count": 0,\n'
        '      "last_error": null\n'
        "    }\n"
        "  ]\n"
        "}\n"
    )


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 26, 14, 0, 5, 999_999, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=14))),
    ],
)
def test_times_are_written_as_serialize_iso_wrote_them(value: datetime) -> None:
    # What `daemon status --json` wrote before the views: the store's times are all aware.
    assert to_iso_utc(value) == value.astimezone(UTC).isoformat(timespec="seconds")
