"""The history: changes, typed event payloads, and undo.

Every change to a case writes one event, in the transaction of the command that made it; one
command's events share a Change, the unit `tracker undo` reverts. An event's payload is one
of the dataclasses below, written and read through the same type: a field renamed here is
renamed for the CSV, the JSON views, the letters and undo at once. :func:`read_payload` also
checks every value (the vocabulary, the case state, which table a ``created`` names): the
JSON importer refuses a file whose events do not pass, and undo refuses to act on a change
whose events do not.

Undo finds the rows to delete from the payload's ``created`` (a table name and an id) and
the schema's own table -> class map, and restores a case's state from the snapshot in its
first event of the change (``case_before``). Before it acts it locks what the change touches
(its cases, promises and organization) and looks for the newest change again: a command
committed on one of those cases meanwhile is then the newest change and is what undo
reverts, instead of being deleted with the case (:func:`undo`).

An import (`tracker import json`) is one change too. It keeps the file's ids, so it writes
its own Change and one ``imported`` event (no case) whose :class:`Imported` payload lists,
per table, the id ranges of the rows it added; undo of that change deletes exactly those
rows. The changes and events the import brought were written by another store: undo never
picks one of them (:func:`_foreign_changes`), only the import as a whole.

A correction (tracker.corrections) rewrites columns of existing rows: its
:class:`Corrected` payload keeps each column's old value per row (``before``), and undo
writes those back (:func:`_restore`) instead of deleting anything.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Self, get_type_hints

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    delete,
    exists,
    false,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from tracker.errors import Conflict
from tracker.models import (
    Attachment,
    Base,
    Blob,
    Case,
    Change,
    ContactPoint,
    Event,
    FollowUp,
    Organization,
    Promise,
    Reminder,
    Tag,
    utcnow,
)
from tracker.values import parse_tag_or_none
from tracker.vocabulary import (
    CATEGORIES,
    CHANNELS,
    DIRECTIONS,
    EVIDENCE_KINDS,
    FOLLOW_UP_STATUSES,
    LETTER_CHANNELS,
    LETTER_KINDS,
    LEVELS,
    PROMISE_PARTIES,
    PROMISE_STATUSES,
    REFERENCE_KINDS,
    STATUSES,
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
# A follow-up's fields that done, cancel and snooze change; undo puts them back.
FOLLOW_UP_STATE_FIELDS = ("status", "status_at", "due_at", "snoozed_from")
# The snapshot's fields that are never empty (their columns are NOT NULL).
_REQUIRED_STATE = ("status", "escalation_level", "updated_at", "last_activity_at")
_STATE_CHOICES = {"status": STATUSES, "escalation_level": LEVELS}
# The largest id an integer column holds (PostgreSQL's INTEGER; tracker.cli.common.MAX_ID).
MAX_ROW_ID = 2**31 - 1


class PayloadError(ValueError):
    """An event's data that does not fit its type (an import written by hand, say)."""


def shown(value: Any, limit: int = 60) -> str:
    """A value for a one-line message: JSON, shortened, nothing that breaks or hides a line.

    Control and format characters (line and paragraph separators, right-to-left overrides,
    zero-width characters) are shown escaped, so the message reads as what it is.
    """
    text = json.dumps(value, ensure_ascii=False, default=lambda item: str(_jsonable(item)))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char
        for char in text
    )


def an(word: str) -> str:
    """`word` after its indefinite article: "an opened", "a note"."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _time_or_none(name: str, value: Any, *, required: bool = False) -> datetime | None:
    if value is None and not required:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    raise PayloadError(f"{name} {shown(value)} is not a time with its offset")


def check_case_state(state: dict[str, Any], name: str = "case_before") -> None:
    """PayloadError unless `state` holds only case-state fields, each with a valid value.

    What undo writes back into the case: a key outside CASE_STATE_FIELDS (an amount, say)
    or a status outside the vocabulary is refused, not restored.
    """
    for key, value in state.items():
        where = f"{name}.{key}"
        if key not in CASE_STATE_FIELDS:
            raise PayloadError(f"{name} names {shown(key)}, which is not case state")
        if key in _STATE_CHOICES:
            _check_choice(where, value, _STATE_CHOICES[key])
        elif key.endswith("_at"):
            _time_or_none(where, value, required=key in _REQUIRED_STATE)
        elif value is not None and not isinstance(value, str):
            raise PayloadError(f"{where} {shown(value)} is not text")


def check_promise_state(state: dict[str, Any], name: str = "promise_before") -> None:
    """PayloadError unless `state` holds only a promise's status fields, with valid values."""
    for key, value in state.items():
        where = f"{name}.{key}"
        if key not in PROMISE_STATE_FIELDS:
            raise PayloadError(f"{name} names {shown(key)}, which is not promise state")
        if key == "status":
            _check_choice(where, value, PROMISE_STATUSES)
        else:
            _time_or_none(where, value)
    if "status" not in state:
        raise PayloadError(f"{name} has no status")


