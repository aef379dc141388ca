"""`tracker due` and `tracker undo`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from tracker.cli.common import DURATION, policy_option, store, view_option
from tracker.due import due_items
from tracker.history import undo as undo_last
from tracker.models import utcnow
from tracker.policy import load_policies
from tracker.views import View


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
def undo() -> None:
    """Revert the last change (and say what it was). Undo twice reverts two changes.

    \b
    Example:
      tracker undo
    """
    with store().write() as session:
        what = undo_last(session)
    click.echo(f"Undid {what}")
