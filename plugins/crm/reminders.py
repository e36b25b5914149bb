"""Maintenance reminders (``crm.basic``): service intervals ("every N km and/or N months, whichever comes
first"), when each was last done, and the forecast of when it is due next.

Intervals are a per-tenant catalog seeded with common defaults (:data:`DEFAULT_INTERVALS`): a row with
no make is the shop's default; a row with a make (and model) or a vehicle overrides the default of the
same ``code`` for those cars. "Last done" comes from a manual record (:class:`ServiceDone`) or from a
manual service-book entry whose text mentions one of the interval's keywords; with neither, the car's
first odometer reading (or the day it was added) is the starting point: the shop does not know better.

The due date is the earlier of the time limit and the day the car's average daily mileage
(:func:`plugins.crm.services.mileage`) is forecast to reach the km limit.
"""
from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import date, datetime

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.db import TenantScoped, db
from core.i18n import domain, shop_language
from core.models import utcnow

from .clock import local_today
from .models import Client, OdometerReading, ServiceEntry, Vehicle
from .schemas import StringList
from .services import Mileage, mileage_from

_ = domain("crm").gettext
_l = domain("crm").lazy_gettext

FEATURE = "crm.basic"
STATUSES = ("overdue", "due_soon", "upcoming")


class ServiceInterval(TenantScoped, db.Model):
    """One line of the maintenance catalog."""

    __tablename__ = "crm_service_interval"
    __table_args__ = (Index(None, "tenant_id", "code"), Index(None, "tenant_id", "vehicle_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))  # links overrides and "last done" records: "oil", "brake_fluid"
    title: Mapped[str] = mapped_column(String(200))
    every_km: Mapped[int | None] = mapped_column(Integer)
    every_months: Mapped[int | None] = mapped_column(Integer)
    make: Mapped[str | None] = mapped_column(String(60))
    model: Mapped[str | None] = mapped_column(String(60))
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))
    # Words that identify this job in a service-book entry ("oil", "масло"): lower-case substrings.
    keywords: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ServiceDone(TenantScoped, db.Model):
    """"Interval ``code`` was done on this car on ``done_on`` at ``done_km``" (typed in, or from a visit)."""

    __tablename__ = "crm_service_done"
    __table_args__ = (Index(None, "tenant_id", "vehicle_id", "code", "done_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    done_on: Mapped[date] = mapped_column(Date)
    done_km: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))


class ReminderState(TenantScoped, db.Model):
    """What the shop did about one due reminder: the service ``code`` of a car since it was last done
    (``due_key``: that date and km). Once the service is done again the key changes and the next
    occurrence starts ``open``. No row: ``open``."""

    __tablename__ = "crm_reminder_state"
    __table_args__ = (UniqueConstraint("tenant_id", "vehicle_id", "code", "due_key"),
                      Index(None, "tenant_id", "state"))
    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("crm_vehicle.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    due_key: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(12), default="open")
    snoozed_until: Mapped[date | None] = mapped_column(Date)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))


MODELS = [ServiceInterval, ServiceDone, ReminderState]

# open: nobody acted yet; invited: a message was queued; snoozed: hidden until ``snoozed_until``;
# converted: the client booked; dismissed: the shop decided not to chase it.
REMINDER_STATES = ("open", "invited", "snoozed", "converted", "dismissed")
ACTIVE_STATES = ("open", "invited")  # what the due-soon list shows unless asked for a state

# code, title, km, months, keywords (English and Russian, as shops write them). A keyword of several
# words matches when each word begins a word of the entry (any order, any ending: "тормозн жидк" finds
# "замена тормозной жидкости"); a single stem is too broad ("тормозн" also finds brake pads, "масл"
# valve-stem seals, "грм" a timing chain). Shops that already have a catalog keep their keywords.
DEFAULT_INTERVALS = (
    ("oil", _l("Engine oil and filter"), 10_000, 12,
     ["engine oil", "oil change", "oil filter", "моторн масл", "масл двс", "масл двиг", "масл фильтр"]),
    ("air_filter", _l("Air filter"), 20_000, 24, ["air filter", "воздушн фильтр"]),
    ("cabin_filter", _l("Cabin filter"), 15_000, 12, ["cabin filter", "pollen filter", "салонн фильтр", "фильтр салон"]),
    ("fuel_filter", _l("Fuel filter"), 40_000, 48, ["fuel filter", "топливн фильтр"]),
    ("spark_plugs", _l("Spark plugs"), 30_000, 36, ["spark plug", "свеч зажиган"]),
    ("brake_fluid", _l("Brake fluid"), None, 24, ["brake fluid", "тормозн жидк"]),
    ("coolant", _l("Coolant"), 60_000, 48, ["coolant", "antifreeze", "антифриз", "тосол", "охлажда жидк"]),
    ("timing_belt", _l("Timing belt"), 60_000, 60, ["timing belt", "ремен грм", "ремн грм"]),
)


