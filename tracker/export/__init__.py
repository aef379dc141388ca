"""`tracker export` and `tracker import`: one module per format, and what they share.

- :mod:`tracker.export.csv`: the history, one row per event (docs/contract.md, "CSV history").
- :mod:`tracker.export.json`: the whole store (or one case) as a tracker-export document,
  and reading one back (`tracker import json`).
- :mod:`tracker.export.ics`: pending follow-ups and promises as an iCalendar file.

The writers stream: rows come from the database in keyset-paginated batches and go out
one at a time, so memory stays flat however long the history is. They take a binary
stream and write UTF-8; framing the file (0600, atomic rename) is the caller's.

This module holds what more than one format needs, and imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tracker.errors import NotFound
from tracker.models import Case

BATCH_SIZE = 1000

Progress = Callable[[int], None]
"""Called with the number of rows just written (for a progress bar)."""


def use_snapshot(session: Session) -> None:
    """Make everything this transaction reads one consistent state of the store.

    Call it before the transaction's first query. An export reads in many batches while the
    daemon may be writing. SQLite's read transaction is a snapshot already; PostgreSQL's
    default (READ COMMITTED) would let a later batch see an event whose change was
    committed after the changes table was read, and the file would not import.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))


def require_case(session: Session, case_id: int | None) -> None:
    """NotFound unless the case an export is limited to (--case) exists; None: no limit."""
    if case_id is not None and session.scalar(select(Case.id).where(Case.id == case_id)) is None:
        raise NotFound(f"no case {case_id}")


def chunked(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
