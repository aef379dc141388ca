"""End to end: the real `.venv/bin/tracker daemon run` and `remind check` under a real
notification server (Xvfb + a private D-Bus session bus + dunst logging every notification),
with the desktop notifier over D-Bus, as a user would run them; and without one: no session
bus at all, or a bus with no notification server on it. Wall-clock jumps are made with
libfaketime on the daemon alone.

Skipped when the desktop tools are missing, except with TRACKER_REQUIRE_SERVERS=1 (CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import servers
from conftest import Tracker
from servers import NotificationServer
from sqlalchemy import func, select
from test_daemon import TRACKER, DaemonProcess, wait_until

from tracker.config import database_url
from tracker.db import Store
from tracker.models import Case, ContactPoint, Event, Reminder, utcnow

pytestmark = pytest.mark.desktop

POLL = "1"
SETTLE = 1.5  # seconds: more than one poll, for "and nothing more arrives"
# How long a notification may take to arrive before the test gives up. Only a failing test
# waits that long; the tests check what arrives and when it was due, not the machine's speed.
ARRIVAL = 120
BODY = (
    "Follow-up due now: call back about the credit (case 1: Disputed charge at ACME). "
    "Next step: contact customer service, call +1 800-528-2122"
)


@pytest.fixture
def cli(home_store: str) -> Tracker:
    """The CLI on the default store (SQLite in TRACKER_HOME, at the schema head)."""
    return Tracker()


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> DaemonProcess:
        daemon = DaemonProcess(["--poll", POLL, *args], env=env)
        started.append(daemon)
        daemon.wait_for_log("tracker daemon started")
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def amex_case(cli: Tracker, title: str = "Disputed charge at ACME") -> int:
    """A case at American Express, whose frontline number the directory knows."""
    case_id = int(cli.json("case", "open", title, "--org", "American Express")["id"])
    store = Store(database_url())
    try:
        with store.write() as session:
            case = session.get(Case, case_id)
            assert case is not None and case.organization_id is not None
            if case_id == 1:
                session.add(
                    ContactPoint(
                        organization_id=case.organization_id, kind="phone", value="+1 800-528-2122"
                    )
                )
    finally:
        store.dispose()
    return case_id


def tracker_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRACKER), *args], capture_output=True, text=True, timeout=300, check=False, env=env
    )


def claims() -> list[tuple[str, bool, str | None, int]]:
    """Every reminders row: key, shown or not, the notification's id, attempts."""
    store = Store(database_url())
    try:
        with store.read() as session:
            rows = session.execute(
                select(
                    Reminder.key, Reminder.shown_at, Reminder.notification_id, Reminder.attempts
                ).order_by(Reminder.key)
            ).all()
    finally:
        store.dispose()
    return [
        (key, shown is not None, notification, attempts)
        for key, shown, notification, attempts in rows
    ]


