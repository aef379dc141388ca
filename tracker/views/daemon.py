"""Output of the daemon commands: `daemon status`, `daemon install` and `remind check`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.views.base import echo, emit_json, indented_rows
from tracker.when import format_local, humanize_delta, to_iso_utc

if TYPE_CHECKING:
    # For the annotations only: every command loads tracker.views, and tracker.reminders
    # would bring the due computation and the notifiers along.
    from tracker.reminders import PassReport, Upcoming


def _what(u: Upcoming) -> str:
    """``follow up: ring them``, and the last failure of a reminder that could not be shown."""
    what = f"{u.occurrence.kind.replace('_', ' ')}: {u.occurrence.item.text}"
    if u.last_error:
        what += f" [failed {u.attempts}x: {u.last_error}]"
    return what


def _passed(report: PassReport) -> None:
    """`remind check --verbose`: what was shown, on stderr (both views: stdout stays empty);
    what could not be shown is the command's error."""
    for notice in report.shown:
        echo(f"Showed: {notice.title}: {notice.body}", err=True)
    if report.digest is not None and report.shown:
        echo(f"({report.digest_occurrences} reminders recorded shown by the digest)", err=True)
    if not report.shown and not report.kept:
        echo("Nothing due.", err=True)


class Text:
    def daemon_status(
        self,
        running: bool | None,
        pid: int | None,
        sqlite: bool,
        upcoming: Sequence[Upcoming],
        now: datetime,
    ) -> None:
        """Whether the daemon runs (on PostgreSQL: on this machine), then what comes next."""
        if not sqlite:
            if running:
                echo(f"Daemon: running on this machine (pid {pid}).")
            else:
                echo(
                    "Daemon: not running on this machine (daemons on other machines may "
                    "share the store)."
                )
        elif not running:
            echo("Daemon: not running (start it with `tracker daemon run`).")
        else:
            echo(f"Daemon: running (pid {pid}).")
        if not upcoming:
            echo("No reminders pending.")
            return
        echo("Next reminders:")
        rows = [
            [
                format_local(u.at),
                humanize_delta(u.at - now),
                f"{u.occurrence.case_id} {u.occurrence.item.case_title}",
                _what(u),
            ]
            for u in upcoming
        ]
        echo("\n".join(indented_rows(rows)))

    def daemon_install(self, path: Path, enable: str) -> None:
        """The unit written, and the command that enables it."""
        echo(f"Wrote {path}")
        echo("Enable and start it with:")
        echo(f"  {enable}")

    def remind_check(self, report: PassReport) -> None:
        """What one pass showed (what failed is the command's error)."""
        _passed(report)


class Json:
    def daemon_status(
        self,
        running: bool | None,
        pid: int | None,
        sqlite: bool,
        upcoming: Sequence[Upcoming],
        now: datetime,
    ) -> None:
        emit_json({"running": running, "pid": pid, "upcoming": [_upcoming(u) for u in upcoming]})

    def daemon_install(self, path: Path, enable: str) -> None:
        # `daemon install` has no --json yet: this shape is no part of the CLI contract.
        emit_json({"unit": str(path), "enable": enable})

    def remind_check(self, report: PassReport) -> None:
        _passed(report)


def _upcoming(u: Upcoming) -> dict[str, Any]:
    return {
        "remind_at": to_iso_utc(u.at),
        "due_at": to_iso_utc(u.occurrence.item.due_at),
        "key": u.occurrence.key,
        "kind": u.occurrence.kind,
        "case_id": u.occurrence.case_id,
        "case_title": u.occurrence.item.case_title,
        "organization": u.occurrence.item.organization,
        "text": u.occurrence.item.text,
        "attempt_count": u.attempts,
        "last_error": u.last_error,
    }
