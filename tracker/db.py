"""Engine, sessions, SQLite pragmas, and bringing a store to the schema head.

SQLite setup (measured in RECIPES.md): the pysqlite driver's own transaction handling
starts a transaction only at the first write, so a read-then-write loses updates between
processes. We turn it off and emit BEGIN IMMEDIATE ourselves; read-only work uses a plain
BEGIN so that `case list` never waits for the write lock.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tracker.errors import DatabaseBusy, StoreError
from tracker.migrate import READ_ONLY, ensure_current

BUSY_TIMEOUT_MS = 5000
# Every engine made here, while it lives: see close_all.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for another backend or an in-memory database."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _prepare_sqlite_file(path: Path) -> None:
    # Created 0600 before SQLite opens it, so the -wal and -shm files inherit the mode;
    # the folder 0700 since it holds a year of someone's dealings with their bank.
    if not path.parent.exists():
        # exist_ok: two processes may create a new store at the same moment.
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _on_sqlite_begin(conn: Any) -> None:
    readonly = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the SQLite file prepared and its connections configured."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise StoreError(
                "a PostgreSQL store needs the psycopg driver: pip install 'tracker[postgres]'"
            ) from None
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True)
        _ENGINES.add(engine)
        return engine
    if backend != "sqlite":
        raise StoreError(f"unsupported database URL '{parsed.render_as_string()}'")
    path = sqlite_path(url)
    if path is not None:
        _prepare_sqlite_file(path)
    engine = create_engine(parsed)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    _ENGINES.add(engine)
    return engine


class Store:
    """One engine and one sessionmaker per process; the caller frames each transaction."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            with translate_errors():
                ensure_current(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A read-write transaction, committed when the block ends without an exception."""
        with translate_errors(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (on SQLite, one that does not take the write lock)."""
        with translate_errors(), self._sessions() as session:
            session.connection(execution_options={READ_ONLY: True})
            yield session
            session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()


def close_all() -> None:
    """Close every engine's connections, as the garbage collector would at exit (on SQLite
    the last one to close folds the WAL back into the database file)."""
    for engine in list(_ENGINES):
        engine.dispose()


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn a locked or unreachable database into one clear error."""
    try:
        yield
    except OperationalError as exc:
        message = str(exc.orig) if exc.orig is not None else str(exc)
        if "locked" in message or "busy" in message:
            raise DatabaseBusy() from None
        if "unable to open database" in message:
            raise StoreError(f"cannot open the database: {message}") from None
        if "could not connect" in message or "connection" in message.lower():
            raise StoreError(f"cannot reach the database: {message.splitlines()[0]}") from None
        raise
