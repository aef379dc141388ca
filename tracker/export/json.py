"""`tracker export json`: the whole store (or one case) as a tracker-export document.

The JSON codec (:func:`encode_value` / :func:`decode_value`) is driven by the schema's
column types, so the export and :mod:`tracker.importer` follow the schema without a list of
columns to keep in step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    func,
    select,
)
from sqlalchemy.orm import Session

from tracker.export import BATCH_SIZE, Progress
from tracker.models import Base, Case, Change, DecimalText, Event, UTCDateTime

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
