"""The history: changes, typed event payloads, and undo.

Every change to a case writes one event, in the transaction of the command that made it; one
command's events share a Change, the unit `tracker undo` reverts. An event's payload is one
of the dataclasses below, written and read through the same type: a field renamed here is
renamed for the CSV, the JSON views, the letters and undo at once, and an imported payload is
checked against its type before undo trusts it (:func:`payload_of`).

Undo finds the rows to delete from the payload's ``created`` (a table name and an id) and
the schema's own table -> class map, and restores a case's state from the snapshot in its
first event of the change (``case_before``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Self, get_type_hints

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from tracker.errors import Conflict
from tracker.models import (
    Base,
    Case,
    Change,
    ContactPoint,
    Event,
    Organization,
    Promise,
    Reminder,
    utcnow,
)

# The case fields a change can alter; undo puts them back from the first event's snapshot.
CASE_STATE_FIELDS = (
    "status",
    "escalation_level",
    "escalated_at",
    "resolved_at",
    "closed_at",
    "outcome",
    "updated_at",
    "last_activity_at",
    "last_interaction_at",
)
PROMISE_STATE_FIELDS = ("status", "status_at")


class PayloadError(ValueError):
    """An event's data that does not fit its type (an import written by hand, say)."""


# --------------------------------------------------------------------------- payloads


@dataclass(frozen=True, kw_only=True)
class Payload:
    """What an event records besides its time, type and summary.

    ``created`` and ``case_before`` are undo's bookkeeping: the row the event added, and
    the case's state before the change (on its first event only).
    """

    TYPES: ClassVar[tuple[str, ...]] = ()
    PRIVATE: ClassVar[frozenset[str]] = frozenset(
        {"created", "case_before", "promise_before", "created_organization"}
    )

    created: tuple[str, int] | None = None
    case_before: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form: fields that are set, times as ISO text, decimals as text."""
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            out[item.name] = list(value) if item.name == "created" else _jsonable(value)
        return out

    def public(self) -> dict[str, Any]:
        """What the history shows (JSON views): everything but undo's bookkeeping."""
        return {k: v for k, v in self.to_json().items() if k not in self.PRIVATE}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """The payload of stored data; PayloadError if a key or a value does not fit."""
        if not isinstance(data, dict):
            raise PayloadError("the event data is not an object")
        hints = _hints(cls)
        unknown = sorted(set(data) - set(hints))
        if unknown:
            raise PayloadError(f"unknown key '{unknown[0]}'")
        values: dict[str, Any] = {}
        for name, value in data.items():
            values[name] = _read(name, hints[name], value)
        try:
            return cls(**values)
        except TypeError as exc:  # a required field is missing
            raise PayloadError(str(exc).split(".__init__() ")[-1]) from None


def _hints(cls: type[Payload]) -> dict[str, Any]:
    cached = _HINTS.get(cls)
    if cached is None:
        cached = _HINTS[cls] = get_type_hints(cls)
        for name in ("TYPES", "PRIVATE"):
            cached.pop(name, None)
    return cached


_HINTS: dict[type[Payload], dict[str, Any]] = {}


def _read(name: str, hint: Any, value: Any) -> Any:
    """One stored value, checked against its field's type."""
    if value is None:
        return None
    text = str(hint)
    if name == "created":
        if (
            isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], str)
            and type(value[1]) is int
        ):
            return (value[0], value[1])
        raise PayloadError("created must be [table, id]")
    if "bool" in text:
        if isinstance(value, bool):
            return value
        raise PayloadError(f"{name} must be true or false")
    if "datetime" in text:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if parsed.tzinfo is not None:
                    return parsed
        raise PayloadError(f"{name} must be a time with its offset")
    if "dict" in text:
        if isinstance(value, dict):
            return value
        raise PayloadError(f"{name} must be an object")
    if "int" in text:
        if type(value) is int:
            return value
        raise PayloadError(f"{name} must be a whole number")
    if isinstance(value, str):
        return value
    raise PayloadError(f"{name} must be text")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    return value


@dataclass(frozen=True, kw_only=True)
class Opened(Payload):
    TYPES = ("opened",)
    category: str
    organization: str | None = None
    created_organization: int | None = None


@dataclass(frozen=True, kw_only=True)
class NoteAdded(Payload):
    TYPES = ("note",)


@dataclass(frozen=True, kw_only=True)
class ReferenceAdded(Payload):
    TYPES = ("reference_added",)
    reference: str
    kind: str
    # The user said it is not a card although it looks like one (kept as typed).
    kept_as_typed: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Contacted(Payload):
    TYPES = ("interaction",)
    channel: str
    direction: str
    agent: str | None = None
    reference: str | None = None  # the references given, joined with ", "


