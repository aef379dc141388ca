"""Notifier backends: how a reminder reaches the user, and whether it did.

A reminder counts as shown only when someone could see it, so every backend reports:
``notify`` returns a receipt (the notification server's id where there is one) or raises
NotifyError with the reason, and ``check`` says before anything is claimed whether the
backend can show anything at all (raising NotifyError with ``unavailable=True``: no session
bus, no notification server, no such command).

- ``desktop`` (the default; ``plyer`` is the same notifier, its old name): on Linux and the
  BSDs it calls ``org.freedesktop.Notifications.Notify`` on the session bus itself, through
  jeepney (pure Python, a dependency) or dbus-python when jeepney is missing, and counts the
  notification as shown only when the server answered with its id. plyer's own Linux path
  cannot tell a failure (its notify-send fallback ignores the exit code), so it is used only
  on the platforms where D-Bus is not the way (macOS, Windows), where a failure raises.
- ``console`` prints to stdout with a timestamp; shown when the write succeeded.
- ``command:CMD`` runs CMD with the title and the body as two more arguments; shown on exit 0.
  A number alone on the first line of its output (``notify-send --print-id``) is the receipt.
- ``apprise:URL`` sends through Apprise (the ``apprise`` extra): email, ntfy, Matrix,
  Telegram, Pushover and the rest, one URL each (several URLs in one value, separated by
  spaces or commas, are one channel each). Shown when Apprise reports the delivery done (an
  SMTP server that accepted the message, an HTTP endpoint that answered 2xx); its False is
  a NotifyError. A URL holds passwords and tokens: the notifier's name, its errors and its
  log lines show it as Apprise's privacy form (``mailto://me:****@smtp.example.org``).

Several notifiers at once (``--notifier`` repeated, or ``notify = [...]`` in the config
file) are one ``Notifiers``: each is a channel of its own, every reminder is sent to each,
and it counts as shown when at least one channel confirmed it. A channel that failed is not
tried again for that reminder (the others would show it twice); its error is kept in
``missed`` for the caller to report. When none confirmed, it stays due as for one notifier.

The only module that imports plyer, jeepney, dbus or apprise, each lazily: everyday
commands load none.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TextIO
from urllib.parse import quote, unquote

from tracker.config import settings
from tracker.errors import UsageError
from tracker.redact import mask, redact

APP_NAME = "tracker"
COMMAND_TIMEOUT = 30.0  # seconds; well under a claim's lease
DBUS_TIMEOUT = 10.0  # seconds for the notification server to answer
NOTIFIERS = "desktop, console, command:CMD or apprise:URL"

_NOTIFICATIONS = "org.freedesktop.Notifications"
_NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
_DESKTOP = "cannot show desktop notifications"


class NotifyError(Exception):
    """The notification was not shown; the message says why.

    ``unavailable``: the notifier cannot show anything now (no session bus, no notification
    server, no such command), so there is no point trying the next reminder either.
    """

    def __init__(self, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable


class Notifier(Protocol):
    name: str

    def check(self) -> None:
        """Raise NotifyError(unavailable=True) if nothing can be shown now."""

    def notify(self, title: str, body: str) -> str | None:
        """Show one notification; its receipt (the server's id) or None. Raise NotifyError."""


# --------------------------------------------------------------------------- D-Bus


def session_bus_address(env: dict[str, str] | None = None) -> str:
    """The session bus's address, as libdbus finds it: $DBUS_SESSION_BUS_ADDRESS, else the
    user bus that systemd-logind makes at $XDG_RUNTIME_DIR/bus. NotifyError if neither."""
    env = dict(os.environ) if env is None else env
    address = env.get("DBUS_SESSION_BUS_ADDRESS", "").strip()
    if address:
        return address
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime:
        path = os.path.join(runtime, "bus")
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.stat(path).st_mode):
                return f"unix:path={path}"
    raise NotifyError(
        f"{_DESKTOP}: no session bus (DBUS_SESSION_BUS_ADDRESS is not set)", unavailable=True
    )


def _no_server() -> NotifyError:
    return NotifyError(
        f"{_DESKTOP}: no notification server on the session bus (nothing owns {_NOTIFICATIONS})",
        unavailable=True,
    )