def check_follow_up_state(state: dict[str, Any], name: str = "follow_up_before") -> None:
    """PayloadError unless `state` holds only a follow-up's state fields, with valid values
    (its status and due time at least)."""
    for key, value in state.items():
        where = f"{name}.{key}"
        if key not in FOLLOW_UP_STATE_FIELDS:
            raise PayloadError(f"{name} names {shown(key)}, which is not follow-up state")
        if key == "status":
            _check_choice(where, value, FOLLOW_UP_STATUSES)
        else:
            _time_or_none(where, value, required=key == "due_at")
    for key in ("status", "due_at"):
        if key not in state:
            raise PayloadError(f"{name} has no {key}")


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise PayloadError(f"{name} {shown(value)} is not one of: {', '.join(allowed)}")


def state_times(state: dict[str, Any]) -> list[tuple[str, datetime]]:
    """The times in a checked case or promise snapshot, by key (for range checks)."""
    return [
        (key, datetime.fromisoformat(value))
        for key, value in state.items()
        if key.endswith("_at") and isinstance(value, str)
    ]


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
    CREATES: ClassVar[str | None] = None
    """The table of the row an event of this type adds (its ``created``), if any."""
    CHOICES: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = ()
    """Fields whose value is one of a vocabulary's words."""

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

    def check(self, event_type: str) -> None:
        """PayloadError unless every value is one the store itself could have written.

        :meth:`from_json` checks the shape (keys and types); this checks the values: the
        vocabulary, ids in the integer columns' range, the table ``created`` names, and that
        ``case_before`` holds only case state. Whether the rows named exist, and on which
        case, is for the caller, who knows the store (the importer, undo).
        """
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if type(value) is int and not 1 <= value <= MAX_ROW_ID:
                raise PayloadError(f"{item.name} {value} is not an id (1 to {MAX_ROW_ID})")
        for name, allowed in self.CHOICES:
            value = getattr(self, name)
            if value is not None:
                _check_choice(name, value, allowed)
        if self.created is not None:
            table, row_id = self.created
            if table != self.CREATES:
                what = f"a row of {self.CREATES}" if self.CREATES else "no row"
                raise PayloadError(
                    f"created {shown(list(self.created))}: {an(event_type)} event creates {what}"
                )
            if not 1 <= row_id <= MAX_ROW_ID:
                raise PayloadError(f"created {shown(list(self.created))} names no row")
        if self.case_before is not None:
            check_case_state(self.case_before)


def _hints(cls: type[Payload]) -> dict[str, str]:
    """How each field is stored (created, datetime, dict, int or str), worked out once.

    Class constants such as TYPES are no fields.
    """
    cached = _HINTS.get(cls)
    if cached is None:
        hints = get_type_hints(cls)
        cached = _HINTS[cls] = {
            f.name: _kind(f.name, str(hints[f.name])) for f in dataclasses.fields(cls)
        }
    return cached


def _kind(name: str, hint: str) -> str:
    if name == "created":
        return "created"
    return next((kind for kind in ("bool", "datetime", "dict", "int") if kind in hint), "str")


_HINTS: dict[type[Payload], dict[str, str]] = {}


def _read(name: str, kind: str, value: Any) -> Any:
    """One stored value, checked against its field's kind (see _hints)."""
    if value is None:
        return None
    if kind == "str":
        if isinstance(value, str):
            return value
        raise PayloadError(f"{name} must be text")
    if kind == "created":
        if (
            isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], str)
            and type(value[1]) is int
        ):
            return (value[0], value[1])
        raise PayloadError("created must be [table, id]")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise PayloadError(f"{name} must be true or false")
    if kind == "datetime":
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if parsed.tzinfo is not None:
                    return parsed
        raise PayloadError(f"{name} must be a time with its offset")
    if kind == "dict":
        if isinstance(value, dict):
            return value
        raise PayloadError(f"{name} must be an object")
    if type(value) is int:
        return value
    raise PayloadError(f"{name} must be a whole number")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    return value


@dataclass(frozen=True, kw_only=True)
class Opened(Payload):
    TYPES = ("opened",)
    CREATES = "cases"
    CHOICES = (("category", CATEGORIES),)
    category: str
    organization: str | None = None
    created_organization: int | None = None


@dataclass(frozen=True, kw_only=True)
class NoteAdded(Payload):
    TYPES = ("note",)
    CREATES = "notes"


@dataclass(frozen=True, kw_only=True)
class AttachmentAdded(Payload):
    """A file kept as evidence (tracker.evidence); undo deletes its row."""

    TYPES = ("attachment_added",)
    CREATES = "attachments"
    CHOICES = (("kind", EVIDENCE_KINDS),)
    kind: str
    filename: str
    sha256: str
    interaction_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class LetterSent(Payload):
    """A letter of `case letter` recorded as sent: its interaction, kept text and tracking
    number are rows of their own events in the same change. The FCBA clocks count from
    the first billing-error notice sent (tracker.due)."""

    TYPES = ("letter_sent",)
    CHOICES = (("kind", LETTER_KINDS), ("channel", LETTER_CHANNELS))
    kind: str
    channel: str
    interaction_id: int
    sha256: str
    tracking: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReferenceAdded(Payload):
    TYPES = ("reference_added",)
    CREATES = "reference_numbers"
    CHOICES = (("kind", REFERENCE_KINDS),)
    reference: str
    kind: str
    # The user said it is not a card although it looks like one (kept as typed).
    kept_as_typed: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Contacted(Payload):
    TYPES = ("interaction",)
    CREATES = "interactions"
    CHOICES = (("channel", CHANNELS), ("direction", DIRECTIONS))
    channel: str
    direction: str
    agent: str | None = None
    reference: str | None = None  # the references given, joined with ", "


