"""A contact can be a draft: `tracker call` saves each answer as it is typed.

The interaction is written when the call starts, with draft set, and filled in answer by
answer; finishing the call clears the flag. A draft left by a closed terminal or a killed
process is what the next `tracker call` offers to finish and `case show` flags. The column
is NULL for every finished contact, the ones stored before included, so an export written
before this revision imports unchanged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from tracker import search

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN, no table rebuild: the search triggers on interactions stay.
    op.add_column("interactions", sa.Column("draft", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("draft")
    # On SQLite the batch rebuilt the table, which drops its triggers.
    search.install_triggers(op.get_bind())
