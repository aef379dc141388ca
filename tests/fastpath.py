"""The fast path inside the test process: the real client, a real Unix socket, and the real
server code answering in a thread of this process, so that each worker is forked from the
test itself and sees its frozen clock, its monkeypatched environment and its store.

TRACKER_TEST_PATH=fast makes every `Tracker` call (tests/conftest.py) go this way: the
command's stdin, stdout and stderr are real files handed over by descriptor, as the console
script hands over its own; the result has the shape of Click's test Result.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from tracker import client, server

# A client whose standard streams are files, in a UTF-8 locale (as the tests' TZ=UTC,
# LANG-less environment gives): what `stdio_settings()` reports for such a process.
STDIO = [
    *(b"utf-8", b"strict", b"0", b"0"),
    *(b"utf-8", b"strict", b"0", b"0"),
    *(b"utf-8", b"backslashreplace", b"1", b"0"),
]


@dataclass
class FastResult:
    """What the tests read of click.testing.Result."""

    stdout_bytes: bytes
    stderr_bytes: bytes
    exit_code: int
    exception: BaseException | None = None

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace").replace("\r\n", "\n")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace").replace("\r\n", "\n")

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class ThreadServer:
    """tracker.server.Server's connection handling, in a thread: one command at a time."""

    def __init__(self, folder: Path) -> None:
        # As the real server does: the workers start with it all imported, and their first
        # SQLite store takes the engine the warm-up compiled the everyday statements in.
        warm_engine = server.warm()
        assert warm_engine is not None, "the warm-up failed"
        self.key = b"test-key"
        self.server = server.Server(folder / client.SOCKET_NAME, self.key, warm_engine=warm_engine)
        self.server.listen()
        # One release per worker reaped: `run` returns once its worker has ended, as an
        # in-process command's process has (a worker closes its store after it answered).
        self.reaped = threading.Semaphore(0)
        self.thread = threading.Thread(target=self._loop, daemon=True, name="fast-path")
        self.thread.start()

    def _loop(self) -> None:
        listener = self.server.listener
        assert listener is not None
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed: the session is over
            pid = self.server.handle(conn)
            if pid is None:
                conn.close()
                continue
            self.server.workers[pid] = conn
            _, status = os.waitpid(pid, 0)
            self.server.report(pid, status)
            self.reaped.release()

    def run(self, args: list[str], input: str | bytes | None = None) -> FastResult:
        with (
            tempfile.TemporaryFile() as stdin,
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
        ):
            if input:
                stdin.write(input.encode() if isinstance(input, str) else input)
                stdin.seek(0)
            run = client.Run(os.fspath(self.server.path), self.key)
            run.start(args, (stdin.fileno(), out.fileno(), err.fileno()), stdio=STDIO)
            how, value = run.wait()
            assert self.reaped.acquire(timeout=60), "the worker did not end"
            assert how == "exit", f"the worker was killed by signal {value}"
            out.seek(0)
            err.seek(0)
            return FastResult(out.read(), err.read(), value)

    def close(self) -> None:
        listener = self.server.listener
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self.thread.join(timeout=5)
