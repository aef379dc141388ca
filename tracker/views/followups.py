"""What `follow-up done|cancel|snooze`, `snooze CASE` and `case tag|untag` print.

The JSON shapes are the ones `case show --json` uses for the same things (a follow-up is
views.case.follow_up_dict, tags a list of words), with what the command changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker.models import FollowUp
from tracker.views.base import echo, emit_json
from tracker.views.case import follow_up_dict, iso
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


def snooze_dict(result: CaseSnooze) -> dict[str, Any]:
    return {
        "case_id": result.case_id,
        "until": iso(result.until),
        "shown_at": iso(result.shown_at),
        "snoozed": [follow_up_dict(f) for f in result.moved],
        "added": [follow_up_dict(f) for f in result.added],
        "skipped": result.skipped,
    }


def tags_dict(change: TagChange, *, added: bool) -> dict[str, Any]:
    changed, unchanged = ("added", "already") if added else ("removed", "absent")
    return {
        "case_id": change.case_id,
        changed: change.changed,
        unchanged: change.unchanged,
        "tags": change.tags,
    }


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


class Json:
    def follow_up_marked(self, item: FollowUp) -> None:
        emit_json(follow_up_dict(item))

    def case_snoozed(self, result: CaseSnooze) -> None:
        emit_json(snooze_dict(result))

    def case_tagged(self, change: TagChange) -> None:
        emit_json(tags_dict(change, added=True))

    def case_untagged(self, change: TagChange) -> None:
        emit_json(tags_dict(change, added=False))
