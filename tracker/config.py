"""Where the data lives. One function owns the answer (docs/contract.md, "Global")."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tracker.errors import UsageError
from tracker.files import write_private
from tracker.redact import mask, redact
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
        name = "Ada Lovelace"     # the sender of a letter
        address = ["1 Main St", "Springfield, IL 62701"]   # or one text, lines split at \\n
        email = "ada@example.org" # your own address: which emails you sent
        locale = "en_GB"          # the letters' date and money format (default: by country)
        server = false            # never start the command server (default: true)

    Your country is the jurisdiction and the holiday calendar of a case whose organization
    has none, and a case at an organization of another country counts as abroad. `notify`
    is how reminders are shown when no --notifier is given (tracker.notify; default: the
    desktop): one value or a list, each a channel of its own. `tracker config set KEY VALUE`
    writes the file (tracker.cli.config). `server = false` keeps `tracker` from starting
    the command server (tracker/server.py) in the background.
    """

    __slots__ = (
        "address",
        "country",
        "date_order",
        "email",
        "locale",
        "name",
        "notify",
        "server",
        "subdivision",
        "time_zone",
    )

    def __init__(
        self,
        country: str | None = None,
        subdivision: str | None = None,
        date_order: str | None = None,
        time_zone: str | None = None,
        notify: tuple[str, ...] | None = None,
        name: str | None = None,
        address: tuple[str, ...] | None = None,
        email: str | None = None,
        locale: str | None = None,
        server: bool | None = None,
    ) -> None:
        self.country = country
        self.subdivision = subdivision
        self.date_order = date_order
        self.time_zone = time_zone
        self.notify = notify
        self.name = name
        self.address = address
        self.email = email
        self.locale = locale
        self.server = server

    @property
    def order(self) -> str | None:
        """The date order: the file's, else the country's, else None (ambiguity refused)."""
        return self.date_order or date_order_of(self.country)


