"""The command server's gain, measured with hyperfine: each everyday command in-process
(TRACKER_NO_SERVER=1) and through a running server, on one store, the two alternated by
hyperfine's own order; Taskwarrior's equivalents beside them when `task` is installed.

    .venv/bin/python bench/fastpath.py [--size 10000] [--runs 20]

Writes a Markdown table on stdout (wall-clock medians, and the client's own CPU time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import stores

from tracker import client

TRACKER = str(Path(sys.executable).parent / "tracker")


def hyperfine(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    argv = ["hyperfine", "-N", "-w", "3", "-r", str(runs), "--export-json", str(out), "-i"]
    for name, command in commands.items():
        argv += ["-n", name, subprocess.list2cmdline(command)]
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    found = {r["command"]: r for r in json.loads(out.read_text())["results"]}
    out.unlink()
    return found


def _cell(r: dict[str, Any]) -> str:
    return f"{r['median'] * 1000:.0f} ms ({(r['user'] + r['system']) * 1000:.0f})"


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> str:
    return f"{a['median'] / b['median']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=20)
    opts = parser.parse_args()
    cached, _ = stores.cached_store(opts.size, log=lambda m: print(m, file=sys.stderr))
    folder = Path(tempfile.mkdtemp(prefix="trk-bench-", dir="/tmp"))
    home = folder / "home"
    home.mkdir(mode=0o700)
    db = stores.working_copy(cached, home)
    db.rename(home / "tracker.db")
    case = str(stores.sample_case(home / "tracker.db"))
    env = {**os.environ, "TRACKER_HOME": str(home), "TZ": "UTC", "TRACKER_SERVER_IDLE": "600"}
    for name in ("TRACKER_NO_SERVER", "TRACKER_DB"):
        env.pop(name, None)
    subprocess.run([TRACKER, "--version"], env=env, check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            client.ask(str(home / client.SOCKET_NAME), b"status", b"-")
            break
        except client.Refused:
            time.sleep(0.1)
    commands = {
        "case note N TEXT": ["case", "note", case, "Called again, no news."],
        "case show N": ["case", "show", case],
        "case list --limit 50": ["case", "list", "--limit", "50"],
        "due": ["due"],
        "--help": ["--help"],
        "usage error": ["case", "list", "--status", "nope"],
    }
    rows = []
    py = sys.executable
    base = hyperfine(
        {
            "python -c pass": [py, "-c", "pass"],
            "python -S -c pass": [py, "-S", "-c", "pass"],
            "python -c 'import click'": [py, "-c", "import click"],
        },
        env,
        opts.runs,
    )
    for label, args in commands.items():
        found = hyperfine(
            {
                "in-process": ["env", "TRACKER_NO_SERVER=1", TRACKER, *args],
                "fast path": [TRACKER, *args],
            },
            env,
            opts.runs,
        )
        rows.append((label, found["in-process"], found["fast path"]))
    print(
        f"Store: {opts.size} cases; {opts.runs} runs each; medians (user+sys CPU of the client)\n"
    )
    print("| command | in-process | fast path | ratio |")
    print("|---|---|---|---|")
    for label, slow, fast in rows:
        print(f"| `tracker {label}` | {_cell(slow)} | {_cell(fast)} | {_ratio(fast, slow)} |")
    for label, r in base.items():
        print(f"| `{label}` | {r['median'] * 1000:.1f} ms | | |")
    if shutil.which("task"):
        tasks = folder / "tasks.json"
        items = stores.taskwarrior_json(cached, tasks)
        data = folder / "task-data"
        data.mkdir()
        rc = folder / "taskrc"
        rc.write_text(f"data.location={data}\n")
        tenv = {**env, "TASKRC": str(rc)}
        quiet = ["rc.confirmation=off", "rc.verbose=nothing"]
        subprocess.run(
            ["task", *quiet, "import", str(tasks)],
            env=tenv,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        middle = str(max(1, items["pending"] // 2))
        tw = hyperfine(
            {
                "task N annotate": ["task", *quiet, middle, "annotate", "Called again, no news."],
                "task N info": ["task", *quiet, middle, "info"],
                "task next": ["task", *quiet, "next"],
                "task overdue": ["task", *quiet, "overdue"],
            },
            tenv,
            opts.runs,
        )
        for label, r in tw.items():
            print(f"| `{label}` (Taskwarrior) | {r['median'] * 1000:.0f} ms | | |")
    subprocess.run([TRACKER, "server", "stop"], env=env, stdout=subprocess.DEVNULL)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
