"""`tracker db path|upgrade|backup`."""

from __future__ import annotations

from pathlib import Path

import click

from tracker.backup import backup_store
from tracker.cli.common import app, write_command, write_report
from tracker.evidence import folder_beside
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

    The store need not exist yet: this is where the first command that records something
    creates it.

    \b
    Example:
      tracker db path
    """
    click.echo(app().store().where)


@db.command()
@write_command
def upgrade() -> None:
    """Bring the store's schema to this version (also done on first use); creates the store
    if there is none yet.

    \b
    Example:
      tracker db upgrade
    """
    before = app().store().upgrade()
    write_report().add(previous_revision=before, revision=SCHEMA_REVISION)
    if before == SCHEMA_REVISION:
        click.echo(f"The store is at the current schema ({SCHEMA_REVISION}).")
    else:
        click.echo(f"Upgraded the store from {before or 'empty'} to {SCHEMA_REVISION}.")


@db.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@write_command
def backup(file: Path) -> None:
    """Copy the store to FILE with SQLite's online backup (safe while the daemon runs).

    The evidence files (`case attach`) are copied beside it, to FILE-evidence/, where the
    backup finds them when it is used as a store.

    \b
    Example:
      tracker db backup ~/tracker-backup.db
    """
    store = app().store()
    if store.path is not None:
        store.revision(required=True)  # no store there: say how to make one
    written = backup_store(store.url, file)
    folder = folder_beside(written)
    kept = folder.is_dir()
    write_report().add(path=str(written), evidence_path=str(folder) if kept else None)
    click.echo(f"Backed up the store to {written}.")
    if kept:
        click.echo(f"Its evidence files are in {folder} (keep the two together).")
