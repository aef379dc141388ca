"""Clocks that match the world: a promise's window and calendar, a case abroad, a
subdivision for an organization's holidays.

* promises.window_start: a promise given as a range ("7-10 business days") is due at the
  end of it; the start is kept so that `case show` can say "expected from ..., due by ...".
* promises.calendar: the holiday calendar its business days were counted on ("US",
  "GB-ENG", "weekdays"), so `case show` can say which.
* cases.abroad: the user is abroad for this case (true), not (false), or unknown (NULL:
  the user's country in the config file decides).
* organizations.subdivision: the part of the country (ISO 3166-2, e.g. SCT) whose public
  holidays count.

Every new column is nullable, so existing rows need nothing; downgrade drops them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("promises", sa.Column("window_start", sa.DateTime(timezone=True), nullable=True)),
    ("promises", sa.Column("calendar", sa.String(20), nullable=True)),
    ("cases", sa.Column("abroad", sa.Boolean(), nullable=True)),
    ("organizations", sa.Column("subdivision", sa.String(10), nullable=True)),
)


def upgrade() -> None:
    for table, column in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(column)


def downgrade() -> None:
    for table, column in reversed(COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column.name)
