"""`tracker export csv`: the history, one row per event, safe to open in a spreadsheet.

Nothing typed is lost: besides the event's one-line summary, a row carries the full text of
what the event wrote (a note, a contact's summary, a promise, a follow-up), multi-line and
quoted per RFC 4180, and whether `tracker undo` reverted it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, BinaryIO, Final

from sqlalchemy import (
    ColumnElement,
    Row,
    ScalarSelect,
    Select,
    String,
    case,
    exists,
    func,
    null,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from tracker.export import BATCH_SIZE, Progress
from tracker.history import (
    AttachmentAdded,
    Contacted,
    Corrected,
    FollowUpMarked,
    FollowUpSet,
    NoteAdded,
    Payload,
    PromiseMade,
    PromiseMarked,
    ReferenceAdded,
    payload_field,
)
from tracker.models import (
    Case,
    Change,
    Event,
    FollowUp,
    Interaction,
    Note,
    Organization,
    Promise,
    Tag,
)
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
    # Added later, after the columns above (the CLI contract keeps their order).
    "text",
    "direction",
    "via",
    "agent_id",
    "duration_seconds",
    "amount",
    "currency",
    "case_status",
    "undone",
    "event_id",
    # Follow-ups with an end, and tags (migration 0007).
    "follow_up_status",
    "tags",
    # Evidence (migration 0009): an attachment_added event's file, kind and SHA-256.
    "attachment_file",
    "attachment_kind",
    "attachment_sha256",
)

# The columns read out of the event's payload (Event.data), each with the payload key it
# comes from: the one place that knows which keys the CSV reads.
EVENT_DATA_COLUMNS: Final[Mapping[str, str]] = {
    "channel": payload_field(Contacted, name="channel"),
    "agent": payload_field(Contacted, name="agent"),
    "reference": payload_field(Contacted, ReferenceAdded, name="reference"),
    "due_at": payload_field(PromiseMade, PromiseMarked, FollowUpSet, FollowUpMarked, name="due_at"),
    "promise_status": payload_field(PromiseMade, PromiseMarked, name="promise_status"),
    "direction": payload_field(Contacted, name="direction"),
    "follow_up_status": payload_field(FollowUpMarked, name="follow_up_status"),
}
# An attachment_added event's file, read only from that type (another's `kind` is not one).
ATTACHMENT_COLUMNS: Final[Mapping[str, str]] = {
    "attachment_file": payload_field(AttachmentAdded, name="filename"),
    "attachment_kind": payload_field(AttachmentAdded, name="kind"),
    "attachment_sha256": payload_field(AttachmentAdded, name="sha256"),
}

# The payload keys that lead to the row an event wrote, whose full text the `text` column
# shows: `created` ([table, id]) for a note, a contact and a follow-up; the promise's id for
# a promise made or marked (a promise kept shows what was promised).
CREATED_KEY: Final = payload_field(NoteAdded, Contacted, FollowUpSet, name="created")
PROMISE_KEY: Final = payload_field(PromiseMade, PromiseMarked, name="promise_id")
FOLLOW_UP_KEY: Final = payload_field(FollowUpMarked, name="follow_up_id")

# A correction's changes ({field: {old, new}}), read as JSON text and written out whole in
# its row's `text` (nothing typed is lost: the old value of every field is there), its new
# values in the columns that show those fields.
CHANGES_KEY: Final = payload_field(Corrected, name="changes")
CORRECTED: Final = Corrected.TYPES[0]
CORRECTED_COLUMNS: Final[Mapping[str, str]] = {
    "agent": "agent",
    "agent_id": "agent_id",
    "channel": "channel",
    "reference": "reference",
    "duration_seconds": "duration_seconds",
    "due_at": "due_at",
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
# The amount as stored, exact decimal text: nothing to gain from a Decimal per row.
_RAW_AMOUNT = type_coerce(Case.amount, String)


def _of_type(*payloads: type[Payload]) -> ColumnElement[bool]:
    types = tuple(t for payload in payloads for t in payload.TYPES)
    return Event.type == types[0] if len(types) == 1 else Event.type.in_(types)


def _written(model: type[Any], column: Any, key: Any) -> ScalarSelect[Any]:
    """`column` of the row that the payload's `key` names, by primary key; NULL once undo
    removed the row.

    A scalar subquery, inside the CASE of the event's type: it runs only for the events of
    that type. As outer joins, both backends probed each table for every event, and
    PostgreSQL planned the seven joins anew for every batch (on a 10k-case store, 26 ms
    of planning against 25 ms of work).
    """
    return select(column).where(model.id == Event.data[key].as_integer()).scalar_subquery()


def _history_query() -> Select[Any]:
    """The CSV's columns, in its order (`at` as the driver returns it: see _iso_at)."""
    # The display fields are read out of the JSON by the database: decoding each event's
    # whole `data` (undo snapshots included) in Python was another third.
    payload = {
        column: Event.data[key].as_string().label(column)
        for column, key in EVENT_DATA_COLUMNS.items()
    }
    attached = _of_type(AttachmentAdded)
    payload.update(
        {
            column: case((attached, Event.data[key].as_string())).label(column)
            for column, key in ATTACHMENT_COLUMNS.items()
        }
    )
    created = (CREATED_KEY, 1)
    contact = _of_type(Contacted)
    # The full text. Undo deletes the row an event wrote and keeps the event: the event's
    # own summary is then all there is (a note's first line, a contact's headline).
    text = case(
        (_of_type(NoteAdded), func.coalesce(_written(Note, Note.body, created), Event.summary)),
        (contact, case((Interaction.id.is_(None), Event.summary), else_=Interaction.summary)),
        (
            _of_type(PromiseMade, PromiseMarked),
            func.coalesce(_written(Promise, Promise.text, PROMISE_KEY), Event.summary),
        ),
        (_of_type(Corrected), Event.data[CHANGES_KEY].as_string()),
        (
            _of_type(FollowUpSet),
            # A follow-up may have no text: '' tells it from one that undo removed.
            func.coalesce(
                _written(FollowUp, func.coalesce(FollowUp.text, ""), created), Event.summary
            ),
        ),
        (
            _of_type(FollowUpMarked),
            func.coalesce(
                _written(FollowUp, func.coalesce(FollowUp.text, ""), FOLLOW_UP_KEY),
                Event.summary,
            ),
        ),
    )
    columns: dict[str, Any] = {
        **payload,
        "case_id": Event.case_id,
        "case_title": Case.title,
        "organization": Organization.name.label("organization"),
        "category": Case.category,
        "event_at": _RAW_AT.label("at"),
        "event_type": Event.type,
        "summary": Event.summary,
        "text": text.label("text"),
        "via": Interaction.via,
        "agent_id": Interaction.agent_id,
        "duration_seconds": Interaction.duration_seconds,
        "amount": _RAW_AMOUNT.label("amount"),
        "currency": Case.currency,
        "case_status": Case.status.label("case_status"),
        "undone": case((Change.reverted_by_id.is_(None), "false"), else_="true").label("undone"),
        "event_id": Event.id,
        "tags": null().label("tags"),  # filled in per batch: see history_rows
    }
    stmt = select(*(columns[name] for name in CSV_COLUMNS))
    # Outer joins, each to a primary key: one row per event, in the events' order. The
    # contact is joined (four of its columns), for contact events only: NULL matches nothing.
    return (
        stmt.outerjoin(Case, Event.case_id == Case.id)
        .outerjoin(Organization, Case.organization_id == Organization.id)
        .outerjoin(Change, Event.change_id == Change.id)
        .outerjoin(Interaction, Interaction.id == case((contact, Event.data[created].as_integer())))
    )


