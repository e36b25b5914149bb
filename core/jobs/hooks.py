"""The jobs subsystem's own contributions to the plugin manager (registered as ``core.jobs``)."""
from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete

from ..db import db
from ..models import utcnow
from ..plugins import hookimpl
from .model import JobRun
from .registry import Job

DEFAULT_RUN_HISTORY_DAYS = 30


def prune_job_runs() -> None:
    """Keep the run log bounded: delete rows older than ``GARAGE_JOB_RUN_HISTORY_DAYS`` (default 30)."""
    days = int(current_app.config.get("GARAGE_JOB_RUN_HISTORY_DAYS", DEFAULT_RUN_HISTORY_DAYS))
    # No in-session sync: SQLite hands back naive datetimes that cannot be compared in Python.
    db.session.execute(delete(JobRun).where(JobRun.started_at < utcnow() - timedelta(days=days))
                       .execution_options(synchronize_session=False))


@hookimpl
def register_models():
    return [JobRun]


@hookimpl
def register_jobs():
    return [
        Job("core.prune_job_runs", prune_job_runs, per_tenant=False, schedule=crontab(minute=17, hour=3),
            title=_l("Delete old job run history")),
    ]


@hookimpl
def register_cli_commands(cli):
    from .cli import jobs_group, worker

    cli.add_command(jobs_group)
    cli.add_command(worker)
