"""The reminder daemon: one thread that sleeps until the next reminder is ready.

The database is the source of truth; the CLI never talks to the daemon. The daemon keeps a
*schedule*: for each active case, the instant its next occurrence is ready (tracker.reminders)
and nothing else, so its memory does not grow with the store. Every piece of work is one
reminder pass over a set of cases, which shows what is ready and tells the schedule when
each of those cases is next:

- at start, over every active case, in chunks (the catch-up: a backlog comes as one digest);
- when the store changed: over the cases the new changes touched (``changes`` and their
  ``events``; the poll reads the last ids of ``changes``, so a transaction that commits out
  of id order on PostgreSQL is not missed);
- when the schedule's earliest instant comes: over the cases due then;
- when the policy file changed, or the wall clock jumped (see below): over every active case.

Time that moves: waits are on the monotonic clock and never longer than --poll, and each
wake-up reads the wall clock again. When the wall clock moved more or less than the monotonic
one (a jump either way, or a suspend and resume), the daemon says so and computes every case
again: a jump forward shows what fell due once, a jump back loses nothing (what was due still
is; claims stamped by the clock before the jump count as ready, see reminders.CLOCK_SLACK).

Polling and firing are steps of the same loop, so they never overlap. The lock that keeps one
daemon per store (per machine on PostgreSQL), the pid that `tracker daemon status` reads and
the systemd unit are in tracker.service.
"""

from __future__ import annotations

import heapq
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tracker.db import Store
from tracker.models import Change, Event, utcnow
from tracker.notify import DesktopNotifier, Notifier, Notifiers
from tracker.policy import Policies, PolicyError, load_policies, user_policy_path
from tracker.redact import mask
from tracker.reminders import (
    DEFAULT_LEASE,
    DIGEST_AT,
    FIRST_RETRY,
    MAX_RETRY,
    WRITES,
    PassReport,
    active_case_ids,
    change_counter,
    owner_id,
    run_pass,
)
from tracker.when import local_zone

if TYPE_CHECKING:
    from apscheduler.job import Job

log = logging.getLogger("tracker.daemon")

JUMP = timedelta(seconds=2)  # wall clock against monotonic clock, between two wake-ups
WATCH = 0.5  # seconds: the scheduler's next run may lag the monotonic deadline this much
CHANGE_WINDOW = 64  # change ids below the newest kept in view (out-of-order commits)
MANY_CHANGES = 5000  # more new changes than this at once: compute every case again


def _wall() -> datetime:
    """APScheduler's clock: the real wall clock (the daemon's own may be injected)."""
    return datetime.now(UTC)


def _stamp(at: datetime) -> str:
    return f"{at.astimezone(local_zone()):%Y-%m-%d %H:%M:%S}"


class MaskingFormatter(logging.Formatter):
    """Log lines pass the card-number masker: a line may quote a notifier's error output,
    a store error or a traceback, and no log holds card data."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def setup_logging() -> None:
    """Timestamped log lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        MaskingFormatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # APScheduler says "Running job ..." at each turn: its warnings and errors are enough.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


# --------------------------------------------------------------------------- the schedule


class Schedule:
    """When each case's next occurrence is ready: one instant per case, and a heap of them
    (stale heap entries are skipped when they come up)."""

    def __init__(self) -> None:
        self._at: dict[int, datetime] = {}
        self._heap: list[tuple[datetime, int]] = []

    def __len__(self) -> int:
        return len(self._at)

    def set(self, case_id: int, at: datetime | None) -> None:
        if at is None:
            self._at.pop(case_id, None)
            return
        if self._at.get(case_id) == at:
            return
        self._at[case_id] = at
        heapq.heappush(self._heap, (at, case_id))
        if len(self._heap) > 2 * len(self._at) + 1000:
            self._heap = [(when, case) for case, when in self._at.items()]
            heapq.heapify(self._heap)

    def clear(self) -> None:
        self._at.clear()
        self._heap.clear()

    def earliest(self) -> tuple[datetime, int] | None:
        while self._heap:
            at, case_id = self._heap[0]
            if self._at.get(case_id) == at:
                return at, case_id
            heapq.heappop(self._heap)
        return None

    def due(self, now: datetime) -> list[int]:
        """The cases whose instant has come (they leave the schedule until told again)."""
        found = []
        while (first := self.earliest()) is not None and first[0] <= now:
            heapq.heappop(self._heap)
            del self._at[first[1]]
            found.append(first[1])
        return found


