"""The `tracker` console script: hand the command to the warm command server, or run it here.

A Python command that imports SQLAlchemy spends most of its life starting up. The command
server (tracker/server.py) keeps a process with everything imported; this client, which
imports only the standard library (and not even `socket` or `signal`: their enum and
selectors imports cost 10 ms), passes it the command line, the environment, the working
folder, the umask and its own standard input, output and error (SCM_RIGHTS) over a Unix
socket. The server forks a worker that runs the very same Click command (tracker.cli.main)
with those descriptors as 0, 1 and 2, and the client exits with the worker's exit code.

Whenever the server cannot take the command (none running, another version or code, a
refusal, a failure before the command started) the command runs here, in-process, as if
there were no server, and a server is started in the background for next time (unless
TRACKER_NO_SERVER=1 or `server = false` in config.toml). Once the command has started in a
worker it is never run a second time: a failure is reported instead.

The protocol (one version, both ends in this package). Every message is a 4-byte length
and a body of NUL-separated fields (no argument, variable or path can hold a NUL):
  client -> server  [PROTOCOL, key, kind, ...]  kind is "run", "status" or "stop";
                    "run" carries the descriptors (stdin, stdout, stderr, the working
                    folder) and: umask, argv[0], the stdio settings, argc, args..., env...
  server -> client  "R" reason        refused: run it in-process ("stale", "busy", ...)
                    "S" pid           a worker is ready (its process group is pid)
  client -> worker  "G"               go: from here on the command counts as started
  server -> client  "X" code | "K" signal   the worker exited, or was killed
"""

from __future__ import annotations

import _socket  # `socket` costs 10 ms (enum, selectors); the C module is all we use
import os
import sys

import tracker

TYPE_CHECKING = False  # typing itself costs a client 5 to 20 ms; mypy knows this name
if TYPE_CHECKING:
    from collections.abc import Callable

PROTOCOL = b"tracker-server/1"
SOCKET_NAME = "server.sock"
NO_SERVER_ENV = "TRACKER_NO_SERVER"
C_KEY_ENV = "TRACKER_C_KEY"
# Commands that never run in a worker: the reminder daemon and one reminder pass (a
# scheduler with threads and notifiers belongs in its own process, never forked from the
# server), and the server's own commands.
IN_PROCESS = frozenset({"daemon", "remind", "server"})
# How long the client waits for a worker to be ready before it runs the command itself.
HANDSHAKE_SECONDS = 5.0
# Signals the client relays to the worker's process group while the command runs.
RELAYED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGWINCH", "SIGUSR1", "SIGUSR2")
# Interpreter settings a worker inherits from the server and cannot take from the client:
# when they differ, so does the key, and the command runs in-process.
_FLAGS = (
    "optimize",
    "dont_write_bytecode",
    "no_user_site",
    "no_site",
    "ignore_environment",
    "isolated",
    "bytes_warning",
    "dev_mode",
    "utf8_mode",
    "hash_randomization",
    "int_max_str_digits",
)
_ENV_KEYS = ("PYTHONPATH", "PYTHONHOME", "PYTHONWARNINGS")


class Refused(Exception):
    """The server did not take the command (it has not started): run it in-process."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Lost(Exception):
    """The command started in a worker and no exit status came back."""


# --------------------------------------------------------------------------- where and what


def data_dir() -> str:
    """tracker.config.data_dir() without importing it (platformdirs costs 15 ms): TRACKER_HOME,
    else the XDG data folder. tests/test_server.py checks that both agree; the server refuses
    to start where they do not."""
    home = os.environ.get("TRACKER_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    base = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
    return os.path.join(base, "tracker")


def socket_path(folder: str | None = None) -> str:
    return os.path.join(folder or data_dir(), SOCKET_NAME)


def key() -> bytes:
    """What a server must share with this client to run its commands as it would: the
    version, the package's files (path, size, modification time), the installed packages
    (the site-packages folders change when pip installs or removes one), the interpreter
    and the start-up settings a forked worker cannot change."""
    parts = [tracker.__version__, sys.executable, sys.version, sys.getfilesystemencoding()]
    parts += [f"{name}={getattr(sys.flags, name, '')}" for name in _FLAGS]
    parts += [f"{name}={os.environ.get(name, '')}" for name in _ENV_KEYS]
    package = os.path.dirname(os.path.abspath(tracker.__file__))
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")):
            try:
                parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
            except OSError:
                continue
    try:
        from _blake2 import blake2b  # hashlib would load OpenSSL first: 3 to 20 ms
    except ImportError:
        from hashlib import blake2b
    data = "\n".join(parts).encode("utf-8", "surrogateescape")
    return blake2b(data, digest_size=20).hexdigest().encode()


def command_name(args: list[str]) -> str | None:
    """The command of a command line (after the global options), or None."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--db":
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return arg
    return None


