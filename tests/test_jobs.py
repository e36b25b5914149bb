"""Jobs in the embedded (eager) mode: per tenant, feature-gated, isolated failures, CLI, scheduler."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import create_app
from core.audit import AuditLog
from core.db import db
from core.features import DEFAULT_TIERS, tenant_info
from core.jobs import JobError, JobRun, enqueue
from core.jobs.scheduler import InProcessScheduler
from core.models import Tier, utcnow
from core.plugins import PluginError
from core.tenancy import tenant_context
from core.tenants import get_tenant, set_feature, set_tier, set_tier_features

DEMO = {"jobs_demo": "tests.fixture_plugins.jobs_demo"}


@pytest.fixture
def garage_config():
    return {"GARAGE_EXTRA_PLUGINS": DEMO, "GARAGE_JOBS": "eager"}


def grant(app, slug, granted=True):
    with app.app_context():
        set_feature(get_tenant(slug), "jobs_demo.use", granted)
        db.session.commit()


def run_now(app, name, **kwargs):
    with app.app_context():
        return enqueue(name, **kwargs).get()


def audit_rows(app, action):
    """(row's tenant_id, tenant the job saw) for every audit row the demo jobs wrote, all tenants."""
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == action)
                                  .order_by(AuditLog.id).execution_options(all_tenants=True))
        return [(r.tenant_id, r.changes["seen_tenant"][1], r.changes.get("ctx_tenant", [None, None])[1])
                for r in rows]


def job_runs(app, job):
    with app.app_context():
        return [(r.tenant_id, r.status) for r in
                db.session.scalars(select(JobRun).where(JobRun.job == job).order_by(JobRun.id))]


def test_job_runs_only_for_tenants_with_the_feature_in_their_own_context(app, tenant):
    with_feature = tenant(tier="free")
    without = tenant(tier="free")
    grant(app, with_feature.slug)

    with app.app_context():
        # A caller's own tenant context (here: the tenant without the feature) must not leak into the job.
        with tenant_context(tenant_info(get_tenant(without.slug))):
            summary = enqueue("jobs_demo.stamp", params={"reason": "test"}).get()

    assert [(r["tenant"], r["status"]) for r in summary["runs"]] == [(with_feature.slug, "ok")]
    # The row was stamped by the tenant guard with the right tenant, and the job saw that tenant.
    assert audit_rows(app, "jobs_demo.stamp") == [(with_feature.id, with_feature.slug, with_feature.slug)]
    assert job_runs(app, "jobs_demo.stamp") == [(with_feature.id, "ok")]
    with app.app_context():
        run = db.session.get(JobRun, summary["runs"][0]["run_id"])
        assert run.finished_at >= run.started_at and run.error is None
        params = db.session.scalars(select(AuditLog).execution_options(all_tenants=True)
                                    .where(AuditLog.action == "jobs_demo.stamp")).one().changes["params"][1]
        assert params == {"reason": "test"}


def test_a_job_enqueued_from_a_request_does_not_see_the_request(app, tenant):
    t = tenant(tier="free")
    grant(app, t.slug)
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        enqueue("jobs_demo.stamp", tenant_id=t.id).get()
    with app.app_context():
        row = db.session.scalars(select(AuditLog).where(AuditLog.action == "jobs_demo.stamp")
                                 .execution_options(all_tenants=True)).one()
        assert (row.tenant_id, row.ip, row.actor) == (t.id, None, "system")