def mentions(text: str, keywords: list[str] | None) -> bool:
    """Whether ``text`` mentions any keyword: every word of the keyword begins a word of the text."""
    words = re.findall(r"\w+", (text or "").lower())
    for keyword in keywords or []:
        parts = re.findall(r"\w+", (keyword or "").lower())
        if parts and all(any(w.startswith(p) for w in words) for p in parts):
            return True
    return False


def seed_intervals() -> int:
    """Add the default catalog lines the tenant does not have yet (by code); idempotent."""
    have = set(db.session.scalars(select(ServiceInterval.code).where(ServiceInterval.make.is_(None),
                                                                    ServiceInterval.vehicle_id.is_(None))))
    added = 0
    with shop_language():  # the catalog is the shop's data: in its language, not the server's
        for code, title, km, months, keywords in DEFAULT_INTERVALS:
            if code in have:
                continue
            db.session.add(ServiceInterval(code=code, title=str(title), every_km=km, every_months=months,
                                           keywords=list(keywords)))
            added += 1
    db.session.flush()
    return added


# --- forecast --------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass
class Forecast:
    due_on: date | None  # the earlier of the two limits; None when neither can be dated
    due_km: int | None
    due_by: str | None  # "km" or "time": which limit comes first
    date_by_time: date | None
    date_by_km: date | None

    def status(self, today: date, within_days: int, projected_km: int | None = None) -> str:
        if (self.due_on is not None and self.due_on < today) or (
                self.due_km is not None and projected_km is not None and projected_km >= self.due_km):
            return "overdue"
        if self.due_on is not None and (self.due_on - today).days <= within_days:
            return "due_soon"
        return "upcoming"


