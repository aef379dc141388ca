"""The reminder daemon as a service: its lock, its pid, its systemd unit.

On SQLite one daemon runs per store, held by an OS file lock beside the database's real file
(symlinks resolved, so two names for one store are one lock; released by the kernel if the
process dies); the lock file holds the holder's pid, which `tracker daemon status` reads. On
PostgreSQL one daemon runs per store and machine (and user data folder, TRACKER_HOME): a
session advisory lock on the database, keyed by the host name and that folder, held by a
connection of its own for the daemon's life (released by the server when the connection
ends); the connection's application_name carries the pid. Daemons on other machines share
the store, and the claims decide who shows what.

`tracker daemon install` writes a systemd user unit that runs this very tracker, refusing any
value with a control character (a newline would start a new directive). A secret (a database
URL with a password, an Apprise URL) never goes into the unit, where `systemctl --user show`
displays it to anyone: it goes into an EnvironmentFile= of its own, written 0600, and the
unit names the variable (``--notifier ${TRACKER_NOTIFIER_1}``). A desktop notifier orders the
unit after the graphical session and stops it with the session. None of this needs
tracker.daemon, which `tracker daemon run` alone imports.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tracker.config import config_dir, data_dir
from tracker.db import Store, sqlite_path
from tracker.errors import TrackerError, UsageError
from tracker.files import write_private

UNIT_NAME = "tracker-daemon.service"
ENV_FILE_NAME = "daemon.env"
ENABLE_HINT = "systemctl --user daemon-reload && systemctl --user enable --now tracker-daemon"


# --------------------------------------------------------------------------- the lock


class AlreadyRunning(TrackerError):
    """A daemon already holds this store's lock. Exit 1."""