@dataclass(frozen=True, kw_only=True)
class PromiseMade(Payload):
    TYPES = ("promise_made",)
    CREATES = "promises"
    CHOICES = (("promise_status", PROMISE_STATUSES), ("promised_by", PROMISE_PARTIES))
    promise_id: int
    due_at: datetime
    promise_status: str
    promised_by: str

    def check(self, event_type: str) -> None:
        super().check(event_type)
        if self.created is not None and self.created[1] != self.promise_id:
            raise PayloadError(
                f"promise_id {self.promise_id} is not the promise created "
                f"({shown(list(self.created))})"
            )


@dataclass(frozen=True, kw_only=True)
class PromiseMarked(Payload):
    TYPES = ("promise_kept", "promise_broken", "promise_cancelled")
    CHOICES = (("promise_status", PROMISE_STATUSES), ("promised_by", PROMISE_PARTIES))
    promise_id: int
    promise_before: dict[str, Any]
    due_at: datetime
    promise_status: str
    promised_by: str

    def check(self, event_type: str) -> None:
        super().check(event_type)
        check_promise_state(self.promise_before)
        if event_type != f"promise_{self.promise_status}":
            raise PayloadError(
                f"promise_status {shown(self.promise_status)} does not match {an(event_type)} event"
            )


@dataclass(frozen=True, kw_only=True)
class FollowUpSet(Payload):
    TYPES = ("follow_up_set",)
    CREATES = "follow_ups"
    follow_up_id: int
    due_at: datetime

    def check(self, event_type: str) -> None:
        super().check(event_type)
        if self.created is not None and self.created[1] != self.follow_up_id:
            raise PayloadError(
                f"follow_up_id {self.follow_up_id} is not the follow-up created "
                f"({shown(list(self.created))})"
            )


@dataclass(frozen=True, kw_only=True)
class FollowUpMarked(Payload):
    """A follow-up marked done or cancelled, or snoozed to a new time (tracker.followups).

    ``due_at`` is its due time after the event, ``snoozed_from`` the one before a snooze;
    ``follow_up_before`` is its state before (undo puts it back).
    """

    TYPES = ("follow_up_done", "follow_up_cancelled", "follow_up_snoozed")
    PRIVATE = Payload.PRIVATE | {"follow_up_before"}
    CHOICES = (("follow_up_status", FOLLOW_UP_STATUSES),)
    # event type -> the status it leaves (a snoozed follow-up is pending at its new time)
    STATUS_OF: ClassVar[dict[str, str]] = {
        "follow_up_done": "done",
        "follow_up_cancelled": "cancelled",
        "follow_up_snoozed": "pending",
    }
    follow_up_id: int
    follow_up_before: dict[str, Any]
    due_at: datetime
    follow_up_status: str
    snoozed_from: datetime | None = None

    def check(self, event_type: str) -> None:
        super().check(event_type)
        check_follow_up_state(self.follow_up_before)
        if self.STATUS_OF.get(event_type) != self.follow_up_status:
            raise PayloadError(
                f"follow_up_status {shown(self.follow_up_status)} does not match "
                f"{an(event_type)} event"
            )
        if (event_type == "follow_up_snoozed") != (self.snoozed_from is not None):
            raise PayloadError("snoozed_from is for a follow_up_snoozed event, and needed there")


def _check_tag(tag: str) -> None:
    # tracker.values.parse_tag is the rule; a payload holds its result.
    if parse_tag_or_none(tag) != tag:
        raise PayloadError(f"tag {shown(tag)} is not a tag as the CLI writes it")


@dataclass(frozen=True, kw_only=True)
class Tagged(Payload):
    TYPES = ("tagged",)
    CREATES = "tags"
    tag: str

    def check(self, event_type: str) -> None:
        super().check(event_type)
        _check_tag(self.tag)


@dataclass(frozen=True, kw_only=True)
class Untagged(Payload):
    """A tag taken off a case; undo puts its row back as it was (same id and time)."""

    TYPES = ("untagged",)
    PRIVATE = Payload.PRIVATE | {"tag_id", "tagged_at"}
    tag: str
    tag_id: int
    tagged_at: datetime

    def check(self, event_type: str) -> None:
        super().check(event_type)
        _check_tag(self.tag)


@dataclass(frozen=True, kw_only=True)
class Escalated(Payload):
    TYPES = ("escalated",)
    CHOICES = (("level", LEVELS), ("previous_level", LEVELS))
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
    CHOICES = (("previous_status", STATUSES),)
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


