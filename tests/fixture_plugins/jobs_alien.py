"""Test plugin whose job requires another plugin's feature (must be refused at startup)."""
from core.jobs import Job
from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="jobs_alien", version="0.1.0", title="Jobs alien", features={"jobs_alien.use": "x"})


@hookimpl
def register_jobs():
    return [Job("jobs_alien.borrow", lambda: None, feature="crm.clients")]
