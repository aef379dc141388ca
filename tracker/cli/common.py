"""What every command group shares: the store, parameter types, options and warnings.

Checks of flag combinations, and every message that names a flag or a command, live in the
cli package; the library's messages name values, never flags.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from tracker.cases import get_case
from tracker.cli.app import App
from tracker.config import settings
from tracker.db import Store
from tracker.errors import NotFound, UsageError
from tracker.models import Case, utcnow
from tracker.redact import Masker, mask
from tracker.values import choice, parse_amount, parse_currency, parse_last4
from tracker.views import View
from tracker.views import choose as choose_view
from tracker.views.base import emit_json
from tracker.views.writes import nothing_written, write_dict
from tracker.when import (
    Calendar,
    WhenError,
    Window,
    calendar_for,
    parse_date,
    parse_duration,
    parse_when,
    parse_window,
    zone_named,
)
from tracker.written import changes_made, written

__all__ = ["emit_json"]  # for command modules that print JSON of their own

F = TypeVar("F", bound=Callable[..., Any])


def app() -> App:
    obj = click.get_current_context().find_object(App)
    if obj is None:  # a subcommand invoked on its own, as in some tests
        obj = App(None)
    return obj


def store() -> Store:
    return app().store()


def warn(message: str | None) -> None:
    if message:
        click.echo(f"Warning: {mask(message)}", err=True)


@contextmanager
def case_change(case_id: int) -> Iterator[tuple[Session, Case, Masker]]:
    """One write transaction on one case: the case locked, a masker for what is typed.

    The masker's warning is printed once the change is committed (and not if it failed).
    """
    masker = Masker()
    with change(case_id=case_id) as session:
        yield session, get_case(session, case_id, for_update=True), masker
    warn(masker.warning)


@contextmanager
def masked_change() -> Iterator[tuple[Session, Masker]]:
    """A write transaction that is not on one case (an organization, an import)."""
    masker = Masker()
    with change() as session:
        yield session, masker
    warn(masker.warning)


@contextmanager
def change(*, case_id: int | None = None) -> Iterator[Session]:
    """A write transaction whose changes a --json write command reports (write_command).

    What it wrote is read back at the end of the transaction, before the commit, so the
    report is exactly what is committed.
    """
    with store().write() as session:
        yield session
        report = _report()
        if report is not None:
            report.collect(session, case_id)


# --------------------------------------------------------------------------- --json on writes

_REPORT = "tracker.write_report"


class WriteReport:
    """What a write command prints with --json: the one shape of tracker.views.writes,
    built from the changes its write transactions made (see `change`)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}
        self._created: list[Any] = []
        self._changed: list[Any] = []

    def rows(self, *, created: Sequence[Any] = (), changed: Sequence[Any] = ()) -> None:
        """Rows written without the change log (an organization): call it inside the
        transaction, before `change` ends."""
        self._created += created
        self._changed += changed

    def add(self, **keys: Any) -> None:
        """Keys of the command's own, beside the shared ones (docs/json.md)."""
        self.extra.update(keys)

    def collect(self, session: Session, case_id: int | None) -> None:
        ids = [c.id for c in changes_made(session)]
        wrote = written(session, ids, case_id=case_id, created=self._created, changed=self._changed)
        self.data = write_dict(session, wrote, utcnow())

    def json(self) -> dict[str, Any]:
        shared = self.data or nothing_written()
        return {**self.extra, **shared}


def _report() -> WriteReport | None:
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(_REPORT)


def json_requested() -> bool:
    """Whether the running write command prints JSON (--json): then its stdout holds only
    the JSON, and what it shows before writing (a preview, a question) goes to stderr."""
    return _report() is not None


def write_report() -> WriteReport:
    """The running write command's report (a command decorated with write_command)."""
    report = _report()
    if report is None:  # not under write_command: a report nobody prints
        return WriteReport()
    return report


def write_command(func: F) -> F:
    """--json for a write command: what it created or changed, as tracker.views.writes
    shapes it, instead of its text. Put it right above the ``def``.

    The command writes through `change`, `case_change` or `masked_change` and prints its
    text as usual: with --json its stdout is set aside, so that stdout holds only the JSON.
    """

    @functools.wraps(func)
    def run(*args: Any, write_json: bool, **kwargs: Any) -> Any:
        if not write_json:
            return func(*args, **kwargs)
        report = WriteReport()
        click.get_current_context().meta[_REPORT] = report
        with contextlib.redirect_stdout(io.StringIO()):
            result = func(*args, **kwargs)
        emit_json(report.json())
        return result

    return click.option(
        "--json",
        "write_json",
        is_flag=True,
        help="Print what was created or changed, with ids, as JSON (see docs/json.md).",
    )(run)  # type: ignore[return-value]


# --------------------------------------------------------------------------- parameter types


class _ParsedType(click.ParamType):  # type: ignore[type-arg]
    """A value read by one of tracker.when's parsers; its WhenError is bad usage."""

    parse: Callable[[str], Any]
    accepts: tuple[type, ...]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.accepts):
            return value
        try:
            return type(self).parse(str(value))
        except WhenError as exc:
            self.fail(str(exc), param, ctx)


def _parse_at(text: str) -> datetime:
    """A time something happened: a date without a year is the latest one up to today."""
    mine = settings()
    return parse_when(text, order=mine.order, past=True, calendar=calendar_for(mine.country))


class WhenType(_ParsedType):
    """WHEN, read at once against the clock: when something happened (``--at``)."""

    name = "when"
    parse = staticmethod(_parse_at)
    accepts = (datetime,)


