"""Where the data lives. One function owns the answer (docs/contract.md, "Global")."""

from __future__ import annotations

import os
from pathlib import Path

from tracker.errors import UsageError

APP_NAME = "tracker"
DB_FILENAME = "tracker.db"


def expand_user(path: str | os.PathLike[str]) -> Path:
    """`~/x` and `~someone/x`, with a clear error when that user has no home folder."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise UsageError(f"cannot find the home folder in '{os.fspath(path)}'") from None


def data_dir() -> Path:
    """The folder for the default store: TRACKER_HOME, else the platform's user data folder."""
    home = os.environ.get("TRACKER_HOME")
    if home:
        return expand_user(home)
    # platformdirs costs ~15 ms: only pay it when no override is set.
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Where a user's policy file lives: TRACKER_HOME, else the platform's config folder."""
    home = os.environ.get("TRACKER_HOME")
    if home:
        return expand_user(home)
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


def database_url(override: str | None = None) -> str:
    """`--db` wins, then TRACKER_DB, then SQLite in data_dir()."""
    if override:
        return override
    env = os.environ.get("TRACKER_DB")
    if env:
        return env
    return f"sqlite:///{data_dir() / DB_FILENAME}"
