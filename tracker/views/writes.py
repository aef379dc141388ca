"""The one ``--json`` shape of every write command (docs/json.md):

    {"change_id": 12, "case_id": 1, "case": {...},
     "created": {"promises": [{...}]}, "changed": {}, "events": [{...}]}

``change_id`` is the change in the history (`tracker undo` reverts it; null when the command
changed nothing, or wrote outside the history: `org add`, `db upgrade`); ``case`` the case as
it is after the command (``case list --json``'s shape); ``created`` and ``changed`` the rows,
by kind, each in the same shape as in ``case show --json`` (its ``interactions``,
``references``, ``promises``, ``follow_ups``, ``notes``) or ``org show --json``; ``events``
what the change recorded, as in ``case show --json``'s ``events``. A command adds keys of
its own beside these (``undo``: ``reverted_change_id``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from tracker.directory import case_counts
from tracker.models import (
    Attachment,
    Case,
    ContactPoint,
    FollowUp,
    Interaction,
    Note,
    Organization,
    Promise,
    Reference,
    Tag,
)
from tracker.views.case import (
    attachment_dict,
    case_summary,
    event_dict,
    follow_up_dict,
    interaction_dict,
    iso,
    note_dict,
    promise_counts,
    promise_dict,
    reference_dict,
)
from tracker.views.org import contact_point_dict, organization_dict
from tracker.written import Written

if TYPE_CHECKING:
    from tracker.letter import SentLetter

Render = Callable[[Session, Any, datetime], dict[str, Any]]


def case_dict(case: Case, now: datetime) -> dict[str, Any]:
    """A case as `case list --json` shows it, with its overdue promises counted."""
    return case_summary(case, overdue=promise_counts(case, now)["overdue"])


def _organization(session: Session, org: Organization, now: datetime) -> dict[str, Any]:
    cases, active = case_counts(session, org)
    return organization_dict(org, cases=cases, active_cases=active)


# A row's class -> its kind (the key in "created"/"changed") and its JSON shape. A class not
# here is shown by its table name and id; register(...) adds one.
RENDERERS: dict[type, tuple[str, Render]] = {
    Case: ("cases", lambda s, row, now: case_dict(row, now)),
    Interaction: ("interactions", lambda s, row, now: interaction_dict(row, row.case.references)),
    Reference: ("references", lambda s, row, now: reference_dict(row)),
    Promise: ("promises", lambda s, row, now: promise_dict(row, now)),
    FollowUp: ("follow_ups", lambda s, row, now: follow_up_dict(row)),
    Note: ("notes", lambda s, row, now: note_dict(row)),
    Attachment: ("attachments", lambda s, row, now: attachment_dict(row)),
    Organization: ("organizations", _organization),
    ContactPoint: ("contact_points", lambda s, row, now: contact_point_dict(row)),
    # (not "tags": a case's "tags" is its list of words)
    Tag: ("tag_rows", lambda s, row, now: _tag(row)),
}


def _tag(row: Tag) -> dict[str, Any]:
    return {"id": row.id, "case_id": row.case_id, "tag": row.tag, "created_at": iso(row.created_at)}


def register(model: type, kind: str, render: Render) -> None:
    """Show rows of `model` under `kind`, shaped by `render` (as its read command shows
    them), in every write's "created" and "changed"."""
    RENDERERS[model] = (kind, render)


def _by_kind(session: Session, rows: list[Any], now: datetime) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found = RENDERERS.get(type(row))
        if found is None:
            kind, shown = row.__tablename__, {"id": row.id}
        else:
            kind, render = found
            shown = render(session, row, now)
        out.setdefault(kind, []).append(shown)
    return out


def nothing_written() -> dict[str, Any]:
    """The shape of a write that recorded nothing in the store (`db backup`, `daemon
    install`, `org import` of nothing new)."""
    return {
        "change_id": None,
        "case_id": None,
        "case": None,
        "created": {},
        "changed": {},
        "events": [],
    }


def write_dict(session: Session, wrote: Written, now: datetime) -> dict[str, Any]:
    """The JSON of one write command (see the module's docstring)."""
    return {
        "change_id": wrote.change_id,
        "case_id": wrote.case.id if wrote.case is not None else None,
        "case": case_dict(wrote.case, now) if wrote.case is not None else None,
        "created": _by_kind(session, wrote.created, now),
        "changed": _by_kind(session, wrote.changed, now),
        "events": [event_dict(e) for e in wrote.events],
    }


def sent_letter_dict(done: SentLetter) -> dict[str, Any]:
    """`case letter --sent --json`'s own key, "letter": what was recorded and kept."""
    return {
        "kind": done.kind,
        "sent_at": iso(done.at),
        "channel": done.interaction.channel,
        "interaction_id": done.interaction.id,
        "attachment_id": done.attachment.id,
        "filename": done.attachment.filename,
        "size": done.attachment.size,
        "sha256": done.attachment.sha256,
        "tracking": done.tracking.value if done.tracking else None,
        "escalated_to": done.escalated_to,
        "clocks": [{"rule": c.id, "why": c.why, "at": iso(c.at)} for c in done.clocks],
    }
