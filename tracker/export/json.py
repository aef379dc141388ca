"""The tracker-export JSON format: `tracker export json` writes it, `tracker import json`
reads it back.

The codec (:func:`encode_value` / :func:`decode_value`) is driven by the schema's column
types, so the writer and the reader follow the schema without a list of columns to keep
in step.

Writing streams, one row per line (:func:`write_json_export`). The whole-store export leaves
out one thing: the store's own records of its imports (each import's change and ``imported``
event, and the undo that reverted one). They name this store's ids and say what undo would
delete here; the store a file goes to writes its own record when it imports it. So `export
json` -> `import json` -> `export json` gives the same document.

Reading happens in two steps, and checks everything before anything is written; the first
bad row refuses the whole file with one line naming its table, id, column and value (exit
2). :func:`parse_export` checks the document without touching the store: format, version,
every table, every column's type, every value against the vocabulary (tracker.vocabulary)
and the CLI's limits (ids, amounts, currencies, durations, times within the 100 years either
side of now that the CLI accepts), every event's payload against its type
(tracker.history.read_payload), and what must be unique within the file.
:func:`import_export` then runs in the caller's one transaction: rows whose id is already in
the store with the same content are skipped (importing a file twice adds nothing), a row
whose id is taken by different content refuses the whole import, the new rows' references
are checked against the file and the store (a row that exists; an event's ``created``,
promise or follow-up on the event's own case; an event belongs to a change the file adds),
and new rows keep their ids. Keeping ids is what carries the history over intact: the
reminders already shown (so nothing fires twice after a move) and the calendar UIDs name
rows by id.

An import is one change: it writes its own Change and an ``imported`` event whose
:class:`~tracker.history.Imported` payload lists the ids it added, as ranges per table, and
`tracker undo` right after it deletes exactly those rows. The changes and events it brought
were written by another store: undo never acts on them (tracker.history).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, BinaryIO, NamedTuple

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Date,
    Integer,
    Row,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from tracker import evidence
from tracker.directory import MAX_NAME, organization_key
from tracker.errors import Conflict, UsageError
from tracker.export import BATCH_SIZE, Progress, chunked
from tracker.history import (
    CORRECTION_TARGETS,
    MAX_ROW_ID,
    PAYLOADS,
    Corrected,
    FollowUpMarked,
    FollowUpSet,
    Imported,
    Opened,
    Payload,
    PayloadError,
    PromiseMade,
    PromiseMarked,
    Undone,
    Untagged,
    an,
    begin_change,
    id_ranges,
    read_payload,
    shown,
    state_times,
)
from tracker.models import Attachment, Base, Case, Change, DecimalText, Event, UTCDateTime
from tracker.redact import Masker, mask, mask_value, numeric_card
from tracker.values import (
    MAX_TITLE,
    parse_amount,
    parse_country,
    parse_currency,
    parse_last4,
    parse_tag,
)
from tracker.vocabulary import (
    CATEGORIES,
    CHANNELS,
    CONTACT_KINDS,
    DIRECTIONS,
    EVIDENCE_KINDS,
    FOLLOW_UP_STATUSES,
    LEVELS,
    PROMISE_PARTIES,
    PROMISE_STATUSES,
    REFERENCE_KINDS,
    STATUSES,
)
from tracker.when import _MAX_DISTANCE as MAX_DISTANCE

# --------------------------------------------------------------------------- format and codec

FORMAT = "tracker-export"
VERSION = 1

# Parents before children, so that an import can insert in this order. changes refers to
# itself (reverted_by_id): import_export fills that column in a second pass.
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
    "tags",
    "attachments",
    "events",
    "reminders",
    "attachment_blobs",
)
BLOBS = "attachment_blobs"
"""The bytes of the evidence, by SHA-256, base64 in the document (:func:`_write_blobs`); a
table without ids, so it is read and written apart from the others."""
ROW_TABLES = tuple(name for name in TABLE_ORDER if name != BLOBS)
# The tables version 1 files gained later: a file written before has no such table, and
# is read as having an empty one. A tracker older than a table refuses a file that has it
# ("a table this tracker does not know"), so nothing is dropped without a word.
ADDED_TABLES = ("tags", "attachments", BLOBS)


class BadValue(ValueError):
    """A value in an export file that does not fit its column."""


def tables() -> list[Table]:
    """The tables of rows with ids, in import order (the evidence's bytes are apart)."""
    return [Base.metadata.tables[name] for name in ROW_TABLES]


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
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC day
            raise BadValue("is out of range") from None
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


# What PostgreSQL cannot store, and UTF-8 JSON can only spell as an escape: a NUL, a lone
# surrogate. A file without these escapes (any export this tracker wrote) needs no look at
# each text for them.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE_ESCAPE_BYTES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def might_hold_unstorable_text(data: bytes | str) -> bool:
    """Whether the raw document could hold a NUL or a lone surrogate (a cheap, safe guess)."""
    if isinstance(data, bytes):
        return _UNSTORABLE_ESCAPE_BYTES.search(data) is not None
    try:
        data.encode("utf-8")  # a str may hold a surrogate itself, not only its escape
    except UnicodeEncodeError:
        return True
    return _UNSTORABLE_ESCAPE.search(data) is not None


def check_text(value: str) -> None:
    """Text every backend stores as it is: no NUL (PostgreSQL refuses it), valid Unicode."""
    if "\x00" in value:
        raise BadValue("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a \ud800 escape
        raise BadValue("is not valid Unicode text (it holds a lone surrogate)") from None


def check_json_texts(value: Any) -> None:
    """:func:`check_text` for every key and text in a JSON value."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, dict):
            pending += item
            pending += item.values()
        elif isinstance(item, list):
            pending += item


@cache
def _kinds(table: Table) -> tuple[tuple[str, str], ...]:
    return tuple((c.name, column_kind(c)) for c in table.columns)


def encode_row(table: Table, row: Any) -> dict[str, Any]:
    """A row (anything with a _mapping, or a dict) as a JSON object, columns in table order."""
    values = row._mapping if hasattr(row, "_mapping") else row
    return {name: encode_value(kind, values[name]) for name, kind in _kinds(table)}


# --------------------------------------------------------------------------- JSON export


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
    """A text sink over a binary stream: what the JSON writer writes to.

    A TextIOWrapper would close the stream it wraps when it is collected, and stdout and
    the atomic temporary file both belong to the caller.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(text.encode("utf-8"))
        return len(text)


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
    for name in ROW_TABLES:
        if name not in scope:
            scope[name] = t[name].c.case_id == case_id
    return scope


def import_records(session: Session) -> list[int]:
    """The changes that are the store's records of its own imports: each import's change,
    and the undo that reverted one (see the module doc: they are not exported)."""
    imports = set(
        session.scalars(
            select(Event.change_id).where(Event.case_id.is_(None), Event.type == Imported.TYPES[0])
        )
    )
    undos: set[int] = set()
    for chunk in chunked(sorted(imports), CHUNK):
        undos.update(
            session.scalars(
                select(Change.reverted_by_id).where(
                    Change.id.in_(chunk), Change.reverted_by_id.is_not(None)
                )
            )
        )
    return sorted(imports | undos)


def _store_scope(session: Session) -> dict[str, ColumnElement[bool]]:
    """Per table, the rows of a whole-store export: all but the import records."""
    records = import_records(session)
    if not records:
        return {}
    t = Base.metadata.tables
    return {
        "changes": t["changes"].c.id.not_in(records),
        "events": t["events"].c.change_id.not_in(records),
    }


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
    scope = _case_scope(session, case_id) if case_id is not None else _store_scope(session)
    total = 0
    for table in tables():
        stmt = select(func.count()).select_from(table)
        if table.name in scope:
            stmt = stmt.where(scope[table.name])
        total += session.scalar(stmt) or 0
    blobs = select(func.count(Attachment.sha256.distinct()))
    if "attachments" in scope:
        blobs = blobs.where(scope["attachments"])
    return total + (session.scalar(blobs) or 0)


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
    scope = _case_scope(session, case_id) if case_id is not None else _store_scope(session)
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
    counts[BLOBS] = _write_blobs(session, out, scope.get("attachments"), tally)
    tally.flush()
    out.write("\n  }\n}\n")
    return counts


def _write_blobs(
    session: Session, out: Utf8Writer, where: ColumnElement[bool] | None, tally: _Tally
) -> int:
    """The stored bytes of the exported attachments, once per SHA-256, each checked
    against its hash as it is read (a missing or damaged copy fails the export)."""
    stmt = select(Attachment.sha256).distinct().order_by(Attachment.sha256)
    if where is not None:
        stmt = stmt.where(where)
    out.write(f",\n    {json.dumps(BLOBS)}: [")
    count = 0
    for digest in list(session.scalars(stmt)):
        data = evidence.blob(session, digest)
        item = {"sha256": digest, "size": len(data), "data": base64.b64encode(data).decode()}
        out.write(f"{',' if count else ''}\n      {json.dumps(item)}")
        count += 1
        tally.add()
    out.write("\n    ]" if count else "]")
    return count


# --------------------------------------------------------------------------- JSON import

CHUNK = 500  # rows per INSERT batch and ids per IN (...) lookup
EXPORTED_AT: Column[datetime] = Column("exported_at", UTCDateTime(), nullable=False)

MAX_ID = MAX_ROW_ID
"""The largest id the CLI names (tracker.cli.common.MAX_ID), and an INTEGER column holds."""
MAX_IMPORTED_ID = 2**30 - 1
"""The largest id an import keeps. A store numbers its new rows after its largest id: a file
with ids near MAX_ID would leave none that the CLI can name (or PostgreSQL's INTEGER hold),
so an import leaves at least 2^30 of them."""
MAX_COUNT = MAX_ROW_ID
"""The largest count, position or duration in seconds (an INTEGER column)."""
TOO_FAR = "is more than 100 years from now"


class ExportFileError(UsageError):
    """The file is not a complete, valid tracker export. Exit 2; nothing is written."""


@dataclass
class ParsedExport:
    """A checked export: per table, its rows with Python values, in file order."""

    rows: dict[str, list[dict[str, Any]]]
    source: str
    payloads: dict[int, Payload] = field(default_factory=dict)
    """Each event's payload (by event id), read and checked through its type."""
    blobs: dict[str, bytes] = field(default_factory=dict)
    """The evidence's bytes, by SHA-256 (checked against it, and for card data)."""

    @property
    def total(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


@dataclass
class ImportResult:
    added: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    @property
    def total_added(self) -> int:
        return sum(self.added.values())


def parse_export(
    data: bytes | str, source: str, masker: Masker | None = None, *, now: datetime | None = None
) -> ParsedExport:
    """Check and decode a whole export document; ExportFileError says what is wrong.

    Texts are masked the way the services mask what the user types: a file edited by hand
    or written by another tool must not bring a card number into the store. Times must lie
    within 100 years of `now` (default: the clock), as the CLI's own.
    """
    masker = masker or Masker()
    now = now or datetime.now(UTC)
    try:
        return _parse(data, source, masker, now)
    except RecursionError:  # json.loads on [[[[...]]]]: nothing an export holds
        raise ExportFileError(f"{source} is nested too deeply to be a tracker export") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse(data: bytes | str, source: str, masker: Masker, now: datetime) -> ParsedExport:
    try:
        doc = json.loads(data, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise ExportFileError(f"{source} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ExportFileError(
            f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "is the file complete?"
        ) from None
    except ValueError as exc:  # NaN or Infinity; a number of more than 4300 digits
        reason = str(exc)
        if "digits" in reason:
            reason = "a number has too many digits"
        raise ExportFileError(f"{source} is not valid JSON ({reason})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ExportFileError(f'{source} is not a tracker export (no "format": "{FORMAT}")')
    version = doc.get("version")
    if version != VERSION or isinstance(version, bool):
        raise ExportFileError(
            f"{source} is a version {shown(version)} export; this tracker reads version {VERSION}"
        )
    exported_at = doc.get("exported_at")
    try:
        decode_value(EXPORTED_AT, exported_at)
    except BadValue:
        raise ExportFileError(
            f'{source}: "exported_at" must be an ISO 8601 time with an offset'
        ) from None
    tables_doc = doc.get("tables")
    if not isinstance(tables_doc, dict):
        raise ExportFileError(f'{source} has no "tables" object; is the file complete?')
    unknown = sorted(set(tables_doc) - set(TABLE_ORDER))
    if unknown:
        raise ExportFileError(
            f"{source} has a table this tracker does not know: {shown(unknown[0])[1:-1]}"
        )
    parsed = ParsedExport({}, source)
    checks = _RowChecks(source, now, parsed.payloads, texts=might_hold_unstorable_text(data))
    for table in tables():
        raw = tables_doc.get(table.name)
        if raw is None and table.name in ADDED_TABLES and table.name not in tables_doc:
            raw = []
        if raw is None:
            raise ExportFileError(f"{source} has no '{table.name}' table; is the file complete?")
        if not isinstance(raw, list):
            raise ExportFileError(f"{source}: '{table.name}' must be a list of rows")
        parsed.rows[table.name] = _decode_rows(table, raw, source, masker, checks)
    parsed.blobs = _decode_blobs(tables_doc.get(BLOBS, []), source, parsed.rows["attachments"])
    _check_unique(parsed)
    return parsed


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _decode_blobs(raw: Any, source: str, attachments: list[dict[str, Any]]) -> dict[str, bytes]:
    """The evidence's bytes: each its SHA-256's, used by an attachment of the file, and,
    read as the attachment it is (a text, an email and its parts, a PDF's pages), free of
    card numbers and security codes: a file edited by hand or written by another tool must
    not bring one into the store. One that holds any refuses the file."""
    if not isinstance(raw, list):
        raise ExportFileError(f"{source}: '{BLOBS}' must be a list of rows")
    names: dict[str, str] = {}
    for row in attachments:
        names.setdefault(row["sha256"], row["filename"])
    found: dict[str, bytes] = {}
    for index, item in enumerate(raw, start=1):
        where = f"{source}: {BLOBS} row {index}"
        if not isinstance(item, dict) or set(item) != {"sha256", "size", "data"}:
            raise ExportFileError(f"{where} must be an object of sha256, size and data")
        digest, size, text = item["sha256"], item["size"], item["data"]
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise ExportFileError(f"{where}: 'sha256' must be 64 lowercase hex digits")
        if not isinstance(text, str):
            raise ExportFileError(f"{where}: 'data' must be base64 text")
        try:
            data = base64.b64decode(text, validate=True)
        except ValueError:
            raise ExportFileError(f"{where}: 'data' is not valid base64") from None
        if evidence.sha256(data) != digest:
            raise ExportFileError(f"{where}: its data does not have the SHA-256 {digest}")
        if size != len(data) or isinstance(size, bool):
            raise ExportFileError(f"{where}: 'size' is not the length of its data")
        if digest in found:
            raise ExportFileError(f"{where}: SHA-256 {digest} is given twice")
        if digest not in names:
            raise ExportFileError(f"{where}: no attachment of the file has SHA-256 {digest}")
        try:
            evidence.check_stored(data, names[digest], what=f"{where} ({names[digest]})")
        except UsageError as exc:
            raise ExportFileError(f"{exc}; nothing was imported") from None
        found[digest] = data
    return found


def _later_columns(table: Table) -> dict[str, Any]:
    """The columns an export by an older tracker may lack, with the value they take: a
    nullable column without a default is NULL (it did not exist then, so nothing was
    known); any other column must be in the file."""
    return {
        c.name: None
        for c in table.columns
        if c.nullable and c.default is None and c.server_default is None and not c.primary_key
    }


def _decode_rows(
    table: Table, raw: list[Any], source: str, masker: Masker, checks: _RowChecks
) -> list[dict[str, Any]]:
    names = [c.name for c in table.columns]
    texts = {c.name for c in table.columns if column_kind(c) in ("str", "json")}
    added = _later_columns(table)
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for index, item in enumerate(raw, start=1):
        where = f"{source}: {table.name} row {index}"
        if not isinstance(item, dict):
            raise ExportFileError(f"{where} is not a JSON object")
        missing = [name for name in names if name not in item and name not in added]
        if missing:
            raise ExportFileError(f"{where} has no '{missing[0]}'")
        item = {**{name: default for name, default in added.items() if name not in item}, **item}
        extra = sorted(set(item) - set(names))
        if extra:
            raise ExportFileError(f"{where} has an unknown column '{shown(extra[0])[1:-1]}'")
        row: dict[str, Any] = {}
        for column in table.columns:
            if _holds_numeric_card(item[column.name]):
                # A number cannot be masked and keep its meaning: the file is refused.
                raise ExportFileError(
                    f"{where}: '{column.name}' holds a number written with the digits of a "
                    "card number; nothing was imported"
                )
            try:
                value = decode_value(column, item[column.name])
                if checks.texts and column.name in texts:
                    check_json_texts(value)
            except BadValue as exc:
                raise ExportFileError(f"{where}: '{column.name}' {exc}") from None
            if column.name in texts:
                value = mask_value(value, masker, field=f"the {table.name} of the file")
            row[column.name] = value
        if row["id"] < 1 or row["id"] in seen:
            raise ExportFileError(f"{where}: id {row['id']} is not a new positive id")
        seen.add(row["id"])
        checks.row(table, row)
        rows.append(row)
    return rows


def _holds_numeric_card(value: Any, depth: int = 0) -> bool:
    """Whether a JSON value holds, at any depth, a number with a card number's digits."""
    if depth > 64:  # the file's nesting is checked (and refused) by the decoder
        return False
    if isinstance(value, dict):
        return any(_holds_numeric_card(item, depth + 1) for item in value.values())
    if isinstance(value, list):
        return any(_holds_numeric_card(item, depth + 1) for item in value)
    return numeric_card(value)


# --------------------------------------------------------------------------- what a value may be

Rule = Callable[[Any, dict[str, Any]], str | None]
"""A column's check: (value, its row) -> what is wrong with it, or None."""


def _one_of(allowed: tuple[str, ...], what: str) -> Rule:
    def rule(value: Any, row: dict[str, Any]) -> str | None:
        if value is None or value in allowed:
            return None
        return f"is not {an(what)} (one of: {', '.join(allowed)})"

    return rule


def _text(limit: int | None = None) -> Rule:
    """Text that must not be blank (when given), at most `limit` characters."""

    def rule(value: Any, row: dict[str, Any]) -> str | None:
        if value is None:
            return None
        if not value.strip():
            return "is empty"
        if limit is not None and len(value) > limit:
            return f"is longer than {limit} characters"
        return None

    return rule


def _as_the_cli(parse: Callable[[str], Any]) -> Rule:
    """A value the CLI's own parser (tracker.values) takes, in the form it stores."""

    def rule(value: Any, row: dict[str, Any]) -> str | None:
        if value is None:
            return None
        try:
            parsed = parse(str(value))
        except UsageError as exc:
            return f"is refused: {exc}"
        if parsed != value:
            return f"is not written the way the CLI writes it ({shown(str(parsed))})"
        return None

    return rule


def _name_key(value: Any, row: dict[str, Any]) -> str | None:
    key = organization_key(row["name"])
    return None if value == key else f"is not the key of the name ({shown(key)})"


def _categories(value: Any, row: dict[str, Any]) -> str | None:
    allowed = (*CATEGORIES, "any")
    words = value.split()
    if words and all(word in allowed for word in words):
        return None
    return f"is not a list of categories (separated by spaces; each one of: {', '.join(allowed)})"


def _currency(value: Any, row: dict[str, Any]) -> str | None:
    if value is not None and row["amount"] is None:
        return "is given without an amount"
    return _as_the_cli(parse_currency)(value, row)


IMPORTABLE_EVENT_TYPES = tuple(t for t in PAYLOADS if t != Imported.TYPES[0])


def _event_type(value: Any, row: dict[str, Any]) -> str | None:
    if value == Imported.TYPES[0]:
        return "is an import's own record, which stays in the store that made it"
    if value not in IMPORTABLE_EVENT_TYPES:
        return f"is not an event type (one of: {', '.join(IMPORTABLE_EVENT_TYPES)})"
    return None


def _hex_digest(value: Any, row: dict[str, Any]) -> str | None:
    return None if _SHA256.fullmatch(value) else "is not a SHA-256 (64 lowercase hex digits)"


def _event_case(value: Any, row: dict[str, Any]) -> str | None:
    if value is None and row["type"] != Undone.TYPES[0]:
        return "is only for an undone event (whose case the undo removed)"
    return None


_RULES: dict[str, dict[str, Rule]] = {
    "organizations": {
        "name": _text(MAX_NAME),
        "name_key": _name_key,
        "country": _as_the_cli(parse_country),
    },
    "contact_points": {
        "kind": _one_of(CONTACT_KINDS, "contact kind"),
        "value": _text(),
        "categories": _categories,
        "level": _one_of(LEVELS, "escalation level"),
    },
    "cases": {
        "title": _text(MAX_TITLE),
        "category": _one_of(CATEGORIES, "category"),
        "status": _one_of(STATUSES, "case status"),
        "escalation_level": _one_of(LEVELS, "escalation level"),
        "account_last4": _as_the_cli(parse_last4),
        "amount": _as_the_cli(parse_amount),
        "currency": _currency,
    },
    "changes": {"command": _text()},
    "interactions": {
        "channel": _one_of(CHANNELS, "channel"),
        "direction": _one_of(DIRECTIONS, "direction"),
    },
    "reference_numbers": {"value": _text(), "kind": _one_of(REFERENCE_KINDS, "reference kind")},
    "promises": {
        "text": _text(),
        "promised_by": _one_of(PROMISE_PARTIES, "promise's party"),
        "status": _one_of(PROMISE_STATUSES, "promise status"),
    },
    "follow_ups": {
        "status": _one_of(FOLLOW_UP_STATUSES, "follow-up status"),
        "again_of": _text(),
    },
    "notes": {"body": _text()},
    "tags": {"tag": _as_the_cli(parse_tag)},
    "attachments": {
        "kind": _one_of(EVIDENCE_KINDS, "kind of evidence"),
        "filename": _text(500),
        "media_type": _text(100),
        "sha256": _hex_digest,
        "original_sha256": _hex_digest,
        "message_id": _text(),
    },
    "events": {"case_id": _event_case, "type": _event_type},
    "reminders": {"key": _text(), "kind": _text(), "claimed_by": _text()},
}


Limits = Callable[["_RowChecks", Any], str | None]


@cache
def _plan(table: Table) -> tuple[tuple[str, Rule | None, Limits | None], ...]:
    """Per column of `table`: its rule (_RULES) and the limits of its kind, worked out once."""
    rules = _RULES.get(table.name, {})
    plan = []
    for column in table.columns:
        kind = column_kind(column)
        limits: Limits | None = None
        if kind == "int":
            is_id = column.primary_key or bool(column.foreign_keys)
            limits = _RowChecks._id if is_id else _RowChecks._count
        elif kind == "datetime":
            limits = _RowChecks._when
        elif kind == "date":
            limits = _RowChecks._date
        plan.append((column.name, rules.get(column.name), limits))
    return tuple(plan)


class _RowChecks:
    """Every value of a decoded row against the vocabulary and the CLI's limits.

    `texts`: also look at every text for what no store can hold (NUL, a lone surrogate);
    needed only when the raw document spells one (:func:`might_hold_unstorable_text`).
    """

    def __init__(
        self, source: str, now: datetime, payloads: dict[int, Payload], *, texts: bool
    ) -> None:
        self.source = source
        self.now = now
        self.payloads = payloads
        self.texts = texts

    def row(self, table: Table, row: dict[str, Any]) -> None:
        for name, rule, limits in _plan(table):
            value = row[name]
            problem = rule(value, row) if rule is not None else None
            if problem is None and limits is not None and value is not None:
                problem = limits(self, value)
            if problem:
                raise self._bad(table.name, row, f"'{name}'", value, problem)
        if table.name == "events":
            self.payloads[row["id"]] = self._payload(row)

    def _id(self, value: int) -> str | None:
        if 1 <= value <= MAX_IMPORTED_ID:
            return None
        return (
            f"is not an id from 1 to {MAX_IMPORTED_ID} (an import leaves the larger ones for "
            "the store's new rows)"
        )

    def _count(self, value: int) -> str | None:
        return None if 0 <= value <= MAX_COUNT else f"is not a whole number from 0 to {MAX_COUNT}"

    def _date(self, value: date) -> str | None:
        return TOO_FAR if abs(value - self.now.date()) > MAX_DISTANCE else None

    def _when(self, value: datetime) -> str | None:
        return TOO_FAR if abs(value - self.now) > MAX_DISTANCE else None

    def _payload(self, row: dict[str, Any]) -> Payload:
        """The event's data read through its type; its times within the CLI's window."""
        try:
            payload = read_payload(row["type"], row["data"])
        except PayloadError as exc:
            raise ExportFileError(
                f"{self.source}: events row id {row['id']}: 'data' does not fit "
                f"{an(row['type'])} event: {exc}"
            ) from None
        times: list[tuple[str, datetime]] = [
            (item.name, value)
            for item in dataclasses.fields(payload)
            for value in [getattr(payload, item.name)]
            if isinstance(value, datetime)
        ]
        for name in ("case_before", "promise_before", "follow_up_before"):
            state = getattr(payload, name, None)
            if state:
                times += [(f"{name}.{key}", value) for key, value in state_times(state)]
        if isinstance(payload, Corrected):  # the old times undo would put back
            times += [
                (f"before.{key}.{column}", datetime.fromisoformat(value))
                for key, columns in payload.before.items()
                for column, value in columns.items()
                if column.endswith("_at") or column == "at"
                if isinstance(value, str)
            ]
        for name, value in times:
            if self._when(value):
                raise self._bad("events", row, f"'data' {name}", value, TOO_FAR)
        return payload

    def _bad(
        self, table: str, row: dict[str, Any], what: str, value: Any, problem: str
    ) -> ExportFileError:
        return ExportFileError(
            f"{self.source}: {table} row id {row['id']}: {what} {shown(value)} {problem}"
        )


# What a store's unique constraints allow once, checked within the file (against the store,
# the insert itself finds a clash: a Conflict).
_UNIQUE = {
    "organizations": ("name_key",),
    "contact_points": ("organization_id", "kind", "value", "region"),
    "reference_numbers": ("case_id", "value"),
    "tags": ("case_id", "tag"),
    "reminders": ("key",),
}


def _check_unique(parsed: ParsedExport) -> None:
    for name, columns in _UNIQUE.items():
        seen: dict[tuple[Any, ...], int] = {}
        for row in parsed.rows[name]:
            key = tuple(row[column] for column in columns)
            if key in seen:
                what = ", ".join(f"'{column}'" for column in columns)
                value = key[0] if len(key) == 1 else list(key)
                raise ExportFileError(
                    f"{parsed.source}: {name} row id {row['id']}: {what} {shown(value)} "
                    f"repeats row id {seen[key]}"
                )
            seen[key] = row["id"]


def _stored_cases(session: Session, table: Table, ids: Iterable[int]) -> dict[int, int | None]:
    """The store's rows with these ids -> the case each is on (None: a table without cases)."""
    owner = table.c.id if table.name == Case.__tablename__ else table.c.get("case_id")
    columns = [table.c.id] if owner is None else [table.c.id, owner]
    found: dict[int, int | None] = {}
    for chunk in chunked(sorted(set(ids)), CHUNK):
        for row in session.execute(select(*columns).where(table.c.id.in_(chunk))):
            found[row[0]] = None if owner is None else row[1]
    return found


def _stored_rows(session: Session, table: Table, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The store's rows with these ids, encoded the way the file's rows are compared."""
    stored: dict[int, dict[str, Any]] = {}
    for chunk in chunked(sorted(set(ids)), CHUNK):
        for row in session.execute(select(table).where(table.c.id.in_(chunk))):
            stored[row.id] = encode_row(table, row)
    return stored


def _describe(ids_by_table: dict[str, list[int]], limit: int = 5) -> str:
    parts = []
    for name, ids in ids_by_table.items():
        first = ", ".join(str(i) for i in ids[:limit])
        more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
        parts.append(f"{name} {first}{more}")
    return "; ".join(parts)


def import_export(
    session: Session, parsed: ParsedExport, *, now: datetime | None = None
) -> ImportResult:
    """Insert the rows the store does not have yet, keeping their ids (see module doc), and
    record them as one change that undo reverts.

    Runs in the caller's transaction; any error leaves the store as it was.
    """
    fresh: dict[str, list[dict[str, Any]]] = {}
    conflicts: dict[str, list[int]] = {}
    result = ImportResult()
    for table in tables():
        rows = parsed.rows[table.name]
        stored = _stored_rows(session, table, (row["id"] for row in rows))
        fresh[table.name] = []
        for row in rows:
            current = stored.get(row["id"])
            if current is None:
                fresh[table.name].append(row)
            elif current == encode_row(table, row):
                result.skipped += 1
            else:
                conflicts.setdefault(table.name, []).append(row["id"])
    if conflicts:
        raise Conflict(
            "the store already has different data under the same ids "
            f"({_describe(conflicts)}); nothing was imported. Import into an empty store "
            "(tracker --db URL import json FILE)"
        )
    _check_references(session, parsed, fresh)
    _put_evidence(session, parsed, fresh["attachments"])
    try:
        for table in tables():
            _insert(session, table, fresh[table.name])
            result.added[table.name] = len(fresh[table.name])
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"the import conflicts with the store ({_reason(exc)}); nothing was imported"
        ) from None
    except DataError as exc:  # what the checks above should have refused already
        raise ExportFileError(
            f"{parsed.source}: a value does not fit the store ({_reason(exc)}); "
            "nothing was imported"
        ) from None
    if session.get_bind().dialect.name == "postgresql":
        reset_sequences(session)
    if result.total_added:
        _record_import(session, parsed.source, fresh, now)
    return result


def _put_evidence(session: Session, parsed: ParsedExport, rows: list[dict[str, Any]]) -> None:
    """Store the bytes of the new attachments (before their rows, as `case attach` does);
    ExportFileError if one has neither its bytes in the file nor in the store."""
    for digest in dict.fromkeys(row["sha256"] for row in rows):
        data = parsed.blobs.get(digest)
        if data is not None:
            evidence.put(session, data, digest)
            continue
        try:
            evidence.blob(session, digest)
        except evidence.EvidenceError:
            raise ExportFileError(
                f"{parsed.source}: the bytes of attachment SHA-256 {digest} are neither in "
                f"the file ('{BLOBS}') nor in the store; nothing was imported"
            ) from None


def _reason(exc: IntegrityError | DataError) -> str:
    return str(exc.orig).splitlines()[0] if exc.orig is not None else "integrity error"


def _record_import(
    session: Session, source: str, fresh: dict[str, list[dict[str, Any]]], now: datetime | None
) -> None:
    """The import's own change and ``imported`` event, after the rows (so after their ids).

    The event has no case: it lists every table's new ids, as ranges (tracker.history).
    """
    source = mask(source)
    rows = {name: id_ranges(row["id"] for row in fresh[name]) for name in ROW_TABLES}
    record = Imported(source=source, rows={name: ranges for name, ranges in rows.items() if ranges})
    log = begin_change(session, f"import json {source}", now=now)
    total = record.total
    session.add(
        Event(
            change=log.change,
            case_id=None,
            at=log.now,
            type=Imported.TYPES[0],
            summary=f"Imported {total} row{'' if total == 1 else 's'} from {source}",
            data=record.to_json(),
        )
    )
    session.flush()


class _Ref(NamedTuple):
    """A new row's reference to another row, and what must hold for it."""

    what: str  # how the message names it: "'change_id'", "'data' created"
    value: Any  # as the message shows it
    table: str
    row_id: int
    case_id: int | None = None  # the case the row must be on, if same_case
    same_case: bool = False
    new_change: bool = False  # must be a change the file adds
    # A row the event's change wrote, which undo of that change removed (a note it added,
    # the contact a correction rewrote and whose own undo followed): gone if reverted.
    undo_removes: bool = False


@cache
def _foreign_keys(table: Table) -> tuple[tuple[str, str, bool, bool], ...]:
    """Per foreign key of `table`: its column, the table it refers to, and whether the row
    referred to must be on the same case (a contact) or a change the file adds (an event's
    change, an undo's mark: on a change of the store they would have undo of that change
    act on what the file says)."""
    return tuple(
        (
            fk.parent.name,
            fk.column.table.name,
            fk.parent.name == "interaction_id",
            fk.column.table.name == Change.__tablename__,
        )
        for fk in sorted(table.foreign_keys, key=lambda fk: fk.parent.name)
    )


def _references(table: Table, row: dict[str, Any], payload: Payload | None) -> list[_Ref]:
    refs = [
        _Ref(f"'{column}'", row[column], target, row[column], row.get("case_id"), same, new)
        for column, target, same, new in _foreign_keys(table)
        if row[column] is not None
    ]
    if payload is None:
        return refs
    case_id = row["case_id"]
    if payload.created is not None:
        kind, row_id = payload.created
        refs.append(
            _Ref("'data' created", list(payload.created), kind, row_id, case_id, True, False, True)
        )
    if isinstance(payload, PromiseMade | PromiseMarked):
        promise = payload.promise_id
        refs.append(_Ref("'data' promise_id", promise, "promises", promise, case_id, True))
    if isinstance(payload, FollowUpSet | FollowUpMarked):
        follow_up = payload.follow_up_id
        refs.append(_Ref("'data' follow_up_id", follow_up, "follow_ups", follow_up, case_id, True))
    if isinstance(payload, Opened) and payload.created_organization is not None:
        org = payload.created_organization
        refs.append(_Ref("'data' created_organization", org, "organizations", org))
    if isinstance(payload, Undone):
        change = payload.reverted_change
        refs.append(_Ref("'data' reverted_change", change, "changes", change))
    if isinstance(payload, Corrected):
        refs += _correction_references(payload, case_id)
    return refs


def _correction_references(payload: Corrected, case_id: int | None) -> list[_Ref]:
    """A correction names its entry, the rows it wrote (undo writes them back) and the
    event it supersedes: all on its own case."""
    table = CORRECTION_TARGETS[payload.target]
    target = payload.target_id
    refs = [_Ref("'data' target_id", target, table, target, case_id, True, undo_removes=True)]
    for name, row_id in payload.rows():
        where = f"{name}:{row_id}"
        refs.append(_Ref("'data' before", where, name, row_id, case_id, True, undo_removes=True))
    if payload.supersedes is not None:
        event = payload.supersedes
        refs.append(_Ref("'data' supersedes", event, "events", event, case_id, True))
    if payload.created_organization is not None:
        org = payload.created_organization
        refs.append(
            _Ref("'data' created_organization", org, "organizations", org, undo_removes=True)
        )
    return refs


def _check_references(
    session: Session, parsed: ParsedExport, fresh: dict[str, list[dict[str, Any]]]
) -> None:
    """Every reference in a new row points at a row in the file or in the store, on the right
    case; the first new row (in file order) that fails refuses the file.

    The references are the schema's foreign keys and the rows an event's payload names (its
    ``created``, promise, follow-up, organization, reverted change). An event and a change's
    ``reverted_by_id`` must name a change the file adds.
    """
    in_file = {name: {row["id"]: row for row in rows} for name, rows in parsed.rows.items()}
    new_changes = {row["id"] for row in fresh[Change.__tablename__]}
    found: list[tuple[str, dict[str, Any], list[_Ref]]] = []
    wanted: dict[str, set[int]] = {name: set() for name in ROW_TABLES}
    for table in tables():
        for row in fresh[table.name]:
            payload = parsed.payloads.get(row["id"]) if table.name == "events" else None
            refs = _references(table, row, payload)
            for ref in refs:
                if ref.row_id not in in_file[ref.table]:
                    wanted[ref.table].add(ref.row_id)
            found.append((table.name, row, refs))
    t = Base.metadata.tables
    stored = {name: _stored_cases(session, t[name], ids) for name, ids in wanted.items()}

    changes = in_file[Change.__tablename__]
    # Rows a later event of the file took away for good (a tag taken off: untagged), which
    # the event that made them still names.
    taken_off = {
        ("tags", payload.tag_id)
        for payload in parsed.payloads.values()
        if isinstance(payload, Untagged)
    }
    for table_name, row, refs in found:
        # An event of a change undo reverted may name rows that undo removed (_Ref).
        change = changes.get(row["change_id"]) if table_name == Event.__tablename__ else None
        reverted = change is not None and change.get("reverted_by_id") is not None
        for ref in refs:
            file_row = in_file[ref.table].get(ref.row_id)
            if file_row is not None:
                exists = True
                case_id = ref.row_id if ref.table == Case.__tablename__ else file_row.get("case_id")
            else:
                exists = ref.row_id in stored[ref.table]
                case_id = stored[ref.table].get(ref.row_id)
            if not exists and reverted and ref.undo_removes:
                continue
            if not exists and ref.undo_removes and (ref.table, ref.row_id) in taken_off:
                continue
            if not exists:
                problem = "which is neither in the file nor in the store"
            elif ref.new_change and ref.row_id not in new_changes:
                problem = (
                    "a change already in the store: what an import adds belongs to the "
                    "changes it adds"
                )
            elif ref.same_case and case_id != ref.case_id:
                problem = f"which is on case {case_id}, not case {ref.case_id}"
            else:
                continue
            value = "" if ref.value == ref.row_id else f" {shown(ref.value)}"
            raise ExportFileError(
                f"{parsed.source}: {table_name} row id {row['id']}: {ref.what}{value} refers "
                f"to {ref.table} {ref.row_id}, {problem}"
            )


def _insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    # changes.reverted_by_id may point at a later change: insert NULL, then fill it in.
    self_refs = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
    for chunk in chunked(rows, CHUNK):
        session.execute(insert(table), [{**row, **dict.fromkeys(self_refs)} for row in chunk])
    for name in self_refs:
        pairs = [{"b_id": row["id"], "b_ref": row[name]} for row in rows if row[name] is not None]
        stmt = (
            update(table).where(table.c.id == bindparam("b_id")).values({name: bindparam("b_ref")})
        )
        for chunk in chunked(pairs, CHUNK):
            session.execute(stmt, chunk)


def reset_sequences(session: Session) -> None:
    """After rows went in with explicit ids, make PostgreSQL's next id follow the largest.

    SQLite needs nothing: a new rowid is always max(rowid) + 1.
    """
    for table in tables():
        # Table names come from our own metadata, never from the file.
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
        )
