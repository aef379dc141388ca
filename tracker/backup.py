"""`tracker db backup`: SQLite's online backup API, safe while the daemon writes."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from tracker.db import connect_sqlite, sqlite_path
from tracker.errors import DatabaseBusy, StoreError, TrackerError, UsageError
from tracker.files import PartialFile


def backup_store(url: str, target: Path) -> Path:
    """Copy the SQLite store at `url` to `target` (0600); returns the path written.

    The copy is made page by page under SQLite's own locking, then checked with
    integrity_check before it replaces anything at `target`.
    """
    source = sqlite_path(url)
    if source is None:
        raise StoreError(
            "db backup copies SQLite stores; for PostgreSQL use pg_dump, "
            "or `tracker export json -o FILE` for a portable copy"
        )
    if not source.exists():
        raise StoreError(f"no store at {source}")
    try:
        target = target.expanduser()
    except RuntimeError:  # "~someone" who has no home folder here
        raise UsageError(f"cannot find the home folder in {target}") from None
    if target.resolve() == source.resolve():
        raise UsageError("the backup must not overwrite the store itself")
    writing = PartialFile(target)  # refuses a folder, a device, a FIFO; 0600
    partial = writing.path
    try:
        # Opened by its percent-quoted URI (a '#' or '?' in the path would otherwise cut it
        # short), read-only, and immutable where not even the -shm file can be made.
        src = connect_sqlite(source, readonly=True, timeout=5.0)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")
                verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
        if verdict != "ok":
            raise StoreError(f"the backup failed its integrity check: {verdict}")
        writing.commit()
    except sqlite3.OperationalError as exc:
        writing.discard()
        if "locked" in str(exc) or "busy" in str(exc):
            raise DatabaseBusy() from None
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
            raise TrackerError(f"cannot write {target}: {os.strerror(errno.ENOSPC)}") from None
        raise StoreError(f"backup failed: {exc}") from None
    except BaseException:
        writing.discard()
        raise
    return target
