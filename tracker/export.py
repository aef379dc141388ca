"""Writers for `tracker export`: CSV history, the JSON export of the store, iCalendar.

Everything here streams: rows come from the database in keyset-paginated batches and go
out one at a time, so memory stays flat however long the history is. The writers take a
binary stream and write UTF-8; framing the file (0600, atomic rename) is the caller's.

The JSON codec (:func:`encode_value` / :func:`decode_value`) is driven by the schema's
column types, so the export and :mod:`tracker.importer` follow the schema without a list of
columns to keep in step.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, BinaryIO, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Date,
    Integer,
    Row,
    Select,
    String,
    Table,
    bindparam,
    func,
    select,
    text,
    tuple_,
    type_coerce,
)
from sqlalchemy.orm import Session

from tracker.models import (
    Base,
    Case,
    Change,
    DecimalText,
    Event,
    FollowUp,
    Organization,
    Promise,
    UTCDateTime,
)
from tracker.vocabulary import ACTIVE_STATUSES
from tracker.when import to_iso_utc

BATCH_SIZE = 1000

Progress = Callable[[int], None]
"""Called with the number of rows just written (for a progress bar)."""


class _Tally:
    """Counts rows written and reports them to `progress` a batch at a time."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.total = 0
        self._pending = 0

    def add(self) -> None:
        self.total += 1
        self._pending += 1
        if self._pending == BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if self.progress is not None and self._pending:
            self.progress(self._pending)
        self._pending = 0


class Utf8Writer:
    """A text sink over a binary stream: what csv.writer and the JSON writer write to.

    A TextIOWrapper would close the stream it wraps when it is collected, and stdout and
    the atomic temporary file both belong to the caller.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(text.encode("utf-8"))
        return len(text)


def use_snapshot(session: Session) -> None:
    """Make everything this transaction reads one consistent state of the store.

    Call it before the transaction's first query. An export reads in many batches while the
    daemon may be writing. SQLite's read transaction is a snapshot already; PostgreSQL's
    default (READ COMMITTED) would let a later batch see an event whose change was
    committed after the changes table was read, and the file would not import.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))


# --------------------------------------------------------------------------- CSV history

CSV_COLUMNS = (
    "case_id",
    "case_title",
    "organization",
    "category",
    "event_at",
    "event_type",
    "channel",
    "agent",
    "reference",
    "summary",
    "due_at",
    "promise_status",
)

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_SET = frozenset(FORMULA_TRIGGERS)


def neutralize(cell: str) -> str:
    """Prefix a cell that a spreadsheet would run as a formula with `'`."""
    return "'" + cell if cell[:1] in _TRIGGER_SET else cell


# The event's time as the driver returns it (text on SQLite): parsing a million of them into
# datetimes only to print them again was a third of a large export's time.
_RAW_AT = type_coerce(Event.at, String)


def _history_query(case_id: int | None, since: datetime | None) -> Select[Any]:
    # The display fields are read out of the JSON by the database: decoding each event's
    # whole `data` (undo snapshots included) in Python was another third.
    data = Event.data
    stmt = select(
        Event.id,
        _RAW_AT.label("at"),
        Event.case_id,
        Case.title,
        Organization.name.label("organization"),
        Case.category,
        Event.type,
        data["channel"].as_string().label("channel"),
        data["agent"].as_string().label("agent"),
        data["reference"].as_string().label("reference"),
        Event.summary,
        data["due_at"].as_string().label("due_at"),
        data["promise_status"].as_string().label("promise_status"),
    )
    stmt = stmt.outerjoin(Case, Event.case_id == Case.id).outerjoin(
        Organization, Case.organization_id == Organization.id
    )
    return stmt.where(*_history_filter(case_id, since))


def _history_filter(case_id: int | None, since: datetime | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if case_id is not None:
        where.append(Event.case_id == case_id)
    if since is not None:
        where.append(Event.at >= since)
    return where


def count_history(
    session: Session, *, case_id: int | None = None, since: datetime | None = None
) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Event).where(*_history_filter(case_id, since))
        )
        or 0
    )


