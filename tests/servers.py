"""Real servers for tests: a headless notification server and a throwaway PostgreSQL.

Plain Python (pytest is imported lazily, only by :func:`skip_or_fail`), so conftest fixtures,
tests and ad-hoc scripts can all use it::

    with notification_server(tmp_path) as server:
        subprocess.run(["notify-send", "Hi"], env={**os.environ, **server.env}, check=True)
        assert server.wait_for(1)[0].summary == "Hi"

    with postgres_server(tmp_path) as url:  # postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
        other = create_database(url, "second")

See docs/engineering.md ("A real notification server, headless", "A throwaway PostgreSQL server").
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MARKER_ENV",
    "REQUIRE_ENV",
    "Notification",
    "NotificationServer",
    "create_database",
    "desktop_tools_missing",
    "drop_database",
    "notification_server",
    "postgres_server",
    "postgres_tools_missing",
    "session_bus",
    "skip_or_fail",
]

#: Set to "1" (CI does) to turn "tools missing" skips into failures.
REQUIRE_ENV = "TRACKER_REQUIRE_SERVERS"

#: Every server process gets this variable (value: the checkout's root), so that .ci/run can
#: find and kill leftovers by scanning /proc/*/environ without touching anyone else's.
MARKER_ENV = "TRACKER_TEST_SERVER"
_MARKER = {MARKER_ENV: str(Path(__file__).resolve().parent.parent)}

_START_TIMEOUT = 10.0  # seconds, for each server process to become ready
_STOP_TIMEOUT = 5.0  # seconds, after SIGTERM before SIGKILL


# --------------------------------------------------------------------------- helpers


def skip_or_fail(reason: str | None) -> None:
    """Skip the current test for ``reason`` (if not None); fail instead when
    ``TRACKER_REQUIRE_SERVERS=1`` is set, so CI cannot silently skip."""
    if reason is None:
        return
    import pytest

    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this is a failure, not a skip)")
    pytest.skip(reason)


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    text = text.strip()
    if not text:
        return f"<{path.name} is empty>"
    return text[-limit:]


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = _STOP_TIMEOUT) -> None:
    """SIGTERM, wait, then SIGKILL and wait. Never raises for an already-dead process."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _poll(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- notifications

DESKTOP_TOOLS = ("Xvfb", "dbus-daemon", "dunst", "gdbus")


def desktop_tools_missing() -> str | None:
    """None if the notification server can start, else a reason naming what is missing."""
    missing = [tool for tool in DESKTOP_TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            "notification server needs " + ", ".join(missing) + " (apt-get install xvfb dbus "
            "dbus-x11 dunst libglib2.0-bin libnotify-bin)"
        )
    return None


@dataclass(frozen=True)
class Notification:
    """One notification as dunst saw it. ``urgency`` is "low", "normal" or "critical"."""

    appname: str
    summary: str
    body: str
    urgency: str
    icon: str = ""
    category: str = ""
    id: int = 0  # dunst's notification id (increases in arrival order)


@dataclass
class NotificationServer:
    #: What a subprocess needs to notify on this bus: DISPLAY, DBUS_SESSION_BUS_ADDRESS.
    #: Use ``{**os.environ, **server.env}``.
    env: dict[str, str]
    log_path: Path
    display: str
    bus_address: str
    #: name -> pid of "Xvfb", "dbus-daemon", "dunst" (for tests of the teardown)
    pids: dict[str, int] = field(default_factory=dict)

    def notifications(self) -> list[Notification]:
        """Every notification logged so far (since the last :meth:`clear`), in arrival order."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return []
        found: list[Notification] = []
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a record being written right now: the next poll will see it
            found.append(
                Notification(
                    appname=rec.get("appname", ""),
                    summary=rec.get("summary", ""),
                    body=rec.get("body", ""),
                    urgency=rec.get("urgency", ""),
                    icon=rec.get("icon", ""),
                    category=rec.get("category", ""),
                    id=int(rec.get("id") or 0),
                )
            )
        # dunst runs the logger asynchronously, so log order can differ from arrival order.
        found.sort(key=lambda n: n.id)
        return found

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Notification]:
        """Poll until at least ``count`` notifications are logged; return what is there
        (possibly fewer) when ``timeout`` runs out. Never raises: the test asserts."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.notifications()
            if len(found) >= count or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def clear(self) -> None:
        """Forget logged notifications (for a server shared between tests)."""
        with contextlib.suppress(FileNotFoundError):
            self.log_path.write_bytes(b"")


