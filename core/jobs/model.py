"""The job run log: one row per job and tenant each time a job runs, so operators can see what ran."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db
from ..models import utcnow


class JobRun(db.Model):
    """An operator-level log, not tenant data: installation-wide jobs have no tenant, so this is not a
    :class:`~core.db.TenantScoped` table (query it with an explicit ``tenant_id`` filter)."""

    __tablename__ = "core_job_run"
    __table_args__ = (
        Index(None, "tenant_id", "job", "started_at"),
        Index(None, "job", "started_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    # Run history is operational, not audit: it must not stop an operator from removing a tenant.
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("core_tenant.id", ondelete="CASCADE"))
    job: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), default="running")  # running, ok, failed
    error: Mapped[str | None] = mapped_column(Text)

    STATUSES = ("running", "ok", "failed")
