"""A real Celery worker against the local Redis runs a plugin's job per tenant (celery mode)."""
import os
import uuid

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.db import db
from core.jobs import JobRun, enqueue
from core.tenants import get_tenant, set_feature

REDIS_URL = os.environ.get("GARAGE_TEST_REDIS", "redis://127.0.0.1:6379/15")
# A queue of this run's own: parallel test runs on one Redis never take each other's jobs.
QUEUE = f"garage-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def garage_config():
    return {
        "GARAGE_EXTRA_PLUGINS": {"jobs_demo": "tests.fixture_plugins.jobs_demo"},
        "GARAGE_JOBS": "celery",
        "REDIS_URL": REDIS_URL,
        "GARAGE_JOBS_QUEUE": QUEUE,
        # Leave pytest's logging alone; no remote-control mailbox left behind in Redis.
        "CELERY": {"worker_hijack_root_logger": False, "worker_enable_remote_control": False},
    }


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        message = f"Redis at {REDIS_URL} is unreachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: Redis is required)", pytrace=False)
        pytest.skip(message)
    yield client
    client.delete(QUEUE, f"_kombu.binding.{QUEUE}", f"_kombu.binding_permanent.{QUEUE}")
    client.close()


@pytest.mark.backends("postgresql")
def test_real_worker_runs_the_job_for_tenants_with_the_feature(redis_client, app, tenant):
    from celery.contrib.testing.worker import start_worker

    with_feature = tenant(tier="free")
    without = tenant(tier="free")
    with app.app_context():
        set_feature(get_tenant(with_feature.slug), "jobs_demo.use", True)
        db.session.commit()

    celery_app = app.extensions["celery"]
    assert not celery_app.conf.task_always_eager
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        with app.app_context():
            result = enqueue("jobs_demo.stamp", params={"via": "redis"})
        summary = result.get(timeout=30)
        result.forget()

    assert [(r["tenant"], r["status"]) for r in summary["runs"]] == [(with_feature.slug, "ok")]
    with app.app_context():
        runs = db.session.scalars(select(JobRun).where(JobRun.job == "jobs_demo.stamp")).all()
        assert [(r.tenant_id, r.status) for r in runs] == [(with_feature.id, "ok")]
        stamp = db.session.scalars(select(AuditLog).where(AuditLog.action == "jobs_demo.stamp")
                                   .execution_options(all_tenants=True)).one()
        assert stamp.tenant_id == with_feature.id
        assert stamp.changes["seen_tenant"][1] == with_feature.slug
        assert stamp.changes["params"][1] == {"via": "redis"}
    assert without.id not in {r.tenant_id for r in runs}
