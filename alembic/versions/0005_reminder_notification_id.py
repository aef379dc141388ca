"""A shown reminder keeps the notification server's id: reminders.notification_id.

The desktop notifier counts a reminder as shown only when the notification server accepted
it and answered with its id; that id is recorded with the claim (NULL for a notifier that
has none, such as the console, and for the reminders shown before this revision).
Downgrade drops the column again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reminders", sa.Column("notification_id", sa.String(length=100), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE on both backends (SQLite 3.35+): a batch rebuild would drop the
    # table's AUTOINCREMENT (0002).
    op.execute("ALTER TABLE reminders DROP COLUMN notification_id")