def forecast(every_km: int | None, every_months: int | None, last_on: date | None, last_km: int | None,
             usage: Mileage) -> Forecast:
    """When the service is due next: whichever of the km and the time limit comes first.

    The km limit is dated by the average daily mileage from the car's last reading; without a rate it
    has no date (only the km figure), unless the last reading already passed it (due on that day).
    """
    by_time = add_months(last_on, every_months) if every_months and last_on else None
    due_km = last_km + every_km if every_km and last_km is not None else None
    by_km = None
    if due_km is not None and usage.last_value is not None and usage.last_read_on is not None:
        remaining = due_km - usage.last_value
        if remaining <= 0:
            by_km = usage.last_read_on
            if usage.daily_km:
                # Passed before the last reading: estimate when, so that "overdue since" is honest.
                by_km = date.fromordinal(usage.last_read_on.toordinal() - int(-remaining // usage.daily_km))
        elif usage.daily_km:
            by_km = date.fromordinal(usage.last_read_on.toordinal() + math.ceil(remaining / usage.daily_km))
    dated = [(d, kind) for d, kind in ((by_km, "km"), (by_time, "time")) if d is not None]
    if not dated:
        return Forecast(None, due_km, "km" if due_km is not None else None, by_time, by_km)
    due_on, due_by = min(dated)
    return Forecast(due_on, due_km, due_by, by_time, by_km)


# --- which interval applies to which car, and when it was last done --------------------------------


def intervals_for(vehicle: Vehicle, catalog: list[ServiceInterval]) -> list[ServiceInterval]:
    """The active intervals of the car: per code, the most specific line (vehicle > make+model > make >
    default)."""
    make, model = (vehicle.make or "").strip().lower(), (vehicle.model or "").strip().lower()
    best: dict[str, tuple[int, ServiceInterval]] = {}
    for line in catalog:
        if line.vehicle_id is not None:
            rank = 3 if line.vehicle_id == vehicle.id else -1
        elif line.make:
            if line.make.strip().lower() != make:
                rank = -1
            elif line.model:
                rank = 2 if line.model.strip().lower() == model else -1
            else:
                rank = 1
        else:
            rank = 0
        if rank >= 0 and (line.code not in best or rank > best[line.code][0]):
            best[line.code] = (rank, line)
    return [line for _rank, line in sorted(best.values(), key=lambda rl: rl[1].code) if line.active]


def _entry_matches(entry: ServiceEntry, keywords: list[str]) -> bool:
    return mentions(" ".join([entry.description or ""] + [str(p) for p in entry.parts or []]), keywords)


def last_done(vehicle: Vehicle, line: ServiceInterval, done_rows: list[ServiceDone],
              entries: list[ServiceEntry], first_reading: OdometerReading | None) -> tuple[date | None, int | None, str]:
    """``(date, km, source)`` of the latest time ``line`` was done on the car."""
    candidates = [(r.done_on, r.done_km, "manual") for r in done_rows if r.code == line.code]
    candidates += [(e.performed_on, e.mileage, "service_book") for e in entries if _entry_matches(e, line.keywords)]
    if candidates:
        return max(candidates, key=lambda c: (c[0], c[1] or 0))
    if first_reading is not None:
        return first_reading.read_on, first_reading.value, "first_reading"
    created = vehicle.created_at.date() if vehicle.created_at else None
    return created, None, "added"


@dataclass
class CarHistory:
    """What the forecast of one car needs, loaded in bulk for many cars at once."""

    readings: list  # unflagged odometer readings, oldest first
    done: list  # ServiceDone rows
    entries: list  # manual service-book entries


def load_histories(vehicle_ids: list[int]) -> dict[int, CarHistory]:
    """Three queries for any number of cars (not three per car)."""
    out = {vid: CarHistory([], [], []) for vid in vehicle_ids}
    if not vehicle_ids:
        return out
    for r in db.session.scalars(select(OdometerReading).where(OdometerReading.vehicle_id.in_(vehicle_ids),
                                                              OdometerReading.flagged.is_(False))
                                .order_by(OdometerReading.read_on, OdometerReading.id)):
        out[r.vehicle_id].readings.append(r)
    for d in db.session.scalars(select(ServiceDone).where(ServiceDone.vehicle_id.in_(vehicle_ids))):
        out[d.vehicle_id].done.append(d)
    for e in db.session.scalars(select(ServiceEntry).where(ServiceEntry.vehicle_id.in_(vehicle_ids))):
        out[e.vehicle_id].entries.append(e)
    return out


def vehicle_reminders(vehicle: Vehicle, catalog: list[ServiceInterval], today: date | None = None,
                      within_days: int = 30, history: CarHistory | None = None) -> list[dict]:
    today = today or local_today()
    history = history or load_histories([vehicle.id])[vehicle.id]
    usage = mileage_from(history.readings)
    first = history.readings[0] if history.readings else None
    projected = usage.projected(today)
    out = []
    for line in intervals_for(vehicle, catalog):
        on, km, source = last_done(vehicle, line, history.done, history.entries, first)
        f = forecast(line.every_km, line.every_months, on, km, usage)
        out.append({
            "vehicle_id": vehicle.id, "client_id": vehicle.client_id, "plate": vehicle.plate,
            "make": vehicle.make, "model": vehicle.model,
            "code": line.code, "title": line.title, "interval_id": line.id,
            "every_km": line.every_km, "every_months": line.every_months,
            "last_done_on": on.isoformat() if on else None, "last_done_km": km, "last_done_source": source,
            "due_on": f.due_on.isoformat() if f.due_on else None, "due_km": f.due_km, "due_by": f.due_by,
            "projected_km_today": projected, "daily_km": None if usage.daily_km is None else round(usage.daily_km, 1),
            "status": f.status(today, within_days, projected),
        })
    return out


BATCH = 500  # cars per round of bulk loads (keeps IN lists and memory bounded)


def due_key(item: dict) -> str:
    """Which occurrence of a reminder a row is about: the one after the service was last done. (Not the
    due date: a new odometer reading moves the forecast every few days, and the shop's decision must
    stay.)"""
    return f"{item['last_done_on'] or ''}/{item['last_done_km'] if item['last_done_km'] is not None else ''}"[:40]


def load_states(vehicle_ids: list[int]) -> dict[tuple, ReminderState]:
    if not vehicle_ids:
        return {}
    rows = db.session.scalars(select(ReminderState).where(ReminderState.vehicle_id.in_(vehicle_ids)))
    return {(r.vehicle_id, r.code, r.due_key): r for r in rows}


def apply_state(item: dict, row: ReminderState | None, today: date) -> dict:
    """Add ``state``, ``snoozed_until``, ``state_changed_at`` to a reminder row. A snooze that ran out
    reads ``open`` again (``snoozed_until`` stays visible)."""
    state = row.state if row is not None else "open"
    if state == "snoozed" and row.snoozed_until is not None and row.snoozed_until <= today:
        state = "open"
    item["state"] = state
    item["snoozed_until"] = row.snoozed_until.isoformat() if row is not None and row.snoozed_until else None
    item["state_changed_at"] = row.changed_at.isoformat() if row is not None and row.changed_at else None
    return item


def due_list(within_days: int = 30, code: str | None = None, make: str | None = None,
             status: str | None = None, today: date | None = None, limit: int = 500,
             state: str | None = None) -> list[dict]:
    """Reminders that are overdue or due within ``within_days``, soonest first, for cars with an owner.

    ``state``: one of :data:`REMINDER_STATES`, or ``"all"``; by default the ones still to act on
    (``open`` and ``invited``).

    Read from the stored forecasts (:mod:`plugins.crm.forecasts`): one indexed query, whatever the
    number of cars (it was a forecast of every car per page load: 2.0-3.5 s at 10,000 cars).
    """
    from .forecasts import due_rows

    today = today or local_today()
    catalog = {line.id: line for line in db.session.scalars(select(ServiceInterval))}
    out = []
    for f, vehicle, client_name, state_row in due_rows(today, within_days, code, make, status, state,
                                                       ACTIVE_STATES, limit):
        line = catalog.get(f.interval_id)
        usage = Mileage(None if f.daily_m is None else f.daily_m / 1000, f.last_km, f.last_read_on, 0)
        projected = usage.projected(today)
        forecast_ = Forecast(f.due_on, f.due_km, f.due_by, None, None)
        item = {
            "vehicle_id": vehicle.id, "client_id": vehicle.client_id, "plate": vehicle.plate,
            "make": vehicle.make, "model": vehicle.model,
            "code": f.code, "title": line.title if line else f.code, "interval_id": f.interval_id,
            "every_km": line.every_km if line else None, "every_months": line.every_months if line else None,
            "last_done_on": f.last_done_on.isoformat() if f.last_done_on else None,
            "last_done_km": f.last_done_km, "last_done_source": f.last_done_source,
            "due_on": f.due_on.isoformat() if f.due_on else None, "due_km": f.due_km, "due_by": f.due_by,
            "projected_km_today": projected, "daily_km": None if usage.daily_km is None else round(usage.daily_km, 1),
            "status": forecast_.status(today, within_days, projected),
        }
        if item["status"] == "upcoming" or (status and item["status"] != status):
            continue
        apply_state(item, state_row, today)
        item["client_name"] = client_name
        out.append(item)
    return out[:limit]


def record_done(vehicle: Vehicle, code: str, done_on: date, done_km: int | None, user=None) -> ServiceDone:
    row = ServiceDone(vehicle_id=vehicle.id, code=code, done_on=done_on, done_km=done_km,
                      created_by_id=getattr(user, "id", None))
    db.session.add(row)
    db.session.flush()
    audit.record("create", row, user=user, changes={"vehicle_id": [None, vehicle.id], "code": [None, code],
                                                     "done_on": [None, done_on.isoformat()], "done_km": [None, done_km]})
    return row


def set_state(vehicle: Vehicle, item: dict, state: str, snoozed_until: date | None = None,
              user=None) -> ReminderState:
    """Move the reminder ``item`` (a row of :func:`vehicle_reminders`) to ``state``; audited."""
    key = due_key(item)
    row = db.session.scalars(select(ReminderState).where(ReminderState.vehicle_id == vehicle.id,
                                                         ReminderState.code == item["code"],
                                                         ReminderState.due_key == key)).first()
    before = {"state": row.state, "snoozed_until": row.snoozed_until} if row else {"state": "open", "snoozed_until": None}
    if row is None:
        row = ReminderState(vehicle_id=vehicle.id, code=item["code"], due_key=key)
        db.session.add(row)
    row.state = state
    row.snoozed_until = snoozed_until if state == "snoozed" else None
    row.changed_at = utcnow()
    row.changed_by_id = getattr(user, "id", None)
    db.session.flush()
    audit.record("crm.reminder." + state, row, user=user, changes={
        "vehicle_id": vehicle.id, "code": item["code"], "due": key,
        **audit.diff(before, {"state": state, "snoozed_until": row.snoozed_until})})
    return row


def convert_for_booking(vehicle_id: int, today: date | None = None, within_days: int = 30) -> list[ReminderState]:
    """A booking for the car (``planner.booking.confirmed``): its due reminders still to act on (open,
    invited, snoozed) are converted."""
    vehicle = db.session.get(Vehicle, vehicle_id) if vehicle_id else None
    if vehicle is None:
        return []
    today = today or local_today()
    catalog = list(db.session.scalars(select(ServiceInterval)))
    states = load_states([vehicle.id])
    out = []
    for item in vehicle_reminders(vehicle, catalog, today, within_days):
        if item["status"] == "upcoming":
            continue
        row = states.get((vehicle.id, item["code"], due_key(item)))
        if row is not None and row.state in ("converted", "dismissed"):
            continue
        out.append(set_state(vehicle, item, "converted"))
    return out


class IntervalSchema(Schema):
    """A catalog line for the generic API (``/api/v1/crm/service-intervals``)."""

    id = fields.Integer(dump_only=True)
    code = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z0-9_]{1,40}$", error=_l("Use lower-case letters, digits and _ (up to 40).")),
        metadata={"label": _l("Code"), "help": _l("A short key, e.g. oil or brake_fluid."),
                  # lists and cards show the default services by name, not by key
                  "choices": {code: title for code, title, *_rest in DEFAULT_INTERVALS}})
    title = fields.String(required=True, validate=validate.Length(min=1, max=200, error=_l("Name the service.")),
                          metadata={"label": _l("Service")})
    every_km = fields.Integer(allow_none=True, validate=validate.Range(
        min=100, max=1_000_000, error=_l("Enter a distance from 100 to 1,000,000 km.")),
        metadata={"label": _l("Every, km")})
    every_months = fields.Integer(allow_none=True, validate=validate.Range(
        min=1, max=240, error=_l("Enter from 1 to 240 months.")), metadata={"label": _l("Every, months")})
    make = fields.String(allow_none=True, validate=validate.Length(max=60), metadata={"label": _l("Make")})
    model = fields.String(allow_none=True, validate=validate.Length(max=60), metadata={"label": _l("Model")})
    vehicle_id = fields.Integer(allow_none=True, metadata={
        "label": _l("Vehicle"), "help": _l("Only for this car; empty for every car of the make and model.")})
    keywords = StringList(load_default=list, metadata={
        "label": _l("Keywords"), "help": _l("Words in a service-book entry that mean this service was done; separated by commas."),
        "type": "array", "items": {"type": "string"}})
    active = fields.Boolean(load_default=True, metadata={"label": _l("Active")})
    created_at = fields.DateTime(dump_only=True)

    @validates_schema
    def _limits(self, data, partial=None, **kwargs):
        if not partial and not data.get("every_km") and not data.get("every_months"):
            raise ValidationError({"every_km": [_("Give a distance, a time, or both.")]})
        if data.get("model") and not data.get("make"):
            raise ValidationError({"make": [_("A model needs its make.")]})
        if data.get("vehicle_id") is not None and db.session.scalar(select(Vehicle.id).where(Vehicle.id == data["vehicle_id"])) is None:
            raise ValidationError({"vehicle_id": [_("There is no vehicle #%(id)s.", id=data["vehicle_id"])]})


