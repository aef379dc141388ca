"""The reminder daemon on a large store: catch-up, lock hold, memory, idle CPU, delay.

    .venv/bin/python bench/daemon.py                       # the 100k store, this checkout
    .venv/bin/python bench/daemon.py --size 10000 --idle 10
    .venv/bin/python bench/daemon.py --store COPY.db --pythonpath /tmp/old-tracker:/tmp/old-deps

Runs `tracker daemon run --notifier command:SCRIPT` (the script logs when it was called and
what) on a copy of the cached store (bench/stores.py), beside a *contender*: a process that
takes the SQLite write lock (BEGIN IMMEDIATE; COMMIT) every 20 ms, as a CLI command would, and
records how long each BEGIN IMMEDIATE waited. Measured:

- catch-up: from start until the daemon's CPU time stands still for 3 s (what it showed, its
  CPU seconds, when the first notification came);
- lock: the contender's longest wait and how many waits passed 100 ms and 5 s (the CLI's busy
  timeout: a `database is busy` error); the daemon's own longest write transaction, from its
  last log line (this checkout only);
- memory: VmRSS and VmHWM from /proc after catch-up and after the delay probes;
- idle CPU over --idle seconds; due time -> notification for 3 follow-ups set by the CLI.

Prints a JSON object; --markdown writes the table into BENCHMARKS.md between the
`bench:daemon:begin` and `bench:daemon:end` markers. --pythonpath runs another checkout's
tracker (the "before" figures: `git archive OLD tracker | tar -x -C DIR`, and its own
dependencies in another folder).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import stores

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:daemon:begin -->", "<!-- bench:daemon:end -->"
RECORDER = """#!/bin/sh
printf '%s\\t%s\\t%s\\n' "$(date +%s.%N)" "$1" "$2" >> "$0.log"
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