# What a correction may change (tracker.corrections), per entry: the entry's table, then
# every table:column it may write and undo puts back. Fields are named as the JSON views
# name them (agent, due_at), columns as the schema does (agent_name).
CORRECTION_TARGETS: dict[str, str] = {
    "case": "cases",
    "contact": "interactions",
    "note": "notes",
    "promise": "promises",
}
CORRECTABLE: dict[str, tuple[str, ...]] = {
    "cases": (
        "title",
        "organization_id",
        "category",
        "account_last4",
        "amount",
        "currency",
        "merchant",
        "transaction_date",
        "opened_at",
    ),
    "interactions": ("agent_name", "agent_id", "summary", "channel", "at", "duration_seconds"),
    "reference_numbers": ("value",),
    "notes": ("body",),
    "promises": ("due_at", "window_start", "calendar", "promised_by"),
}
CORRECTED_FIELDS: dict[str, tuple[str, ...]] = {
    "case": (
        "title",
        "organization",
        "category",
        "account_last4",
        "amount",
        "currency",
        "merchant",
        "transaction_date",
        "opened_at",
    ),
    "contact": (
        "agent",
        "agent_id",
        "summary",
        "channel",
        "at",
        "duration_seconds",
        "reference",
    ),
    "note": ("body",),
    "promise": ("due_at", "window_start", "calendar", "promised_by"),
}
# The tables each entry's correction may write besides the entry's own.
_CORRECTED_TABLES = {"contact": ("interactions", "reference_numbers")}
# Columns whose stored form in `before` is not text, and those that are never empty.
_COLUMN_KINDS = {
    "opened_at": "time",
    "at": "time",
    "due_at": "time",
    "window_start": "time",
    "transaction_date": "date",
    "amount": "decimal",
    "organization_id": "int",
    "duration_seconds": "int",
}
_REQUIRED_COLUMNS = frozenset(
    {"title", "category", "opened_at", "channel", "at", "value", "body", "due_at", "promised_by"}
)
_COLUMN_CHOICES = {"category": CATEGORIES, "channel": CHANNELS, "promised_by": PROMISE_PARTIES}


def row_key(table: str, row_id: int) -> str:
    """How a correction's `before` names a row: ``interactions:3``."""
    return f"{table}:{row_id}"


def parse_row_key(key: str) -> tuple[str, int]:
    table, _, number = key.partition(":")
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= MAX_ROW_ID:
        raise PayloadError(f"before names {shown(key)}, which is not table:id")
    return table, int(number)


def column_value(column: str, value: Any) -> Any:
    """A value kept in a correction's `before`, as the column holds it (for undo)."""
    if value is None:
        return None
    kind = _COLUMN_KINDS.get(column)
    if kind == "time":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    return value


def _check_column(where: str, column: str, value: Any) -> None:
    if value is None:
        if column in _REQUIRED_COLUMNS:
            raise PayloadError(f"{where} must not be empty")
        return
    kind = _COLUMN_KINDS.get(column, "text")
    if kind == "int":
        if type(value) is not int or not 0 <= value <= MAX_ROW_ID:
            raise PayloadError(f"{where} {shown(value)} is not a whole number")
        return
    if not isinstance(value, str):
        raise PayloadError(f"{where} {shown(value)} is not text")
    if kind == "time":
        _time_or_none(where, value, required=True)
    elif kind in ("date", "decimal"):
        try:
            parsed = date.fromisoformat(value) if kind == "date" else Decimal(value)
        except (ValueError, ArithmeticError):
            raise PayloadError(f"{where} {shown(value)} is not a {kind}") from None
        if isinstance(parsed, Decimal) and not (parsed.is_finite() and parsed > 0):
            raise PayloadError(f"{where} {shown(value)} is not an amount")
    elif column in _COLUMN_CHOICES:
        _check_choice(where, value, _COLUMN_CHOICES[column])


@dataclass(frozen=True, kw_only=True)
class Corrected(Payload):
    """A correction of one entry (a case, a contact, a note, a promise).

    ``changes`` is what the history shows: each field's old and new value (``{"agent":
    {"old": "Dan", "new": "Daniel"}}``); ``supersedes`` the event that recorded the entry
    (shown as superseded while the correction stands). ``before`` is undo's: per row
    (``interactions:3``), the old value of each column the correction wrote.
    """

    TYPES = ("corrected",)
    PRIVATE = Payload.PRIVATE | {"before"}
    CHOICES = (("target", tuple(CORRECTION_TARGETS)),)
    target: str
    target_id: int
    changes: dict[str, Any]
    before: dict[str, Any]
    supersedes: int | None = None
    created_organization: int | None = None
    reason: str | None = None
    # The user said the new reference is not a card although it looks like one.
    kept_as_typed: bool | None = None

    def check(self, event_type: str) -> None:
        super().check(event_type)
        allowed = CORRECTED_FIELDS[self.target]
        if not self.changes:
            raise PayloadError("changes is empty: a correction changes something")
        for name, change in self.changes.items():
            if name not in allowed:
                raise PayloadError(f"changes names {shown(name)}, not a field of a {self.target}")
            if not isinstance(change, dict) or set(change) != {"old", "new"}:
                raise PayloadError(f'changes.{name} must be {{"old": ..., "new": ...}}')
            for side, value in change.items():
                if value is not None and type(value) not in (str, int):
                    raise PayloadError(f"changes.{name}.{side} {shown(value)} is not a value")
        tables = (CORRECTION_TARGETS[self.target], *_CORRECTED_TABLES.get(self.target, ()))
        for key, columns in self.before.items():
            table, _ = parse_row_key(key)
            if table not in tables:
                raise PayloadError(f"before names {shown(key)}: a {self.target} has no such row")
            if not isinstance(columns, dict) or not columns:
                raise PayloadError(f"before.{key} must be an object of columns")
            for column, value in columns.items():
                if column not in CORRECTABLE[table]:
                    raise PayloadError(f"before.{key} names {shown(column)}, not correctable")
                _check_column(f"before.{key}.{column}", column, value)

    def rows(self) -> list[tuple[str, int]]:
        """The rows the correction wrote (the ones undo puts back), as (table, id)."""
        return [parse_row_key(key) for key in self.before]


