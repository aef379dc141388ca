"""The daemon without a desktop: its schedule with an injected clock, the one-per-store lock,
`daemon status` and `daemon install`, and the real process stopping cleanly on a signal.

The desktop end to end tests are in test_daemon_e2e.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from conftest import Tracker
from helpers import NOW, Recorder

from tracker.config import database_url
from tracker.daemon import Daemon
from tracker.db import Store
from tracker.models import utcnow
from tracker.policy import load_policies
from tracker.service import DaemonLock, lock_path, running_pid, tracker_command, unit_text

ROOT = Path(__file__).resolve().parent.parent
# The installed command, as a user runs it: the checkout's venv, else this Python's.
TRACKER = ROOT / ".venv" / "bin" / "tracker"
if not TRACKER.exists():
    TRACKER = Path(sys.executable).parent / "tracker"
# The shared `store` fixture on SQLite only: the one-per-store lock is SQLite's.
pytestmark = pytest.mark.backends("sqlite")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def cli(home_store: str) -> Tracker:
    """The CLI on the default store: SQLite in TRACKER_HOME (the lock is SQLite's)."""
    return Tracker()


def at(when: datetime, cli: Tracker, *args: str) -> str:
    with time_machine.travel(when, tick=False):
        return cli.ok(*args)


# --------------------------------------------------------------------------- the schedule


def test_the_schedule_follows_the_store_and_fires_what_is_due(cli: Tracker, store: Store) -> None:
    at(NOW, cli, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, cli, "case", "follow-up", "1", "2026-11-26 15:00", "ring them")
    clock = Clock(NOW)
    recorder = Recorder()
    daemon = Daemon(store, recorder, policies=load_policies(), clock=clock)
    assert daemon.reschedule() == NOW + timedelta(hours=1)
    # Nothing changed: the poll only reads the change counter.
    daemon.poll()
    assert daemon.next_at == NOW + timedelta(hours=1)
    at(NOW, cli, "case", "follow-up", "1", "2026-11-26 14:30", "sooner")
    daemon.poll()
    assert daemon.next_at == NOW + timedelta(minutes=30)
    clock.now = NOW + timedelta(minutes=30)
    daemon.fire()
    assert [title for title, _ in recorder.shown] == ["Amex: follow-up due"]
    assert daemon.next_at == NOW + timedelta(hours=1)
    at(NOW, cli, "case", "resolve", "1")
    daemon.poll()
    assert daemon.next_at is None


def test_a_running_daemon_notices_a_new_follow_up_and_stops_on_request(
    cli: Tracker, store: Store
) -> None:
    cli.ok("case", "open", "Lost card", "--org", "Amex")
    recorder = Recorder()
    daemon = Daemon(store, recorder, policies=load_policies(), poll=0.2)
    polls = counted(daemon, "poll")
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        due = utcnow() + timedelta(seconds=1)
        cli.ok("case", "follow-up", "1", due.isoformat(), "ring them")
        assert wait_until(lambda: bool(recorder.shown), 60), "no reminder within 60 s"
        # Never early; how late depends on how busy this machine is.
        assert utcnow() >= due
        # Three polls later (each one would see the reminder again), still shown once.
        seen = len(polls)
        assert wait_until(lambda: len(polls) >= seen + 3, 60), "the daemon stopped polling"
        assert len(recorder.shown) == 1
    finally:
        daemon.stop()
        thread.join(60)
    assert not thread.is_alive()


def counted(daemon: Daemon, method: str) -> list[float]:
    """Record when each call of the daemon's `method` (its jobs call them) began."""
    calls: list[float] = []
    real = getattr(daemon, method)

    def call() -> None:
        calls.append(time.monotonic())
        real()

    setattr(daemon, method, call)
    return calls


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --------------------------------------------------------------------------- the lock


def test_a_second_daemon_on_the_same_store_is_refused(cli: Tracker, store: Store) -> None:
    path = lock_path(store.url)
    assert path is not None and path.name == "tracker.db.daemon.lock"
    assert running_pid(store.url) is None
    with DaemonLock(path):
        assert running_pid(store.url) == os.getpid()
        line = cli.fails(1, "daemon", "run", "--notifier", "console")
        assert line == f"Error: already running (pid {os.getpid()})"
        assert cli.ok("daemon", "status").startswith(f"Daemon: running (pid {os.getpid()}).\n")
    assert running_pid(store.url) is None
    assert cli.ok("daemon", "status").startswith("Daemon: not running")


def test_a_stale_lock_file_of_a_dead_daemon_does_not_count(cli: Tracker, store: Store) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    path = lock_path(store.url)
    assert path is not None
    path.write_text(f"{proc.pid}\n")
    assert running_pid(store.url) is None
    path.write_text(f"{os.getpid()}\n")  # alive, but not holding the lock
    assert running_pid(store.url) is None


def test_bad_options_of_daemon_run_are_usage_errors(cli: Tracker, tmp_path: Path) -> None:
    assert cli.fails(2, "daemon", "run", "--notifier", "growl") == (
        "Error: unknown notifier 'growl'; choose plyer, console or command:CMD"
    )
    assert cli.fails(2, "daemon", "run", "--policy", str(tmp_path / "none.toml")) == (
        f"Error: policy file {tmp_path / 'none.toml'} does not exist"
    )
    assert "Invalid value for '--poll'" in cli.fails(2, "daemon", "run", "--poll", "0")


# --------------------------------------------------------------------------- status


def test_status_lists_the_next_reminders(cli: Tracker) -> None:
    at(NOW, cli, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, cli, "case", "follow-up", "1", "2026-11-26 15:00", "ring them")
    at(NOW, cli, "case", "promise", "1", "New card", "--due", "2026-11-27 09:00")
    with time_machine.travel(NOW, tick=False):
        out = cli.ok("daemon", "status", "--limit", "3")
        data = cli.json("daemon", "status", "--limit", "3")
    assert out == (
        "Daemon: not running (start it with `tracker daemon run`).\n"
        "Next reminders:\n"
        "  2026-11-26 15:00  in 1 hour    1 Lost card  follow up: ring them\n"
        "  2026-11-27 09:00  in 19 hours  1 Lost card  promise due: New card\n"
        "  2026-11-28 09:00  in 1 day     1 Lost card  promise overdue: New card\n"
    )
    assert data["running"] is False and data["pid"] is None
    assert [(u["key"], u["remind_at"], u["due_at"]) for u in data["upcoming"]] == [
        ("follow_up:1", "2026-11-26T15:00:00+00:00", "2026-11-26T15:00:00+00:00"),
        ("promise:1:due", "2026-11-27T09:00:00+00:00", "2026-11-27T09:00:00+00:00"),
        # Shown a day (the grace) after the promise's due time, as `due --json`'s due_at.
        ("promise:1:overdue", "2026-11-28T09:00:00+00:00", "2026-11-27T09:00:00+00:00"),
    ]


def test_status_shows_a_failing_reminder_with_its_error(cli: Tracker) -> None:
    at(NOW, cli, "case", "open", "Lost card")
    at(NOW, cli, "case", "follow-up", "1", "2026-11-26 15:00", "ring them")
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        cli.fails(1, "remind", "check", "--notifier", "command:false")
        out = cli.ok("daemon", "status", "--limit", "1")
    # Retried 30 s after the failure.
    assert out.splitlines()[-1] == (
        "  2026-11-26 15:00  in 1 minute  1 Lost card  follow up: ring them "
        "[failed 1x: 'false' exited with code 1]"
    )


def test_status_cannot_tell_on_postgresql(tracker: Tracker, backend: str) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    text = tracker.ok("daemon", "status")
    data = tracker.json("daemon", "status")
    if backend == "sqlite":
        assert text.startswith("Daemon: not running")
        assert data == {"running": False, "pid": None, "upcoming": []}
    else:
        assert text == (
            "Daemon: cannot tell on PostgreSQL (several daemons may share the store).\n"
            "No reminders pending.\n"
        )
        assert data == {"running": None, "pid": None, "upcoming": []}


# --------------------------------------------------------------------------- install


def test_install_writes_a_user_unit_for_this_tracker_and_store(
    cli: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracker_home: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    out = cli.ok("daemon", "install")
    unit = tmp_path / "config" / "systemd" / "user" / "tracker-daemon.service"
    assert out == (
        f"Wrote {unit}\n"
        "Enable and start it with:\n"
        "  systemctl --user daemon-reload && systemctl --user enable --now tracker-daemon\n"
    )
    text = unit.read_text()
    assert f"ExecStart={sys.executable} -m tracker daemon run\n" in text
    assert f"Environment=TRACKER_HOME={tracker_home}\n" in text
    assert "TRACKER_DB" not in text
    assert "WantedBy=default.target" in text
    assert unit.stat().st_mode & 0o777 == 0o600


def test_install_passes_the_options_and_the_database_url_on(
    cli: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    policy = tmp_path / "my policy.toml"
    cli.ok(
        "--db", f"sqlite:///{tmp_path}/t.db", "daemon", "install", "--notifier",
        "command:notify-send -u critical", "--poll", "10", "--policy", str(policy),
    )  # fmt: skip
    text = (tmp_path / "systemd" / "user" / "tracker-daemon.service").read_text()
    assert (
        f'ExecStart={sys.executable} -m tracker daemon run --notifier "command:notify-send -u '
        f'critical" --poll 10 --policy "{policy}"\n'
    ) in text
    assert f"Environment=TRACKER_DB=sqlite:///{tmp_path}/t.db\n" in text


def test_unit_text_escapes_what_systemd_would_expand() -> None:
    text = unit_text(["/opt/my tracker/tracker", "daemon", "run"], {"TRACKER_HOME": "/h/100%$x"})
    assert 'ExecStart="/opt/my tracker/tracker" daemon run\n' in text
    assert "Environment=TRACKER_HOME=/h/100%%$$x\n" in text


def test_the_unit_runs_the_tracker_script_that_is_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", [str(TRACKER), "daemon", "install"])
    assert tracker_command() == [str(TRACKER)]


# --------------------------------------------------------------------------- the process


class DaemonProcess:
    """`tracker daemon run ARGS` as a real process, stdout and stderr to files."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.home = Path(os.environ["TRACKER_HOME"])
        self.home.mkdir(parents=True, exist_ok=True)
        stamp = f"{time.monotonic_ns()}"
        self.out_path = self.home / f"daemon-{stamp}.out"
        self.err_path = self.home / f"daemon-{stamp}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(TRACKER), "daemon", "run", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**os.environ, **(env or {})},
            )

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_for_log(self, text: str, timeout: float = 120) -> None:
        found = wait_until(lambda: text in self.stderr or self.proc.poll() is not None, timeout)
        assert found and text in self.stderr, f"{text!r} not logged:\n{self.stderr}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> float:
        """Send `sig`; the seconds it took to exit (fails the test if it did not exit 0)."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            message = f"daemon did not stop within {timeout} s:\n{self.stderr}"
            raise AssertionError(message) from None
        assert code == 0, f"exit code {code}:\n{self.stderr}"
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    """Start daemons; any still running at the end of the test is killed."""
    started: list[DaemonProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> DaemonProcess:
        started.append(DaemonProcess(list(args), env))
        return started[-1]

    yield start
    for daemon in started:
        daemon.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_daemon_process_stops_cleanly_at_once_on_a_signal(
    cli: Tracker, daemons: Callable[..., DaemonProcess], sig: int
) -> None:
    cli.ok("case", "open", "Lost card", "--org", "Amex")
    cli.ok("case", "follow-up", "1", "now", "ring them")
    # It shows that at once and then has nothing to do until its next poll, 5 minutes
    # away (the next reminder is weeks away): it must stop when told, not when that sleep
    # ends. ("At once" is measured against that, not in milliseconds: a loaded machine is
    # slow to run anything.)
    daemon = daemons("--notifier", "console", "--poll", "300")

    def rescheduled() -> bool:  # after showing it
        return "next reminder" in daemon.stderr.partition("showed:")[2]

    assert wait_until(rescheduled, 120), daemon.stderr
    assert "ring them" in daemon.stdout, daemon.stderr
    daemon.stop(sig, timeout=120)  # where finishing that sleep first would take about 300 s
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  Amex: follow-up due — Follow-up due now: ring them "
        r"\(case 1: Lost card\)\. Next step: contact customer service\.\n",
        daemon.stdout,
    ), daemon.stdout
    log = daemon.stderr.splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING) ", line) for line in log)
    assert f"INFO stopping ({signal.Signals(sig).name})" in daemon.stderr
    assert log[-1].endswith("tracker daemon stopped")
    assert running_pid(database_url()) is None


def test_a_reminder_falling_due_during_a_pass_is_shown_by_the_same_fire_job(
    cli: Tracker, store: Store
) -> None:
    at(NOW, cli, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, cli, "case", "follow-up", "1", "2026-11-26 14:30", "first")
    at(NOW, cli, "case", "open", "Refund", "--org", "Amex")
    at(NOW, cli, "case", "follow-up", "2", "2026-11-26 14:31", "second")
    clock = Clock(NOW + timedelta(minutes=30))

    class Slow(Recorder):  # showing takes two minutes: the second falls due meanwhile
        def notify(self, title: str, body: str) -> None:
            super().notify(title, body)
            clock.now += timedelta(minutes=2)

    recorder = Slow()
    Daemon(store, recorder, policies=load_policies(), clock=clock).fire()
    assert len(recorder.shown) == 2
