"""Comebacks (rework): a car back for a job the shop did shortly before.

A labour line is a comeback when

- it is a catalog job with the same code (or the same job, when the catalog job has no code) as an
  approved job of a work order of the same car closed within the shop's comeback window
  (``comeback_days``, workshop settings, 30 by default) — found automatically when the line is added
  or its job changes; or
- the advisor marks it as a comeback / warranty rework (``rework``): it is linked to the same job of
  that car's orders closed within the window when there is one, else to the newest such order.

The line then points at the original order, line and technician (``comeback_of_*``). The report
:func:`report` counts, per technician, the comebacks of the jobs he closed in a period and their share
of all the jobs he closed in it.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import aliased

from core.db import db
from core.i18n import domain
from core.models import Tenant, User, utcnow

from .models import Job, LaborLine, WorkOrder

_ = domain("workshop").gettext
_l = domain("workshop").lazy_gettext

from .settings import DEFAULT_COMEBACK_DAYS as DEFAULT_DAYS


def window_days() -> int:
    from core.tenancy import current_tenant_id

    tenant = db.session.get(Tenant, current_tenant_id())
    raw = ((tenant.plugin_settings or {}).get("workshop") or {}).get("comeback_days") if tenant else None
    try:
        days = int(raw)
    except (TypeError, ValueError):
        return DEFAULT_DAYS
    return days if 1 <= days <= 365 else DEFAULT_DAYS


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _job_key(job: Job | None):
    """Jobs are "the same" by catalog code (case-insensitive), else by the catalog row itself."""
    if job is None:
        return None
    return ("code", job.code.strip().lower()) if job.code and job.code.strip() else ("job", job.id)


def _candidates(order: WorkOrder, since: datetime) -> list[tuple[LaborLine, WorkOrder]]:
    """Approved jobs of the car's orders closed since ``since`` (newest first), one query."""
    rows = db.session.execute(
        select(LaborLine, WorkOrder).join(WorkOrder, WorkOrder.id == LaborLine.work_order_id)
        .where(WorkOrder.vehicle_id == order.vehicle_id, WorkOrder.id != order.id, WorkOrder.state == "closed",
               WorkOrder.closed_at >= since, LaborLine.decision == "approved")
        .order_by(WorkOrder.closed_at.desc(), LaborLine.position, LaborLine.id)).all()
    return [(line, wo) for line, wo in rows]


def detect(order: WorkOrder, line: LaborLine) -> None:
    """Set (or clear) ``line``'s link to the job it repeats; called when a job line is added or its
    job or rework mark changes."""
    since = utcnow() - timedelta(days=window_days())
    job = db.session.get(Job, line.job_id) if line.job_id else None
    key = _job_key(job)
    origin: tuple[LaborLine | None, WorkOrder | None] = (None, None)
    candidates = _candidates(order, since) if (key is not None or line.rework) else []
    if key is not None and candidates:
        jobs = {j.id: j for j in db.session.scalars(select(Job).where(
            Job.id.in_({c.job_id for c, _wo in candidates if c.job_id})))}
        origin = next(((c, wo) for c, wo in candidates if c.job_id and _job_key(jobs.get(c.job_id)) == key),
                      (None, None))
    if origin[1] is None and line.rework and candidates:
        newest = candidates[0][1]
        techs = {(c.technician_id, c.employee_id) for c, wo in candidates
                 if wo.id == newest.id and (c.technician_id or c.employee_id)}
        origin = (None, newest)
        line.comeback_technician_id, line.comeback_employee_id = techs.pop() if len(techs) == 1 else (None, None)
    orig_line, orig_order = origin
    line.comeback_of_order_id = orig_order.id if orig_order is not None else None
    line.comeback_of_line_id = orig_line.id if orig_line is not None else None
    if orig_line is not None:
        line.comeback_technician_id, line.comeback_employee_id = orig_line.technician_id, orig_line.employee_id
    elif orig_order is None:
        line.comeback_technician_id = line.comeback_employee_id = None


def is_comeback(line: LaborLine) -> bool:
    return bool(line.comeback_of_order_id or line.rework)