class _Jeepney:
    """The session bus through jeepney: one connection, opened again after a failure."""

    def __init__(self) -> None:
        self._conn: Any = None
        self._address: str | None = None

    def _connection(self) -> Any:
        from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

        address = session_bus_address()
        if self._conn is not None and address == self._address:
            return self._conn
        self.close()
        try:
            self._conn = open_dbus_connection(bus=address)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise NotifyError(
                f"{_DESKTOP}: cannot reach the session bus at {address} "
                f"({type(exc).__name__}: {_one_line(str(exc))})",
                unavailable=True,
            ) from None
        self._address = address
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def call(self, dest: str, path: str, interface: str, method: str, sig: str, *args: Any) -> Any:
        from jeepney import DBusAddress, new_method_call  # type: ignore[import-untyped]
        from jeepney.wrappers import unwrap_msg  # type: ignore[import-untyped]

        conn = self._connection()
        address = DBusAddress(path, bus_name=dest, interface=interface)
        msg = new_method_call(address, method, sig, args)
        try:
            reply = conn.send_and_get_reply(msg, timeout=DBUS_TIMEOUT)
        except (OSError, TimeoutError, EOFError, ValueError) as exc:
            self.close()
            raise NotifyError(
                f"{_DESKTOP}: the session bus stopped answering ({type(exc).__name__})"
            ) from None
        return unwrap_msg(reply)  # raises DBusErrorResponse for an error reply

    def error_name(self, exc: Exception) -> str | None:
        from jeepney.wrappers import DBusErrorResponse

        return str(exc.name) if isinstance(exc, DBusErrorResponse) else None

    def has_server(self) -> bool:
        bus = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
        (owned,) = self.call(*bus, "NameHasOwner", "s", _NOTIFICATIONS)
        if owned:
            return True
        (names,) = self.call(*bus, "ListActivatableNames", "")
        return _NOTIFICATIONS in names

    def notify(self, title: str, body: str) -> int:
        (server_id,) = self.call(
            _NOTIFICATIONS, _NOTIFICATIONS_PATH, _NOTIFICATIONS, "Notify", "susssasa{sv}i",
            APP_NAME, 0, "", title, body, [], {}, -1,
        )  # fmt: skip
        return int(server_id)


class _DBusPython:
    """The session bus through dbus-python (the `desktop` extra), when jeepney is missing."""

    def __init__(self) -> None:
        self._bus: Any = None

    def _connection(self) -> Any:
        import dbus

        address = session_bus_address()
        if self._bus is None:
            try:
                self._bus = dbus.bus.BusConnection(address)
            except dbus.exceptions.DBusException as exc:
                raise NotifyError(
                    f"{_DESKTOP}: cannot reach the session bus at {address} "
                    f"({_one_line(exc.get_dbus_message() or str(exc))})",
                    unavailable=True,
                ) from None
        return self._bus

    def close(self) -> None:
        if self._bus is not None:
            with contextlib.suppress(Exception):
                self._bus.close()
        self._bus = None

    def error_name(self, exc: Exception) -> str | None:
        import dbus

        if isinstance(exc, dbus.exceptions.DBusException):
            name = exc.get_dbus_name()
            if name == "org.freedesktop.DBus.Error.Disconnected":
                self.close()
            return str(name)
        return None

    def has_server(self) -> bool:
        bus = self._connection()
        return bool(bus.name_has_owner(_NOTIFICATIONS)) or _NOTIFICATIONS in (
            bus.list_activatable_names()
        )

    def notify(self, title: str, body: str) -> int:
        import dbus

        obj = self._connection().get_object(_NOTIFICATIONS, _NOTIFICATIONS_PATH, introspect=False)
        interface = dbus.Interface(obj, _NOTIFICATIONS)
        return int(
            interface.Notify(
                APP_NAME, dbus.UInt32(0), "", title, body, dbus.Array([], signature="s"),
                dbus.Dictionary({}, signature="sv"), dbus.Int32(-1), timeout=DBUS_TIMEOUT,
            )
        )  # fmt: skip