class Contender(threading.Thread):
    """Takes the write lock every 20 ms, like a CLI command; records each wait."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.waits: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.db, isolation_level=None, timeout=60)
        conn.execute("PRAGMA busy_timeout = 60000")
        while not self.stopping.is_set():
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            self.waits.append(time.perf_counter() - started)
            conn.execute("COMMIT")
            time.sleep(0.02)
        conn.close()


def run(options: argparse.Namespace) -> dict[str, Any]:
    if options.store:
        cached = Path(options.store)
    else:
        cached, _ = stores.cached_store(options.size, log=print)
    work = Path(tempfile.mkdtemp(prefix="tracker-bench-daemon-"))
    db = stores.working_copy(cached, work)
    env = dict(os.environ, TZ="UTC", TRACKER_HOME=str(work / "home"))
    env.pop("TRACKER_DB", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    python = [sys.executable]
    if options.pythonpath:
        # -S: no site-packages .pth files, so an editable install's import hook cannot win
        # over the other checkout; this venv's packages come after it on the path.
        site = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
        env["PYTHONPATH"] = f"{options.pythonpath}:{site}"
        python.append("-S")
    tracker = [*python, "-m", "tracker", "--db", f"sqlite:///{db}"]
    # The store at the schema head first (a migration is not the daemon's cost).
    subprocess.run([*tracker, "db", "upgrade"], env=env, check=True, capture_output=True)
    script = work / "notify.sh"
    script.write_text(RECORDER)
    script.chmod(0o755)
    notified = Path(f"{script}.log")
    err_path = work / "daemon.err"
    contender = Contender(db)
    contender.start()
    time.sleep(0.5)
    argv = [
        *tracker,
        "daemon",
        "run",
        "--notifier",
        f"command:{script}",
        "--poll",
        str(options.poll),
    ]
    started = time.monotonic()
    with open(err_path, "w") as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
    result: dict[str, Any] = {"store": str(cached), "pythonpath": options.pythonpath or ""}
    try:
        last_cpu, last_change, first = -1.0, started, None
        while time.monotonic() - last_change < 3:
            time.sleep(0.1)
            if proc.poll() is not None:
                raise SystemExit(f"the daemon exited:\n{err_path.read_text()[-2000:]}")
            if first is None and lines(notified):
                first = time.monotonic() - started
            cpu = cpu_seconds(proc.pid)
            if cpu != last_cpu:
                last_cpu, last_change = cpu, time.monotonic()
        result["catch_up_s"] = round(last_change - started, 2)
        result["catch_up_cpu_s"] = round(last_cpu, 2)
        result["first_notification_s"] = round(first, 2) if first is not None else None
        result["notifications"] = len(lines(notified))
        result["memory_after_catch_up_kb"] = memory_kb(proc.pid)
        catch_up_waits = list(contender.waits)
        # Idle.
        before = cpu_seconds(proc.pid)
        time.sleep(options.idle)
        result["idle_cpu_percent"] = round((cpu_seconds(proc.pid) - before) / options.idle * 100, 2)
        # The delay: three follow-ups set by the CLI, due after the next poll.
        with sqlite3.connect(db) as conn:
            cases = [r[0] for r in conn.execute(
                "SELECT id FROM cases WHERE status IN ('open','waiting','escalated') "
                "ORDER BY id DESC LIMIT 3")]  # fmt: skip
        base = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=options.poll + 5)
        probes = {}
        for i, case in enumerate(cases):
            due = base + timedelta(seconds=5 * i)
            text = f"bench probe {i}"
            subprocess.run([*tracker, "case", "follow-up", str(case), due.isoformat(), text],
                           env=env, check=True, capture_output=True)  # fmt: skip
            probes[text] = due
        delays: dict[str, float] = {}
        deadline = time.monotonic() + (max(probes.values()) - datetime.now(UTC)).total_seconds()
        while time.monotonic() < deadline + 60 and len(delays) < len(probes):
            time.sleep(0.1)
            for line in lines(notified):
                stamp, _, rest = line.partition("\t")
                for text, due in probes.items():
                    if text in rest and text not in delays:
                        delays[text] = float(stamp) - due.timestamp()
        result["delays_s"] = sorted(round(d, 3) for d in delays.values())
        result["missed"] = len(probes) - len(delays)
        result["memory_end_kb"] = memory_kb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
        contender.stopping.set()
        contender.join(5)
    waits = contender.waits
    result["contender"] = {
        "transactions": len(waits),
        "longest_wait_ms": round(max(waits) * 1000, 1) if waits else None,
        "longest_wait_during_catch_up_ms": round(max(catch_up_waits) * 1000, 1)
        if catch_up_waits
        else None,
        "waits_over_100ms": sum(w > 0.1 for w in waits),
        "waits_over_5s": sum(w > 5 for w in waits),
    }
    log = err_path.read_text()
    found = re.search(
        r"(\d+) write transactions, the longest ([\d.]+) ms; median ([\d.]+) ms, "
        r"99th percentile ([\d.]+) ms",
        log,
    )
    if found:
        result["daemon_writes"] = int(found.group(1))
        result["daemon_longest_write_ms"] = float(found.group(2))
        result["daemon_median_write_ms"] = float(found.group(3))
        result["daemon_p99_write_ms"] = float(found.group(4))
    result["log_tail"] = [line[:200] for line in log.splitlines() if "showed" not in line][-6:]
    return result


def markdown(result: dict[str, Any], before: dict[str, Any] | None) -> str:
    def mb(kb: int | None) -> str:
        return f"{kb / 1024:.0f} MB" if kb else "?"

    def row(what: str, key: Any) -> str:
        cells = [key(r) for r in ((before, result) if before else (result,))]
        return f"| {what} | " + " | ".join(cells) + " |"

    out = []
    head = "| measure | before | after |" if before else "| measure | value |"
    out += [head, "|---|---|---|" if before else "|---|---|"]
    out.append(row("first start: caught up in", lambda r: (
        f"{r['catch_up_s']:.1f} s ({r['catch_up_cpu_s']:.1f} s CPU), "
        f"{r['notifications']:,} notifications")))  # fmt: skip
    out.append(
        row(
            "first start: first notification after",
            lambda r: (
                f"{r['first_notification_s']:.1f} s" if r.get("first_notification_s") else "none"
            ),
        )
    )
    out.append(row("longest wait of a writer beside it (BEGIN IMMEDIATE every 20 ms)",
                   lambda r: f"{r['contender']['longest_wait_ms']:,} ms"))  # fmt: skip
    out.append(row("writer waits over 100 ms / over 5 s (`database is busy`)", lambda r: (
        f"{r['contender']['waits_over_100ms']} / {r['contender']['waits_over_5s']} "
        f"of {r['contender']['transactions']}")))  # fmt: skip

    def writes(r: dict[str, Any]) -> str:
        if "daemon_longest_write_ms" not in r:
            return "not logged (the catch-up's claims and texts in one transaction)"
        if "daemon_median_write_ms" not in r:
            return (
                f"longest {r['daemon_longest_write_ms']:.1f} ms ({r['daemon_writes']} transactions)"
            )
        return (
            f"{r['daemon_median_write_ms']:.1f} / {r['daemon_p99_write_ms']:.1f} / "
            f"{r['daemon_longest_write_ms']:.1f} ms ({r['daemon_writes']} transactions)"
        )

    out.append(row("the daemon's write transactions: median / 99th pct / longest", writes))
    out.append(row("resident memory after catch-up: VmRSS / VmHWM", lambda r: (
        f"{mb(r['memory_after_catch_up_kb'].get('VmRSS'))} / "
        f"{mb(r['memory_after_catch_up_kb'].get('VmHWM'))}")))  # fmt: skip
    out.append(
        row(
            "resident memory at the end: VmRSS / VmHWM",
            lambda r: (
                f"{mb(r['memory_end_kb'].get('VmRSS'))} / {mb(r['memory_end_kb'].get('VmHWM'))}"
            ),
        )
    )
    out.append(row("idle CPU", lambda r: f"{r['idle_cpu_percent']:.2f}% of a core"))

    def delays(r: dict[str, Any]) -> str:
        text = ", ".join(f"{d:.2f} s" for d in r["delays_s"])
        return text + (f"; {r['missed']} missed" if r["missed"] else "")

    out.append(row("due time -> notification (3 follow-ups set by the CLI)", delays))
    return "\n".join(out) + "\n"


def write_markdown(text: str) -> None:
    old = OUTPUT.read_text()
    head, _, rest = old.partition(BEGIN)
    _, _, tail = rest.partition(END)
    OUTPUT.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--store", help="a store file to copy instead of the cached one")
    parser.add_argument("--pythonpath", help="run the tracker found here (another checkout)")
    parser.add_argument("--poll", type=float, default=30.0)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    parser.add_argument("--before", type=Path, help="JSON of a run of the old code")
    parser.add_argument("--markdown", action="store_true", help="write into BENCHMARKS.md")
    options = parser.parse_args()
    result = run(options)
    text = json.dumps(result, indent=2)
    print(text)
    if options.out:
        options.out.write_text(text)
    if options.markdown:
        before = json.loads(options.before.read_text()) if options.before else None
        write_markdown(markdown(result, before))


if __name__ == "__main__":
    main()