def test_downgrade_or_revocation_stops_the_job(app, tenant):
    free = dict((key, features) for key, _, features in DEFAULT_TIERS)["free"]
    with app.app_context():
        tier = Tier(key="jobs", title="Jobs", position=50)
        db.session.add(tier)
        set_tier_features(tier, set(free) | {"jobs_demo.use"})
        db.session.commit()
    by_tier = tenant(tier="jobs")
    by_grant = tenant(tier="free")
    removed = tenant(tier="jobs")  # the tier has it, the operator took it away
    grant(app, by_grant.slug)
    grant(app, removed.slug, granted=False)

    summary = run_now(app, "jobs_demo.stamp")
    assert sorted(r["tenant"] for r in summary["runs"]) == sorted([by_tier.slug, by_grant.slug])

    with app.app_context():
        set_tier(get_tenant(by_tier.slug), "free")
        db.session.commit()
    grant(app, by_grant.slug, granted=False)

    assert run_now(app, "jobs_demo.stamp")["runs"] == []
    # Asked for explicitly, the tenant is reported as skipped and nothing runs.
    skipped = run_now(app, "jobs_demo.stamp", tenant_id=by_tier.id)["runs"]
    assert [(r["tenant"], r["status"], r["run_id"]) for r in skipped] == [(by_tier.slug, "skipped", None)]
    assert len(job_runs(app, "jobs_demo.stamp")) == 2
    assert len(audit_rows(app, "jobs_demo.stamp")) == 2


def test_a_failing_tenant_does_not_stop_the_others(app, tenant):
    first = tenant(tier="free")
    broken = tenant(tier="free", slug="broken-shop")
    last = tenant(tier="free")
    for t in (first, broken, last):
        grant(app, t.slug)

    summary = run_now(app, "jobs_demo.fragile")

    assert [(r["tenant"], r["status"]) for r in summary["runs"]] == [
        (first.slug, "ok"), (broken.slug, "failed"), (last.slug, "ok")]
    assert "RuntimeError: cannot process broken-shop" in summary["runs"][1]["error"]
    # The failing tenant's partial write was rolled back; the others' writes are committed.
    assert [row[1] for row in audit_rows(app, "jobs_demo.fragile")] == [first.slug, last.slug]
    assert job_runs(app, "jobs_demo.fragile") == [(first.id, "ok"), (broken.id, "failed"), (last.id, "ok")]
    with app.app_context():
        failed = db.session.scalars(select(JobRun).where(JobRun.status == "failed")).one()
        assert failed.finished_at is not None and "cannot process" in failed.error


def test_enqueue_refuses_what_cannot_run(app, tenant):
    with app.app_context():
        with pytest.raises(JobError, match="no job"):
            enqueue("jobs_demo.nope")
        with pytest.raises(JobError, match="JSON"):
            enqueue("jobs_demo.stamp", params={"when": utcnow()})
        with pytest.raises(JobError, match="installation-wide"):
            enqueue("core.prune_job_runs", tenant_id=1)
        with pytest.raises(JobError, match="no tenant"):
            enqueue("jobs_demo.stamp", tenant_id=999999)
    assert job_runs(app, "jobs_demo.stamp") == []


