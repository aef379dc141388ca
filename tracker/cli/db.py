"""`tracker db path|upgrade|backup`."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.engine import make_url

from tracker.backup import backup_store
from tracker.cli.common import app
from tracker.db import Store, sqlite_path, translate_errors
from tracker.migrate import ensure_current, stored_revision
from tracker.models import SCHEMA_REVISION


@click.group()
def db() -> None:
    """The store: where it is, its schema, its backups.

    \b
    Examples:
      tracker db path
      tracker db upgrade
      tracker db backup ~/tracker-backup.db
    """


@db.command()
def path() -> None:
    """Print where the data lives (a file path, or the database URL without its password).

    \b
    Example:
      tracker db path
    """
    url = app().url
    file = sqlite_path(url)
    if file is not None:
        click.echo(str(file))
        return
    click.echo(make_url(url).render_as_string(hide_password=True))


@db.command()
def upgrade() -> None:
    """Bring the store's schema to this version (also done on first use).

    \b
    Example:
      tracker db upgrade
    """
    st = Store(app().url, migrate=False)
    before = stored_revision(st.engine)
    with translate_errors():
        ensure_current(st.engine)
    if before == SCHEMA_REVISION:
        click.echo(f"The store is at the current schema ({SCHEMA_REVISION}).")
    else:
        click.echo(f"Upgraded the store from {before or 'empty'} to {SCHEMA_REVISION}.")


@db.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(file: Path) -> None:
    """Copy the store to FILE with SQLite's online backup (safe while the daemon runs).

    \b
    Example:
      tracker db backup ~/tracker-backup.db
    """
    written = backup_store(app().url, file)
    click.echo(f"Backed up the store to {written}.")
