"""The command server: a warm process that forks a worker for each command (tracker/client.py).

The server imports what the everyday commands need (Click, SQLAlchemy and its ORM with the
mappers configured, tracker's command groups), freezes those objects out of the garbage
collector (so that forked workers share their pages), and then waits on a Unix socket in the
data folder. For each command a worker is forked: it takes the client's descriptors as
0, 1 and 2, its working folder, umask and environment, rebuilds sys.stdin/stdout/stderr the
way the client's interpreter made them, and runs tracker.cli.main, the console script's own
entry. It opens the store itself, after the fork: the server never opens one, so no
connection or engine is ever shared across a fork.

It is its own process, not the reminder daemon: the daemon runs APScheduler's threads, and
a fork of a process with threads can inherit a lock another thread held; a crash or a
SIGKILL of a worker can never touch the daemon's reminders, and a worker can never run the
daemon's jobs (`daemon` and `remind` always run in-process, and a worker refuses them).
One single-threaded loop: accept, check the peer (same uid, SO_PEERCRED), check its key
(the same code and interpreter), fork, and report each worker's exit status when it is
reaped. It exits after TRACKER_SERVER_IDLE seconds (default 900) without a command, when
asked (`tracker server stop`, SIGTERM), or when another server has taken its socket.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import gc
import io
import locale
import os
import select
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import sqlalchemy.dialects.sqlite.pysqlite  # the dialect a store loads
import sqlalchemy.orm

import tracker.cli
import tracker.db
import tracker.models
from tracker import client, config

IDLE_ENV = "TRACKER_SERVER_IDLE"
IDLE_SECONDS = 900.0
MAX_WORKERS = 32
LOG_NAME = "server.log"
LOCK_NAME = "server.lock"


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end (SO_PEERCRED: pid, uid, gid)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def peer_allowed(uid: int) -> bool:
    """Only the server's own user may hand it a command (the socket's mode says so too)."""
    return uid == os.getuid()


def warm() -> None:
    """Import what the everyday commands use, then freeze it out of the collector."""
    ctx = click.Context(tracker.cli.cli)
    for name in tracker.cli.COMMANDS:
        tracker.cli.cli.get_command(ctx, name)
    sqlalchemy.orm.configure_mappers()
    gc.collect()
    gc.freeze()


@dataclass
class Server:
    """The socket's side of the server; `serve_forever` is the process's loop, `handle` one
    connection (also used by the tests' in-process server thread)."""

    path: Path
    key: bytes
    listener: socket.socket | None = None
    idle: float = IDLE_SECONDS
    started: float = field(default_factory=time.time)
    served: int = 0
    workers: dict[int, socket.socket] = field(default_factory=dict)
    hung_up: set[int] = field(default_factory=set)
    stopping: bool = False
    inode: int = 0
    # Descriptors a worker must not keep (the listener, the other clients, the wake-up pipe).
    private: list[int] = field(default_factory=list)
    # What a worker does once it is set up; tests replace it with nothing else.
    entry: Callable[[], int] | None = None

    # ----------------------------------------------------------------------- the socket

    def listen(self) -> None:
        """Bind a new socket (mode 0600, in a 0700 folder made if missing) and move it into
        place atomically; an older server there notices and leaves."""
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = folder / f".{self.path.name}.{os.getpid()}"
        with suppress(FileNotFoundError):
            temporary.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(os.fspath(temporary))
        finally:
            os.umask(old)
        os.chmod(temporary, 0o600)
        listener.listen(64)
        os.rename(temporary, self.path)
        self.inode = os.stat(self.path).st_ino
        self.listener = listener

    def still_ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def stop_listening(self) -> None:
        if self.listener is not None:
            if self.still_ours():
                with suppress(OSError):
                    self.path.unlink()
            self.listener.close()
            self.listener = None

    # ----------------------------------------------------------------------- one connection

    def handle(self, conn: socket.socket) -> int | None:
        """Answer one connection; the worker's pid when one was forked (the caller reports
        its exit status with `report`)."""
        fds: list[int] = []
        try:
            conn.settimeout(client.HANDSHAKE_SECONDS)
            uid = peer_uid(conn)
            # Read the request first (and close what it passed), so the refusal is heard.
            fields, fds = _receive(conn)
            if not peer_allowed(uid):
                client.send_message(conn, [b"Rnot your server"])
                return None
            if len(fields) < 3 or fields[0] != client.PROTOCOL:
                client.send_message(conn, [b"Rprotocol"])
                return None
            kind = fields[2]
            if kind == b"status":
                client.send_message(conn, self.status(fields[1]))
                return None
            if kind == b"stop":
                # The socket goes first: a server taking over binds once this answer came.
                self.stopping = True
                self.stop_listening()
                client.send_message(conn, [b"OK"])
                return None
            if kind != b"run" or len(fds) != 4:
                client.send_message(conn, [b"Rbad request"])
                return None
            if fields[1] != self.key:
                client.send_message(conn, [b"Rstale"])
                return None
            if self.stopping or len(self.workers) >= MAX_WORKERS:
                client.send_message(conn, [b"Rbusy"])
                return None
            pid = os.fork()
            if pid == 0:
                self._work(conn, fields[3:], fds)  # never returns
            self.served += 1
            conn.settimeout(None)
            return pid
        except (OSError, EOFError, ValueError):
            return None
        finally:
            for fd in fds:
                with suppress(OSError):
                    os.close(fd)

    def status(self, their_key: bytes) -> list[bytes]:
        return [
            b"OK",
            b"pid=%d" % os.getpid(),
            b"started=%d" % int(self.started),
            b"served=%d" % self.served,
            b"running=%d" % len(self.workers),
            b"idle=%d" % int(self.idle),
            b"current=" + (b"yes" if their_key == self.key else b"no"),
            b"socket=" + os.fsencode(self.path),
        ]

    def report(self, pid: int, status: int) -> None:
        """Tell the client how its worker ended (the server's own word: even a SIGKILL)."""
        conn = self.workers.pop(pid, None)
        self.hung_up.discard(pid)
        if conn is None:
            return
        if os.WIFSIGNALED(status):
            message = b"K%d" % os.WTERMSIG(status)
        else:
            message = b"X%d" % os.waitstatus_to_exitcode(status)
        with suppress(OSError):
            client.send_message(conn, [message])
        conn.close()

    # ----------------------------------------------------------------------- the worker

    def _work(self, conn: socket.socket, fields: list[bytes], fds: list[int]) -> None:
        """In the forked worker: become the client's process, run the command, exit."""
        code = 1
        try:
            atexit._clear()  # the parent's exit handlers are not this command's
            for fd in self.private:
                with suppress(OSError):
                    os.close(fd)
            os.setpgid(0, 0)  # its own group: the client relays signals to all of it
            # SQLAlchemy's fork rule: a pooled connection of the parent is never used or
            # closed here (the real server has none; a test process forking workers does).
            for engine in list(tracker.db._ENGINES):
                engine.dispose(close=False)
            _reset_signals()
            try:
                args, argv0, stdio = _apply(fields, fds)
            except (OSError, ValueError, IndexError) as exc:
                client.send_message(conn, [b"R" + str(exc).encode(errors="replace")])
                os._exit(0)
            if client.command_name(args) in client.IN_PROCESS:
                client.send_message(conn, [b"Rruns in-process"])
                os._exit(0)
            client.send_message(conn, [b"S%d" % os.getpid()])
            try:
                go = conn.recv(1)
            except OSError:
                go = b""
            conn.close()
            if go != b"G":
                os._exit(0)  # the client gave up before the start: it runs it itself
            _install_stdio(stdio)
            sys.argv = [argv0, *args]
            code = (self.entry or run_cli)()
            code = _finish(code)
        except BaseException:  # nothing may return into the server's loop
            with suppress(BaseException):
                traceback.print_exc()
                sys.stderr.flush()
        finally:
            os._exit(code)

    # ----------------------------------------------------------------------- the loop

    def serve_forever(self) -> None:
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: self._stop())
        signal.signal(signal.SIGINT, lambda *_: self._stop())
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        last = time.monotonic()
        while not (self.stopping and not self.workers):
            listener = self.listener
            watched: list[int | socket.socket] = [wake_r]
            watched += [c for pid, c in self.workers.items() if pid not in self.hung_up]
            if listener is not None:
                watched.append(listener)
            self.private = [wake_r, wake_w, *(s.fileno() for s in self.workers.values())]
            if listener is not None:
                self.private.append(listener.fileno())
            try:
                ready, _, _ = select.select(watched, [], [], 2.0)
            except InterruptedError:
                ready = []
            if wake_r in ready:
                with suppress(OSError):
                    while os.read(wake_r, 512):
                        pass
            self._reap()
            for pid, conn in list(self.workers.items()):
                if conn in ready and not _still_there(conn):
                    # The client went away (killed): hang the command up, as a terminal would.
                    self.hung_up.add(pid)
                    with suppress(OSError):
                        os.killpg(pid, signal.SIGHUP)
            if listener is not None and listener in ready:
                with suppress(OSError):
                    conn, _ = listener.accept()
                    forked = self.handle(conn)
                    if forked is None:
                        conn.close()
                    else:
                        self.workers[forked] = conn
                last = time.monotonic()
            if self.workers:
                last = time.monotonic()
            if self.listener is not None and not self.still_ours():
                self.listener.close()  # another server has the socket now
                self.listener = None
                self.stopping = True
            if not self.stopping and time.monotonic() - last > self.idle:
                self._stop()
        self.stop_listening()

    def _stop(self) -> None:
        self.stopping = True
        self.stop_listening()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.report(pid, status)


