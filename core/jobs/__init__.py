"""Core subsystem: background and scheduled jobs, run per tenant through Celery.

A plugin returns :class:`Job` objects from the ``register_jobs()`` hook. The core runs every job
through one generic Celery task, ``garage.run_job``, which loops over the active tenants that have the
job's feature, pushes each tenant's context explicitly, runs the job in a transaction of its own and
records a :class:`JobRun` row. One tenant's failure is rolled back and logged; the others still run.

Two modes (``GARAGE_JOBS``):

* ``eager`` (the embedded default, no Redis): Celery's ``task_always_eager`` runs the same task code
  in-process; periodic jobs are driven by :class:`~core.jobs.scheduler.InProcessScheduler`, a daemon
  thread that ``garage serve`` starts.
* ``celery``: tasks go to the broker at ``REDIS_URL``; ``garage worker`` consumes them and runs beat.

See ``docs/jobs.md`` for the plugin author's view and why Celery rather than RQ.
"""
from __future__ import annotations

from .model import JobRun
from .registry import Job, JobContext, JobError
from .runner import enqueue, run_job
from .setup import init_app
from .hooks import register_cli_commands, register_jobs, register_models  # noqa: F401 - pluggy hookimpls

__all__ = ["Job", "JobContext", "JobError", "JobRun", "enqueue", "init_app", "run_job"]
