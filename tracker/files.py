"""Writing files the way a record deserves: 0600, and whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from tracker.errors import TrackerError


@contextmanager
def atomic_private_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Write to a 0600 temporary file beside `path`, then rename it into place.

    If the block raises, the temporary file is removed and `path` is untouched: a failed
    export never leaves half a file. A target that cannot be written (no such folder, no
    permission, disk full when the data is flushed) is a TrackerError naming it.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                raise _cannot_write(target, exc) from None
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise _cannot_write(target, exc) from None
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _cannot_write(target: Path, exc: OSError) -> TrackerError:
    return TrackerError(f"cannot write {target}: {exc.strerror or exc}")


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_private_file(path) as handle:
        handle.write(data)
