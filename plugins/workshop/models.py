"""Workshop tables: the job catalog, service orders (reception acts), work orders (заказ-наряды) with
labour and parts lines, payers and the shares of each line charged to them.

Service and work orders are documents (:class:`core.documents.DocumentMixin`): numbered, with a
workflow; lines are plain rows that change only while their order is editable (the services check
:func:`core.documents.ensure_editable`). Amounts are :class:`core.db.Money`; hours, quantities and
percentages are exact scaled integers too (:mod:`plugins.workshop.types`).

Index and foreign-key names that the naming convention would make longer than PostgreSQL's 63
characters are given explicitly.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, DateTime, event, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from core.db import GarageSession, Money, TenantScoped, db
from core.documents import DocumentMixin
from core.models import Tenant, utcnow
from plugins.crm.models import Client, Vehicle

from .types import Percent, Quantity

FUEL_LEVELS = (0, 25, 50, 75, 100)
VAT_MODES = ("none", "included", "on_top")
PAYER_KINDS = ("client", "insurer", "fleet", "warranty")
DECISIONS = ("pending", "approved", "declined", "deferred")
DECISION_CHANNELS = ("in_person", "phone", "sms", "messenger", "email", "online")


class Job(TenantScoped, db.Model):
    """A job of the shop's catalog: name and standard (flat-rate) hours; optionally a fixed price."""

    __tablename__ = "workshop_job"
    __table_args__ = (Index(None, "tenant_id", "name"), Index(None, "tenant_id", "code"))
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    code: Mapped[str | None] = mapped_column(String(40))
    category: Mapped[str | None] = mapped_column(String(80))
    standard_hours: Mapped[Decimal] = mapped_column(Quantity, default=Decimal("0"))
    fixed_price: Mapped[Decimal | None] = mapped_column(Money)
    # The parts the job usually needs ({name, code, quantity, unit, price}; decimals as strings): with
    # the workshop.norms feature, choosing the job fills them into the work order.
    parts: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class _ClientAndCar:
    """The client's name and the car's plate for the document lists (``list_columns``): loaded for a
    whole page of documents in one query each (``selectin``), never one query a row."""

    @declared_attr
    def client(cls) -> Mapped[Client]:
        return relationship(Client, lazy="selectin", viewonly=True)

    @declared_attr
    def vehicle(cls) -> Mapped[Vehicle]:
        return relationship(Vehicle, lazy="selectin", viewonly=True)

    @property
    def client_name(self) -> str:
        return self.client.name if self.client is not None else ""

    @property
    def car_title(self) -> str:
        car = self.vehicle
        if car is None:
            return ""
        return car.plate or " ".join(x for x in (car.make, car.model) if x) or f"#{car.id}"


