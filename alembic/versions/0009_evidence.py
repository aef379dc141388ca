"""Evidence: files attached to a case (statements, receipts, transcripts, emails, letters).

* attachments: one row per file attached to a case (or to one of its interactions), with its
  kind, name, media type, size, the SHA-256 of the stored copy and of the original (they
  differ when card numbers were masked out of a text), how many were masked, and for an
  email its Message-ID (`tracker import email` skips a message already recorded).
* attachment_blobs: the bytes by SHA-256, used on PostgreSQL (a shared store shares its
  evidence); a SQLite store keeps them as files in a folder beside the database.

Downgrade drops both tables: the older code knows no evidence. On SQLite the files beside
the store stay where they are.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 05:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("masked", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_attachments_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_attachments_interaction_id_interactions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sqlite_autoincrement=True,  # as every table with an id (0002)
    )
    op.create_index(op.f("ix_attachments_case_id"), "attachments", ["case_id"])
    op.create_index(op.f("ix_attachments_interaction_id"), "attachments", ["interaction_id"])
    op.create_index(op.f("ix_attachments_sha256"), "attachments", ["sha256"])
    op.create_index(op.f("ix_attachments_message_id"), "attachments", ["message_id"])
    op.create_table(
        "attachment_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_attachment_blobs")),
    )


def downgrade() -> None:
    op.drop_table("attachment_blobs")
    op.drop_index(op.f("ix_attachments_message_id"), table_name="attachments")
    op.drop_index(op.f("ix_attachments_sha256"), table_name="attachments")
    op.drop_index(op.f("ix_attachments_interaction_id"), table_name="attachments")
    op.drop_index(op.f("ix_attachments_case_id"), table_name="attachments")
    op.drop_table("attachments")