def record_from_visit(event) -> list[ServiceDone]:
    """A closed document with a car (``workshop.work_order.close``): the catalog services its service-book
    entry mentions (keywords in its work and parts) count as done on that day at that mileage.

    The entry is read through ``crm_service_book_entries``, so the CRM needs no knowledge of the
    workshop's tables; matching the entry by its ``reference`` id keeps other visits out.
    """
    from core.documents.service import document_types

    from .services import hooks

    payload = event.payload
    dt = document_types().get(payload.get("doc_type") or "")
    doc = db.session.get(dt.model, payload.get("id")) if dt else None
    vehicle_id = getattr(doc, "vehicle_id", None)
    vehicle = db.session.get(Vehicle, vehicle_id) if vehicle_id else None
    if vehicle is None:
        return []
    entries = [e for result in hooks().crm_service_book_entries(vehicle_id=vehicle.id) or [] for e in result or []
               if (e.get("reference") or {}).get("id") == doc.id and (e.get("reference") or {}).get("resource") == dt.resource]
    if not entries:
        return []
    entry = entries[0]
    done_on = entry.get("date")
    if isinstance(done_on, datetime):
        done_on = done_on.date()
    if not isinstance(done_on, date):
        return []
    text = " ".join([str(w) for w in entry.get("work") or []] + [str(p) for p in entry.get("parts") or []]).lower()
    catalog = list(db.session.scalars(select(ServiceInterval)))
    have = set(db.session.execute(select(ServiceDone.code, ServiceDone.done_on)
                                  .where(ServiceDone.vehicle_id == vehicle.id)).all())
    rows = []
    for line in intervals_for(vehicle, catalog):
        if (line.code, done_on) in have or not mentions(text, line.keywords):
            continue
        rows.append(record_done(vehicle, line.code, done_on, entry.get("mileage")))
    return rows
