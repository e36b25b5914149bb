"""Employees, attendance and the technicians' pay (the ``workshop.staff`` feature).

- :class:`Employee`: a person of the shop (linked to a user account or not) with position, skills,
  hourly cost and piece-rate percentage.
- Attendance lives in :class:`plugins.workshop.models.TimeEntry` beside the job clock:
  ``kind`` shift / break (no job) or job.
- :class:`JobComment` and :class:`PartRequest`: what a technician writes on a job and the parts he
  asks for (linked to the work order line).
- :func:`productive_time`: attended (shift minus breaks), clocked job and sold (standard) hours with
  productivity = job / attended, efficiency = sold / job, proficiency = sold / attended.
- :func:`payroll`: the piece-rate share of the sold labour plus the hourly cost of the attended time,
  exact to the kopeck.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.api.fields import Money as MoneyField
from core.db import Money, TenantScoped, db
from core.i18n import domain
from core.models import User, utcnow

from .models import LaborLine, TimeEntry, WorkOrder
from .schemas import Exact, _user_check, user_field
from .types import Percent, Quantity

_ = domain("workshop").gettext
_l = domain("workshop").lazy_gettext

ATTENDANCE_KINDS = ("shift", "break")
TIME_KINDS = ATTENDANCE_KINDS + ("job",)
KOPECK = Decimal("0.01")


class Employee(TenantScoped, db.Model):
    __tablename__ = "workshop_employee"
    __table_args__ = (Index(None, "tenant_id", "user_id"), Index(None, "tenant_id", "name"))
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[str | None] = mapped_column(String(120))
    skills: Mapped[list] = mapped_column(JSON, default=list)
    hourly_cost: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    piece_rate_percent: Mapped[Decimal] = mapped_column(Percent, default=Decimal("0"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobComment(TenantScoped, db.Model):
    __tablename__ = "workshop_job_comment"
    __table_args__ = (Index(None, "tenant_id", "labor_line_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("workshop_work_order.id", ondelete="CASCADE"))
    labor_line_id: Mapped[int] = mapped_column(ForeignKey("workshop_labor_line.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PartRequest(TenantScoped, db.Model):
    """A technician asks for more parts for a job; the advisor adds them as part lines (``state``)."""

    __tablename__ = "workshop_part_request"
    __table_args__ = (Index(None, "tenant_id", "work_order_id"), Index(None, "tenant_id", "state"))
    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("workshop_work_order.id", ondelete="CASCADE"))
    labor_line_id: Mapped[int] = mapped_column(ForeignKey("workshop_labor_line.id", ondelete="CASCADE"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Quantity, default=Decimal("1"))
    note: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default="open")  # open / done / rejected
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


MODELS = [Employee, JobComment, PartRequest]


# --- schemas ----------------------------------------------------------------------------------------


class EmployeeSchema(Schema):
    id = fields.Integer(dump_only=True)
    user_id = user_field(_l("User (login)"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200, error=_l("Enter a name (up to 200 characters).")),
                         metadata={"label": _l("Name")})
    position = fields.String(allow_none=True, validate=validate.Length(max=120), metadata={"label": _l("Position")})
    skills = fields.List(fields.String(validate=validate.Length(min=1, max=80)), load_default=list)
    hourly_cost = MoneyField(load_default=Decimal("0"), validate=validate.Range(
        min=Decimal(0), error=_l("Must not be negative.")), metadata={"label": _l("Hourly cost")})
    piece_rate_percent = Exact(places=2, load_default=Decimal("0"), validate=validate.Range(
        min=Decimal(0), max=Decimal(100), error=_l("Enter a percentage from 0 to 100.")),
        metadata={"label": _l("Piece rate (percent of sold labour)")})
    active = fields.Boolean(load_default=True, metadata={"label": _l("Active")})
    created_at = fields.DateTime(dump_only=True)


def _employee_check(value):
    if value is not None and db.session.execute(select(Employee.id).where(Employee.id == value)).first() is None:
        raise ValidationError(_("No such employee."))


class TimeEntrySchema(Schema):
    """A time entry a manager records or corrects: a shift, a break, or time on a job; for a user
    (``technician_id``) or for an employee who has no login (``employee_id``)."""

    technician_id = fields.Integer(allow_none=True, load_default=None, validate=_user_check)
    employee_id = fields.Integer(allow_none=True, load_default=None, validate=_employee_check)
    kind = fields.String(required=True, validate=validate.OneOf(TIME_KINDS))
    labor_line_id = fields.Integer(allow_none=True, load_default=None)
    started_at = fields.AwareDateTime(required=True, default_timezone=timezone.utc)
    ended_at = fields.AwareDateTime(allow_none=True, load_default=None, default_timezone=timezone.utc)

    @validates_schema
    def _consistent(self, data, **kwargs):
        if not data.get("technician_id") and not data.get("employee_id"):
            raise ValidationError(_("Choose the technician or the employee."), "technician_id")
        if data.get("technician_id") and data.get("employee_id"):
            raise ValidationError(_("Choose either the technician or the employee, not both."), "employee_id")
        if data.get("kind") == "job" and not data.get("labor_line_id"):
            raise ValidationError(_("Choose the job."), "labor_line_id")
        if data.get("kind") in ATTENDANCE_KINDS and data.get("labor_line_id"):
            raise ValidationError(_("Shifts and breaks belong to no job."), "labor_line_id")
        if data.get("ended_at") and data.get("started_at") and data["ended_at"] <= data["started_at"]:
            raise ValidationError(_("The end must be after the start."), "ended_at")


class CommentSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000, error=_l("Write a comment.")))


class PartRequestSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=300, error=_l("Enter a name (up to 300 characters).")))
    quantity = Exact(places=3, load_default=Decimal("1"), validate=validate.Range(
        min=Decimal("0.001"), error=_l("The quantity must be above 0.")))
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))


class ClockForSchema(Schema):
    """Whose clock a foreman or advisor runs: an employee (with or without a login) or a user."""

    employee_id = fields.Integer(allow_none=True, load_default=None, validate=_employee_check)
    technician_id = fields.Integer(allow_none=True, load_default=None, validate=_user_check)


def dump_time_entry(entry: TimeEntry) -> dict:
    return {"id": entry.id, "technician_id": entry.technician_id, "employee_id": entry.employee_id, "kind": entry.kind,
            "work_order_id": entry.work_order_id, "labor_line_id": entry.labor_line_id,
            "started_at": _aware(entry.started_at).isoformat(),
            "ended_at": _aware(entry.ended_at).isoformat() if entry.ended_at else None}


# --- attendance -------------------------------------------------------------------------------------


class StaffError(Exception):
    def __init__(self, message, status: int = 409, fields: dict | None = None):
        super().__init__(str(message))
        self.message, self.status, self.fields = message, status, fields or {}


class Subject:
    """Whose time an entry is: a user (``technician_id``) or an employee without a login (``employee_id``)."""

    def __init__(self, technician_id: int | None = None, employee_id: int | None = None):
        self.technician_id, self.employee_id = technician_id, employee_id

    def where(self):
        if self.technician_id is not None:
            return TimeEntry.technician_id == self.technician_id
        return (TimeEntry.employee_id == self.employee_id) & TimeEntry.technician_id.is_(None)

    def columns(self) -> dict:
        return {"technician_id": self.technician_id, "employee_id": self.employee_id}


def subject_for_clock(data: dict, user) -> Subject:
    """Whose clock ``user`` asks to run (``employee_id`` or ``technician_id`` in ``data``; neither: his
    own). Only one's own clock without ``workshop.staff.manage`` (:class:`StaffError` 403)."""
    if data.get("employee_id"):
        employee = db.session.execute(select(Employee).where(Employee.id == data["employee_id"])).scalar_one()
        subject = Subject(technician_id=employee.user_id) if employee.user_id else Subject(employee_id=employee.id)
    elif data.get("technician_id"):
        subject = Subject(technician_id=data["technician_id"])
    else:
        subject = Subject(technician_id=user.id)
    if subject.technician_id != user.id and not user.can("workshop.staff.manage"):
        raise StaffError(_("You may only run your own clock."), 403)
    return subject


