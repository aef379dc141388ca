"""`tracker daemon run|status|install` and `tracker remind check`."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import click

from tracker.cli.common import (
    F,
    app,
    policy_option,
    store,
    view_option,
    write_command,
    write_report,
)
from tracker.config import expand_user
from tracker.errors import TrackerError
from tracker.models import utcnow
from tracker.notify import make_notifier
from tracker.policy import load_policies
from tracker.reminders import run_pass, upcoming
from tracker.service import (
    ENABLE_HINT,
    DaemonLock,
    install_unit,
    lock_path,
    running_pid,
    tracker_command,
)
from tracker.views import TextView, View

NOTIFIER_HELP = (
    "How to show reminders: plyer (desktop notification), console (print to stdout), or "
    "command:CMD (run CMD with the title and the body as two more arguments)."
)


def notifier_option(func: F) -> F:
    return click.option(
        "--notifier",
        "notifier_spec",
        default="plyer",
        show_default=True,
        metavar="plyer|console|command:CMD",
        help=NOTIFIER_HELP,
    )(func)


@click.group()
def daemon() -> None:
    """The reminder daemon: desktop notifications when follow-ups and promises fall due,
    when promises are overdue, and when an escalation threshold is crossed.

    The database is the source of truth: the daemon notices what commands write, and every
    reminder is shown once, however many daemons or `remind check` runs share the store.

    \b
    Examples:
      tracker daemon run
      tracker daemon run --notifier console --poll 10
      tracker daemon status
      tracker daemon install
    """


DEFAULT_SECONDS = 30.0


def seconds_option(name: str, help: str) -> Callable[[F], F]:
    """--poll and --retry: a number of seconds, at least 0.1, 30 by default."""
    return click.option(
        name,
        type=click.FloatRange(min=0.1),
        default=DEFAULT_SECONDS,
        show_default=True,
        metavar="SECONDS",
        help=help,
    )


@daemon.command("run")
@notifier_option
@seconds_option("--poll", "How often to look for changes made by other commands.")
@seconds_option(
    "--retry", "Wait before showing a failed notification again (doubles each time, up to 10 min)."
)
@policy_option
def run(notifier_spec: str, poll: float, retry: float, policy_file: Path | None) -> None:
    """Run the reminder daemon in the foreground until Ctrl-C or SIGTERM.

    It sleeps until the next reminder is due, notices changes within --poll seconds, and
    logs to stderr. One daemon runs per SQLite store.

    \b
    Examples:
      tracker daemon run
      tracker daemon run --notifier console
      tracker daemon run --notifier 'command:notify-send --urgency=critical'
      tracker daemon run --policy ~/my-policy.toml --poll 10
    """
    from tracker.daemon import Daemon, setup_logging  # APScheduler: for `run` only

    notifier = make_notifier(notifier_spec)
    policies = load_policies(policy_file)
    the_store = store()
    path = lock_path(the_store.url)
    lock = DaemonLock(path) if path is not None else None
    if lock is not None:
        lock.acquire()
    try:
        setup_logging()
        Daemon(
            the_store,
            notifier,
            policy_file=policy_file,
            policies=policies,
            poll=poll,
            first_retry=timedelta(seconds=retry),
        ).run()
    finally:
        if lock is not None:
            lock.release()


@daemon.command("status")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="How many upcoming reminders to list.",
)
@policy_option
@view_option
def status(limit: int, policy_file: Path | None, view: View) -> None:
    """Whether the daemon runs (and its pid), and the next reminders it will show.

    \b
    Examples:
      tracker daemon status
      tracker daemon status --json
    """
    policies = load_policies(policy_file)
    the_store = store()
    sqlite = the_store.backend == "sqlite"
    pid = running_pid(the_store.url) if sqlite else None
    now = utcnow()
    with the_store.read() as session:
        pending = upcoming(session, policies)[:limit]
    running = pid is not None if sqlite else None
    view.daemon_status(running, pid, sqlite, pending, now)


@daemon.command("install")
@notifier_option
@seconds_option("--poll", "Passed on to `tracker daemon run`.")
@policy_option
@write_command
def install(notifier_spec: str, poll: float, policy_file: Path | None) -> None:
    """Write a systemd user unit that runs the daemon, and say how to enable it.

    The unit runs this same tracker with the same store (TRACKER_DB / TRACKER_HOME, or
    --db). It goes to $XDG_CONFIG_HOME/systemd/user/tracker-daemon.service.

    \b
    Examples:
      tracker daemon install
      tracker --db postgresql://me@db/tracker daemon install --poll 10
    """
    make_notifier(notifier_spec)  # refuse a bad one now, not when systemd starts it
    argv = tracker_command()
    db_url = app().db_url
    env = {
        name: os.environ[name] for name in ("TRACKER_DB", "TRACKER_HOME") if os.environ.get(name)
    }
    if db_url:
        env["TRACKER_DB"] = db_url
    argv += ["daemon", "run"]
    if notifier_spec != "plyer":
        argv += ["--notifier", notifier_spec]
    if poll != DEFAULT_SECONDS:
        argv += ["--poll", f"{poll:g}"]
    if policy_file is not None:
        argv += ["--policy", str(expand_user(policy_file).absolute())]
    path = install_unit(argv, env)
    TextView().daemon_install(path, ENABLE_HINT)
    write_report().add(path=str(path), enable_command=ENABLE_HINT)


@click.group()
def remind() -> None:
    """Reminders without the daemon, for cron.

    \b
    Example (crontab -e):
      */5 * * * * tracker remind check
    """


@remind.command("check")
@notifier_option
@policy_option
@click.option("-v", "--verbose", is_flag=True, help="Say what was shown.")
def check(notifier_spec: str, policy_file: Path | None, verbose: bool) -> None:
    """One pass: show every reminder that is due and not yet shown, then exit.

    Safe beside a running daemon or another check: each reminder is shown once. Quiet unless
    something fails (exit 1; it is retried on a later run) or --verbose is given.

    \b
    Examples:
      tracker remind check
      tracker remind check --notifier console
    """
    notifier = make_notifier(notifier_spec)
    policies = load_policies(policy_file)
    report = run_pass(store(), notifier, policies=policies)
    if verbose:
        TextView().remind_check(report)
    if report.failed:
        _, error, _ = report.failed[0]
        count = len(report.failed)
        raise TrackerError(
            f"could not show {count} notification{'s' if count > 1 else ''} ({error}); "
            "it will be retried"
        )
