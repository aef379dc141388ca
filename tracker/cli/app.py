"""The per-invocation context: where the data is, and the store once opened.

Kept free of SQLAlchemy at import time: `tracker --help` and usage errors never load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker.config import database_url

if TYPE_CHECKING:
    from tracker.db import Store


class App:
    def __init__(self, db_url: str | None) -> None:
        self.db_url = db_url
        self._store: Store | None = None

    @property
    def url(self) -> str:
        return database_url(self.db_url)

    def store(self) -> Store:
        if self._store is None:
            # tracker.db brings SQLAlchemy (some 200 ms): only commands that use a store pay.
            from tracker.db import Store

            self._store = Store(self.url)
        return self._store