def without_session(**extra: str) -> dict[str, str]:
    """This environment with no desktop session: no bus address, no runtime dir, no display."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "DISPLAY", "WAYLAND_DISPLAY")
    }
    return {**env, **extra}


FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def faketime_env(offset_file: Path) -> dict[str, str]:
    """libfaketime on one process: its wall clock is moved by what offset_file says ("+0",
    "-1d", "+3d"), read again at every call; its monotonic clock is left alone."""
    library = (
        FAKETIME
        if FAKETIME.exists()
        else next(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"), None)
    )
    servers.skip_or_fail(
        None if library else "libfaketime is missing (apt-get install libfaketime)"
    )
    offset_file.write_text("+0\n")
    return {
        "LD_PRELOAD": str(library),
        "FAKETIME_TIMESTAMP_FILE": str(offset_file),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def test_a_follow_up_arrives_on_time_once_and_not_again_after_a_restart(
    cli: Tracker, notifications: NotificationServer, daemons: Callable[..., DaemonProcess]
) -> None:
    amex_case(cli)
    daemon = daemons()
    # Written by another command while the daemon runs: noticed within --poll seconds.
    due = utcnow() + timedelta(seconds=2)
    cli.ok("case", "follow-up", "1", due.isoformat(), "call back about the credit")
    shown = notifications.wait_for(1, timeout=ARRIVAL)
    arrived = utcnow()
    assert [(n.appname, n.summary, n.body.rstrip(".")) for n in shown] == [
        ("tracker", "American Express: follow-up due", BODY)
    ]
    assert arrived >= due, daemon.stderr  # never early
    second = tracker_run("daemon", "run", "--poll", POLL)
    assert (second.returncode, second.stderr) == (
        1,
        f"Error: already running (pid {daemon.proc.pid})\n",
    )
    time.sleep(SETTLE)
    assert len(notifications.notifications()) == 1
    daemon.stop()
    restarted = daemons()
    restarted.wait_for_log("next reminder")
    time.sleep(SETTLE)
    assert len(notifications.notifications()) == 1, restarted.stderr
    restarted.stop()
    events = cli.json("case", "show", "1")["events"]
    assert [e["summary"] for e in events if e["type"] == "reminder_fired"] == [
        "Reminder shown: follow-up due now: call back about the credit"
    ]


def test_reminders_missed_while_stopped_arrive_once_together_at_start(
    cli: Tracker, notifications: NotificationServer, daemons: Callable[..., DaemonProcess]
) -> None:
    amex_case(cli)
    cli.ok("case", "follow-up", "1", "2 hours ago", "first")
    cli.ok("case", "follow-up", "1", "1 hour ago", "second")
    cli.ok("case", "promise", "1", "Provisional credit", "--due", "3 days ago")
    daemon = daemons()
    shown = notifications.wait_for(1, timeout=ARRIVAL)
    assert [(n.summary, n.body) for n in shown] == [
        (
            "American Express: 3 reminders",
            "Provisional credit is overdue (due 3 days ago); follow-up due 2 hours ago: first; "
            "follow-up due 1 hour ago: second (case 1: Disputed charge at ACME). Next step: ask "
            "for a supervisor, call +1 800-528-2122.",
        )
    ]
    time.sleep(SETTLE)
    assert len(notifications.notifications()) == 1
    daemon.stop()


def test_remind_check_racing_the_daemon_shows_nothing_twice(
    cli: Tracker, notifications: NotificationServer, daemons: Callable[..., DaemonProcess]
) -> None:
    cases = [amex_case(cli, f"Case number {n}") for n in range(1, 5)]
    daemon = daemons()
    due = utcnow() + timedelta(seconds=2.5)
    for case_id in cases:
        cli.ok("case", "follow-up", str(case_id), due.isoformat(), f"race {case_id}")
    failures: list[str] = []

    def checker() -> None:
        # `remind check` over and over across the due time, beside the daemon.
        end = due + timedelta(seconds=1.5)
        while utcnow() < end:
            result = tracker_run("remind", "check")
            if result.returncode != 0:
                failures.append(result.stderr)

    threads = [threading.Thread(target=checker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert failures == []
    notifications.wait_for(len(cases), timeout=ARRIVAL)
    time.sleep(1.5)
    bodies = [n.body for n in notifications.notifications()]
    assert sorted(bodies) == sorted(
        f"Follow-up due now: race {c} (case {c}: Case number {c}). Next step: contact customer "
        "service, call +1 800-528-2122."
        for c in cases
    ), bodies
    store = Store(database_url())
    try:
        with store.read() as session:
            keys = session.scalars(select(Reminder.key).where(Reminder.shown_at.is_not(None)))
            assert sorted(keys) == sorted(f"follow_up:{c}" for c in cases)
    finally:
        store.dispose()
    daemon.stop()


def test_a_failing_notifier_keeps_the_daemon_alive_and_the_reminder_shows_later(
    cli: Tracker, notifications: NotificationServer, daemons: Callable[..., DaemonProcess]
) -> None:
    amex_case(cli)
    cli.ok("case", "follow-up", "1", "1 minute ago", "call back about the credit")
    failing = daemons("--notifier", "command:false", "--retry", "0.5")
    # The first failure is logged with the retry time, every retry too.
    # Retried after 0.5 s, then 1 s: three failures within about 2 s, and still running.
    assert wait_until(lambda: failing.stderr.count("could not show") >= 3, ARRIVAL), failing.stderr
    assert failing.proc.poll() is None
    assert "could not show the reminder for case 1 ('false' exited with code 1)" in (failing.stderr)
    assert notifications.notifications() == []
    failing.stop()
    working = daemons()
    shown = notifications.wait_for(1, timeout=ARRIVAL)
    assert [n.summary for n in shown] == ["American Express: follow-up due"], working.stderr
    assert shown[0].body.startswith("Follow-up due 1 minute ago: call back about the credit")
    time.sleep(SETTLE)
    assert len(notifications.notifications()) == 1
    working.stop()


def test_two_daemons_on_one_postgresql_store_show_each_reminder_once(
    cli: Tracker,
    notifications: NotificationServer,
    daemons: Callable[..., DaemonProcess],
    postgres_db: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKER_DB", postgres_db)
    amex_case(cli)
    # One daemon per machine (and user data folder): the second "machine" has its own.
    first = daemons()
    refused = tracker_run("daemon", "run")
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith("Error: already running on this machine"), refused.stderr
    assert f"(pid {first.proc.pid})" in refused.stderr
    other_home = Path(os.environ["TRACKER_HOME"]).with_name("other-machine")
    second = daemons(env={"TRACKER_HOME": str(other_home)})
    due = utcnow() + timedelta(seconds=2)
    cli.ok("case", "follow-up", "1", due.isoformat(), "call back about the credit")
    notifications.wait_for(1, timeout=ARRIVAL)
    time.sleep(SETTLE)
    shown = notifications.notifications()
    assert [n.body.rstrip(".") for n in shown] == [BODY], (first.stderr, second.stderr)
    first.stop()
    second.stop()


# --------------------------------------------------------------------------- no session


def due_follow_ups(cli: Tracker, count: int) -> None:
    amex_case(cli)
    for n in range(count):
        cli.ok("case", "follow-up", "1", f"{n + 1} minutes ago", f"call back {n}")


def test_with_no_session_bus_or_no_server_nothing_is_consumed_then_each_arrives_once(
    cli: Tracker, notifications: NotificationServer, tmp_path: Path
) -> None:
    amex_case(cli)
    cli.ok("case", "open", "Refund", "--org", "Chase")
    cli.ok("case", "follow-up", "1", "1 minute ago", "call back about the credit")
    cli.ok("case", "follow-up", "2", "2 minutes ago", "chase the refund")
    # cron: no DBUS_SESSION_BUS_ADDRESS, no XDG_RUNTIME_DIR.
    none = tracker_run("remind", "check", "-v", env=without_session())
    assert (none.returncode, none.stdout, none.stderr) == (
        1,
        "",
        "Error: cannot show desktop notifications: no session bus (DBUS_SESSION_BUS_ADDRESS "
        "is not set); 2 reminders kept for later\n",
    )
    assert claims() == []  # nothing claimed, nothing consumed
    # A session bus with no notification server on it.
    with servers.session_bus(tmp_path / "bare-bus") as address:
        bare = tracker_run("remind", "check", env=without_session(DBUS_SESSION_BUS_ADDRESS=address))
    assert (bare.returncode, bare.stderr) == (
        1,
        "Error: cannot show desktop notifications: no notification server on the session bus "
        "(nothing owns org.freedesktop.Notifications); 2 reminders kept for later\n",
    )
    assert claims() == []
    assert notifications.notifications() == []
    # The server is up: each arrives once, with the server's id recorded.
    first = tracker_run("remind", "check")
    assert (first.returncode, first.stderr) == (0, "")
    shown = notifications.wait_for(2)
    assert sorted(n.summary for n in shown) == [
        "American Express: follow-up due",
        "Chase: follow-up due",
    ]
    assert sorted(c[2] for c in claims()) == sorted(str(n.id) for n in shown)
    assert all(c[1] for c in claims())
    again = tracker_run("remind", "check", "-v")
    assert (again.returncode, again.stderr) == (0, "Nothing due.\n")
    time.sleep(SETTLE)
    assert len(notifications.notifications()) == 2


def test_a_daemon_without_a_session_says_why_once_and_keeps_the_reminders(
    cli: Tracker, notifications: NotificationServer, daemons: Callable[..., DaemonProcess]
) -> None:
    due_follow_ups(cli, 1)
    # (DaemonProcess adds to this process's environment: empty values stand for none.)
    no_session = {"DBUS_SESSION_BUS_ADDRESS": "", "XDG_RUNTIME_DIR": "", "DISPLAY": ""}
    headless = daemons("--retry", "0.2", env=no_session)
    reason = (
        "WARNING cannot show desktop notifications: no session bus "
        "(DBUS_SESSION_BUS_ADDRESS is not set); 1 reminder kept for later"
    )
    headless.wait_for_log(reason)
    time.sleep(1.5)  # several retries (0.2 s, doubling): the reason is not repeated
    assert headless.stderr.count("cannot show desktop notifications") == 1, headless.stderr
    assert headless.proc.poll() is None
    headless.stop()
    assert claims() == []
    working = daemons()
    shown = notifications.wait_for(1)
    assert [n.summary for n in shown] == ["American Express: follow-up due"], working.stderr
    time.sleep(SETTLE)
    assert len(notifications.notifications()) == 1
    working.stop()


# --------------------------------------------------------------------------- a backlog


def test_a_first_start_with_50_overdue_items_shows_one_digest(
    cli: Tracker, notifications: NotificationServer, daemons: Callable[..., DaemonProcess]
) -> None:
    for n in range(25):
        org = "American Express" if n < 15 else "Chase"
        case = str(cli.json("case", "open", f"Case {n}", "--org", org)["id"])
        cli.ok("case", "follow-up", case, "2 days ago", f"call back {n}")
        cli.ok("case", "promise", case, f"Refund {n}", "--due", "10 days ago")
    daemon = daemons()
    shown = notifications.wait_for(1)
    time.sleep(SETTLE)
    assert len(notifications.notifications()) == 1, daemon.stderr
    (digest,) = notifications.notifications()
    assert digest.summary == "50 reminders on 25 cases"
    assert digest.body.startswith(
        "15 follow-ups due at American Express; 15 promises overdue at American Express; "
        "10 follow-ups due at Chase; and 10 more. Run `tracker due` for the list."
    ), digest.body
    # Every reminder recorded shown exactly once, with the digest's id; one event each.
    rows = claims()
    assert len(rows) == 75  # 25 follow-ups, 25 promises due and 25 overdue
    assert {(shown_, notification, attempts) for _, shown_, notification, attempts in rows} == {
        (True, str(digest.id), 1)
    }
    store = Store(database_url())
    try:
        with store.read() as session:
            events = session.scalar(
                select(func.count()).select_from(Event).where(Event.type == "reminder_fired")
            )
    finally:
        store.dispose()
    assert events == 75
    daemon.stop()
    assert shown  # (waited for above)


# --------------------------------------------------------------------------- time that moves


def test_the_wall_clock_jumping_back_loses_nothing_and_forward_shows_once(
    cli: Tracker,
    notifications: NotificationServer,
    daemons: Callable[..., DaemonProcess],
    tmp_path: Path,
) -> None:
    amex_case(cli)
    offset = tmp_path / "faketime"
    daemon = daemons(env=faketime_env(offset))
    daemon.wait_for_log("next reminder")  # the case's first threshold, days ahead
    offset.write_text("-1d\n")  # the daemon's wall clock goes back a day
    daemon.wait_for_log("the wall clock jumped back by 1 day")
    # Follow-ups written after the jump, due by either clock.
    for n in range(3):
        cli.ok("case", "follow-up", "1", f"{25 + n} hours ago", f"after the jump {n}")
    shown = notifications.wait_for(1, timeout=ARRIVAL)
    assert shown, daemon.stderr
    time.sleep(SETTLE)
    assert [n.summary for n in notifications.notifications()] == [
        "American Express: 3 reminders"
    ], daemon.stderr
    notifications.clear()
    # Forward: two follow-ups due in the next days come once, when the clock gets there.
    cli.ok("case", "follow-up", "1", "in 1 day", "tomorrow's")
    cli.ok("case", "follow-up", "1", "in 2 days", "the day after's")
    time.sleep(SETTLE)
    assert notifications.notifications() == []
    offset.write_text("+3d\n")
    daemon.wait_for_log("the wall clock jumped forward by 4 days")
    shown = notifications.wait_for(1, timeout=ARRIVAL)
    time.sleep(SETTLE)
    found = notifications.notifications()
    assert len(found) == 1 and found[0].summary == "American Express: 2 reminders", daemon.stderr
    daemon.stop()


# --------------------------------------------------------------------------- (repeat)

KILLS_ITS_DAEMON = """#!/bin/sh
# Shows the reminder (logs it), then kills the daemon that ran it before it can record it.
printf '%s\\n' "$1" >> "$0.log"
kill -9 $PPID
echo 41
"""


def test_a_reminder_shown_just_before_a_crash_comes_again_marked_repeat(
    cli: Tracker,
    notifications: NotificationServer,
    daemons: Callable[..., DaemonProcess],
    tmp_path: Path,
) -> None:
    amex_case(cli)
    cli.ok("case", "follow-up", "1", "1 minute ago", "call back about the credit")
    script = tmp_path / "kills-its-daemon"
    script.write_text(KILLS_ITS_DAEMON)
    script.chmod(0o755)
    crashing = DaemonProcess(["--poll", POLL, "--notifier", f"command:{script}"])
    assert crashing.proc.wait(10) == -9
    assert (tmp_path / "kills-its-daemon.log").read_text() == "American Express: follow-up due\n"
    assert claims() == [("follow_up:1", False, None, 1)]  # shown, not recorded
    # Restarted after the claim's lease (2 minutes) ran out: the libfaketime clock says so.
    offset = tmp_path / "faketime"
    restarted = daemons(env=faketime_env(offset))
    offset.write_text("+3m\n")
    shown = notifications.wait_for(1, timeout=ARRIVAL)
    assert [n.summary for n in shown] == ["American Express: follow-up due (repeat)"], (
        restarted.stderr
    )
    time.sleep(SETTLE)
    assert len(notifications.notifications()) == 1
    assert claims() == [("follow_up:1", True, str(shown[0].id), 2)]
    events = cli.json("case", "show", "1")["events"]
    assert [e["summary"] for e in events if e["type"] == "reminder_fired"] == [
        "Reminder shown: follow-up due 4 minutes ago: call back about the credit (repeat)"
    ]
    restarted.stop()
    assert shutil.which("sh")
