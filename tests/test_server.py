"""The command server end to end, as a user meets it: the `tracker` client in a subprocess,
a real detached server it started itself, real pipes, a real terminal, real signals.

Each test has its own short TRACKER_HOME (a Unix socket's path is limited to 107 bytes) and
stops its server at the end; the servers' idle timeout is short in case one is left.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tracker import client, config, server

ROOT = Path(__file__).resolve().parent.parent

PYTHON_CLIENT = [sys.executable, "-m", "tracker"]
SHIM = """#!{python}
import os, sys
log = os.environ.get("SHIM_LOG")
if log:
    with open(log, "a") as out:
        out.write(" ".join(sys.argv[1:]) + "\\n")
from tracker.client import main
main()
"""


def build_c_client(folder: Path) -> Path:
    """tracker/client.c built as hatch_build.py builds it, with the Python client it hands
    over to beside it (which notes in $SHIM_LOG each command it was handed)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler: the C client is not built here")
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / "tracker"
    source = Path(client.__file__).with_name("client.c")
    subprocess.run([compiler, "-O2", "-std=gnu11", "-o", str(binary), str(source)], check=True)
    shim = folder / "tracker-python"
    shim.write_text(SHIM.format(python=sys.executable))
    shim.chmod(0o755)
    return binary


@pytest.fixture(scope="module", params=["python client", "C client"])
def client_command(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> list[str]:
    """Every test of the server runs through both clients."""
    if request.param == "python client":
        return PYTHON_CLIENT
    return [str(build_c_client(tmp_path_factory.mktemp("c-client")))]


class Home:
    """A data folder, the environment that points at it, and its server."""

    def __init__(self, folder: Path, command: list[str]) -> None:
        self.folder = folder
        self.client = command
        self.socket = folder / client.SOCKET_NAME
        self.env = {**os.environ, "TRACKER_HOME": str(folder), "TZ": "UTC"}
        for name in ("TRACKER_NO_SERVER", "TRACKER_DB", "COLUMNS"):
            self.env.pop(name, None)
        self.env["TRACKER_SERVER_IDLE"] = "120"

    def run(
        self, *args: str, input: bytes | None = None, fast: bool = True, **env: str
    ) -> subprocess.CompletedProcess[bytes]:
        full = {**self.env, **env}
        if not fast:
            full["TRACKER_NO_SERVER"] = "1"
        return subprocess.run(
            [*self.client, *args], input=input, capture_output=True, env=full, timeout=60
        )

    def status(self) -> dict[str, str]:
        """The server's status fields, {} when none answers."""
        try:
            answer = client.ask(str(self.socket), b"status", b"-")
        except client.Refused:
            return {}
        return dict(f.decode().partition("=")[::2] for f in answer[1:])

    def wait_for_server(self, other_than: str | None = None) -> dict[str, str]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = self.status()
            if found and found["pid"] != other_than:
                return found
            time.sleep(0.05)
        log = self.folder / server.LOG_NAME
        raise AssertionError(f"no server came up: {log.read_text() if log.exists() else ''}")

    def start_server(self, **env: str) -> dict[str, str]:
        """As a user would: a first command finds none, runs in-process, starts one."""
        self.run("--version", **env)
        return self.wait_for_server()

    def worker(self, server_pid: str) -> int:
        """The pid of the server's newest running worker, once it is there (not a spare
        waiting for the next command, nor an earlier command's worker still closing its
        store after its client was answered)."""
        deadline = time.monotonic() + 30
        children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
        while time.monotonic() < deadline:
            spares = self.status().get("spare_pids", "").split(",")
            pids = [int(p) for p in children.read_text().split() if p not in spares]
            started = {pid: _start_time(pid) for pid in pids}
            running = [pid for pid in pids if started[pid] is not None]
            if running:
                return max(running, key=lambda pid: (started[pid] or 0, pid))
            time.sleep(0.02)
        raise AssertionError("no worker")


def _start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot), None if it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def blocked_reading(pid: int) -> bool:
    try:
        return "pipe_read" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


