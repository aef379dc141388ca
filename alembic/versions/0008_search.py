"""Full-text search: the index and the triggers that keep it in step.

One table of documents (search_docs: a case's title, a note, a contact's summary, a
reference number...), an FTS5 table over it on SQLite, a generated tsvector column with a
GIN index on PostgreSQL, and triggers on every source table, so that every write (a
command, an import, an undo, a correction) updates the index in its own transaction.
Upgrade fills the index from the rows already stored; downgrade drops all of it. What is
indexed, and the statements, are in tracker.search (SOURCES, install, uninstall).

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from tracker import search

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    search.install(op.get_bind())


def downgrade() -> None:
    search.uninstall(op.get_bind())
