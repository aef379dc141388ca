"""`tracker follow-up done|cancel|snooze ID` and `tracker snooze CASE WHEN`."""

from __future__ import annotations

from datetime import datetime

import click

from tracker import cases as svc
from tracker import followups
from tracker.cli.common import (
    CASE_ID,
    DUE,
    IdType,
    WhenInput,
    case_change,
    change,
    write_command,
    write_report,
)
from tracker.models import Case, utcnow
from tracker.policy import load_policies
from tracker.views.case import iso
from tracker.views.followups import Text

FOLLOW_UP_ID = IdType("follow-up")


def _until(when: WhenInput, case: Case, now: datetime) -> datetime:
    """WHEN read as `case follow-up` reads it: from now, on the case's calendar."""
    return when.resolve(now, svc.case_calendar(case), now).end


@click.group("follow-up")
def follow_up() -> None:
    """Finish or snooze a follow-up (set one with `tracker case follow-up`).

    A follow-up that is done or cancelled leaves `tracker due` and the daemon's schedule;
    a snoozed one comes back at its new time, once. `tracker undo` reverts each.

    \b
    Examples:
      tracker follow-up done 3
      tracker follow-up cancel 4
      tracker follow-up snooze 3 "tomorrow 9am"
    """


def _end_command(name: str, summary: str) -> click.Command:
    @follow_up.command(
        name,
        help=f"{summary}\n\n\b\nExamples:\n  tracker follow-up {name} 3\n"
        f"  tracker follow-up {name} 3 --json",
    )
    @click.argument("follow_up_id", type=FOLLOW_UP_ID, metavar="ID")
    @write_command
    def end(follow_up_id: int) -> None:
        with change() as session:
            marked = followups.finish(session, follow_up_id, name)
        Text().follow_up_marked(marked)

    return end


_end_command("done", "The follow-up is done: its reminder is over.")
_end_command("cancel", "The follow-up no longer applies: its reminder is over.")


@follow_up.command("snooze")
@click.argument("follow_up_id", type=FOLLOW_UP_ID, metavar="ID")
@click.argument("when", type=DUE)
@write_command
def snooze_follow_up(follow_up_id: int, when: WhenInput) -> None:
    """Move a follow-up to a later time: it is reminded again then, once.

    WHEN as for `tracker case follow-up` (a time in the past is refused). A follow-up whose
    reminder was shown can be snoozed too; a done or cancelled one cannot.

    \b
    Examples:
      tracker follow-up snooze 3 "tomorrow 9am"
      tracker follow-up snooze 3 2d --json
    """
    now = utcnow()
    with change() as session:
        found = followups.get_follow_up(session, follow_up_id)
        until = _until(when, svc.get_case(session, found.case_id), now)
        snoozed = followups.snooze(session, follow_up_id, until, now=now)
    Text().follow_up_marked(snoozed)


@click.command("snooze")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("when", type=DUE)
@write_command
def snooze(case_id: int, when: WhenInput) -> None:
    """Remind me again at WHEN of what the daemon last showed for this case.

    A follow-up among those reminders moves to WHEN; an overdue promise or an escalation
    threshold gets a follow-up at WHEN that says what it reminds of ("Again: Credit posts
    (promise 3) is overdue"). Snoozing again moves those follow-ups instead of adding more.
    Nothing left to remind of (no reminder shown yet, or all of them dealt with): exit 1.

    \b
    Examples:
      tracker snooze 1 tomorrow
      tracker snooze 1 "mon 9am" --json
    """
    now = utcnow()
    policies = load_policies()
    with case_change(case_id) as (session, found, masker):
        result = followups.snooze_case(
            session, found, _until(when, found, now), masker=masker, policies=policies, now=now
        )
    # Beside the shared shape (the follow-ups moved and added are in changed and created).
    write_report().add(
        until_at=iso(result.until), shown_at=iso(result.shown_at), skipped=result.skipped
    )
    Text().case_snoozed(result)