def wait_until(check: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


@contextmanager
def a_home(command: list[str] = PYTHON_CLIENT) -> Iterator[Home]:
    folder = Path(tempfile.mkdtemp(prefix="trk-", dir="/tmp")) / "home"
    place = Home(folder, command)
    try:
        yield place
    finally:
        found = place.status()
        if found:
            pid = int(found["pid"])
            with suppress(client.Refused):
                client.ask(str(place.socket), b"stop", b"-")
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder.parent, ignore_errors=True)


@pytest.fixture
def home(client_command: list[str]) -> Iterator[Home]:
    with a_home(client_command) as place:
        yield place


@pytest.fixture(scope="module")
def story(client_command: list[str]) -> Iterator[Home]:
    """A store with a few cases, written in-process; then a server, started by a command.
    One for the module: the tests that use it change neither the store nor the server."""
    with a_home(client_command) as home:
        for args in (
            ["case", "open", "Disputed charge at ACME", "--org", "American Express"],
            ["case", "open", "Broken router", "--org", "Fibre Co", "--category", "complaint"],
            [
                "case",
                "contact",
                "1",
                "--channel",
                "phone",
                "--agent",
                "Maria",
                "--ref",
                "CALL-88812",
                "--promise",
                "Provisional credit",
                "--due",
                "10bd",
            ],
            ["case", "note", "2", "Engineer booked"],
        ):
            done = home.run(*args, fast=False)
            assert done.returncode == 0, done.stderr
        home.start_server()
        yield home


SAME_OUTPUT = [
    ["--help"],
    ["case", "--help"],
    ["--version"],
    ["case", "list"],
    ["case", "list", "--limit", "50", "--json"],
    ["case", "show", "1"],
    ["case", "show", "1", "--json"],
    ["due"],
    ["search", "router"],
    ["case", "show", "99"],
    ["case", "list", "--status", "nope"],
    ["nosuch"],
    ["export", "csv"],
]


@pytest.mark.parametrize("args", SAME_OUTPUT, ids=" ".join)
def test_the_server_gives_byte_identical_output(story: Home, args: list[str]) -> None:
    served = int(story.status()["served"])
    fast = story.run(*args)
    slow = story.run(*args, fast=False)
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        slow.returncode,
        slow.stdout,
        slow.stderr,
    )
    assert int(story.status()["served"]) == served + 1  # it did go through the server


def test_a_write_through_the_server_writes_as_in_process(story: Home) -> None:
    copies = {}
    for way in ("fast", "slow"):
        copies[way] = story.folder / f"{way}.db"
        shutil.copy(story.folder / "tracker.db", copies[way])
    results = {}
    for way, fast in (("fast", True), ("slow", False)):
        db = config.sqlite_url(copies[way])
        # Written at a given time: the two ways run a moment apart, maybe a minute apart.
        at = ("--at", "2026-11-30 10:00")
        note = story.run(
            "case", "note", "1", "Called again, no news.", *at, fast=fast, TRACKER_DB=db
        )
        piped = story.run(
            "case", "note", "2", "-", *at, input=b"From a pipe\n", fast=fast, TRACKER_DB=db
        )
        shown = story.run("case", "show", "2", fast=fast, TRACKER_DB=db)
        results[way] = [(r.returncode, r.stdout, r.stderr) for r in (note, piped, shown)]
    assert results["fast"] == results["slow"]
    assert b"From a pipe" in results["fast"][2][1]


