"""What `follow-up done|cancel|snooze`, `snooze CASE` and `case tag|untag` print.

The JSON shapes are the ones `case show --json` uses for the same things (a follow-up is
views.case.follow_up_dict, tags a list of words), with what the command changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker.models import FollowUp
from tracker.views.base import echo
from tracker.vocabulary import FOLLOW_UP_TEXT
from tracker.when import format_local

if TYPE_CHECKING:  # the views load for every command; these modules only for theirs
    from tracker.followups import CaseSnooze
    from tracker.tags import TagChange


def _snoozed_words(item: FollowUp) -> str:
    was = f" (was {format_local(item.snoozed_from)})" if item.snoozed_from else ""
    return (
        f"Follow-up {item.id} on case {item.case_id} snoozed to {format_local(item.due_at)}{was}."
    )


def _tags_words(change: TagChange) -> str:
    return ", ".join(change.tags) if change.tags else "none"


class Text:
    def follow_up_marked(self, item: FollowUp) -> None:
        if item.state() == "snoozed":
            echo(_snoozed_words(item))
        else:
            echo(f"Follow-up {item.id} on case {item.case_id} marked {item.status}.")

    def case_snoozed(self, result: CaseSnooze) -> None:
        for item in result.moved:
            echo(_snoozed_words(item))
        for item in result.added:
            echo(
                f"Follow-up {item.id} on case {item.case_id} at {format_local(item.due_at)}: "
                f"{item.text or FOLLOW_UP_TEXT}"
            )
        for reason in result.skipped:
            echo(f"Left alone: {reason}.")

    def case_tagged(self, change: TagChange) -> None:
        if change.changed:
            echo(f"Tagged case {change.case_id}: {', '.join(change.changed)}.")
        if change.unchanged:
            nothing = "" if change.changed else "; nothing changed"
            echo(f"Case {change.case_id} already has {', '.join(change.unchanged)}{nothing}.")
        echo(f"Tags of case {change.case_id}: {_tags_words(change)}.")

    def case_untagged(self, change: TagChange) -> None:
        if change.changed:
            echo(f"Untagged case {change.case_id}: {', '.join(change.changed)}.")
        if change.unchanged:
            nothing = "" if change.changed else "; nothing changed"
            echo(f"Case {change.case_id} has no {', '.join(change.unchanged)}{nothing}.")
        echo(f"Tags of case {change.case_id}: {_tags_words(change)}.")
