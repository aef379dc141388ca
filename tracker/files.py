"""Writing files the way a record deserves: 0600, and whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_private_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Write to a 0600 temporary file beside `path`, then rename it into place.

    If the block raises, the temporary file is removed and `path` is untouched: a failed
    export never leaves half a file.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_private_file(path) as handle:
        handle.write(data)
