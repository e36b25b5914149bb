"""CRM tasks (``crm.advanced``): follow-up work for the shop's staff, such as "call the client back
about the declined brake job".

A task has a title, notes, a due date (and optionally a time), an assignee (a user of the shop), an
optional client and vehicle, and a status: ``open`` -> ``done`` (with ``done_at``) or ``cancelled``.
A task is overdue when it is open and its due date is before today in the shop's time zone.
Each mutating service writes its audit row; the caller commits once.
"""
from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, Time, case, select
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.db import TenantScoped, db
from core.i18n import domain
from core.models import utcnow

from .services import CrmError

_ = domain("crm").gettext
FEATURE = "crm.advanced"
STATUSES = ("open", "done", "cancelled")
FIELDS = ("title", "notes", "due_on", "due_time", "assignee_id", "client_id", "vehicle_id", "status")


class Task(TenantScoped, db.Model):
    __tablename__ = "crm_task"
    __table_args__ = (
        Index(None, "tenant_id", "assignee_id", "status", "due_on"),
        Index(None, "tenant_id", "status", "due_on"),
        Index(None, "tenant_id", "client_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    due_on: Mapped[date | None] = mapped_column(Date)
    due_time: Mapped[time | None] = mapped_column(Time)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="open")
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


MODELS = [Task]


def today() -> date:
    """Today in the shop's time zone."""
    from flask import g

    from core.models import Tenant

    tz = "UTC"
    if g.get("tenant") is not None:
        row = db.session.get(Tenant, g.tenant.id)
        tz = (row.timezone if row is not None else None) or "UTC"
    try:
        return datetime.now(ZoneInfo(tz)).date()
    except (KeyError, ValueError):
        return datetime.now(ZoneInfo("UTC")).date()


def is_overdue(task: Task, on: date | None = None) -> bool:
    return task.status == "open" and task.due_on is not None and task.due_on < (on or today())


def as_dict(task: Task, on: date | None = None) -> dict:
    return {
        "id": task.id, "title": task.title, "notes": task.notes,
        "due_on": task.due_on.isoformat() if task.due_on else None,
        "due_time": task.due_time.strftime("%H:%M") if task.due_time else None,
        "assignee_id": task.assignee_id, "client_id": task.client_id, "vehicle_id": task.vehicle_id,
        "status": task.status, "done_at": task.done_at.isoformat() if task.done_at else None,
        "created_by_id": task.created_by_id, "created_at": task.created_at.isoformat() if task.created_at else None,
        "overdue": is_overdue(task, on), "version": task.version,
    }


def _ref(model, value, field: str, errors: dict, message: str):
    if value in (None, ""):
        return None
    try:
        obj_id = int(value)
    except (TypeError, ValueError):
        errors[field] = [_("Enter a whole number.")]
        return None
    # Under the tenant guard another shop's record is not found.
    if db.session.scalars(select(model.id).where(model.id == obj_id)).first() is None:
        errors[field] = [message]
        return None
    return obj_id


def clean(data: dict, partial: bool = False) -> dict:
    """Validate ``data`` (JSON or a form); raise :class:`CrmError` with ``fields`` on any error."""
    from core.models import User

    from .models import Client, Vehicle

    errors: dict[str, list[str]] = {}
    out: dict = {}
    if not partial or "title" in data:
        title = (data.get("title") or "").strip() if isinstance(data.get("title"), (str, type(None))) else None
        if not title:
            errors["title"] = [_("Enter what needs to be done.")]
        elif len(title) > 200:
            errors["title"] = [_("At most 200 characters.")]
        else:
            out["title"] = title
    if "notes" in data:
        notes = data.get("notes")
        out["notes"] = (str(notes).strip() or None) if notes is not None else None
    if "due_on" in data:
        raw = data.get("due_on")
        if raw in (None, ""):
            out["due_on"] = None
        else:
            try:
                out["due_on"] = date.fromisoformat(str(raw))
            except ValueError:
                errors["due_on"] = [_("Enter a date as YYYY-MM-DD.")]
    if "due_time" in data:
        raw = data.get("due_time")
        if raw in (None, ""):
            out["due_time"] = None
        else:
            try:
                out["due_time"] = time.fromisoformat(str(raw))
            except ValueError:
                errors["due_time"] = [_("Enter a time as HH:MM.")]
    if "assignee_id" in data:
        out["assignee_id"] = _ref(User, data.get("assignee_id"), "assignee_id", errors,
                                  _("Choose a user of this shop."))
    if "client_id" in data:
        out["client_id"] = _ref(Client, data.get("client_id"), "client_id", errors, _("No such client."))
    if "vehicle_id" in data:
        out["vehicle_id"] = _ref(Vehicle, data.get("vehicle_id"), "vehicle_id", errors, _("No such vehicle."))
    if "status" in data:
        if data.get("status") not in STATUSES:
            errors["status"] = [_("Choose one of: open, done, cancelled.")]
        else:
            out["status"] = data["status"]
    if errors:
        raise CrmError(_("Check the highlighted fields."), fields=errors)
    return out


def _snapshot(task: Task) -> dict:
    return {f: getattr(task, f) for f in FIELDS}


def create(data: dict, user) -> Task:
    values = clean(data)
    values.setdefault("assignee_id", getattr(user, "id", None))
    if values.get("status") in ("done",):
        values["done_at"] = utcnow()
    task = Task(**values, created_by_id=getattr(user, "id", None))
    db.session.add(task)
    db.session.flush()
    audit.record("crm.task.create", task, changes={k: v for k, v in _snapshot(task).items() if v is not None},
                 user=user)
    return task


def update(task: Task, data: dict, user) -> Task:
    values = clean(data, partial=True)
    before = _snapshot(task)
    for key, value in values.items():
        setattr(task, key, value)
    if task.status == "done" and before["status"] != "done":
        task.done_at = utcnow()
    elif task.status != "done":
        task.done_at = None
    changes = audit.diff(before, _snapshot(task))
    if changes:
        db.session.flush()
        audit.record("crm.task.update", task, changes=changes, user=user)
    return task


def mark_done(task: Task, user) -> Task:
    if task.status == "done":
        return task
    if task.status != "open":
        raise CrmError(_("Only an open task can be marked done."), status=409, field="status")
    return update(task, {"status": "done"}, user)


def query(*, assignee_id=None, status=None, due_before: date | None = None, overdue: bool = False,
          client_id=None, on: date | None = None, limit: int = 200):
    """Open tasks first, the earliest due first (no due date last), then the newest."""
    stmt = select(Task)
    if assignee_id is not None:
        stmt = stmt.where(Task.assignee_id == assignee_id)
    if status:
        stmt = stmt.where(Task.status == status)
    if client_id is not None:
        stmt = stmt.where(Task.client_id == client_id)
    if due_before is not None:
        stmt = stmt.where(Task.due_on < due_before)
    if overdue:
        stmt = stmt.where(Task.status == "open", Task.due_on < (on or today()))
    stmt = stmt.order_by(case((Task.status == "open", 0), else_=1), case((Task.due_on.is_(None), 1), else_=0),
                         Task.due_on, Task.due_time, Task.id.desc()).limit(limit)
    return list(db.session.scalars(stmt))
