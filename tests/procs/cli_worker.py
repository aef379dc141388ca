"""Run `tracker` commands on request, in this process, one per line of stdin.

    python cli_worker.py

Prints ``ready`` once the CLI is imported. Then, for each line of stdin (a JSON list of
arguments), runs the CLI exactly as the console script does (every failure one `Error:`
line and an exit code) and prints one JSON line: {"code": ..., "out": ..., "err": ...}.
Ends when stdin closes. The store is TRACKER_DB / TRACKER_HOME from the environment.

Starting Python and importing the CLI takes far longer than a command's transaction; a
test that sends two workers their lines back to back starts their commands together.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import sys

from tracker.cli import cli
from tracker.db import close_all


def run(args: list[str]) -> dict[str, object]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(args, prog_name="tracker", standalone_mode=False)
    close_all()  # as the console script does at exit: no connection stays open
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


def main() -> None:
    signal.alarm(600)  # in case the test that started it went away
    reply = sys.stdout
    print("ready", file=reply, flush=True)
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line))), file=reply, flush=True)


if __name__ == "__main__":
    main()
