"""The reminder daemon: an APScheduler process that sleeps until the next reminder is ready.

The database is the source of truth; the CLI never talks to the daemon. The daemon keeps one
date job, ``fire``, at the instant the next occurrence is ready (tracker.reminders), and one
interval job, ``poll``, that reads the store's change counter (``SELECT max(id) FROM
changes``: every command adds a row) and, when it moved, computes that instant again. The fire
job runs one pass (the same as `tracker remind check`) and schedules the next.

The only module that imports APScheduler, so only `tracker daemon run` imports it: the lock
that keeps one daemon per SQLite store, the pid that `tracker daemon status` reads and the
systemd unit are in tracker.service. On PostgreSQL several daemons may run, and the claims in
the reminders table decide who shows what.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import func, select

from tracker.db import Store
from tracker.models import Change, utcnow
from tracker.notify import Notifier, PlyerNotifier
from tracker.policy import Policies, PolicyError, load_policies, user_policy_path
from tracker.redact import mask
from tracker.reminders import FIRST_RETRY, owner_id, run_pass, upcoming
from tracker.when import local_zone

log = logging.getLogger("tracker.daemon")

MAX_PASSES = 10  # back to back in one fire job, before the scheduler gets the next one

# Job functions live at module level and take only an id (APScheduler's advice: they stay
# picklable); the id finds the running daemon here.
_DAEMONS: dict[str, Daemon] = {}


def _fire_job(daemon_id: str) -> None:
    daemon = _DAEMONS.get(daemon_id)
    if daemon is not None:
        daemon.fire()


def _poll_job(daemon_id: str) -> None:
    daemon = _DAEMONS.get(daemon_id)
    if daemon is not None:
        daemon.poll()


def _stamp(at: datetime) -> str:
    return f"{at.astimezone(local_zone()):%Y-%m-%d %H:%M:%S}"


# --------------------------------------------------------------------------- the daemon


class MaskingFormatter(logging.Formatter):
    """Log lines pass the card-number masker: a line may quote a notifier's error output,
    a store error or a traceback, and no log holds card data."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def setup_logging() -> None:
    """Timestamped log lines on stderr; APScheduler's own chatter only when it matters."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        MaskingFormatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


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
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.policy_file = policy_file
        self.policies = policies if policies is not None else load_policies(policy_file)
        self.poll_seconds = poll
        self.first_retry = first_retry
        self.clock = clock
        self.id = owner_id()
        self.scheduler = BlockingScheduler(
            timezone=UTC,
            # APScheduler's default grace (1 s) drops a late job: never skip a reminder.
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            executors={"default": ThreadPoolExecutor(2)},
        )
        self.next_at: datetime | None = None
        self._counter: int | None = None
        self._policy_stamp = self._policy_mtime()
        self._work = threading.RLock()  # one pass or reschedule at a time
        self._stopping = False

    # ----------------------------------------------------------------- jobs

    def change_counter(self) -> int:
        with self.store.read() as session:
            return session.scalar(select(func.max(Change.id))) or 0

    def reschedule(self, *, not_before: datetime | None = None) -> datetime | None:
        """Put the fire job at the instant the next occurrence is ready (or remove it), and not
        before `not_before`."""
        with self._work:
            try:
                # Read the counter first: a change after this read moves it, and the next
                # poll computes again.
                counter = self.change_counter()
                with self.store.read() as session:
                    pending = upcoming(session, self.policies)
            except Exception:
                self._counter = None  # so that the next poll tries again
                log.exception("could not read the store; trying again at the next poll")
                return self.next_at
            self._counter = counter
            at = pending[0].at if pending else None
            if at is None:
                self._remove_fire_job()
                if self.next_at is not None:
                    log.info("nothing left to remind")
            else:
                self.scheduler.add_job(
                    _fire_job,
                    "date",
                    run_date=max(at, not_before or self.clock()),
                    args=[self.id],
                    id="fire",
                    replace_existing=True,
                )
                if at != self.next_at:
                    what = pending[0].occurrence
                    log.info(
                        "next reminder %s (case %s, %s)",
                        _stamp(at),
                        what.case_id,
                        what.kind.replace("_", " "),
                    )
            self.next_at = at
            return at

    def _remove_fire_job(self) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job("fire")

    def fire(self) -> None:
        """Run one pass at the clock's now, then schedule the next.

        A fire job added while this one runs, for a time that has come before this one ends,
        would be skipped (max_instances is 1), and nothing would fire until the store
        changed. On a large store a pass takes seconds, so the next occurrence may well fall
        due meanwhile: then the next pass runs here at once, and the job goes a second out.
        """
        with self._work:
            for _ in range(MAX_PASSES):
                passed = self._pass()
                at = self.reschedule(not_before=self.clock() + timedelta(seconds=1))
                if not passed or at is None or at > self.clock():
                    return

    def _pass(self) -> bool:
        """One reminder pass, logged; False if it failed."""
        try:
            report = run_pass(
                self.store,
                self.notifier,
                policies=self.policies,
                owner=self.id,
                now=self.clock(),
                first_retry=self.first_retry,
            )
        except Exception:
            log.exception("the reminder pass failed; trying again at the next poll")
            self._counter = None
            return False
        for notice in report.shown:
            log.info("showed: %s — %s", notice.title, notice.body)
        for notice, error, retry_at in report.failed:
            log.warning(
                "could not show the reminder for case %s (%s); retrying %s",
                notice.case_id,
                error,
                _stamp(retry_at),
            )
        return True

    def poll(self) -> None:
        """Cheap: notice a changed store (or policy file) and compute the schedule again."""
        if not self._work.acquire(blocking=False):
            return  # a pass is running; it reschedules when it ends
        try:
            reload = self._reload_policies()
            try:
                counter = self.change_counter()
            except Exception as exc:
                log.warning("could not read the change counter: %s", exc)
                return
            if reload or counter != self._counter:
                self.reschedule()
        finally:
            self._work.release()

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

    # ----------------------------------------------------------------- running

    def run(self) -> None:
        """Block until stop() (or SIGTERM/SIGINT)."""
        _DAEMONS[self.id] = self
        try:
            log.info(
                "tracker daemon started (pid %s, notifier %s, poll every %g s)",
                os.getpid(),
                self.notifier.name,
                self.poll_seconds,
            )
            if self.notifier.name == "plyer" and not PlyerNotifier.can_detect_failure():
                log.warning(
                    "dbus-python is not installed: a notification that fails cannot be "
                    "detected or retried (pip install 'tracker[desktop]')"
                )
            self.scheduler.add_job(
                _poll_job,
                "interval",
                seconds=self.poll_seconds,
                args=[self.id],
                id="poll",
                replace_existing=True,
            )
            self.reschedule()
            # Signals reach only the main thread (a test may run the daemon in another).
            main = threading.current_thread() is threading.main_thread()
            previous = {
                sig: signal.signal(sig, self._on_signal)
                for sig in ((signal.SIGTERM, signal.SIGINT) if main else ())
            }
            try:
                if not self._stopping:
                    self.scheduler.start()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            # A pass in flight finishes (and records what it showed) before the process ends.
            if self._work.acquire(timeout=60):
                self._work.release()
            log.info("tracker daemon stopped")
        finally:
            _DAEMONS.pop(self.id, None)

    def stop(self) -> None:
        self._stopping = True
        if self.scheduler.state == STATE_RUNNING:
            self.scheduler.shutdown(wait=False)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        self.stop()
