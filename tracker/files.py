"""Writing files the way a record deserves: 0600, whole or not at all, over nothing odd.

Every `-o FILE` (export csv/json/ics, case letter) goes through :func:`open_output`, and
`db backup` (SQLite writes a file it is given the name of) through :class:`PartialFile`.

=============================================  ========================================
the target                                     what happens
=============================================  ========================================
``-``                                          standard output (open_output only)
a new path, a regular file, a symlink to one   a 0600 temporary file beside it, fsynced,
                                               renamed over it (a symlink stays; the
                                               file it points to is replaced)
a character device (/dev/null), a FIFO         open_output writes in place; PartialFile
                                               refuses it (a database is not a stream)
a folder, a socket, a block device,            refused: UsageError, exit 2
a symlink to one of these or to nothing
=============================================  ========================================

Temporary files cannot outlive their process where Linux allows it: open_output writes an
unnamed O_TMPFILE file and names it only once it is complete. Elsewhere (no O_TMPFILE on the
file system, no /proc, and always for SQLite, which needs a name) the file is
``.NAME.tracker-PID-XXXXXXXX.tmp``, flock()ed while it is written; each later write into the
same folder removes the ones whose lock is free and whose process is gone (or that are older
than STALE_AFTER), with SQLite's -journal, -wal and -shm beside them.

Every OSError making, writing, syncing or renaming the file is a TrackerError naming the path
(exit 1): "cannot write PATH: No space left on device".
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Literal, NamedTuple, cast

from tracker.errors import TrackerError, UsageError

# An unlocked temporary file this old (seconds) is nobody's, whatever its pid says (reused).
STALE_AFTER = 60.0
# Temporary files of versions before the pid-and-lock names (tempfile.mkstemp's
# `.NAME.XXXXXXXX.tmp`, db backup's `.NAME.partial`) are removed once this old (seconds).
LEGACY_AFTER = 3600.0
BUFFER = 1 << 16

_TEMP = re.compile(
    r"\.(?P<name>.+)\.tracker-(?P<pid>\d+)-[0-9a-f]{8}\.tmp(?P<extra>-journal|-wal|-shm)?"
)
_LEGACY_TEMP = re.compile(r"[a-z0-9_]{8}\.tmp")
_SQLITE_FILES = ("-journal", "-wal", "-shm")
_UNSUPPORTED = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)  # O_TMPFILE not here


class Target(NamedTuple):
    """Where the bytes for a path go: `path` is the file itself (a symlink followed)."""

    path: Path
    kind: Literal["new", "file", "stream"]


def inspect_target(path: str | os.PathLike[str]) -> Target:
    """What writing to `path` means (see the table above); refuses what must not be written."""
    given = Path(path)
    try:
        info = os.stat(given)
    except FileNotFoundError:
        if os.path.islink(given):
            raise UsageError(f"{given} is a broken symbolic link; give a file name") from None
        return Target(given, "new")
    except OSError as exc:
        raise cannot_write(given, exc) from None
    mode = info.st_mode
    if stat.S_ISREG(mode):
        return Target(Path(os.path.realpath(given)) if os.path.islink(given) else given, "file")
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return Target(given, "stream")
    what = {stat.S_IFDIR: "a folder", stat.S_IFSOCK: "a socket", stat.S_IFBLK: "a block device"}
    raise UsageError(f"{given} is {what.get(stat.S_IFMT(mode), 'not a file')}; give a file name")


def cannot_write(name: str | os.PathLike[str], exc: OSError) -> TrackerError:
    return TrackerError(f"cannot write {os.fspath(name)}: {exc.strerror or exc}")


@contextmanager
def open_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Where `-o PATH` writes: '-' stdout, a device or FIFO in place, a file atomically (0600).

    The stream takes write() and flush(). Nothing reaches a file at PATH unless the block
    ends without an exception; a device or pipe has had what was written so far.
    """
    if os.fspath(path) == "-":
        with _stdout() as out:
            yield out
        return
    target = inspect_target(path)
    if target.kind == "stream":
        with _in_place(Path(path)) as out:
            yield out
        return
    with _atomic(Path(path), target) as out:
        yield out


