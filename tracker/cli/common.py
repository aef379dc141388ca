"""What every command group shares: the store, parameter types, JSON and warnings."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import update_wrapper
from pathlib import Path
from typing import Any, TypeVar

import click

from tracker.db import Store
from tracker.errors import NotFound, UsageError
from tracker.views import View
from tracker.views import choose as choose_view

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """The per-invocation context: where the data is, and the store once opened."""

    def __init__(self, db_url: str | None) -> None:
        self.db_url = db_url
        self._store: Store | None = None

    @property
    def url(self) -> str:
        from tracker.config import database_url

        return database_url(self.db_url)

    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.url)
        return self._store


def app() -> App:
    obj = click.get_current_context().find_object(App)
    if obj is None:  # a subcommand invoked on its own, as in some tests
        obj = App(None)
    return obj


def store() -> Store:
    return app().store()


class WhenType(click.ParamType):  # type: ignore[type-arg]
    """WHEN: 2026-12-01, tomorrow 9am, fri, in 3 days, 10bd, eom ... (see tracker.when)."""

    name = "when"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        from tracker.when import WhenError, parse_when

        try:
            return parse_when(str(value))
        except WhenError as exc:
            self.fail(str(exc), param, ctx)


class DurationType(click.ParamType):  # type: ignore[type-arg]
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        from tracker.when import WhenError, parse_duration

        try:
            return parse_duration(str(value))
        except WhenError as exc:
            self.fail(str(exc), param, ctx)


class DateType(click.ParamType):  # type: ignore[type-arg]
    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, date):
            return value
        from tracker.when import WhenError, parse_date

        try:
            return parse_date(str(value))
        except WhenError as exc:
            self.fail(str(exc), param, ctx)


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
        from tracker.cases import choice

        try:
            return choice(str(value), self.choices, self.name)
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


WHEN = WhenType()
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


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON only.")(func)


def view_option(func: F) -> F:
    """--json, handed to the command as its view (tracker.views): text or JSON, chosen once."""

    def to_view(ctx: click.Context, param: click.Parameter, value: bool) -> View:
        return choose_view(value)

    return click.option(
        "--json", "view", is_flag=True, callback=to_view, help="Print JSON only."
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


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def warn(message: str | None) -> None:
    if message:
        click.echo(f"Warning: {message}", err=True)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def pass_store(func: F) -> F:
    """Give the command the opened store as its first argument."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(store(), *args, **kwargs)

    return update_wrapper(wrapper, func)  # type: ignore[return-value]
