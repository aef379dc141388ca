"""`tracker daemon run|status|install` and `tracker remind check`."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import click

from tracker.cli.common import (
    F,
    ValidatedType,
    app,
    policy_option,
    store,
    view_option,
    warn,
    write_command,
    write_report,
)
from tracker.config import expand_user
from tracker.errors import TrackerError, UsageError
from tracker.models import utcnow
from tracker.notify import is_apprise, make_notifier, make_notifiers, notifier_specs
from tracker.policy import load_policies
from tracker.reminders import DIGEST_AT, run_pass, upcoming
from tracker.service import (
    ENABLE_HINT,
    EnvWord,
    daemon_lock,
    install_unit,
    postgres_pid,
    running_pid,
    tracker_command,
    url_has_password,
)
from tracker.views import TextView, View
from tracker.when import compute_holidays_apart

NOTIFIER_HELP = (
    "How to show reminders: desktop (a desktop notification, counted as shown once the "
    "notification server accepted it; plyer is the same), console (print to stdout), "
    "command:CMD (run CMD with the title and the body as two more arguments; shown on exit 0), "
    "or apprise:URL (email, ntfy, Matrix, Telegram, Pushover... through Apprise, the apprise "
    "extra; shown once delivered; several URLs in one value are a channel each). Repeat it "
    "for several channels: a reminder is shown when at least one confirmed it. Default: "
    "`notify` in the config file, else desktop."
)
DIGEST_ENV = "TRACKER_DIGEST"


def notifier_option(func: F) -> F:
    return click.option(
        "--notifier",
        "notifier_spec",
        multiple=True,
        metavar="desktop|console|command:CMD|apprise:URL",
        help=NOTIFIER_HELP,
    )(func)


def digest_threshold() -> int:
    """$TRACKER_DIGEST: above this many notifications at once, one digest (0: never)."""
    value = os.environ.get(DIGEST_ENV, "").strip()
    if not value:
        return DIGEST_AT
    if not value.isdigit():
        raise UsageError(f"{DIGEST_ENV} must be a whole number of notifications, not '{value}'")
    return int(value)


@click.group()
def daemon() -> None:
    """The reminder daemon: desktop notifications when follow-ups and promises fall due,
    when promises are overdue, and when an escalation threshold is crossed.

    The database is the source of truth: the daemon notices what commands write, and every
    reminder is shown once, however many daemons or `remind check` runs share the store. A
    reminder counts as shown only when the notifier confirmed it; one that could not be shown
    stays due. When more than 5 are due at once (TRACKER_DIGEST=N to change, 0 for never),
    one notification sums them up.

    \b
    Examples:
      tracker daemon run
      tracker daemon run --notifier console --poll 10
      tracker daemon status
      tracker daemon install
    """


DEFAULT_SECONDS = 30.0


MAX_SECONDS = 3600.0


def parse_seconds(text: str) -> float:
    """A number of seconds from 0.1 to an hour, in ASCII digits ("30", "2.5"): a number in
    other scripts' digits, or one as long as a card number, is no setting anyone meant."""
    if not re.fullmatch(r"\s*\d{1,4}(\.\d{1,3})?\s*", text, flags=re.ASCII):
        raise UsageError(f"'{text}' is not a number of seconds (e.g. 30 or 2.5)")
    value = float(text)
    if not 0.1 <= value <= MAX_SECONDS:
        raise UsageError(f"{text.strip()} seconds is out of range (0.1 to {MAX_SECONDS:g})")
    return value


