"""`tracker export csv`: the history, one row per event, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO, Final, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    bindparam,
    func,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.orm import Session

from tracker.export import BATCH_SIZE, Progress
from tracker.history import (
    Contacted,
    FollowUpSet,
    PromiseMade,
    PromiseMarked,
    ReferenceAdded,
    payload_field,
)
from tracker.models import Case, Event, Organization
from tracker.when import to_iso_utc

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

# The columns read out of the event's payload (Event.data), each with the payload key it
# comes from: the one place that knows which keys the CSV reads.
EVENT_DATA_COLUMNS: Final[Mapping[str, str]] = {
    "channel": payload_field(Contacted, name="channel"),
    "agent": payload_field(Contacted, name="agent"),
    "reference": payload_field(Contacted, ReferenceAdded, name="reference"),
    "due_at": payload_field(PromiseMade, PromiseMarked, FollowUpSet, name="due_at"),
    "promise_status": payload_field(PromiseMade, PromiseMarked, name="promise_status"),
}

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_SET = frozenset(FORMULA_TRIGGERS)


def neutralize(cell: str) -> str:
    """Prefix a cell that a spreadsheet would run as a formula with `'`."""
    return "'" + cell if cell[:1] in _TRIGGER_SET else cell


# The event's time as the driver returns it (text on SQLite): parsing a million of them into
# datetimes only to print them again was a third of a large export's time.
_RAW_AT = type_coerce(Event.at, String)


def _history_query() -> Select[Any]:
    # The display fields are read out of the JSON by the database: decoding each event's
    # whole `data` (undo snapshots included) in Python was another third.
    payload = {
        column: Event.data[key].as_string().label(column)
        for column, key in EVENT_DATA_COLUMNS.items()
    }
    stmt = select(
        Event.id,
        _RAW_AT.label("at"),
        Event.case_id,
        Case.title,
        Organization.name.label("organization"),
        Case.category,
        Event.type,
        payload["channel"],
        payload["agent"],
        payload["reference"],
        Event.summary,
        payload["due_at"],
        payload["promise_status"],
    )
    return stmt.outerjoin(Case, Event.case_id == Case.id).outerjoin(
        Organization, Case.organization_id == Organization.id
    )


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
    base = _history_query().order_by(Event.at, Event.id).limit(batch_size)
    stmt = base.where(*_history_filter(case_id, since))
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
        # The key after the last row implies --since. Kept, `at >= since` would be where
        # SQLite starts every batch's range: each batch re-read the events from --since
        # on, and a --since export took time quadratic in its rows.
        stmt = base.where(*_history_filter(case_id, None), tuple_(Event.at, Event.id) > after)


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
