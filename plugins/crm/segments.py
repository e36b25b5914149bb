"""Client filters and saved segments (crm.basic): clients by car make/model/year, advertising source,
visit dates, last visit, spend, service advisor, jobs done and technician; a segment is a named, saved
filter re-evaluated whenever it is read. Everything is one SQL statement on indexed columns (the visit
filters on the CRM's visit index, :mod:`plugins.crm.visit_index`)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, DateTime, Index, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.db import TenantScoped, db
from core.i18n import domain
from core.models import utcnow

from .models import Client, Vehicle
from .reports import ReportError

_ = domain("crm").gettext
TEXT_KEYS = ("make", "model", "source", "job", "technician")
YEAR_KEYS = ("year_from", "year_to")
DATE_KEYS = ("last_visit_from", "last_visit_to", "visit_from", "visit_to")
INT_KEYS = ("advisor_id",)
MONEY_KEYS = ("spend_min", "spend_max")
FILTER_KEYS = TEXT_KEYS + YEAR_KEYS + DATE_KEYS + INT_KEYS + MONEY_KEYS
VISIT_KEYS = ("job", "technician", "advisor_id", "visit_from", "visit_to", "spend_min", "spend_max",
              "last_visit_from", "last_visit_to")  # answered from the visit index
PAGE_SIZE = 50


class Segment(TenantScoped, db.Model):
    __tablename__ = "crm_segment"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), Index(None, "tenant_id", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


MODELS = [Segment]


def clean_filters(raw: dict) -> dict:
    """The known, non-empty filter values, typed; raises ReportError with per-field messages."""
    errors, out = {}, {}
    for key, value in (raw or {}).items():
        if value in (None, ""):
            continue
        if key not in FILTER_KEYS:
            errors[key] = [_("Unknown filter.")]
        elif key in TEXT_KEYS:
            out[key] = str(value).strip()[:80]
        elif key in YEAR_KEYS:
            try:
                out[key] = int(value)
                if not 1900 <= out[key] <= 2100:
                    raise ValueError
            except (TypeError, ValueError):
                errors[key] = [_("Enter a year from 1900 to 2100.")]
        elif key in INT_KEYS:
            try:
                out[key] = int(value)
                if out[key] <= 0:
                    raise ValueError
            except (TypeError, ValueError):
                errors[key] = [_("Choose one from the list.")]
        elif key in MONEY_KEYS:
            try:
                amount = Decimal(str(value).strip().replace(",", ".").replace(" ", ""))
                if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
                    raise ValueError
            except (ArithmeticError, ValueError):
                errors[key] = [_("Enter an amount of at least 0 with at most two decimals.")]
            else:
                out[key] = str(amount.quantize(Decimal("0.01")))
        else:
            try:
                out[key] = date.fromisoformat(str(value)).isoformat()
            except ValueError:
                errors[key] = [_("Enter a date as YYYY-MM-DD.")]
    for lo, hi in (("visit_from", "visit_to"), ("last_visit_from", "last_visit_to"), ("year_from", "year_to")):
        if lo in out and hi in out and str(out[lo]) > str(out[hi]) and lo not in errors:
            errors[lo] = [_("The start must not be after the end.")]
    if "spend_min" in out and "spend_max" in out and Decimal(out["spend_min"]) > Decimal(out["spend_max"]):
        errors["spend_min"] = [_("The minimum must not be above the maximum.")]
    if errors:
        raise ReportError(errors)
    return out


def matching(filters: dict):
    """The SQL conditions on :class:`Client` for the filters (every one must hold).

    Car filters match when any of the client's cars does. The visit filters read the visit index
    (:mod:`plugins.crm.visit_index`): ``visit_from``/``visit_to`` keep clients with a visit in the
    dates, and also limit which visits ``job``, ``technician``, ``advisor_id`` and the spend look at;
    ``spend_min``/``spend_max`` bound the sum of those visits' amounts (clients with no such visit are
    not matched); ``last_visit_*`` bound the date
    of the client's last visit. Each condition is an ``IN (subquery)`` on an index."""
    from .visit_index import JOB, TECHNICIAN, IndexedVisit, VisitTerm, prefix_range

    conditions = [Client.is_client.is_(True)]
    if "source" in filters:
        conditions.append(Client.source == filters["source"])
    car_conditions = []
    if "make" in filters:
        car_conditions.append(func.lower(Vehicle.make) == filters["make"].lower())
    if "model" in filters:
        car_conditions.append(func.lower(Vehicle.model) == filters["model"].lower())
    if "year_from" in filters:
        car_conditions.append(Vehicle.year >= filters["year_from"])
    if "year_to" in filters:
        car_conditions.append(Vehicle.year <= filters["year_to"])
    if car_conditions:
        conditions.append(Client.id.in_(select(Vehicle.client_id).where(*car_conditions)))

    def in_dates(model) -> list:
        out = []
        if "visit_from" in filters:
            out.append(model.day >= date.fromisoformat(filters["visit_from"]))
        if "visit_to" in filters:
            out.append(model.day <= date.fromisoformat(filters["visit_to"]))
        return out

    visit_dates = in_dates(IndexedVisit)
    if visit_dates:
        conditions.append(Client.id.in_(select(IndexedVisit.client_id).where(*visit_dates)))
    if "advisor_id" in filters:
        conditions.append(Client.id.in_(select(IndexedVisit.client_id).where(
            IndexedVisit.advisor_id == filters["advisor_id"], *visit_dates)))
    for key, kind in (("job", JOB), ("technician", TECHNICIAN)):
        if key in filters:
            conditions.append(Client.id.in_(select(VisitTerm.client_id).where(
                VisitTerm.kind == kind, prefix_range(VisitTerm.term, filters[key]), *in_dates(VisitTerm))))
    if "spend_min" in filters or "spend_max" in filters:
        total = func.sum(IndexedVisit.amount)
        having = []
        if "spend_min" in filters:
            having.append(total >= Decimal(filters["spend_min"]))
        if "spend_max" in filters:
            having.append(total <= Decimal(filters["spend_max"]))
        spenders = select(IndexedVisit.client_id).where(*visit_dates).group_by(IndexedVisit.client_id) \
            .having(*having)
        conditions.append(Client.id.in_(spenders))
    if "last_visit_from" in filters or "last_visit_to" in filters:
        last = func.max(IndexedVisit.day)
        having = []
        if "last_visit_from" in filters:
            having.append(last >= date.fromisoformat(filters["last_visit_from"]))
        if "last_visit_to" in filters:
            having.append(last <= date.fromisoformat(filters["last_visit_to"]))
        conditions.append(Client.id.in_(select(IndexedVisit.client_id).group_by(IndexedVisit.client_id)
                                        .having(*having)))
    return conditions