def _history_filter(case_id: int | None, since: datetime | None) -> list[ColumnElement[bool]]:
    # An import's own record belongs to no case (it lists the rows it added, for undo): the
    # history is the cases', as in the JSON export.
    where: list[ColumnElement[bool]] = [Event.type != "imported"]
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
    columns (see _history_query).

    One query, streamed: SQLite steps through the events' (at) index as the rows are
    fetched, PostgreSQL reads through a server-side cursor, so no batch holds more than
    batch_size rows and memory stays flat. (Keyset pages of the same query planned and
    started a new query every batch: 1,152 of them for a large store.)
    """
    stmt = _history_query().where(*_history_filter(case_id, since)).order_by(Event.at, Event.id)
    # Plain rows through the session's connection: the ORM's loading machinery would
    # double the cost of a million-row export and build nothing we use.
    result = session.connection().execute(
        stmt,
        execution_options={"stream_results": True, "yield_per": batch_size or BATCH_SIZE},
    )
    yield from result.partitions()


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


# Where history_rows finds the cells it rewrites, and the ones that hold numbers.
_AT = CSV_COLUMNS.index("event_at")
_DUE = CSV_COLUMNS.index("due_at")
_TYPE = CSV_COLUMNS.index("event_type")
_TEXT = CSV_COLUMNS.index("text")
_CORRECTED_CELLS = {CSV_COLUMNS.index(column): name for column, name in CORRECTED_COLUMNS.items()}
_CASE = CSV_COLUMNS.index("case_id")
_TAGS = CSV_COLUMNS.index("tags")
_NUMBERS = frozenset(
    CSV_COLUMNS.index(name) for name in ("case_id", "duration_seconds", "event_id")
)
_first = itemgetter(0)


def history_rows(
    batch: Sequence[Row[Any]], tags: Mapping[int, str] | None = None
) -> Iterator[tuple[Any, ...]]:
    """The batch's CSV rows (see CSV_COLUMNS), every text cell neutralized; `tags`: the
    tags of the batch's cases (space-separated, by case id), if the store has any.

    Column by column: whether any cell of a column starts with a trigger is decided in C
    (filter, map, isdisjoint), and a column without one (nearly every column of nearly
    every batch) goes out as it came. A pass in Python over each of 22 cells per row was
    more than the csv module's own work. None goes out as an empty cell.
    """
    columns: list[Sequence[Any]] = list(zip(*batch, strict=True))
    if not columns:
        return iter(())
    if CORRECTED in columns[_TYPE]:  # rare: a correction's changes become its cells
        _corrections(columns)
    columns[_AT] = list(map(_iso_at, columns[_AT]))
    columns[_DUE] = [None if due is None else _iso_text(due) for due in columns[_DUE]]
    if tags:
        columns[_TAGS] = [tags.get(case_id) for case_id in columns[_CASE]]
    return zip(
        *(
            column if index in _NUMBERS else _neutralized(column)
            for index, column in enumerate(columns)
        ),
        strict=True,
    )


def _corrections(columns: list[Sequence[Any]]) -> None:
    """A correction's row: `text` lists every field's old and new value, whole (one line
    each, "agent: Dan -> Daniel"; a value with line breaks keeps them, JSON-quoted so the
    arrow stays unambiguous), and the columns that show a field it changed hold the new
    value."""
    touched = [_TEXT, *_CORRECTED_CELLS]
    for index in touched:
        columns[index] = list(columns[index])
    for row, event_type in enumerate(columns[_TYPE]):
        if event_type != CORRECTED:
            continue
        raw = columns[_TEXT][row]
        try:
            changes = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            continue
        if not isinstance(changes, dict):
            continue
        columns[_TEXT][row] = "\n".join(  # type: ignore[index]
            f"{name}: {_whole(change.get('old'))} -> {_whole(change.get('new'))}"
            for name, change in changes.items()
            if isinstance(change, dict)
        )
        for index, name in _CORRECTED_CELLS.items():
            change = changes.get(name)
            if isinstance(change, dict):
                columns[index][row] = change.get("new")  # type: ignore[index]


def _whole(value: Any) -> str:
    """A corrected value in full: empty is (none); text with a line break or an arrow is
    JSON-quoted, so each field stays one line and reads back exactly."""
    if value is None:
        return "(none)"
    text = str(value)
    if "\n" in text or "\r" in text or " -> " in text or text == "(none)":
        return json.dumps(text, ensure_ascii=False)
    return text


def _neutralized(column: Sequence[Any]) -> Sequence[Any]:
    """A column of text cells, each one that starts with a trigger neutralized.

    Every text column, the ones filled from fixed vocabularies too (category, event_type,
    case_status, ...): an imported store holds whatever its file said.
    """
    try:
        if _TRIGGER_SET.isdisjoint(map(_first, filter(None, column))):
            return column
    except TypeError:  # a cell that is not text: made text below
        pass
    return [
        None if cell is None else neutralize(cell if cell.__class__ is str else str(cell))
        for cell in column
    ]


def write_history_csv(
    session: Session,
    stream: BinaryIO,
    *,
    case_id: int | None = None,
    since: datetime | None = None,
    progress: Progress | None = None,
    bom: bool = False,
) -> int:
    """Write the history as CSV (docs/contract.md, "CSV history"); returns the number of events.

    `bom` starts the file with a UTF-8 byte order mark: Excel on Windows reads a file
    without one in the machine's legacy code page.
    """
    if bom:
        stream.write(codecs.BOM_UTF8)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    total = 0
    tagged = session.scalar(select(exists().select_from(Tag))) or False
    # A batch at a time through a text buffer: a Python write() and an encode per row were
    # another tenth of a large export.
    for batch in history_batches(session, case_id=case_id, since=since):
        if tagged:
            writer.writerows(history_rows(batch, _tags_of(session, batch)))
        else:
            writer.writerows(history_rows(batch))
        stream.write(text.getvalue().encode("utf-8"))
        text.seek(0)
        text.truncate()
        total += len(batch)
        if progress is not None:
            progress(len(batch))
    stream.write(text.getvalue().encode("utf-8"))
    return total


def _tags_of(session: Session, batch: Sequence[Row[Any]]) -> dict[int, str]:
    """The tags of the batch's cases, space-separated in order, by case id."""
    case_ids = sorted({row[_CASE] for row in batch if row[_CASE] is not None})
    found: dict[int, list[str]] = {}
    for start in range(0, len(case_ids), _IDS_PER_QUERY):
        chunk = case_ids[start : start + _IDS_PER_QUERY]
        for case_id, tag in session.execute(
            select(Tag.case_id, Tag.tag)
            .where(Tag.case_id.in_(chunk))
            .order_by(Tag.case_id, Tag.tag)
        ):
            found.setdefault(case_id, []).append(tag)
    return {case_id: " ".join(tags) for case_id, tags in found.items()}


_IDS_PER_QUERY = 500  # bound parameters per IN (...)
