"""`tracker due` and `tracker undo`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from tracker.cli.common import (
    DURATION,
    change,
    policy_option,
    store,
    view_option,
    write_command,
    write_report,
)
from tracker.due import due_items
from tracker.errors import DatabaseBusy
from tracker.evidence import remove_unused_files
from tracker.history import UNUSED_EVIDENCE
from tracker.history import undo as undo_last
from tracker.models import Change, utcnow
from tracker.policy import load_policies
from tracker.views import View
from tracker.written import changes_made

DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected


@click.command()
@click.option(
    "--within",
    type=DURATION,
    default="7d",
    show_default=True,
    metavar="DUR",
    help="Also list what falls due within this time.",
)
@policy_option
@view_option
def due(within: timedelta, policy_file: Path | None, view: View) -> None:
    """What is due or overdue across active cases, soonest first.

    Follow-ups, the company's promises and your own, and crossed escalation thresholds
    (with the next step they suggest), with the case and how late or how soon.

    \b
    Examples:
      tracker due
      tracker due --within 2w
      tracker due --policy ~/my-policy.toml
      tracker due --json
    """
    policies = load_policies(policy_file)
    now = utcnow()
    with store().read() as session:
        items = due_items(session, now, within, policies=policies)
    view.due(items, now)


@click.command()
@write_command
def undo() -> None:
    """Revert the last change (and say what it was). Undo twice reverts two changes.

    A change is one command: a case opened with its note and follow-up, a contact with its
    references and promise, a whole `tracker import json`.

    \b
    Example:
      tracker undo
    """
    try:
        with change() as session:
            what = undo_last(session)
            (made,) = changes_made(session)
            reverted = session.scalar(select(Change.id).where(Change.reverted_by_id == made.id))
        # On SQLite the files of evidence no attachment uses any more go once it is committed.
        remove_unused_files(store(), session.info.get(UNUSED_EVIDENCE, ()))
    except OperationalError as exc:
        # PostgreSQL broke a lock cycle with a concurrent command by rolling this one back.
        if getattr(exc.orig, "sqlstate", None) == DEADLOCK:
            raise DatabaseBusy() from None
        raise
    click.echo(f"Undid {what}")
    write_report().add(summary=f"Undid {what}", reverted_change_id=reverted)