_LOGGER = """\
#!{python} -I
# Written by tests/servers.py. dunst runs this for every notification with
# $1..$5 = appname summary body icon urgency (and DUNST_* variables).
import json, os, sys
args = sys.argv[1:] + [""] * 5
record = {{
    "appname": args[0], "summary": args[1], "body": args[2], "icon": args[3],
    "urgency": args[4].lower(),
    "category": os.environ.get("DUNST_CATEGORY", ""),
    "id": os.environ.get("DUNST_ID", "0"),
}}
line = (json.dumps(record) + "\\n").encode()
fd = os.open({log!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
try:
    os.write(fd, line)  # one write() of the whole record: no interleaving
finally:
    os.close(fd)
"""

_DUNSTRC = """\
# Written by tests/servers.py
[global]
    monitor = 0
    follow = none
    notification_limit = 0
    stack_duplicates = false
    show_indicators = false
    idle_threshold = 0
    sticky_history = false
    history_length = 1

[log_everything]
    summary = "*"
    script = {logger}
"""

# A session bus without service activation: nothing may auto-start a second, unconfigured
# notification daemon (the stock session.conf would start dunst from /usr/share/dbus-1).
_BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir={tmpdir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def _read_line(proc: subprocess.Popen[bytes], stream: int, timeout: float) -> bytes:
    """Read one line from a child's pipe (fd ``stream``) without blocking past timeout."""
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([stream], [], [], min(remaining, 0.1))
        if ready:
            chunk = os.read(stream, 4096)
            if not chunk:
                break  # EOF: the process closed it or died
            buf += chunk
        elif proc.poll() is not None:
            break
    return buf


def _start_xvfb(workdir: Path, stack: contextlib.ExitStack) -> tuple[str, subprocess.Popen[bytes]]:
    errors: list[str] = []
    for number in range(90, 190):
        if Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists():
            continue
        err_path = workdir / f"xvfb-{number}.err"
        read_fd, write_fd = os.pipe()
        try:
            with open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    # -displayfd: Xvfb writes the number there once it accepts connections.
                    ["Xvfb", f":{number}", "-nolisten", "tcp", "-displayfd", str(write_fd)],
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    pass_fds=(write_fd,),
                    env={**os.environ, **_MARKER},
                    start_new_session=True,
                )
        finally:
            os.close(write_fd)
        stack.callback(_stop_process, proc)
        try:
            line = _read_line(proc, read_fd, _START_TIMEOUT)
        finally:
            os.close(read_fd)
        if line.strip() == str(number).encode():
            return f":{number}", proc
        _stop_process(proc)
        errors.append(f":{number}: {_tail(err_path, 500)}")
        if "already" not in errors[-1] and "Cannot establish" not in errors[-1]:
            break  # not a display-number clash: trying more numbers will not help
    raise RuntimeError("Xvfb did not start:\n" + "\n".join(errors[-3:]))


def _start_bus(workdir: Path, stack: contextlib.ExitStack) -> tuple[str, subprocess.Popen[bytes]]:
    config = workdir / "bus.conf"
    config.write_text(_BUS_CONFIG.format(tmpdir=tempfile.gettempdir()))
    err_path = workdir / "dbus-daemon.err"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [
                "dbus-daemon",
                f"--config-file={config}",
                "--nofork",
                "--nopidfile",
                "--nosyslog",
                "--print-address=1",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, **_MARKER},
            start_new_session=True,
        )
    stack.callback(_stop_process, proc)
    assert proc.stdout is not None
    address = _read_line(proc, proc.stdout.fileno(), _START_TIMEOUT).decode().strip()
    if not address.startswith("unix:"):
        raise RuntimeError(
            f"dbus-daemon printed no address (got {address!r}, exit code {proc.poll()}):\n"
            + _tail(err_path)
        )
    return address, proc


