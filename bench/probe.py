"""What the reminder daemon computes, timed in one process (run by bench/run.py).

    .venv/bin/python bench/probe.py sqlite:///bench/.stores/cases-100000-....db

Prints JSON: the median seconds of `upcoming()` (what the daemon computes again after every
change: every occurrence not yet shown, soonest first) and of `all_due()` (what
`remind check` computes: every case with something ready now), with how many each found.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from tracker.db import Store
from tracker.models import utcnow
from tracker.policy import load_policies
from tracker.reminders import DEFAULT_LEASE, all_due, upcoming


def timed(store: Store, work: Callable[[Any], list[Any]], repeat: int) -> tuple[float, int]:
    seconds = []
    found = 0
    for _ in range(repeat):
        with store.read() as session:
            started = time.perf_counter()
            found = len(work(session))
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), found


def main() -> None:
    store = Store(sys.argv[1])
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    policies = load_policies()
    now = utcnow()
    schedule, pending = timed(store, lambda s: upcoming(s, policies), repeat)
    ready, due = timed(store, lambda s: all_due(s, policies, now=now, lease=DEFAULT_LEASE), repeat)
    print(json.dumps({"upcoming_s": schedule, "upcoming": pending, "ready_s": ready, "ready": due}))


if __name__ == "__main__":
    main()