def test_cli_lists_runs_and_reports_jobs(app, tenant, runner):
    import json

    ok = tenant(tier="free")
    broken = tenant(tier="free", slug="broken-cli")
    lacking = tenant(tier="free")
    grant(app, ok.slug)
    grant(app, broken.slug)

    listed = runner.invoke(args=["jobs", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    jobs = {j["name"]: j for j in json.loads(listed.output)}
    assert jobs["jobs_demo.stamp"]["feature"] == "jobs_demo.use"
    assert jobs["jobs_demo.hourly"]["schedule"] == "every 1:00:00"
    assert jobs["core.prune_job_runs"]["per_tenant"] is False

    result = runner.invoke(args=["jobs", "run", "jobs_demo.stamp", "--tenant", ok.slug])
    assert result.exit_code == 0, result.output
    assert ok.slug in result.output and "ok" in result.output
    assert audit_rows(app, "jobs_demo.stamp") == [(ok.id, ok.slug, ok.slug)]

    refused = runner.invoke(args=["jobs", "run", "jobs_demo.stamp", "--tenant", lacking.slug])
    assert refused.exit_code == 2
    assert "does not have 'jobs_demo.use'" in refused.output
    assert runner.invoke(args=["jobs", "run", "jobs_demo.nope"]).exit_code == 2

    failed = runner.invoke(args=["jobs", "run", "jobs_demo.fragile"])
    assert failed.exit_code == 1
    assert "failed" in failed.output and "cannot process broken-cli" in failed.output

    history = runner.invoke(args=["jobs", "history", "--job", "jobs_demo.fragile", "--json"])
    assert history.exit_code == 0, history.output
    assert sorted((r["tenant"], r["status"]) for r in json.loads(history.output)) == [
        (broken.slug, "failed"), (ok.slug, "ok")]

    worker = runner.invoke(args=["worker"])
    assert worker.exit_code == 2 and "eager" in worker.output


def test_embedded_scheduler_runs_due_jobs_with_celery_schedules(app, tenant):
    t = tenant(tier="free")
    grant(app, t.slug)
    beat = app.extensions["celery"].conf.beat_schedule
    assert beat["jobs_demo.hourly"]["schedule"] == timedelta(hours=1)
    assert beat["jobs_demo.hourly"]["args"] == ("jobs_demo.hourly",)
    assert "jobs_demo.stamp" not in beat  # on demand only

    scheduler = InProcessScheduler(app)
    entries = {e.job_name: e for e in scheduler.entries}
    # Real plugins schedule jobs of their own (crm.send_messages...): these two must be among them.
    assert {"jobs_demo.hourly", "core.prune_job_runs"} <= set(entries)
    assert scheduler.tick() > 0  # just started: nothing is due
    assert job_runs(app, "jobs_demo.hourly") == []

    entries["jobs_demo.hourly"].last_run_at -= timedelta(hours=2)
    wait = scheduler.tick()
    assert job_runs(app, "jobs_demo.hourly") == [(t.id, "ok")]
    assert 0.5 <= wait <= scheduler.max_interval  # the next check, not a busy loop
    scheduler.tick()  # ran a moment ago: not due again
    assert len(job_runs(app, "jobs_demo.hourly")) == 1

    # The same, driven by the daemon thread `garage serve` starts.
    entries["jobs_demo.hourly"].last_run_at -= timedelta(hours=2)
    scheduler.start()
    try:
        assert scheduler.ticked.wait(timeout=30)
    finally:
        scheduler.stop()
    assert not scheduler.running
    assert job_runs(app, "jobs_demo.hourly") == [(t.id, "ok"), (t.id, "ok")]


def test_prune_job_keeps_recent_history(app):
    with app.app_context():
        db.session.add_all([
            JobRun(job="jobs_demo.stamp", started_at=utcnow() - timedelta(days=40), status="ok"),
            JobRun(job="jobs_demo.stamp", started_at=utcnow() - timedelta(days=2), status="ok"),
        ])
        db.session.commit()
    summary = run_now(app, "core.prune_job_runs")
    assert [(r["tenant"], r["status"]) for r in summary["runs"]] == [(None, "ok")]
    with app.app_context():
        left = db.session.scalars(select(JobRun.job).order_by(JobRun.id)).all()
    assert left == ["jobs_demo.stamp", "core.prune_job_runs"]


@pytest.mark.parametrize("module, message", [
    ("jobs_bad", "plugin 'jobs_bad': job name 'crm.sneaky' must be 'jobs_bad.<job>'"),
    ("jobs_twice", "plugin 'jobs_twice': job 'jobs_twice.same' is registered twice"),
    ("jobs_alien", "plugin 'jobs_alien': job 'jobs_alien.borrow' needs feature 'crm.clients', which 'jobs_alien' "
                   "does not provide"),
])
def test_startup_refuses_misnamed_or_duplicate_jobs(tmp_path, module, message):
    with pytest.raises(PluginError) as err:
        create_app({"GARAGE_EXTRA_PLUGINS": {module: f"tests.fixture_plugins.{module}"},
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db", "INSTANCE_PATH": str(tmp_path),
                    "SECRET_KEY": "t"})
    assert message in str(err.value)
