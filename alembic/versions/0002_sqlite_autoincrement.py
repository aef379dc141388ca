"""Never reuse an id on SQLite: AUTOINCREMENT on every table.

Without it SQLite hands out the id of the last row again once that row is deleted (as
`tracker undo` does), so "case 3" in a user's notes, a calendar UID or a reminder claim
could come to mean another case. PostgreSQL sequences never reuse ids: nothing to do there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "organizations",
    "contact_points",
    "cases",
    "interactions",
    "reference_numbers",
    "promises",
    "follow_ups",
    "notes",
    "changes",
    "events",
    "reminders",
)


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # A batch rebuild copies each table into a new one; tracker's migration connection has
    # foreign keys off, so dropping the old table cascades nowhere.
    for name in TABLES:
        with op.batch_alter_table(
            name, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