def _prepare(filters: dict) -> None:
    if any(key in filters for key in VISIT_KEYS):
        from .visit_index import ensure_fresh

        ensure_fresh()


def filter_clients(filters: dict) -> list[Client]:
    """Every client matching the filters, by name (a mailing's audience)."""
    _prepare(filters)
    return list(db.session.scalars(select(Client).where(*matching(filters)).order_by(Client.name, Client.id)))


def filter_page(filters: dict, page: int = 1, per_page: int = PAGE_SIZE) -> tuple[int, list[Client]]:
    """``(count, clients of the page)``: two statements, whatever the size of the client base."""
    _prepare(filters)
    conditions = matching(filters)
    count = db.session.scalar(select(func.count(Client.id)).where(*conditions)) or 0
    rows = list(db.session.scalars(select(Client).where(*conditions).order_by(Client.name, Client.id)
                                   .offset((max(page, 1) - 1) * per_page).limit(per_page)))
    return count, rows


def client_row(c: Client) -> dict:
    return {"id": c.id, "name": c.name, "phones": list(c.phones), "source": c.source}


def create_segment(name: str, raw_filters: dict) -> Segment:
    errors = {}
    name = (name or "").strip()
    if not name or len(name) > 120:
        errors["name"] = [_("Enter a name of up to 120 characters.")]
    elif db.session.scalars(select(Segment.id).where(Segment.name == name)).first():
        errors["name"] = [_("A segment with this name exists already.")]
    try:
        filters = clean_filters(raw_filters)
    except ReportError as exc:
        errors.update({f"filters.{k}": v for k, v in exc.errors.items()})
    if errors:
        raise ReportError(errors)
    segment = Segment(name=name, filters=filters)
    db.session.add(segment)
    db.session.flush()
    audit.record("crm.segment.create", segment, changes={"name": name, "filters": filters})
    return segment


def as_dict(s: Segment) -> dict:
    return {"id": s.id, "name": s.name, "filters": s.filters, "created_at": s.created_at.isoformat()}


def rename_segment(segment: Segment, name: str) -> Segment:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ReportError({"name": [_("Enter a name of up to 120 characters.")]})
    if db.session.scalars(select(Segment.id).where(Segment.name == name, Segment.id != segment.id)).first():
        raise ReportError({"name": [_("A segment with this name exists already.")]})
    before = segment.name
    segment.name = name
    db.session.flush()
    audit.record("crm.segment.update", segment, changes={"name": [before, name]})
    return segment


def delete_segment(segment: Segment) -> None:
    """Mailings sent to it keep the segment's name (``crm_mailing.segment_name``)."""
    audit.record("crm.segment.delete", segment, changes={"name": [segment.name, None], "filters": segment.filters})
    db.session.delete(segment)
    db.session.flush()