@dataclass(frozen=True, kw_only=True)
class PromiseMade(Payload):
    TYPES = ("promise_made",)
    promise_id: int
    due_at: datetime
    promise_status: str
    promised_by: str


@dataclass(frozen=True, kw_only=True)
class PromiseMarked(Payload):
    TYPES = ("promise_kept", "promise_broken", "promise_cancelled")
    promise_id: int
    promise_before: dict[str, Any]
    due_at: datetime
    promise_status: str
    promised_by: str


@dataclass(frozen=True, kw_only=True)
class FollowUpSet(Payload):
    TYPES = ("follow_up_set",)
    follow_up_id: int
    due_at: datetime


@dataclass(frozen=True, kw_only=True)
class Escalated(Payload):
    TYPES = ("escalated",)
    level: str
    previous_level: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Resolved(Payload):
    TYPES = ("resolved",)
    outcome: str | None = None


@dataclass(frozen=True, kw_only=True)
class StatusChanged(Payload):
    TYPES = ("reopened", "closed")
    previous_status: str


@dataclass(frozen=True, kw_only=True)
class Undone(Payload):
    TYPES = ("undone",)
    reverted_change: int


@dataclass(frozen=True, kw_only=True)
class ReminderShown(Payload):
    TYPES = ("reminder_fired",)
    key: str
    due_at: datetime


PAYLOAD_TYPES: tuple[type[Payload], ...] = (
    Opened,
    NoteAdded,
    ReferenceAdded,
    Contacted,
    PromiseMade,
    PromiseMarked,
    FollowUpSet,
    Escalated,
    Resolved,
    StatusChanged,
    Undone,
    ReminderShown,
)
PAYLOADS: dict[str, type[Payload]] = {t: cls for cls in PAYLOAD_TYPES for t in cls.TYPES}
EVENT_TYPES = tuple(PAYLOADS)


def payload_field(*types: type[Payload], name: str) -> str:
    """`name`, checked to be a field of each of `types`: the stored key a reader looks up.

    Readers of the stored JSON (the CSV export's SQL) name their keys through this, so a
    field renamed here fails at import instead of silently emptying a column.
    """
    for cls in types:
        if name not in {f.name for f in dataclasses.fields(cls)}:
            raise AttributeError(f"{cls.__name__} has no field {name!r}")
    return name


def payload_type(event_type: str) -> type[Payload]:
    try:
        return PAYLOADS[event_type]
    except KeyError:
        raise PayloadError(f"unknown event type '{event_type}'") from None


def payload_of(event: Event) -> Payload:
    """The event's payload, read through its type (PayloadError if it does not fit)."""
    return payload_type(event.type).from_json(event.data)


# --------------------------------------------------------------------------- writing


@dataclass
class ChangeLog:
    """The events of one command. Snapshots the case before its first event, for undo."""

    session: Session
    change: Change
    now: datetime
    _snapshotted: set[int] = field(default_factory=set)

    def snapshot(self, case: Case) -> dict[str, Any] | None:
        if case.id in self._snapshotted:
            return None
        self._snapshotted.add(case.id)
        return {name: _jsonable(getattr(case, name)) for name in CASE_STATE_FIELDS}

    def record(
        self,
        case: Case,
        payload: Payload,
        summary: str,
        *,
        type_: str | None = None,
        at: datetime | None = None,
        snapshot: dict[str, Any] | None = None,
    ) -> Event:
        """Append one event; call it before changing the case so the snapshot is the old state.

        `type_` is needed only for a payload type that serves several event types.
        """
        if type_ is None:
            (type_,) = payload.TYPES
        elif type_ not in payload.TYPES:
            raise ValueError(f"{type(payload).__name__} is not a payload of {type_}")
        before = snapshot if snapshot is not None else self.snapshot(case)
        if before is not None:
            payload = dataclasses.replace(payload, case_before=before)
        event = Event(
            change=self.change,
            case_id=case.id,
            at=at or self.now,
            type=type_,
            summary=summary,
            data=payload.to_json(),
        )
        self.session.add(event)
        return event

    def touch(self, case: Case) -> None:
        case.updated_at = self.now
        case.last_activity_at = max(case.last_activity_at, self.now)


def begin_change(
    session: Session, command: str, *, now: datetime | None = None, undoable: bool = True
) -> ChangeLog:
    now = now or utcnow()
    change = Change(at=now, command=command[:200], undoable=undoable)
    session.add(change)
    session.flush()
    return ChangeLog(session=session, change=change, now=now)


# --------------------------------------------------------------------------- undo


def _from_json(name: str, value: Any) -> Any:
    if value is not None and name.endswith("_at"):
        return datetime.fromisoformat(value)
    return value


def _mapped_classes() -> dict[str, type[Any]]:
    """Every table of the schema -> its mapped class."""
    return {mapper.class_.__tablename__: mapper.class_ for mapper in Base.registry.mappers}