def seconds_option(name: str, help: str) -> Callable[[F], F]:
    """--poll and --retry: a number of seconds, from 0.1 to an hour, 30 by default."""
    return click.option(
        name,
        type=ValidatedType("seconds", parse_seconds),
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
def run(
    notifier_spec: tuple[str, ...], poll: float, retry: float, policy_file: Path | None
) -> None:
    """Run the reminder daemon in the foreground until Ctrl-C or SIGTERM.

    It sleeps until the next reminder is due, notices changes within --poll seconds, keeps
    working across wall-clock jumps and suspend, and logs to stderr. One daemon runs per
    SQLite store, and one per machine on a PostgreSQL store.

    \b
    Examples:
      tracker daemon run
      tracker daemon run --notifier console
      tracker daemon run --notifier 'command:notify-send --urgency=critical'
      tracker daemon run --notifier desktop --notifier 'apprise:ntfy://my-topic'
      tracker daemon run --policy ~/my-policy.toml --poll 10
    """
    from tracker.daemon import Daemon, setup_logging  # APScheduler: for `run` only

    notifier = make_notifiers(notifier_spec)
    policies = load_policies(policy_file)
    digest = digest_threshold()
    the_store = store()
    # The daemon writes (its claims): a store not made yet is made now, as a first write
    # would make it, so that `daemon install` on a new machine starts and waits.
    the_store.upgrade()
    lock = daemon_lock(the_store)
    if lock is not None:
        lock.acquire()
    try:
        setup_logging()
        compute_holidays_apart()  # the holidays package stays out of the long-lived process
        Daemon(
            the_store,
            notifier,
            policy_file=policy_file,
            policies=policies,
            poll=poll,
            first_retry=timedelta(seconds=retry),
            digest=digest,
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

    On a PostgreSQL store: whether one runs on this machine (daemons on other machines may
    share the store).

    \b
    Examples:
      tracker daemon status
      tracker daemon status --json
    """
    policies = load_policies(policy_file)
    the_store = store()
    sqlite = the_store.backend == "sqlite"
    pid = running_pid(the_store.url) if sqlite else postgres_pid(the_store)
    now = utcnow()
    with the_store.read() as session:
        pending = upcoming(session, policies)[:limit]
    view.daemon_status(pid is not None, pid, sqlite, pending, now)


@daemon.command("install")
@notifier_option
@seconds_option("--poll", "Passed on to `tracker daemon run`.")
@policy_option
@write_command
def install(notifier_spec: tuple[str, ...], poll: float, policy_file: Path | None) -> None:
    """Write a systemd user unit that runs the daemon, and say how to enable it.

    The unit runs this same tracker with the same store (TRACKER_DB / TRACKER_HOME, or
    --db). It goes to $XDG_CONFIG_HOME/systemd/user/tracker-daemon.service. No secret goes
    into the unit, where `systemctl --user show` would display it: a database URL with a
    password and every apprise:URL go into daemon.env in the config folder (0600), which
    the unit reads as its EnvironmentFile=. With the desktop notifier the unit starts
    after the graphical session and stops with it. Without --notifier, the daemon uses the
    config file's `notify` when it starts.

    \b
    Examples:
      tracker daemon install
      tracker --db postgresql://me:SECRET@db/tracker daemon install --poll 10
      tracker daemon install --notifier desktop --notifier 'apprise:ntfy://my-topic'
    """
    specs = notifier_specs(notifier_spec)
    for spec in specs:
        make_notifier(spec)  # refuse a bad one now, not when systemd starts it
    db_url = app().db_url
    digest_threshold()  # refuse a bad TRACKER_DIGEST now too
    env = {
        name: os.environ[name]
        for name in ("TRACKER_DB", "TRACKER_HOME", DIGEST_ENV)
        if os.environ.get(name)
    }
    if db_url:
        env["TRACKER_DB"] = db_url
    secrets: dict[str, str] = {}
    if "TRACKER_DB" in env and url_has_password(env["TRACKER_DB"]):
        secrets["TRACKER_DB"] = env.pop("TRACKER_DB")
    argv: list[str | EnvWord] = [*tracker_command(), "daemon", "run"]
    hidden = 0
    for spec in notifier_spec:
        if is_apprise(spec):  # its URL holds passwords and tokens
            hidden += 1
            name = f"TRACKER_NOTIFIER_{hidden}"
            secrets[name] = spec
            argv += ["--notifier", EnvWord(name)]
        else:
            argv += ["--notifier", spec]
    if poll != DEFAULT_SECONDS:
        argv += ["--poll", f"{poll:g}"]
    if policy_file is not None:
        argv += ["--policy", str(expand_user(policy_file).absolute())]
    graphical = any(spec in ("desktop", "plyer") for spec in specs)
    path = install_unit(argv, env, secrets, graphical=graphical)
    TextView().daemon_install(path, ENABLE_HINT)
    write_report().add(path=str(path), enable_command=ENABLE_HINT)


@click.group()
def remind() -> None:
    """Reminders without the daemon: one pass, for cron or a script.

    See `tracker remind check --help` for running it from cron.

    \b
    Example (crontab -e):
      */5 * * * * tracker remind check --notifier console
    """


@remind.command("check")
@notifier_option
@policy_option
@click.option("-v", "--verbose", is_flag=True, help="Say what was shown.")
def check(notifier_spec: tuple[str, ...], policy_file: Path | None, verbose: bool) -> None:
    """One pass: show every reminder that is due and not yet shown, then exit.

    Safe beside a running daemon or another check: each reminder is shown once. A reminder
    counts as shown only when the notifier confirmed it; one that could not be shown stays
    due for a later run, and the command exits 1 saying why, so that cron mails you. Quiet
    otherwise, unless --verbose is given. More than 5 due at once come as one digest
    (TRACKER_DIGEST=N to change, 0 for never).

    \b
    From cron, which has no desktop session, either give it your session bus (systemd
    user sessions have it at /run/user/UID/bus):
      */5 * * * * DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$(id -u)/bus tracker remind check
    or print the reminders, which cron mails to you:
      */5 * * * * tracker remind check --notifier console
    or, instead of cron, run the daemon as a systemd user service, which has the session:
      tracker daemon install

    \b
    Examples:
      tracker remind check
      tracker remind check --notifier console --verbose
      tracker remind check --notifier 'apprise:mailto://me:PASSWORD@smtp.example.org'
    """
    notifier = make_notifiers(notifier_spec)
    policies = load_policies(policy_file)
    report = run_pass(store(), notifier, policies=policies, digest=digest_threshold())
    if verbose:
        TextView().remind_check(report)
    for line in getattr(notifier, "missed", ()):  # several channels: shown, one failed
        warn(f"shown, but one channel failed: {line}")
    if report.kept:
        if report.unavailable:
            raise TrackerError(f"{report.unavailable}; {_reminders(report.kept)} kept for later")
        raise TrackerError(
            f"could not show {_reminders(report.kept)} ({report.error}); kept for later"
        )


def _reminders(count: int) -> str:
    return f"{count} reminder{'s' if count != 1 else ''}"