def attendance(user, kind: str, action: str, at: datetime | None = None, subject: Subject | None = None) -> TimeEntry:
    """The technician starts or ends his shift or a break (or a foreman does it for ``subject``). A
    break needs a running shift; ending the shift ends the break (and stops the job clock) too."""
    at = at or utcnow()
    subject = subject or Subject(technician_id=user.id)
    running = db.session.scalars(select(TimeEntry).where(
        subject.where(), TimeEntry.ended_at.is_(None)).with_for_update()).all()
    by_kind = {e.kind: e for e in running}
    if action == "start":
        if kind in by_kind:
            return by_kind[kind]  # already running: starting twice changes nothing
        if kind == "break" and "shift" not in by_kind:
            raise StaffError(_("Start your shift first."))
        if kind == "break" and "job" in by_kind:
            _stop(by_kind["job"], at, user)  # a break pauses the job clock
        entry = TimeEntry(kind=kind, started_at=at, **subject.columns())
        db.session.add(entry)
        db.session.flush()
        audit.record("clock_start", entry, user=user, changes={"kind": [None, kind], "started_at": [None, at]})
        return entry
    if kind not in by_kind:
        raise StaffError(_("Your %(kind)s is not running.", kind=_kind_title(kind)))
    if kind == "shift":
        for other in running:
            if other.kind != "shift":
                _stop(other, at, user)
    _stop(by_kind[kind], at, user)
    db.session.flush()
    return by_kind[kind]


