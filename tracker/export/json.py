"""The tracker-export JSON format: `tracker export json` writes it, `tracker import json`
reads it back.

The codec (:func:`encode_value` / :func:`decode_value`) is driven by the schema's column
types, so the writer and the reader follow the schema without a list of columns to keep
in step.

Writing streams, one row per line (:func:`write_json_export`). Reading happens in two
steps. :func:`parse_export` checks the whole document (format, version, every table, every
column's type) without touching the store, so a bad or truncated file is refused before
anything is opened for writing. :func:`import_export` then runs in the caller's one
transaction: rows whose id is already in the store with the same content are skipped
(importing a file twice adds nothing), a row whose id is taken by different content
refuses the whole import, and new rows keep their ids. Keeping ids is what carries the
history over intact: undo's bookkeeping, the reminders already shown (so nothing fires
twice after a move) and the calendar UIDs all name rows by id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, BinaryIO

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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.errors import Conflict, UsageError
from tracker.export import BATCH_SIZE, Progress, chunked
from tracker.models import Base, Case, Change, DecimalText, Event, UTCDateTime
from tracker.redact import Masker

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


# --------------------------------------------------------------------------- JSON import

CHUNK = 500  # rows per INSERT batch and ids per IN (...) lookup
EXPORTED_AT: Column[datetime] = Column("exported_at", UTCDateTime(), nullable=False)


class ExportFileError(UsageError):
    """The file is not a complete, valid tracker export. Exit 2; nothing is written."""


@dataclass
class ParsedExport:
    """A checked export: per table, its rows with Python values, in file order."""

    rows: dict[str, list[dict[str, Any]]]
    source: str

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


def parse_export(data: bytes | str, source: str, masker: Masker | None = None) -> ParsedExport:
    """Check and decode a whole export document; ExportFileError says what is wrong.

    Texts are masked the way the services mask what the user types: a file edited by hand
    or written by another tool must not bring a card number into the store.
    """
    masker = masker or Masker()
    try:
        doc = json.loads(data)
    except UnicodeDecodeError:
        raise ExportFileError(f"{source} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ExportFileError(
            f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "is the file complete?"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ExportFileError(f'{source} is not a tracker export (no "format": "{FORMAT}")')
    version = doc.get("version")
    if version != VERSION or isinstance(version, bool):
        raise ExportFileError(
            f"{source} is a version {json.dumps(version)} export; "
            f"this tracker reads version {VERSION}"
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
        raise ExportFileError(f"{source} has a table this tracker does not know: {unknown[0]}")
    parsed: dict[str, list[dict[str, Any]]] = {}
    for table in tables():
        raw = tables_doc.get(table.name)
        if raw is None:
            raise ExportFileError(f"{source} has no '{table.name}' table; is the file complete?")
        if not isinstance(raw, list):
            raise ExportFileError(f"{source}: '{table.name}' must be a list of rows")
        parsed[table.name] = _decode_rows(table, raw, source, masker)
    return ParsedExport(parsed, source)


def _decode_rows(table: Table, raw: list[Any], source: str, masker: Masker) -> list[dict[str, Any]]:
    names = [c.name for c in table.columns]
    texts = {c.name for c in table.columns if column_kind(c) in ("str", "json")}
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for index, item in enumerate(raw, start=1):
        where = f"{source}: {table.name} row {index}"
        if not isinstance(item, dict):
            raise ExportFileError(f"{where} is not a JSON object")
        missing = [name for name in names if name not in item]
        if missing:
            raise ExportFileError(f"{where} has no '{missing[0]}'")
        extra = sorted(set(item) - set(names))
        if extra:
            raise ExportFileError(f"{where} has an unknown column '{extra[0]}'")
        row: dict[str, Any] = {}
        for column in table.columns:
            try:
                value = decode_value(column, item[column.name])
            except BadValue as exc:
                raise ExportFileError(f"{where}: '{column.name}' {exc}") from None
            row[column.name] = _masked(value, masker) if column.name in texts else value
        if row["id"] < 1 or row["id"] in seen:
            raise ExportFileError(f"{where}: id {row['id']} is not a new positive id")
        seen.add(row["id"])
        rows.append(row)
    return rows


def _masked(value: Any, masker: Masker) -> Any:
    if isinstance(value, str):
        return masker(value)
    if isinstance(value, dict):
        return {key: _masked(item, masker) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, masker) for item in value]
    return value


def _stored_ids(session: Session, table: Table, ids: Iterable[int]) -> set[int]:
    found: set[int] = set()
    for chunk in chunked(sorted(set(ids)), CHUNK):
        found.update(session.scalars(select(table.c.id).where(table.c.id.in_(chunk))))
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
        shown = ", ".join(str(i) for i in ids[:limit])
        more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
        parts.append(f"{name} {shown}{more}")
    return "; ".join(parts)


def import_export(session: Session, parsed: ParsedExport) -> ImportResult:
    """Insert the rows the store does not have yet, keeping their ids (see module doc).

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
    try:
        for table in tables():
            _insert(session, table, fresh[table.name])
            result.added[table.name] = len(fresh[table.name])
        session.flush()
    except IntegrityError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "integrity error"
        raise Conflict(
            f"the import conflicts with the store ({reason}); nothing was imported"
        ) from None
    if session.get_bind().dialect.name == "postgresql":
        reset_sequences(session)
    return result


def _check_references(
    session: Session, parsed: ParsedExport, fresh: dict[str, list[dict[str, Any]]]
) -> None:
    """Every reference in a new row points at a row in the file or in the store."""
    in_file = {name: {row["id"] for row in rows} for name, rows in parsed.rows.items()}
    for table in tables():
        for fk in sorted(table.foreign_keys, key=lambda fk: fk.parent.name):
            column, target = fk.parent.name, fk.column.table
            wanted = {
                row[column]: row["id"] for row in fresh[table.name] if row[column] is not None
            }
            outside = set(wanted) - in_file[target.name]
            missing = outside - _stored_ids(session, target, outside)
            if missing:
                value = min(missing)
                raise ExportFileError(
                    f"{parsed.source}: {table.name} row id {wanted[value]}: '{column}' refers "
                    f"to {target.name} {value}, which is neither in the file nor in the store"
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