def test_a_served_write_is_in_the_file_when_the_command_returns(story: Home) -> None:
    """A write's worker closes the store before it answers (the last close folds the WAL
    back into the database file): a copy of the file made right after holds the change. A
    read's worker closes after it answered, and its WAL files go too."""
    import sqlite3

    copy = story.folder / "folded.db"
    shutil.copy(story.folder / "tracker.db", copy)
    served = int(story.status()["served"])
    done = story.run("case", "note", "1", "Folded back", TRACKER_DB=config.sqlite_url(copy))
    assert done.returncode == 0, done.stderr
    assert int(story.status()["served"]) == served + 1  # through the server
    log = story.folder / server.LOG_NAME
    assert not Path(f"{copy}-wal").exists(), log.read_text() if log.exists() else "no log"
    # immutable=1 reads the database file alone, never a WAL: the note is in the file.
    conn = sqlite3.connect(f"file:{copy}?mode=ro&immutable=1", uri=True)
    try:
        bodies = [row[0] for row in conn.execute("SELECT body FROM notes WHERE case_id = 1")]
    finally:
        conn.close()
    assert "Folded back" in bodies
    shown = story.run("case", "show", "1", TRACKER_DB=config.sqlite_url(copy))
    assert shown.returncode == 0 and b"Folded back" in shown.stdout, shown.stderr
    wait_until(lambda: story.status()["running"] == "0", "the worker to end")
    assert not Path(f"{copy}-wal").exists(), log.read_text() if log.exists() else "no log"


def test_import_json_reads_the_pipe_through_the_server(story: Home) -> None:
    exported = story.run("export", "json")
    assert exported.returncode == 0, exported.stderr
    outcomes = []
    target = config.sqlite_url(story.folder / "imported.db")
    for fast in (True, False):
        for leftover in story.folder.glob("imported.db*"):
            leftover.unlink()
        done = story.run("import", "json", "-", input=exported.stdout, fast=fast, TRACKER_DB=target)
        listed = story.run("case", "list", "--json", fast=fast, TRACKER_DB=target)
        outcomes.append((done.returncode, done.stdout, done.stderr, listed.stdout))
    assert outcomes[0] == outcomes[1]
    assert len(json.loads(outcomes[0][3])) == 2


def _on_a_terminal(home: Home, *args: str, fast: bool) -> bytes:
    """What `tracker ARGS` writes on a terminal (a pty as stdin, stdout and stderr)."""
    main, side = pty.openpty()
    env = {**home.env, "COLUMNS": "70"}
    if not fast:
        env["TRACKER_NO_SERVER"] = "1"
    proc = subprocess.Popen([*home.client, *args], stdin=side, stdout=side, stderr=side, env=env)
    os.close(side)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal's last writer has closed it
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.wait(timeout=60) == 0, out
    return out


def test_a_terminal_is_a_terminal_in_the_worker(story: Home) -> None:
    fast = _on_a_terminal(story, "case", "list", fast=True)
    slow = _on_a_terminal(story, "case", "list", fast=False)
    assert fast == slow
    piped = story.run("case", "list", COLUMNS="70").stdout
    assert fast.replace(b"\r\n", b"\n") != piped  # the table is fitted to the terminal