class WhenInput:
    """A WHEN as typed, read once its moment and calendar are known (a promise's ``--due``
    counts from the contact's ``--at``, and its business days on the case's calendar)."""

    __slots__ = ("param", "text")

    def __init__(self, text: str, param: str) -> None:
        self.text = text
        self.param = param

    def resolve(self, anchor: datetime, calendar: Calendar, now: datetime) -> Window:
        """Counted from `anchor` (the event's --at); a time said with "ago" ("3 days ago")
        is before now, whenever the event was."""
        order = settings().order
        try:
            found = parse_window(self.text, anchor, calendar=calendar, order=order)
            if found.ago and anchor != now:
                found = parse_window(self.text, now, calendar=calendar, order=order)
            return found
        except WhenError as exc:
            raise UsageError(f"invalid value for {self.param}: {exc}") from None


class DueType(click.ParamType):  # type: ignore[type-arg]
    """WHEN, checked now and read later (see WhenInput): 10bd, 7-10 business days, Dec 24."""

    name = "when"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, WhenInput):
            return value
        text = str(value)
        try:  # the grammar is checked at once, so a typo is reported like any bad value
            parse_window(text, order=settings().order)
        except WhenError as exc:
            self.fail(str(exc), param, ctx)
        hint = param.get_error_hint(ctx) if param is not None and ctx is not None else "WHEN"
        return WhenInput(text, hint.strip("'\""))


class ZoneType(_ParsedType):
    """A time zone name: Europe/London, America/New_York, UTC."""

    name = "zone"
    parse = staticmethod(zone_named)
    accepts = (tzinfo,)


class DurationType(_ParsedType):
    name = "duration"
    parse = staticmethod(parse_duration)
    accepts = (timedelta,)


class DateType(_ParsedType):
    name = "date"
    parse = staticmethod(parse_date)
    accepts = (date,)


class ValidatedType(click.ParamType):  # type: ignore[type-arg]
    """Wraps a library parser that raises UsageError, so Click reports it as bad usage."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self._parse(str(value))
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


class ChoiceType(click.ParamType):  # type: ignore[type-arg]
    """Like click.Choice, but the error lists the valid values in our words."""

    def __init__(self, name: str, choices: tuple[str, ...]) -> None:
        self.name = name
        self.choices = choices

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.choices) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return choice(str(value), self.choices, self.name)
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


WHEN = WhenType()
DUE = DueType()
ZONE = ZoneType()
DURATION = DurationType()
DATE = DateType()


class IdType(click.ParamType):  # type: ignore[type-arg]
    """A positive whole number naming a case or a promise."""

    def __init__(self, what: str) -> None:
        self.name = what
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        text = str(value).strip().lstrip("#")
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            self.fail(f"'{value}' is not a {self.what} number (e.g. 1)", param, ctx)
        if int(text) > MAX_ID:  # past any id a store hands out (and its integer column)
            raise NotFound(f"no {self.what} {text}")
        return int(text)


MAX_ID = 2**31 - 1
CASE_ID = IdType("case")
PROMISE_ID = IdType("promise")


# --------------------------------------------------------------------------- options


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON only.")(func)


def view_option(func: F) -> F:
    """--json, handed to the command as its view (tracker.views): text or JSON, chosen once."""

    def to_view(ctx: click.Context, param: click.Parameter, value: bool) -> View:
        return choose_view(value)

    return click.option("--json", "view", is_flag=True, callback=to_view, help="Print JSON only.")(
        func
    )


def at_option(what: str) -> Callable[[F], F]:
    """--at WHEN: when it happened, if earlier than now (relative times count from it)."""
    return click.option(
        "--at",
        type=WHEN,
        metavar="WHEN",
        help=f"When {what} (default: now), e.g. '2026-11-20 10:00' or '3 days ago'; "
        "relative due times count from it.",
    )


def account_and_amount_options(func: F) -> F:
    """--account LAST4, --amount and --currency: the facts of a disputed charge (case open,
    case edit)."""
    for option in reversed(
        (
            click.option(
                "--account",
                "account",
                metavar="LAST4",
                type=ValidatedType("last4", parse_last4),
                help="The last 4 digits of the card or account (never the full number).",
            ),
            click.option(
                "--amount",
                type=ValidatedType("amount", parse_amount),
                metavar="DECIMAL",
                help="The disputed amount, e.g. 129.99.",
            ),
            click.option(
                "--currency",
                type=ValidatedType("currency", parse_currency),
                metavar="CODE",
                help="ISO currency code, e.g. USD.",
            ),
        )
    ):
        func = option(func)
    return func


def not_a_card_option(func: F) -> F:
    """--not-a-card: keep reference numbers that look like card data exactly as typed."""
    return click.option(
        "--not-a-card",
        "not_a_card",
        is_flag=True,
        help="The reference numbers given are not card numbers, though one looks like "
        "one: keep them exactly as typed (the history records that you said so).",
    )(func)


def policy_option(func: F) -> F:
    """--policy FILE: an escalation policy file laid over the built-in policies."""
    return click.option(
        "--policy",
        "policy_file",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Escalation policy file laid over the built-in policies "
        "(default: policy.toml in the config folder, if any).",
    )(func)


def output_option(help: str) -> Callable[[F], F]:
    """-o/--output FILE, '-' (the default) for stdout."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, allow_dash=True),
        default="-",
        metavar="FILE",
        help=help,
    )
