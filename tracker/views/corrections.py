"""Corrections (`case edit`, `contact edit`, `note edit`, `promise due`, `promise by`): what
changed, from what to what; and its JSON shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker.history import describe_changes

if TYPE_CHECKING:  # the view is loaded by every command; the corrections only by theirs
    from tracker.corrections import Correction


def correction_dict(correction: Correction) -> dict[str, Any]:
    """The ``correction`` key of a correction's --json: the entry (``target``, ``id``), its
    case, the event written (null: nothing changed), each field's ``old`` and ``new``
    value, and the rows the change added."""
    return {
        "target": correction.target,
        "id": correction.target_id,
        "case_id": correction.case_id,
        "event_id": correction.event_id,
        "changes": correction.changes,
        "added": correction.added,
    }


def correction_words(correction: Correction) -> str:
    what = f"{correction.target} {correction.target_id}"
    if correction.event_id is None:
        return f"Nothing to change: {what} already says that."
    return f"Corrected {what} on case {correction.case_id}: {describe_changes(correction.changes)}."