def _kind_title(kind: str) -> str:
    return {"shift": _("shift"), "break": _("break")}.get(kind, kind)


def _stop(entry: TimeEntry, at: datetime, user) -> None:
    entry.ended_at = at
    audit.record("clock_stop", entry, user=user, changes={"ended_at": [None, at]})


def record_time_entry(values: dict, user) -> TimeEntry:
    """A manager records a shift, a break or job time afterwards (forgotten clocks, paper sheets)."""
    line = None
    if values.get("labor_line_id"):
        line = db.session.get(LaborLine, values["labor_line_id"])
        if line is None:
            raise StaffError(_("No such job."), 422, {"labor_line_id": [_("No such job.")]})
    entry = TimeEntry(technician_id=values.get("technician_id"), employee_id=values.get("employee_id"),
                      kind=values["kind"], started_at=values["started_at"],
                      ended_at=values.get("ended_at"), labor_line_id=line.id if line else None,
                      work_order_id=line.work_order_id if line else None)
    db.session.add(entry)
    db.session.flush()
    audit.record("create", entry, user=user, changes={k: [None, v] for k, v in values.items()})
    return entry


def add_comment(order: WorkOrder, line: LaborLine, text: str, user) -> JobComment:
    comment = JobComment(work_order_id=order.id, labor_line_id=line.id, author_id=user.id, text=text)
    db.session.add(comment)
    db.session.flush()
    audit.record("create", comment, user=user, changes={"labor_line_id": [None, line.id], "text": [None, text]})
    return comment


def request_parts(order: WorkOrder, line: LaborLine, values: dict, user) -> PartRequest:
    req = PartRequest(work_order_id=order.id, labor_line_id=line.id, requested_by_id=user.id, state="open", **values)
    db.session.add(req)
    db.session.flush()
    audit.record("create", req, user=user, changes={"labor_line_id": [None, line.id],
                                                    **{k: [None, v] for k, v in values.items()}})
    return req


PART_REQUEST_STATES = ("open", "done", "rejected")


def answer_part_request(req: PartRequest, state: str, user, add_line: bool = False, line_fields: dict | None = None):
    """The advisor answers a technician's request: ``state`` done / rejected / open again; granted
    with ``add_line``, the part goes onto the order, linked to the job (``line_fields``: price, code,
    unit). Returns the new part line or None. The caller commits."""
    from . import services
    from .schemas import PartLineSchema

    if state not in PART_REQUEST_STATES:
        raise ValidationError({"state": [_("Choose open, done or rejected.")]})
    line = None
    if state == "done" and add_line:
        order = services.lock_order(req.work_order_id)
        raw = {"name": req.name, "quantity": str(req.quantity), "labor_line_id": req.labor_line_id,
               **(line_fields or {})}
        line = services.add_line(order, "part", PartLineSchema().load(raw), user)
    before, req.state = req.state, state
    audit.record("update", req, user=user, changes={"state": [before, state]})
    return line


def dump_comment(c: JobComment) -> dict:
    return {"id": c.id, "labor_line_id": c.labor_line_id, "author_id": c.author_id, "text": c.text,
            "created_at": _aware(c.created_at).isoformat()}


