"""Test plugin that registers one job name twice (must be refused at startup)."""
from core.jobs import Job
from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="jobs_twice", version="0.1.0", title="Jobs twice", features={"jobs_twice.use": "x"})


@hookimpl
def register_jobs():
    return [Job("jobs_twice.same", lambda: None), Job("jobs_twice.same", lambda: None)]
