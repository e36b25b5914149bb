"""What a job is, and how the jobs plugins register are collected and checked at startup."""
from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from celery.schedules import BaseSchedule

from ..plugins import PluginError, PluginHost, flatten, is_core
from ..tenancy import TenantInfo

JOB_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*[a-z0-9_]$")


class JobError(ValueError):
    """A job cannot be enqueued or run as asked (unknown name, unknown tenant); nothing ran."""


@dataclass(frozen=True)
class Job:
    """Background or scheduled work a plugin contributes through ``register_jobs()``.

    ``name`` is ``"<slug>.<job>"``. ``func`` takes a :class:`JobContext` or no arguments (the tenant
    context is pushed either way). ``feature``: the job runs only for tenants that have it (None: every
    tenant that has the plugin active). ``schedule``: None (on demand, through :func:`core.jobs.enqueue`)
    or a ``datetime.timedelta`` / ``celery.schedules.crontab`` (UTC). ``per_tenant=False`` makes an
    installation-wide job that runs once, with no tenant context (operator housekeeping).
    """

    name: str
    func: Callable[..., Any]
    feature: str | None = None
    schedule: timedelta | BaseSchedule | None = None
    per_tenant: bool = True
    title: Any = ""

    @property
    def plugin(self) -> str:
        """The slug that owns the job (``core`` for the core's own jobs)."""
        return self.name.split(".", 1)[0]

    @property
    def takes_context(self) -> bool:
        params = [p for p in inspect.signature(self.func).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
        return bool(params)

    def describe_schedule(self) -> str:
        if self.schedule is None:
            return ""
        if isinstance(self.schedule, timedelta):
            return f"every {self.schedule}"
        return str(self.schedule)


@dataclass
class JobContext:
    """What a running job gets: the tenant it runs for (None for installation-wide jobs), the run id,
    the parameters given to :func:`core.jobs.enqueue`, and a logger named after the job."""

    job: Job
    tenant: TenantInfo | None
    run_id: int
    params: dict = field(default_factory=dict)
    log: logging.Logger = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        if self.log is None:
            self.log = logging.getLogger(f"garage.jobs.{self.job.name}")


def collect_jobs(host: PluginHost) -> dict[str, Job]:
    """Call ``register_jobs`` on every plugin; check names, features and schedules; fail fast."""
    from ..features import CORE_FEATURES

    jobs: dict[str, Job] = {}
    for plugin, job in flatten(host.call_all("register_jobs")):
        owner = "core" if is_core(plugin) else plugin
        if not isinstance(job, Job):
            raise PluginError(f"plugin {plugin!r}: register_jobs returned {job!r}, not a core.jobs.Job")
        if not JOB_NAME_RE.match(job.name) or job.plugin != owner:
            raise PluginError(f"plugin {plugin!r}: job name {job.name!r} must be '{owner}.<job>' "
                              "(lower-case letters, digits, '_')")
        if job.name in jobs:
            raise PluginError(f"plugin {plugin!r}: job {job.name!r} is registered twice")
        if not callable(job.func):
            raise PluginError(f"plugin {plugin!r}: job {job.name!r} has no callable func")
        if job.feature is not None:
            provided = CORE_FEATURES if owner == "core" else host.plugins[owner].manifest.features
            if job.feature not in provided:
                raise PluginError(f"plugin {plugin!r}: job {job.name!r} needs feature {job.feature!r}, "
                                  f"which {owner!r} does not provide")
            if not job.per_tenant:
                raise PluginError(f"plugin {plugin!r}: job {job.name!r} is installation-wide "
                                  "(per_tenant=False) and cannot require a tenant feature")
        if job.schedule is not None:
            if isinstance(job.schedule, timedelta):
                if job.schedule <= timedelta(0):
                    raise PluginError(f"plugin {plugin!r}: job {job.name!r} schedule must be positive")
            elif not isinstance(job.schedule, BaseSchedule):
                raise PluginError(f"plugin {plugin!r}: job {job.name!r} schedule must be None, a timedelta "
                                  "or a celery.schedules.crontab")
        jobs[job.name] = job
    return dict(sorted(jobs.items()))
