"""``garage worker`` and ``garage jobs list|run|history``."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from ..cli import emit, fail, operator_errors
from ..db import db
from ..models import Tenant
from .model import JobRun
from .registry import JobError
from .runner import RUN_JOB_TASK, eligible, get_job
from .setup import job_queue


@click.command("worker")
@click.option("--beat/--no-beat", default=True, show_default=True,
              help="also run the scheduler (exactly one worker of an installation should)")
@click.option("-c", "--concurrency", type=int, default=None, help="worker processes (default: CPU count)")
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@with_appcontext
def worker(beat, concurrency, loglevel):
    """Start a Celery worker for the jobs (with the beat scheduler embedded unless --no-beat)."""
    app = current_app._get_current_object()
    if app.config["GARAGE_JOBS"] != "celery":
        fail("GARAGE_JOBS is 'eager': jobs run inside `garage serve`; set REDIS_URL (or GARAGE_JOBS=celery) "
             "to use a worker")
    from celery.signals import worker_process_init

    def fresh_connections(**_):
        # Forked worker processes must not share the parent's pooled database connections.
        with app.app_context():
            db.engine.dispose(close=False)

    worker_process_init.connect(fresh_connections, weak=False)
    argv = ["worker", f"--loglevel={loglevel}", f"--queues={job_queue(app)}"]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if beat:
        argv += ["--beat", f"--schedule={app.extensions['celery'].conf.beat_schedule_filename}"]
    app.extensions["celery"].worker_main(argv)


@click.group("jobs")
def jobs_group():
    """Background and scheduled jobs."""


@jobs_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def jobs_list(as_json):
    """Every registered job, with its feature and schedule."""
    rows = [{"name": j.name, "plugin": j.plugin, "feature": j.feature, "schedule": j.describe_schedule(),
             "per_tenant": j.per_tenant, "title": str(j.title)}
            for j in current_app.extensions["garage"].jobs.values()]
    emit(rows, as_json, ["name", "feature", "schedule", "title"])


@jobs_group.command("run")
@click.argument("name")
@click.option("--tenant", "tenant_slug", default=None, help="only this tenant (default: every tenant with the feature)")
@click.option("--background", is_flag=True, help="send it to the worker instead of running it here")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
@operator_errors
def jobs_run(name, tenant_slug, background, as_json):
    """Run a job now, in this process (exit code 1 when it failed for some tenant)."""
    from ..features import tenant_info
    from ..tenants import get_tenant

    try:
        job = get_job(name)
    except JobError as exc:
        fail(str(exc))
    tenant_id = None
    if tenant_slug is not None:
        if not job.per_tenant:
            fail(f"job {name!r} is installation-wide; it does not run for one tenant")
        tenant = get_tenant(tenant_slug)
        if not eligible(job, tenant, tenant_info(tenant)):
            fail(f"tenant {tenant_slug!r} does not have {job.feature or job.plugin!r} (or is inactive); nothing ran")
        tenant_id = tenant.id
    db.session.rollback()  # the job runs in a session of its own; hold no transaction meanwhile
    task = current_app.extensions["celery"].tasks[RUN_JOB_TASK]
    if background:
        result = task.delay(name, tenant_id=tenant_id)
        click.echo(f"job {name} sent: task {result.id}")
        return
    summary = task.apply(args=(name,), kwargs={"tenant_id": tenant_id}).get()
    emit(summary["runs"], as_json, ["tenant", "status", "run_id", "error"])
    if any(r["status"] == "failed" for r in summary["runs"]):
        sys.exit(1)


@jobs_group.command("history")
@click.option("--job", "job_name", default=None)
@click.option("--tenant", "tenant_slug", default=None)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
@operator_errors
def jobs_history(job_name, tenant_slug, limit, as_json):
    """The latest runs, newest first."""
    from ..tenants import get_tenant

    query = (select(JobRun, Tenant.slug).outerjoin(Tenant, Tenant.id == JobRun.tenant_id)
             .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit))
    if job_name:
        query = query.where(JobRun.job == job_name)
    if tenant_slug:
        query = query.where(JobRun.tenant_id == get_tenant(tenant_slug).id)
    rows = [{"id": run.id, "job": run.job, "tenant": slug, "status": run.status,
             "started_at": run.started_at.isoformat(timespec="seconds") if run.started_at else None,
             "finished_at": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
             "error": run.error}
            for run, slug in db.session.execute(query)]
    emit(rows, as_json, ["id", "job", "tenant", "status", "started_at", "finished_at", "error"])