def history_batches(
    session: Session,
    *,
    case_id: int | None = None,
    since: datetime | None = None,
    batch_size: int | None = None,
) -> Iterator[Sequence[Row[Any]]]:
    """Events oldest first (by time, then id), a batch at a time, as rows of the CSV's
    fields (`at` as the driver returns it: see _iso_at).

    Keyset pagination on (at, id) rather than OFFSET: each batch is an index range scan,
    so the millionth row costs what the first did, and no batch holds more than
    batch_size rows.
    """
    batch_size = batch_size or BATCH_SIZE
    base = _history_query(case_id, since).order_by(Event.at, Event.id).limit(batch_size)
    stmt = base
    # Plain rows through the session's connection: the ORM's loading machinery would
    # double the cost of a million-row export and build nothing we use.
    connection = session.connection()
    while True:
        rows = connection.execute(stmt).all()
        if rows:
            yield rows
        if len(rows) < batch_size:
            return
        last = rows[-1]
        # SQLite's text goes back as it came (its order is the column's); a datetime from
        # another driver goes through the column's own type.
        at_type = String() if isinstance(last.at, str) else Event.at.type
        after = tuple_(
            bindparam("after_at", last.at, type_=at_type), bindparam("after_id", last.id)
        )
        stmt = base.where(tuple_(Event.at, Event.id) > after)


def _iso_at(value: Any) -> str:
    """A stored time as event_at shows it: ``2026-12-01T13:30:00+00:00``.

    SQLite keeps UTC as ``2026-12-01 13:30:00.000000`` text, which is cut and pasted;
    another backend's driver gives a datetime.
    """
    if isinstance(value, str):
        if len(value) >= 19 and value[10] == " ":
            return f"{value[:10]}T{value[11:19]}+00:00"
        value = datetime.fromisoformat(value)
    return to_iso_utc(value)


def _iso_text(value: Any) -> str:
    """A time kept in an event's data (ISO text) shown the way event_at is."""
    if not isinstance(value, str):
        return "" if value is None else str(value)
    # What the services write: UTC from isoformat(), with or without microseconds.
    if value.endswith("+00:00") and value[10:11] == "T":
        if len(value) == 25:
            return value
        if len(value) == 32 and value[19] == ".":
            return value[:19] + "+00:00"
    try:
        return to_iso_utc(datetime.fromisoformat(value))
    except ValueError:
        return value


def history_row(event: Row[Any]) -> tuple[Any, ...]:
    """One CSV row (see CSV_COLUMNS), every text cell neutralized."""
    fields = cast("tuple[Any, ...]", event)
    _, at, case_id, title, org, category, type_, channel, agent, ref, summary, due, status = fields
    if due is not None:
        due = _iso_text(due)
    # One pass over the free-text cells (a call per cell was a tenth of a large export).
    # category and type come from fixed vocabularies, case_id is a number: nothing to quote.
    title, org, channel, agent, ref, summary, due, status = (
        ""
        if cell is None
        else ("'" + cell if cell[:1] in _TRIGGER_SET else cell)
        if cell.__class__ is str
        else _neutral_text(cell)
        for cell in (title, org, channel, agent, ref, summary, due, status)
    )
    return (
        "" if case_id is None else case_id,
        title,
        org,
        "" if category is None else category,
        _iso_at(at),
        type_,
        channel,
        agent,
        ref,
        summary,
        due,
        status,
    )


def _neutral_text(value: Any) -> str:
    return neutralize(str(value))


