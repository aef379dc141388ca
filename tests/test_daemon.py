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
from typing import Any

import pytest
import time_machine
from conftest import Tracker
from helpers import NOW, Recorder

from tracker.config import database_url
from tracker.daemon import Daemon
from tracker.db import Store
from tracker.errors import UsageError
from tracker.models import utcnow
from tracker.policy import load_policies
from tracker.service import (
    DaemonLock,
    daemon_lock,
    lock_path,
    running_pid,
    tracker_command,
    unit_text,
)

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


class Mono:
    """An injected monotonic clock: seconds, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Clocks:
    """Wall and monotonic clocks that move together, unless a jump moves the wall alone."""

    def __init__(self, now: datetime) -> None:
        self.wall = Clock(now)
        self.mono = Mono()

    def advance(self, delta: timedelta) -> None:
        self.wall.now += delta
        self.mono.now += delta.total_seconds()

    def jump(self, delta: timedelta) -> None:
        self.wall.now += delta
        self.mono.now += 1.0  # a second passed, as the monotonic clock tells


def make_daemon(store: Store, recorder: Recorder, clocks: Clocks, **kwargs: Any) -> Daemon:
    return Daemon(
        store,
        recorder,
        policies=load_policies(),
        clock=clocks.wall,
        monotonic=clocks.mono,
        **kwargs,
    )


def test_the_schedule_follows_the_store_and_fires_what_is_due(cli: Tracker, store: Store) -> None:
    at(NOW, cli, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, cli, "case", "follow-up", "1", "2026-11-26 15:00", "ring them")
    clocks = Clocks(NOW)
    recorder = Recorder()
    daemon = make_daemon(store, recorder, clocks)
    daemon.start()
    assert daemon.next_at == NOW + timedelta(hours=1)
    # Nothing changed: the poll reads the last change ids only.
    daemon.poll()
    assert daemon.next_at == NOW + timedelta(hours=1)
    at(NOW, cli, "case", "follow-up", "1", "2026-11-26 14:30", "sooner")
    daemon.poll()
    assert daemon.next_at == NOW + timedelta(minutes=30)
    clocks.advance(timedelta(minutes=30))
    daemon.step()
    assert [title for title, _ in recorder.shown] == ["Amex: follow-up due"]
    assert daemon.next_at == NOW + timedelta(hours=1)
    at(NOW, cli, "case", "resolve", "1")
    daemon.poll()
    assert daemon.next_at is None


def test_each_wait_is_on_the_monotonic_clock_and_at_most_the_poll(
    cli: Tracker, store: Store
) -> None:
    at(NOW, cli, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, cli, "case", "follow-up", "1", "2026-11-26 14:00:10", "ring them")
    clocks = Clocks(NOW)
    daemon = make_daemon(store, Recorder(), clocks, poll=30.0)
    daemon.start()
    assert daemon.step() == 10.0  # the follow-up is sooner than the next poll
    at(NOW, cli, "case", "follow-up", "1", "2026-11-26 18:00", "later")
    clocks.advance(timedelta(seconds=10))
    assert daemon.step() == 20.0  # nothing sooner than the next poll, 30 s after the last
    clocks.advance(timedelta(seconds=20))
    assert daemon.step() == 30.0


def test_a_backward_clock_jump_loses_nothing(cli: Tracker, store: Store) -> None:
    at(NOW, cli, "case", "open", "Lost card", "--org", "Amex")
    clocks = Clocks(NOW)
    recorder = Recorder()
    daemon = make_daemon(store, recorder, clocks, poll=30.0)
    daemon.start()
    clocks.jump(-timedelta(days=1))  # the wall clock goes back a day
    daemon.step()
    back = clocks.wall.now
    # Follow-ups written after the jump, already due by the clock as it is now.
    for n in range(3):
        at(back, cli, "case", "follow-up", "1", (back - timedelta(minutes=n)).isoformat(), f"f{n}")
        clocks.advance(timedelta(seconds=30))
        wait = daemon.step()
        assert 0 < wait <= 30
    assert [body.split(" (case")[0].split(": ")[1] for _, body in recorder.shown] == [
        "f0",
        "f1",
        "f2",
    ]


def test_a_retry_time_stamped_before_a_backward_jump_does_not_wait_for_the_jump(
    cli: Tracker, store: Store
) -> None:
    earlier = NOW - timedelta(days=3)  # the follow-up was set for a time now past
    at(earlier, cli, "case", "open", "Lost card", "--org", "Amex")
    at(earlier, cli, "case", "follow-up", "1", "2026-11-24 09:00", "ring them")
    clocks = Clocks(NOW)

    recorder = Recorder()
    recorder.error = "'notify-send' exited with code 1"
    daemon = make_daemon(store, recorder, clocks)
    daemon.start()  # fails: released, retried 30 s later
    assert recorder.shown == []
    recorder.error = None
    clocks.jump(-timedelta(days=1))
    daemon.step()  # the retry time is a day ahead now: taken as a clock that went back
    assert len(recorder.shown) == 1


def test_a_forward_jump_shows_what_fell_due_once(cli: Tracker, store: Store) -> None:
    for n in (1, 2, 3):
        at(NOW, cli, "case", "open", f"Case {n}", "--org", "Amex")
        at(NOW, cli, "case", "follow-up", str(n), f"2026-11-2{6 + n} 09:00", f"ring {n}")
    clocks = Clocks(NOW)
    recorder = Recorder()
    daemon = make_daemon(store, recorder, clocks)
    daemon.start()
    assert recorder.shown == []
    clocks.jump(timedelta(days=3, hours=1))  # 2026-11-29 15:00: all three are due
    daemon.step()
    assert sorted(body.split(":")[1] for _, body in recorder.shown) == [
        " ring 1 (case 1",
        " ring 2 (case 2",
        " ring 3 (case 3",
    ]
    for _ in range(3):
        clocks.advance(timedelta(seconds=30))
        daemon.step()
    assert len(recorder.shown) == 3


def test_a_first_start_on_a_backlog_shows_one_digest(cli: Tracker, store: Store) -> None:
    for n in range(1, 9):
        at(NOW, cli, "case", "open", f"Case {n}", "--org", "Amex" if n % 2 else "Chase")
        at(NOW, cli, "case", "follow-up", str(n), "2026-11-26 15:00", f"ring {n}")
    clocks = Clocks(NOW + timedelta(days=2))
    recorder = Recorder()
    daemon = make_daemon(store, recorder, clocks)
    daemon.start()
    assert recorder.shown == [
        (
            "8 reminders on 8 cases",
            "4 follow-ups due at Amex; 4 follow-ups due at Chase. Run `tracker due` for the list.",
        )
    ]
    clocks.advance(timedelta(minutes=1))
    daemon.step()
    assert len(recorder.shown) == 1


def test_a_reminder_falling_due_during_a_pass_is_shown_at_once(cli: Tracker, store: Store) -> None:
    at(NOW, cli, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, cli, "case", "follow-up", "1", "2026-11-26 14:30", "first")
    at(NOW, cli, "case", "open", "Refund", "--org", "Amex")
    at(NOW, cli, "case", "follow-up", "2", "2026-11-26 14:31", "second")
    clocks = Clocks(NOW + timedelta(minutes=30))

    class Slow(Recorder):  # showing takes two minutes: the second falls due meanwhile
        def notify(self, title: str, body: str) -> None:
            super().notify(title, body)
            clocks.advance(timedelta(minutes=2))

    recorder = Slow()
    daemon = make_daemon(store, recorder, clocks)
    daemon.start()
    assert len(recorder.shown) == 1
    assert daemon.step() == 0.0 or len(recorder.shown) == 2
    daemon.step()
    assert len(recorder.shown) == 2


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
        "Error: unknown notifier 'growl'; choose desktop, console, command:CMD or apprise:URL"
    )
    assert cli.fails(2, "daemon", "run", "--policy", str(tmp_path / "none.toml")) == (
        f"Error: policy file {tmp_path / 'none.toml'} does not exist"
    )
    assert "Invalid value for '--poll'" in cli.fails(2, "daemon", "run", "--poll", "0")
    # Digits of other scripts (a card number typed in full width) and numbers no one means
    # as seconds are refused, not taken as a setting.
    for value in ("\uff14\uff11\uff11\uff11", "4111111111111111", "٣٠", "1e3", "3601"):
        for option in ("--poll", "--retry"):
            message = cli.fails(2, "daemon", "run", option, value)
            assert f"Invalid value for '{option}'" in message, (option, value, message)


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


def test_status_says_whether_a_daemon_runs_here_on_both_backends(
    tracker: Tracker, backend: str
) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    text = tracker.ok("daemon", "status")
    data = tracker.json("daemon", "status")
    if backend == "sqlite":
        assert text.startswith("Daemon: not running")
        assert data == {"running": False, "pid": None, "upcoming": []}
    else:
        assert text == (
            "Daemon: not running on this machine (daemons on other machines may share the "
            "store).\n"
            "No reminders pending.\n"
        )
        assert data == {"running": False, "pid": None, "upcoming": []}
    store = Store(database_url())
    lock = daemon_lock(store)
    assert lock is not None
    try:
        with lock:
            here = "on this machine " if backend == "postgresql" else ""
            assert tracker.ok("daemon", "status").startswith(
                f"Daemon: running {here}(pid {os.getpid()}).\n"
            )
            line = tracker.fails(1, "daemon", "run", "--notifier", "console")
            assert line.startswith("Error: already running") and f"(pid {os.getpid()})" in line
        assert tracker.json("daemon", "status")["running"] is False
    finally:
        store.dispose()


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


@pytest.mark.backends("sqlite")
def test_a_daemon_on_a_new_machine_makes_its_store_and_waits(
    daemons: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    # `daemon install` before the first case: the store and its folder do not exist yet.
    db = tmp_path / "not" / "made" / "yet" / "tracker.db"
    daemon = daemons("--notifier", "console", env={"TRACKER_DB": f"sqlite:///{db}"})
    daemon.wait_for_log("tracker daemon started")
    assert f"Created a new store at {db}" in daemon.stderr
    assert daemon.proc.poll() is None and db.is_file()
    daemon.stop()


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
    assert re.search(r"tracker daemon stopped \(\d+ write transactions, the longest ", log[-1])
    assert running_pid(database_url()) is None


# --------------------------------------------------------------------------- one per store


def test_the_lock_is_on_the_stores_real_path_so_a_symlink_is_the_same_store(
    cli: Tracker, store: Store, tmp_path: Path
) -> None:
    real = lock_path(store.url)
    assert real is not None
    alias_dir = tmp_path / "elsewhere"
    alias_dir.mkdir()
    db = real.with_name("tracker.db")
    (alias_dir / "alias.db").symlink_to(db)
    alias_url = f"sqlite:///{alias_dir / 'alias.db'}"
    assert lock_path(alias_url) == real
    with DaemonLock(real):
        line = cli.fails(1, "--db", alias_url, "daemon", "run", "--notifier", "console")
        assert line == f"Error: already running (pid {os.getpid()})"
        assert running_pid(alias_url) == os.getpid()


# --------------------------------------------------------------------------- the unit


# (NUL cannot reach a command line: argv is C strings. unit_text refuses it below.)
@pytest.mark.parametrize("bad", ["\n", "\r", "\x01", "\x1b", "\u2028"])
def test_the_unit_writer_refuses_control_characters_in_every_value(
    cli: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    unit = tmp_path / "config" / "systemd" / "user" / "tracker-daemon.service"
    line = cli.fails(
        2,
        "daemon",
        "install",
        "--notifier",
        f"command:notify-send{bad}ExecStartPre=/bin/touch /tmp/x",
    )
    assert line.startswith("Error: an argument of the command holds a control character")
    monkeypatch.setenv("TRACKER_HOME", f"/home/me{bad}ExecStartPre=/bin/true")
    line = cli.fails(2, "daemon", "install")
    assert line.startswith("Error: TRACKER_HOME holds a control character"), line
    assert not unit.exists()
    for value in (bad, "\x00"):
        with pytest.raises(UsageError):
            unit_text(["tracker", "daemon", "run"], {"TRACKER_DB": f"sqlite:///x{value}.db"})


def test_install_passes_tracker_digest_on_and_refuses_a_bad_one(
    cli: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("TRACKER_DIGEST", "12")
    cli.ok("daemon", "install")
    text = (tmp_path / "systemd" / "user" / "tracker-daemon.service").read_text()
    assert "Environment=TRACKER_DIGEST=12\n" in text
    monkeypatch.setenv("TRACKER_DIGEST", "many")
    assert cli.fails(2, "daemon", "install") == (
        "Error: TRACKER_DIGEST must be a whole number of notifications, not 'many'"
    )