def wanted(args: list[str], environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether to ask a server at all."""
    if environ.get(NO_SERVER_ENV, "") not in ("", "0"):
        return False
    if not sys.platform.startswith("linux") or not hasattr(_socket, "SO_PEERCRED"):
        return False  # SO_PEERCRED and the descriptors passing are Linux's here
    return command_name(args) not in IN_PROCESS


# --------------------------------------------------------------------------- the wire


def pack(fields: list[bytes]) -> bytes:
    body = b"\0".join(fields)
    return len(body).to_bytes(4, "big") + body


def unpack(body: bytes) -> list[bytes]:
    return body.split(b"\0")


def recv_exact(sock: _socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_message(sock: _socket.socket) -> list[bytes]:
    size = int.from_bytes(recv_exact(sock, 4), "big")
    return unpack(recv_exact(sock, size))


def send_message(sock: _socket.socket, fields: list[bytes], fds: tuple[int, ...] = ()) -> None:
    data = pack(fields)
    if fds:
        rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
        sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        data = data[sent:]
    if data:
        sock.sendall(data)


def connect(path: str, timeout: float = HANDSHAKE_SECONDS) -> _socket.socket:
    """A connection to the server at `path`; Refused("absent") when nobody listens."""
    if len(os.fsencode(path)) > 107:
        raise Refused("the socket's path is too long for a Unix socket")
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise Refused("absent") from None
    return sock


def ask(path: str, kind: bytes, client_key: bytes | None = None) -> list[bytes]:
    """A control request ("status", "stop"); the server's answer fields."""
    sock = connect(path)
    try:
        send_message(sock, [PROTOCOL, client_key or key(), kind])
        return recv_message(sock)
    except (OSError, EOFError):
        raise Refused("no answer") from None
    finally:
        sock.close()


def stdio_settings() -> list[bytes]:
    """How this interpreter made sys.stdin, stdout and stderr (encoding, errors, line
    buffering, write-through), so that the worker's are the same."""
    fields = []
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        fields += [
            str(getattr(stream, "encoding", None) or "utf-8").encode(),
            str(getattr(stream, "errors", None) or "strict").encode(),
            b"1" if getattr(stream, "line_buffering", False) else b"0",
            b"1" if getattr(stream, "write_through", False) else b"0",
        ]
    return fields


# --------------------------------------------------------------------------- running a command


class Run:
    """One command handed to a server: `start()` (may raise Refused: nothing has run),
    then `wait()` for its exit status (may raise Lost)."""

    def __init__(self, path: str, client_key: bytes | None = None) -> None:
        self.path = path
        self.key = client_key
        self.sock: _socket.socket | None = None
        self.pgid = 0

    def start(
        self,
        args: list[str],
        fds: tuple[int, int, int],
        *,
        environ: dict[bytes, bytes] | None = None,
        argv0: str = "tracker",
        stdio: list[bytes] | None = None,
        ready: Callable[[int], None] | None = None,
    ) -> int:
        """Hand the command over; the worker's process group once it is ready. `ready` is
        called with it before the worker is told to go (to relay signals from then on: a
        Ctrl-C just after "go" reaches the command, as it would in-process)."""
        env = os.environb if environ is None else environ
        try:
            cwd = os.open(".", os.O_PATH | os.O_DIRECTORY)
        except OSError:
            raise Refused("no working folder") from None
        try:
            umask = os.umask(0o077)
            os.umask(umask)
            self.sock = connect(self.path)
            fields = [PROTOCOL, self.key or key(), b"run", b"%o" % umask, os.fsencode(argv0)]
            fields += stdio if stdio is not None else stdio_settings()
            fields += [b"%d" % len(args), *map(os.fsencode, args)]
            fields += [k + b"=" + v for k, v in env.items()]
            send_message(self.sock, fields, (*fds, cwd))
            answer = recv_message(self.sock)
        except (OSError, EOFError):
            self.close()
            raise Refused("failed before the command started") from None
        except Refused:
            self.close()
            raise
        finally:
            os.close(cwd)
        if answer[0][:1] != b"S":
            self.close()
            raise Refused(answer[0][1:].decode(errors="replace") or "refused")
        self.pgid = int(answer[0][1:])
        if ready is not None:
            ready(self.pgid)
        try:
            self.sock.sendall(b"G")  # committed: from here on, never run it again
        except OSError:
            raise Lost("the command server went away as the command started") from None
        self.sock.settimeout(None)
        return self.pgid

    def wait(self) -> tuple[str, int]:
        """("exit", code) or ("signal", number)."""
        assert self.sock is not None
        try:
            answer = recv_message(self.sock)[0]
        except (OSError, EOFError):
            raise Lost("lost the command server while the command ran") from None
        finally:
            self.close()
        kind, value = answer[:1], int(answer[1:])
        return ("signal", value) if kind == b"K" else ("exit", value)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def run_on_server(args: list[str], client_key: bytes | None = None) -> int:
    """The command through the server, from this process's own stdio; its exit code.
    Raises Refused when it has not started (run it in-process then)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            raise Refused("a standard stream is closed") from None
    run = Run(socket_path(), client_key)
    import signal as _signal  # cheap by now: the console script's `re` brought enum

    relayed: set[int] = set()

    def relay(signum: int, _frame: object) -> None:
        relayed.add(signum)
        _signal_group(run.pgid, signum)

    def stop(signum: int, _frame: object) -> None:
        # Ctrl-Z: stop the worker, then this client (the shell sees the job stop); `fg`
        # continues this client, and the SIGCONT handler below the worker.
        _signal_group(run.pgid, _signal.SIGTSTP)
        _signal.signal(_signal.SIGTSTP, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGTSTP)
        _signal.signal(_signal.SIGTSTP, stop)

    def cont(signum: int, _frame: object) -> None:
        _signal_group(run.pgid, _signal.SIGCONT)

    def relay_from_now(_pgid: int) -> None:
        # Before "go", as the C client does: from "go" on, Ctrl-C is the command's.
        for name in RELAYED:
            _signal.signal(getattr(_signal, name), relay)
        _signal.signal(_signal.SIGTSTP, stop)
        _signal.signal(_signal.SIGCONT, cont)

    run.start(args, (0, 1, 2), argv0=sys.argv[0], ready=relay_from_now)
    try:
        how, value = run.wait()
    except Lost as exc:
        _say(f"Error: {exc}; it was not run again (set {NO_SERVER_ENV}=1 to run without it)")
        return 1
    if how == "exit":
        return value
    if value in relayed:
        # The worker died of a signal this client was sent: die of it too, as the command
        # would have in-process (the shell reports it the same way).
        _signal.signal(value, _signal.SIG_DFL)
        os.kill(os.getpid(), value)
    _say(
        f"Error: the command was killed by signal {value} in the command server; "
        "it may have stopped part way (its change, if any, is whole or absent)"
    )
    return 128 + value


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except OSError:
        return  # it has exited: its status is on its way


def _say(line: str) -> None:
    try:
        os.write(2, (line + "\n").encode("utf-8", "backslashreplace"))
    except OSError:
        return


# --------------------------------------------------------------------------- the console script


def main() -> None:
    """The console script: through the server when one can take the command, else here."""
    args = sys.argv[1:]
    # Set by the C client (tracker/client.c) when it handed this command over: vouch for
    # its key, so that the server takes its next commands. Never seen by a command.
    c_key = os.environb.pop(C_KEY_ENV.encode(), b"")
    spawn = False
    if wanted(args):
        try:
            sys.exit(run_on_server(args, key() + b"+" + c_key if c_key else None))
        except Refused as exc:
            spawn = exc.reason in ("absent", "stale")
    run_in_process(spawn)


def run_in_process(spawn: bool) -> None:
    """tracker.cli.main, as if there were no server; then start one for next time."""
    try:
        from tracker.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:  # Ctrl-C while the command line loads: as Click says it
        sys.stderr.write("\nError: aborted\n")
        sys.exit(1)
    finally:
        if spawn:
            spawn_if_enabled()


def spawn_if_enabled() -> None:
    """Start a server in the background, detached (its own session, stdio on /dev/null),
    unless TRACKER_NO_SERVER is set or config.toml says `server = false`."""
    if os.environ.get(NO_SERVER_ENV, "") not in ("", "0"):
        return
    from tracker import config

    try:
        if config.settings().server is False:
            return
    except Exception:  # a config file in error: the command has said so already
        return
    import subprocess  # only here: 5 ms

    # The same interpreter flags (-I, -O, -X ...), and -P: never the working folder's modules.
    given: list[str] = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    flags: list[str] = []
    for flag in given:  # not -X importtime: a report of the server's own start-up
        if flag.split("=")[0] == "importtime" and flags[-1:] == ["-X"]:
            flags.pop()
        else:
            flags.append(flag)
    command = [sys.executable, *flags, "-P", "-m", "tracker.server", "--detached"]
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.posix_spawn(
            sys.executable,
            command,
            os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)],
            setsid=True,
        )
        os.close(devnull)
    except OSError:
        pass  # no server this time: the commands still run, in-process
