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
import tracker.directory
import tracker.history
import tracker.models
import tracker.policy
from tracker import client, config

IDLE_ENV = "TRACKER_SERVER_IDLE"
IDLE_SECONDS = 900.0
MAX_WORKERS = 32
# Workers forked ahead: two, so that a command right after another (a script, a benchmark)
# finds one ready while the other is still copying its pages.
SPARES = 2
# A run request's fields before its arguments and environment: protocol, key, "run", umask,
# argv[0], 12 stdio settings, argc (tracker/client.py).
RUN_FIELDS = 18
LOG_NAME = "server.log"
LOCK_NAME = "server.lock"


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end (SO_PEERCRED: pid, uid, gid)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def peer_allowed(uid: int) -> bool:
    """Only the server's own user may hand it a command (the socket's mode says so too)."""
    return uid == os.getuid()


# What the warm-up runs on its scratch store: the everyday commands, each statement they
# compile kept in the engine a worker adopts (tracker.db.WarmEngine).
WARM_UP: tuple[tuple[str, ...], ...] = (
    ("case", "open", "Warm-up", "--org", "Example Bank", "--category", "dispute"),
    ("case", "contact", "1", "--channel", "phone", "--agent", "Sam", "--ref", "WARM-1",
     "--summary", "Called", "--promise", "Call back", "--due", "2d"),
    ("case", "note", "1", "A note"),
    ("case", "follow-up", "1", "3d", "Check the statement"),
    ("case", "show", "1"),
    ("case", "list"),
    ("case", "list", "--limit", "50"),
    ("due",),
    ("search", "note"),
    ("export", "csv", "-o", os.devnull),
)  # fmt: skip


def warm() -> tracker.db.WarmEngine | None:
    """Import what the everyday commands use, run them once on a scratch store (the engine
    that keeps their compiled statements is returned), then freeze it all out of the
    collector so that forked workers share its pages."""
    ctx = click.Context(tracker.cli.cli)
    for name in tracker.cli.COMMANDS:
        tracker.cli.cli.get_command(ctx, name)
    sqlalchemy.orm.configure_mappers()
    _preload()
    try:
        engine = _warm_engine()
    except Exception as exc:  # workers then start cold: slower, never wrong
        log(f"warm-up failed, workers will compile their statements: {exc!r}")
        engine = None
    gc.enable()  # tracker.cli.main turned it off for its commands
    gc.collect()
    gc.freeze()
    return engine


def _preload() -> None:
    """What everyday commands load on first use where the scratch store's warm-up cannot
    reach: phone number formatting (a case's suggestions, `due`'s next steps; 50 ms of
    phonenumbers per command otherwise), the built-in policies (a TOML parse), the events'
    field kinds. Each is the same code the command would run; a failure is only slower."""
    steps: tuple[tuple[str, Callable[[], object]], ...] = (
        # The regions whose rules the built-in policies carry.
        ("phone metadata", lambda: tracker.directory.load_phone_metadata(("US", "GB"))),
        ("built-in policies", tracker.policy.builtin),
        ("event field kinds", tracker.history.load_field_kinds),
    )
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # the workers then load it themselves: slower, never wrong
            log(f"warm-up: loading the {what} failed: {exc!r}")


def _warm_engine() -> tracker.db.WarmEngine | None:
    """WARM_UP through tracker.cli.main in this process, on a store in a scratch folder,
    with no output; the environment, standard streams and caches are put back after."""
    import shutil
    import tempfile

    environ = dict(os.environ)
    streams = sys.stdin, sys.stdout, sys.stderr
    argv = sys.argv
    scratch = tempfile.mkdtemp(prefix="tracker-warm-")
    found: list[tracker.db.WarmEngine] = []
    try:
        for name in ("TRACKER_DB", "TRACKER_HOME", "XDG_CONFIG_HOME", "EDITOR", "VISUAL"):
            os.environ.pop(name, None)
        os.environ["TRACKER_HOME"] = scratch
        with open(os.devnull, "r+", encoding="utf-8") as null:
            sys.stdin = sys.stdout = sys.stderr = null
            with tracker.db.warm_up() as found:
                for args in WARM_UP:
                    sys.argv = ["tracker", *args]
                    code = run_cli()
                    if code != 0:
                        log(f"warm-up: `tracker {' '.join(args)}` exited {code}; no warm engine")
                        return None
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
        sys.argv = argv
        os.environ.clear()
        os.environ.update(environ)
        config.forget_settings()
        shutil.rmtree(scratch, ignore_errors=True)
    return found[0] if found else None