# How long a value may run in a correction event's one-line summary.
_SHOWN = 60


def _in_words(value: Any) -> str:
    """A value in the one-line summary: 'Dan', '2026-11-20 10:00 UTC', '(none)'."""
    if value is None:
        return "(none)"
    if isinstance(value, str) and len(value) > 19 and value[10:11] == "T":
        try:
            return f"{datetime.fromisoformat(value).astimezone(UTC):%Y-%m-%d %H:%M}" + " UTC"
        except ValueError:
            pass
    text = " ".join(str(value).split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def describe_changes(changes: dict[str, dict[str, Any]]) -> str:
    """'agent: Dan -> Daniel; channel: phone -> chat'."""
    return "; ".join(
        f"{name}: {_in_words(change['old'])} -> {_in_words(change['new'])}"
        for name, change in changes.items()
    )


IdRanges = list[list[int]]
"""Ids as ascending, disjoint [first, last] ranges: [[1, 40], [42, 42]]."""


@dataclass(frozen=True, kw_only=True)
class Imported(Payload):
    """An import's own record (on an event with no case): the rows it added, per table.

    Undo of the import deletes exactly these rows. Never exported (tracker.export.json): it
    names ids of this store, and another store keeps its own record of what it imported.
    """

    TYPES = ("imported",)
    source: str
    rows: dict[str, IdRanges]

    def check(self, event_type: str) -> None:
        super().check(event_type)
        for table, ranges in self.rows.items():
            if table not in Base.metadata.tables:
                raise PayloadError(f"rows names {shown(table)}, which is not a table")
            if not isinstance(ranges, list):
                raise PayloadError(f"rows.{table} must be a list of [first, last] ids")
            last = 0
            for item in ranges:
                if not (
                    isinstance(item, list)
                    and len(item) == 2
                    and all(type(i) is int for i in item)
                    and last < item[0] <= item[1] <= MAX_ROW_ID
                ):
                    raise PayloadError(
                        f"rows.{table} {shown(item)} is not an ascending [first, last] range"
                    )
                last = item[1]

    @property
    def total(self) -> int:
        return sum(last - first + 1 for ranges in self.rows.values() for first, last in ranges)


def id_ranges(ids: Iterable[int]) -> IdRanges:
    """Ids (in any order, no repeats) as :data:`IdRanges`."""
    ranges: IdRanges = []
    for row_id in sorted(ids):
        if ranges and ranges[-1][1] == row_id - 1:
            ranges[-1][1] = row_id
        else:
            ranges.append([row_id, row_id])
    return ranges


def in_ranges(column: ColumnElement[int], ranges: IdRanges) -> ColumnElement[bool]:
    """SQL: `column` is one of the ids in `ranges`."""
    if not ranges:
        return false()
    return or_(
        *(
            column == first if first == last else column.between(first, last)
            for first, last in ranges
        )
    )


PAYLOAD_TYPES: tuple[type[Payload], ...] = (
    Opened,
    NoteAdded,
    AttachmentAdded,
    LetterSent,
    ReferenceAdded,
    Contacted,
    PromiseMade,
    PromiseMarked,
    FollowUpSet,
    FollowUpMarked,
    Tagged,
    Untagged,
    Escalated,
    Resolved,
    StatusChanged,
    Undone,
    ReminderShown,
    Imported,
    Corrected,
)
PAYLOADS: dict[str, type[Payload]] = {t: cls for cls in PAYLOAD_TYPES for t in cls.TYPES}
EVENT_TYPES = tuple(PAYLOADS)


def load_field_kinds() -> None:
    """Work out every payload's field kinds now (the command server does, before it forks
    its workers, so that no command pays for typing.get_type_hints)."""
    for cls in PAYLOAD_TYPES:
        _hints(cls)


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


def read_payload(event_type: str, data: Any) -> Payload:
    """The payload of an event of `event_type`, its shape and its values checked.

    PayloadError says what does not fit (see :meth:`Payload.check`).
    """
    payload = payload_type(event_type).from_json(data)
    payload.check(event_type)
    return payload


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


SESSION_CHANGES = "tracker.changes"
"""The key of ``Session.info`` under which :func:`begin_change` lists the changes made."""


def begin_change(
    session: Session, command: str, *, now: datetime | None = None, undoable: bool = True
) -> ChangeLog:
    now = now or utcnow()
    change = Change(at=now, command=command[:200], undoable=undoable)
    session.add(change)
    session.flush()
    # What a --json write reports (tracker.written): the changes this transaction made.
    session.info.setdefault(SESSION_CHANGES, []).append(change)
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
    in case 3's own timeline leaves out the "case 3: ". An import's reads "the import of
    backup.json (33 rows)".

    Nothing a concurrent command saves is lost: what the change touches is locked first and
    the newest change chosen again under the locks (:func:`_lock_last_change`). A command
    that committed on one of those cases meanwhile is then the newest change, and is what
    this undo reverts; one that comes later waits for this undo, and finds its case gone.
    """
    change, events, payloads = _lock_last_change(session)
    case_ids = list(dict.fromkeys(e.case_id for e in events if e.case_id is not None))
    snapshots: dict[int, dict[str, Any]] = {}
    imported = [p for p in payloads if isinstance(p, Imported)]
    evidence = _evidence_of(session, case_ids, imported)
    if imported:
        (record,) = imported
        what = _undo_import(session, record)
    else:
        _check_rows_of_the_case(session, change, events, payloads)
        for event, payload in zip(events, payloads, strict=True):
            if event.case_id is not None and payload.case_before is not None:
                snapshots.setdefault(event.case_id, payload.case_before)
        what = _remove_created(session, change, events, payloads)
    # Flush first: expiring drops unflushed changes (the promise states set above), and the
    # rows removed with SQL DELETE must not linger in the session.
    session.flush()
    _forget_unused_evidence(session, evidence)
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
    prefix = f"case {case_ids[0]}: " if case_ids and not imported else ""
    if not recorded:
        # The undo removed the case itself (or the change had none); this record keeps none.
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


UNUSED_EVIDENCE = "tracker.unused_evidence"
"""The key of ``Session.info`` under which undo lists the SHA-256 of stored evidence that no
attachment uses any more: on SQLite their files go once the transaction is committed
(tracker.evidence.remove_unused_files); on PostgreSQL their rows went with the undo."""


def _evidence_of(
    session: Session, case_ids: Sequence[int], imported: Sequence[Imported]
) -> set[str]:
    """The SHA-256 of the attachments the undo may remove: those of the change's cases (an
    attachment added, a case opened and so deleted) and those an import added."""
    found: set[str] = set()
    if case_ids:
        found.update(
            session.scalars(select(Attachment.sha256).where(Attachment.case_id.in_(case_ids)))
        )
    for record in imported:
        for chunk in _chunks(record.rows.get(Attachment.__tablename__, [])):
            found.update(
                session.scalars(
                    select(Attachment.sha256).where(in_ranges(Attachment.__table__.c.id, chunk))
                )
            )
    return found


def _forget_unused_evidence(session: Session, digests: set[str]) -> None:
    """Drop the stored bytes no attachment uses any more (see :data:`UNUSED_EVIDENCE`)."""
    if not digests:
        return
    used = set(
        session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(sorted(digests))))
    )
    unused = sorted(digests - used)
    if unused:
        # The condition again in the DELETE: it is checked under the row's lock.
        in_use = exists().where(Attachment.sha256 == Blob.sha256)
        session.execute(delete(Blob).where(Blob.sha256.in_(unused), not_(in_use)))
        session.info.setdefault(UNUSED_EVIDENCE, set()).update(unused)


def _remove_created(
    session: Session, change: Change, events: Sequence[Event], payloads: Sequence[Payload]
) -> str:
    """Put back the promises' states and delete the rows the change added; describe it."""
    classes = _mapped_classes()
    removed_orgs: list[str] = []
    for event, payload in zip(reversed(events), reversed(payloads), strict=True):
        if isinstance(payload, Corrected):
            _restore(session, payload, classes)
        if isinstance(payload, PromiseMarked):
            promise = session.get(Promise, payload.promise_id)
            if promise is not None:
                for name, value in payload.promise_before.items():
                    if name in PROMISE_STATE_FIELDS:
                        setattr(promise, name, _from_json(name, value))
        if isinstance(payload, FollowUpMarked):
            follow_up = session.get(FollowUp, payload.follow_up_id)
            if follow_up is not None:
                for name in FOLLOW_UP_STATE_FIELDS:
                    value = payload.follow_up_before.get(name)
                    if name != "status" and value is not None:
                        value = datetime.fromisoformat(value)
                    setattr(follow_up, name, value)
        if isinstance(payload, Untagged) and event.case_id is not None:
            _put_tag_back(session, event.case_id, payload)
        if payload.created is not None:
            table, row_id = payload.created
            model = classes[table]
            session.execute(delete(model).where(model.id == row_id))
            _forget_reminders(session, model, row_id)
        if isinstance(payload, Opened | Corrected) and payload.created_organization is not None:
            removed = _remove_unused_organization(session, payload.created_organization)
            if removed is not None:
                removed_orgs.append(removed)
    return _describe(change, events, payloads, removed_orgs, classes)


