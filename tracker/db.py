"""Engine, sessions, SQLite pragmas, and opening a store by intent.

SQLite setup (measured; docs/engineering.md): the pysqlite driver's own transaction handling
starts a transaction only at the first write, so a read-then-write loses updates between
processes. We turn it off and emit BEGIN IMMEDIATE ourselves; read-only work uses a plain
BEGIN so that `case list` never waits for the write lock.

Opening by intent: making a Store touches nothing. A read needs a store that is there: a
missing one (or an empty file) is StoreMissing, and a read creates nothing. The first write
creates the folder (0700), the file (0600) and the schema, the schema in that write's own
transaction, so a write that fails leaves no half-made store. A SQLite file that holds
another program's tables, or is not a database at all, is refused untouched; an in-memory
database is refused. A store that cannot be written (a read-only file, folder or file
system) is read through read-only connections, and a write to it is StoreReadOnly. Every
file is opened through a percent-quoted `file:` URI, so no character in a path (`#`, `?`,
`%`, spaces, non-ASCII) changes which file is opened.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import stat
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import inspect as inspect_schema
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DataError,
    IntegrityError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.orm import Session, sessionmaker

from tracker.errors import (
    BadStoreLocation,
    DatabaseBusy,
    NotAStore,
    StoreError,
    StoreMissing,
    StoreReadOnly,
    TrackerError,
)
from tracker.migrate import READ_ONLY, alembic_config, ensure_current, stored_revision
from tracker.models import SCHEMA_REVISION

BUSY_TIMEOUT_MS = 5000
LOW_SPACE_BYTES = 64 * 1024  # less free than this is a full disk (see disk_full)
# Tables tracker does not own but lets sit beside its own (alembic/env.py).
FOREIGN_TABLES = frozenset({"apscheduler_jobs"})
# Any constant: the key of the PostgreSQL advisory lock that makes creating a schema one at
# a time.
_CREATE_LOCK_KEY = 0x7472_6B72
# Every engine made here, while it lives: see close_all.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


class _Wrote:
    """Whether this process began a write transaction on any store (see wrote)."""

    any = False


# Each SQLite engine's creator (below): where a store's first look at its file leaves the
# connection it opened, for the engine to take as its first.
_OPENERS: weakref.WeakKeyDictionary[Engine, _Opener] = weakref.WeakKeyDictionary()

URL_EXAMPLES = "e.g. sqlite:////home/me/tracker.db or postgresql://me@dbhost/tracker"


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


# --------------------------------------------------------------------------- the location


def check_url(url: str) -> URL:
    """The parsed URL of a store; BadStoreLocation for one that cannot name a store.

    Nothing is guessed: a URL that does not parse, an in-memory database (whatever is
    recorded there vanishes), a SQLite URL with options (SQLAlchemy would quietly cut a
    path at an unquoted `?`) and an unknown backend are all refused.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise BadStoreLocation(
            f"'{hide_password(url)}' is not a database URL ({URL_EXAMPLES})"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed
    if backend != "sqlite":
        raise BadStoreLocation(
            f"unsupported database URL '{parsed.render_as_string(hide_password=True)}': a "
            "store is SQLite or "
            f"PostgreSQL ({URL_EXAMPLES})"
        )
    database = parsed.database or ""
    if database in ("", ":memory:") or "mode=memory" in url:
        raise BadStoreLocation(
            f"'{url}' is an in-memory database: whatever is recorded there vanishes when the "
            "command ends; give a file (e.g. sqlite:////home/me/tracker.db)"
        )
    if "?" in url or parsed.query:
        raise BadStoreLocation(
            f"'{url}': a SQLite store's URL takes no options; write a '?' in the path as %3F"
        )
    if database.startswith("file:"):
        raise BadStoreLocation(f"'{url}': give the file's path, not a 'file:' URI")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
        raise BadStoreLocation(f"'{url}': tracker opens SQLite with the standard driver only")
    return parsed


def hide_password(url: str) -> str:
    """`url` with any password replaced by ***, for messages (even when it does not parse)."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


def _file_uri(path: Path) -> str:
    # Every character but the separators quoted: SQLite decodes %XX, so the bytes of the
    # path reach open(2) exactly; `#` and `?` can no longer end it.
    return "file://" + quote(os.fspath(path.absolute()), safe="/")


def _wal_pending(path: Path) -> bool:
    """Whether the -wal file beside `path` holds anything (unchecked-pointed writes)."""
    try:
        return os.stat(f"{path}-wal").st_size > 0
    except OSError:
        return False


def connect_sqlite(path: Path, *, readonly: bool, **connect: Any) -> sqlite3.Connection:
    """A DB-API connection to the existing file `path` (never creating it).

    Read-only connections use mode=ro. Where not even the -shm file can be made (a read-only
    folder or file system, a full disk) a WAL database cannot be opened that way; if its WAL
    holds nothing, the file alone is the whole database and nobody can change it while
    nothing can be written there, so it is opened immutable=1 instead; so is a file that
    nobody may write (chmod 0400). (With a non-empty WAL, immutable=1 would silently show
    old data: then it is mode=ro or an error.)
    """
    connect.setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
    uri = _file_uri(path)
    conn: sqlite3.Connection
    if not readonly:
        conn = sqlite3.connect(f"{uri}?mode=rw", uri=True, **connect)
        return conn
    if not _wal_pending(path) and (disk_full(path) or _unwritable_by_anyone(path)):
        # mode=ro would make -shm and -wal files that it cannot remove: broken ones on a full
        # disk; ones that would keep the file read-only once it is made writable again.
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, **connect)
        return conn
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, **connect)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the -shm file
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        # "unable to open" on a read-only file system; "readonly database" where only the
        # permissions forbid making the -shm file.
        reason = str(exc).lower()
        cannot_open = any(
            words in reason for words in ("unable to open", "readonly database", "disk i/o error")
        )
        if not cannot_open or _wal_pending(path) or not read_only_place(path):
            raise
    conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, **connect)
    return conn


def _unwritable_by_anyone(path: Path) -> bool:
    """Whether the file has no write permission for anyone (chmod 0400): then nobody but root
    changes it, and reading it as immutable is safe."""
    try:
        return os.stat(path).st_mode & 0o222 == 0
    except OSError:
        return False


def _folder_writable(path: Path) -> bool:
    return os.access(path.absolute().parent, os.W_OK)


def disk_full(path: Path) -> bool:
    """Whether the file system holding `path` has (almost) no room left: too little for even
    SQLite's -shm file (32 KiB), counting the blocks reserved for root when we are root."""
    try:
        info = os.statvfs(path.absolute().parent)
    except OSError:
        return False
    free = info.f_bfree if os.geteuid() == 0 else info.f_bavail
    return free * info.f_frsize < LOW_SPACE_BYTES


def read_only_place(path: Path) -> bool:
    """Whether nothing can be written where `path` is: reads go through read-only
    connections there (the file cannot be written, nor its folder, or the disk is full)."""
    return not writable(path) or disk_full(path)


def writable(path: Path) -> bool:
    """Whether tracker can write the store at `path`: the file, and its folder (SQLite makes
    the -wal and -shm files there). A file system mounted read-only is not, even for root."""
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return _folder_writable(path)


def read_only_reason(path: Path) -> str:
    """Why the store at `path` cannot be written, in a few words (or "")."""
    folder = path.absolute().parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "a read-only file system"
    except OSError:
        pass
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is not writable"
    if not os.access(folder, os.W_OK):
        return f"its folder {folder} is not writable"
    return ""


def _fs_error(action: str, path: Path, exc: OSError) -> TrackerError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = f"the disk is full ({reason})"
    other = os.fspath(exc.filename) if exc.filename is not None else None
    if other is not None and other != os.fspath(path):
        reason = f"{reason}: {other}"
    if exc.errno == errno.ENOTDIR:
        return BadStoreLocation(f"cannot {action} the store {path}: {reason}")
    return StoreError(f"cannot {action} the store {path}: {reason}")


@dataclass(frozen=True)
class Found:
    """What a SQLite location holds: "missing", "empty" (a file of 0 bytes, or a database
    without tables), "tracker" (with its schema revision) or "other" (with the other
    program's tables)."""

    kind: str
    revision: str | None = None
    tables: tuple[str, ...] = ()
    zero_bytes: bool = False


def inspect_sqlite(
    path: Path, keep: Callable[[sqlite3.Connection, bool], bool] | None = None
) -> Found:
    """Look at what is at `path` without changing a byte of it (or creating anything).

    For a tracker store, `keep(connection, readonly)` may take the connection it looked
    with (no transaction open) instead of its being closed: True when it took it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return Found("missing")
    except OSError as exc:
        raise _fs_error("open", path, exc) from None
    if stat.S_ISDIR(info.st_mode):
        raise BadStoreLocation(
            f"{path} is a folder; a SQLite store is a file (e.g. {path / 'tracker.db'})"
        )
    if not stat.S_ISREG(info.st_mode):
        raise NotAStore(f"{path} is not a regular file; tracker leaves it untouched")
    if info.st_size == 0:
        return Found("empty", zero_bytes=True)
    if not os.access(path, os.R_OK):
        raise StoreError(f"cannot read the store {path}: Permission denied")
    # Only SQLite opens the file: closing a descriptor of our own on it would drop every
    # POSIX lock this process holds on it, its SQLite connections' included. SQLite itself
    # refuses a file that is not a database (its header) without writing to it.
    try:
        # Read-write where it can be (a connection that only reads changes nothing, and
        # leaves no -wal or -shm behind when it closes); read-only where it cannot.
        readonly = read_only_place(path)
        conn = connect_sqlite(path, readonly=readonly, check_same_thread=False)
        kept = False
        try:
            conn.isolation_level = None
            conn.execute("BEGIN")
            names = {
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                )
            }
            revision = None
            if "alembic_version" in names:
                revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            conn.execute("ROLLBACK")
            if keep is not None and "alembic_version" in names:
                kept = keep(conn, readonly)
        finally:
            if not kept:
                conn.close()
    except sqlite3.Error as exc:
        raise _explain(str(exc), str(path), path) or StoreError(
            f"cannot open the store {path}: {exc}"
        ) from None
    if "alembic_version" in names:
        return Found("tracker", revision[0] if revision else None)
    others = tuple(sorted(names - FOREIGN_TABLES))
    return Found("other", tables=others) if others else Found("empty")


def _someone_elses(where: str, tables: tuple[str, ...] | list[str]) -> NotAStore:
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    return NotAStore(
        f"{where} is another program's database (it holds {shown}, and no tracker schema); "
        "tracker leaves it untouched"
    )


# --------------------------------------------------------------------------- engines


def _prepare_sqlite_file(path: Path) -> None:
    # Created 0600 before SQLite opens it, so the -wal and -shm files inherit the mode;
    # the folder 0700 since it holds a year of someone's dealings with their bank.
    try:
        if not path.parent.exists():
            # exist_ok: two processes may create a new store at the same moment.
            path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
    except OSError as exc:
        raise _fs_error("create", path, exc) from None


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _on_sqlite_connect_readonly(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _on_sqlite_begin(conn: Any) -> None:
    readonly = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _postgres_engine(parsed: URL) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError(
            "a PostgreSQL store needs the psycopg driver (the postgres extra): "
            "pip install 'psycopg[binary]'"
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, pool_pre_ping=True)
    _ENGINES.add(engine)
    return engine


class _Opener:
    """A SQLite engine's creator: opens `path`, by its quoted URI, without ever creating it.
    A warmed engine (below) is pointed at another file by changing `path`.

    `ready` is a connection already open on `path` (the one the store's first look at the
    file made: Store._open_file), given out first: a command then opens the file once, not
    twice, and SQLite neither folds its WAL back at the first close nor makes it anew."""

    def __init__(self, path: Path, *, readonly: bool) -> None:
        self.path = path
        self.readonly = readonly
        self.ready: sqlite3.Connection | None = None

    def __call__(self) -> sqlite3.Connection:
        conn, self.ready = self.ready, None
        if conn is not None:
            return conn
        return connect_sqlite(self.path, readonly=self.readonly, check_same_thread=False)

    def take(self, conn: sqlite3.Connection, path: Path, readonly: bool) -> bool:
        """Keep `conn` for the next connection, if it is one this creator would open."""
        if self.ready is not None or path != self.path or readonly != self.readonly:
            return False
        self.ready = conn
        return True

    def discard(self) -> None:
        conn, self.ready = self.ready, None
        if conn is not None:
            conn.close()


def _dispose(engine: Engine) -> None:
    """Close an engine's connections, the one its creator holds ready included."""
    engine.dispose()
    opener = _OPENERS.get(engine)
    if opener is not None:
        opener.discard()


@dataclass
class WarmEngine:
    """A read-write SQLite engine whose compiled-statement cache holds the statements of the
    everyday commands (SQLAlchemy keys that cache by the engine's dialect, so only this
    engine can use it). The command server makes it on a scratch store (warm_up) before it
    forks; a worker hands it to the first SQLite store it opens read-write (adopt)."""

    engine: Engine
    opener: _Opener


class _Warm:
    """Where warm engines are: being made (warm_up), or waiting in a worker (adopt)."""

    active = False  # warm_up is running: every read-write SQLite store shares `making`
    making: WarmEngine | None = None
    adoptable: WarmEngine | None = None  # in a worker: what its first store takes


@contextmanager
def warm_up() -> Iterator[list[WarmEngine]]:
    """While the block runs, every SQLite store opened read-write shares one engine; the
    list holds it afterwards, its connections closed (none is open across a fork)."""
    found: list[WarmEngine] = []
    _Warm.active, _Warm.making = True, None
    try:
        yield found
    finally:
        if _Warm.making is not None:
            _dispose(_Warm.making.engine)
            found.append(_Warm.making)
        _Warm.active, _Warm.making = False, None


def adopt(warm: WarmEngine) -> None:
    """In a forked worker: the next SQLite store opened read-write takes `warm`. Its pool
    is replaced without closing anything the parent held (SQLAlchemy's rule after a fork)."""
    warm.engine.dispose(close=False)
    _Warm.adoptable = warm


def _sqlite_engine(path: Path, *, readonly: bool) -> Engine:
    if not readonly:
        warm = _Warm.making if _Warm.active else _Warm.adoptable
        if warm is not None:
            _Warm.adoptable = None
            warm.opener.path = path
            warm.engine.url = URL.create("sqlite", database=os.fspath(path))
            return warm.engine
    # The URL names the file (so SQLAlchemy pools connections as for a file); the creator
    # opens it, by its quoted URI, without ever creating it.
    opener = _Opener(path, readonly=readonly)
    engine = create_engine(URL.create("sqlite", database=os.fspath(path)), creator=opener)
    _OPENERS[engine] = opener
    on_connect = _on_sqlite_connect_readonly if readonly else _on_sqlite_connect
    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    _ENGINES.add(engine)
    if not readonly and _Warm.active:
        _Warm.making = WarmEngine(engine, opener)
    return engine


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the SQLite file prepared and its connections configured.

    The low-level way in (Alembic's env.py, tests): it creates the file. Commands open a
    Store, which creates nothing until the first write.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return _postgres_engine(parsed)
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


# --------------------------------------------------------------------------- the store


class Store:
    """One store: its engines (made on first use) and transactions, framed by the caller.

    `Store(url)` opens nothing. `read()` needs the store to exist; the first `write()`
    creates it (and calls `on_create` with where it is, once it is committed). Older
    schemas are brought to the head on first use, unless `migrate` is false (then the store
    is used as it is). `create=True` makes the store at once, as the first write would.
    `origin` and `missing_hint` are words the command line adds to a StoreMissing message:
    where the location came from, and how to make a store.
    """

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        create: bool = False,
        on_create: Callable[[str], None] | None = None,
        origin: str = "",
        missing_hint: str = "",
    ) -> None:
        self.url = url
        self._parsed = check_url(url)
        file = sqlite_path(url)
        self.path: Path | None = file.absolute() if file is not None else None
        """The SQLite file (absolute), or None for PostgreSQL."""
        self.where = (
            os.fspath(self.path)
            if self.path is not None
            else self._parsed.render_as_string(hide_password=True)
        )
        """The store in messages: its file, or its URL without the password."""
        self._migrate = migrate
        self._on_create = on_create
        self._origin = origin
        self._missing_hint = missing_hint
        self._lock = threading.RLock()  # the daemon's threads share one store
        self._engine: Engine | None = None
        self._reader: Engine | None = None  # SQLite where nothing can be written: read-only
        self._ready = False  # checked (and brought to the head) in this process
        self._sessions = sessionmaker(expire_on_commit=False)
        if create:
            self.upgrade()

    @property
    def backend(self) -> str:
        return self._parsed.get_backend_name()

    @property
    def engine(self) -> Engine:
        """The read-write engine, made on first use (making it opens and creates nothing)."""
        with self._lock:
            if self._engine is None:
                if self.path is None:
                    self._engine = _postgres_engine(self._parsed)
                else:
                    self._engine = _sqlite_engine(self.path, readonly=False)
            return self._engine

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A read-write transaction, committed when the block ends without an exception.

        On a store that is not there yet, the same transaction creates it first.
        """
        _Wrote.any = True
        creating = self._open(write=True)
        created = False
        with self._errors(), self._sessions(bind=self.engine) as session, session.begin():
            if creating:
                created = self._create_schema(session.connection())
            yield session
        if creating:
            with self._lock:
                self._ready = True
            if created and self._on_create is not None:
                self._on_create(self.where)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (on SQLite, one that does not take the write lock)."""
        self._open(write=False)
        engine = self._read_engine()
        with self._errors(), self._sessions(bind=engine) as session:
            session.connection(execution_options={READ_ONLY: True})
            yield session
            # The session's close ends the transaction (a rollback of the connection). A
            # session.rollback() here first would expire every object loaded (10k on a
            # large `case list`), which is all it would add.

    def revision(self, *, required: bool = False) -> str | None:
        """The store's schema revision as it is now, changing nothing; None for a store that
        is not there (or empty), or StoreMissing if `required`. Another program's database
        is NotAStore."""
        if self.path is None:
            with self._errors():
                revision = stored_revision(self.engine)
                if revision is None:
                    others = self._server_tables()
                    if others:
                        raise _someone_elses(f"the database {self.where}", others)
        else:
            found = inspect_sqlite(self.path)
            if found.kind == "other":
                raise _someone_elses(self.where, found.tables)
            revision = found.revision
            if found.kind != "tracker" and required:
                raise self._missing(found)
        if revision is None and required:
            raise self._missing()
        return revision

    def upgrade(self) -> str | None:
        """Bring the store to the schema head, creating it if need be (as a first write
        does, `on_create` included). Returns the revision it was at (None: not there)."""
        before = self.revision()
        if before != SCHEMA_REVISION:
            with self.write():
                pass
        return before

    def dispose(self) -> None:
        for engine in (self._reader, self._engine):
            if engine is not None:
                _dispose(engine)

    # ------------------------------------------------------------------- opening

    def _errors(self) -> AbstractContextManager[None]:
        return translate_errors(self.where, self.path)

    def _missing(self, found: Found | None = None) -> StoreMissing:
        if self.path is None:
            words = [f"no tracker store in the database {self.where} (it is empty"]
            if self._origin:
                words.append(f"; {self._origin}")
            return StoreMissing("".join(words) + ")" + self._missing_hint)
        notes = []
        if found is not None and found.kind == "empty":
            notes.append("an empty file" if found.zero_bytes else "an empty database")
        if self._origin:
            notes.append(self._origin)
        shown = f" ({'; '.join(notes)})" if notes else ""
        return StoreMissing(f"no store at {self.where}{shown}{self._missing_hint}")

    def _write_refusal(self, path: Path) -> TrackerError | None:
        """Why a write to the store at `path` cannot work now, if it cannot (checked before
        SQLite tries, so that it leaves no broken -wal or -shm file behind)."""
        if not writable(path):
            return _read_only_error(self.where, path)
        if disk_full(path):
            return _disk_full_error(self.where)
        return None

    def _open(self, *, write: bool) -> bool:
        """Check the store once per process; True if this write must create it."""
        with self._lock:
            if not self._ready:
                if self.path is None:
                    return self._open_server(write=write)
                if self._open_file(self.path, write=write):
                    return True
            if write and self.path is not None:
                refusal = self._write_refusal(self.path)
                if refusal is not None:
                    raise refusal
            return False

    def _read_engine(self) -> Engine:
        """Where nothing can be written (a read-only file, folder or file system, a full
        disk) reads go through read-only connections; elsewhere through the usual ones."""
        if self.path is None or not read_only_place(self.path):
            return self.engine
        with self._lock:
            if self._reader is None:
                self._reader = _sqlite_engine(self.path, readonly=True)
            return self._reader

    def _open_file(self, path: Path, *, write: bool) -> bool:
        found = inspect_sqlite(path, self._keep_first)
        if found.kind == "other":
            raise _someone_elses(self.where, found.tables)
        if found.kind != "tracker":
            if not write or not self._migrate:
                raise self._missing(found)
            if disk_full(_existing_folder(path) / path.name):
                raise _disk_full_error(self.where)
            _prepare_sqlite_file(path)
            refusal = self._write_refusal(path)
            if refusal is not None:
                raise refusal
            return True
        if self._migrate and found.revision != SCHEMA_REVISION:
            if self._write_refusal(path) is not None:
                why = read_only_reason(path) or "the disk is full"
                raise StoreError(
                    f"the store {self.where} is at schema revision {found.revision}, not "
                    f"{SCHEMA_REVISION}, and cannot be upgraded now ({why}); this version "
                    "of tracker cannot use it as it is"
                )
            with self._errors():
                ensure_current(self.engine)
        self._ready = True
        return False

    def _keep_first(self, conn: sqlite3.Connection, readonly: bool) -> bool:
        """inspect_sqlite's connection becomes the first of the engine that reads."""
        assert self.path is not None
        opener = _OPENERS.get(self._read_engine())
        return opener is not None and opener.take(conn, self.path, readonly)

    def _open_server(self, *, write: bool) -> bool:
        with self._errors():
            revision = stored_revision(self.engine)
            if revision is None:
                others = self._server_tables()
                if others:
                    raise _someone_elses(f"the database {self.where}", others)
                if not write or not self._migrate:
                    raise self._missing()
                return True
            if self._migrate and revision != SCHEMA_REVISION:
                ensure_current(self.engine)
        self._ready = True
        return False

    def _server_tables(self) -> list[str]:
        names = inspect_schema(self.engine).get_table_names()
        return sorted(set(names) - FOREIGN_TABLES)

    def _create_schema(self, conn: Connection) -> bool:
        """The schema, in the first write's transaction; True if this transaction made it
        (False if another process made it meanwhile). On SQLite the transaction holds the
        write lock already; on PostgreSQL an advisory lock makes creators wait in turn."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK_KEY})
        names = set(inspect_schema(conn).get_table_names())
        if "alembic_version" in names:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            if revision == SCHEMA_REVISION:
                return False
            _migrate_on(conn)
            return False
        others = sorted(names - FOREIGN_TABLES)
        if others:
            raise _someone_elses(self.where, others)
        _migrate_on(conn)
        return True


def _migrate_on(conn: Connection) -> None:
    """Alembic's migrations on `conn`, inside its transaction (imported only when needed)."""
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def wrote() -> bool:
    """Whether this process began a write transaction on a store: then its last close
    folds what it wrote back into the SQLite file (the command server's worker closes
    before it answers, so that a file copied right after holds the change)."""
    return _Wrote.any


def forget_writes() -> None:
    """From here on wrote() counts only new writes (a forked worker: not its parent's)."""
    _Wrote.any = False


def close_all() -> None:
    """Close every engine's connections, as the garbage collector would at exit (on SQLite
    the last one to close folds the WAL back into the database file)."""
    for engine in list(_ENGINES):
        _dispose(engine)


# --------------------------------------------------------------------------- errors


@contextmanager
def translate_errors(where: str | None = None, path: Path | None = None) -> Iterator[None]:
    """Turn what a user can cause (a locked, full, read-only, unreachable or damaged store)
    into one clear error naming the store (`where`: its file or URL)."""
    try:
        yield
    except DatabaseError as exc:
        if isinstance(exc, (IntegrityError, ProgrammingError, DataError, NotSupportedError)):
            raise  # about the data or the statement, not the store
        message = str(exc.orig) if exc.orig is not None else str(exc)
        error = _explain(message, where or "the database", path)
        unreachable = "could not connect" in message or "connection" in message.lower()
        if error is None and isinstance(exc, OperationalError) and unreachable:
            error = StoreError(f"cannot reach the database: {message.splitlines()[0]}")
        if error is None:
            raise
        raise error from None


def _explain(message: str, where: str, path: Path | None) -> TrackerError | None:
    """The error for a database's failure `message`, or None if it is not one of ours."""
    lowered = message.lower()
    if "locked" in message or "busy" in message:
        return DatabaseBusy()
    if "database or disk is full" in lowered or "no space left on device" in lowered:
        return _disk_full_error(where)
    if "readonly database" in lowered or "read-only transaction" in lowered:
        return _read_only_error(where, path)
    if "file is not a database" in lowered:
        return NotAStore(f"{where} is not a SQLite database; tracker leaves it untouched")
    if "malformed" in lowered:
        return StoreError(f"the store {where} is damaged ({message}); restore it from a backup")
    if "disk i/o error" in lowered or "unable to open database" in lowered:
        if path is not None and not path.exists():
            return StoreMissing(f"no store at {where} (it is gone)")
        reason = _io_reason(path) if path is not None else ""
        return StoreError(f"cannot open the store {where}: {reason or message}")
    return None


def _disk_full_error(where: str) -> StoreError:
    return StoreError(f"cannot write the store {where}: the disk is full")


def _existing_folder(path: Path) -> Path:
    """The nearest folder above `path` that exists (where it would be created)."""
    for folder in path.absolute().parents:
        if folder.is_dir():
            return folder
    return Path("/")


def _read_only_error(where: str, path: Path | None) -> StoreReadOnly:
    reason = read_only_reason(path) if path is not None else ""
    shown = f" ({reason})" if reason else ""
    return StoreReadOnly(f"the store {where} is read-only{shown}; it can be read, not changed")


def _io_reason(path: Path) -> str:
    """What the file system says about the place of `path`, when SQLite only says "I/O"."""
    try:
        info = os.statvfs(path.absolute().parent)
    except OSError as exc:
        return exc.strerror or ""
    if info.f_flag & os.ST_RDONLY:
        return "a read-only file system"
    if info.f_bavail == 0:
        return "the disk is full"
    if not writable(path):
        return read_only_reason(path) or "permission denied"
    return ""
