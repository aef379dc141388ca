"""The reminder daemon as a service: its lock, its pid, its systemd unit (no APScheduler).

On SQLite one daemon runs per store, held by an OS file lock beside the database (released by
the kernel if the process dies); the lock file holds the holder's pid, which `tracker daemon
status` reads. `tracker daemon install` writes a systemd user unit that runs this very
tracker. None of this needs the scheduler: tracker.daemon (the APScheduler process) is
imported by `tracker daemon run` only.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

from tracker.db import sqlite_path
from tracker.errors import TrackerError
from tracker.files import write_private

UNIT_NAME = "tracker-daemon.service"
ENABLE_HINT = "systemctl --user daemon-reload && systemctl --user enable --now tracker-daemon"


# --------------------------------------------------------------------------- the lock


class AlreadyRunning(TrackerError):
    """A daemon already holds this store's lock. Exit 1."""


def lock_path(url: str) -> Path | None:
    """The lock file beside a SQLite database (None for PostgreSQL or in-memory)."""
    path = sqlite_path(url)
    return None if path is None else path.with_name(path.name + ".daemon.lock")


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
    if script.name == "tracker" and script.is_file():
        return [str(script.absolute())]
    return [sys.executable, "-m", "tracker"]


def _systemd_quote(word: str) -> str:
    # % starts a specifier and $ a variable in unit files; both are doubled to stay literal.
    escaped = word.replace("%", "%%").replace("$", "$$")
    if escaped and not any(c in escaped for c in " \t\"'\\;"):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(argv: list[str], env: dict[str, str]) -> str:
    lines = [
        "# Written by `tracker daemon install`; run it again to rewrite this file.",
        "[Unit]",
        "Description=tracker reminder daemon (follow-ups, promises, escalation thresholds)",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_systemd_quote(word) for word in argv),
    ]
    lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())]
    lines += [
        "Restart=on-failure",
        "RestartSec=30",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def install_unit(argv: list[str], env: dict[str, str]) -> Path:
    """Write the systemd user unit (0600: its environment may name a database URL)."""
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, unit_text(argv, env).encode())
    return path
