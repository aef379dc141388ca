"""What one command wrote: its change's events and the rows they created or changed.

A write command's ``--json`` (tracker.views.writes) prints this, read back from the history
itself rather than from each command's own bookkeeping: an event's payload names the row it
created (``created``, the table and id undo deletes) and the rows it changed (its fields
named after a row: ``promise_id``, ``follow_up_id``, ``interaction_id``, ``note_id``,
``reference_id``, ``tag_id``). A new command whose payloads follow those names is reported
with no code here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.history import CORRECTION_TARGETS, SESSION_CHANGES, Corrected, Payload, payload_of
from tracker.models import Base, Case, Change, Event

# A payload field that names a row it changed -> that row's table.
ROW_FIELDS = {
    "promise_id": "promises",
    "follow_up_id": "follow_ups",
    "interaction_id": "interactions",
    "note_id": "notes",
    "reference_id": "reference_numbers",
    "organization_id": "organizations",
    "tag_id": "tags",
}


# A payload field that names a row the event created besides its own ``created``.
CREATED_FIELDS = {"created_organization": "organizations"}


@dataclass
class Written:
    """One command's writes: its change (None: it changed nothing), the events the change
    recorded, the rows created and the rows changed (each once, in the order written), and
    the case it was on, as it is now."""

    change_id: int | None = None
    events: list[Event] = field(default_factory=list)
    created: list[Any] = field(default_factory=list)
    changed: list[Any] = field(default_factory=list)
    case: Case | None = None


def changes_made(session: Session) -> list[Change]:
    """The changes this transaction recorded (tracker.history.begin_change), oldest first."""
    found: list[Change] = session.info.get(SESSION_CHANGES, [])
    return list(found)


def written(
    session: Session,
    change_ids: Sequence[int],
    *,
    case_id: int | None = None,
    created: Iterable[Any] = (),
    changed: Iterable[Any] = (),
) -> Written:
    """What the changes `change_ids` wrote, read in the session that wrote them (or later).

    `case_id` names the case when the command knows it (so that a command that changed
    nothing still shows the case); `created` and `changed` add rows a command wrote without
    the change log (an organization added by `org add`).
    """
    out = Written(change_id=change_ids[-1] if change_ids else None)
    if change_ids:
        session.flush()
        out.events = list(
            session.scalars(select(Event).where(Event.change_id.in_(change_ids)).order_by(Event.id))
        )
    classes = {m.class_.__tablename__: m.class_ for m in Base.registry.mappers}
    made: dict[tuple[str, int], Any] = {}
    touched: dict[tuple[str, int], Any] = {}
    for event in out.events:
        payload = _payload(event)
        if payload is None:
            continue
        if payload.created is not None:
            made.setdefault(payload.created, None)
        for name, table in CREATED_FIELDS.items():
            row_id = getattr(payload, name, None)
            if type(row_id) is int:
                made.setdefault((table, row_id), None)
        for table, row_id in _named_rows(payload):
            touched.setdefault((table, row_id), None)
    for row in created:
        made[(row.__tablename__, row.id)] = row
    for row in changed:
        touched[(row.__tablename__, row.id)] = row
    out.created = _rows(session, classes, made, skip=set())
    out.changed = _rows(session, classes, touched, skip=set(made))
    case_ids = [e.case_id for e in out.events if e.case_id is not None]
    if case_id is None and case_ids:
        case_id = case_ids[-1]
    if case_id is not None:
        out.case = session.get(Case, case_id)
    return out


def _payload(event: Event) -> Payload | None:
    try:
        return payload_of(event)
    except ValueError:  # a payload this version does not know: it names no rows
        return None


def _named_rows(payload: Payload) -> Iterable[tuple[str, int]]:
    """(table, id) of each row a payload's fields name (see ROW_FIELDS), and the entry a
    correction corrected."""
    if isinstance(payload, Corrected):
        yield CORRECTION_TARGETS[payload.target], payload.target_id
    for item in dataclasses.fields(payload):
        table = ROW_FIELDS.get(item.name)
        value = getattr(payload, item.name)
        if table is not None and type(value) is int:
            yield table, value


def _rows(
    session: Session,
    classes: dict[str, type[Any]],
    keys: dict[tuple[str, int], Any],
    *,
    skip: set[tuple[str, int]],
) -> list[Any]:
    """The rows named, loaded; a row since deleted (or of a table this version does not
    have) is left out."""
    rows = []
    for key, row in keys.items():
        if key in skip:
            continue
        table, row_id = key
        if row is None and table in classes:
            row = session.get(classes[table], row_id)
        if row is not None:
            rows.append(row)
    return rows
