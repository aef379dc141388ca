"""Benchmarks: start-up, large stores, export and the daemon, beside Taskwarrior and sqlite3.

    .venv/bin/python bench/run.py                          # 1k, 10k, 100k cases (~15 min)
    .venv/bin/python bench/run.py --sizes 1000,10000 --quick
    .venv/bin/python bench/run.py --search-only --sizes 100000   # the Search section alone

Prints the tables and writes them into BENCHMARKS.md (between its `bench:begin` and
`bench:end` markers, and the search section between `bench:search:begin` and
`bench:search:end`; the text around them is kept). Needs `hyperfine`; compares with
Taskwarrior (`task`) and the `sqlite3` shell when they are installed, and reads peak memory
with `/usr/bin/time -v` (apt-get install -y hyperfine taskwarrior sqlite3 time).

How it measures:
- Every command runs as a user types it, in a fresh process, through hyperfine (-N, no
  shell; stdout to /dev/null, so tables print tab-separated as for a pipe), after warm-up
  runs; the tables give the median and the min-max. A command slower than 2 s runs 3
  times (once with --quick).
- Bytecode is cached: PYTHONDONTWRITEBYTECODE is removed from the commands' environment and
  the venv's site-packages and tracker/ are compiled first, so start-up is what a user sees
  from the second run on.
- Stores come from bench/stores.py (cached in bench/.stores); write commands and the daemon
  run on a copy. TZ=UTC; TRACKER_HOME points at a temporary folder.
- The 1-minute load average is recorded before each part: other work on the machine shows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import stores

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
TRACKER = PYTHON.parent / "tracker"
OUTPUT = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SEARCH_BEGIN, SEARCH_END = "<!-- bench:search:begin -->", "<!-- bench:search:end -->"
SLOW = 2.0  # seconds: a command slower than this runs 3 times
HEAVY = ("alembic", "apscheduler", "plyer", "rich", "psycopg", "icalendar", "phonenumbers")
EXPORT_SQL = (
    "SELECT e.case_id, c.title AS case_title, o.name AS organization, c.category, "
    "e.at AS event_at, e.type AS event_type, json_extract(e.data, '$.channel') AS channel, "
    "json_extract(e.data, '$.agent') AS agent, json_extract(e.data, '$.reference') AS reference, "
    "e.summary, json_extract(e.data, '$.due_at') AS due_at, "
    "json_extract(e.data, '$.promise_status') AS promise_status "
    "FROM events e LEFT JOIN cases c ON c.id = e.case_id "
    "LEFT JOIN organizations o ON o.id = c.organization_id ORDER BY e.at, e.id"
)
RECORDER = """#!/bin/sh
# tracker's command notifier runs this with the title and the body: log when, and what.
printf '%s\\t%s\\t%s\\n' "$(date +%s.%N)" "$1" "$2" >> "$0.log"
"""


# --------------------------------------------------------------------------- plumbing


@dataclass
class Timing:
    median: float
    low: float
    high: float
    runs: int

    def cell(self) -> str:
        if self.runs == 1:
            return _ms(self.median)
        return f"{_ms(self.median)} ({_ms(self.low, unit=False)}–{_ms(self.high, unit=False)})"


def _ms(seconds: float, unit: bool = True) -> str:
    if seconds >= 10:
        text = f"{seconds:.1f}"
        return f"{text} s" if unit else text
    if seconds >= 1:
        text = f"{seconds:.2f}"
        return f"{text} s" if unit else text
    text = f"{seconds * 1000:.0f}"
    return f"{text} ms" if unit else text


@dataclass
class Bench:
    quick: bool
    work: Path
    log: Callable[[str], None] = print
    loads: dict[str, float] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what users get: cached bytecode
        env.pop("TRACKER_DB", None)
        env["TZ"] = "UTC"
        env["TRACKER_HOME"] = str(self.work / "home")
        env.update(extra)
        return env

    def note_load(self, part: str) -> None:
        self.loads[part] = os.getloadavg()[0]

    def time(
        self, commands: dict[str, Sequence[str]], env: dict[str, str] | None = None
    ) -> dict[str, Timing]:
        """Each command through hyperfine: warm-up runs, then the timed ones."""
        env = env or self.env()
        results = {}
        for label, argv in commands.items():
            started = time.perf_counter()
            first = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            took = time.perf_counter() - started
            if first.returncode != 0:
                raise SystemExit(f"{label} failed: {first.stderr.decode()[-500:]}")
            if took > SLOW:
                runs = ["--warmup", "0", "--runs", "1" if self.quick else "3"]
            elif self.quick:
                runs = ["--warmup", "1", "--min-runs", "3", "--max-runs", "5"]
            else:
                runs = ["--warmup", "2", "--min-runs", "10", "--max-runs", "30"]
            out = self.work / "hyperfine.json"
            command = ["hyperfine", "-N", "--style", "none", *runs, "--export-json", str(out)]
            subprocess.run(
                [*command, "-n", label, shlex.join(argv)],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times = json.loads(out.read_text())["results"][0]["times"]
            results[label] = Timing(statistics.median(times), min(times), max(times), len(times))
            self.log(f"  {label:<44} {results[label].cell()}")
        return results


def tracker_cmd(db: Path | None, *args: str) -> list[str]:
    prefix = [str(TRACKER)] + (["--db", f"sqlite:///{db}"] if db else [])
    return prefix + list(args)


def warm_bytecode(bench: Bench) -> None:
    """Compile the venv and tracker once, and run the CLI, so no run pays compilation."""
    site = next(Path(PYTHON.parent.parent, "lib").glob("python3*/site-packages"))
    for target in (site, ROOT / "tracker"):
        subprocess.run(
            [str(PYTHON), "-m", "compileall", "-q", str(target)],
            env=bench.env(),
            stdout=subprocess.DEVNULL,
            check=False,
        )
    subprocess.run(tracker_cmd(None, "--help"), env=bench.env(), stdout=subprocess.DEVNULL)


# --------------------------------------------------------------------------- about


def machine() -> dict[str, str]:
    def run(*argv: str) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            return "not installed"
        return (out.stdout or out.stderr).strip()

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    versions = subprocess.run(
        [
            str(PYTHON),
            "-c",
            "import sqlite3, sqlalchemy, importlib.metadata as m; "
            "print(sqlalchemy.__version__, m.version('click'), sqlite3.sqlite_version)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": f"{os.cpu_count()} × {cpu}",
        "memory": f"{int(memory) / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "sqlalchemy": versions[0],
        "click": versions[1],
        "sqlite": versions[2],
        "sqlite3 shell": run("sqlite3", "--version").split(" ")[0],
        "taskwarrior": run("task", "--version"),
        "hyperfine": run("hyperfine", "--version").removeprefix("hyperfine "),
    }


# --------------------------------------------------------------------------- start-up


def startup(bench: Bench) -> dict[str, Timing]:
    bench.log("start-up (bytecode cached)")
    bench.note_load("start-up")
    one = bench.work / "one"
    one.mkdir()
    empty = bench.work / "empty"
    env_one = bench.env(TRACKER_HOME=str(one))
    subprocess.run(
        tracker_cmd(None, "case", "open", "Startup probe", "--org", "ACME"),
        env=env_one,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    py = str(PYTHON)
    results = bench.time(
        {
            "python -c pass": [py, "-c", "pass"],
            "python -c 'import click'": [py, "-c", "import click"],
            "python -c 'import sqlalchemy.orm, click'": [py, "-c", "import sqlalchemy.orm, click"],
            "tracker --help": tracker_cmd(None, "--help"),
        }
    )
    results |= bench.time(
        {
            "tracker case note 1 TEXT (1 case)": tracker_cmd(None, "case", "note", "1", "x"),
            "tracker case show 1 (1 case)": tracker_cmd(None, "case", "show", "1"),
        },
        env=env_one,
    )
    results |= bench.time(
        {"tracker due (empty store)": tracker_cmd(None, "due")},
        env=bench.env(TRACKER_HOME=str(empty)),
    )
    return results


def heavy_imports(bench: Bench) -> dict[str, list[str]]:
    """Which of the heavy packages each common command imports (python -X importtime)."""
    env = bench.env(TRACKER_HOME=str(bench.work / "one"))
    found = {}
    for args in (["--help"], ["case", "note", "1", "x"], ["case", "list"], ["due"]):
        run = subprocess.run(
            [str(PYTHON), "-X", "importtime", "-m", "tracker", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        names = set(re.findall(r"\|\s+([\w.]+)\s*$", run.stderr, flags=re.MULTILINE))
        found[" ".join(args)] = sorted({n.split(".")[0] for n in names if n.split(".")[0] in HEAVY})
    return found


# --------------------------------------------------------------------------- scale


@dataclass
class SizeResult:
    size: int
    store: dict[str, Any]
    sample_case: int
    ours: dict[str, Timing]
    taskwarrior: dict[str, Timing] = field(default_factory=dict)
    taskwarrior_import_s: float | None = None
    taskwarrior_items: dict[str, int] = field(default_factory=dict)
    shell: dict[str, Timing] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    peak_kb: dict[str, int] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)


def scale(bench: Bench, size: int, *, taskwarrior: bool) -> SizeResult:
    cached, info = stores.cached_store(size, log=bench.log)
    folder = bench.work / f"size-{size}"
    folder.mkdir()
    db = stores.working_copy(cached, folder)
    case = stores.sample_case(db)
    bench.log(f"{size} cases ({info['active_cases']} active, {info['rows']['events']} events)")
    bench.note_load(f"{size} cases")
    ours = bench.time(
        {
            "case list --limit 50": tracker_cmd(db, "case", "list", "--limit", "50"),
            "case list (every active case)": tracker_cmd(db, "case", "list"),
            "case show": tracker_cmd(db, "case", "show", str(case)),
            "case note": tracker_cmd(db, "case", "note", str(case), "Called again, no news."),
            "case open": tracker_cmd(db, "case", "open", "Benchmark case", "--org", "Chase"),
            "due": tracker_cmd(db, "due"),
            "export csv": tracker_cmd(db, "export", "csv"),
        }
    )
    result = SizeResult(size, info, case, ours)
    if taskwarrior and shutil.which("task"):
        taskwarrior_part(bench, result, cached, folder)
    if shutil.which("sqlite3"):
        export_part(bench, result, db)
    result.schedule = json.loads(
        subprocess.run(
            [str(PYTHON), str(ROOT / "bench" / "probe.py"), f"sqlite:///{db}"],
            env=bench.env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    bench.log(
        f"  daemon schedule: upcoming() {_ms(result.schedule['upcoming_s'])} "
        f"({result.schedule['upcoming']} occurrences), one pass's _ready() "
        f"{_ms(result.schedule['ready_s'])}"
    )
    return result


def taskwarrior_part(bench: Bench, result: SizeResult, cached: Path, folder: Path) -> None:
    tasks = folder / "tasks.json"
    result.taskwarrior_items = stores.taskwarrior_json(cached, tasks)
    data = folder / "task-data"
    data.mkdir()
    rc = folder / "taskrc"
    rc.write_text(f"data.location={data}\n")
    env = bench.env(TASKRC=str(rc))
    quiet = ["rc.confirmation=off", "rc.verbose=nothing"]
    started = time.perf_counter()
    subprocess.run(
        ["task", *quiet, "import", str(tasks)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    result.taskwarrior_import_s = time.perf_counter() - started
    pending = result.taskwarrior_items["pending"]
    middle = str(max(1, pending // 2))
    bench.log(f"  taskwarrior: imported {pending} pending tasks + completed ones")
    result.taskwarrior = bench.time(
        {
            "task list": ["task", *quiet, "list"],
            "task N info": ["task", *quiet, middle, "info"],
            "task N annotate": ["task", *quiet, middle, "annotate", "Called again, no news."],
            "task add": ["task", *quiet, "add", "Benchmark case", "project:Chase"],
            "task export": ["task", *quiet, "export"],
        },
        env=env,
    )


def _csv_rows(argv: list[str], env: dict[str, str], target: Path) -> int:
    with target.open("wb") as out:
        subprocess.run(argv, env=env, stdout=out, check=True)
    with target.open(newline="", encoding="utf-8") as read:
        count = sum(1 for _ in csv.reader(read)) - 1
    target.unlink()
    return count


def peak_rss_kb(argv: list[str], env: dict[str, str]) -> int:
    """Maximum resident set size, as /usr/bin/time -v reports it."""
    run = subprocess.run(
        ["/usr/bin/time", "-v", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
    assert match, run.stderr
    return int(match[1])


def export_part(bench: Bench, result: SizeResult, db: Path) -> None:
    env = bench.env()
    shell = ["sqlite3", "-csv", "-header", str(db), EXPORT_SQL]
    ours = tracker_cmd(db, "export", "csv")
    result.shell = bench.time({"sqlite3 -csv (same rows)": shell}, env=env)
    result.rows = {
        "ours": _csv_rows(ours, env, bench.work / "ours.csv"),
        "shell": _csv_rows(shell, env, bench.work / "shell.csv"),
    }
    if Path("/usr/bin/time").exists():
        result.peak_kb = {
            "export csv": peak_rss_kb([*ours, "-o", "/dev/null"], env),
            "export json": peak_rss_kb(tracker_cmd(db, "export", "json", "-o", "/dev/null"), env),
            "sqlite3 -csv": peak_rss_kb(shell, env),
        }


# --------------------------------------------------------------------------- daemon


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _status(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


@dataclass
class DaemonResult:
    size: int
    poll_s: float
    catch_up_s: float
    catch_up_cpu_s: float
    catch_up_notifications: int
    idle_window_s: float
    idle_cpu_percent: float
    idle_waiting_cpu_percent: float
    idle_pass_seconds: int
    idle_shown: int
    rss_kb: int
    hwm_kb: int
    delays_s: list[float]
    missed: int
    log_tail: list[str]


def daemon(bench: Bench, size: int, *, poll: float, idle: float) -> DaemonResult:
    cached, _ = stores.cached_store(size, log=bench.log)
    folder = bench.work / f"daemon-{size}"
    folder.mkdir()
    db = stores.working_copy(cached, folder)
    bench.log(f"daemon on {size} cases (poll {poll:g} s)")
    bench.note_load("daemon")
    recorder = folder / "notify.sh"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    notified = Path(f"{recorder}.log")
    hz = os.sysconf("SC_CLK_TCK")
    env = bench.env()
    notifier = f"command:{recorder}"
    argv = tracker_cmd(db, "daemon", "run", "--notifier", notifier, "--poll", str(poll))
    errors = (folder / "daemon.err").open("w")
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        # Caught up once it has shown what was due and its CPU time stands still for 3 s.
        last_ticks, last_change = -1, started
        while time.monotonic() - last_change < 3:
            time.sleep(0.25)
            ticks = _cpu_ticks(proc.pid)
            if ticks != last_ticks:
                last_ticks, last_change = ticks, time.monotonic()
            if proc.poll() is not None:
                raise SystemExit(f"the daemon exited: {(folder / 'daemon.err').read_text()}")
        catch_up = last_change - started
        catch_up_cpu = last_ticks / hz
        shown = len(_lines(notified))
        bench.log(f"  caught up in {catch_up:.1f} s ({catch_up_cpu:.1f} s CPU), {shown} shown")
        # Idle: nothing changes; the poll job wakes every `poll` seconds. On a large store
        # reminders still fall due every few minutes: sampled each second, the seconds spent
        # on a reminder pass (50 ms of CPU or more) are told apart from the waiting.
        shown_before = len(_lines(notified))
        samples = []
        last_ticks = _cpu_ticks(proc.pid)
        for _ in range(int(idle)):
            time.sleep(1)
            ticks = _cpu_ticks(proc.pid)
            samples.append(ticks - last_ticks)
            last_ticks = ticks
        waiting = [t for t in samples if t < hz * 0.05]
        idle_percent = sum(samples) / hz / len(samples) * 100
        waiting_percent = sum(waiting) / hz / max(len(waiting), 1) * 100
        idle_shown = len(_lines(notified)) - shown_before
        bench.log(
            f"  idle CPU over {idle:g} s: {waiting_percent:.2f}% of a core waiting, "
            f"{idle_percent:.2f}% in all ({idle_shown} reminders shown meanwhile)"
        )
        # The delay: follow-ups set by the CLI on three active cases, due after the next poll.
        cases = _active_cases(db, 3)
        due_base = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=poll + 15)
        probes = {}
        for i, case in enumerate(cases):
            due = due_base + timedelta(seconds=10 * i)
            text = f"bench probe {i}"
            subprocess.run(
                tracker_cmd(db, "case", "follow-up", str(case), due.isoformat(), text),
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            probes[text] = due
        deadline = time.monotonic() + (max(probes.values()) - datetime.now(UTC)).total_seconds()
        delays: dict[str, float] = {}
        while time.monotonic() < deadline + 60 and len(delays) < len(probes):
            time.sleep(0.2)
            for line in _lines(notified):
                stamp, _, rest = line.partition("\t")
                for text, due in probes.items():
                    if text in rest and text not in delays:
                        delays[text] = float(stamp) - due.timestamp()
        bench.log(f"  due -> notification: {', '.join(f'{d:.2f} s' for d in delays.values())}")
        memory = _status(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
        errors.close()
    log = [line[:160] for line in _lines(folder / "daemon.err") if "showed:" not in line]
    return DaemonResult(
        size=size,
        poll_s=poll,
        catch_up_s=catch_up,
        catch_up_cpu_s=catch_up_cpu,
        catch_up_notifications=shown,
        idle_window_s=idle,
        idle_cpu_percent=idle_percent,
        idle_waiting_cpu_percent=waiting_percent,
        idle_pass_seconds=len(samples) - len(waiting),
        idle_shown=idle_shown,
        rss_kb=memory.get("VmRSS", 0),
        hwm_kb=memory.get("VmHWM", 0),
        delays_s=sorted(delays.values()),
        missed=len(probes) - len(delays),
        log_tail=log[-8:],
    )


def _active_cases(db: Path, count: int) -> list[int]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id FROM cases WHERE status IN ('open', 'waiting', 'escalated') "
            "ORDER BY id DESC LIMIT ?",
            (count,),
        ).fetchall()
    return [row[0] for row in rows]


# --------------------------------------------------------------------------- report


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×"


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


# --------------------------------------------------------------------------- search


@dataclass
class SearchResult:
    size: int
    documents: int
    build_s: float  # migration 0008's upgrade: fill the index, build it, create the triggers
    store_mb: float  # the store without the index (VACUUMed)
    index_mb: float  # what the upgrade added
    reference: str
    word: str
    word_matches: int
    organization: str
    timings: dict[str, Timing]
    query_ms: dict[str, float]  # the same searches in-process: tracker.search.search only
    note_write_ms: dict[str, float]  # one `case note` transaction in-process: with, without


def _file_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6


def search_part(bench: Bench, size: int) -> SearchResult:
    """The index on the store of `size` cases: building it (the migration on the store as
    it was before it), its size, search latency, and what its triggers add to a write."""
    import tracker.migrate
    from alembic import command
    from tracker import search as engine
    from tracker.cases import add_note, get_case
    from tracker.db import Store, make_engine
    from tracker.redact import Masker

    cached, _ = stores.cached_store(size, log=bench.log)
    folder = bench.work / f"search-{size}"
    folder.mkdir()
    db = stores.working_copy(cached, folder)
    bench.log(f"search on {size} cases")
    bench.note_load(f"search {size}")
    url = f"sqlite:///{db}"
    migrating = make_engine(url)
    config = tracker.migrate.alembic_config()
    with tracker.migrate.migration_connection(migrating) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    migrating.dispose()
    with sqlite3_connect(db) as conn:
        conn.execute("VACUUM")
    before = _file_mb(db)
    migrating = make_engine(url)
    started = time.perf_counter()
    tracker.migrate.upgrade(migrating)
    build = time.perf_counter() - started
    migrating.dispose()
    with sqlite3_connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        documents = conn.execute("SELECT count(*) FROM search_docs").fetchone()[0]
        reference = conn.execute(
            "SELECT value FROM reference_numbers WHERE id >= (SELECT max(id) / 2 FROM "
            "reference_numbers) ORDER BY id LIMIT 1"
        ).fetchone()[0]
        word = "credit"
        word_matches = conn.execute(
            "SELECT count(*) FROM search_fts WHERE search_fts MATCH ?", (word,)
        ).fetchone()[0]
        organization = conn.execute(
            "SELECT o.name FROM organizations o JOIN cases c ON c.organization_id = o.id "
            "GROUP BY o.id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
    after = _file_mb(db)
    bench.log(f"  index build {_ms(build)}, {documents} documents, +{after - before:.0f} MB")
    case = stores.sample_case(db)
    bare = folder / "without-triggers.db"
    shutil.copyfile(db, bare)
    bare_engine = make_engine(f"sqlite:///{bare}")
    with bare_engine.begin() as conn:
        for source in engine.SOURCES:
            engine.drop_triggers(conn, source)
    bare_engine.dispose()
    timings = bench.time(
        {
            "search REF (a reference number)": tracker_cmd(db, "search", reference),
            f"search {word} (a common word)": tracker_cmd(db, "search", word),
            f"search {word} --org (the largest)": tracker_cmd(
                db, "search", word, "--org", organization
            ),
            f"search {word} --since 30 days ago": tracker_cmd(
                db, "search", word, "--since", "30 days ago"
            ),
            "case note (with the index's triggers)": tracker_cmd(
                db, "case", "note", str(case), "Called again, no news."
            ),
            "case note (triggers dropped)": tracker_cmd(
                bare, "case", "note", str(case), "Called again, no news."
            ),
        }
    )
    queries = {
        "search REF (a reference number)": (reference, engine.SearchFilter()),
        f"search {word} (a common word)": (word, engine.SearchFilter()),
        f"search {word} --org (the largest)": (
            word,
            engine.SearchFilter(organization=organization),
        ),
        f"search {word} --since 30 days ago": (
            word,
            engine.SearchFilter(since=datetime.now(UTC) - timedelta(days=30)),
        ),
    }
    query_ms: dict[str, float] = {}
    reader = Store(url)
    for label, (words, flt) in queries.items():
        took = []
        for _ in range(5 if bench.quick else 20):
            started = time.perf_counter()
            with reader.read() as session:
                engine.search(session, engine.parse_query(words), flt)
            took.append(time.perf_counter() - started)
        query_ms[label] = statistics.median(took) * 1000
        bench.log(f"  in-process {label:<33} {query_ms[label]:.1f} ms")
    reader.dispose()
    writes: dict[str, float] = {}
    for label, path in (("with", db), ("without", bare)):
        store = Store(f"sqlite:///{path}")
        took = []
        for n in range(30 if bench.quick else 200):
            started = time.perf_counter()
            with store.write() as session:
                add_note(session, get_case(session, case), f"Note {n}: called", masker=Masker())
            took.append(time.perf_counter() - started)
        store.dispose()
        writes[label] = statistics.median(took) * 1000
    bench.log(f"  one note write: {writes['with']:.2f} ms with, {writes['without']:.2f} without")
    return SearchResult(
        size, documents, build, before, after - before, reference, word, word_matches,
        organization, timings, query_ms, writes,
    )  # fmt: skip


def sqlite3_connect(path: Path) -> Any:
    import sqlite3
    from contextlib import closing

    return closing(sqlite3.connect(path, isolation_level=None))


def search_report(
    results: list[SearchResult], about: dict[str, str], options: Any, loads: dict[str, float]
) -> str:
    out: list[str] = []
    add = out.append
    add(
        f"Measured {about['date']} with `{' '.join(options.argv)}`, sqlite {about['sqlite']}"
        + (" (--quick: fewer runs, not for comparison)." if options.quick else ".")
    )
    add("")
    add("| | " + " | ".join(f"{r.size:,} cases" for r in results) + " |")
    add("|---|" + "---|" * len(results))

    def row(label: str, cells: list[str]) -> None:
        add(f"| {label} | " + " | ".join(cells) + " |")

    row("documents indexed", [f"{r.documents:,}" for r in results])
    row("index build (migration 0008 on the store)", [_ms(r.build_s) for r in results])
    row(
        "size the index adds",
        [f"{r.index_mb:.0f} MB (+{100 * r.index_mb / r.store_mb:.0f}% of {r.store_mb:.0f} MB)"
         for r in results],
    )  # fmt: skip
    for index, label in enumerate(results[0].timings):
        row(f"`{label}`", [list(r.timings.values())[index].cell() for r in results])
    for index, label in enumerate(results[0].query_ms):
        row(
            f"`{label}`: the query alone, in-process",
            [f"{list(r.query_ms.values())[index]:.0f} ms" for r in results],
        )
    row(
        "one `case note` transaction in-process, with / without the triggers",
        [
            f"{r.note_write_ms['with']:.2f} ms / {r.note_write_ms['without']:.2f} ms"
            for r in results
        ],
    )
    add("")
    add(
        "The 1-minute load average before the part was "
        + ", ".join(f"{v:.2f}" for k, v in loads.items() if k.startswith("search"))
        + "; a fresh process's start-up (about 200 ms on a quiet machine) is most of each "
        "command's time."
    )
    add("")
    for r in results:
        add(
            f"{r.size:,} cases: REF was `{r.reference}`; `{r.word}` is in {r.word_matches:,} "
            f"documents; the largest organization is {r.organization}."
        )
    return "\n".join(out) + "\n"


def report(
    about: dict[str, str],
    start: dict[str, Timing],
    heavy: dict[str, list[str]],
    sizes: list[SizeResult],
    demon: DaemonResult | None,
    loads: dict[str, float],
    options: argparse.Namespace,
) -> str:
    out: list[str] = []
    add = out.append
    add(
        f"Measured {about['date']} with `{' '.join(options.argv)}`"
        + (" (--quick: fewer runs, not for comparison)." if options.quick else ".")
    )
    add("")
    add("| machine | |")
    add("|---|---|")
    for key in ("cpu", "memory", "os"):
        add(f"| {key} | {about[key]} |")
    versions = ", ".join(
        f"{k} {about[k]}"
        for k in ("python", "sqlalchemy", "click", "sqlite", "sqlite3 shell", "taskwarrior")
    )
    add(f"| versions | {versions}; hyperfine {about['hyperfine']} |")
    add(
        "| load (1 min, before each part) | "
        + ", ".join(f"{part}: {value:.2f}" for part, value in loads.items())
        + " |"
    )
    add("")
    add("Times are medians of hyperfine runs (min–max in brackets), each command a fresh")
    add("process with bytecode cached, stdout to /dev/null, after warm-up runs.")
    add("")
    targets: list[tuple[str, str, bool]] = []

    # start-up
    add("### Start-up")
    add("")
    add("| command | median (min–max) | × floor |")
    add("|---|---|---|")
    click_floor = start["python -c 'import click'"].median
    orm_floor = start["python -c 'import sqlalchemy.orm, click'"].median
    floors = {
        "tracker --help": click_floor,
        "tracker case note 1 TEXT (1 case)": orm_floor,
        "tracker case show 1 (1 case)": orm_floor,
        "tracker due (empty store)": orm_floor,
    }
    for label, timing in start.items():
        floor = floors.get(label)
        add(f"| `{label}` | {timing.cell()} | {_ratio(timing.median, floor) if floor else ''} |")
    add("")
    add(
        "Heavy imports ("
        + ", ".join(HEAVY)
        + ") seen by `python -X importtime`: "
        + "; ".join(f"`{cmd}`: {', '.join(found) or 'none'}" for cmd, found in heavy.items())
        + "."
    )
    add("")
    helped = start["tracker --help"].median / click_floor
    noted = start["tracker case note 1 TEXT (1 case)"].median / orm_floor
    targets.append(("`--help` within 1.5× of `import click`", f"{helped:.2f}×", helped <= 1.5))
    targets.append(
        ("`case note` within 1.3× of `import sqlalchemy.orm, click`", f"{noted:.2f}×", noted <= 1.3)
    )
    targets.append(
        (
            "no heavy import in --help, case note/list, due",
            "none" if not any(heavy.values()) else "some",
            not any(heavy.values()),
        )
    )

    # scale
    add("### Scale")
    add("")
    header = "| command | " + " | ".join(f"{r.size:,} cases" for r in sizes) + " |"
    if len(sizes) > 1:
        header += f" {sizes[-1].size // 1000}k / {sizes[0].size // 1000}k |"
    add(header)
    add("|---" * (len(sizes) + 1 + (len(sizes) > 1)) + "|")
    for label in sizes[0].ours:
        row = f"| `{label}` | " + " | ".join(r.ours[label].cell() for r in sizes) + " |"
        if len(sizes) > 1:
            row += f" {_ratio(sizes[-1].ours[label].median, sizes[0].ours[label].median)} |"
        add(row)
    add(
        "| daemon: schedule after a change | "
        + " | ".join(f"{_ms(r.schedule['upcoming_s'])}" for r in sizes)
        + (" | |" if len(sizes) > 1 else " |")
    )
    add(
        "| stores: active cases / events | "
        + " | ".join(f"{r.store['active_cases']:,} / {r.store['rows']['events']:,}" for r in sizes)
        + (" | |" if len(sizes) > 1 else " |")
    )
    add("")
    if len(sizes) > 1:
        for label in ("case list --limit 50", "case show", "case note", "due"):
            ratio = sizes[-1].ours[label].median / sizes[0].ours[label].median
            targets.append(
                (
                    f"`{label}`: {sizes[-1].size // 1000}k within 1.2× of {sizes[0].size // 1000}k",
                    f"{ratio:.2f}×",
                    ratio <= 1.2,
                )
            )

    # taskwarrior
    with_tw = [r for r in sizes if r.taskwarrior]
    if with_tw:
        add("### Beside Taskwarrior (same items: one task per case)")
        add("")
        pairs = [
            ("case open", "task add"),
            ("case note", "task N annotate"),
            ("case show", "task N info"),
            ("case list (every active case)", "task list"),
            ("case list --limit 50", "task list"),
            ("export csv", "task export"),
        ]
        add(
            "| ours | Taskwarrior | "
            + " | ".join(f"{r.size:,}: ours / task (task ÷ ours)" for r in with_tw)
            + " |"
        )
        add("|---|---|" + "---|" * len(with_tw))
        for mine, theirs in pairs:
            cells = []
            for r in with_tw:
                a, b = r.ours[mine].median, r.taskwarrior[theirs].median
                cells.append(f"{_ms(a)} / {_ms(b)} ({b / a:.2f}×)")
            add(f"| `{mine}` | `{theirs}` | " + " | ".join(cells) + " |")
        add("")
        add(
            "Taskwarrior's stores: "
            + "; ".join(
                f"{r.size:,}: {r.taskwarrior_items['pending']:,} pending + "
                f"{r.taskwarrior_items['completed']:,} completed tasks, 3-5 annotations each, "
                f"`task import` {r.taskwarrior_import_s:.1f} s"
                for r in with_tw
            )
            + "."
        )
        add("")
        big = with_tw[-1]
        for mine, theirs in pairs:
            a, b = big.ours[mine].median, big.taskwarrior[theirs].median
            need = 5.0 if theirs in ("task list", "task export") and "--limit" not in mine else 1.0
            goal = f"{need:g}× faster" if need > 1 else "faster"
            targets.append(
                (
                    f"{big.size // 1000}k: `{mine}` {goal} than `{theirs}`",
                    f"{b / a:.2f}×",
                    b / a >= need if need > 1 else a < b,
                )
            )
        mid = next((r for r in with_tw if r.size == 10_000), None)
        if mid is not None:
            for mine, theirs in pairs:
                a, b = mid.ours[mine].median, mid.taskwarrior[theirs].median
                targets.append(
                    (f"10k: `{mine}` within 1.2× of `{theirs}`", f"{a / b:.2f}×", a <= 1.2 * b)
                )

    # export
    with_shell = [r for r in sizes if r.shell]
    if with_shell:
        add("### Export beside the sqlite3 shell (the same rows)")
        add("")
        add(
            "| cases | events | `export csv` | `sqlite3 -csv` | ours / shell throughput "
            "| peak RSS: export csv / export json / sqlite3 |"
        )
        add("|---|---|---|---|---|---|")
        for r in with_shell:
            a, b = r.ours["export csv"].median, r.shell["sqlite3 -csv (same rows)"].median
            peaks = " / ".join(f"{kb / 1024:.0f} MB" for kb in r.peak_kb.values())
            add(
                f"| {r.size:,} | {r.rows['ours']:,} (shell: {r.rows['shell']:,}) | "
                f"{r.ours['export csv'].cell()} | {r.shell['sqlite3 -csv (same rows)'].cell()} | "
                f"{b / a:.2f} ({r.rows['ours'] / a:,.0f} vs {r.rows['shell'] / b:,.0f} rows/s) "
                f"| {peaks} |"
            )
        add("")
        big = with_shell[-1]
        a, b = big.ours["export csv"].median, big.shell["sqlite3 -csv (same rows)"].median
        targets.append(
            (
                f"{big.size // 1000}k: export csv at least half the shell's throughput",
                f"{b / a:.2f}",
                b / a >= 0.5,
            )
        )
        ten = next((r for r in with_shell if r.size == 10_000), None)
        if ten is not None and big is not ten and big.peak_kb and ten.peak_kb:
            growth = big.peak_kb["export csv"] / ten.peak_kb["export csv"]
            targets.append(
                (
                    f"export csv peak memory flat from 10k to {big.size // 1000}k",
                    f"{ten.peak_kb['export csv'] / 1024:.0f} → "
                    f"{big.peak_kb['export csv'] / 1024:.0f} MB ({growth:.2f}×)",
                    growth <= 1.15,
                )
            )

    # daemon
    if demon is not None:
        add(f"### Daemon on {demon.size:,} cases")
        add("")
        add("| measure | value |")
        add("|---|---|")
        add(
            f"| first start: caught up in | {demon.catch_up_s:.1f} s ({demon.catch_up_cpu_s:.1f} s "
            f"CPU), {demon.catch_up_notifications:,} notifications shown |"
        )
        passes = (
            f"; {demon.idle_cpu_percent:.2f}% in all: {demon.idle_shown} reminders fell due "
            f"and were shown in the window ({demon.idle_pass_seconds} s of passes)"
            if demon.idle_pass_seconds
            else ""
        )
        add(
            f"| idle CPU over {demon.idle_window_s:g} s (poll every {demon.poll_s:g} s) "
            f"| {demon.idle_waiting_cpu_percent:.2f}% of a core waiting{passes} |"
        )
        add(
            f"| resident memory: VmRSS / VmHWM | {demon.rss_kb / 1024:.0f} MB / "
            f"{demon.hwm_kb / 1024:.0f} MB |"
        )
        shown = ", ".join(f"{d:.2f} s" for d in demon.delays_s) or "none"
        add(
            f"| due time → notification (3 follow-ups set by the CLI) | {shown}"
            + (f"; {demon.missed} not shown within 60 s" if demon.missed else "")
            + " |"
        )
        add("")
        worst = max(demon.delays_s) if demon.delays_s and not demon.missed else float("inf")
        targets += [
            (
                "daemon idle CPU (waiting for the next reminder) under 0.5% of a core",
                f"{demon.idle_waiting_cpu_percent:.2f}%",
                demon.idle_waiting_cpu_percent < 0.5,
            ),
            (
                "daemon resident memory under 80 MB",
                f"{demon.hwm_kb / 1024:.0f} MB (peak)",
                demon.hwm_kb / 1024 < 80,
            ),
            ("due time to notification under 2 s", f"{worst:.2f} s (worst)", worst < 2),
        ]

    add("### Targets")
    add("")
    add("| target | measured | |")
    add("|---|---|---|")
    for what, value, ok in targets:
        add(f"| {what} | {value} | {_mark(ok)} |")
    return "\n".join(out) + "\n"


def write_report(text: str, path: Path, begin: str = BEGIN, end: str = END) -> None:
    block = f"{begin}\n{text}{end}"
    if path.exists():
        old = path.read_text()
        if begin in old and end in old:
            head, _, rest = old.partition(begin)
            _, _, tail = rest.partition(end)
            path.write_text(head + block + tail)
            return
        path.write_text(old.rstrip("\n") + f"\n\n{block}\n")
        return
    path.write_text(f"# Benchmarks\n\n{block}\n")


# --------------------------------------------------------------------------- main


def wait_for_quiet(limit: float, seconds: float, log: Callable[[str], None]) -> None:
    deadline = time.monotonic() + seconds
    while os.getloadavg()[0] > limit and time.monotonic() < deadline:
        log(f"waiting for a quiet machine (load {os.getloadavg()[0]:.2f} > {limit:g}) ...")
        time.sleep(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="cases per store")
    parser.add_argument("--quick", action="store_true", help="fewer runs; a 20 s idle window")
    parser.add_argument("--no-taskwarrior", action="store_true")
    parser.add_argument("--no-daemon", action="store_true")
    parser.add_argument("--no-search", action="store_true")
    parser.add_argument(
        "--search-only", action="store_true", help="only the search section (largest size)"
    )
    parser.add_argument("--daemon-size", type=int, help="default: the largest size")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: BENCHMARKS.md")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        metavar="LOAD",
        help="first wait (up to 10 min) for the 1-minute load average to drop below LOAD",
    )
    options = parser.parse_args()
    options.argv = [".venv/bin/python", "bench/run.py", *sys.argv[1:]]
    if not shutil.which("hyperfine"):
        raise SystemExit("hyperfine is needed: apt-get install -y hyperfine")
    sizes = sorted(int(s) for s in options.sizes.split(","))
    if options.wait_quiet:
        wait_for_quiet(options.wait_quiet, 600, print)
    started = time.perf_counter()
    if options.search_only:
        with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
            bench = Bench(quick=options.quick, work=Path(tmp))
            (bench.work / "home").mkdir()
            about = machine()
            warm_bytecode(bench)
            found = [search_part(bench, sizes[-1])]
        text = search_report(found, about, options, bench.loads)
        print(text)
        write_report(text, options.output, SEARCH_BEGIN, SEARCH_END)
        print(f"written to {options.output} in {time.perf_counter() - started:.0f} s")
        return
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        bench = Bench(quick=options.quick, work=Path(tmp))
        (bench.work / "home").mkdir()
        about = machine()
        warm_bytecode(bench)
        start = startup(bench)
        heavy = heavy_imports(bench)
        results = [scale(bench, n, taskwarrior=not options.no_taskwarrior) for n in sizes]
        demon = None
        if not options.no_daemon:
            demon = daemon(
                bench,
                options.daemon_size or sizes[-1],
                poll=30.0,
                idle=20.0 if options.quick else 60.0,
            )
        searched = [] if options.no_search else [search_part(bench, sizes[-1])]
        bench.note_load("end")
        text = report(about, start, heavy, results, demon, bench.loads, options)
    raw = {
        "about": about,
        "startup": {k: asdict(v) for k, v in start.items()},
        "sizes": [asdict(r) for r in results],
        "daemon": asdict(demon) if demon else None,
        "loads": bench.loads,
    }
    stores.STORES.mkdir(exist_ok=True)
    (stores.STORES / "results.json").write_text(json.dumps(raw, indent=2, default=str))
    print()
    print(text)
    write_report(text, options.output)
    if searched:
        found_text = search_report(searched, about, options, bench.loads)
        print(found_text)
        write_report(found_text, options.output, SEARCH_BEGIN, SEARCH_END)
    print(f"written to {options.output} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