@dataclass
class Spare:
    """A worker forked ahead of its command, and the server's end of its socket."""

    pid: int
    sock: socket.socket
    ready: bool = False  # it has copied its pages and waits


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
    # The loop's wake-up pipe (a worker must not keep it).
    wake: tuple[int, ...] = ()
    # What a worker does once it is set up; tests replace it with nothing else.
    entry: Callable[[], int] | None = None
    # The engine a worker's first SQLite store adopts (warm: its statements compiled).
    warm_engine: tracker.db.WarmEngine | None = None
    # How many workers to keep forked ahead of the next command (the real server: SPARES).
    spares: int = 0
    ahead: list[Spare] = field(default_factory=list)  # forked ahead (ready or getting so)
    handed: int = 0  # commands a spare took
    # C clients' keys, each with the stdio settings of the Python client that vouched for it.
    c_keys: dict[bytes, list[bytes]] = field(default_factory=dict)

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
            if len(fields) < RUN_FIELDS or not self.takes(fields, fds):
                client.send_message(conn, [b"Rstale"])
                return None
            if self.stopping or len(self.workers) >= MAX_WORKERS:
                client.send_message(conn, [b"Rbusy"])
                return None
            pid = self._hand_to_spare(conn, fields[3:], fds)
            if pid is None:
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

    def takes(self, fields: list[bytes], fds: list[int]) -> bool:
        """Whether this server runs the command as its client would in-process: the Python
        client's key is this server's; a C client's (tracker/client.c) is one a Python
        client it handed a command to has vouched for (key "python+c"), and this server's
        code must still be current. For a C client the standard streams' settings (fields
        5 to 16) are filled in as that Python client's interpreter makes them."""
        given = fields[1]
        if given == self.key:
            return True
        python, plus, c_key = given.partition(b"+")
        if plus:
            if python != self.key or not c_key.startswith(b"c1:"):
                return False
            self.c_keys[c_key] = fields[5:17]
            return True
        template = self.c_keys.get(given)
        if template is None or client.key() != self.key:
            return False
        fields[5:17] = _stdio_like(template, fds)
        return True

    def status(self, their_key: bytes) -> list[bytes]:
        return [
            b"OK",
            b"pid=%d" % os.getpid(),
            b"started=%d" % int(self.started),
            b"served=%d" % self.served,
            b"running=%d" % len(self.workers),
            b"idle=%d" % int(self.idle),
            b"spares=%d" % sum(spare.ready for spare in self.ahead),
            b"spare_pids=" + b",".join(b"%d" % spare.pid for spare in self.ahead),
            b"handed=%d" % self.handed,
            b"current=" + (b"yes" if their_key == self.key else b"no"),
            b"socket=" + os.fsencode(self.path),
        ]

    def report(self, pid: int, status: int) -> None:
        """Tell the client how its worker ended (the server's own word: even a SIGKILL; a
        worker that finished has said so itself already)."""
        for spare in [s for s in self.ahead if s.pid == pid]:
            spare.sock.close()  # a spare that died before it had a command
            self.ahead.remove(spare)
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

    def _close_private(self, keep: socket.socket) -> None:
        """In a child just forked: close the server's descriptors (the listener, the other
        clients, the spares' sockets, the wake-up pipe), as they are now (a number taken
        earlier may since have been closed and reused for `keep`)."""
        mine = [self.listener, *self.workers.values()]
        mine += [spare.sock for spare in self.ahead]
        for sock in mine:
            if sock is not None and sock is not keep:
                with suppress(OSError):
                    os.close(sock.detach())
        for fd in self.wake:
            with suppress(OSError):
                os.close(fd)
        self.wake = ()

    # ----------------------------------------------------------------------- the spare

    def fork_spare(self) -> None:
        """Fork the worker of the next command now, while nobody waits: it copies the pages
        a command writes to (reference counts) before one arrives, and then waits for it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._wait_as_spare(theirs)  # never returns
        theirs.close()
        self.ahead.append(Spare(pid, ours))

    def _hand_to_spare(
        self, conn: socket.socket, fields: list[bytes], fds: list[int]
    ) -> int | None:
        """Give the command to a ready spare; its pid, or None (then fork one: a spare
        still copying its pages would not be quicker)."""
        spare = next((spare for spare in self.ahead if spare.ready), None)
        if spare is None:
            return None
        self.ahead.remove(spare)
        try:
            client.send_message(spare.sock, fields, (conn.fileno(), *fds))
        except OSError:
            with suppress(OSError):
                os.kill(spare.pid, signal.SIGKILL)
            return None
        finally:
            spare.sock.close()
        self.handed += 1
        return spare.pid

    def spare_said(self, spare: Spare) -> None:
        """A spare's socket is readable: it is ready, or it has gone."""
        try:
            said = spare.sock.recv(1)
        except OSError:
            said = b""
        if said == b"r":
            spare.ready = True
        else:
            spare.sock.close()
            self.ahead.remove(spare)

    def _wait_as_spare(self, sock: socket.socket) -> None:
        """In the spare: close what is the server's, copy the shared pages, say so, and
        wait for a command (or for the server to go: then leave)."""
        try:
            self._become_worker(keep=sock)  # now, not while a command waits
            # Reference every object once, and what each refers to (strings, numbers, code:
            # what the collector does not track): the page holding each is copied here, not
            # while a command waits for it (a `case show` of a 1k store met 1,650 page
            # faults in its worker, 325 after this). Then back out of the collector, as the
            # server had it.
            gc.unfreeze()
            everything = gc.get_objects()
            for obj in everything:
                gc.get_referents(obj)
            del everything
            gc.freeze()
            sock.sendall(b"r")
            sock.settimeout(None)
            fields, fds = _receive(sock)
        except (OSError, EOFError, ValueError):
            os._exit(0)
        sock.close()
        if len(fds) != 5:
            os._exit(1)
        conn = socket.socket(fileno=fds[0])
        # Its description is shared with the server, which changes its blocking mode: a
        # timeout here makes this socket's calls wait whatever that mode is.
        conn.settimeout(client.HANDSHAKE_SECONDS)
        self._work(conn, fields, fds[1:], ready=True)

    # ----------------------------------------------------------------------- the worker

    def _become_worker(self, keep: socket.socket) -> None:
        """In a child just forked: leave the server's descriptors, exit handlers, process
        group, engines and signal handlers behind (a spare does it before its command)."""
        atexit._clear()  # the parent's exit handlers are not this command's
        self._close_private(keep=keep)
        os.setpgid(0, 0)  # its own group: the client relays signals to all of it
        # SQLAlchemy's fork rule: a pooled connection of the parent is never used or
        # closed here (the real server has none; a test process forking workers does).
        for engine in list(tracker.db._ENGINES):
            engine.dispose(close=False)
        if self.warm_engine is not None:
            tracker.db.adopt(self.warm_engine)
        tracker.db.forget_writes()  # the warm-up's (or a test's) writes are not this command's
        _reset_signals()

    def _work(
        self, conn: socket.socket, fields: list[bytes], fds: list[int], *, ready: bool = False
    ) -> None:
        """In the forked worker: become the client's process, run the command, exit.
        `ready`: it is a spare, which became a worker before its command came."""
        code = 1
        try:
            if not ready:
                self._become_worker(keep=conn)
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
            if go != b"G":
                os._exit(0)  # the client gave up before the start: it runs it itself
            _install_stdio(stdio)
            sys.argv = [argv0, *args]
            code = self.entry() if self.entry is not None else run_cli(close_stores=False)
            code = _finish(code)
            # A write folds back into the SQLite file before the answer: a script's
            # `cp tracker.db` right after the command copies the change with the file.
            close_first = tracker.db.wrote()
            if close_first:
                tracker.cli.close_stores_now()
            # The command is done (committed and synced): from here on nothing the client
            # does may cut this process short, not even its leaving at once (the server
            # hangs up a worker whose client has gone).
            for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
                signal.signal(sig, signal.SIG_IGN)
            # Say it here, with the streams closed (a pipe's reader sees its end now): the
            # client need not wait for this process to be taken down and reaped.
            for fd in (0, 1, 2):
                with suppress(OSError):
                    os.close(fd)
            with suppress(OSError):
                client.send_message(conn, [b"X%d" % code])
            if not close_first:
                # A command that only read closes its connections now (on SQLite the last
                # close removes the WAL files; 1 ms the client no longer waits for).
                tracker.cli.close_stores_now()
        except BaseException:  # nothing may return into the server's loop
            with suppress(BaseException):
                traceback.print_exc()
                sys.stderr.flush()
        finally:
            os._exit(code)

    # ----------------------------------------------------------------------- the loop

    def serve_forever(self) -> None:
        wake_r, wake_w = os.pipe()
        self.wake = (wake_r, wake_w)
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
            getting_ready = [spare for spare in self.ahead if not spare.ready]
            watched += [spare.sock for spare in getting_ready]
            try:
                ready, _, _ = select.select(watched, [], [], 2.0)
            except InterruptedError:
                ready = []
            if wake_r in ready:
                with suppress(OSError):
                    while os.read(wake_r, 512):
                        pass
            for spare in getting_ready:
                if spare.sock in ready and spare in self.ahead:
                    self.spare_said(spare)
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
            if len(self.ahead) < self.spares and not self.stopping and not self.workers:
                self.fork_spare()  # while nothing runs: it never slows a running command
        self.stop_listening()
        for spare in self.ahead:
            spare.sock.close()  # it sees the end and leaves
        self.ahead.clear()

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


def _stdio_like(template: list[bytes], fds: list[int]) -> list[bytes]:
    """The stdio settings a Python client would report over these descriptors, given what
    one reported under the same environment: its encodings, error handlers and write-through
    (from the environment and the locale); line buffering as CPython sets it (buffered
    streams: stderr always, the others on a terminal)."""
    fields: list[bytes] = []
    for fd in range(3):
        encoding, errors, _line, through = template[fd * 4 : fd * 4 + 4]
        line = through == b"0" and (fd == 2 or os.isatty(fds[fd]))
        fields += [encoding, errors, b"1" if line else b"0", through]
    return fields


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


def run_cli(*, close_stores: bool = True) -> int:
    """The console script's entry, tracker.cli.main, as in-process; its exit code.
    `close_stores=False`: the stores' connections are left open for the caller to close."""
    try:
        tracker.cli.main(close_stores=close_stores)
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
    warm_engine = warm()
    if client.key() != key:
        log("refusing: tracker's files changed while they loaded")
        return 1
    idle = float(os.environ.get(IDLE_ENV) or IDLE_SECONDS)
    server = Server(
        folder / client.SOCKET_NAME, key, idle=idle, warm_engine=warm_engine, spares=SPARES
    )
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