@contextmanager
def atomic_private_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Write to a 0600 temporary file beside `path`, then rename it into place.

    If the block raises, the temporary file is removed and `path` is untouched: a failed
    export never leaves half a file. A target that cannot be written (no such folder, no
    permission, disk full) is a TrackerError naming it; one that is not a regular file (a
    device, a FIFO, a folder) is refused: it would be replaced.
    """
    target = inspect_target(path)
    if target.kind == "stream":
        raise UsageError(f"{os.fspath(path)} is not a regular file; give a file name")
    with _atomic(Path(path), target) as out:
        yield out


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_private_file(path) as handle:
        handle.write(data)


class PartialFile:
    """A 0600 file beside `path` for a writer that needs a name, renamed over `path` by commit().

    For SQLite's backup API, which writes the database at `self.path`. Only a regular file
    or a new path can take a database: a device or FIFO is refused. discard() (also after a
    commit) removes what is left: the file, and SQLite's -journal, -wal and -shm beside it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._given = Path(path)
        self._target = inspect_target(self._given)
        if self._target.kind == "stream":
            raise UsageError(f"{self._given} is not a regular file; a database needs a file")
        self._folder = _open_folder(self._given, self._target)
        try:
            self._temp = _Temp.named(self._folder, self._target.path.name, self._given)
        except BaseException:
            os.close(self._folder)
            raise
        assert self._temp.name is not None  # named() names it
        self.path = self._target.path.parent / self._temp.name

    def commit(self) -> None:
        try:
            self._temp.commit(self._given, self._target)
        finally:
            self.discard()

    def discard(self) -> None:
        self._temp.discard(companions=_SQLITE_FILES)
        if self._folder >= 0:
            os.close(self._folder)
            self._folder = -1


class _Sink:
    """write() and flush() over `send`; an OSError from them is a TrackerError naming `name`.

    `drain` is what flush() does after sending what is buffered (stdout's own flush). When
    `reader_may_leave`, a BrokenPipeError goes through as it is (`tracker export csv | head`).
    """

    def __init__(
        self,
        send: Callable[[bytes], object],
        name: str,
        *,
        buffered: bool,
        drain: Callable[[], None] | None = None,
        reader_may_leave: bool = False,
    ) -> None:
        self._send = send
        self._name = name
        self._buffer = bytearray() if buffered else None
        self._drain = drain
        self._reader_may_leave = reader_may_leave

    def write(self, data: bytes) -> int:
        if self._buffer is None:
            self._guard(self._send, data)
            return len(data)
        self._buffer += data
        if len(self._buffer) >= BUFFER:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self._guard(self._send, bytes(self._buffer))
            self._buffer.clear()
        if self._drain is not None:
            self._guard(self._drain)

    def _guard(self, action: Callable[..., object], *args: bytes) -> None:
        try:
            action(*args)
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) and self._reader_may_leave:
                raise
            raise cannot_write(self._name, exc) from None


