"""`tracker db backup`: SQLite's online backup API, safe while the daemon writes, and the
evidence files beside the store (tracker.evidence) copied beside the backup."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from tracker import evidence
from tracker.db import connect_sqlite, sqlite_path
from tracker.errors import DatabaseBusy, StoreError, TrackerError, UsageError
from tracker.files import PartialFile


def backup_store(url: str, target: Path) -> Path:
    """Copy the SQLite store at `url` to `target` (0600); returns the path written.

    The copy is made page by page under SQLite's own locking, then checked with
    integrity_check before it replaces anything at `target`. The evidence its attachments
    name is copied to ``<target>-evidence/`` (each file checked against its SHA-256), where
    the backup, used as a store, finds it.
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
        evidence_names = _evidence_of(partial)
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
    copy_evidence(evidence.folder_beside(source), evidence.folder_beside(target), evidence_names)
    return target


def _evidence_of(database: Path) -> list[str]:
    """The SHA-256 of every attachment of a copied store."""
    conn = sqlite3.connect(database)
    try:
        has = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attachments'"
        ).fetchone()
        if not has:
            return []
        return [row[0] for row in conn.execute("SELECT DISTINCT sha256 FROM attachments")]
    finally:
        conn.close()


def copy_evidence(source: Path, target: Path, digests: list[str]) -> int:
    """Copy the evidence files `digests` from one folder to another (0700, files 0600);
    returns how many were copied (a file already there is not copied again)."""
    copied = 0
    for digest in digests:
        evidence.write_file(target, digest, evidence.read_file(source, digest))
        copied += 1
    return copied