def _has_owner(env: dict[str, str], name: str) -> bool:
    try:
        out = subprocess.run(
            [
                "gdbus",
                "call",
                "--session",
                "--dest",
                "org.freedesktop.DBus",
                "--object-path",
                "/org/freedesktop/DBus",
                "--method",
                "org.freedesktop.DBus.NameHasOwner",
                name,
            ],
            env=env,
            capture_output=True,
            timeout=5,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return out.returncode == 0 and b"true" in out.stdout


@contextlib.contextmanager
def session_bus(workdir: Path) -> Iterator[str]:
    """A private session bus with nothing on it (no notification server, no activation);
    yields its address, for DBUS_SESSION_BUS_ADDRESS. Stopped (and waited for) on exit."""
    if shutil.which("dbus-daemon") is None:
        raise RuntimeError("a session bus needs dbus-daemon (apt-get install dbus)")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        address, _ = _start_bus(workdir, stack)
        yield address


@contextlib.contextmanager
def notification_server(workdir: Path) -> Iterator[NotificationServer]:
    """Xvfb + a private session bus + dunst logging every notification to a file.

    Everything is stopped (and waited for) on exit, also when the body raises.
    """
    missing = desktop_tools_missing()
    if missing:
        raise RuntimeError(missing)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "notifications.jsonl"
    log_path.write_bytes(b"")
    logger = workdir / "log-notification"
    logger.write_text(_LOGGER.format(python=sys.executable, log=str(log_path)))
    logger.chmod(0o755)
    dunstrc = workdir / "dunstrc"
    dunstrc.write_text(_DUNSTRC.format(logger=logger))

    with contextlib.ExitStack() as stack:  # callbacks run in reverse: dunst, bus, Xvfb
        display, xvfb = _start_xvfb(workdir, stack)
        address, bus = _start_bus(workdir, stack)
        env = {"DISPLAY": display, "DBUS_SESSION_BUS_ADDRESS": address}
        child_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "WAYLAND_"))},
            **env,
            "XDG_CONFIG_HOME": str(workdir),  # no user dunstrc drop-ins
            **_MARKER,
        }
        dunst_err = workdir / "dunst.err"
        with open(dunst_err, "wb") as err:
            dunst = subprocess.Popen(
                ["dunst", "-config", str(dunstrc)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env=child_env,
                cwd=workdir,
                start_new_session=True,
            )
        stack.callback(_stop_process, dunst)
        gdbus_env = {**os.environ, **env}
        ready = _poll(
            lambda: (
                dunst.poll() is not None or _has_owner(gdbus_env, "org.freedesktop.Notifications")
            ),
            _START_TIMEOUT,
        )
        if dunst.poll() is not None:
            raise RuntimeError(f"dunst exited with code {dunst.poll()}:\n{_tail(dunst_err)}")
        if not ready:
            raise RuntimeError(
                f"dunst did not take org.freedesktop.Notifications within {_START_TIMEOUT} s:\n"
                + _tail(dunst_err)
            )
        yield NotificationServer(
            env=env,
            log_path=log_path,
            display=display,
            bus_address=address,
            pids={"Xvfb": xvfb.pid, "dbus-daemon": bus.pid, "dunst": dunst.pid},
        )


# --------------------------------------------------------------------------- PostgreSQL


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([0-9.]+)/bin", path)
    return tuple(int(p) for p in match.group(1).split(".") if p) if match else ()


def _postgres_bindir() -> Path | None:
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    candidates = [c for c in candidates if os.access(Path(c).parent / "pg_ctl", os.X_OK)]
    if candidates:
        return Path(max(candidates, key=_version_key)).parent
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


def postgres_tools_missing() -> str | None:
    """None if :func:`postgres_server` can start, else the reason."""
    if _postgres_bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root but there is no 'postgres' OS user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root but runuser (util-linux) is missing"
    return None


def _run(
    cmd: list[str], what: str, log: Path, cwd: Path, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    try:
        result = subprocess.run(
            cmd,
            cwd=cwd,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **_MARKER},
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what} timed out after {timeout} s: {cmd}\n{_tail(log)}") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace").strip()
        raise RuntimeError(
            f"{what} failed (exit code {result.returncode}): {cmd}\n{output[-3000:]}\n"
            f"--- server log ---\n{_tail(log)}"
        )
    return result


