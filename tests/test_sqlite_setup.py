"""The SQLite setup in tracker.db: pragmas on every connection, our own BEGIN, real
SAVEPOINTs and transactional DDL. SQLite only (these are SQLite's knobs)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from tracker import cases as svc
from tracker import db
from tracker.db import BUSY_TIMEOUT_MS, Store
from tracker.models import Event, Note, Reminder, utcnow
from tracker.redact import Masker


class Boom(Exception):
    """Raised inside a transaction to roll it back."""


pytestmark = pytest.mark.backends("sqlite")  # the shared `store` fixture, on SQLite only


def _raw(store: Store) -> sqlite3.Connection:
    """Another connection to the same file, outside tracker's code (like another process)."""
    return sqlite3.connect(store.url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)


def _pragmas(dbapi_connection: sqlite3.Connection) -> dict[str, object]:
    return {
        name: dbapi_connection.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    }


def test_every_fresh_connection_gets_the_durability_pragmas(store: Store) -> None:
    expected = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}  # 2 = FULL
    seen = []
    for _ in range(3):
        store.engine.dispose()  # the next connection is a new one
        with store.engine.connect() as first, store.engine.connect() as second:
            drivers = [first.connection.driver_connection, second.connection.driver_connection]
            assert drivers[0] is not drivers[1]
            for driver in drivers:
                assert isinstance(driver, sqlite3.Connection)
                # The driver's own transaction handling is off: we emit BEGIN ourselves.
                assert driver.isolation_level is None
                seen.append(_pragmas(driver))
    for session_of in (store.write, store.read):
        with session_of() as session:
            driver = session.connection().connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            assert driver.in_transaction
            seen.append(_pragmas(driver))
    for pragmas in seen:
        busy = pragmas.pop("busy_timeout")
        assert pragmas == expected
        assert isinstance(busy, int) and busy >= 5000 and busy == BUSY_TIMEOUT_MS


def test_the_file_itself_is_in_wal_mode(store: Store) -> None:
    # WAL is persistent: bytes 18-19 of the header are 2 even for a connection that sets
    # nothing (the sqlite3 shell, a backup tool).
    header = Path(store.url.removeprefix("sqlite:///")).read_bytes()[:20]
    assert header[18:20] == b"\x02\x02"


def test_a_write_transaction_takes_the_write_lock_before_its_first_read(store: Store) -> None:
    other = _raw(store)
    with store.write() as session:
        session.scalar(select(func.count()).select_from(Note))  # a read only
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # free again after the commit
    other.execute("ROLLBACK")
    other.close()


def test_a_read_transaction_leaves_the_write_lock_free(store: Store) -> None:
    other = _raw(store)
    with store.read() as session:
        session.scalar(select(func.count()).select_from(Note))
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    other.close()


def _open_a_case(store: Store) -> None:
    with store.write() as session:
        svc.open_case(session, title="Lost card", masker=Masker())


def _note_bodies(store: Store) -> list[str]:
    with store.read() as session:
        return list(session.scalars(select(Note.body).order_by(Note.id)))


def test_a_savepoint_rollback_undoes_only_the_inner_part(store: Store) -> None:
    _open_a_case(store)
    with store.write() as session:
        case = svc.get_case(session, 1, for_update=True)
        svc.add_note(session, case, "outer before", masker=Masker())
        with pytest.raises(Boom), session.begin_nested():
            svc.add_note(session, case, "inner", masker=Masker())
            raise Boom
        svc.add_note(session, case, "outer after", masker=Masker())
        with session.begin_nested():
            svc.add_note(session, case, "inner kept", masker=Masker())
    assert _note_bodies(store) == ["outer before", "outer after", "inner kept"]
    with store.read() as session:
        summaries = session.scalars(select(Event.summary).where(Event.type == "note")).all()
    assert summaries == ["outer before", "outer after", "inner kept"]


def test_a_failed_insert_in_a_savepoint_keeps_the_outer_transaction(store: Store) -> None:
    # The shape of tracker.reminders.claim: insert the unique key in a SAVEPOINT, and on a
    # conflict carry on with the rest of the transaction.
    _open_a_case(store)
    row = {"key": "follow_up:1", "kind": "follow_up", "due_at": utcnow(), "claimed_by": "a"}
    with store.write() as session:
        session.execute(insert(Reminder).values(**row))
    with store.write() as session:
        svc.add_note(session, svc.get_case(session, 1), "kept", masker=Masker())
        with pytest.raises(IntegrityError), session.begin_nested():
            session.execute(insert(Reminder).values(**row))
        svc.add_note(session, svc.get_case(session, 1), "also kept", masker=Masker())
    assert _note_bodies(store) == ["kept", "also kept"]


def test_ddl_in_a_rolled_back_transaction_is_gone(store: Store) -> None:
    _open_a_case(store)
    with store.write() as session:
        svc.add_note(session, svc.get_case(session, 1), "a note to keep", masker=Masker())
    with pytest.raises(Boom), store.write() as session:
        session.execute(text("CREATE TABLE scratch (x INTEGER)"))
        session.execute(text("INSERT INTO scratch VALUES (1)"))
        session.execute(text("ALTER TABLE cases ADD COLUMN extra TEXT"))
        session.execute(text("DROP TABLE notes"))
        raise Boom
    with store.read() as session:
        tables = set(session.scalars(text("SELECT name FROM sqlite_master WHERE type='table'")))
        columns = {row[1] for row in session.execute(text("PRAGMA table_info(cases)"))}
    assert "scratch" not in tables
    assert "notes" in tables
    assert "extra" not in columns
    assert _note_bodies(store) == ["a note to keep"]


def test_a_command_opens_its_store_once(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's first look at its file (is it tracker's? which revision?) leaves that
    connection to the engine: one open per process, and it gets the engine's pragmas."""
    path = tmp_path / "copy.db"
    with (
        sqlite3.connect(store.url.removeprefix("sqlite:///")) as source,
        sqlite3.connect(path) as target,
    ):
        source.backup(target)
    source.close()
    target.close()
    opened: list[sqlite3.Connection] = []
    real = sqlite3.connect

    def counting(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", counting)
    fresh = Store(f"sqlite:///{path}")
    with fresh.read() as session:
        assert session.scalar(select(func.count()).select_from(Note)) is not None
        dbapi = session.connection().connection.dbapi_connection
        assert _pragmas(dbapi)["foreign_keys"] == 1
    with fresh.write() as session:
        session.execute(text("SELECT 1"))
    assert len(opened) == 1
    assert dbapi is opened[0]
    fresh.dispose()


def test_a_connection_kept_for_the_engine_is_closed_with_it(store: Store, tmp_path: Path) -> None:
    """A store that looked at its file but never used it closes that connection at
    dispose (none is left open, e.g. across the command server's fork)."""
    path = Path(store.url.removeprefix("sqlite:///"))
    fresh = Store(f"sqlite:///{path}")
    assert fresh.revision(required=True) is not None  # a look that keeps nothing
    fresh._open(write=False)  # the first look, as a command makes it
    opener = db._OPENERS[fresh.engine]
    kept = opener.ready
    assert kept is not None
    fresh.dispose()
    assert opener.ready is None
    with pytest.raises(sqlite3.ProgrammingError):
        kept.execute("SELECT 1")