def _restore(session: Session, payload: Corrected, classes: dict[str, type[Any]]) -> None:
    """Put back the columns a correction wrote, exactly as they were.

    A rescheduled promise's reminder claims were dropped when it was rescheduled (its
    reminders start afresh); the claims made since go too, so the old time is reminded again.
    """
    session.flush()
    for key, columns in payload.before.items():
        table, row_id = parse_row_key(key)
        model = classes[table]
        row = session.get(model, row_id)
        if row is None:
            continue
        for column, value in columns.items():
            if column in CORRECTABLE[table]:
                setattr(row, column, column_value(column, value))
        if table == Promise.__tablename__ and "due_at" in columns:
            _forget_reminders(session, model, row_id)


# --------------------------------------------------------------------------- undo: choosing

_LOCK_ORDER = ("organizations", "promises", "cases", "follow_ups")
_RANGES_PER_STATEMENT = 200  # OR-ed ranges per SQL statement (SQLite's expression depth)

LockTarget = tuple[str, int, int]
"""A table and a [first, last] range of its ids to lock."""


def _lock_last_change(session: Session) -> tuple[Change, list[Event], list[Payload]]:
    """The newest undoable change, with its events and their checked payloads, once the rows
    it touches are locked and it is still the newest.

    Choose, lock what the choice touches (SELECT ... FOR UPDATE: its organization, promises
    and cases), choose again: a command that committed on one of those rows while we waited
    for its lock is newer, so the second choice is it, and its rows are locked in turn. When
    a choice touches nothing not locked yet, no command can write to it any more; the change
    row itself is locked last, so that two undos never revert the same change.

    On SQLite the write transaction (BEGIN IMMEDIATE) has serialised all this already, and
    SQLAlchemy leaves FOR UPDATE out.
    """
    locked: set[LockTarget] = set()
    while True:
        change_id = _last_undoable(session)
        if change_id is None:
            raise Conflict("nothing to undo")
        events = list(
            session.scalars(select(Event).where(Event.change_id == change_id).order_by(Event.id))
        )
        payloads = [_checked(event) for event in events]
        wanted = [target for target in _touched(events, payloads) if target not in locked]
        if wanted:
            _lock(session, wanted)
            locked.update(wanted)
            continue
        change = session.scalars(
            select(Change)
            .where(Change.id == change_id, Change.reverted_by_id.is_(None))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if change is not None:
            return change, events, payloads
        # Another undo reverted it while we waited: choose again.


def _last_undoable(session: Session) -> int | None:
    """The id of the newest change undo may revert: undoable, not reverted, and written by
    this store (not one an import brought: its payloads are another store's)."""
    foreign = _foreign_changes(session)
    below: int | None = None
    while True:
        stmt = select(Change.id).where(Change.undoable.is_(True), Change.reverted_by_id.is_(None))
        if below is not None:
            stmt = stmt.where(Change.id < below)
        change_id = session.scalar(stmt.order_by(Change.id.desc()).limit(1))
        if change_id is None:
            return None
        hit = next((first for first, last in foreign if first <= change_id <= last), None)
        if hit is None:
            return change_id
        below = hit


def _foreign_changes(session: Session) -> IdRanges:
    """The changes the store's imports added, as id ranges."""
    ranges: IdRanges = []
    records = session.scalars(
        select(Event).where(Event.case_id.is_(None), Event.type == Imported.TYPES[0])
    )
    for event in records:
        payload = _checked(event)
        assert isinstance(payload, Imported)
        ranges += payload.rows.get(Change.__tablename__, [])
    return ranges


def _checked(event: Event) -> Payload:
    """The event's payload, checked; a Conflict (nothing undone) if it does not fit."""
    try:
        return read_payload(event.type, event.data)
    except PayloadError as exc:
        raise Conflict(
            f"cannot undo change {event.change_id}: its event {event.id} ({event.type}) does "
            f"not fit its type ({exc}); nothing was undone"
        ) from None


def _touched(events: Sequence[Event], payloads: Sequence[Payload]) -> list[LockTarget]:
    """The rows reverting the change writes to (and commands lock), in locking order."""
    found: dict[str, list[LockTarget]] = {name: [] for name in _LOCK_ORDER}
    for event, payload in zip(events, payloads, strict=True):
        if isinstance(payload, Imported):
            for name in _LOCK_ORDER:
                found[name] += [(name, a, b) for a, b in payload.rows.get(name, [])]
            continue
        if event.case_id is not None:
            found["cases"].append(("cases", event.case_id, event.case_id))
        if isinstance(payload, Opened | Corrected) and payload.created_organization is not None:
            org = payload.created_organization
            found["organizations"].append(("organizations", org, org))
        if isinstance(payload, Corrected):
            found["promises"] += [
                (table, row_id, row_id)
                for table, row_id in payload.rows()
                if table == Promise.__tablename__
            ]
        if isinstance(payload, PromiseMarked):
            found["promises"].append(("promises", payload.promise_id, payload.promise_id))
        if isinstance(payload, FollowUpMarked):
            follow_up = payload.follow_up_id
            found["follow_ups"].append(("follow_ups", follow_up, follow_up))
        if payload.created is not None and payload.created[0] == "promises":
            found["promises"].append(("promises", payload.created[1], payload.created[1]))
    ordered = [target for name in _LOCK_ORDER for target in sorted(found[name])]
    return list(dict.fromkeys(ordered))


def _lock(session: Session, targets: Sequence[LockTarget]) -> None:
    """SELECT ... FOR UPDATE the targets' rows, table by table in :data:`_LOCK_ORDER`."""
    for name in _LOCK_ORDER:
        table = Base.metadata.tables[name]
        ranges = [[a, b] for t, a, b in targets if t == name]
        for chunk in _chunks(ranges):
            session.execute(
                select(table.c.id)
                .where(in_ranges(table.c.id, chunk))
                .order_by(table.c.id)
                .with_for_update()
            ).all()


def _chunks(ranges: IdRanges) -> Iterable[IdRanges]:
    for start in range(0, len(ranges), _RANGES_PER_STATEMENT):
        yield ranges[start : start + _RANGES_PER_STATEMENT]


def _check_rows_of_the_case(
    session: Session, change: Change, events: Sequence[Event], payloads: Sequence[Payload]
) -> None:
    """Conflict unless every row the change's events name belongs to the event's case.

    Undo deletes what ``created`` names and resets the promise a PromiseMarked names: a
    payload that named another case's row would have undo delete or change that instead.
    """
    for event, payload in zip(events, payloads, strict=True):
        named: list[tuple[str, int]] = []
        if payload.created is not None:
            named.append(payload.created)
        if isinstance(payload, PromiseMarked):
            named.append((Promise.__tablename__, payload.promise_id))
        if isinstance(payload, Corrected):
            named += payload.rows()
        if isinstance(payload, FollowUpMarked):
            named.append((FollowUp.__tablename__, payload.follow_up_id))
        for table_name, row_id in named:
            if table_name == Case.__tablename__:
                fits = row_id == event.case_id
            else:
                table: Table = Base.metadata.tables[table_name]
                owner = session.execute(
                    select(table.c.case_id).where(table.c.id == row_id)
                ).one_or_none()
                fits = owner is None or owner[0] == event.case_id
            if not fits:
                raise Conflict(
                    f"cannot undo change {change.id} ({change.command}): its event {event.id} "
                    f"names {table_name} {row_id}, which is not on case {event.case_id}; "
                    "nothing was undone"
                )


# --------------------------------------------------------------------------- undo: an import


def _undo_import(session: Session, record: Imported) -> str:
    """Delete the rows the import added, children first; describe what went.

    An imported organization that a case or contact point added since still uses stays. The
    reminders' claims on the imported cases go with them (their case_id cascades).
    """
    tables = Base.metadata.tables
    changes = tables[Change.__tablename__]
    # changes.reverted_by_id refers to changes: unlink the imported ones before deleting.
    for chunk in _chunks(record.rows.get(changes.name, [])):
        session.execute(
            update(changes).where(in_ranges(changes.c.id, chunk)).values(reverted_by_id=None)
        )
    kept: list[str] = []
    for table in reversed(Base.metadata.sorted_tables):
        for chunk in _chunks(record.rows.get(table.name, [])):
            where = in_ranges(table.c.id, chunk)
            if table.name == Organization.__tablename__:
                used = or_(
                    exists().where(Case.organization_id == table.c.id),
                    exists().where(ContactPoint.organization_id == table.c.id),
                )
                kept += session.scalars(select(table.c.name).where(where, used).order_by("id"))
                where = and_(where, not_(used))
            session.execute(delete(table).where(where))
    removed = record.total - len(kept)
    what = f"the import of {record.source} ({removed} row{'' if removed == 1 else 's'})"
    if kept:
        noun = "organization" if len(kept) == 1 else "organizations"
        what += f"; kept the {noun} {_join(kept)} (in use by rows added since)"
    return what


def _forget_reminders(session: Session, model: type[Any], row_id: int) -> None:
    """Drop the reminder claims of a removed follow-up or promise (tracker.reminders keys).

    A stale claim on "follow_up:7" would keep a later follow-up 7 (an id handed out
    again, as an old SQLite store without AUTOINCREMENT does) from ever firing.
    """
    claims = getattr(model, "reminder_claims", None)
    if claims is not None:
        session.execute(delete(Reminder).where(claims(row_id)))


def _put_tag_back(session: Session, case_id: int, payload: Untagged) -> None:
    """The row untag removed, as it was; unless the case has the tag again (then it stays)."""
    session.flush()
    again = session.scalar(select(exists().where(Tag.case_id == case_id, Tag.tag == payload.tag)))
    if not again and session.get(Tag, payload.tag_id) is None:
        session.add(
            Tag(id=payload.tag_id, case_id=case_id, tag=payload.tag, created_at=payload.tagged_at)
        )
        session.flush()


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
