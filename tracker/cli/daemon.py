"""`tracker daemon run|status|install` and `tracker remind check`."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from tracker.cli.common import F, app, emit_json, json_option, store
from tracker.errors import TrackerError
from tracker.models import utcnow

NOTIFIER_HELP = (
    "How to show reminders: plyer (desktop notification), console (print to stdout), or "
    "command:CMD (run CMD with the title and the body as two more arguments)."
)


def policy_option(func: Any) -> Any:
    return click.option(
        "--policy",
        "policy_file",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Escalation policy file laid over the built-in policies "
        "(default: policy.toml in the config folder, if any).",
    )(func)


def notifier_option(func: Any) -> Any:
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
    from tracker.daemon import Daemon, setup_logging
    from tracker.notify import make_notifier
    from tracker.policy import load_policies
    from tracker.service import DaemonLock, lock_path

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
@json_option
def status(limit: int, policy_file: Path | None, as_json: bool) -> None:
    """Whether the daemon runs (and its pid), and the next reminders it will show.

    \b
    Examples:
      tracker daemon status
      tracker daemon status --json
    """
    from tracker.policy import load_policies
    from tracker.reminders import upcoming
    from tracker.service import running_pid

    policies = load_policies(policy_file)
    the_store = store()
    sqlite = the_store.backend == "sqlite"
    pid = running_pid(the_store.url) if sqlite else None
    now = utcnow()
    with the_store.read() as session:
        pending = upcoming(session, policies)[:limit]
    if as_json:
        from tracker.serialize import iso

        emit_json(
            {
                "running": pid is not None if sqlite else None,
                "pid": pid,
                "upcoming": [
                    {
                        "at": iso(u.at),
                        "key": u.occurrence.key,
                        "kind": u.occurrence.kind,
                        "case_id": u.occurrence.case_id,
                        "case_title": u.occurrence.item.case_title,
                        "organization": u.occurrence.item.organization,
                        "text": u.occurrence.item.text,
                        "attempts": u.attempts,
                        "last_error": u.last_error,
                    }
                    for u in pending
                ],
            }
        )
        return
    if not sqlite:
        click.echo("Daemon: cannot tell on PostgreSQL (several daemons may share the store).")
    elif pid is None:
        click.echo("Daemon: not running (start it with `tracker daemon run`).")
    else:
        click.echo(f"Daemon: running (pid {pid}).")
    if not pending:
        click.echo("No reminders pending.")
        return
    from tracker.render import table
    from tracker.when import format_local, humanize_delta

    click.echo("Next reminders:")
    rows = []
    for u in pending:
        what = f"{u.occurrence.kind.replace('_', ' ')}: {u.occurrence.item.text}"
        if u.last_error:
            what += f" [failed {u.attempts}x: {u.last_error}]"
        rows.append(
            [
                format_local(u.at),
                humanize_delta(u.at - now),
                f"{u.occurrence.case_id} {u.occurrence.item.case_title}",
                what,
            ]
        )
    lines = table(["", "", "", ""], rows).splitlines()[1:]
    click.echo("\n".join("  " + line for line in lines))


@daemon.command("install")
@notifier_option
@seconds_option("--poll", "Passed on to `tracker daemon run`.")
@policy_option
def install(notifier_spec: str, poll: float, policy_file: Path | None) -> None:
    """Write a systemd user unit that runs the daemon, and say how to enable it.

    The unit runs this same tracker with the same store (TRACKER_DB / TRACKER_HOME, or
    --db). It goes to $XDG_CONFIG_HOME/systemd/user/tracker-daemon.service.

    \b
    Examples:
      tracker daemon install
      tracker --db postgresql://me@db/tracker daemon install --poll 10
    """
    from tracker.config import expand_user
    from tracker.notify import make_notifier
    from tracker.service import ENABLE_HINT, install_unit, tracker_command

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
    click.echo(f"Wrote {path}")
    click.echo("Enable and start it with:")
    click.echo(f"  {ENABLE_HINT}")


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
    from tracker.notify import make_notifier
    from tracker.policy import load_policies
    from tracker.reminders import run_pass

    notifier = make_notifier(notifier_spec)
    policies = load_policies(policy_file)
    report = run_pass(store(), notifier, policies=policies)
    if verbose:
        for notice in report.shown:
            click.echo(f"Showed: {notice.title}: {notice.body}", err=True)
        if not report.shown and not report.failed:
            click.echo("Nothing due.", err=True)
    if report.failed:
        _, error, _ = report.failed[0]
        count = len(report.failed)
        raise TrackerError(
            f"could not show {count} notification{'s' if count > 1 else ''} ({error}); "
            "it will be retried"
        )
