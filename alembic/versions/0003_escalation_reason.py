"""Escalation events carry their reason in the payload, not only inside the summary.

Letters used to recover the reason of an escalation by parsing the summary text that
`case escalate` wrote ("Escalated from frontline to supervisor: <reason>"). The payload now
has a `reason` field; this fills it in for the events written before, from that same text.
Downgrade removes the field again (the summary still holds the text).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

events = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("type", sa.String),
    sa.column("summary", sa.Text),
    sa.column("data", sa.JSON),
)


def _escalations() -> list[sa.Row[tuple[int, str, dict[str, object]]]]:
    return list(
        op.get_bind().execute(
            sa.select(events.c.id, events.c.summary, events.c.data).where(
                events.c.type == "escalated"
            )
        )
    )


def upgrade() -> None:
    bind = op.get_bind()
    for event_id, summary, data in _escalations():
        if not isinstance(data, dict) or "reason" in data:
            continue
        prefix = f"Escalated from {data.get('previous_level')} to {data.get('level')}: "
        if summary.startswith(prefix) and summary[len(prefix) :].strip():
            changed = {**data, "reason": summary[len(prefix) :]}
            bind.execute(events.update().where(events.c.id == event_id).values(data=changed))


def downgrade() -> None:
    bind = op.get_bind()
    for event_id, _summary, data in _escalations():
        if isinstance(data, dict) and "reason" in data:
            changed = {k: v for k, v in data.items() if k != "reason"}
            bind.execute(events.update().where(events.c.id == event_id).values(data=changed))
