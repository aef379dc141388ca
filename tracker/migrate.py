"""The store's schema revision, and migrating it to the head with Alembic.

Alembic costs some 300 ms to import, so it is imported only on the slow path: when the
store is not at the revision this code's schema corresponds to (SCHEMA_REVISION).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from tracker.errors import StoreError
from tracker.models import SCHEMA_REVISION

if TYPE_CHECKING:
    from alembic.config import Config

READ_ONLY = "tracker_readonly"
"""An execution option: on SQLite, begin with a plain BEGIN, not BEGIN IMMEDIATE (tracker.db)."""


def stored_revision(engine: Engine) -> str | None:
    """The store's Alembic revision, or None for an empty store."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        try:
            with conn.begin():
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError) as exc:
            if "alembic_version" in str(exc):
                return None
            raise


def ensure_current(engine: Engine) -> None:
    """Bring the store to head, importing Alembic only when it is not there already."""
    if stored_revision(engine) != SCHEMA_REVISION:
        upgrade(engine)


def script_location() -> Path:
    """The migration scripts: the copy inside the installed package, else the checkout's."""
    package = Path(__file__).resolve().parent
    shipped = package / "_alembic"
    if (shipped / "env.py").exists():
        return shipped
    checkout = package.parent / "alembic"
    if (checkout / "env.py").exists():
        return checkout
    raise StoreError("the migration scripts are missing from this installation")


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location()))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the store on one connection, in one transaction (SQLite DDL is transactional)."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from alembic import command

    config = alembic_config()
    scripts = ScriptDirectory.from_config(config)
    current = stored_revision(engine)
    if current is not None:
        try:
            scripts.get_revision(current)
        except CommandError:  # a revision these scripts do not know: a newer tracker wrote it
            raise StoreError(
                f"this store is at schema revision {current}, newer than this version of "
                "tracker understands; upgrade tracker"
            ) from None
    with migration_connection(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction, set up for schema changes; committed at the end.

    On SQLite, foreign keys are off while it is open: a batch table rebuild drops and
    re-creates a table, and with foreign keys on the drop would cascade and delete every
    row that references it (a case's notes, events, promises). foreign_key_check runs
    before the commit instead, so a migration cannot leave a broken reference behind.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # The pragma is a no-op inside a transaction, so it goes to the driver before
            # SQLAlchemy begins one.
            _driver_execute(conn, "PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"migration left broken references: {broken[:3]}")
        finally:
            if sqlite:
                # The connection goes back to the pool: it must not keep foreign keys off.
                _driver_execute(conn, "PRAGMA foreign_keys = ON")


def _driver_execute(conn: Connection, statement: str) -> None:
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute(statement)
