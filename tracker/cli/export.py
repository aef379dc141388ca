"""`tracker export csv|json|ics` and `tracker import json`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import BinaryIO

import click

from tracker.cli.common import (
    CASE_ID,
    WHEN,
    change,
    output_option,
    store,
    warn,
    write_command,
    write_report,
)
from tracker.export import Progress, require_case, use_snapshot
from tracker.export.csv import count_history, write_history_csv
from tracker.export.ics import write_ics
from tracker.export.json import count_store_rows, import_export, parse_export, write_json_export
from tracker.files import open_output
from tracker.models import utcnow
from tracker.redact import Masker

# Fewer rows than this export in a blink: no progress bar.
PROGRESS_MIN_ROWS = 5000

CASE_OPTION = click.option(
    "--case", "case_id", type=CASE_ID, metavar="CASE", help="Only this case."
)
OUTPUT_HELP = "Write to FILE (created 0600, replaced whole or not at all); default or '-': stdout."


@click.group()
def export() -> None:
    """Export the history as CSV, the whole store as JSON, or what is due as iCalendar.

    \b
    Examples:
      tracker export csv > history.csv
      tracker export csv --case 1 -o case1.csv
      tracker export csv --since 2026-01-01 -o 2026.csv
      tracker export json -o backup.json
      tracker export ics -o follow-ups.ics
    """


def _output(path: str) -> AbstractContextManager[BinaryIO]:
    """Where -o goes: '-' stdout, a device or FIFO in place, a file atomically (0600)."""
    return open_output(path)


@contextmanager
def _progress(output: str, count: Callable[[], int], label: str) -> Iterator[Progress | None]:
    """A progress bar on stderr for a long export to a file, when stderr is a terminal.

    Never for stdout: the bar would mix with the data on a terminal, and a pipe gets
    exactly the data. The count is asked for only when a bar could be shown.
    """
    if output == "-" or not _stderr_is_tty():
        yield None
        return
    total = count()
    if total < PROGRESS_MIN_ROWS:
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def _done(output: str, message: str) -> None:
    if output != "-":
        click.echo(message, err=True)


@export.command("csv")
@CASE_OPTION
@click.option("--since", type=WHEN, metavar="WHEN", help="Only events at or after WHEN.")
@click.option(
    "--bom",
    is_flag=True,
    help="Start with a UTF-8 byte order mark, so that Excel on Windows reads the file as UTF-8.",
)
@output_option(OUTPUT_HELP)
def csv_(case_id: int | None, since: datetime | None, bom: bool, output: str) -> None:
    """Every case's history as CSV: one row per event, oldest first.

    \b
    Columns: case_id, case_title, organization, category, event_at, event_type,
    channel, agent, reference, summary, due_at, promise_status, text, direction, via,
    agent_id, duration_seconds, amount, currency, case_status, undone, event_id.

    summary is the history's one line; text is the whole of what the event wrote (a
    note, a contact's summary, a promise, a follow-up), line breaks and all. direction,
    via, agent_id and duration_seconds are a contact's; amount, currency and
    case_status are the case's, as it is now. undone is true for an event that
    `tracker undo` reverted; when the undo removed what the event wrote, text is the
    summary, all that is left.

    UTF-8, RFC 4180 quoting (a line break stays inside its quoted cell), CRLF line
    ends, times in UTC. Any text cell starting with = + - @ (or a tab or CR) gets a
    leading ' so that a spreadsheet never runs it as a formula.

    \b
    Examples:
      tracker export csv > history.csv
      tracker export csv --case 1 -o case1.csv
      tracker export csv --since 2026-01-01 -o 2026.csv
      tracker export csv --bom -o history.csv     # for Excel on Windows
    """
    with store().read() as session:
        use_snapshot(session)
        require_case(session, case_id)
        with (
            _progress(
                output,
                lambda: count_history(session, case_id=case_id, since=since),
                "Exporting events",
            ) as progress,
            _output(output) as stream,
        ):
            count = write_history_csv(
                session, stream, case_id=case_id, since=since, progress=progress, bom=bom
            )
    _done(output, f"Exported {count} event{'s' if count != 1 else ''} to {output}.")


@export.command("json")
@CASE_OPTION
@output_option(OUTPUT_HELP)
def json_(case_id: int | None, output: str) -> None:
    """The whole store (or one case) as JSON: every table, exact values, ids kept.

    `tracker import json FILE` restores it, into an empty store or another machine's
    (also the way from a SQLite store to a PostgreSQL one).

    \b
    Examples:
      tracker export json -o backup.json
      tracker export json --case 3 -o case3.json
      tracker --db postgresql+psycopg://me@host/tracker import json backup.json
    """
    with store().read() as session:
        use_snapshot(session)
        require_case(session, case_id)
        with (
            _progress(
                output, lambda: count_store_rows(session, case_id=case_id), "Exporting rows"
            ) as progress,
            _output(output) as stream,
        ):
            counts = write_json_export(
                session, stream, now=utcnow(), case_id=case_id, progress=progress
            )
    total = sum(counts.values())
    _done(output, f"Exported {total} rows ({counts['cases']} cases) to {output}.")


@export.command("ics")
@CASE_OPTION
@click.option("--since", type=WHEN, metavar="WHEN", help="Only what is due at or after WHEN.")
@output_option(OUTPUT_HELP)
def ics(case_id: int | None, since: datetime | None, output: str) -> None:
    """Follow-ups and promises as an iCalendar file; pending ones with an alarm.

    Pending ones on active cases (as in `tracker due`) have an alarm at their due time.
    Exporting again gives the same UIDs, so a calendar that imports the new file updates
    its events instead of doubling them; one no longer pending (kept, broken, cancelled,
    done, or on a resolved or closed case) comes again with a higher SEQUENCE as
    STATUS:CANCELLED, without its alarm, while it was due at most 30 days before the
    store's last change (--since WHEN: everything due from WHEN on). Descriptions give
    times in your zone.

    \b
    Examples:
      tracker export ics -o follow-ups.ics
      tracker export ics --case 1 > case1.ics
    """
    with store().read() as session:
        use_snapshot(session)
        require_case(session, case_id)
        with _output(output) as stream:
            counts = write_ics(session, stream, case_id=case_id, since=since)
    count = counts.events
    ended = f" ({counts.cancelled} no longer pending, cancelled)" if counts.cancelled else ""
    _done(output, f"Exported {count} calendar event{'s' if count != 1 else ''}{ended} to {output}.")


@click.group("import")
def import_() -> None:
    """Import a JSON export (from `tracker export json`), or emails.

    \b
    Examples:
      tracker import json backup.json
      tracker import email refund-promise.eml
    """


@import_.command("json")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@write_command
def import_json(file: str) -> None:
    """Restore a JSON export: ids, history, promises and the reminders already shown.

    Into an empty store it recreates everything as it was. Rows already in the store with
    the same content are skipped, so importing a file twice adds nothing; a row whose id
    holds something else refuses the whole import. Every value is checked first (the
    vocabulary, the CLI's limits, each event against its type, the references between
    rows): a bad or incomplete file is refused with the first bad row, and nothing is
    written. Either everything is imported or nothing is. The import is one change:
    `tracker undo` right after it removes exactly the rows it added. FILE '-' reads stdin.

    \b
    Examples:
      tracker import json backup.json
      tracker --db sqlite:///new.db import json backup.json
    """
    if file == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(file, "rb") as handle:
            data = handle.read()
    masker = Masker()
    parsed = parse_export(data, "-" if file == "-" else os.path.basename(file), masker)
    with change() as session:
        result = import_export(session, parsed)
    warn(masker.warning)
    write_report().add(
        added_count=result.total_added,
        added_by_table={name: n for name, n in result.added.items() if n},
        skipped_count=result.skipped,
    )
    if not result.total_added:
        click.echo(f"Nothing to import: all {result.skipped} rows are already in the store.")
        return
    details = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in result.added.items() if n)
    skipped = f"; {result.skipped} already there" if result.skipped else ""
    click.echo(f"Imported {result.total_added} rows ({details}){skipped}.")
