"""Alembic environment for tracker.

The tracker command passes its own connection in config.attributes["connection"] (Alembic
cookbook, "Sharing a Connection"): one transaction, the project's SQLite pragmas. Run from
the checkout (`alembic upgrade head`), it opens the store named by `-x db=URL`, else by
TRACKER_DB / TRACKER_HOME / the default location.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from sqlalchemy.engine import Connection, Engine

from alembic import context
from tracker.models import Base
from tracker.search import is_index_object

config = context.config
if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# Tables tracker does not own: APScheduler's job store, if anyone points one at this store.
FOREIGN_TABLES = {"apscheduler_jobs"}


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # The search index's tables (and SQLite's FTS5 shadow tables) are not ORM models: they
    # are made and kept by tracker.search (migration 0008), not compared with the models.
    return not (type_ == "table" and (name in FOREIGN_TABLES or is_index_object(name)))


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        include_name=include_name,
        compare_type=True,
        # Our SQLite connections run DDL inside the caller's BEGIN IMMEDIATE transaction.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        run_on(given)
        return
    if isinstance(given, Engine):  # pytest-alembic hands over an engine
        run_on_engine(given)
        return
    from tracker.config import database_url
    from tracker.db import make_engine

    url = context.get_x_argument(as_dictionary=True).get("db") or database_url()
    engine = make_engine(url)
    try:
        run_on_engine(engine)
    finally:
        engine.dispose()


def run_on_engine(engine: Engine) -> None:
    # The same connection setup as the tracker command's (foreign keys off on SQLite during
    # batch rebuilds, back on afterwards even if a migration fails; foreign_key_check before
    # the commit).
    from tracker.migrate import migration_connection

    with migration_connection(engine) as conn:
        run_on(conn)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or "sqlite://",
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