def dump_part_request(r: PartRequest) -> dict:
    return {"id": r.id, "work_order_id": r.work_order_id, "labor_line_id": r.labor_line_id,
            "requested_by_id": r.requested_by_id, "name": r.name, "quantity": str(r.quantity), "note": r.note,
            "state": r.state, "created_at": _aware(r.created_at).isoformat()}


# --- reports ----------------------------------------------------------------------------------------


def _aware(value):
    """SQLite hands back naive datetimes (stored as UTC)."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)


def _hours(delta: timedelta) -> Decimal:
    seconds = Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1_000_000)
    return seconds / Decimal(3600)


def _round(hours: Decimal) -> str:
    return str(hours.quantize(KOPECK, ROUND_HALF_UP))


def _ratio(a: Decimal, b: Decimal) -> str | None:
    return str((a / b).quantize(KOPECK, ROUND_HALF_UP)) if b else None


def person_key(technician_id: int | None, employee_id: int | None, by_id: dict):
    """The report key of a job line or time entry: by the employee when there is one (his user's id when
    he has a login, else ``("employee", id)``), else by the user; None for nobody."""
    employee = by_id.get(employee_id) if employee_id is not None else None
    if employee is not None:
        return employee.user_id if employee.user_id is not None else ("employee", employee.id)
    if technician_id is not None:
        return technician_id
    return ("employee", employee_id) if employee_id is not None else None


def sort_key(who):
    return (1, who[1]) if isinstance(who, tuple) else (0, who)


def _clocked(since: datetime, until: datetime, by_id: dict) -> dict[tuple, Decimal]:
    """Hours per (technician or ("employee", id), kind) inside ``[since, until)``; running clocks count
    up to now."""
    now = utcnow()
    out: dict[tuple[int, str], Decimal] = {}
    for entry in db.session.scalars(select(TimeEntry).where(
            TimeEntry.started_at < until, (TimeEntry.ended_at.is_(None)) | (TimeEntry.ended_at > since))):
        start = max(_aware(entry.started_at), since)
        end = min(_aware(entry.ended_at) if entry.ended_at else now, until)
        if end > start:
            key = (person_key(entry.technician_id, entry.employee_id, by_id), entry.kind or "job")
            out[key] = out.get(key, Decimal(0)) + _hours(end - start)
    return out


def _sold(since: datetime, until: datetime, by_id: dict):
    """Approved jobs of the work orders closed in the period: per employee (or user), sold hours and
    amount; one query."""
    rows = db.session.execute(select(LaborLine.technician_id, LaborLine.employee_id, LaborLine.hours,
                                     LaborLine.amount).join(
        WorkOrder, WorkOrder.id == LaborLine.work_order_id).where(
        WorkOrder.state == "closed", WorkOrder.closed_at >= since, WorkOrder.closed_at < until,
        LaborLine.decision == "approved", LaborLine.technician_id.is_not(None) | LaborLine.employee_id.is_not(None)))
    hours: dict = {}
    amount: dict = {}
    for tech_id, employee_id, h, a in rows:
        who = person_key(tech_id, employee_id, by_id)
        hours[who] = hours.get(who, Decimal(0)) + Decimal(h or 0)
        amount[who] = amount.get(who, Decimal(0)) + Decimal(a or 0)
    return hours, amount


def _name(user_id, employee: Employee | None) -> str | None:
    if employee is not None:
        return employee.name
    if isinstance(user_id, tuple):
        return None
    user = db.session.get(User, user_id)
    return (user.name or user.email) if user else None


def people() -> tuple[dict, dict]:
    """Employees by report key and by id (one query). By key: by user (should a user have two employee
    cards, the active, newest one counts); employees without a login under ``("employee", id)``."""
    rows = list(db.session.scalars(select(Employee).order_by(Employee.active, Employee.id)))
    return {(e.user_id if e.user_id is not None else ("employee", e.id)): e for e in rows}, {e.id: e for e in rows}


def _ids(who, employee: Employee | None) -> dict:
    return {"technician_id": None if isinstance(who, tuple) else who,
            "employee_id": employee.id if employee else None}


def productive_time(since: datetime, until: datetime) -> list[dict]:
    """Per technician: attended hours (shifts minus breaks), clocked job hours, sold hours and the
    three KPIs (two decimals; None when the divisor is zero)."""
    employees, by_id = people()
    clocked = _clocked(since, until, by_id)
    sold, _amount = _sold(since, until, by_id)
    out = []
    for tech_id in sorted({t for t, _k in clocked} | set(sold), key=sort_key):
        # The ratios come from the exact hours; only what is shown is rounded.
        attended = max(clocked.get((tech_id, "shift"), Decimal(0)) - clocked.get((tech_id, "break"), Decimal(0)),
                       Decimal(0))
        job = clocked.get((tech_id, "job"), Decimal(0))
        s = sold.get(tech_id, Decimal(0))
        employee = employees.get(tech_id)
        out.append({**_ids(tech_id, employee),
                    "name": _name(tech_id, employee), "attended_hours": _round(attended),
                    "clocked_hours": _round(job), "sold_hours": _round(s),
                    "productivity": _ratio(job, attended), "efficiency": _ratio(s, job),
                    "proficiency": _ratio(s, attended)})
    return out


def payroll(since: datetime, until: datetime) -> dict:
    """The payroll draft: per technician the piece-rate share of the sold labour (the approved jobs'
    amounts after discounts, orders closed in the period) and the hourly cost of the attended hours;
    every amount rounded half-up to the kopeck once, at the end."""
    employees, by_id = people()
    clocked = _clocked(since, until, by_id)
    sold_hours, sold_amount = _sold(since, until, by_id)
    items = []
    total = Decimal("0.00")
    tech_ids = {t for t, _k in clocked} | set(sold_amount) | {uid for uid, e in employees.items() if e.active}
    for tech_id in sorted(tech_ids, key=sort_key):
        employee = employees.get(tech_id)
        attended = max(clocked.get((tech_id, "shift"), Decimal(0)) - clocked.get((tech_id, "break"), Decimal(0)),
                       Decimal(0))
        labour = sold_amount.get(tech_id, Decimal(0))
        percent = employee.piece_rate_percent if employee else Decimal(0)
        hourly = employee.hourly_cost if employee else Decimal(0)
        piece = (labour * percent / 100).quantize(KOPECK, ROUND_HALF_UP)
        time_pay = (attended * hourly).quantize(KOPECK, ROUND_HALF_UP)
        items.append({**_ids(tech_id, employee),
                      "name": _name(tech_id, employee), "sold_hours": str(sold_hours.get(tech_id, Decimal(0)).quantize(KOPECK)),
                      "sold_labour": str(labour.quantize(KOPECK)), "piece_rate_percent": str(percent),
                      "piece_pay": str(piece), "attended_hours": str(attended.quantize(KOPECK, ROUND_HALF_UP)),
                      "hourly_cost": str(hourly), "time_pay": str(time_pay), "total": str(piece + time_pay)})
        total += piece + time_pay
    return {"items": items, "total": str(total)}


def bays(since: datetime, until: datetime) -> list[dict]:
    """Per bay: work orders closed in the period with approved jobs in that bay, their sold hours and
    the job hours clocked on those jobs (any time)."""
    rows = db.session.execute(select(LaborLine.bay, LaborLine.id, LaborLine.work_order_id, LaborLine.hours).join(
        WorkOrder, WorkOrder.id == LaborLine.work_order_id).where(
        WorkOrder.state == "closed", WorkOrder.closed_at >= since, WorkOrder.closed_at < until,
        LaborLine.decision == "approved")).all()
    line_bay = {line_id: (bay or "") for bay, line_id, _o, _h in rows}
    clocked: dict[str, Decimal] = {}
    if line_bay:
        for entry in db.session.scalars(select(TimeEntry).where(TimeEntry.kind == "job", TimeEntry.ended_at.is_not(None),
                                                                TimeEntry.labor_line_id.in_(list(line_bay)))):
            bay = line_bay[entry.labor_line_id]
            clocked[bay] = clocked.get(bay, Decimal(0)) + _hours(_aware(entry.ended_at) - _aware(entry.started_at))
    per_bay: dict[str, dict] = {}
    for bay, _line_id, order_id, hours in rows:
        row = per_bay.setdefault(bay or "", {"orders": set(), "sold": Decimal(0)})
        row["orders"].add(order_id)
        row["sold"] += Decimal(hours or 0)
    return [{"bay": bay or None, "work_orders": len(row["orders"]), "sold_hours": str(row["sold"].quantize(KOPECK)),
             "clocked_hours": str(clocked.get(bay, Decimal(0)).quantize(KOPECK, ROUND_HALF_UP))}
            for bay, row in sorted(per_bay.items())]
