"""The per-invocation context: where the data is, and the store once opened.

Kept free of SQLAlchemy at import time: `tracker --help` and usage errors never load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from tracker.config import store_location
from tracker.errors import BadStoreLocation

if TYPE_CHECKING:
    from tracker.db import Store

# Where the location came from, in a StoreMissing message; and what to check.
ORIGINS = {
    "--db": ("from --db", "check --db"),
    "TRACKER_DB": ("from TRACKER_DB", "check TRACKER_DB"),
    "TRACKER_HOME": ("in TRACKER_HOME", "check TRACKER_HOME"),
    "default": (
        "the default location; TRACKER_DB and TRACKER_HOME are not set",
        "set TRACKER_DB or TRACKER_HOME",
    ),
}
CREATE_HINT = "record something to create it (e.g. tracker case open TITLE)"


class App:
    def __init__(self, db_url: str | None) -> None:
        self.db_url = db_url
        self._store: Store | None = None

    @property
    def url(self) -> str:
        return store_location(self.db_url)[0]

    def store(self) -> Store:
        """The store, opened lazily: nothing is read or created until a command reads or
        writes. A location that cannot be a store is refused here (exit 2)."""
        if self._store is None:
            # tracker.db brings SQLAlchemy (some 200 ms): only commands that use a store pay.
            from tracker.db import Store

            url, source = store_location(self.db_url)
            origin, check = ORIGINS[source]
            try:
                self._store = Store(
                    url,
                    on_create=_say_created,
                    origin=origin,
                    missing_hint=f"; {CREATE_HINT}, or {check}",
                )
            except BadStoreLocation as exc:
                label = "the default location" if source == "default" else source
                raise BadStoreLocation(f"{label}: {exc}") from None
        return self._store


def _say_created(where: str) -> None:
    click.echo(f"Created a new store at {where}", err=True)
