"""Test plugin for the jobs subsystem: an on-demand job that records which tenant it ran for, a job that
fails for some tenants, and a scheduled one. No tables of its own: it writes audit rows (tenant-scoped)."""
from datetime import timedelta

from core import audit
from core.jobs import Job
from core.plugins import Manifest, hookimpl
from core.tenancy import current_tenant

manifest = Manifest(
    slug="jobs_demo",
    version="0.1.0",
    title="Jobs demo",
    features={"jobs_demo.use": "Use the demo jobs"},
)


def stamp(ctx):
    """Writes a tenant-scoped row (stamped by the tenant guard) naming the tenant it believes it runs for."""
    audit.record("jobs_demo.stamp", actor="system", object_type="jobs_demo",
                 changes={"seen_tenant": [None, current_tenant().slug], "ctx_tenant": [None, ctx.tenant.slug],
                          "params": [None, ctx.params]})


def fragile():
    """Fails for tenants whose slug starts with 'broken', after writing a row that must be rolled back."""
    tenant = current_tenant()
    audit.record("jobs_demo.fragile", actor="system", object_type="jobs_demo",
                 changes={"seen_tenant": [None, tenant.slug]})
    if tenant.slug.startswith("broken"):
        raise RuntimeError(f"cannot process {tenant.slug}")


@hookimpl
def register_jobs():
    return [
        Job("jobs_demo.stamp", stamp, feature="jobs_demo.use", title="Stamp the tenant"),
        Job("jobs_demo.fragile", fragile, feature="jobs_demo.use", title="Fails for broken tenants"),
        Job("jobs_demo.hourly", stamp, feature="jobs_demo.use", schedule=timedelta(hours=1),
            title="Hourly stamp"),
    ]