def write_history_csv(
    session: Session,
    stream: BinaryIO,
    *,
    case_id: int | None = None,
    since: datetime | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the history as CSV (CLI.md, "CSV history"); returns the number of events."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    total = 0
    # A batch at a time through a text buffer: a Python write() and an encode per row were
    # another tenth of a large export.
    for batch in history_batches(session, case_id=case_id, since=since):
        writer.writerows(map(history_row, batch))
        stream.write(text.getvalue().encode("utf-8"))
        text.seek(0)
        text.truncate()
        total += len(batch)
        if progress is not None:
            progress(len(batch))
    stream.write(text.getvalue().encode("utf-8"))
    return total


# --------------------------------------------------------------------------- JSON codec

FORMAT = "tracker-export"
VERSION = 1

# Parents before children, so that an import can insert in this order. changes refers to
# itself (reverted_by_id): the importer fills that column in a second pass.
TABLE_ORDER = (
    "organizations",
    "contact_points",
    "cases",
    "changes",
    "interactions",
    "reference_numbers",
    "promises",
    "follow_ups",
    "notes",
    "events",
    "reminders",
)


class BadValue(ValueError):
    """A value in an export file that does not fit its column."""


def tables() -> list[Table]:
    return [Base.metadata.tables[name] for name in TABLE_ORDER]


def column_kind(column: Column[Any]) -> str:
    """How a column travels in JSON: datetime, decimal, date, bool, int, json or str."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "datetime"
    if isinstance(kind, DecimalText):
        return "decimal"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Integer):
        return "int"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, String):
        return "str"
    raise TypeError(f"no JSON form for {column.table.name}.{column.name} ({kind!r})")


def encode_value(kind: str, value: Any) -> Any:
    """A column value as JSON: times in full precision with offset, decimals as text."""
    if value is None:
        return None
    if kind == "datetime":
        return value.astimezone(UTC).isoformat()
    if kind == "decimal":
        return str(value)
    if kind == "date":
        return value.isoformat()
    return value


def decode_value(column: Column[Any], value: Any) -> Any:
    """The Python value for `column` from its JSON form; BadValue says what is wrong."""
    if value is None:
        if column.nullable:
            return None
        raise BadValue("must not be null")
    kind = column_kind(column)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue("must be an integer")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise BadValue("must be true or false")
        return value
    if kind == "json":
        if not isinstance(value, dict):
            raise BadValue("must be a JSON object")
        return value
    if not isinstance(value, str):
        raise BadValue("must be a string")
    if kind == "datetime":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise BadValue("must be an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise BadValue("must be an ISO 8601 time with an offset")
        return parsed.astimezone(UTC)
    if kind == "date":
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise BadValue("must be an ISO 8601 date") from None
    if kind == "decimal":
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise BadValue("must be a decimal number as a string") from None
        if not amount.is_finite():
            raise BadValue("must be a finite decimal number")
        return amount
    length = getattr(column.type, "length", None)
    if length is not None and len(value) > length:
        raise BadValue(f"is longer than {length} characters")
    return value


@cache
def _kinds(table: Table) -> tuple[tuple[str, str], ...]:
    return tuple((c.name, column_kind(c)) for c in table.columns)


def encode_row(table: Table, row: Any) -> dict[str, Any]:
    """A row (anything with a _mapping, or a dict) as a JSON object, columns in table order."""
    values = row._mapping if hasattr(row, "_mapping") else row
    return {name: encode_value(kind, values[name]) for name, kind in _kinds(table)}


# --------------------------------------------------------------------------- JSON export


def _case_scope(session: Session, case_id: int) -> dict[str, ColumnElement[bool]]:
    """Per table, the rows that belong to one case (its organization and changes included)."""
    t = Base.metadata.tables
    org_id = session.scalar(select(Case.organization_id).where(Case.id == case_id))
    # The changes its events belong to, and the undo changes that reverted them.
    change_ids: set[int] = set(
        session.scalars(select(Event.change_id).where(Event.case_id == case_id))
    )
    frontier = set(change_ids)
    while frontier:
        found = set(
            session.scalars(
                select(Change.reverted_by_id).where(
                    Change.id.in_(frontier), Change.reverted_by_id.is_not(None)
                )
            )
        )
        frontier = {i for i in found if i is not None} - change_ids
        change_ids |= frontier
    scope: dict[str, ColumnElement[bool]] = {
        "organizations": t["organizations"].c.id == org_id,
        "contact_points": t["contact_points"].c.organization_id == org_id,
        "cases": t["cases"].c.id == case_id,
        "changes": t["changes"].c.id.in_(sorted(change_ids)),
    }
    for name in TABLE_ORDER:
        if name not in scope:
            scope[name] = t[name].c.case_id == case_id
    return scope


def table_rows(
    session: Session,
    table: Table,
    where: ColumnElement[bool] | None = None,
    *,
    batch_size: int | None = None,
) -> Iterator[Row[Any]]:
    """A table's rows by id, a batch at a time (keyset pagination on id)."""
    batch_size = batch_size or BATCH_SIZE
    base = select(table).order_by(table.c.id).limit(batch_size)
    if where is not None:
        base = base.where(where)
    stmt = base
    connection = session.connection()
    while True:
        rows = connection.execute(stmt).all()
        yield from rows
        if len(rows) < batch_size:
            return
        stmt = base.where(table.c.id > rows[-1].id)


def count_store_rows(session: Session, *, case_id: int | None = None) -> int:
    scope = _case_scope(session, case_id) if case_id is not None else {}
    total = 0
    for table in tables():
        stmt = select(func.count()).select_from(table)
        if table.name in scope:
            stmt = stmt.where(scope[table.name])
        total += session.scalar(stmt) or 0
    return total


def write_json_export(
    session: Session,
    stream: BinaryIO,
    *,
    now: datetime,
    case_id: int | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write the store (or one case) as a tracker-export document; returns rows per table.

    One row per line, written as it is read: the document is never whole in memory.
    """
    out = Utf8Writer(stream)
    scope = _case_scope(session, case_id) if case_id is not None else {}
    head = {"format": FORMAT, "version": VERSION, "exported_at": encode_value("datetime", now)}
    out.write("{\n")
    for key, value in head.items():
        out.write(f"  {json.dumps(key)}: {json.dumps(value)},\n")
    out.write('  "tables": {')
    counts: dict[str, int] = {}
    tally = _Tally(progress)
    for index, table in enumerate(tables()):
        out.write("," if index else "")
        out.write(f"\n    {json.dumps(table.name)}: [")
        count = 0
        for row in table_rows(session, table, scope.get(table.name)):
            line = json.dumps(encode_row(table, row), ensure_ascii=False)
            out.write(f"{',' if count else ''}\n      {line}")
            count += 1
            tally.add()
        out.write("\n    ]" if count else "]")
        counts[table.name] = count
    tally.flush()
    out.write("\n  }\n}\n")
    return counts


# --------------------------------------------------------------------------- iCalendar


@dataclass(frozen=True)
class CalendarItem:
    """A pending follow-up or promise, as a calendar event."""

    kind: str  # "follow-up" or "promise"
    item_id: int
    case_id: int
    case_title: str
    organization: str | None
    due_at: datetime
    text: str
    promised_by: str | None
    modified_at: datetime

    def uid(self, store_key: str) -> str:
        # Stable across exports (and across an export/import move, which keeps ids and
        # the first change), so a calendar updates the event instead of adding another.
        return f"{self.kind}-{self.item_id}.{store_key}@tracker.local"

    @property
    def summary(self) -> str:
        org = self.organization or "the company"
        where = f"case {self.case_id}"
        if self.kind == "follow-up":
            return f"Follow up with {org} ({where}): {self.text}"
        if self.promised_by == "me":
            return f"You promised {org} ({where}): {self.text}"
        return f"{org} promised ({where}): {self.text}"

    @property
    def description(self) -> str:
        what = "Follow-up" if self.kind == "follow-up" else f"Promise {self.item_id}"
        lines = [f"Case {self.case_id}: {self.case_title}"]
        if self.organization:
            lines.append(f"Organization: {self.organization}")
        lines.append(f"{what} due {to_iso_utc(self.due_at)}")
        lines.append(f"tracker case show {self.case_id}")
        return "\n".join(lines)


def store_key(session: Session) -> str:
    """A short id for this store's history: a hash of its first change.

    An export/import carries the changes over, so the moved store keeps the key (and the
    calendar UIDs built on it); two stores started apart get different keys.
    """
    first = session.execute(select(Change.id, Change.at).order_by(Change.id).limit(1)).first()
    seed = "empty" if first is None else f"{first.id}:{encode_value('datetime', first.at)}"
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def calendar_items(
    session: Session, *, case_id: int | None = None, since: datetime | None = None
) -> list[CalendarItem]:
    """Pending follow-ups and pending promises on active cases (what `tracker due` watches)."""
    where: list[ColumnElement[bool]] = [Case.status.in_(ACTIVE_STATUSES)]
    if case_id is not None:
        where.append(Case.id == case_id)
    items: list[CalendarItem] = []
    follow_ups = session.execute(
        select(FollowUp, Case.title, Organization.name)
        .join(Case, FollowUp.case_id == Case.id)
        .outerjoin(Organization, Case.organization_id == Organization.id)
        .where(FollowUp.status == "pending", *where)
        .where(*([FollowUp.due_at >= since] if since is not None else []))
    )
    for follow_up, title, org in follow_ups:
        items.append(
            CalendarItem(
                kind="follow-up",
                item_id=follow_up.id,
                case_id=follow_up.case_id,
                case_title=title,
                organization=org,
                due_at=follow_up.due_at,
                text=follow_up.text or "check on the case",
                promised_by=None,
                modified_at=follow_up.created_at,
            )
        )
    promises = session.execute(
        select(Promise, Case.title, Organization.name)
        .join(Case, Promise.case_id == Case.id)
        .outerjoin(Organization, Case.organization_id == Organization.id)
        .where(Promise.status == "pending", *where)
        .where(*([Promise.due_at >= since] if since is not None else []))
    )
    for promise, title, org in promises:
        items.append(
            CalendarItem(
                kind="promise",
                item_id=promise.id,
                case_id=promise.case_id,
                case_title=title,
                organization=org,
                due_at=promise.due_at,
                text=promise.text,
                promised_by=promise.promised_by,
                modified_at=promise.status_at or promise.created_at,
            )
        )
    items.sort(key=lambda item: (item.due_at, item.kind, item.item_id))
    return items


EVENT_LENGTH = timedelta(minutes=15)


def _end(start: datetime) -> datetime:
    # A due time at the end of the calendar (9999-12-31 23:59) has no 15 minutes after it.
    try:
        return (start + EVENT_LENGTH).astimezone(UTC)
    except OverflowError:
        return start.astimezone(UTC)


def render_ics(items: Sequence[CalendarItem], key: str) -> bytes:
    """An RFC 5545 calendar: one VEVENT per item, with a DISPLAY alarm at the due time.

    VEVENT rather than VTODO: every calendar imports events, few show tasks, and an
    event's alarm is what gets the user's attention. Times are UTC; DTSTAMP is the item's
    last change, so an unchanged item exports byte for byte the same.
    """
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//tracker//export ics//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "tracker: follow-ups and promises")
    for item in items:
        event = icalendar.Event()
        event.add("uid", item.uid(key))
        event.add("dtstamp", item.modified_at.astimezone(UTC))
        event.add("dtstart", item.due_at.astimezone(UTC))
        event.add("dtend", _end(item.due_at))
        event.add("summary", item.summary)
        event.add("description", item.description)
        event.add("transp", "TRANSPARENT")
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", item.summary)
        alarm.add("trigger", timedelta(0))
        event.add_component(alarm)
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def write_ics(
    session: Session,
    stream: BinaryIO,
    *,
    case_id: int | None = None,
    since: datetime | None = None,
) -> int:
    items = calendar_items(session, case_id=case_id, since=since)
    stream.write(render_ics(items, store_key(session)))
    return len(items)


def chunked(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
