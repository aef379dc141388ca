"""End to end: the real `.venv/bin/tracker daemon run` under a real notification server
(Xvfb + a private D-Bus session bus + dunst logging every notification), with plyer over
dbus-python, as a user would run it.

Skipped when the desktop tools are missing, except with TRACKER_REQUIRE_SERVERS=1 (CI).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from conftest import Tracker
from servers import NotificationServer
from sqlalchemy import select
from test_daemon import TRACKER, DaemonProcess, wait_until

from tracker.config import database_url
from tracker.db import Store
from tracker.models import Case, ContactPoint, Reminder, utcnow

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

    def start(*args: str) -> DaemonProcess:
        daemon = DaemonProcess(["--poll", POLL, *args])
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


def tracker_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRACKER), *args], capture_output=True, text=True, timeout=300, check=False
    )


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
    first, second = daemons(), daemons()  # no lock on PostgreSQL: claims decide
    due = utcnow() + timedelta(seconds=2)
    cli.ok("case", "follow-up", "1", due.isoformat(), "call back about the credit")
    notifications.wait_for(1, timeout=ARRIVAL)
    time.sleep(SETTLE)
    shown = notifications.notifications()
    assert [n.body.rstrip(".") for n in shown] == [BODY], (first.stderr, second.stderr)
    first.stop()
    second.stop()
