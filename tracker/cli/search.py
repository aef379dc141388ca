"""`tracker search`: find words and reference numbers in every case."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import click

from tracker.cli.common import CASE_ID, MAX_ID, WhenType, store, view_option, warn
from tracker.errors import NotFound
from tracker.models import Case, utcnow
from tracker.redact import Masker
from tracker.search import MAX_QUERY, SearchFilter, parse_query
from tracker.search import search as run_search
from tracker.values import optional_text
from tracker.views import View
from tracker.when import WhenError, local_zone, parse_date


class BoundType(WhenType):
    """--since/--until: a date (the whole day, local time) or any WHEN."""

    name = "date"

    def __init__(self, *, end: bool) -> None:
        self.end = end

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            day = parse_date(str(value))
        except WhenError:
            return super().convert(value, param, ctx)
        if self.end:
            if day == date.max:  # the end of time: nothing is later
                return datetime.max.replace(tzinfo=UTC)
            day += timedelta(days=1)
        return datetime.combine(day, time(0), tzinfo=local_zone())


@click.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--org", "organization", metavar="NAME", help="Only this organization's cases.")
@click.option(
    "--since",
    type=BoundType(end=False),
    metavar="DATE",
    help="Only what happened on or after DATE (a date, or any WHEN such as '2 weeks ago').",
)
@click.option(
    "--until",
    type=BoundType(end=True),
    metavar="DATE",
    help="Only what happened before the end of DATE (a date: that whole day included).",
)
@click.option("--case", "case_id", type=CASE_ID, metavar="CASE", help="Only this case.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    metavar="N",
    help="At most N results.",
)
@view_option
def search(
    query: tuple[str, ...],
    organization: str | None,
    since: datetime | None,
    until: datetime | None,
    case_id: int | None,
    limit: int,
    view: View,
) -> None:
    """Find words and reference numbers in every case, best matches first.

    Searches case titles, organizations, merchants and outcomes, notes, contact summaries,
    agent names and ids, reference numbers, promises and follow-ups. Each result names the
    case, where the words were found ("note 4", "summary of contact 7", "reference"), when,
    and an excerpt with the words [marked].

    \b
    The query:
      plain words        all must appear (in any order), case ignored: daniel refund
      "quoted phrase"    the words in this order, side by side: '"card arrived"'
      word*              any word that starts so: refund* (refunds, refunded)
      CALL-5521          a reference as given; also found as 5521, "call 5521", CALL5521
    There are no operators: OR, NOT and - are words or ignored. Accents count (Zürich).
    A query that begins with - goes after --: tracker search -- -5521

    \b
    Examples:
      tracker search CALL-5521
      tracker search daniel --org "American Express" --since 2026-10-01
      tracker search 'provisional credit' --case 1
      tracker search '"credit posts"' --json
      tracker search refund* --until 2026-11-30 --limit 50
    """
    masker = Masker()
    typed = optional_text(" ".join(query), masker, what="the query", limit=MAX_QUERY) or ""
    parsed = parse_query(typed)
    if since is not None and until is not None and until <= since:
        raise click.BadParameter("--until must be after --since", param_hint="'--until'")
    flt = SearchFilter(
        organization=organization,
        since=since,
        until=until,
        case_id=case_id,
        limit=min(limit, MAX_ID),
    )
    now = utcnow()
    warn(masker.warning)
    with store().read() as session:
        if case_id is not None and session.get(Case, case_id) is None:
            raise NotFound(f"no case {case_id}")
        hits = run_search(session, parsed, flt)
    view.search_results(hits, now)
