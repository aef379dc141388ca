"""`tracker promise kept|broken|cancel ID`."""

from __future__ import annotations

import click

from tracker.cases import set_promise_status
from tracker.cli.common import PROMISE_ID, change, write_command

# command -> (the state it sets, its help)
MARKS = {
    "kept": ("kept", "The promise was kept."),
    "broken": ("broken", "The promise was broken: its due time passed and it was not kept."),
    "cancel": ("cancel", "The promise no longer applies."),
}


@click.group()
def promise() -> None:
    """Mark what became of a promise.

    \b
    Examples:
      tracker promise kept 1
      tracker promise broken 2
      tracker promise cancel 3
    """


def _mark_command(name: str, state: str, summary: str) -> click.Command:
    @promise.command(name, help=f"{summary}\n\n\b\nExample:\n  tracker promise {name} 1")
    @click.argument("promise_id", type=PROMISE_ID, metavar="PROMISE_ID")
    @write_command
    def mark(promise_id: int) -> None:
        with change() as session:
            marked = set_promise_status(session, promise_id, state)
            case_id, status = marked.case_id, marked.case.status
        click.echo(f"Promise {promise_id} marked {marked.status}; case {case_id} is {status}.")

    return mark


for _name, (_state, _summary) in MARKS.items():
    _mark_command(_name, _state, _summary)
