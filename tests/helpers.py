"""What many test files share besides fixtures (those are in conftest.py): the instant the
tests pretend it is, a frozen clock, and a notifier that records what it was asked to show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from tracker.notify import NotifyError

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # a Thursday


class Clock:
    """Frozen time (time-machine, ``tick=False``) that started at ``start``.

    ``clock(minutes)`` moves it to ``start + minutes``; ``shift(delta)`` and
    ``move_to(when)`` are time-machine's own.
    """

    def __init__(self, traveller: time_machine.Traveller, start: datetime) -> None:
        self.traveller = traveller
        self.start = start

    def __call__(self, minutes: float) -> None:
        self.traveller.move_to(self.start + timedelta(minutes=minutes))

    def shift(self, delta: timedelta | float) -> None:
        self.traveller.shift(delta)

    def move_to(self, destination: datetime) -> None:
        self.traveller.move_to(destination)


class Recorder:
    """A notifier that remembers what it showed, or fails with ``error`` while it is set."""

    name = "recorder"

    def __init__(self) -> None:
        self.shown: list[tuple[str, str]] = []
        self.error: str | None = None

    def notify(self, title: str, body: str) -> None:
        if self.error is not None:
            raise NotifyError(self.error)
        self.shown.append((title, body))