# --------------------------------------------------------------------------- the daemon


class Daemon:
    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        *,
        policy_file: Path | None = None,
        policies: Policies | None = None,
        poll: float = 30.0,
        first_retry: timedelta = FIRST_RETRY,
        digest: int = DIGEST_AT,
        lease: timedelta = DEFAULT_LEASE,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.policy_file = policy_file
        self.policies = policies if policies is not None else load_policies(policy_file)
        self.poll_seconds = poll
        self.first_retry = first_retry
        self.digest = digest
        self.lease = lease
        self.clock = clock
        self.monotonic = monotonic
        self.id = owner_id()
        self.schedule = Schedule()
        self._policy_stamp = self._policy_mtime()
        self._seen: set[int] = set()  # change ids in view (above _floor) already handled
        self._floor = 0
        self._wall = clock()
        self._mono = monotonic()
        self._next_poll = self._mono
        self._unavailable: str | None = None  # the reason last logged, until it works again
        self._unavailable_retry = first_retry
        self._wake = threading.Event()
        self._turn_lock = threading.Lock()
        self._deadline = 0.0  # when the next turn is due, on the monotonic clock
        self._job: Job | Any = None  # the scheduler's turn job, while run() runs
        self._watched = (0.0, datetime.min.replace(tzinfo=UTC))  # the watch's last look
        self._stopping = False
        self._started = False
        self._logged_next: datetime | None = None

    @property
    def next_at(self) -> datetime | None:
        """When the next occurrence is ready (None: nothing pending)."""
        first = self.schedule.earliest()
        return first[0] if first else None

    # ----------------------------------------------------------------- what changed

    def _changes(self) -> tuple[list[int], bool]:
        """New change ids (handled from now on), and whether there were too many to list."""
        with self.store.read() as session:
            ids = list(
                session.scalars(
                    select(Change.id)
                    .where(Change.id > self._floor)
                    .order_by(Change.id)
                    .limit(MANY_CHANGES + len(self._seen))
                )
            )
        new = [i for i in ids if i not in self._seen]
        many = len(ids) >= MANY_CHANGES + len(self._seen)
        if ids:
            self._floor = max(self._floor, ids[-1] - CHANGE_WINDOW)
        self._seen = {i for i in (*self._seen, *new) if i > self._floor}
        return new, many

    def _touched(self, change_ids: Iterable[int]) -> set[int]:
        ids = list(change_ids)
        found: set[int] = set()
        with self.store.read() as session:
            for start in range(0, len(ids), 500):
                rows = session.scalars(
                    select(Event.case_id)
                    .where(Event.change_id.in_(ids[start : start + 500]))
                    .distinct()
                )
                found.update(case_id for case_id in rows if case_id is not None)
        return found

    def _policy_mtime(self) -> float | None:
        path = self.policy_file or user_policy_path()
        try:
            return path.stat().st_mtime
        except OSError:
            return None

    def _reload_policies(self) -> bool:
        stamp = self._policy_mtime()
        if stamp == self._policy_stamp:
            return False
        self._policy_stamp = stamp
        try:
            self.policies = load_policies(self.policy_file)
        except PolicyError as exc:
            log.error("policy file not reloaded, keeping the previous one: %s", exc)
            return False
        log.info("policy file reloaded")
        return True

    # ----------------------------------------------------------------- passes

    def scan(self, why: str | None = None) -> PassReport | None:
        """A pass over every active case: shows what is ready, and the schedule anew."""
        if why:
            log.info("%s; looking at every active case", why)
        try:
            with self.store.read() as session:
                cases = active_case_ids(session)
        except Exception:
            log.exception("could not read the store; trying again at the next poll")
            self._next_poll = self.monotonic()  # the next step polls, and scans again
            self._seen.clear()
            self._floor = 0
            return None
        self.schedule.clear()
        return self.run_pass(cases)

    def run_pass(self, cases: Iterable[int]) -> PassReport | None:
        """One reminder pass over `cases` at the clock's now, logged; None if it failed."""
        ids = sorted(set(cases))
        if not ids:
            return None
        now = self.clock()
        try:
            report = run_pass(
                self.store,
                self.notifier,
                policies=self.policies,
                owner=self.id,
                now=now,
                lease=self.lease,
                first_retry=self.first_retry,
                digest=self.digest,
                cases=ids,
                schedule=self.schedule.set,
                unavailable_retry=self._unavailable_retry,
                interrupted=lambda: self._stopping,
            )
        except Exception:
            log.exception("the reminder pass failed; trying again at the next poll")
            for case_id in ids:  # looked at again once the store answers
                self.schedule.set(case_id, now + self.first_retry)
            return None
        self._log(report)
        return report

    def _log(self, report: PassReport) -> None:
        missed = getattr(self.notifier, "missed", None)  # several channels: those that failed
        if missed:
            for line in missed:
                log.warning("shown, but one channel failed: %s", line)
            missed.clear()
        if report.digest is not None and report.shown:
            log.info(
                "showed a digest: %s — %s (%d reminders recorded shown)",
                report.digest.title,
                report.digest.body,
                report.digest_occurrences,
            )
        else:
            for notice in report.shown:
                log.info("showed: %s — %s", notice.title, notice.body)
        if report.unavailable is not None:
            if report.kept and report.unavailable != self._unavailable:
                kept = f"{report.kept} reminder{'s' if report.kept != 1 else ''}"
                log.warning("%s; %s kept for later", report.unavailable, kept)
            self._unavailable = report.unavailable
            self._unavailable_retry = min(self._unavailable_retry * 2, MAX_RETRY)
            return
        if report.shown and self._unavailable is not None:
            log.info("notifications are shown again")
        if report.shown:
            self._unavailable = None
            self._unavailable_retry = self.first_retry
        for notice, error, retry_at in report.failed:
            what = f"case {notice.case_id}" if notice.case_id is not None else "the digest"
            log.warning(
                "could not show the reminder for %s (%s); retrying %s",
                what,
                error,
                _stamp(retry_at),
            )

    def poll(self) -> None:
        """Notice a changed store (or policy file) and look at what the changes touched."""
        if self._reload_policies():
            self.scan()
            return
        try:
            new, many = self._changes()
            touched = self._touched(new) if new and not many else set()
        except Exception as exc:
            log.warning("could not read the changes: %s", exc)
            return
        if many:
            self.scan(f"{MANY_CHANGES} or more changes at once")
        elif touched:
            self.run_pass(touched)

    def step(self) -> float:
        """One turn of the loop: notice a clock jump, poll when it is time, run what is due;
        the seconds to wait before the next turn (never more than --poll)."""
        now, mono = self.clock(), self.monotonic()
        moved = (now - self._wall) - timedelta(seconds=mono - self._mono)
        self._wall, self._mono = now, mono
        if abs(moved) > JUMP:
            direction = "forward" if moved > timedelta(0) else "back"
            self.scan(
                f"the wall clock jumped {direction} by {_duration(abs(moved))} "
                "(or the machine was suspended)"
            )
            self._next_poll = self.monotonic() + self.poll_seconds
        elif mono >= self._next_poll:
            self._next_poll = mono + self.poll_seconds
            self.poll()
        due = self.schedule.due(self.clock())
        if due:
            self.run_pass(due)
        return self._wait()

    def _wait(self) -> float:
        mono = self.monotonic()
        now = self.clock()
        self._wall, self._mono = now, mono
        wait = max(0.0, self._next_poll - mono)
        first = self.schedule.earliest()
        if first is not None:
            wait = min(wait, max(0.0, (first[0] - now).total_seconds()))
            if first[0] != self._logged_next:
                self._logged_next = first[0]
                log.info("next reminder %s (case %s)", _stamp(first[0]), first[1])
        elif self._logged_next is not None:
            self._logged_next = None
            log.info("nothing left to remind")
        return wait

    # ----------------------------------------------------------------- running

    def start(self) -> None:
        """The first scan (the catch-up), with the place in the changes taken first."""
        self._started = True
        try:
            with self.store.read() as session:
                self._floor = max((change_counter(session) or 0) - CHANGE_WINDOW, 0)
            self._seen = set()
            self._changes()
        except Exception as exc:
            log.warning("could not read the changes: %s", exc)
        self._wall, self._mono = self.clock(), self.monotonic()
        self._next_poll = self._mono + self.poll_seconds
        self.scan()

    def run(self) -> None:
        """Block until stop() (or SIGTERM/SIGINT).

        APScheduler runs the work: one job, the turn (the first scan, then a step each
        time), on a one-thread executor, at most one instance, coalesced, so polling and
        showing never overlap and never pile up. After each step the job sets its own next
        run to the step's answer (never more than --poll ahead). APScheduler's waits follow
        the wall clock, which may jump back and leave the next run hours ahead: this thread
        wakes on the monotonic clock at each turn's deadline (and at least every --poll),
        compares the two clocks since its last look, and runs the turn at once when the wall
        clock went back. A jump forward needs no help: the run is then late, and runs once
        (coalesced); the step itself notices either jump and computes every case again.
        """
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        log.info(
            "tracker daemon started (pid %s, notifier %s, poll every %g s)",
            os.getpid(),
            _notifier_name(self.notifier),
            self.poll_seconds,
        )
        # Signals reach only the main thread (a test may run the daemon in another).
        main = threading.current_thread() is threading.main_thread()
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in ((signal.SIGTERM, signal.SIGINT) if main else ())
        }
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._deadline = self.monotonic()
        self._watched = (self._deadline, _wall())
        self._job = scheduler.add_job(
            self._turn, "interval", seconds=self.poll_seconds, id="turn", next_run_time=_wall()
        )
        scheduler.start()
        try:
            while not self._stopping:
                left = self._deadline - self.monotonic()
                if self._wake.wait(min(max(left, 0.0) + WATCH, self.poll_seconds)):
                    self._wake.clear()
                    continue
                self._watch()
        finally:
            # A turn in flight ends first (a catch-up stops between chunks): the scheduler's
            # shutdown holds its job store lock while it waits, which a turn's own
            # rescheduling needs. Once _stopping is set, a turn begun later does nothing.
            with self._turn_lock:
                pass
            scheduler.shutdown(wait=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info(
            "tracker daemon stopped (%d write transactions, the longest %.1f ms; "
            "median %.1f ms, 99th percentile %.1f ms)",
            WRITES.count,
            WRITES.longest * 1000,
            WRITES.percentile(0.5) * 1000,
            WRITES.percentile(0.99) * 1000,
        )

    def _turn(self) -> None:
        """The scheduler's job: the first scan once, then a step; then its own next run."""
        with self._turn_lock:
            if self._stopping:
                return
            try:
                if not self._started:
                    self.start()
                wait = self.step()
            except Exception:  # the daemon keeps running; the next turn tries again
                log.exception("a reminder turn failed; trying again in %g s", self.poll_seconds)
                wait = self.poll_seconds
            wait = min(wait, self.poll_seconds)
            self._deadline = self.monotonic() + wait
            self._job.modify(next_run_time=_wall() + timedelta(seconds=wait))

    def _watch(self) -> None:
        """Run the turn now if the wall clock went back since the last look: the
        scheduler's next run, set by the wall clock, now lies too far ahead."""
        mono, wall = self.monotonic(), _wall()
        last_mono, last_wall = self._watched
        went_back = (wall - last_wall) - timedelta(seconds=mono - last_mono) < -JUMP
        if not went_back:
            self._watched = (mono, wall)
        elif self._turn_lock.acquire(blocking=False):  # else: look again at the next wake
            try:
                self._watched = (mono, wall)
                self._job.modify(next_run_time=wall)
            finally:
                self._turn_lock.release()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        self.stop()


def _notifier_name(notifier: Notifier) -> str:
    if isinstance(notifier, DesktopNotifier):
        return f"desktop, through {notifier.via}"
    if isinstance(notifier, Notifiers):
        return "; ".join(_notifier_name(channel) for channel in notifier.channels)
    return notifier.name


def _duration(delta: timedelta) -> str:
    seconds = round(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{round(seconds / 60)} min"
    if seconds < 86400:
        return f"{round(seconds / 3600)} h"
    days = round(seconds / 86400)
    return "1 day" if days == 1 else f"{days} days"
