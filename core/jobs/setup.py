"""One Celery app per Flask app (Flask's documented ``celery_init_app`` pattern), kept in
``app.extensions["celery"]``; no module-level Celery app, so tests and several apps never share one."""
from __future__ import annotations

import contextvars
import copy
import os
from datetime import timedelta
from pathlib import Path

from celery import Celery, Task
from celery.schedules import BaseSchedule, schedule
from flask import Flask

from ..tenancy import tenant_context
from .registry import Job, collect_jobs
from .runner import RUN_JOB_TASK, run_job

MODES = ("eager", "celery")


def init_app(app: Flask) -> None:
    host = app.extensions["garage"]
    host.jobs = collect_jobs(host)
    celery_init_app(app, host.jobs)


def celery_init_app(app: Flask, jobs: dict[str, Job]) -> Celery:
    mode = app.config.get("GARAGE_JOBS", "eager")
    if mode not in MODES:
        raise ValueError(f"GARAGE_JOBS must be one of {', '.join(MODES)}, not {mode!r}")

    class FlaskTask(Task):
        """Every task runs inside an app context of its own (and so a database session of its own).

        In a fresh ``contextvars.Context``: an eager task started from a request must not see that
        request (its user, its IP, its locale) nor its tenant, exactly as on a worker.
        """

        def __call__(self, *args, **kwargs):
            return contextvars.Context().run(self._run_in_app, args, kwargs)

        def _run_in_app(self, args, kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.import_name, task_cls=FlaskTask, set_as_current=False)
    celery_app.conf.update(_celery_config(app, mode, jobs))
    # Operators may tune anything Celery knows (concurrency limits, routes, ...) with a CELERY dict.
    celery_app.conf.update(app.config.get("CELERY") or {})
    celery_app.task(name=RUN_JOB_TASK)(_run_job_task)
    app.extensions["celery"] = celery_app
    return celery_app


def _run_job_task(job_name: str, tenant_id: int | None = None, params: dict | None = None) -> dict:
    # No context leaks in from an eager caller (a request's tenant): run_job pushes each one itself.
    with tenant_context(None):
        return run_job(job_name, tenant_id=tenant_id, params=params)


def job_queue(app: Flask) -> str:
    return app.config.get("GARAGE_JOBS_QUEUE") or os.environ.get("GARAGE_JOBS_QUEUE") or "garage"


def _celery_config(app: Flask, mode: str, jobs: dict[str, Job]) -> dict:
    conf = {
        "task_default_queue": job_queue(app),
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # Schedules are UTC everywhere; a tenant's local time is the job's business, not beat's.
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": beat_schedule(jobs),
        "beat_schedule_filename": str(Path(app.config["INSTANCE_PATH"]) / "celerybeat-schedule"),
    }
    if mode == "eager":
        conf.update({
            "task_always_eager": True,
            # Infrastructure errors surface to the caller; a job's own failure is caught per tenant.
            "task_eager_propagates": True,
            # Nothing may reach for Redis in the embedded mode.
            "broker_url": "memory://",
            "result_backend": None,
        })
    else:
        conf.update({
            "broker_url": app.config["REDIS_URL"],
            "result_backend": app.config["REDIS_URL"],
            "result_expires": timedelta(days=1),
            "broker_connection_retry_on_startup": True,
            "worker_prefetch_multiplier": 1,  # jobs are long and few: do not hoard them in one worker
        })
    return conf


def beat_schedule(jobs: dict[str, Job]) -> dict:
    """Celery beat entries: one per scheduled job, all through the generic task."""
    return {
        job.name: {"task": RUN_JOB_TASK, "schedule": copy.copy(job.schedule), "args": (job.name,)}
        for job in jobs.values() if job.schedule is not None
    }


def bind_schedule(value: timedelta | BaseSchedule, celery_app: Celery) -> BaseSchedule:
    """Celery's own schedule object for a job's schedule, bound to this Celery app's clock.

    A copy, because plugins may share one crontab object between apps."""
    if isinstance(value, timedelta):
        return schedule(value, app=celery_app)
    bound = copy.copy(value)
    bound.app = celery_app
    return bound