class ServiceOrder(_ClientAndCar, DocumentMixin, db.Model):
    """The reception act: the car as it came in, what the client complains about, what is planned."""

    __tablename__ = "workshop_service_order"
    __document_table_args__ = (
        Index("ix_workshop_so_client", "tenant_id", "client_id"),
        Index("ix_workshop_so_vehicle", "tenant_id", "vehicle_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="RESTRICT"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="RESTRICT"))
    # The planner's booking the car came by (the planner is optional: no foreign key).
    booking_id: Mapped[int | None] = mapped_column(Integer)
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    odometer: Mapped[int | None] = mapped_column(Integer)
    fuel_level: Mapped[int | None] = mapped_column(Integer)  # percent of the tank: 0, 25, 50, 75, 100
    complaint: Mapped[str | None] = mapped_column(Text)
    condition_notes: Mapped[str | None] = mapped_column(Text)
    planned_jobs: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    promised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkOrder(_ClientAndCar, DocumentMixin, db.Model):
    """The work order: labour and parts lines, payers, per-line client decisions, totals.

    ``vat_mode``/``vat_rate`` are the tenant's settings copied when the order is created, so a later
    change of the shop's VAT setup never rewrites an existing order. ``total``/``vat_total`` are
    kept by :func:`plugins.workshop.services.recalculate` for lists and reports.
    """

    __tablename__ = "workshop_work_order"
    __document_table_args__ = (
        Index("ix_workshop_wo_client", "tenant_id", "client_id"),
        Index("ix_workshop_wo_vehicle", "tenant_id", "vehicle_id"),
        Index("ix_workshop_wo_closed", "tenant_id", "closed_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    service_order_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_service_order.id", ondelete="RESTRICT"))
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="RESTRICT"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="RESTRICT"))
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    odometer: Mapped[int | None] = mapped_column(Integer)
    complaint: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    promised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    vat_mode: Mapped[str] = mapped_column(String(10), default="none")
    vat_rate: Mapped[Decimal] = mapped_column(Percent, default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    vat_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    labor_lines: Mapped[list["LaborLine"]] = relationship(
        back_populates="order", order_by="LaborLine.position, LaborLine.id", cascade="all, delete-orphan",
        lazy="selectin", foreign_keys="LaborLine.work_order_id")
    part_lines: Mapped[list["PartLine"]] = relationship(
        back_populates="order", order_by="PartLine.position, PartLine.id", cascade="all, delete-orphan",
        lazy="selectin")
    payers: Mapped[list["Payer"]] = relationship(
        back_populates="order", order_by="Payer.position, Payer.id", cascade="all, delete-orphan", lazy="selectin")


class Payer(TenantScoped, db.Model):
    """Who pays (part of) a work order besides, or instead of, the client: an insurer (the client
    pays the ``excess``), a fleet company, a warranty. The order's client is always a payer and
    needs no row; ``is_default`` makes this payer take the lines that have no shares."""

    __tablename__ = "workshop_payer"
    __table_args__ = (Index(None, "tenant_id", "work_order_id"), Index(None, "tenant_id", "counterparty_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("workshop_work_order.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    counterparty_id: Mapped[int | None] = mapped_column(ForeignKey("crm_client.id", ondelete="RESTRICT"))
    claim_number: Mapped[str | None] = mapped_column(String(60))
    excess: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[WorkOrder] = relationship(back_populates="payers")
    counterparty: Mapped[Client | None] = relationship(lazy="selectin")


class _LineColumns:
    """Columns both kinds of lines share: position, name, discount, amounts and the client's decision."""

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(300))
    discount_percent: Mapped[Decimal | None] = mapped_column(Percent)
    discount_amount: Mapped[Decimal | None] = mapped_column(Money)
    # Computed by recalculate(): the price before discount, the discount, and what is charged.
    gross: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    discount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    # The client's decision: who (a name: the client or a representative), when, by which channel.
    decision: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_channel: Mapped[str | None] = mapped_column(String(20))
    decision_note: Mapped[str | None] = mapped_column(Text)


class LaborLine(_LineColumns, TenantScoped, db.Model):
    """A job: standard hours × rate, or a fixed price; a technician; a client decision."""

    __tablename__ = "workshop_labor_line"
    __table_args__ = (Index(None, "tenant_id", "work_order_id"), Index(None, "tenant_id", "technician_id"),
                      Index(None, "tenant_id", "job_id"), Index(None, "tenant_id", "comeback_of_order_id"),
                      Index("ix_workshop_labor_line_employee", "tenant_id", "employee_id"))
    work_order_id: Mapped[int] = mapped_column(ForeignKey("workshop_work_order.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_job.id", ondelete="SET NULL"))
    hours: Mapped[Decimal] = mapped_column(Quantity, default=Decimal("0"))
    rate: Mapped[Decimal | None] = mapped_column(Money)
    fixed_price: Mapped[Decimal | None] = mapped_column(Money)
    # Who does the job: an employee (``workshop.staff``; with a login or not) and, when he has one, his
    # user (``technician_id``: "my jobs", his own clock). Either given fills the other
    # (:func:`plugins.workshop.services.assignee`); reports attribute by the employee.
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_employee.id", ondelete="SET NULL"))
    technician_name: Mapped[str | None] = mapped_column(String(200))
    # Where the job is done: free text, or the planner's bay (optional plugin: no foreign key).
    bay: Mapped[str | None] = mapped_column(String(60))
    bay_id: Mapped[int | None] = mapped_column(Integer)
    # The CRM recommendation this job carries out (it leaves the car's list when the order closes) ...
    recommendation_id: Mapped[int | None] = mapped_column(ForeignKey("crm_recommendation.id", ondelete="SET NULL"))
    # ... and the one made from this job when the client declined or deferred it.
    made_recommendation_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_recommendation.id", ondelete="SET NULL", name="fk_workshop_labor_line_made_rec"))
    # The CRM maintenance interval this job carries out ("oil"): closing the order resets its last-done.
    reminder_code: Mapped[str | None] = mapped_column(String(40))
    # Comebacks: the advisor marks a warranty rework himself (``rework``), or the same catalog job on
    # the same car within the shop's comeback window of a closed order is found when the line is added;
    # either way the line points at the original order, line and technician.
    rework: Mapped[bool] = mapped_column(Boolean, default=False)
    comeback_of_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("workshop_work_order.id", ondelete="SET NULL", name="fk_workshop_labor_line_cb_order"))
    comeback_of_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("workshop_labor_line.id", ondelete="SET NULL", name="fk_workshop_labor_line_cb_line"))
    comeback_technician_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL", name="fk_workshop_labor_line_cb_tech"))
    comeback_employee_id: Mapped[int | None] = mapped_column(
        ForeignKey("workshop_employee.id", ondelete="SET NULL", name="fk_workshop_labor_line_cb_emp"))

    order: Mapped[WorkOrder] = relationship(back_populates="labor_lines", foreign_keys=[work_order_id])
    shares: Mapped[list["LineShare"]] = relationship(
        primaryjoin="LineShare.labor_line_id == LaborLine.id", order_by="LineShare.position, LineShare.id",
        cascade="all, delete-orphan", lazy="selectin", overlaps="shares")