def undo(session: Session, *, now: datetime | None = None) -> str:
    """Revert the last undoable change, in this transaction; returns what was reverted.

    The answer reads "case 3: Opened: ... (with 1 reference)"; the `undone` event written
    in case 3's own timeline leaves out the "case 3: ".
    """
    change = session.scalars(
        select(Change)
        .where(Change.undoable.is_(True), Change.reverted_by_id.is_(None))
        .order_by(Change.id.desc())
        .limit(1)
        .with_for_update()
    ).one_or_none()
    if change is None:
        raise Conflict("nothing to undo")
    events = list(
        session.scalars(select(Event).where(Event.change_id == change.id).order_by(Event.id))
    )
    payloads = [payload_of(e) for e in events]
    case_ids = list(dict.fromkeys(e.case_id for e in events if e.case_id is not None))
    snapshots: dict[int, dict[str, Any]] = {}
    for event, payload in zip(events, payloads, strict=True):
        if event.case_id is not None and payload.case_before is not None:
            snapshots.setdefault(event.case_id, payload.case_before)
    classes = _mapped_classes()
    removed_orgs: list[str] = []
    for payload in reversed(payloads):
        if isinstance(payload, PromiseMarked):
            promise = session.get(Promise, payload.promise_id)
            if promise is not None:
                for name, value in payload.promise_before.items():
                    if name in PROMISE_STATE_FIELDS:
                        setattr(promise, name, _from_json(name, value))
        if payload.created is not None:
            table, row_id = payload.created
            model = classes[table]
            session.execute(delete(model).where(model.id == row_id))
            _forget_reminders(session, model, row_id)
        if isinstance(payload, Opened) and payload.created_organization is not None:
            removed = _remove_unused_organization(session, payload.created_organization)
            if removed is not None:
                removed_orgs.append(removed)
    what = _describe(change, events, payloads, removed_orgs, classes)
    # Flush first: expiring drops unflushed changes (the promise states set above), and the
    # rows removed with SQL DELETE must not linger in the session.
    session.flush()
    session.expire_all()
    log = begin_change(session, "undo", now=now, undoable=False)
    change.reverted_by_id = log.change.id
    recorded = False
    for case_id in case_ids:
        case = session.get(Case, case_id)
        if case is None:
            continue
        for name, value in snapshots.get(case_id, {}).items():
            if name in CASE_STATE_FIELDS:
                setattr(case, name, _from_json(name, value))
        log.record(case, Undone(reverted_change=change.id), f"Undid: {what}", snapshot={})
        recorded = True
    prefix = f"case {case_ids[0]}: " if case_ids else ""
    if not recorded:
        # The undo removed the case itself; the history of that keeps no case.
        session.add(
            Event(
                change=log.change,
                case_id=None,
                at=log.now,
                type="undone",
                summary=f"Undid {prefix}{what}",
                data=Undone(reverted_change=change.id).to_json(),
            )
        )
    return prefix + what


def _forget_reminders(session: Session, model: type[Any], row_id: int) -> None:
    """Drop the reminder claims of a removed follow-up or promise (tracker.reminders keys).

    A stale claim on "follow_up:7" would keep a later follow-up 7 (an id handed out
    again, as an old SQLite store without AUTOINCREMENT does) from ever firing.
    """
    claims = getattr(model, "reminder_claims", None)
    if claims is not None:
        session.execute(delete(Reminder).where(claims(row_id)))


def _remove_unused_organization(session: Session, org_id: int) -> str | None:
    """Remove an organization a command created on the fly, unless something uses it now."""
    session.flush()
    org = session.get(Organization, org_id)
    if org is None:
        return None
    if any(
        session.scalar(select(exists().where(column == org_id)))
        for column in (Case.organization_id, ContactPoint.organization_id)
    ):
        return None
    name = org.name
    session.delete(org)
    session.flush()
    return name


def _describe(
    change: Change,
    events: Sequence[Event],
    payloads: Sequence[Payload],
    removed_orgs: Sequence[str],
    classes: dict[str, type[Any]],
) -> str:
    """The first event's summary, then what else the same command added."""
    if not events:
        return change.command
    counts: dict[str, int] = {}
    for payload in payloads[1:]:
        if payload.created is not None and payload.created[0] != Case.__tablename__:
            counts[payload.created[0]] = counts.get(payload.created[0], 0) + 1
    extras = []
    for table, count in counts.items():
        singular, plural = getattr(classes[table], "noun", (table, table))
        extras.append(f"{count} {singular if count == 1 else plural}")
    extras += [f"the new organization {name}" for name in removed_orgs]
    # A note's event is just its first line; say what it was.
    text = f"Note: {events[0].summary}" if events[0].type == "note" else events[0].summary
    if extras:
        text += f" (with {_join(extras)})"
    return text


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