SETTINGS_KEYS = (
    "country",
    "date_order",
    "time_zone",
    "notify",
    "name",
    "address",
    "email",
    "locale",
    "server",
)
"""Every key of config.toml, in the order `tracker config show` lists them."""
BOOL_KEYS = ("server",)
"""Keys that are true or false (`config set server false`)."""
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
LIST_KEYS = ("notify", "address")
"""Keys that hold a list (one value, or several: `config set address LINE LINE`)."""
_NOTIFIER_KINDS = ("desktop", "plyer", "console")
_NOTIFIER_PREFIXES = ("command:", "apprise:")
_LOCALE = re.compile(r"[a-z]{2,3}(?:_[A-Z][a-z]{3})?(?:_(?:[A-Z]{2}|\d{3}))?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
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


def forget_settings() -> None:
    """Read the file again next time (after `config set` wrote it)."""
    _settings_cache.clear()


def read_config_data(path: Path) -> dict[str, Any]:
    """The file's keys as TOML gives them ({} when there is no file); UsageError if it is
    not TOML."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    import tomllib

    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    return data


def _read_settings(path: Path) -> Settings:
    if not path.exists():
        return Settings()
    return settings_of(read_config_data(path), f"config file {path}")


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def settings_of(data: dict[str, Any], where: str) -> Settings:
    """The settings of a config file's keys, each checked; UsageError naming `where`."""
    data = dict(data)
    unknown = sorted(set(data) - set(SETTINGS_KEYS))
    if unknown:
        raise UsageError(
            f"{_at(where)}unknown key '{unknown[0]}' (known: {', '.join(SETTINGS_KEYS)})"
        )
    notify = _notify_setting(data.pop("notify", None), where)
    address = _address_setting(data.pop("address", None), where)
    server = data.pop("server", None)
    if server is not None and not isinstance(server, bool):
        raise UsageError(f"{_at(where)}server must be true or false")
    for name, value in data.items():
        if not isinstance(value, str):
            raise UsageError(f"{_at(where)}{name} must be text")
    for key in ("name", "email"):
        if key in data:
            data[key] = _personal(data[key], key, where)
    email = data.get("email")
    if email is not None and not _EMAIL.fullmatch(email):
        raise UsageError(f"{_at(where)}email '{email}' is not an email address (name@example.org)")
    locale = data.get("locale")
    if locale is not None:
        locale = locale.strip().replace("-", "_")
        if not _LOCALE.fullmatch(locale):
            raise UsageError(
                f"{_at(where)}locale '{data['locale']}' is not a locale such as en_GB or de_DE"
            )
    region = parse_region(data.get("country"), where or None)
    order = data.get("date_order")
    if order is not None:
        order = order.strip().upper()
        if order not in DATE_ORDERS:
            raise UsageError(
                f"{_at(where)}date_order must be one of {', '.join(DATE_ORDERS)}, "
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
                f"{_at(where)}unknown time_zone '{zone}'; use a name such as Europe/London"
            ) from None
    return Settings(
        country=region[0] if region else None,
        subdivision=region[1] if region else None,
        date_order=order,
        time_zone=zone,
        notify=notify,
        name=data.get("name"),
        address=address,
        email=email,
        locale=locale,
        server=server,
    )


def _personal(value: str, key: str, where: str) -> str:
    """Your name, an address line, your email: one line, and no card data (a letter and
    the history print them)."""
    text = " ".join(value.split())
    if not text:
        raise UsageError(f"{_at(where)}{key} is empty")
    if len(text) > 200:
        raise UsageError(f"{_at(where)}{key} is too long (200 characters at most)")
    if redact(text).changed:
        raise UsageError(f"{_at(where)}{key} holds card data ('{mask(text)}'); remove it")
    return text


def _address_setting(value: object, where: str) -> tuple[str, ...] | None:
    """`address`: a list of lines, or one text whose lines are split at line breaks (a TOML
    multi-line string, or "\\n" typed in it)."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise UsageError(f"{_at(where)}address must be text or a list of lines")
    lines = [
        _personal(line, "address", where)
        for item in values
        for line in item.replace("\\n", "\n").splitlines()
        if line.strip()
    ]
    if not lines:
        raise UsageError(f"{_at(where)}address is empty")
    if len(lines) > 10:
        raise UsageError(f"{_at(where)}address has more than 10 lines")
    return tuple(lines)


def _notify_setting(value: object, where: str) -> tuple[str, ...] | None:
    """`notify`: one notifier or a list of them, each desktop, console, command:CMD or
    apprise:URL (checked for its kind here; made, and so checked whole, when used)."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise UsageError(f"{_at(where)}notify must be a notifier or a list of them, as text")
    found: list[str] = []
    for spec in values:
        spec = spec.strip()
        if spec not in _NOTIFIER_KINDS and not (
            spec.startswith(_NOTIFIER_PREFIXES) and spec.split(":", 1)[1].strip()
        ):
            shown = spec.split("://", 1)[0] + ("://..." if "://" in spec else "")
            raise UsageError(
                f"{_at(where)}unknown notifier '{shown}' in notify; "
                "use desktop, console, command:CMD or apprise:URL"
            )
        found.append(spec)
    return tuple(found)


# --------------------------------------------------------------------------- writing it


def setting_value(found: Settings, key: str) -> str | tuple[str, ...] | None:
    """A key's value as the file means it (country with its part: GB-SCT)."""
    if key not in SETTINGS_KEYS:
        raise UsageError(f"unknown setting '{key}' (known: {', '.join(SETTINGS_KEYS)})")
    if key == "country" and found.country and found.subdivision:
        return f"{found.country}-{found.subdivision}"
    if key in BOOL_KEYS:
        flag = getattr(found, key)
        return None if flag is None else ("true" if flag else "false")
    value: str | tuple[str, ...] | None = getattr(found, key)
    return value


def write_setting(key: str, values: Sequence[str] | None) -> Settings:
    """Set `key` in config.toml to `values` (None: remove it), keeping every other key and
    comment of the file as it is; the new file is checked whole before it replaces the
    old one (0600: a notifier's URL may hold a password). Returns the new settings."""
    if key not in SETTINGS_KEYS:
        raise UsageError(f"unknown setting '{key}' (known: {', '.join(SETTINGS_KEYS)})")
    path = config_file()
    data = read_config_data(path)
    text = path.read_text(encoding="utf-8") if data or path.exists() else ""
    new = dict(data)
    if values is None:
        new.pop(key, None)
    else:
        if len(values) != 1 and key not in LIST_KEYS:
            raise UsageError(f"{key} takes one value, not {len(values)}")
        if key in BOOL_KEYS:
            if values[0].strip().lower() not in _BOOLS:
                raise UsageError(f"{key} is true or false, not '{values[0]}'")
            new[key] = _BOOLS[values[0].strip().lower()]
        else:
            new[key] = list(values) if key in LIST_KEYS else values[0]
    checked = settings_of(new, "")
    if values is not None:
        # What is written is what was checked: the address as its lines, a locale as en_GB.
        stored: object = getattr(checked, key) if key in BOOL_KEYS else setting_value(checked, key)
        if isinstance(stored, tuple):
            stored = stored[0] if key == "notify" and len(stored) == 1 else list(stored)
        new[key] = stored
    lines = _without_key(text.splitlines(keepends=True), key)
    if values is not None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(f"{key} = {_toml_value(new[key])}\n")
    result = "".join(lines)
    import tomllib

    if tomllib.loads(result) != new:  # a file this code cannot edit safely: leave it alone
        raise UsageError(f"cannot edit config file {path} safely; change {key} by hand")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, result.encode("utf-8"))
    forget_settings()
    return checked


def _without_key(lines: list[str], key: str) -> list[str]:
    """The file's lines without the statement that sets `key` (it may span lines)."""
    import tomllib

    start = re.compile(rf"""\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    for first, line in enumerate(lines):
        if not start.match(line):
            continue
        for last in range(first + 1, len(lines) + 1):
            try:
                if key in tomllib.loads("".join(lines[first:last])):
                    return lines[:first] + lines[last:]
            except tomllib.TOMLDecodeError:
                continue
    return lines


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