class PartLine(_LineColumns, TenantScoped, db.Model):
    """A part or material: free text (and the warehouse item, once the warehouse knows it)."""

    __tablename__ = "workshop_part_line"
    __table_args__ = (Index(None, "tenant_id", "work_order_id"), Index(None, "tenant_id", "item_id"))
    work_order_id: Mapped[int] = mapped_column(ForeignKey("workshop_work_order.id", ondelete="CASCADE"))
    # The job this part is for: declining the job declines the part.
    labor_line_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_labor_line.id", ondelete="SET NULL"))
    # The warehouse's item (the warehouse is optional: no foreign key).
    item_id: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(60))
    quantity: Mapped[Decimal] = mapped_column(Quantity, default=Decimal("1"))
    unit: Mapped[str | None] = mapped_column(String(10))
    price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))

    order: Mapped[WorkOrder] = relationship(back_populates="part_lines")
    shares: Mapped[list["LineShare"]] = relationship(
        primaryjoin="LineShare.part_line_id == PartLine.id", order_by="LineShare.position, LineShare.id",
        cascade="all, delete-orphan", lazy="selectin", overlaps="shares")


class LineShare(TenantScoped, db.Model):
    """A share of one line charged to one payer: a fixed ``amount``, or a ``percent`` of what the
    fixed shares leave. ``payer_id`` None is the order's client. Lines without shares go wholly to
    the default payer. ``share_amount`` is computed (exact to the kopeck)."""

    __tablename__ = "workshop_line_share"
    __table_args__ = (
        Index(None, "tenant_id", "work_order_id"),
        Index(None, "tenant_id", "labor_line_id"),
        Index(None, "tenant_id", "part_line_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("workshop_work_order.id", ondelete="CASCADE"))
    labor_line_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_labor_line.id", ondelete="CASCADE"))
    part_line_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_part_line.id", ondelete="CASCADE"))
    payer_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_payer.id", ondelete="CASCADE"))
    percent: Mapped[Decimal | None] = mapped_column(Percent)
    amount: Mapped[Decimal | None] = mapped_column(Money)
    share_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Estimate(_ClientAndCar, DocumentMixin, db.Model):
    """A quote before any work: jobs and parts with prices (``items``, a JSON list: a quote changes
    as a whole and is never booked), convertible into a work order once the client agrees."""

    __tablename__ = "workshop_estimate"
    __document_table_args__ = (Index("ix_workshop_est_vehicle", "tenant_id", "vehicle_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="RESTRICT"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="RESTRICT"))
    odometer: Mapped[int | None] = mapped_column(Integer)
    complaint: Mapped[str | None] = mapped_column(Text)
    items: Mapped[list] = mapped_column(JSON, default=list)
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    valid_until: Mapped[date | None] = mapped_column(Date)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_work_order.id", ondelete="SET NULL"))


class DiagnosticAct(_ClientAndCar, DocumentMixin, db.Model):
    """What the diagnosis found (``findings``: item, ok/attention/urgent, note, the job it calls for),
    printable for the client and convertible into a work order with the jobs it calls for."""

    __tablename__ = "workshop_diagnostic_act"
    __document_table_args__ = (Index("ix_workshop_da_vehicle", "tenant_id", "vehicle_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("crm_client.id", ondelete="RESTRICT"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="RESTRICT"))
    service_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("workshop_service_order.id", ondelete="RESTRICT", name="fk_workshop_diagnostic_act_so"))
    odometer: Mapped[int | None] = mapped_column(Integer)
    technician_name: Mapped[str | None] = mapped_column(String(200))
    findings: Mapped[list] = mapped_column(JSON, default=list)
    conclusion: Mapped[str | None] = mapped_column(Text)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_work_order.id", ondelete="SET NULL"))


class TimeEntry(TenantScoped, db.Model):
    """A technician's clocked time: on a job (``kind`` job, start/stop) or attendance (``kind`` shift
    or break, no job; :mod:`plugins.workshop.staff`); ``ended_at`` None while the clock runs."""

    __tablename__ = "workshop_time_entry"
    __table_args__ = (Index(None, "tenant_id", "technician_id", "started_at"), Index(None, "tenant_id", "labor_line_id"),
                      Index(None, "tenant_id", "employee_id", "started_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="job")
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_work_order.id", ondelete="CASCADE"))
    labor_line_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_labor_line.id", ondelete="CASCADE"))
    # Whose time: a user (technician with a login), or an employee without one (``employee_id``,
    # clocked for him by a foreman or advisor: :mod:`plugins.workshop.staff`).
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_employee.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


MODELS = [Job, ServiceOrder, WorkOrder, Payer, LaborLine, PartLine, LineShare, Estimate, DiagnosticAct, TimeEntry]


@event.listens_for(GarageSession, "before_flush")
def _snapshot_vat(session, flush_context, instances):
    # A new work order copies the shop's VAT settings: later changes never rewrite existing orders.
    for obj in session.new:
        if isinstance(obj, WorkOrder) and obj.vat_mode is None:
            tenant = session.get(Tenant, obj.tenant_id) if obj.tenant_id else None
            obj.vat_mode = (tenant.vat_mode if tenant else None) or "none"
            obj.vat_rate = (tenant.vat_rate if tenant else None) or Decimal("0")
