"""The tracker command (`python -m tracker`), with test hooks on the SQLite write lock.

    python tracker_cmd.py [--busy-timeout SECONDS] [--announce-fd FD] -- ARGS...

--busy-timeout SECONDS  wait up to this long for the write lock instead of tracker's 5 s
                        (for tests whose property is not that budget; see support.py)
--announce-fd FD        write "BEGIN IMMEDIATE" and a newline to FD just before each write
                        transaction asks for the lock (FD must be passed to the child)

Everything after ``--`` is the command line of `tracker`, run as `python -m tracker` runs it.
"""

from __future__ import annotations

import runpy
import sys

from support import announce_the_write_lock, wait_longer_for_the_write_lock


def main() -> None:
    args = sys.argv[1:]
    split = args.index("--")
    options, command = args[:split], args[split + 1 :]
    while options:
        name, value, *options = options
        if name == "--busy-timeout":
            wait_longer_for_the_write_lock(float(value))
        elif name == "--announce-fd":
            announce_the_write_lock(int(value))
        else:
            raise SystemExit(f"tracker_cmd.py: unknown option {name}")
    sys.argv = ["tracker", *command]
    runpy.run_module("tracker", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