def test_ctrl_c_reaches_the_worker_and_the_server_lives_on(story: Home) -> None:
    outcomes = []
    for fast in (True, False):
        env = {**story.env} if fast else {**story.env, "TRACKER_NO_SERVER": "1"}
        proc = subprocess.Popen(
            [*story.client, "case", "note", "1", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        reader = story.worker(story.status()["pid"]) if fast else proc.pid
        wait_until(lambda reader=reader: blocked_reading(reader), "it reads stdin")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.stdin is not None
        outcomes.append((proc.returncode, out, err))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] != 0
    assert story.status()  # the server is still there
    assert story.run("case", "show", "1").returncode == 0


def test_a_killed_worker_is_reported_and_the_server_lives_on(story: Home) -> None:
    pid = story.status()["pid"]
    proc = subprocess.Popen(
        [*story.client, "case", "note", "1", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=story.env,
    )
    worker = story.worker(pid)
    wait_until(lambda: blocked_reading(worker), "the worker reads stdin")
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the command was killed by signal 9")
    assert story.status()["pid"] == pid
    again = story.run("case", "show", "1")
    assert again.returncode == 0 and b"Disputed charge" in again.stdout


def test_a_stale_server_is_passed_over_and_replaced(home: Home, tmp_path: Path) -> None:
    # PYTHONPATH is part of the key: a server started under another one is another code.
    old = home.start_server(PYTHONPATH=str(tmp_path))
    assert home.status()["current"] == "no"  # (this test's own key is "-")
    done = home.run("case", "open", "After the upgrade")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"Opened case 1: After the upgrade\n"
    new = home.wait_for_server(other_than=old["pid"])
    wait_until(lambda: not alive(int(old["pid"])), "the stale server leaves")
    served = int(new["served"])
    assert home.run("case", "show", "1").returncode == 0
    assert int(home.status()["served"]) == served + 1


def test_the_socket_is_private(story: Home) -> None:
    assert stat.S_IMODE(story.folder.stat().st_mode) == 0o700
    mode = story.socket.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_the_server_checks_its_peer_uid() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert server.peer_uid(left) == os.getuid()
    assert server.peer_allowed(os.getuid())
    assert not server.peer_allowed(os.getuid() + 1)


@pytest.mark.skipif(
    os.getuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_another_user_is_refused(story: Home) -> None:
    # Open the folder and socket to everyone, so that only the uid check is left to refuse.
    story.folder.parent.chmod(0o711)
    story.folder.chmod(0o711)
    story.socket.chmod(0o666)
    try:
        _run_as_nobody(story)
    finally:
        story.folder.parent.chmod(0o700)
        story.folder.chmod(0o700)
        story.socket.chmod(0o600)


def _run_as_nobody(story: Home) -> None:
    code = (
        "import sys; from tracker import client\n"
        "try:\n"
        f"    client.Run({str(story.socket)!r}, b'x').start(['--version'], (0, 1, 2))\n"
        "except client.Refused as exc:\n"
        "    print(exc.reason)\n"
    )
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        cwd="/",
        env={**story.env, "PYTHONPATH": str(Path(client.__file__).parent.parent)},
        timeout=60,
    )
    if b"Permission denied" in done.stderr or b"No module named" in done.stderr:
        pytest.skip(f"nobody cannot run this interpreter: {done.stderr[-200:]!r}")
    assert done.stdout.decode().strip() == "not your server", done.stderr
    assert story.status()


def test_no_server_runs_in_process_and_starts_none(home: Home) -> None:
    done = home.run("case", "open", "Quietly", fast=False)
    assert done.returncode == 0
    time.sleep(0.3)
    assert not home.socket.exists()
    home.start_server()
    served = int(home.status()["served"])
    assert home.run("case", "list", fast=False).returncode == 0
    assert int(home.status()["served"]) == served


def test_server_false_in_the_config_starts_none(home: Home) -> None:
    home.folder.mkdir(mode=0o700, parents=True)
    (home.folder / "config.toml").write_text("server = false\n")
    assert home.run("case", "open", "Quietly").returncode == 0
    time.sleep(0.3)
    assert not home.socket.exists()


def test_daemon_and_server_commands_never_reach_a_worker(story: Home) -> None:
    served = int(story.status()["served"])
    for args in (["daemon", "status"], ["remind", "--help"], ["server", "status"]):
        assert story.run(*args).returncode == 0
    assert int(story.status()["served"]) == served


def test_server_status_and_stop(home: Home) -> None:
    home.start_server()
    shown = home.run("server", "status")
    assert shown.returncode == 0
    assert b"Command server: running, pid " + home.status()["pid"].encode() in shown.stdout
    assert b"Code: current" in shown.stdout
    pid = int(home.status()["pid"])
    stopped = home.run("server", "stop")
    assert stopped.stdout == f"Stopped the command server (pid {pid}).\n".encode()
    wait_until(lambda: not alive(pid), "it stops")
    assert not home.socket.exists()
    assert home.run("server", "status").stdout.startswith(b"No command server is running")


def test_the_server_leaves_when_idle(home: Home) -> None:
    pid = int(home.start_server(TRACKER_SERVER_IDLE="0.5")["pid"])
    wait_until(lambda: not alive(pid), "the idle server leaves")
    assert not home.socket.exists()


@pytest.mark.parametrize(
    "env",
    [
        {"TRACKER_HOME": "/tmp/a home"},
        {"TRACKER_HOME": "~/th"},
        {"XDG_DATA_HOME": "/tmp/xdg"},
        {"XDG_DATA_HOME": ""},
        {},
    ],
    ids=str,
)
def test_the_client_finds_the_data_folder_config_names(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRACKER_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Path(client.data_dir()) == config.data_dir()


def test_global_options_do_not_hide_the_command() -> None:
    assert client.command_name(["--db", "sqlite:///x", "daemon", "run"]) == "daemon"
    assert client.command_name(["--help"]) is None
    assert not client.wanted(["--db", "x", "remind"], {})
    assert not client.wanted(["case", "list"], {"TRACKER_NO_SERVER": "1"})
    assert client.wanted(["case", "list"], {"TRACKER_NO_SERVER": "0"})


def test_the_warm_server_holds_no_store_open() -> None:
    """What a worker inherits: modules and the warm engine, never a connection (SQLAlchemy's
    rule for fork); nothing of the warm-up's scratch store or environment is left."""
    code = (
        "import gc, os, sqlite3, sys\n"
        "from tracker import server\n"
        "import tracker.db\n"
        "before = dict(os.environ)\n"
        "warm = server.warm()\n"
        "assert warm is not None\n"
        "assert dict(os.environ) == before\n"
        "assert not os.path.exists(warm.opener.path.parent)\n"
        "assert 'sqlalchemy.orm' in sys.modules and 'tracker.cli.case' in sys.modules\n"
        "assert list(tracker.db._ENGINES) == [warm.engine]\n"
        "assert warm.engine.pool.checkedin() == 0\n"
        "assert len(warm.engine._compiled_cache) > 20\n"
        "gc.unfreeze()  # frozen objects are not listed otherwise\n"
        "assert not [o for o in gc.get_objects() if isinstance(o, sqlite3.Connection)]\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout == "ok\n", done.stderr


def test_a_warm_worker_imports_nothing_for_the_everyday_commands(tmp_path: Path) -> None:
    """After the server's warm-up, the everyday commands load no module and parse no file
    of ours: on a store whose `due` suggests whom to call (phone numbers formatted) and
    whose case crossed its policy's thresholds. Without the preloading, `due` and
    `case open` would import phonenumbers in every worker (50 ms)."""
    home = tmp_path / "home"
    env = {**os.environ, "TRACKER_HOME": str(home), "TRACKER_NO_SERVER": "1"}
    env.pop("TRACKER_DB", None)
    setup = [
        ["org", "import", str(ROOT / "examples" / "directory" / "american-express.toml")],
        ["case", "open", "Disputed charge", "--org", "American Express", "--category",
         "dispute", "--at", "40 days ago"],
        ["case", "contact", "1", "--channel", "phone", "--agent", "Maria", "--at",
         "39 days ago", "--promise", "Provisional credit", "--due", "10bd"],
    ]  # fmt: skip
    for args in setup:
        done = subprocess.run(
            [sys.executable, "-m", "tracker", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    code = (
        "import sys\n"
        "from tracker import server\n"
        "import tracker.history, tracker.policy\n"
        "assert server.warm() is not None\n"
        "parsed = []\n"
        "tracker.policy._parse = lambda *a: parsed.append(a)\n"
        "tracker.history.get_type_hints = lambda *a: parsed.append(a)\n"
        "before = set(sys.modules)\n"
        "for args in (['due'], ['case', 'show', '1'], ['case', 'list'],\n"
        "             ['case', 'open', 'Lost card', '--org', 'American Express',\n"
        "              '--category', 'lost_stolen'],\n"
        "             ['case', 'escalate', '1'], ['case', 'note', '1', 'Called']):\n"
        "    sys.argv = ['tracker', *args]\n"
        "    assert server.run_cli() == 0, args\n"
        "print(sorted(set(sys.modules) - before), parsed, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "next step" in done.stdout.lower() or "+1 " in done.stdout, done.stdout
    assert done.stderr.splitlines()[-1] == "[] []", done.stderr


def test_the_c_client_needs_python_once_per_server(tmp_path: Path) -> None:
    """The C client hands a command to the Python client until a Python client has vouched
    for its key to the running server; from then on Python does not start at all."""
    log = tmp_path / "handed.log"
    with a_home([str(build_c_client(tmp_path / "bin"))]) as home:
        home.env["SHIM_LOG"] = str(log)

        def handed() -> list[str]:
            return log.read_text().splitlines() if log.exists() else []

        home.run("case", "open", "Broken router", "--org", "Fibre Co", fast=False)
        assert handed() == ["case open Broken router --org Fibre Co"]  # TRACKER_NO_SERVER
        home.start_server()  # no server: Python runs it in-process and starts one
        assert handed()[-1] == "--version"
        served = int(home.status()["served"])
        first = home.run("case", "list")  # a key the server does not know: Python vouches
        assert handed()[-1] == "case list" and len(handed()) == 3
        again = home.run("case", "list")
        assert len(handed()) == 3  # straight to the server
        assert int(home.status()["served"]) == served + 2
        slow = home.run("case", "list", fast=False)
        assert first.stdout == again.stdout == slow.stdout and b"Broken router" in slow.stdout
        assert (again.returncode, again.stderr) == (slow.returncode, slow.stderr) == (0, b"")
        missing = home.run("case", "show", "9")
        assert len(handed()) == 4 and missing.returncode == 1
        assert missing.stderr == home.run("case", "show", "9", fast=False).stderr
        # Commands that never run in a worker go to Python, as does a folder only Python
        # can name; a relative TRACKER_HOME is the same folder to both.
        assert home.run("server", "status").returncode == 0
        assert handed()[-1] == "server status"
        count = len(handed())
        served = int(home.status()["served"])
        relative = "./" + home.folder.name + "/../" + home.folder.name
        done = subprocess.run(
            [*home.client, "case", "list"],
            capture_output=True,
            cwd=home.folder.parent,
            env={**home.env, "TRACKER_HOME": relative},
            timeout=60,
        )
        assert done.stdout == slow.stdout
        assert len(handed()) == count and int(home.status()["served"]) == served + 1


def test_a_c_key_is_taken_once_vouched_for_and_while_the_code_is_current(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    here = server.Server(tmp_path / "server.sock", b"k")
    template = [b"utf-8", b"strict", b"0", b"0"] * 2 + [b"utf-8", b"backslashreplace", b"1", b"0"]

    def request(key: bytes, stdio: list[bytes]) -> list[bytes]:
        return [client.PROTOCOL, key, b"run", b"22", b"tracker", *stdio, b"0"]

    null = os.open(os.devnull, os.O_RDWR)
    fds = [null, null, null, null]
    monkeypatch.setattr(client, "key", lambda: b"k")
    try:
        assert not here.takes(request(b"c1:/bin/tracker", [b"?"] * 12), fds)
        assert not here.takes(request(b"other+c1:/bin/tracker", template), fds)  # not ours
        assert here.takes(request(b"k+c1:/bin/tracker", template), fds)
        asked = request(b"c1:/bin/tracker", [b"?"] * 12)
        assert here.takes(asked, fds)
        assert asked[5:17] == template  # stderr line-buffered, the others not on a file
        monkeypatch.setattr(client, "key", lambda: b"changed")  # tracker's files changed
        assert not here.takes(request(b"c1:/bin/tracker", [b"?"] * 12), fds)
    finally:
        os.close(null)


def test_the_c_client_keeps_the_python_clients_constants() -> None:
    """The two clients speak one protocol: what client.c spells again must agree."""
    source = Path(client.__file__).with_name("client.c").read_text()
    assert f'#define PROTOCOL "{client.PROTOCOL.decode()}"' in source
    assert f"#define HANDSHAKE_SECONDS {client.HANDSHAKE_SECONDS:g}\n" in source
    assert f'"{client.C_KEY_ENV}"' in source and f'"{client.NO_SERVER_ENV}"' in source
    assert f'#define SOCKET_NAME "{client.SOCKET_NAME}"' in source
    in_process = re.search(r"in_process\[\] = \{(.*?)NULL\}", source)
    assert in_process and set(re.findall(r'"(\w+)"', in_process[1])) == client.IN_PROCESS
    relayed = re.search(r"relayed\[\] = \{(.*?)\}", source)
    assert relayed and [n.strip() for n in relayed[1].split(",")] == list(client.RELAYED)