def dbus_client() -> str | None:
    """Which D-Bus client the desktop notifier uses: "jeepney", "dbus-python" or None."""
    if importlib.util.find_spec("jeepney") is not None:
        return "jeepney"
    if importlib.util.find_spec("dbus") is not None:
        return "dbus-python"
    return None


def uses_dbus() -> bool:
    """Desktop notifications go through the session bus here (not macOS or Windows)."""
    return sys.platform not in ("darwin", "win32", "cygwin")


class DesktopNotifier:
    """A desktop notification, shown only when the notification server accepted it."""

    name = "desktop"

    def __init__(self, client: str | None = None) -> None:
        self.client = client if client is not None else dbus_client()
        self._bus: _Jeepney | _DBusPython | None = None
        if uses_dbus():
            if self.client == "jeepney":
                self._bus = _Jeepney()
            elif self.client == "dbus-python":
                self._bus = _DBusPython()

    @property
    def via(self) -> str:
        """How it reaches the desktop, for the daemon's first log line."""
        if not uses_dbus():
            return "plyer"
        return f"D-Bus through {self.client}" if self.client else "nothing (no D-Bus client)"

    def _require_bus(self) -> _Jeepney | _DBusPython:
        if self._bus is None:
            raise NotifyError(
                f"{_DESKTOP}: no D-Bus client is installed (pip install jeepney)", unavailable=True
            )
        return self._bus

    def _dbus_error(self, bus: _Jeepney | _DBusPython, exc: Exception) -> NotifyError | None:
        name = bus.error_name(exc)
        if name is None:
            return None
        if name in (
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
        ):
            return _no_server()
        if name in ("org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout"):
            return NotifyError(f"{_DESKTOP}: the notification server did not answer ({name})")
        detail = _one_line(str(exc))
        return NotifyError(f"{_DESKTOP}: {name}" + (f": {detail}" if detail else ""))

    def check(self) -> None:
        if not uses_dbus():
            return  # plyer's platforms: a failure shows when notifying
        bus = self._require_bus()
        try:
            found = bus.has_server()
        except NotifyError:
            raise
        except Exception as exc:
            error = self._dbus_error(bus, exc)
            if error is None:
                raise
            error.unavailable = True
            raise error from None
        if not found:
            raise _no_server()

    def notify(self, title: str, body: str) -> str | None:
        if not uses_dbus():
            _plyer_notify(title, body)
            return None
        bus = self._require_bus()
        try:
            server_id = bus.notify(title, body)
        except NotifyError:
            raise
        except Exception as exc:
            error = self._dbus_error(bus, exc)
            if error is None:
                raise NotifyError(
                    f"{_DESKTOP}: {type(exc).__name__}: {_one_line(str(exc))}"
                ) from exc
            raise error from None
        if server_id <= 0:
            raise NotifyError(f"{_DESKTOP}: the notification server answered with no id")
        return str(server_id)