def _period_rows(since: datetime, until: datetime):
    """Approved jobs (with a technician) of the orders closed in ``[since, until)``."""
    return db.session.execute(
        select(LaborLine.id, LaborLine.technician_id, LaborLine.employee_id, LaborLine.work_order_id)
        .join(WorkOrder, WorkOrder.id == LaborLine.work_order_id)
        .where(WorkOrder.state == "closed", WorkOrder.closed_at >= since, WorkOrder.closed_at < until,
               LaborLine.decision == "approved",
               LaborLine.technician_id.is_not(None) | LaborLine.employee_id.is_not(None))).all()


def report(since: datetime, until: datetime) -> dict:
    """Per technician: the jobs he closed in the period, how many came back (comeback lines pointing at
    them, or at their order with him as the technician, in orders not cancelled or voided), and the
    share. Four queries whatever the number of technicians."""
    from .staff import people, person_key, sort_key

    employees, by_id = people()
    closed = _period_rows(since, until)
    jobs_of: dict = {}
    for _line_id, tech_id, employee_id, _order_id in closed:
        who = person_key(tech_id, employee_id, by_id)
        jobs_of[who] = jobs_of.get(who, 0) + 1
    Original = aliased(WorkOrder)
    comeback_rows = db.session.execute(
        select(LaborLine, WorkOrder.number, WorkOrder.created_at, Original.number, Original.closed_at)
        .join(WorkOrder, WorkOrder.id == LaborLine.work_order_id)
        .join(Original, Original.id == LaborLine.comeback_of_order_id)
        .where(LaborLine.comeback_of_order_id.is_not(None), Original.closed_at >= since, Original.closed_at < until,
               WorkOrder.state.notin_(("cancelled",)), WorkOrder.voided_at.is_(None),
               LaborLine.comeback_technician_id.is_not(None) | LaborLine.comeback_employee_id.is_not(None))
        .order_by(WorkOrder.id, LaborLine.id)).all()
    per_tech: dict = {}
    for line, number, _created, orig_number, _orig_closed in comeback_rows:
        who = person_key(line.comeback_technician_id, line.comeback_employee_id, by_id)
        per_tech.setdefault(who, []).append({
            "work_order_id": line.work_order_id, "number": number, "line_id": line.id, "job": line.name,
            "rework": bool(line.rework), "original_work_order_id": line.comeback_of_order_id,
            "original_number": orig_number, "original_line_id": line.comeback_of_line_id})
    tech_ids = sorted(set(jobs_of) | set(per_tech), key=sort_key)
    user_ids = [t for t in tech_ids if not isinstance(t, tuple)]
    names = {}
    if user_ids:
        names = {uid: (name or email) for uid, name, email in db.session.execute(
            select(User.id, User.name, User.email).where(User.id.in_(user_ids)))}
    items = []
    total_jobs = total_comebacks = 0
    for tech_id in tech_ids:
        count, jobs = len(per_tech.get(tech_id, [])), jobs_of.get(tech_id, 0)
        total_jobs += jobs
        total_comebacks += count
        employee = employees.get(tech_id)
        items.append({"technician_id": None if isinstance(tech_id, tuple) else tech_id,
                      "employee_id": employee.id if employee else None,
                      "name": employee.name if employee else names.get(tech_id), "closed_jobs": jobs, "comebacks": count,
                      "share": _share(count, jobs), "lines": per_tech.get(tech_id, [])})
    return {"items": items, "closed_jobs": total_jobs, "comebacks": total_comebacks,
            "share": _share(total_comebacks, total_jobs), "window_days": window_days()}


def run_report(**params) -> dict:
    """The report registry's entry (``workshop.comebacks``): ``from`` and ``to`` as YYYY-MM-DD (``to``
    included)."""
    from datetime import date

    from .periods import bounds

    start = date.fromisoformat(str(params["from"]))
    end = date.fromisoformat(str(params["to"]))
    return report(*bounds(start, end))  # the shop's days, not UTC days


def _share(count: int, jobs: int) -> str | None:
    """The share as a percentage with one decimal ("12.5"); None without closed jobs."""
    if not jobs:
        return None
    return str((Decimal(count) * 100 / Decimal(jobs)).quantize(Decimal("0.1"), ROUND_HALF_UP))


__all__ = ["detect", "is_comeback", "report", "run_report", "window_days"]