def lock_path(url: str) -> Path | None:
    """The lock file beside a SQLite database's real file (None for PostgreSQL or in-memory)."""
    path = sqlite_path(url)
    if path is None:
        return None
    real = path.expanduser().resolve()
    return real.with_name(real.name + ".daemon.lock")


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class DaemonLock:
    """fcntl.flock on the lock file, with the holder's pid written in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = _read_pid(self.path)
            raise AlreadyRunning(
                f"already running (pid {pid})" if pid else "already running"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the last descriptor drops the lock
        self._fd = None

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def running_pid(url: str) -> int | None:
    """The pid of the daemon running on this SQLite store, or None.

    The pid comes from the lock file; it counts only if that process is alive and the file
    is really locked (a stale file from a killed daemon is not).
    """
    path = lock_path(url)
    if path is None or not path.exists():
        return None
    pid = _read_pid(path)
    if pid is None or not _alive(pid):
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return pid
    finally:
        os.close(fd)  # also drops the probe's lock, if it got one
    return None


# --------------------------------------------------------------------------- PostgreSQL

_LOCK_CLASS = 0x74726B64  # "trkd": the advisory lock's first key (an int4)
_APP_NAME = "tracker daemon pid "


def _host_key() -> int:
    """The advisory lock's second key, as a signed int4: this machine's name and this user's
    data folder (TRACKER_HOME, else the platform's), where the SQLite lock would live."""
    place = f"{socket.gethostname()}\0{data_dir().expanduser().resolve()}"
    key = zlib.crc32(place.encode())
    return key - (1 << 32) if key >= 1 << 31 else key


class PostgresDaemonLock:
    """pg_try_advisory_lock(class, host) on a connection held for the daemon's life."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Any = None

    def acquire(self) -> None:
        from sqlalchemy import text

        conn = self.store.engine.connect()
        try:
            conn.execute(text("SELECT set_config('application_name', :name, false)"),
                         {"name": f"{_APP_NAME}{os.getpid()}"})  # fmt: skip
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(CAST(:a AS integer), CAST(:b AS integer))"),
                {"a": _LOCK_CLASS, "b": _host_key()},
            ).scalar()
            conn.commit()
        except Exception:
            conn.invalidate()  # a real close: the pool must not keep this session
            conn.close()
            raise
        if not got:
            conn.invalidate()
            conn.close()
            pid = postgres_pid(self.store)
            where = f"on this machine ({socket.gethostname()})"
            raise AlreadyRunning(
                f"already running {where} (pid {pid})" if pid else f"already running {where}"
            )
        self._conn = conn

    def held(self) -> bool:
        """Whether the lock's connection still answers (the server keeps the lock as long)."""
        from sqlalchemy import text

        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
        except Exception:
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()  # ending the session (not pooling it) drops the lock
                self._conn.close()
            finally:
                self._conn = None

    def __enter__(self) -> PostgresDaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def postgres_pid(store: Store) -> int | None:
    """The pid of the daemon holding this machine's lock on a PostgreSQL store, or None."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        name = conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.classid = (:a)::bigint & 4294967295 AND l.objid = (:b)::bigint & 4294967295 "
                "AND l.objsubid = 2"
            ),
            {"a": _LOCK_CLASS, "b": _host_key()},
        ).scalar()
        conn.rollback()
    if name is None:
        return None
    text_pid = str(name).removeprefix(_APP_NAME)
    return int(text_pid) if text_pid.isdigit() else 0


def daemon_lock(store: Store) -> DaemonLock | PostgresDaemonLock | None:
    """The lock a daemon on this store takes (None: an in-memory store has none)."""
    if store.backend == "postgresql":
        return PostgresDaemonLock(store)
    path = lock_path(store.url)
    return DaemonLock(path) if path is not None else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- systemd


def unit_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user" / UNIT_NAME


def tracker_command() -> list[str]:
    """How to run this very tracker: its script's absolute path, or this Python -m tracker."""
    script = Path(sys.argv[0])
    if script.name == "tracker-python":  # handed over by the C client: name that one
        beside = script.with_name("tracker")
        script = beside if beside.is_file() else script
    if script.name in ("tracker", "tracker-python") and script.is_file():
        return [str(script.absolute())]
    return [sys.executable, "-m", "tracker"]


def _systemd_quote(word: str) -> str:
    # % starts a specifier and $ a variable in unit files; both are doubled to stay literal.
    escaped = word.replace("%", "%%").replace("$", "$$")
    if escaped and not any(c in escaped for c in " \t\"'\\;"):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


class UnitValueError(UsageError):
    """A value for the systemd unit holds a control character. Exit 2."""


def _refuse_control(value: str, what: str) -> None:
    for char in value:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            raise UnitValueError(
                f"{what} holds a control character ({char!r}); the systemd unit takes none"
            )


@dataclass(frozen=True)
class EnvWord:
    """An argument of ExecStart= that systemd takes from the environment, as one word
    (``${NAME}``): its value lives in the EnvironmentFile=, not in the unit."""

    name: str


def env_file_path() -> Path:
    """Where `daemon install` keeps the unit's secrets: daemon.env in the config folder."""
    return config_dir() / ENV_FILE_NAME


def url_has_password(url: str) -> bool:
    """A database URL that holds a password (``user:secret@``, or ``?password=``)."""
    try:
        parts = urlsplit(url)
        if parts.password:
            return True
        return any("password" in key.lower() for key, _ in parse_qsl(parts.query))
    except ValueError:
        return True  # cannot tell: treated as a secret


def _env_file_quote(value: str) -> str:
    # systemd's EnvironmentFile=: single quotes keep everything literal (no escapes, no
    # variables); a value holding one is double-quoted with \, ", ` and $ escaped.
    if "'" not in value:
        return f"'{value}'"
    escaped = "".join("\\" + c if c in '\\"`$' else c for c in value)
    return f'"{escaped}"'


def env_file_text(env: dict[str, str]) -> str:
    for key, value in env.items():
        _refuse_control(key, "an environment variable's name")
        _refuse_control(value, key)
    lines = [
        "# Written by `tracker daemon install` (0600): the secrets of tracker-daemon.service.",
        *(f"{key}={_env_file_quote(value)}" for key, value in sorted(env.items())),
        "",
    ]
    return "\n".join(lines)


def unit_text(
    argv: list[str | EnvWord],
    env: dict[str, str],
    *,
    env_file: Path | None = None,
    graphical: bool = False,
) -> str:
    """The unit's text; UnitValueError if any value holds a control character (a newline in
    an argument would start a directive of its own). `env_file`: the EnvironmentFile= with
    the secrets; `graphical`: the desktop notifier's, ordered after the graphical session."""
    for word in argv:
        if isinstance(word, str):
            _refuse_control(word, "an argument of the command")
    for key, value in env.items():
        _refuse_control(key, "an environment variable's name")
        _refuse_control(value, f"{key}")
    if env_file is not None:
        _refuse_control(str(env_file), "the environment file's path")
    lines = [
        "# Written by `tracker daemon install`; run it again to rewrite this file.",
        "[Unit]",
        "Description=tracker reminder daemon (follow-ups, promises, escalation thresholds)",
    ]
    if graphical:
        # Desktop notifications need the session's bus and notification server.
        lines += ["After=graphical-session.target", "PartOf=graphical-session.target"]
    lines += [
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_exec_word(word) for word in argv),
    ]
    lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())]
    if env_file is not None:
        lines.append("EnvironmentFile=" + str(env_file).replace("%", "%%"))
    lines += [
        "Restart=on-failure",
        "RestartSec=30",
        "",
        "[Install]",
        "WantedBy=default.target" + (" graphical-session.target" if graphical else ""),
        "",
    ]
    return "\n".join(lines)


def _exec_word(word: str | EnvWord) -> str:
    return f"${{{word.name}}}" if isinstance(word, EnvWord) else _systemd_quote(word)


def install_unit(
    argv: list[str | EnvWord],
    env: dict[str, str],
    secrets: dict[str, str] | None = None,
    *,
    graphical: bool = False,
) -> Path:
    """Write the systemd user unit (0600), and the secrets, if any, to the EnvironmentFile=
    (0600; removed when there are none, so that no password is left behind)."""
    path = unit_path()
    env_file = env_file_path()
    text = unit_text(argv, env, env_file=env_file if secrets else None, graphical=graphical)
    if secrets:
        content = env_file_text(secrets).encode()
        env_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(env_file, content)
    else:
        env_file.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text.encode())
    return path
