"""The embedded scheduler: runs periodic jobs in-process when there is no Celery beat (eager mode).

Due times come from Celery's own schedule objects (``is_due``), the same ones beat uses, so a job's
``timedelta`` or ``crontab`` means exactly the same thing in both modes. One daemon thread, started by
``garage serve``; a job runs synchronously in that thread (eager), so a long job delays the next due
one rather than overlapping it.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from celery.schedules import BaseSchedule
from flask import Flask

from .runner import enqueue
from .setup import bind_schedule

log = logging.getLogger("garage.jobs.scheduler")


@dataclass
class ScheduleEntry:
    job_name: str
    schedule: BaseSchedule
    last_run_at: datetime


class InProcessScheduler:
    def __init__(self, app: Flask, max_interval: float = 60.0):
        self.app = app
        self.max_interval = max_interval
        celery_app = app.extensions["celery"]
        now = celery_app.now()
        # Like beat: a fresh start counts as "just ran", so a restart does not fire every job at once.
        self.entries = [
            ScheduleEntry(job.name, bind_schedule(job.schedule, celery_app), now)
            for job in app.extensions["garage"].jobs.values() if job.schedule is not None
        ]
        self.ticked = threading.Event()  # set after every tick (lets tests and health checks wait)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> float:
        """Run every due job once; return the seconds until the next one may be due."""
        wait = self.max_interval
        for entry in self.entries:
            due, next_in = entry.schedule.is_due(entry.last_run_at)
            if due:
                entry.last_run_at = entry.schedule.now()
                try:
                    with self.app.app_context():
                        enqueue(entry.job_name)
                except Exception:  # noqa: BLE001 - the scheduler must outlive a broken run
                    log.exception("scheduled job %s could not run", entry.job_name)
            wait = min(wait, next_in)
        return max(wait, 0.5)  # never spin, even when a clock step makes a job overdue

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.tick()
            except Exception:  # noqa: BLE001
                log.exception("scheduler tick failed")
                delay = self.max_interval
            self.ticked.set()
            self._stop.wait(delay)

    def start(self) -> "InProcessScheduler":
        if self.entries and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="garage-scheduler", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def start_scheduler(app: Flask) -> InProcessScheduler:
    """Start the embedded scheduler for ``app`` (eager mode); kept in ``app.extensions``."""
    scheduler = InProcessScheduler(app).start()
    log.info("embedded scheduler: %s", ", ".join(e.job_name for e in scheduler.entries) or "no scheduled jobs")
    app.extensions["garage_scheduler"] = scheduler
    return scheduler