def _still_there(conn: socket.socket) -> bool:
    try:
        return conn.recv(16, socket.MSG_DONTWAIT | socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def _receive(conn: socket.socket) -> tuple[list[bytes], list[int]]:
    head, fds, _flags, _ = socket.recv_fds(conn, 4, 8)
    if len(head) < 4:
        head += client.recv_exact(conn, 4 - len(head))
    size = int.from_bytes(head, "big")
    body = client.recv_exact(conn, size)
    return client.unpack(body), list(fds)


def _reset_signals() -> None:
    """The signal dispositions a fresh `tracker` has: Python's own (KeyboardInterrupt on
    SIGINT, SIGPIPE ignored), the rest the system's defaults."""
    with suppress(ValueError):
        signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    for name in (
        "SIGTERM",
        "SIGHUP",
        "SIGCHLD",
        "SIGQUIT",
        "SIGTSTP",
        "SIGCONT",
        "SIGWINCH",
        "SIGUSR1",
        "SIGUSR2",
        "SIGALRM",
    ):
        signal.signal(getattr(signal, name), signal.SIG_DFL)


def _apply(fields: list[bytes], fds: list[int]) -> tuple[list[str], str, list[bytes]]:
    """Take the client's descriptors, folder, umask and environment; (args, argv0, stdio)."""
    umask, argv0 = int(fields[0], 8), os.fsdecode(fields[1])
    stdio = fields[2:14]
    argc = int(fields[14])
    args = [os.fsdecode(a) for a in fields[15 : 15 + argc]]
    env = fields[15 + argc :]
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target, inheritable=True)
    os.fchdir(fds[3])
    os.umask(umask)
    os.environb.clear()
    for entry in env:
        name, sep, value = entry.partition(b"=")
        if sep and name:
            os.environb[name] = value
    time.tzset()
    with suppress(locale.Error):
        locale.setlocale(locale.LC_CTYPE, "")
    return args, argv0, stdio


