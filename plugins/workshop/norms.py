"""Labour norms that learn from history (the ``workshop.norms`` feature).

- :class:`JobNorm`: standard hours of a catalog job for one make (and optionally one model), the OE
  norms table; it overrides the catalog's standard hours when a labour line is added for such a car.
- :class:`LaborRate`: the shop's hourly rate, per job category (``category`` None: the default).
- :class:`ContractRate`: a client's contract price: its own hourly rate and/or a discount.
- :func:`norm_report`: the norm beside the shop's own history (average clocked hours per job and
  car model) with the under-quote flag (actual average above the norm by more than 20%).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from core.api.fields import Money as MoneyField
from core.db import Money, TenantScoped, db
from core.i18n import domain

from .models import Job, LaborLine, TimeEntry, WorkOrder
from .schemas import Exact, _check_exists, _client_check
from .types import Percent, Quantity

_ = domain("workshop").gettext  # messages raised at validation time (a lazy one would be split into letters)
_l = domain("workshop").lazy_gettext

UNDER_QUOTE_FACTOR = Decimal("1.2")  # the actual average may exceed the norm by 20% before we flag it
HOURS = Decimal("0.01")


class JobNorm(TenantScoped, db.Model):
    """Standard hours of ``job`` on cars of ``make`` (and ``model``; None: every model of the make)."""

    __tablename__ = "workshop_job_norm"
    __table_args__ = (Index(None, "tenant_id", "job_id", "make", "model"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("workshop_job.id", ondelete="CASCADE"))
    make: Mapped[str] = mapped_column(String(60))
    model: Mapped[str | None] = mapped_column(String(60))
    hours: Mapped[Decimal] = mapped_column(Quantity)


class LaborRate(TenantScoped, db.Model):
    """The hourly labour rate of a job category; the row without a category is the shop's default."""

    __tablename__ = "workshop_labor_rate"
    __table_args__ = (Index(None, "tenant_id", "category"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str | None] = mapped_column(String(80))
    rate: Mapped[Decimal] = mapped_column(Money)


class ContractRate(TenantScoped, db.Model):
    """A client's contract prices: its own hourly rate, a discount on labour, or both."""

    __tablename__ = "workshop_contract_rate"
    __table_args__ = (Index(None, "tenant_id", "client_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="CASCADE"))
    rate: Mapped[Decimal | None] = mapped_column(Money)
    discount_percent: Mapped[Decimal | None] = mapped_column(Percent)


MODELS = [JobNorm, LaborRate, ContractRate]


# --- schemas ----------------------------------------------------------------------------------------


def _non_negative(value):
    if value is not None and value < 0:
        raise ValidationError(_("Must not be negative."))


class JobNormSchema(Schema):
    id = fields.Integer(dump_only=True)
    job_id = fields.Integer(required=True, validate=_check_exists(Job, _l("No such job in the catalog.")),
                            metadata={"label": _l("Job")})
    make = fields.String(required=True, validate=validate.Length(min=1, max=60, error=_l("Enter the make.")),
                         metadata={"label": _l("Make")})
    model = fields.String(allow_none=True, validate=validate.Length(max=60), metadata={"label": _l("Model")})
    hours = Exact(places=3, required=True, validate=_non_negative, metadata={"label": _l("Hours")})


class LaborRateSchema(Schema):
    id = fields.Integer(dump_only=True)
    category = fields.String(allow_none=True, validate=validate.Length(max=80), metadata={
        "label": _l("Category"), "help": _l("Empty: the shop's rate for every other job.")})
    rate = MoneyField(required=True, validate=_non_negative, metadata={"label": _l("Hourly rate")})


class ContractRateSchema(Schema):
    id = fields.Integer(dump_only=True)
    client_id = fields.Integer(required=True, validate=_client_check, metadata={"label": _l("Client")})
    rate = MoneyField(allow_none=True, validate=_non_negative, metadata={"label": _l("Hourly rate")})
    discount_percent = Exact(places=2, allow_none=True, validate=validate.Range(
        min=Decimal(0), max=Decimal(100), error=_l("Enter a percentage from 0 to 100.")),
        metadata={"label": _l("Discount on labour, %")})

    @validates_schema
    def _something(self, data, partial=None, **kwargs):
        if not partial and data.get("rate") is None and data.get("discount_percent") is None:
            raise ValidationError(_("Give a rate, a discount or both."), "rate")


# --- lookups ----------------------------------------------------------------------------------------


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().casefold() == (b or "").strip().casefold()


def norm_for(job: Job, make: str | None, model: str | None) -> tuple[Decimal, str]:
    """``(hours, source)``: the norm for the make and model, else for the make, else the catalog's."""
    if make:
        rows = db.session.scalars(select(JobNorm).where(JobNorm.job_id == job.id)).all()
        for row in rows:
            if model and row.model and _same(row.make, make) and _same(row.model, model):
                return row.hours, "model"
        for row in rows:
            if not row.model and _same(row.make, make):
                return row.hours, "make"
    return job.standard_hours or Decimal(0), "catalog"


def rate_for(category: str | None, client_id: int | None) -> tuple[Decimal | None, Decimal | None]:
    """``(hourly rate, discount percent)``: the client's contract first, then the category's rate, then
    the shop's default rate."""
    contract = db.session.scalars(select(ContractRate).where(ContractRate.client_id == client_id)
                                  .order_by(ContractRate.id)).first() if client_id else None
    if contract is not None and contract.rate is not None:
        return contract.rate, contract.discount_percent
    rates = {r.category: r.rate for r in db.session.scalars(select(LaborRate).order_by(LaborRate.id))}
    rate = rates.get(category) if category in rates else rates.get(None)
    return rate, contract.discount_percent if contract is not None else None


def apply_to_labor_line(order: WorkOrder, values: dict, given: set[str]) -> dict:
    """A job from the catalog on a new labour line: the norm for the order's car (unless ``hours`` was
    given), the contract or category rate (unless ``rate`` or a fixed price was given), the contract
    discount (unless a discount was given)."""
    from plugins.crm.models import Vehicle

    job = db.session.get(Job, values["job_id"]) if values.get("job_id") else None
    if job is not None and "hours" not in given:
        car = db.session.get(Vehicle, order.vehicle_id)
        values["hours"] = norm_for(job, car.make if car else None, car.model if car else None)[0]
    if "rate" not in given and values.get("fixed_price") is None:
        rate, discount = rate_for(job.category if job else None, order.client_id)
        if rate is not None:
            values["rate"] = rate
        if discount and not given & {"discount_percent", "discount_amount"}:
            values["discount_percent"] = discount
    return values


def _hours(delta: timedelta) -> Decimal:
    seconds = Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1_000_000)
    return seconds / Decimal(3600)


def history(job_id: int, make: str | None, model: str | None) -> tuple[Decimal | None, int, list[dict]]:
    """The shop's own average clocked hours per job line of ``job_id`` on closed work orders of cars of
    that make (and model), how many lines it averages, and the same per person who clocked: by employee
    card (with or without a login; named), else by user."""
    from plugins.crm.models import Vehicle

    from .staff import _name, people, person_key

    # Make and model are compared in Python: SQLite's lower() leaves Cyrillic ("ВАЗ") as it is.
    query = (select(TimeEntry.labor_line_id, TimeEntry.technician_id, TimeEntry.employee_id, TimeEntry.started_at,
                    TimeEntry.ended_at, Vehicle.make, Vehicle.model)
             .join(LaborLine, LaborLine.id == TimeEntry.labor_line_id)
             .join(WorkOrder, WorkOrder.id == LaborLine.work_order_id)
             .join(Vehicle, Vehicle.id == WorkOrder.vehicle_id)
             .where(LaborLine.job_id == job_id, TimeEntry.kind == "job", TimeEntry.ended_at.is_not(None),
                    WorkOrder.state == "closed"))
    employees, by_id = people()
    per_line: dict[int, Decimal] = {}
    per_person: dict = {}
    for line_id, tech_id, employee_id, started, ended, car_make, car_model in db.session.execute(query):
        if (make and not _same(car_make, make)) or (model and not _same(car_model, model)):
            continue
        hours = _hours(ended - started)
        per_line[line_id] = per_line.get(line_id, Decimal(0)) + hours
        who = person_key(tech_id, employee_id, by_id)
        if who is not None:
            lines = per_person.setdefault(who, {})
            lines[line_id] = lines.get(line_id, Decimal(0)) + hours
    if not per_line:
        return None, 0, []
    by_person = []
    for who, lines in per_person.items():
        employee = employees.get(who)
        by_person.append({"technician_id": None if isinstance(who, tuple) else who,
                          "employee_id": employee.id if employee else None, "name": _name(who, employee),
                          "average_hours": str(_average(lines)), "samples": len(lines)})
    by_person.sort(key=lambda row: ((row["name"] or "").casefold(), row["employee_id"] or 0,
                                    row["technician_id"] or 0))
    return _average(per_line), len(per_line), by_person


def _average(per_line: dict[int, Decimal]) -> Decimal:
    return (sum(per_line.values(), Decimal(0)) / len(per_line)).quantize(HOURS, ROUND_HALF_UP)


def norm_report(job: Job, make: str | None, model: str | None) -> dict:
    hours, source = norm_for(job, make, model)
    average, samples, by_technician = history(job.id, make, model)
    under = average is not None and hours > 0 and average > hours * UNDER_QUOTE_FACTOR
    norms = db.session.scalars(select(JobNorm).where(JobNorm.job_id == job.id).order_by(JobNorm.make, JobNorm.id))
    return {"job_id": job.id, "name": job.name, "make": make or None, "model": model or None,
            "standard_hours": str(job.standard_hours), "norm_hours": str(hours), "norm_source": source,
            "actual_average_hours": str(average) if average is not None else None, "samples": samples,
            "under_quoted": under, "by_technician": by_technician,
            "suggested_hours": str(average) if under else None,
            "norms": [JobNormSchema().dump(n) for n in norms]}


def under_quoted(min_samples: int = 1) -> list[dict]:
    """Every job and car model whose clocked average (closed orders) exceeds its norm by more than
    20%, with the shop's own average as the suggested norm; the worst overrun first."""
    from plugins.crm.models import Vehicle

    rows = db.session.execute(
        select(LaborLine.job_id, Vehicle.make, Vehicle.model, TimeEntry.labor_line_id, TimeEntry.started_at,
               TimeEntry.ended_at)
        .join(LaborLine, LaborLine.id == TimeEntry.labor_line_id)
        .join(WorkOrder, WorkOrder.id == LaborLine.work_order_id)
        .join(Vehicle, Vehicle.id == WorkOrder.vehicle_id)
        .where(LaborLine.job_id.is_not(None), TimeEntry.kind == "job", TimeEntry.ended_at.is_not(None),
               WorkOrder.state == "closed"))
    # (job, make, model) -> {line: hours}; make and model grouped case-insensitively
    groups: dict[tuple, dict[int, Decimal]] = {}
    names: dict[tuple, tuple[str | None, str | None]] = {}
    for job_id, make, model, line_id, started, ended in rows:
        key = (job_id, (make or "").strip().casefold(), (model or "").strip().casefold())
        names.setdefault(key, (make, model))
        per_line = groups.setdefault(key, {})
        per_line[line_id] = per_line.get(line_id, Decimal(0)) + _hours(ended - started)
    out = []
    for key, per_line in groups.items():
        if len(per_line) < min_samples:
            continue
        job = db.session.get(Job, key[0])
        make, model = names[key]
        norm, source = norm_for(job, make, model)
        average = (sum(per_line.values(), Decimal(0)) / len(per_line)).quantize(HOURS, ROUND_HALF_UP)
        if norm > 0 and average > norm * UNDER_QUOTE_FACTOR:
            out.append({"job_id": job.id, "name": job.name, "make": make, "model": model, "norm_hours": str(norm),
                        "norm_source": source, "actual_average_hours": str(average), "samples": len(per_line),
                        "overrun_percent": str(((average / norm - 1) * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)),
                        "suggested_hours": str(average)})
    out.sort(key=lambda r: (-Decimal(r["overrun_percent"]), r["job_id"]))
    return out


# --- the norm beside the history, for the pages ----------------------------------------------------------


def _closed_job_hours(job_ids: list[int]) -> dict[tuple, dict[int, Decimal]]:
    """Clocked hours per (job, make, model) and job line on closed work orders, make and model folded
    case-insensitively (one query)."""
    from plugins.crm.models import Vehicle

    groups: dict[tuple, dict[int, Decimal]] = {}
    if not job_ids:
        return groups
    rows = db.session.execute(
        select(LaborLine.job_id, Vehicle.make, Vehicle.model, TimeEntry.labor_line_id, TimeEntry.started_at,
               TimeEntry.ended_at)
        .join(LaborLine, LaborLine.id == TimeEntry.labor_line_id)
        .join(WorkOrder, WorkOrder.id == LaborLine.work_order_id)
        .join(Vehicle, Vehicle.id == WorkOrder.vehicle_id)
        .where(LaborLine.job_id.in_(job_ids), TimeEntry.kind == "job", TimeEntry.ended_at.is_not(None),
               WorkOrder.state == "closed"))
    for job_id, make, model, line_id, started, ended in rows:
        key = (job_id, (make or "").strip().casefold(), (model or "").strip().casefold())
        per_line = groups.setdefault(key, {})
        per_line[line_id] = per_line.get(line_id, Decimal(0)) + _hours(ended - started)
    return groups


def catalog_hints(jobs: list[Job], make: str | None, model: str | None) -> dict[int, dict]:
    """For the "add a job" picker of a work order: per catalog job, the norm for this car (make/model
    norm, else the make's, else the catalog's) and the shop's average clocked hours on this make and
    model, in two queries whatever the number of jobs."""
    ids = [job.id for job in jobs]
    norms_by_job: dict[int, list[JobNorm]] = {}
    if ids:
        for row in db.session.scalars(select(JobNorm).where(JobNorm.job_id.in_(ids)).order_by(JobNorm.id)):
            norms_by_job.setdefault(row.job_id, []).append(row)
    history_groups = _closed_job_hours(ids)
    car = ((make or "").strip().casefold(), (model or "").strip().casefold())
    out = {}
    for job in jobs:
        hours, source = job.standard_hours or Decimal(0), "catalog"
        rows = norms_by_job.get(job.id, [])
        if make:  # the same precedence as norm_for(), without a query per job
            for_model = next((r for r in rows if model and r.model and _same(r.make, make)
                              and _same(r.model, model)), None)
            for_make = next((r for r in rows if not r.model and _same(r.make, make)), None)
            if for_model is not None:
                hours, source = for_model.hours, "model"
            elif for_make is not None:
                hours, source = for_make.hours, "make"
        per_line = history_groups.get((job.id, *car)) if make else None
        out[job.id] = {"norm_hours": hours, "norm_source": source,
                       "average_hours": _average(per_line) if per_line else None,
                       "samples": len(per_line) if per_line else 0}
    return out


def job_overview(job: Job) -> dict:
    """The job catalog page's block: the catalog norm beside the shop's average on every car; each
    make/model norm beside the average on those cars; the cars the shop did the job on without a norm
    of their own; the average per employee (names, also those without a login)."""
    average, samples, by_person = history(job.id, None, None)
    groups = _closed_job_hours([job.id])
    rows, seen = [], set()
    job_norms = list(db.session.scalars(select(JobNorm).where(JobNorm.job_id == job.id).order_by(JobNorm.id)))
    job_norms.sort(key=lambda n: (n.make.casefold(), (n.model or "").casefold()))
    with_own_norm = {(n.make.strip().casefold(), n.model.strip().casefold()) for n in job_norms if n.model}
    for norm in job_norms:
        # A make's norm is beside the cars of that make that have no model norm of their own.
        per_line: dict[int, Decimal] = {}
        for (_j, make, model), lines in groups.items():
            if make != norm.make.strip().casefold():
                continue
            if (norm.model and model == norm.model.strip().casefold()) or (
                    not norm.model and (make, model) not in with_own_norm):
                per_line.update(lines)
                seen.add((make, model))
        rows.append(_overview_row(norm.make, norm.model, norm.hours, "model" if norm.model else "make", per_line))
    names = {}
    for vehicle_make, vehicle_model in _car_names(job.id):
        names.setdefault(((vehicle_make or "").strip().casefold(), (vehicle_model or "").strip().casefold()),
                         (vehicle_make, vehicle_model))
    for (_j, make, model), lines in sorted(groups.items()):
        if (make, model) in seen:
            continue
        shown_make, shown_model = names.get((make, model), (make, model))
        hours, source = norm_for(job, shown_make, shown_model)
        rows.append(_overview_row(shown_make, shown_model, hours, source, lines))
    return {"standard_hours": job.standard_hours, "average_hours": average, "samples": samples,
            "under_quoted": average is not None and (job.standard_hours or 0) > 0
            and average > job.standard_hours * UNDER_QUOTE_FACTOR,
            "rows": rows, "by_employee": by_person}


def _overview_row(make, model, hours, source, per_line: dict[int, Decimal]) -> dict:
    average = _average(per_line) if per_line else None
    return {"make": make, "model": model, "norm_hours": hours, "norm_source": source, "average_hours": average,
            "samples": len(per_line), "under_quoted": average is not None and hours > 0
            and average > hours * UNDER_QUOTE_FACTOR}


def _car_names(job_id: int):
    """The makes and models as written on the cars the job was done on (for display)."""
    from plugins.crm.models import Vehicle

    return db.session.execute(select(Vehicle.make, Vehicle.model).join(WorkOrder, WorkOrder.vehicle_id == Vehicle.id)
                              .join(LaborLine, LaborLine.work_order_id == WorkOrder.id)
                              .where(LaborLine.job_id == job_id).distinct()).all()
