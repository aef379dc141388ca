"""Alembic, on the slow path only: imported when the store is not at the schema head."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from alembic import command
from tracker.errors import StoreError


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
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the store on one connection, in one transaction (SQLite DDL is transactional)."""
    config = alembic_config()
    scripts = ScriptDirectory.from_config(config)
    from tracker.db import stored_revision

    current = stored_revision(engine)
    if current is not None:
        try:
            scripts.get_revision(current)
        except Exception:
            raise StoreError(
                f"this store is at schema revision {current}, newer than this version of "
                "tracker understands; upgrade tracker"
            ) from None
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # A batch table rebuild drops and re-creates tables: with foreign keys on, the
            # drop would cascade and delete rows. The pragma is a no-op inside a transaction,
            # so it goes to the driver before SQLAlchemy begins one.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"migration left broken references: {broken[:3]}")
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