def _install_stdio(stdio: list[bytes]) -> None:
    """sys.stdin, stdout and stderr over 0, 1 and 2, made as the client's interpreter made
    its own (encoding, errors, line buffering, write-through)."""
    streams: list[Any] = []
    for fd, name in ((0, "<stdin>"), (1, "<stdout>"), (2, "<stderr>")):
        encoding, errors, line, through = (v.decode() for v in stdio[fd * 4 : fd * 4 + 4])
        raw = io.FileIO(fd, "rb" if fd == 0 else "wb", closefd=False)
        raw.name = name
        buffered: Any = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
        text = io.TextIOWrapper(
            buffered,
            encoding=encoding,
            errors=errors,
            newline="\n",
            line_buffering=line == "1",
            write_through=through == "1",
        )
        text.mode = "r" if fd == 0 else "w"  # type: ignore[misc]
        streams.append(text)
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams  # type: ignore[misc]


def run_cli() -> int:
    """The console script's entry, tracker.cli.main, as in-process; its exit code."""
    try:
        tracker.cli.main()
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    return 0


def _finish(code: int) -> int:
    """What the interpreter does at exit: exit handlers, then flushing (a flush that fails
    makes it 120, as Python's own exit does)."""
    with suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            if code == 0:
                code = 120
    return code


# --------------------------------------------------------------------------- the process


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with suppress(OSError):
        print(f"{stamp} [{os.getpid()}] {message}", file=sys.stderr, flush=True)


def main(detached: bool = False) -> int:
    """Serve the data folder's socket (`tracker server run`, or detached by the client);
    0 when it served and left, or when a current server is there already."""
    folder = Path(client.data_dir())
    if detached:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(folder / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    if Path(config.data_dir()) != folder:
        # The client would look for the socket elsewhere: serving here would help nobody.
        log(f"refusing: the client's data folder {folder} is not {config.data_dir()}")
        return 1
    key = client.key()
    warm()
    if client.key() != key:
        log("refusing: tracker's files changed while they loaded")
        return 1
    idle = float(os.environ.get(IDLE_ENV) or IDLE_SECONDS)
    server = Server(folder / client.SOCKET_NAME, key, idle=idle)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(folder / LOCK_NAME, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                log("another server is starting; leaving it to serve")
                return 0
            raise
        try:
            answer = client.ask(os.fspath(server.path), b"status", key)
        except client.Refused:
            answer = []
        if b"current=yes" in answer:
            log("a current server is running already")
            return 0
        if answer:
            with suppress(client.Refused):
                client.ask(os.fspath(server.path), b"stop", key)
        server.listen()
    finally:
        os.close(lock)  # releases the lock too
    log(f"serving {server.path} (idle timeout {idle:g} s)")
    server.serve_forever()
    log(f"stopped after {server.served} commands")
    return 0


if __name__ == "__main__":
    # `python -m tracker.server`: run the module's one copy, not this __main__ duplicate.
    import tracker.server

    sys.exit(tracker.server.main(detached="--detached" in sys.argv[1:]))
