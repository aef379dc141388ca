"""`tracker promise kept|broken|cancel ID`."""

from __future__ import annotations

import click

from tracker.cli.common import PROMISE_ID, store


@click.group()
def promise() -> None:
    """Mark what became of a promise.

    \b
    Examples:
      tracker promise kept 1
      tracker promise broken 2
      tracker promise cancel 3
    """


def _mark(promise_id: int, state: str) -> None:
    from tracker.cases import set_promise_status

    with store().write() as session:
        marked = set_promise_status(session, promise_id, state)
        case_id, status = marked.case_id, marked.case.status
    click.echo(f"Promise {promise_id} marked {marked.status}; case {case_id} is {status}.")


@promise.command()
@click.argument("promise_id", type=PROMISE_ID, metavar="PROMISE_ID")
def kept(promise_id: int) -> None:
    """The promise was kept.

    \b
    Example:
      tracker promise kept 1
    """
    _mark(promise_id, "kept")


@promise.command()
@click.argument("promise_id", type=PROMISE_ID, metavar="PROMISE_ID")
def broken(promise_id: int) -> None:
    """The promise was broken: its due time passed and it was not kept.

    \b
    Example:
      tracker promise broken 2
    """
    _mark(promise_id, "broken")


@promise.command()
@click.argument("promise_id", type=PROMISE_ID, metavar="PROMISE_ID")
def cancel(promise_id: int) -> None:
    """The promise no longer applies.

    \b
    Example:
      tracker promise cancel 3
    """
    _mark(promise_id, "cancel")
