"""Test plugin with a job named under another plugin's slug (must be refused at startup)."""
from core.jobs import Job
from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="jobs_bad", version="0.1.0", title="Jobs bad", features={"jobs_bad.use": "x"})


@hookimpl
def register_jobs():
    return [Job("crm.sneaky", lambda: None, feature="jobs_bad.use")]
