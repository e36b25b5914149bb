"""Running a job: the body of the ``garage.run_job`` task, and :func:`enqueue` for plugins."""
from __future__ import annotations

import json
import logging
import time

from flask import current_app
from sqlalchemy import or_, select

from ..db import db
from ..features import tenant_info
from ..models import Tenant, TenantFeature, TierFeature, utcnow
from ..tenancy import TenantInfo, tenant_context
from .model import JobRun
from .registry import Job, JobContext, JobError

log = logging.getLogger("garage.jobs")

RUN_JOB_TASK = "garage.run_job"


def get_job(job_name: str) -> Job:
    job = current_app.extensions["garage"].jobs.get(job_name)
    if job is None:
        raise JobError(f"no job {job_name!r}")
    return job


def enqueue(job_name: str, tenant_id: int | None = None, params: dict | None = None):
    """Run job ``job_name`` in the background: for one tenant, or for every tenant that has its feature.

    Eager mode runs it now, in-process, in a transaction of its own (so call this after your own
    commit); celery mode sends it to the broker for ``garage worker``. Returns the Celery result
    (``.get()`` gives the summary of :func:`run_job`). ``params`` must be JSON-serialisable; the job
    finds them in ``ctx.params``.
    """
    job = get_job(job_name)
    if tenant_id is not None and not job.per_tenant:
        raise JobError(f"job {job_name!r} is installation-wide; it does not run for one tenant")
    params = dict(params or {})
    try:
        json.dumps(params)
    except TypeError as exc:
        raise JobError(f"job {job_name!r}: params must be JSON-serialisable: {exc}") from exc
    task = current_app.extensions["celery"].tasks[RUN_JOB_TASK]
    return task.delay(job_name, tenant_id=tenant_id, params=params)


def eligible(job: Job, tenant: Tenant, info: TenantInfo) -> bool:
    """An active tenant with the job's feature (or, for a job without one, with the plugin active)."""
    if not tenant.active:
        return False
    if job.feature is not None:
        return info.has(job.feature)
    return job.plugin == "core" or job.plugin in info.plugins


def candidate_tenant_ids(job: Job) -> list[int]:
    """Active tenants that may have the job's feature: granted by their tier or by an operator's add-on.

    A cheap pre-filter in SQL so a job of a top-tier feature does not load 10,000 free shops; each
    candidate is still checked with :func:`eligible` (an operator's removal can take a feature away).
    """
    query = select(Tenant.id).where(Tenant.active.is_(True)).order_by(Tenant.id)
    if job.feature is not None:
        keys = [job.feature]
    elif job.plugin != "core":
        keys = list(current_app.extensions["garage"].plugins[job.plugin].manifest.features)
    else:
        return list(db.session.scalars(query))
    by_tier = select(TierFeature.tier_id).where(TierFeature.feature.in_(keys))
    by_grant = select(TenantFeature.tenant_id).where(TenantFeature.feature.in_(keys),
                                                     TenantFeature.granted.is_(True))
    return list(db.session.scalars(query.where(or_(Tenant.tier_id.in_(by_tier), Tenant.id.in_(by_grant)))))


def run_job(job_name: str, tenant_id: int | None = None, params: dict | None = None) -> dict:
    """Run a job now, in this process, inside an app context; return a JSON-able summary.

    Features are read fresh for every run, so a downgrade or a revoked grant takes effect on the next
    run without a restart. A tenant given explicitly that lacks the feature is reported as skipped.
    """
    job = get_job(job_name)
    started = time.monotonic()
    runs: list[dict] = []
    if not job.per_tenant:
        if tenant_id is not None:
            raise JobError(f"job {job_name!r} is installation-wide; it does not run for one tenant")
        runs.append(_run_once(job, None, params))
    else:
        if tenant_id is not None:
            if db.session.get(Tenant, tenant_id) is None:
                raise JobError(f"no tenant with id {tenant_id}")
            ids = [tenant_id]
        else:
            ids = candidate_tenant_ids(job)
        for tid in ids:
            tenant = db.session.get(Tenant, tid)
            info = tenant_info(tenant)
            if not eligible(job, tenant, info):
                if tenant_id is not None:
                    runs.append({"tenant": tenant.slug, "status": "skipped", "run_id": None,
                                 "error": f"tenant lacks {job.feature or job.plugin}"})
                continue
            runs.append(_run_once(job, info, params))
    return {"job": job_name, "runs": runs, "seconds": round(time.monotonic() - started, 3)}


def _run_once(job: Job, info: TenantInfo | None, params: dict | None) -> dict:
    """One run for one tenant (or installation-wide): its own transaction, its own run row."""
    run = JobRun(tenant_id=info.id if info else None, job=job.name, started_at=utcnow(), status="running")
    db.session.add(run)
    db.session.commit()  # visible as "running" while the job works
    run_id = run.id
    ctx = JobContext(job=job, tenant=info, run_id=run_id, params=dict(params or {}))
    status, error = "ok", None
    try:
        with tenant_context(info):
            if job.takes_context:
                job.func(ctx)
            else:
                job.func()
            # Commit inside the context: the tenant guard stamps and checks rows at flush time.
            db.session.commit()
    except Exception as exc:  # noqa: BLE001 - one tenant's failure must not stop the others
        db.session.rollback()
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        log.exception("job %s failed for tenant %s", job.name, info.slug if info else "-")
    run = db.session.get(JobRun, run_id)
    run.status, run.error, run.finished_at = status, error, utcnow()
    db.session.commit()
    return {"tenant": info.slug if info else None, "status": status, "run_id": run_id, "error": error}
