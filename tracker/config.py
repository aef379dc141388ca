"""Where the data lives. One function owns the answer (docs/contract.md, "Global")."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from tracker.errors import UsageError

APP_NAME = "tracker"
DB_FILENAME = "tracker.db"


def expand_user(path: str | os.PathLike[str]) -> Path:
    """`~/x` and `~someone/x`, with a clear error when that user has no home folder."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise UsageError(f"cannot find the home folder in '{os.fspath(path)}'") from None


def tracker_home() -> Path | None:
    """TRACKER_HOME as an absolute folder, or None when it is not set.

    A TRACKER_HOME that is a file (or lies under one) can never hold a store: bad input,
    refused before anything is opened or created.
    """
    home = os.environ.get("TRACKER_HOME")
    if not home:
        return None
    folder = expand_user(home).absolute()
    for place in (folder, *folder.parents):
        try:
            if place.is_dir():
                break
            if place.exists():
                what = "a file" if place == folder else f"under {place}, which is a file"
                raise UsageError(f"TRACKER_HOME is {folder}, {what}; it must be a folder")
        except OSError:  # not ours to judge here (a permission): the store's opening names it
            break
    return folder


def data_dir() -> Path:
    """The folder for the default store: TRACKER_HOME, else the platform's user data folder."""
    home = tracker_home()
    if home is not None:
        return home
    # platformdirs costs ~15 ms: only pay it when no override is set.
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Where a user's policy file lives: TRACKER_HOME, else the platform's config folder."""
    home = tracker_home()
    if home is not None:
        return home
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


def sqlite_url(path: Path) -> str:
    """A SQLite URL for `path` that parses back to exactly `path`, whatever it holds
    (`#`, `?`, `%`, spaces, non-ASCII): the path is percent-quoted."""
    return "sqlite:///" + quote(os.fspath(path), safe="/")


def store_location(override: str | None = None) -> tuple[str, str]:
    """The store's URL and where it came from: "--db", "TRACKER_DB", "TRACKER_HOME", or
    "default" (the user data folder)."""
    if override is not None:
        return override, "--db"
    env = os.environ.get("TRACKER_DB")
    if env:
        return env, "TRACKER_DB"
    home = tracker_home()
    folder = home if home is not None else data_dir()
    return sqlite_url(folder / DB_FILENAME), "TRACKER_HOME" if home is not None else "default"


def database_url(override: str | None = None) -> str:
    """`--db` wins, then TRACKER_DB, then SQLite in data_dir()."""
    return store_location(override or None)[0]
