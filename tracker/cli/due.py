"""`tracker due` and `tracker undo`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from tracker.cli.common import DURATION, emit_json, json_option, stdout_is_tty, store
from tracker.models import utcnow


@click.command()
@click.option(
    "--within",
    type=DURATION,
    default="7d",
    show_default=True,
    metavar="DUR",
    help="Also list what falls due within this time.",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Escalation policy file laid over the built-in policies "
    "(default: policy.toml in the config folder, if any).",
)
@json_option
def due(within: timedelta, policy_file: Path | None, as_json: bool) -> None:
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
    from tracker.due import due_items
    from tracker.policy import load_policies

    policies = load_policies(policy_file)
    now = utcnow()
    with store().read() as session:
        items = due_items(session, now, within, policies=policies)
    if as_json:
        from tracker.serialize import iso

        emit_json(
            [
                {
                    "kind": item.kind,
                    "case_id": item.case_id,
                    "case_title": item.case_title,
                    "organization": item.organization,
                    "due_at": iso(item.due_at),
                    "overdue": item.overdue(now),
                    "text": item.text,
                    "id": item.item_id,
                    "suggestion": item.suggestion,
                }
                for item in items
            ]
        )
        return
    if not items:
        click.echo("Nothing due.")
        return
    from tracker.render import due_table

    click.echo(due_table(items, now, aligned=stdout_is_tty()))


@click.command()
def undo() -> None:
    """Revert the last change (and say what it was). Undo twice reverts two changes.

    \b
    Example:
      tracker undo
    """
    from tracker.cases import undo as undo_last

    with store().write() as session:
        what = undo_last(session)
    click.echo(f"Undid {what}")