def _plyer_notify(title: str, body: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from plyer import notification

        try:
            notification.notify(title=title, message=body, app_name=APP_NAME)
        except Exception as exc:  # NotImplementedError, the platform's own errors
            raise NotifyError(f"{_DESKTOP}: {type(exc).__name__}: {_one_line(str(exc))}") from exc


# --------------------------------------------------------------------------- console, command


class ConsoleNotifier:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def check(self) -> None:
        return None

    def notify(self, title: str, body: str) -> str | None:
        stream = self._stream or sys.stdout
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        try:
            stream.write(f"{stamp}  {title} — {body}\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise NotifyError(f"cannot write to stdout: {exc}") from exc
        return None


_RECEIPT = re.compile(r"\s*(\d{1,18})\s*(?:\n|$)")


class CommandNotifier:
    def __init__(self, command: str) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise UsageError(f"invalid notifier command '{command}': {exc}") from None
        if not self.argv:
            raise UsageError("the command notifier needs a command, e.g. command:notify-send")
        self.name = f"command:{command}"

    def check(self) -> None:
        program = self.argv[0]
        if shutil.which(program) is None:
            found = os.path.exists(program) if os.sep in program else False
            raise NotifyError(
                f"command not executable: {program}" if found else f"command not found: {program}",
                unavailable=True,
            )

    def notify(self, title: str, body: str) -> str | None:
        try:
            result = subprocess.run(
                [*self.argv, title, body],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise NotifyError(f"command not found: {self.argv[0]}", unavailable=True) from None
        except PermissionError:
            raise NotifyError(f"command not executable: {self.argv[0]}", unavailable=True) from None
        except subprocess.TimeoutExpired:
            raise NotifyError(f"'{self.argv[0]}' did not finish in {COMMAND_TIMEOUT:g} s") from None
        if result.returncode != 0:
            reason = f"'{self.argv[0]}' exited with code {result.returncode}"
            detail = _one_line(result.stderr.decode(errors="replace"))
            raise NotifyError(f"{reason}: {detail}" if detail else reason)
        receipt = _RECEIPT.match(result.stdout[:200].decode(errors="replace"))
        return receipt.group(1) if receipt else None


# --------------------------------------------------------------------------- Apprise

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^/@:\s]*):(?P<secret>[^/@\s]*)@")


def mask_secrets(text: str) -> str:
    """``scheme://user:password@`` as ``scheme://user:****@``: what a URL given as a
    notifier or a store shows in a message, a log line or `daemon status` without Apprise."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:****@", text)


def is_apprise(spec: str) -> bool:
    return spec.startswith("apprise:")


def _apprise() -> Any:
    try:
        import apprise  # the `apprise` extra
    except ImportError:
        raise UsageError(
            "the apprise notifier needs Apprise (the apprise extra): pip install apprise"
        ) from None
    return apprise


_SPLIT = re.compile(r"[\s,]+(?=[a-zA-Z][\w+.-]*://)")


def split_urls(value: str) -> list[str]:
    """The URLs in one ``apprise:`` value: separated by spaces or commas before a scheme
    (a comma inside a URL, ``?to=a@x.org,b@y.org``, stays)."""
    return [url for url in (part.strip(" ,") for part in _SPLIT.split(value.strip())) if url]


class AppriseNotifier:
    """One Apprise URL: shown when Apprise reports the delivery done."""

    def __init__(self, url: str) -> None:
        apprise = _apprise()
        self._module = apprise
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if plugin is None:
            raise UsageError(
                f"Apprise cannot send to '{mask_secrets(url)}' "
                "(unknown service or a malformed URL; see https://appriseit.com/)"
            )
        self._apprise = apprise.Apprise()
        self._apprise.add(plugin)
        shown = str(plugin.url(privacy=True)).split("?", 1)[0]
        self.name = f"apprise:{mask_secrets(shown)}"
        # Every word of the full URL that the privacy form hides is a secret: errors and
        # log lines never show it.
        full = set(re.split(r"[/:@?&=#]+", str(plugin.url(privacy=False))))
        public = set(re.split(r"[/:@?&=#]+", str(plugin.url(privacy=True))))
        hidden = {w for w in full - public if len(w) >= 3}
        hidden |= {unquote(w) for w in hidden} | {quote(w, safe="") for w in hidden}
        hidden |= {p for w in hidden for p in re.split(r"[/:@?&=#]+", unquote(w)) if len(p) >= 4}
        self._secrets = sorted(hidden, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "****")
        return mask(mask_secrets(text))

    def check(self) -> None:
        return None  # a network service: only sending tells

    def notify(self, title: str, body: str) -> str | None:
        apprise = self._module
        with apprise.LogCapture(level=logging.DEBUG, fmt="%(levelname)s %(message)s") as logs:
            try:
                delivered = self._apprise.notify(body=mask(body), title=mask(title))
            except Exception as exc:  # a plugin's own failure: not delivered
                raise NotifyError(
                    f"{self.name}: {type(exc).__name__}: {self.scrub(_one_line(str(exc)))}"
                ) from None
            captured = logs.getvalue()
        if not delivered:
            raise NotifyError(f"{self.name}: not delivered ({self._reason(captured)})")
        return None

    def _reason(self, captured: str) -> str:
        lines = [line.strip() for line in captured.splitlines() if line.strip()]
        wanted = [
            line.split(" ", 1)[1]
            for line in lines
            if line.startswith(("WARNING ", "ERROR ", "CRITICAL "))
            or (line.startswith("DEBUG ") and "Exception" in line)
        ]
        reason = "; ".join(wanted) or "Apprise reported a failure"
        return self.scrub(_one_line(reason))


def _quiet_apprise() -> None:
    """Apprise's own log lines (it logs to the root logger's handlers, the daemon's stderr)
    are kept off: each failure is told once, by the NotifyError, its secrets hidden."""
    logging.getLogger("apprise").propagate = False


# --------------------------------------------------------------------------- several


class Notifiers:
    """Several notifiers, each a channel of its own: a reminder is sent to each, and counts
    as shown when at least one confirmed it. A channel that failed is not tried again for
    it (the others would show it twice); why is kept in ``missed``."""

    def __init__(self, channels: Sequence[Notifier]) -> None:
        self.channels = list(channels)
        self.name = ", ".join(channel.name for channel in self.channels)
        self.missed: list[str] = []  # "NAME: why" of each channel that failed, this pass
        self._down: dict[int, str] = {}  # channels whose check failed: not tried

    def check(self) -> None:
        self._down = {}
        errors: list[NotifyError] = []
        for index, channel in enumerate(self.channels):
            try:
                channel.check()
            except NotifyError as exc:
                errors.append(exc)
                self._down[index] = str(exc)
        if len(errors) == len(self.channels):
            raise NotifyError("; ".join(str(e) for e in errors), unavailable=True)

    def notify(self, title: str, body: str) -> str | None:
        receipts: list[str] = []
        errors: list[NotifyError] = []
        failed: list[str] = []  # "NAME: why" of each channel that did not show it
        for index, channel in enumerate(self.channels):
            if index in self._down:
                failed.append(_named(channel.name, self._down[index]))
                continue
            try:
                receipt = channel.notify(title, body)
            except NotifyError as exc:
                errors.append(exc)
                failed.append(_named(channel.name, str(exc)))
                continue
            receipts.append(f"{channel.name.split(':', 1)[0]}={receipt or 'ok'}")
        if not receipts:
            every_one_down = len(errors) + len(self._down) == len(self.channels)
            unavailable = every_one_down and all(e.unavailable for e in errors)
            raise NotifyError("; ".join(failed), unavailable=unavailable)
        self.missed += failed
        return ",".join(receipts)[:100]


def _named(name: str, error: str) -> str:
    return error if error.startswith(name) else f"{name}: {error}"


def notifier_specs(given: Sequence[str]) -> list[str]:
    """The notifiers to use: the --notifier values, else the config file's `notify`, else
    the desktop. An ``apprise:`` value with several URLs is one channel per URL."""
    specs = list(given) or list(settings().notify or ()) or ["desktop"]
    out: list[str] = []
    for spec in specs:
        if is_apprise(spec):
            urls = split_urls(spec.removeprefix("apprise:"))
            if not urls:
                raise UsageError("the apprise notifier needs a URL, e.g. apprise:ntfy://my-topic")
            out += [f"apprise:{url}" for url in urls]
        else:
            out.append(spec)
    return out


def make_notifiers(given: Sequence[str]) -> Notifier:
    """The notifier for --notifier values (several: a Notifiers), or the config file's."""
    specs = notifier_specs(given)
    notifiers = [make_notifier(spec) for spec in specs]
    return notifiers[0] if len(notifiers) == 1 else Notifiers(notifiers)


def make_notifier(spec: str) -> Notifier:
    """The notifier a --notifier value names: desktop (or plyer), console, command:CMD or
    apprise:URL (one URL)."""
    if redact(spec).changed:
        # A command line is configuration, written into a systemd unit by `daemon install`.
        raise UsageError(
            "the notifier holds what looks like card data; give a command or URL without it"
        )
    if spec in ("desktop", "plyer"):
        return DesktopNotifier()
    if spec == "console":
        return ConsoleNotifier()
    if spec.startswith("command:"):
        return CommandNotifier(spec.removeprefix("command:"))
    if is_apprise(spec):
        _quiet_apprise()
        return AppriseNotifier(spec.removeprefix("apprise:"))
    raise UsageError(f"unknown notifier '{mask_secrets(spec)}'; choose {NOTIFIERS}")


def _one_line(text: str) -> str:
    return mask(" ".join(text.split())[:300])