def _write_all(fd: int) -> Callable[[bytes], None]:
    def send(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    return send


@contextmanager
def _stdout() -> Iterator[BinaryIO]:
    sys.stdout.flush()
    stdout = sys.stdout.buffer
    sink = _Sink(
        stdout.write, "to stdout", buffered=False, drain=stdout.flush, reader_may_leave=True
    )
    yield cast(BinaryIO, sink)
    sink.flush()


@contextmanager
def _in_place(path: Path) -> Iterator[BinaryIO]:
    # No O_CREAT, no O_TRUNC: a device or FIFO that vanished since it was looked at is not
    # recreated as a regular file here. A FIFO waits for its reader, as `> fifo` does.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
            raise TrackerError(f"{path} changed while it was opened; try again")
        sink = _Sink(_write_all(fd), str(path), buffered=True)
        yield cast(BinaryIO, sink)
        sink.flush()
    finally:
        os.close(fd)


@contextmanager
def _atomic(given: Path, target: Target) -> Iterator[BinaryIO]:
    folder = _open_folder(given, target)
    try:
        temp = _Temp.unnamed(folder, target.path.name, given)
        try:
            sink = _Sink(_write_all(temp.fd), str(given), buffered=True)
            yield cast(BinaryIO, sink)
            sink.flush()
            temp.commit(given, target)
        finally:
            temp.discard()
    finally:
        os.close(folder)


def _open_folder(given: Path, target: Target) -> int:
    """A descriptor of the folder the file goes in, once it is swept of stale temporary files."""
    try:
        fd = os.open(target.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise cannot_write(given, exc) from None
    sweep(fd, target.path.name)
    return fd


class _Temp:
    """A 0600 file in a folder on its way to becoming `name` there."""

    def __init__(self, folder: int, name: str, given: Path, fd: int, temp: str | None) -> None:
        self.folder, self.target, self.given, self.fd = folder, name, given, fd
        self.name = temp  # None while the file has no name (O_TMPFILE)
        self.done = False

    @classmethod
    def unnamed(cls, folder: int, name: str, given: Path) -> _Temp:
        """An O_TMPFILE file: a process killed before the rename leaves nothing behind."""
        flag = getattr(os, "O_TMPFILE", None)
        if flag is not None and os.path.isdir("/proc/self/fd"):
            try:
                fd = os.open(".", flag | os.O_WRONLY | os.O_CLOEXEC, 0o600, dir_fd=folder)
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED:
                    raise cannot_write(given, exc) from None
            else:
                temp = cls(folder, name, given, fd, None)
                temp._private()
                return temp
        return cls.named(folder, name, given)

    @classmethod
    def named(cls, folder: int, name: str, given: Path) -> _Temp:
        """`.NAME.tracker-PID-XXXXXXXX.tmp`, locked: sweep() removes it once it is stale."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        while True:
            temp = _temp_name(name)
            try:
                fd = os.open(temp, flags, 0o600, dir_fd=folder)
            except FileExistsError:
                continue
            except OSError as exc:
                raise cannot_write(given, exc) from None
            made = cls(folder, name, given, fd, temp)
            made._private()
            return made

    def _private(self) -> None:
        # A file system without locks (ENOLCK) still takes the file: sweep() then waits
        # for STALE_AFTER before it takes the file for abandoned.
        with suppress(OSError):
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            os.fchmod(self.fd, 0o600)
        except OSError as exc:
            self.discard()
            raise cannot_write(self.given, exc) from None

    def commit(self, given: Path, target: Target) -> None:
        """fsync the data, give the file its name, rename it over the target, fsync the folder."""
        try:
            os.fsync(self.fd)
            name = self.name or self._link()
            # What was looked at first may have changed: never rename over a device or FIFO.
            now = inspect_target(given)
            if now.path != target.path or now.kind == "stream":
                raise TrackerError(f"{given} changed while it was written; try again")
            os.replace(name, self.target, src_dir_fd=self.folder, dst_dir_fd=self.folder)
            self.done = True
            _sync_folder(self.folder)
        except OSError as exc:
            raise cannot_write(given, exc) from None

    def _link(self) -> str:
        while True:
            temp = _temp_name(self.target)
            try:
                # linkat(AT_SYMLINK_FOLLOW) through /proc: os.link takes that path only when
                # it is given a dir_fd.
                os.link(f"/proc/self/fd/{self.fd}", temp, dst_dir_fd=self.folder)
            except FileExistsError:
                continue
            self.name = temp
            return temp

    def discard(self, companions: tuple[str, ...] = ()) -> None:
        """Close the file; unless it was renamed into place, remove it (and its companions)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.done or self.name is None:
            return
        for suffix in ("", *companions):
            with suppress(FileNotFoundError):
                os.unlink(self.name + suffix, dir_fd=self.folder)
        self.name = None


def _temp_name(target: str) -> str:
    return f".{target}.tracker-{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _sync_folder(folder: int) -> None:
    try:
        os.fsync(folder)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):  # a folder that cannot be synced
            raise


def sweep(folder: int, name: str) -> None:
    """Remove stale temporary files of this program from the folder open as `folder`.

    Ours: `.ANY.tracker-PID-XXXXXXXX.tmp` whose lock is free and whose process is gone or
    which is older than STALE_AFTER (a lock held means someone is writing it, on this
    machine or another), with its -journal, -wal and -shm; a leftover -journal alone on
    the same terms. Also, for `name` only, an old version's `.NAME.XXXXXXXX.tmp` and
    `.NAME.partial` older than LEGACY_AFTER. A folder that cannot be listed is left alone.
    """
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    now = time.time()
    names = {entry.name for entry in entries}
    for entry in entries:
        with suppress(OSError):
            match = _TEMP.fullmatch(entry.name)
            if match is None:
                if _legacy(entry, name, now):
                    os.unlink(entry.name, dir_fd=folder)
                continue
            old = _age(entry, now) > STALE_AFTER
            gone = old or not _alive(int(match["pid"]))
            extra = match["extra"]
            if extra:
                if gone and entry.name.removesuffix(extra) not in names:
                    os.unlink(entry.name, dir_fd=folder)
            elif gone and entry.is_file(follow_symlinks=False):
                _remove_unlocked(folder, entry.name, old=old)


def _remove_unlocked(folder: int, name: str, *, old: bool) -> None:
    # Open for writing: where flock() is made of fcntl() locks (NFS), a read-only descriptor
    # cannot take an exclusive lock.
    flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(name, flags, dir_fd=folder)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # being written
        except OSError:
            if not old:  # no locks here (ENOLCK): only an old file is surely abandoned
                return
        for suffix in ("", *_SQLITE_FILES):
            with suppress(FileNotFoundError):
                os.unlink(name + suffix, dir_fd=folder)
    finally:
        os.close(fd)


def _legacy(entry: os.DirEntry[str], name: str, now: float) -> bool:
    rest = entry.name.removeprefix(f".{name}.")
    if rest == entry.name or not (rest == "partial" or _LEGACY_TEMP.fullmatch(rest)):
        return False
    info = entry.stat(follow_symlinks=False)
    private = stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    return private and now - info.st_mtime > LEGACY_AFTER


def _age(entry: os.DirEntry[str], now: float) -> float:
    return now - entry.stat(follow_symlinks=False).st_mtime


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
