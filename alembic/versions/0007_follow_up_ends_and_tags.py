"""Follow-ups have an end (done, cancelled, snoozed), and cases have tags.

* follow_ups.status_at: when it was last marked done, cancelled or snoozed.
* follow_ups.snoozed_from: the due time it had before its last snooze.
* follow_ups.again_of: the reminder a follow-up brings back (`tracker snooze CASE WHEN` on
  an overdue promise or a threshold records a follow-up saying what it reminds of), by the
  reminder's key ("promise:3:overdue").
* tags: (case_id, tag), unique; a tag is normalised by tracker.tags.

Every new column is nullable, so existing rows need nothing. Downgrade drops the tags and
the columns; a follow-up marked done becomes cancelled (the older code knows no "done":
for it as for us, its reminder is over). The events the new commands wrote stay in the
history; the older code shows them without their details, and its undo refuses to act on
one rather than guess.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("again_of", sa.String(200), nullable=True),
    ]


follow_ups = sa.table("follow_ups", sa.column("status", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("follow_ups") as batch:
        for column in _columns():
            batch.add_column(column)
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_tags_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("case_id", "tag", name=op.f("uq_tags_case_id_tag")),
        sqlite_autoincrement=True,  # as every table (0002): an id is never handed out twice
    )
    op.create_index(op.f("ix_tags_tag"), "tags", ["tag"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tags_tag"), table_name="tags")
    op.drop_table("tags")
    op.get_bind().execute(
        follow_ups.update().where(follow_ups.c.status == "done").values(status="cancelled")
    )
    with op.batch_alter_table("follow_ups") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
