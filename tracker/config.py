"""Where the data lives. One function owns the answer (docs/contract.md, "Global")."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from tracker.errors import UsageError
from tracker.values import DATE_ORDERS, date_order_of, parse_region

APP_NAME = "tracker"
DB_FILENAME = "tracker.db"
CONFIG_FILENAME = "config.toml"


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


def cache_dir() -> Path:
    """Where computed data is kept to be read again (holiday calendars): TRACKER_HOME/cache,
    else the platform's user cache folder. Anything in it can be deleted."""
    home = tracker_home()
    if home is not None:
        return home / "cache"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False))


# --------------------------------------------------------------------------- the user's config


class Settings:
    """The user's config file (``config.toml`` in the config folder), all keys optional::

        country = "GB"            # or "GB-SCT": your country (and its part), ISO 3166
        date_order = "DMY"        # how you write 05/06: DMY, MDY or YMD (default: your country's)
        time_zone = "Europe/London"   # default: TZ, else the system's zone
        notify = ["desktop", "apprise:mailto://me:PASSWORD@smtp.example.org"]
        server = false            # never start the command server (default: true)

    Your country is the jurisdiction and the holiday calendar of a case whose organization
    has none, and a case at an organization of another country counts as abroad. `notify`
    is how reminders are shown when no --notifier is given (tracker.notify; default: the
    desktop): one value or a list, each a channel of its own. `server = false` keeps
    `tracker` from starting the command server (tracker/server.py) in the background.
    """

    __slots__ = ("country", "date_order", "notify", "server", "subdivision", "time_zone")

    def __init__(
        self,
        country: str | None = None,
        subdivision: str | None = None,
        date_order: str | None = None,
        time_zone: str | None = None,
        notify: tuple[str, ...] | None = None,
        server: bool | None = None,
    ) -> None:
        self.country = country
        self.subdivision = subdivision
        self.date_order = date_order
        self.time_zone = time_zone
        self.notify = notify
        self.server = server

    @property
    def order(self) -> str | None:
        """The date order: the file's, else the country's, else None (ambiguity refused)."""
        return self.date_order or date_order_of(self.country)


_SETTINGS_KEYS = ("country", "date_order", "time_zone", "notify", "server")
_NOTIFIER_KINDS = ("desktop", "plyer", "console")
_NOTIFIER_PREFIXES = ("command:", "apprise:")
_settings_cache: dict[tuple[str | None, str | None], Settings] = {}


def config_file() -> Path:
    return config_dir() / CONFIG_FILENAME


def settings() -> Settings:
    """The user's config file, read once per process and folder (no file: no settings)."""
    key = (os.environ.get("TRACKER_HOME"), os.environ.get("XDG_CONFIG_HOME"))
    found = _settings_cache.get(key)
    if found is None:
        found = _settings_cache[key] = _read_settings(config_file())
    return found


def _read_settings(path: Path) -> Settings:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    import tomllib

    where = f"config file {path}"
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(_SETTINGS_KEYS))
    if unknown:
        raise UsageError(
            f"{where}: unknown key '{unknown[0]}' (known: {', '.join(_SETTINGS_KEYS)})"
        )
    notify = _notify_setting(data.pop("notify", None), where)
    server = data.pop("server", None)
    if server is not None and not isinstance(server, bool):
        raise UsageError(f"{where}: server must be true or false")
    for name, value in data.items():
        if not isinstance(value, str):
            raise UsageError(f"{where}: {name} must be text")
    region = parse_region(data.get("country"), where)
    order = data.get("date_order")
    if order is not None:
        order = order.strip().upper()
        if order not in DATE_ORDERS:
            raise UsageError(
                f"{where}: date_order must be one of {', '.join(DATE_ORDERS)}, "
                f"not '{data['date_order']}'"
            )
    zone = data.get("time_zone")
    if zone is not None:
        zone = zone.strip()
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(zone)
        except (ValueError, LookupError, OSError):
            raise UsageError(
                f"{where}: unknown time_zone '{zone}'; use a name such as Europe/London"
            ) from None
    return Settings(
        country=region[0] if region else None,
        subdivision=region[1] if region else None,
        date_order=order,
        time_zone=zone,
        notify=notify,
        server=server,
    )


def _notify_setting(value: object, where: str) -> tuple[str, ...] | None:
    """`notify`: one notifier or a list of them, each desktop, console, command:CMD or
    apprise:URL (checked for its kind here; made, and so checked whole, when used)."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise UsageError(f"{where}: notify must be a notifier or a list of them, as text")
    found: list[str] = []
    for spec in values:
        spec = spec.strip()
        if spec not in _NOTIFIER_KINDS and not (
            spec.startswith(_NOTIFIER_PREFIXES) and spec.split(":", 1)[1].strip()
        ):
            shown = spec.split("://", 1)[0] + ("://..." if "://" in spec else "")
            raise UsageError(
                f"{where}: unknown notifier '{shown}' in notify; "
                "use desktop, console, command:CMD or apprise:URL"
            )
        found.append(spec)
    return tuple(found)