@contextlib.contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    """A throwaway PostgreSQL server on a free 127.0.0.1 port; yields its SQLAlchemy URL
    ``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres`` (trust auth, no password).

    The data directory is a short folder in the temp dir (root's pytest tmp dirs are 0700,
    so the ``postgres`` user could not enter them, and socket paths must stay short), in
    memory (/dev/shm) where there is one: like fsync=off, a throwaway server need not wait
    for a disk (stopping one that made hundreds of databases on a busy disk took minutes).
    It is removed on exit. The server log is copied to ``workdir/postgres.log``.
    """
    missing = postgres_tools_missing()
    if missing:
        raise RuntimeError(missing)
    bindir = _postgres_bindir()
    assert bindir is not None
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="tracker-pg-", dir=_memory_dir()))
    datadir = base / "data"
    log = base / "server.log"
    pg_ctl = [*as_postgres, str(bindir / "pg_ctl"), "-D", str(datadir)]
    started = False
    try:
        if as_postgres:
            shutil.chown(base, user="postgres", group="postgres")
        _run(
            [
                *as_postgres,
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            "initdb",
            log,
            base,
            timeout=120,
        )
        for attempt in range(3):
            port = _free_port()
            options = (
                f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                started = True  # from here on, always try to stop it
                _run(
                    [*pg_ctl, "-l", str(log), "-w", "-t", "60", "-o", options, "start"],
                    "pg_ctl start",
                    log,
                    base,
                    timeout=90,
                )
                break
            except RuntimeError:
                if attempt == 2 or "already in use" not in _tail(log):
                    raise  # a port race is the only reason to try again
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        try:
            if started:
                _stop_postgres(pg_ctl, datadir, base)
        finally:
            with contextlib.suppress(OSError):
                shutil.copyfile(log, workdir / "postgres.log")
            shutil.rmtree(base, ignore_errors=True)


def _memory_dir() -> str | None:
    """TRACKER_TEST_SCRATCH when set (.ci/run makes one per run and removes it after), else
    /dev/shm if it is a folder this process can write to, else None (the temp dir)."""
    scratch = os.environ.get("TRACKER_TEST_SCRATCH")
    if scratch and os.path.isdir(scratch):
        return scratch
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _stop_postgres(pg_ctl: list[str], datadir: Path, cwd: Path) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        result = subprocess.run(
            [*pg_ctl, "-m", "fast", "-w", "-t", "30", "stop"],
            cwd=cwd,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=40,
        )
        if result.returncode == 0 or not (datadir / "postmaster.pid").exists():
            return
    # pg_ctl failed: kill the postmaster (SIGQUIT = immediate shutdown, then SIGKILL).
    try:
        pid = int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if _poll(lambda: not _pid_alive(pid), 5.0):
            return


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_DRIVER: Any = None


def _psycopg() -> Any:
    """psycopg, imported once: a test may hide it afterwards (to see what tracker says
    without it), and the fixtures still drop that test's database."""
    global _DRIVER
    if _DRIVER is None:
        import psycopg
        import psycopg.sql

        _DRIVER = psycopg
    return _DRIVER


def drop_database(admin_url: str, name: str) -> None:
    """DROP DATABASE ``name`` on the server of ``admin_url``, ending its connections first
    (a test may leave an engine or a process connected); never raises."""
    from sqlalchemy.engine import make_url

    psycopg = _psycopg()
    sql = psycopg.sql

    url = make_url(admin_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    statement = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn,
    ):
        if conn.info.server_version >= 130000:
            statement += sql.SQL(" WITH (FORCE)")
        conn.execute(statement)


def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    """CREATE DATABASE ``name`` on the server of ``admin_url`` (a copy of the database
    ``template`` if given: nobody may be connected to that one); return its URL."""
    from sqlalchemy.engine import make_url

    psycopg = _psycopg()
    sql = psycopg.sql

    url = make_url(admin_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            if conn.info.server_version >= 150000:
                # Copying the files is faster than the WAL_LOG default for a small database.
                statement += sql.SQL(" STRATEGY FILE_COPY")
        conn.execute(statement)
    return url.set(database=name).render_as_string(hide_password=False)
