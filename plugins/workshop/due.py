"""Maintenance due for the car of a work order, offered as job lines ("Due for this car").

The workshop ``requires`` the CRM, so it asks the CRM's reminders (:mod:`plugins.crm.reminders`,
feature ``crm.basic``) what is overdue or due soon for the order's car, and matches each item to the
job catalog: a job whose code is the interval's code, else a job whose name contains one of the
interval's keywords. Adding an item makes a labour line (the matched job with its norm and parts, or
the interval's title) carrying ``reminder_code``; when the order closes with that line approved, the
interval counts as done on that day at the order's mileage (:func:`record_done_on_close`).

The CRM also resets "last done" by itself from the service book: on ``workshop.work_order.close``
it matches the closed order's service-book entry against the interval keywords
(:func:`plugins.crm.reminders.record_from_visit`). The explicit ``reminder_code`` makes the reset
exact even when the job's name has none of the keywords.
"""
from __future__ import annotations

from sqlalchemy import select

from core.db import db
from core.documents import tenant_now
from core.i18n import domain

from .models import Job, LaborLine, WorkOrder

_ = domain("workshop").gettext

CRM_FEATURE = "crm.basic"
OFFERED = ("overdue", "due_soon")


def available() -> bool:
    from core.tenancy import current_tenant

    return current_tenant().has(CRM_FEATURE)


def _match_jobs(items: list[dict], keywords: dict[str, list[str]]) -> dict[str, Job]:
    """Per interval code, the catalog job that carries it out (by code, else by a keyword in the name)."""
    jobs = list(db.session.scalars(select(Job).where(Job.active.is_(True)).order_by(Job.id)))
    out: dict[str, Job] = {}
    for item in items:
        code = item["code"]
        by_code = [j for j in jobs if (j.code or "").strip().lower() == code.lower()]
        if by_code:
            out[code] = by_code[0]
            continue
        from plugins.crm.reminders import mentions  # the CRM's keyword rule (every word begins a word)

        by_name = [j for j in jobs if mentions(j.name or "", keywords.get(code))]
        if by_name:
            out[code] = by_name[0]
    return out


def due_for_order(order: WorkOrder) -> list[dict]:
    """What the CRM's reminders say is overdue or due soon for the order's car, with the matching job
    and whether the order already has a line for it."""
    if not available():
        return []
    from plugins.crm.models import Vehicle
    from plugins.crm.reminders import ServiceInterval, intervals_for, vehicle_reminders

    vehicle = db.session.get(Vehicle, order.vehicle_id)
    if vehicle is None:
        return []
    catalog = list(db.session.scalars(select(ServiceInterval)))
    items = [i for i in vehicle_reminders(vehicle, catalog, today=tenant_now().date()) if i["status"] in OFFERED]
    keywords = {line.code: list(line.keywords or []) for line in intervals_for(vehicle, catalog)}
    jobs = _match_jobs(items, keywords)
    on_order = {line.reminder_code for line in order.labor_lines if line.reminder_code}
    out = []
    for item in items:
        job = jobs.get(item["code"])
        out.append({
            "code": item["code"], "title": item["title"], "status": item["status"], "due_on": item["due_on"],
            "due_km": item["due_km"], "last_done_on": item["last_done_on"], "last_done_km": item["last_done_km"],
            "last_done_source": item["last_done_source"],
            "job": {"id": job.id, "name": job.name, "code": job.code} if job else None,
            "on_order": item["code"] in on_order,
        })
    return out


def line_values(order: WorkOrder, code: str) -> dict | None:
    """The labour line for due item ``code`` (None when it is not due for this car)."""
    item = next((i for i in due_for_order(order) if i["code"] == code), None)
    if item is None:
        return None
    if item["job"]:
        return {"job_id": item["job"]["id"], "reminder_code": code}
    return {"name": item["title"][:300], "reminder_code": code}


def record_done_on_close(order: WorkOrder, actor) -> None:
    """Inside the close transition: each approved line with a ``reminder_code`` marks its interval done
    on the closing day at the order's mileage (once per code and day)."""
    if not available():
        return
    codes = sorted({line.reminder_code for line in order.labor_lines
                    if line.reminder_code and line.decision == "approved"})
    if not codes:
        return
    from plugins.crm.models import Vehicle
    from plugins.crm.reminders import ServiceDone, record_done

    vehicle = db.session.get(Vehicle, order.vehicle_id)
    if vehicle is None:
        return
    today = tenant_now().date()
    have = set(db.session.scalars(select(ServiceDone.code).where(
        ServiceDone.vehicle_id == vehicle.id, ServiceDone.done_on == today, ServiceDone.code.in_(codes))))
    for code in codes:
        if code not in have:
            record_done(vehicle, code, today, order.odometer, user=actor)


def due_panel(order: WorkOrder, user) -> str | None:
    """The "Due for this car" block of the work order page (None without the CRM's reminders)."""
    from flask import render_template

    from core.documents import get_document_type

    if not available():
        return None
    state = get_document_type(order).workflow.states.get(order.state)
    editable = bool(user is not None and user.can("workshop.work_order.update") and not (state and state.immutable))
    statuses = {"overdue": _("overdue"), "due_soon": _("due soon")}
    return render_template("workshop/panels/due.html", doc=order, items=due_for_order(order), editable=editable,
                           statuses=statuses)


__all__ = ["due_for_order", "due_panel", "line_values", "record_done_on_close", "available", "LaborLine"]
