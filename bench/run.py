"""Benchmarks: start-up, large stores, export and the daemon, beside Taskwarrior and sqlite3.

    .venv/bin/python bench/run.py                          # 1k, 10k, 100k cases
    .venv/bin/python bench/run.py --sizes 1000,10000 --quick
    .venv/bin/python bench/run.py --sizes 1000,10000 --in-process --no-daemon
    .venv/bin/python bench/run.py --search-only --sizes 100000   # the Search section alone

Prints the tables and writes them into BENCHMARKS.md (between its `bench:begin` and
`bench:end` markers, and the search section between `bench:search:begin` and
`bench:search:end`; the text around them is kept). Needs `hyperfine`; compares with
Taskwarrior (`task`) and the `sqlite3` shell when they are installed, and reads peak memory
with `/usr/bin/time -v` (apt-get install -y hyperfine taskwarrior sqlite3 time).

How it measures:
- Every command runs as a user types it: the installed `tracker` (so a fast path, once
  there, is what is measured; --in-process sets TRACKER_NO_SERVER=1 to measure the
  command in its own process), in a fresh process, stdout to /dev/null (tables print
  tab-separated, as for a pipe).
- Side by side: each pair (ours, and Taskwarrior's or the sqlite3 shell's equivalent) is
  alternated round by round, A B then B A, after warm-up runs (--rounds, default 15 below
  100k cases; --rounds-large, default 7, from 100k on; 5 or 3 for a pair slower than 2 or
  6 s); wall-clock; the tables give the median of the rounds' ratios with their
  interquartile range and min-max, and each goal of issue #21 met or missed. A missed goal
  gets a cProfile of one run of the command as the server's warm worker runs it. Start-up
  rows (hyperfine) are timed alone, as before.
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
    in_process: bool = False  # TRACKER_NO_SERVER=1: every command runs in its own process
    rounds_small: int = 15  # side-by-side rounds below 100k cases
    rounds_large: int = 7  # and from 100k on

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what users get: cached bytecode
        env.pop("TRACKER_DB", None)
        env.pop("TRACKER_NO_SERVER", None)
        if self.in_process:
            env["TRACKER_NO_SERVER"] = "1"
        env["TZ"] = "UTC"
        env["TRACKER_HOME"] = str(self.work / "home")
        env.update(extra)
        return env

    def rounds(self, size: int) -> int:
        if self.quick:
            return 5
        return self.rounds_small if size < 100_000 else self.rounds_large

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


@dataclass
class Cmd:
    """One command as typed: its argv, environment and the exit codes it should end with."""

    argv: list[str]
    env: dict[str, str]
    codes: tuple[int, ...] = (0,)


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


@dataclass
class Pair:
    """Two commands timed in alternation, A B B A A B ...: each round's ratio A / B."""

    a: list[float]
    b: list[float]

    @property
    def ratios(self) -> list[float]:
        return [x / y for x, y in zip(self.a, self.b, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def spread(self) -> str:
        """The ratios' interquartile range and their min-max."""
        q1, q3 = _quartiles(self.ratios)
        return f"IQR {q1:.2f}–{q3:.2f}, {min(self.ratios):.2f}–{max(self.ratios):.2f}"

    def timing(self, side: str) -> Timing:
        times = self.a if side == "a" else self.b
        return Timing(statistics.median(times), min(times), max(times), len(times))


def run_once(cmd: Cmd) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        cmd.argv, env=cmd.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    took = time.perf_counter() - started
    if done.returncode not in cmd.codes:
        raise SystemExit(
            f"{shlex.join(cmd.argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}"
        )
    return took


def paired(
    bench: Bench, pairs: dict[str, tuple[Cmd, Cmd]], rounds: int, *, warmup: int = 2
) -> dict[str, Pair]:
    """Each pair's two commands alternated round by round (A B, then B A: neither always
    runs first), after warm-up runs of both; wall-clock times. A pair whose warm-up took
    over 2 s runs at most 5 rounds, over 6 s at most 3."""
    found = {}
    for label, (a, b) in pairs.items():
        took = 0.0
        for _ in range(max(1, warmup if not bench.quick else 1)):
            took = run_once(a) + run_once(b)
            if took > 2:  # a slow pair: one warm-up run is enough
                break
        count = rounds if took < 2 else min(rounds, 5) if took < 6 else min(rounds, 3)
        times: dict[int, list[float]] = {0: [], 1: []}
        for i in range(count):
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for side in order:
                times[side].append(run_once((a, b)[side]))
        pair = found[label] = Pair(times[0], times[1])
        bench.log(
            f"  {label:<58} {_ms(pair.timing('a').median)} / {_ms(pair.timing('b').median)}"
            f" = {pair.ratio:.2f}× ({pair.spread()}, {count} rounds)"
        )
    return found


# One command as the command server's worker runs it: after the server's warm-up (imports,
# compiled statements, preloaded data), in the process that warmed up.
_WARM_PROFILE = """
import cProfile, sys
from tracker import server
server.warm()
out, sys.argv = sys.argv[1], ["tracker", *sys.argv[2:]]
profiler = cProfile.Profile()
profiler.runcall(server.run_cli)
profiler.dump_stats(out)
"""


def profile(bench: Bench, cmd: Cmd, top: int = 14) -> str:
    """cProfile's top entries (cumulative time) of one run of a tracker command: as the
    server's warm worker runs it, or (--in-process) in a process of its own."""
    import io
    import pstats

    out = bench.work / "profile.out"
    env = dict(cmd.env, TRACKER_NO_SERVER="1")  # the command itself, in this process
    argv = list(cmd.argv)
    if bench.in_process:
        if Path(argv[0]).name == "tracker":  # the C client: profile the Python one beside it
            argv[0] = str(Path(argv[0]).with_name("tracker-python"))
        command = [str(PYTHON), "-m", "cProfile", "-o", str(out), *argv]
    else:
        command = [str(PYTHON), "-c", _WARM_PROFILE, str(out), *argv[1:]]
    subprocess.run(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text)
    stats.sort_stats("cumulative").print_stats(120)
    lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    head = next((line.strip() for line in lines if "function calls" in line), "")
    # The frames every command goes through (the script, Click's dispatch, the import
    # machinery) say nothing: the rest is where the time went.
    body = [
        line.replace(str(ROOT) + "/", "").replace(str(PYTHON.parent.parent) + "/", "")
        for line in lines[start + 1 :]
        if line.strip() and not _PLUMBING.search(line)
    ]
    return "\n".join([head, lines[start].rstrip(), *body[:top]])


_PLUMBING = re.compile(
    r"<frozen |builtins\.(exec|__import__)|click/core\.py|tracker/cli/__init__\.py|"
    r"bin/tracker:|importlib/__init__\.py|_handle_fromlist|_call_with_frames_removed|"
    r"tracker/server\.py"
)


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
    subprocess.run(  # an empty store: reads never create one
        tracker_cmd(None, "db", "upgrade"),
        env=bench.env(TRACKER_HOME=str(empty)),
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


def startup_pairs(bench: Bench) -> dict[str, Pair]:
    """`tracker --help` and a usage error (exit 2), each beside `python -c 'import click'`."""
    env = bench.env()
    click = Cmd([str(PYTHON), "-c", "import click"], env)
    return paired(
        bench,
        {
            "tracker --help / python -c 'import click'": (
                Cmd(tracker_cmd(None, "--help"), env),
                click,
            ),
            "tracker case show (usage error) / python -c 'import click'": (
                Cmd(tracker_cmd(None, "case", "show"), env, codes=(2,)),
                click,
            ),
        },
        21 if not bench.quick else 5,
    )


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
    pairs: dict[str, Pair] = field(default_factory=dict)
    due_lines: int = 0
    commands: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    peak_kb: dict[str, int] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)


# Our command beside the one of Taskwarrior's that does the same, with the goal (at most
# GOAL[size] times Taskwarrior's time); None: for information (no goal).
SIDE_BY_SIDE: list[tuple[str, str, bool]] = [
    ("case note", "task N annotate", True),
    ("case contact", "task N annotate (a contact)", True),
    ("case show", "task N info", True),
    ("case list --limit 50", "task next", True),
    ("case list (every active case)", "task list", False),
    ("due", "task overdue", True),
    ("case open", "task add", True),
    ("search", "task /word/ list", True),
    ("export csv", "task export", False),
]
WORD = "credit"  # a common word of the stores' summaries and notes


def goal_for(size: int) -> float:
    """The issue's goal: at most 1.5× Taskwarrior's time at 1k items, 1.0× from 10k on."""
    return 1.5 if size < 10_000 else 1.0


def scale(bench: Bench, size: int, *, taskwarrior: bool) -> SizeResult:
    cached, info = stores.cached_store(size, log=bench.log)
    folder = bench.work / f"size-{size}"
    folder.mkdir()
    db = stores.working_copy(cached, folder)
    case = stores.sample_case(db)
    bench.log(f"{size} cases ({info['active_cases']} active, {info['rows']['events']} events)")
    bench.note_load(f"{size} cases")
    env = bench.env()
    note = "Called again, no news."
    ours = {
        "case note": tracker_cmd(db, "case", "note", str(case), note),
        "case contact": tracker_cmd(
            db, "case", "contact", str(case), "--channel", "phone", "--summary", note
        ),
        "case show": tracker_cmd(db, "case", "show", str(case)),
        "case list --limit 50": tracker_cmd(db, "case", "list", "--limit", "50"),
        "case list (every active case)": tracker_cmd(db, "case", "list"),
        "due": tracker_cmd(db, "due"),
        "case open": tracker_cmd(db, "case", "open", "Benchmark case", "--org", "Chase"),
        "search": tracker_cmd(db, "search", WORD),
        "export csv": tracker_cmd(db, "export", "csv"),
    }
    result = SizeResult(size, info, case, {}, commands=ours)
    result.due_lines = len(
        subprocess.run(ours["due"], env=env, capture_output=True, check=True).stdout.splitlines()
    )
    theirs = taskwarrior_part(bench, result, cached, folder) if taskwarrior else None
    rounds = bench.rounds(size)
    # The store's copy and Taskwarrior's import leave dirty pages that the kernel writes out
    # while the first pair runs (its syncs, and Taskwarrior's writes, waited twice as long):
    # written out before the timing starts.
    os.sync()
    if theirs is not None:
        tw_env, commands = theirs
        pairs = {
            f"{mine} / {their}": (Cmd(ours[mine], env), Cmd(commands[their], tw_env))
            for mine, their, _ in SIDE_BY_SIDE
        }
        result.pairs = paired(bench, pairs, rounds)
        for mine, their, _ in SIDE_BY_SIDE:
            pair = result.pairs[f"{mine} / {their}"]
            result.ours.setdefault(mine, pair.timing("a"))
            result.taskwarrior[their] = pair.timing("b")
    else:
        for label, argv in ours.items():
            times = [run_once(Cmd(argv, env)) for _ in range(rounds)]
            result.ours[label] = Timing(statistics.median(times), min(times), max(times), rounds)
    if shutil.which("sqlite3"):
        export_part(bench, result, db, rounds)
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
        f"({result.schedule['upcoming']} occurrences), all_due() (remind check) "
        f"{_ms(result.schedule['ready_s'])}"
    )
    return result


def taskwarrior_part(
    bench: Bench, result: SizeResult, cached: Path, folder: Path
) -> tuple[dict[str, str], dict[str, list[str]]] | None:
    """Taskwarrior given the same items; its commands and environment (None: no `task`)."""
    if not shutil.which("task"):
        return None
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
    note = "Called again, no news."
    return env, {
        "task N annotate": ["task", *quiet, middle, "annotate", note],
        "task N annotate (a contact)": ["task", *quiet, middle, "annotate", f"phone: {note}"],
        "task N info": ["task", *quiet, middle, "info"],
        "task next": ["task", *quiet, "next"],
        "task list": ["task", *quiet, "list"],
        "task overdue": ["task", *quiet, "overdue"],
        "task add": ["task", *quiet, "add", "Benchmark case", "project:Chase"],
        "task /word/ list": ["task", *quiet, f"/{WORD}/", "list"],
        "task export": ["task", *quiet, "export"],
    }


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


def export_part(bench: Bench, result: SizeResult, db: Path, rounds: int) -> None:
    env = bench.env()
    shell = ["sqlite3", "-csv", "-header", str(db), EXPORT_SQL]
    ours = tracker_cmd(db, "export", "csv")
    pair = paired(
        bench, {"export csv / sqlite3 -csv (same rows)": (Cmd(ours, env), Cmd(shell, env))}, rounds
    )
    result.pairs |= pair
    result.shell = {
        "sqlite3 -csv (same rows)": pair["export csv / sqlite3 -csv (same rows)"].timing("b")
    }
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


@dataclass
class Goal:
    what: str
    value: str
    ok: bool
    profile_label: str = ""
    profile_cmd: list[str] = field(default_factory=list)
    profile: str = ""


def goals(sizes: Sequence[SizeResult], start_pairs: dict[str, Pair]) -> list[Goal]:
    """The issue's goals, each with its measured ratio and spread; a missed one names the
    command to profile (at the largest size where it missed)."""
    found: list[Goal] = []
    with_pairs = [r for r in sizes if r.pairs and any(" / task" in k for k in r.pairs)]
    missed: dict[str, tuple[int, list[str]]] = {}
    for r in with_pairs:
        for mine, theirs, has_goal in SIDE_BY_SIDE:
            if not has_goal:
                continue
            pair = r.pairs[f"{mine} / {theirs}"]
            need = goal_for(r.size)
            ok = pair.ratio <= need
            found.append(
                Goal(
                    f"{r.size // 1000}k: `{mine}` at most {need:g}× `{theirs}`",
                    f"{pair.ratio:.2f}× ({pair.spread()})",
                    ok,
                )
            )
            if not ok:
                missed[mine] = (r.size, r.commands[mine])
    if len(sizes) > 1:
        small, big = sizes[0], sizes[-1]
        for mine, _, has_goal in SIDE_BY_SIDE:
            if not has_goal:
                continue
            a, b = big.ours[mine].median, small.ours[mine].median
            what = (
                f"`{mine}`: the cost at {big.size // 1000}k at most 1.3× the cost at "
                f"{small.size // 1000}k"
            )
            if mine == "due":
                a, b = a / max(1, big.due_lines), b / max(1, small.due_lines)
                what += f" per line of output ({small.due_lines:,} and {big.due_lines:,} lines)"
            found.append(Goal(what, f"{a / b:.2f}×", a / b <= 1.3))
            if a / b > 1.3:
                missed.setdefault(mine, (big.size, big.commands[mine]))
    for r in sizes:
        pair = r.pairs.get("export csv / sqlite3 -csv (same rows)")
        if pair is None:
            continue
        share = [y / x for x, y in zip(pair.a, pair.b, strict=True)]
        q1, q3 = _quartiles(share)
        ratio = statistics.median(share) * r.rows.get("ours", 1) / max(1, r.rows.get("shell", 1))
        found.append(
            Goal(
                f"{r.size // 1000}k: `export csv` at least 0.5 of the sqlite3 shell's throughput",
                f"{ratio:.2f} (IQR {q1:.2f}–{q3:.2f})",
                ratio >= 0.5,
            )
        )
        if ratio < 0.5:
            missed["export csv"] = (r.size, r.commands["export csv"])
    for label, pair in start_pairs.items():
        mine = label.split(" / ")[0]
        found.append(
            Goal(
                f"`{mine}` within 1.2× of `python -c 'import click'`",
                f"{pair.ratio:.2f}× ({pair.spread()})",
                pair.ratio <= 1.2,
            )
        )
    for mine, (size, argv) in missed.items():
        found.append(
            Goal(
                f"(profile) `{mine}`",
                "",
                True,
                profile_label=f"`{mine}` on {size:,} cases",
                profile_cmd=argv,
            )
        )
    return found


def report(
    about: dict[str, str],
    start: dict[str, Timing],
    heavy: dict[str, list[str]],
    sizes: list[SizeResult],
    demon: DaemonResult | None,
    loads: dict[str, float],
    options: argparse.Namespace,
    goals: Sequence[Goal] = (),
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
    add(
        "Each command a fresh process with bytecode cached, stdout to /dev/null, after "
        "warm-up runs"
        + (", with TRACKER_NO_SERVER=1 (in-process)" if options.in_process else "")
        + ". Start-up: medians of hyperfine runs (min–max in brackets). Scale: our side of "
        "the side-by-side rounds below (median, min–max)."
    )
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
    del helped  # the goal for --help is measured side by side (goals)
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
    # side by side
    with_pairs = [r for r in sizes if r.pairs]
    if with_pairs:
        add("### Side by side (alternated, wall-clock)")
        add("")
        add(
            "Each pair's two commands run in alternation, A B then B A, round after round "
            "(15 rounds below 100k cases, 7 from 100k on, 5 or 3 for a pair slower than 2 or "
            "6 s), after warm-up runs; each cell is the median of the rounds' ratios A / B "
            "(ours / theirs), with their interquartile range and min–max, and whether it meets "
            "the goal (at most 1.5× at 1k items, 1.0× from 10k on; none for a row in italics)."
        )
        add("")
        add("| ours / theirs | " + " | ".join(f"{r.size:,} cases" for r in with_pairs) + " |")
        add("|---|" + "---|" * len(with_pairs))
        for mine, theirs, has_goal in SIDE_BY_SIDE:
            label = f"{mine} / {theirs}"
            cells = []
            for r in with_pairs:
                pair = r.pairs[label]
                a, b = pair.timing("a").median, pair.timing("b").median
                mark = f" {_mark(pair.ratio <= goal_for(r.size))}" if has_goal else ""
                cells.append(f"{_ms(a)} / {_ms(b)}: **{pair.ratio:.2f}×** ({pair.spread()}){mark}")
            name = f"`{mine}` / `{theirs}`" if has_goal else f"_`{mine}` / `{theirs}`_"
            add(f"| {name} | " + " | ".join(cells) + " |")
        add("")
        add(
            "Taskwarrior's stores: "
            + "; ".join(
                f"{r.size:,}: {r.taskwarrior_items['pending']:,} pending + "
                f"{r.taskwarrior_items['completed']:,} completed tasks, 3-5 annotations each, "
                f"`task import` {r.taskwarrior_import_s:.1f} s"
                for r in with_pairs
                if r.taskwarrior_items
            )
            + f". `search` looks for `{WORD}`, `task /{WORD}/ list` for the same word in the "
            "descriptions and annotations; `case contact` is beside an annotation (what "
            "Taskwarrior can record of a call)."
        )
        add("")
    targets += [(g.what, g.value, g.ok) for g in goals if not g.profile_cmd]

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
    profiled = [goal for goal in goals if goal.profile]
    if profiled:
        add("")
        add("### Profiles of the misses")
        add("")
        add(
            "One run of the missed command as the command server's worker runs it, after "
            "the server's warm-up (in-process with --in-process): cProfile, cumulative time, "
            "top entries; under the profiler a run takes longer than in the tables; at the "
            "largest size where it missed."
        )
        for goal in profiled:
            add("")
            add(f"**{goal.profile_label}**")
            add("")
            add("```")
            add(goal.profile)
            add("```")
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
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="TRACKER_NO_SERVER=1 for every command: each runs in its own process, no server",
    )
    parser.add_argument(
        "--rounds", type=int, default=15, help="side-by-side rounds below 100k cases"
    )
    parser.add_argument("--rounds-large", type=int, default=7, help="rounds from 100k cases on")
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
        bench = Bench(
            quick=options.quick,
            work=Path(tmp),
            in_process=options.in_process,
            rounds_small=options.rounds,
            rounds_large=options.rounds_large,
        )
        (bench.work / "home").mkdir()
        about = machine()
        warm_bytecode(bench)
        start = startup(bench)
        start_pairs = startup_pairs(bench)
        heavy = heavy_imports(bench)
        results = [scale(bench, n, taskwarrior=not options.no_taskwarrior) for n in sizes]
        found = goals(results, start_pairs)
        for goal in found:
            if goal.profile_cmd:
                bench.log(f"profiling {goal.profile_label}")
                goal.profile = profile(bench, Cmd(goal.profile_cmd, bench.env()))
        found = [g for g in found if not g.profile_cmd or g.profile]
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
        text = report(about, start, heavy, results, demon, bench.loads, options, found)
    raw = {
        "about": about,
        "startup": {k: asdict(v) for k, v in start.items()},
        "startup_pairs": {k: asdict(v) for k, v in start_pairs.items()},
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
